"""The README's quick start, verbatim, on the breast_cancer example a new user builds
(an id column, two sensitive columns, a TorchScript MLP): it runs end to end, through the
command line and through ``riskaudit.scan()``, with no checker in error."""

from __future__ import annotations

import json
import re
import shlex

import jsonschema
import pandas as pd
import pytest

from riskaudit.reports.json_report import load_schema
from riskaudit.result import Report
from helpers import ROOT, run_cli
from quickstart_support import build_example


def _readme_blocks(lang: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Quick start with your own model and data"):]
    section = section[:section.index("\n## ", 5)]
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quickstart")
    build_example(folder)
    return folder


def test_readme_quick_start_command_runs_verbatim(example):
    command = _readme_blocks("bash")[0].replace("\\\n", " ")
    argv = shlex.split(command)
    assert argv[0] == "riskaudit"
    proc = run_cli(*argv[1:], cwd=example, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads((example / "audit" / "report.json").read_text())
    jsonschema.validate(report, load_schema())
    assert (example / "audit" / "report.html").stat().st_size > 0
    errors = {c["id"]: c["summary"] for c in report["checks"] if c["status"] == "error"}
    assert not errors, errors
    ran = {c["id"] for c in report["checks"] if c["status"] != "skipped"}
    assert {"performance", "fairness", "drift", "data_validity", "robustness", "consistency"} <= ran
    assert set(report["subject"]["datasets"]) == {"current", "train", "reference"}
    assert report["manifest"]["inputs"]["features"] == [
        c for c in pd.read_csv(example / "eval.csv").columns if c not in ("patient_id", "sex", "age_band", "label")]


def test_readme_notebook_snippet_runs(example):
    import torch

    code = _readme_blocks("python")[0]
    names = {"my_module": torch.jit.load(str(example / "model.pt")),
             "eval_df": pd.read_csv(example / "eval.csv"), "train_df": pd.read_csv(example / "train.csv"),
             "validation_df": pd.read_csv(example / "validation.csv")}
    exec(compile(code, "README.md", "exec"), names)  # the snippet as a user pastes it
    report = names["report"]
    assert isinstance(report, Report)
    assert report.exit_code in (0, 1)
    errors = {c.id: c.summary for c in report.checks if c.status.value == "error"}
    assert not errors, errors
    perf = report.check("performance")
    assert perf.status.value != "skipped" and "generalization_gap" not in perf.metrics.get("skipped", {})
