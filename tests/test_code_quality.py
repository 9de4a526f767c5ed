"""CI's style and type checks, run by the test command itself (so `.ci/run` stays the README's
command): ruff and mypy on riskaudit/, configured in pyproject.toml, installed by the `test` extra."""

from __future__ import annotations

import shutil
import subprocess
import sys

from helpers import ROOT


def _tool(name: str) -> list[str]:
    exe = shutil.which(name, path=str(ROOT / ".venv" / "bin")) or shutil.which(name)
    assert exe, f"{name} is not installed: pip install -e '.[test]'"
    return [exe]


def test_ruff_passes_on_riskaudit():
    proc = subprocess.run([*_tool("ruff"), "check", "--no-cache", "riskaudit", "examples/plugin/src"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_mypy_passes_on_riskaudit():
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_every_direct_import_is_declared():
    """Third-party modules imported anywhere in riskaudit/ are dependencies in pyproject.toml."""
    import ast

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: tomli, a dependency there
        import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    declared_text = " ".join(declared).lower()
    # import name -> distribution name, where they differ
    dist = {"yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn", "license_expression": "license-expression",
            "cyclonedx": "cyclonedx-python-lib", "great_expectations": "great-expectations",
            "alibi_detect": "alibi-detect", "art": "adversarial-robustness-toolbox",
            "presidio_analyzer": "presidio-analyzer", "presidio_anonymizer": "presidio-anonymizer",
            "packageurl": "packageurl-python", "cryptography": "cryptography"}
    stdlib = set(sys.stdlib_module_names) | {"tomllib"}  # 3.11+; on 3.10 the import falls back to tomli
    missing = set()
    for path in (ROOT / "riskaudit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top == "riskaudit":
                    continue
                if dist.get(top, top).lower().replace("_", "-") not in declared_text:
                    missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"


MAX_FUNCTION_LINES = 80


def _function_lengths():
    """(``path::Class.function``, lines from ``def`` to its last line) of every function in riskaudit/."""
    import ast

    def walk(node, prefix, path):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{path}::{prefix}{child.name}", child.end_lineno - child.lineno + 1
                yield from walk(child, f"{prefix}{child.name}.", path)
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.", path)
            else:
                yield from walk(child, prefix, path)

    for path in sorted((ROOT / "riskaudit").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        yield from walk(ast.parse(path.read_text(encoding="utf-8")), "", rel)


def test_no_function_over_80_lines():
    """Small units: no function in riskaudit/ is longer than 80 lines (``def`` to its last
    line, docstring included), without exceptions."""
    lengths = dict(_function_lengths())
    too_long = sorted(f"{name} ({n} lines)" for name, n in lengths.items() if n > MAX_FUNCTION_LINES)
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines (split them by meaning): {too_long}"
