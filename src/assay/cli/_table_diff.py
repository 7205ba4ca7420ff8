"""How `assay data diff` shows the changes in one table: its rows, its schema, and the
columns whose summary moved."""

from __future__ import annotations

from typing import Any

import json

import click

from assay.cli._output import counted, escaped, quoted

__all__ = ["column_line", "render_table_diff"]

COLUMNS_SHOWN = 30  # columns whose summary moved shown per table; --json has them all


def render_table_diff(t: dict[str, Any]) -> None:
    """A table's row diff, schema changes, notes and the columns whose summary moved."""
    if t.get("rows_added") is None:
        click.echo(f"    rows {t.get('rows_old')} -> {t.get('rows_new')} (no column in both tables to match rows by)")
    else:
        click.echo(f"    rows {t.get('rows_old')} -> {t.get('rows_new')}: +{t.get('rows_added')} -{t.get('rows_removed')}"
                   + (f" ~{t['rows_changed']}" if t.get("rows_changed") is not None else "")
                   + f" (matched by {t.get('matched_by')})")
    _render_changed(t)
    _render_added_removed(t)
    schema = t.get("schema") or {}
    for col in schema.get("added", []):
        click.echo(f"    column added    {quoted(col['name'])} ({col['type']})")
    for col in schema.get("removed", []):
        click.echo(f"    column removed  {quoted(col['name'])} ({col['type']})")
    for pair in schema.get("renamed", []):
        how = "the same values" if pair.get("shared") is None else f"{pair['shared']:.0%} of values shared"
        click.echo(f"    column renamed? {quoted(pair['old'])} -> {quoted(pair['new'])} ({how})")
    for col in schema.get("type_changed", []):
        click.echo(f"    column type     {quoted(col['name'])}: {col.get('old')} -> {col.get('new')}")
    if schema.get("order_changed"):
        common = set(t.get("compared_columns") or [])
        old, new = ([c["name"] for c in schema.get(side, []) if c["name"] in common] for side in ("old", "new"))
        click.echo(f"    column order    {_reordered(old, new)} (rows are compared by column name)")
    dup = t.get("duplicate_keys") or {}
    if dup.get("old") or dup.get("new"):
        click.echo(f"    duplicate keys: {dup.get('old', 0)} in old ({dup.get('extra_rows_old', 0)} extra rows), "
                   f"{dup.get('new', 0)} in new ({dup.get('extra_rows_new', 0)} extra rows)")
    for note in t.get("notes", []):
        click.echo(f"    note: {note}")
    by_column = t.get("rows_changed_by_column") or {}
    mark = "" if t.get("rows_changed_by_column_exact", True) else "~"
    keys = set(t.get("key") or [])
    columns = t.get("columns") or {}
    order = [c["name"] for c in (*schema.get("new", []), *schema.get("old", [])) if c.get("name") in columns]
    lines = []
    for name in [*dict.fromkeys(order), *sorted(set(columns) - set(order))]:  # the table's order (f2 before f10)
        line = column_line(columns[name], key=name in keys)
        if name in by_column:  # the changed rows whose value in this column differs
            line = f"{mark}{counted(by_column[name], 'row', grouped=True)} changed" + (f", {line}" if line else "")
        if line:
            lines.append(f"    {quoted(name)}: {line}")
    for line in lines[:COLUMNS_SHOWN]:
        click.echo(line)
    if len(lines) > COLUMNS_SHOWN:  # a wide table moves in every column: a screenful, not thousands of lines
        click.echo(f"    ... and {len(lines) - COLUMNS_SHOWN:,} more columns whose summary moved (--json lists every column)")


def _render_changed(t: dict[str, Any], shown: int = 10) -> None:
    """A line per example changed row: its key and each column that differs, old -> new."""
    for example in t.get("changed_examples") or []:
        key = ", ".join(f"{quoted(name)}={_value(v)}" for name, v in example.get("key", {}).items())
        cols = example.get("columns") or {}
        moved = "; ".join(f"{quoted(name)} {_old_new(c.get('old'), c.get('new'))}"
                          for name, c in list(cols.items())[:shown])
        more = f"; and {len(cols) - shown} more columns" if len(cols) > shown else ""
        click.echo(f"    changed {key}: {moved}{more}")


def _render_added_removed(t: dict[str, Any], shown: int = 3, columns: int = 6) -> None:
    """A few added and removed rows: a line of their keys, or (matched by row hash) a line
    for each row's first `columns` values, so that '+30 -20' comes with rows to look up."""
    for label in ("added", "removed"):
        rows = (t.get("examples") or {}).get(label) or []
        total = t.get(f"rows_{label}") or 0
        if not rows or not total:
            continue

        def row(r: dict[str, Any]) -> str:
            cells = [f"{quoted(name)}={_value(v)}" for name, v in list(r.items())[:columns]]
            return ", ".join(cells + (["..."] if len(r) > columns else []))

        some = rows[:shown]
        of = f"{len(some)} of {total:,}" if total > len(some) else f"{total:,}"
        if t.get("matched_by") == "key":  # keys are short: one line
            click.echo(f"    {label:<7} {of}: " + "; ".join(row(r) for r in some))
        else:
            click.echo(f"    {label:<7} {of}:")
            for r in some:
                click.echo(f"      {row(r)}")


def _old_new(old: Any, new: Any) -> str:
    """'a -> b', in full digits where the short forms are equal (a double stored as float32
    read "84.5845 -> 84.5845")."""
    a, b = _value(old), _value(new)
    if a == b and isinstance(old, float) and isinstance(new, float):
        a, b = repr(old), repr(new)
    return f"{a} -> {b}"


