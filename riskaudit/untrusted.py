"""YAML and JSON from files riskaudit does not trust: plain types only, bounded size and depth.

YAML (project, policy, trust policy, model and dataset cards):
PyYAML's safe loader builds nothing but plain types, yet aliases let a few hundred bytes
stand for billions of values ("billion laughs"): the document loads at once as shared
references, and whatever walks it next (validation, hashing, printing) never ends. Here
the composed node graph is measured first: a document whose values, with every alias
expanded, exceed :data:`MAX_VALUES`, that nests deeper than :data:`MAX_DEPTH`, or that
refers to itself, is a :class:`YamlTooLarge` error (a ``yaml.YAMLError``, so callers
report it like any invalid YAML).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

MAX_VALUES = 100_000
"""Values (scalars, lists, mappings, keys), aliases expanded; riskaudit's own policies hold
a few hundred."""
MAX_DEPTH = 100


class YamlTooLarge(yaml.YAMLError):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = None


def load_yaml(text: str, *, packaged: bool = False) -> Any:
    """``yaml.safe_load(text)`` (libyaml's loader when PyYAML has it), refusing documents
    that expand beyond the limits before anything is built (``packaged``: a file shipped
    with riskaudit, whose size the test suite knows; the measure is left out)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlTooLarge(f"nested deeper than {MAX_DEPTH} levels") from None
        if node is None:
            return None
        if not packaged:
            check_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


class YamlError(ValueError):
    """Why a YAML file cannot be read, in words: ``str()`` is the whole reason ("invalid YAML
    (line 3, column 7): ..."); ``problem`` the part after "invalid YAML" (None when the file
    is not UTF-8), ``where`` the " (line, column)" part and ``line`` the 1-based line, when
    the parser knows them. Each caller wraps it in its own error, naming the file."""

    def __init__(self, problem: str | None, where: str = "", line: int | None = None) -> None:
        super().__init__("not UTF-8 text" if problem is None else f"invalid YAML{where}: {problem}")
        self.problem, self.where, self.line = problem, where, line


def read_yaml(text: str | bytes, *, packaged: bool = False) -> Any:
    """:func:`load_yaml` with every way it can fail as one :class:`YamlError`: bytes that are
    not UTF-8, a syntax error (with its line and column), a value YAML cannot build (a date
    2027-02-30), a document past the limits."""
    try:
        return load_yaml(text.decode("utf-8") if isinstance(text, (bytes, bytearray)) else text, packaged=packaged)
    except UnicodeDecodeError:
        raise YamlError(None) from None
    except (ValueError, OverflowError) as exc:
        raise YamlError(f"a value cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise YamlError(str(getattr(exc, "problem", None) or exc), where,
                        mark.line + 1 if mark else None) from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def check_size(root: yaml.Node) -> int:
    """The number of values ``root`` stands for with aliases expanded (YamlTooLarge beyond
    the limits). Iterative, and linear in the distinct nodes: shared nodes are measured once."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, expanded = stack.pop()
        key = id(node)
        if expanded:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > MAX_VALUES:
                raise YamlTooLarge(f"its aliases expand to more than {MAX_VALUES:,} values")
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlTooLarge("an alias refers to a value that contains it")
        if depth > MAX_DEPTH:
            raise YamlTooLarge(f"nested deeper than {MAX_DEPTH} levels")
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in _children(node) if id(c) not in size)
    return size[id(root)]


# ---------------------------------------------------------------- JSON
JSON_MAX_DEPTH = 100
"""Nesting of lists and objects in a JSON document; riskaudit's reports nest about ten deep."""


class JsonTooDeep(json.JSONDecodeError):
    """A JSON document nested too deep for the code that reads it next (a ``JSONDecodeError``,
    so callers report it like any invalid JSON)."""

    def __init__(self, doc: str) -> None:
        super().__init__(f"nested deeper than {JSON_MAX_DEPTH} levels", doc, 0)


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` for reports, approvals, attestations, baselines and manifests from
    others: a document nested deeper than :data:`JSON_MAX_DEPTH` (which would overflow the
    decoder's or a later walker's recursion) is a :class:`JsonTooDeep` error."""
    doc = text.decode("utf-8") if isinstance(text, (bytes, bytearray)) else text
    try:
        data = json.loads(doc)
    except RecursionError:
        raise JsonTooDeep(doc) from None
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > JSON_MAX_DEPTH:
                    raise JsonTooDeep(doc)
                stack.append((child, depth + 1))
    return data
