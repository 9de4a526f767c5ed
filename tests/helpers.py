"""Shared test helpers: run the real CLI in a subprocess; a local checker for report tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from riskaudit.checks.base import CheckOutput, Checker, Kind, Need

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None,
            timeout: int = 240) -> subprocess.CompletedProcess:
    """``riskaudit ARGS`` as a user runs it: a fresh interpreter, real exit code and streams."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "riskaudit", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def assert_usage_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    # one paragraph: no blank line inside the message
    assert "\n\n" not in proc.stderr.strip(), proc.stderr


class Hostile(Checker):
    """Echoes column names and values into findings, tables and charts (HTML escaping tests)."""

    id = "hostile"
    description = "Echoes data values into the report <b>verbatim</b>."
    needs = frozenset({Need.DATA})
    kinds = {"echo": Kind("echo", direction="above", fail=0.5, warn=0.1)}

    def run(self, ctx):
        frame = ctx.data.frame
        findings = []
        for i, col in enumerate(frame.columns):
            findings.append(ctx.finding(
                "echo", col, f"Column {col} holds {frame[col].iloc[0]}", value=float(i),
                evidence={"table": [{"column": col, "value": str(v)} for v in frame[col].head(3)],
                          "charts": [{"type": "bar", "title": col, "labels": [str(v) for v in frame[col].head(3)],
                                      "values": [1, 2, 3], "reference_lines": [{"value": 2, "label": col}]}],
                          "advice": f"Fix {col}"}))
        return CheckOutput(findings, summary=f"Echoed {len(findings)} columns: {', '.join(frame.columns)}",
                           metrics={"charts": [{"type": "line", "title": "x", "x": [0, 1],
                                                "series": [{"name": frame.columns[0], "y": [0.1, 0.2]}]}]})


class LockedModel:
    """A predict callable that cannot travel to the Spark executors (it holds a lock)."""

    def __init__(self, module):
        import threading

        self.module, self.lock = module, threading.Lock()

    def __call__(self, x):
        import torch

        with self.lock, torch.no_grad():
            return self.module(torch.as_tensor(x)).numpy()
