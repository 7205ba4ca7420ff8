"""YAML with line numbers: plain Python values plus a map from key path to source line."""

from __future__ import annotations

from typing import Any

import yaml

from assay._wording import yaml_problem
from assay.errors import InputError

__all__ = ["SuiteError", "load_marked"]

Path_ = tuple[Any, ...]


class SuiteError(InputError):
    """An invalid suite, with the line and the reason."""


def _convert(node: yaml.Node, path: Path_, lines: dict[Path_, int], source: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node)) if not isinstance(key_node, yaml.ScalarNode) else key_node.value
            if not isinstance(key, str):
                raise SuiteError(f"{source}:{key_node.start_mark.line + 1}: keys must be text, got {key!r}")
            if key in out:
                raise SuiteError(f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            out[key] = _convert(value_node, (*path, key), lines, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, (*path, i), lines, source) for i, v in enumerate(node.value)]
    # scalars: let the safe constructor decide int / float / bool / null / text
    return yaml.safe_load(yaml.serialize(node))


def _refuse_aliases(text: str, source: str) -> None:
    """A suite is short and needs no anchors (``&a``) or aliases (``*a``); refused before any node is
    built, since a few lines of nested aliases expand to billions of values (a "billion laughs")."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            sign = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise SuiteError(f"{source}:{event.start_mark.line + 1}: YAML anchors and aliases are not read in a suite, "
                             f"found {sign}{event.anchor}",
                             hint="write the value out where it is used: a few nested aliases can expand to billions of values")


def load_marked(text: str, source: str = "<suite>") -> tuple[Any, dict[Path_, int]]:
    try:
        _refuse_aliases(text, source)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise SuiteError(yaml_problem(exc, source)) from None
    lines: dict[Path_, int] = {}
    if node is None:
        return None, lines
    return _convert(node, (), lines, source), lines
