"""The dashboard's chart of a check result's gate intervals, as an ECharts option (plain data:
no web stack needed to build it, so a result from elsewhere can be tried on it first)."""

from __future__ import annotations

from typing import Any

__all__ = ["check_chart"]


def check_chart(doc: dict[str, Any]) -> dict[str, Any] | None:
    """One bar per gate with an interval, from its low to its high end, and the gate's threshold;
    None when no gate has an interval."""
    gates = [g for g in doc.get("gates", []) if g.get("ci_low") is not None and g.get("ci_high") is not None]
    if not gates:
        return None
    labels = [f"{g.get('name')}" + (f" [{g['slice']}]" if g.get("slice") else "") for g in gates]
    # an interval per gate: an invisible bar up to the low end, then a bar spanning the interval. Stacked with
    # ECharts' default (same sign only), a span above a negative low end was drawn up from 0: a worse accuracy's
    # [-0.071, -0.036] showed as [0, 0.036], beside its threshold
    lows = [g["ci_low"] for g in gates]
    marks = []
    for i, g in enumerate(gates):
        # the side the gate judges from: an at-least gate's bound is below 0 (the candidate may trail by the margin)
        bound = (g.get("details") or {}).get("bound", g.get("threshold"))
        if isinstance(bound, (int, float)):
            marks += [[bound, i]] + ([[-bound, i]] if g.get("kind") == "equivalence" and bound else [])
    return {
        "tooltip": {"trigger": "axis"}, "grid": {"left": 220},
        "yAxis": {"type": "category", "data": labels}, "xAxis": {"type": "value", "scale": True},
        "series": [{"type": "bar", "stack": "ci", "stackStrategy": "all", "itemStyle": {"color": "transparent"}, "data": lows, "name": "low"},
                   {"type": "bar", "stack": "ci", "stackStrategy": "all", "name": "interval", "data": [g["ci_high"] - g["ci_low"] for g in gates]},
                   {"type": "scatter", "name": "threshold", "data": marks}],
    }  # fmt: skip