def _value(v: Any, width: int = 60) -> str:
    """One value of a row, short: strings quoted as JSON (cut at `width`), no value as null."""
    if v is None:
        return "null"
    if isinstance(v, str):
        return escaped(json.dumps(v if len(v) <= width else v[:width] + "…", ensure_ascii=False))
    return _num(v)


def _reordered(old: list[str], new: list[str], shown: int = 8) -> str:
    """'a, b -> b, a': the stretch of the shared columns whose order changed ('...' for the rest)."""
    lo = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), 0)
    hi = len(old) - next((i for i, (a, b) in enumerate(zip(old[::-1], new[::-1])) if a != b), 0)

    def stretch(names: list[str]) -> str:
        part = names[lo:hi]
        more = [f"... ({len(part) - shown} more)"] if len(part) > shown else []
        return ", ".join((["..."] if lo else []) + [quoted(n) for n in part[:shown]] + more
                         + (["..."] if hi < len(names) else []))

    return f"{stretch(old)} -> {stretch(new)}"


def column_line(col: dict[str, Any], *, key: bool = False) -> str:
    """What moved in one column's summary ('' when nothing did). A `key` column's mean and
    quantiles are left out: they move with the keys added or removed, which the rows line says."""
    if col.get("skipped"):
        return "summary skipped"
    old, new = col.get("old") or {}, col.get("new") or {}

    def moved(key: str, label: str | None = None, prefix: str = "") -> str | None:
        if key not in old or key not in new or old[key] == new[key]:
            return None
        a, b = _num(old[key]), _num(new[key])
        if a == b:  # the change is in digits the short form leaves out
            a, b = repr(old[key]), repr(new[key])
        return f"{label or key} {prefix}{a} -> {prefix}{b}"

    if col.get("kind") == "numeric":
        sampled = "" if old.get("quantiles_exact", True) and new.get("quantiles_exact", True) else "~"
        parts = [moved("mean"), moved("p50", prefix=sampled), moved("min"), moved("max")] if not key else []
        parts += [moved("nulls"), moved("nan")]
    elif col.get("kind") == "temporal":
        parts = [moved("min"), moved("max"), moved("nulls")]
    else:
        parts = [_distinct_moved(old, new), moved("nulls")]
        for key, label in (("new_categories", "new"), ("vanished_categories", "gone")):
            sampled = col.get(key.split("_")[0] + "_values_sampled") if col.get(key) is None else None
            if sampled and sampled.get("examples"):
                # Too many values to list: a few, from the values of the lowest hashes, and an estimate.
                shown = ", ".join(quoted(str(v)) for v in sampled["examples"][:3])
                parts.append(f"{label} ~{sampled.get('count_estimate', 0):,}, e.g. {shown}")
                continue
            cats = col.get(key) or {}
            if cats.get("count"):
                listed = cats.get("values", [])[:3]
                # Not exact: only the values that side tracked were compared, so there are at least this many.
                at_least = "" if cats.get("exact", True) else "at least "
                if not listed:  # counted exactly, none of them at hand to show
                    parts.append(f"{label}: {at_least}{counted(cats['count'], 'value', grouped=True)}")
                    continue
                shown = ", ".join(quoted(str(v["value"])) for v in listed)
                rest = cats["count"] - len(listed)  # fewer may be listed than 3 (those at hand)
                more = f" and {at_least}{rest:,} more" if rest > 0 else " (at least)" if at_least else ""
                parts.append(f"{label}: {shown}{more}")
        parts.append(_shares_moved(old, new))
    return ", ".join(p for p in parts if p)


def _shares_moved(old: dict[str, Any], new: dict[str, Any], shown: int = 3) -> str | None:
    """'share: True 32.3% -> 39.3%' for the values frequent on both sides whose share of the
    non-null values moved most (a boolean's or a category's mix can change with no new value)."""
    if not old.get("count") or not new.get("count"):
        return None
    a = {repr(v["value"]): (v["value"], v["count"] / old["count"]) for v in old.get("top") or []}
    b = {repr(v["value"]): v["count"] / new["count"] for v in new.get("top") or []}
    moves = [(abs(b[k] - share), value, share, b[k]) for k, (value, share) in a.items() if k in b]
    moves = [m for m in sorted(moves, key=lambda m: -m[0]) if f"{m[2]:.1%}" != f"{m[3]:.1%}"][:shown]
    if not moves:
        return None
    # A side that tracked only its most frequent values may have undercounted them: ~ as for distinct.
    a_, b_ = ("" if side.get("top_exact", True) else "~" for side in (old, new))
    return "share: " + ", ".join(f"{quoted(str(value))} {a_}{x:.1%} -> {b_}{y:.1%}" for _, value, x, y in moves)


def _distinct_moved(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """'distinct A -> B', with ~ on each count that is an estimate (not on an exact one)."""
    if "distinct" not in old or "distinct" not in new or old["distinct"] == new["distinct"]:
        return None
    a, b = (("" if side.get("distinct_exact", True) else "~") + _num(side["distinct"]) for side in (old, new))
    return f"distinct {a} -> {b}"


def _num(value: Any) -> str:
    """A summary value for people: floats to 6 significant digits, no value as "none"."""
    if value is None:
        return "none"
    return f"{value:.6g}" if isinstance(value, float) else str(value)
