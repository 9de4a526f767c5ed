"""The package's structure: its import graph has no cycles (function-level imports count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "riskaudit"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> riskaudit modules it imports anywhere in its body (``if TYPE_CHECKING:``
    blocks excluded: they never run). ``from pkg import name`` points at ``pkg.name`` when
    that is a module, else at ``pkg``; like grimp, importing ``a.b`` is an edge to ``a.b`` only."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        typing_only = {id(n) for node in ast.walk(tree)
                       if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                       for n in ast.walk(node)}
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package[: len(package) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != mod:
                    edges[mod].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_imports(tmp_path):
    pkg = tmp_path / "riskaudit"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from riskaudit.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from .. import a\nfrom typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from riskaudit import c\n")
    (pkg / "c.py").write_text("")
    graph = import_graph(pkg)
    assert graph["riskaudit.a"] == {"riskaudit.sub.b"} and graph["riskaudit.sub.b"] == {"riskaudit.a"}
    assert cycles(graph) == [["riskaudit.a", "riskaudit.sub.b"]]


def test_riskaudit_has_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 40  # the walk saw the package
    assert graph["riskaudit.checks.base"] & {"riskaudit.scan"} == set(), "checkers must not import the scan"
    assert cycles(graph) == [], f"import cycles: {cycles(graph)}"


def test_storage_does_not_import_decision_logic():
    graph = import_graph()
    assert "riskaudit.gate" not in graph["riskaudit.ledger"]
    assert "riskaudit.approvals" not in graph["riskaudit.ledger"]


# ----------------------------------------------------------------------------- the plugin API

GUIDE = ROOT.parent / "docs" / "plugins.md"
DOCUMENTED_MODULES = {"riskaudit.checks.base", "riskaudit.result", "riskaudit.errors", "riskaudit.masking",
                      "riskaudit.testing"}


def _public_members(cls) -> set[str]:
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    names |= {n for n, v in vars(cls).items() if not n.startswith("_") and (callable(v) or isinstance(v, property))}
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("qualname", ["riskaudit.checks.base:CheckContext", "riskaudit.data:Dataset",
                                      "riskaudit.model:Model"])
def test_the_plugin_guide_documents_every_public_member(qualname):
    import importlib

    module, name = qualname.split(":")
    cls = getattr(importlib.import_module(module), name)
    guide = GUIDE.read_text(encoding="utf-8")
    missing = sorted(m for m in _public_members(cls) if f"`{m}" not in guide and f".{m}" not in guide)
    assert missing == [], f"docs/plugins.md does not document {name}.{', '.join(missing)}"


def test_every_chart_example_in_the_guide_is_valid():
    import json
    import re

    from riskaudit.reports.svg import RENDERERS, validate_chart

    specs = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)]
    assert {s["type"] for s in specs} == set(RENDERERS)
    assert all(validate_chart(s) == [] for s in specs)
    assert validate_chart({"type": "bar", "title": "t", "labels": ["a"], "values": [1, 2]})  # and it can fail
    assert validate_chart({"type": "pie", "title": "t"})


def test_the_example_plugin_uses_only_the_documented_api():
    src = ROOT.parent / "examples" / "plugin" / "src"
    used = set()
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("riskaudit"):
                used.add(node.module)
            elif isinstance(node, ast.Import):
                used |= {a.name for a in node.names if a.name.startswith("riskaudit")}
    assert used and used <= DOCUMENTED_MODULES, used - DOCUMENTED_MODULES
