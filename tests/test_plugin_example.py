"""examples/plugin: a third-party checker installed with pip, configured from the project
file under its id, run by `riskaudit scan` beside the built-ins, passing the conformance suite.

It is installed with the test interpreter's pip (no network: --no-deps --no-build-isolation,
hatchling from the `test` extra) into a temporary --target folder put on PYTHONPATH, so the
plugin is visible to these subprocesses only and the venv stays as it was for other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, assert_usage_error, run_cli
from riskaudit.demo import prepare_demo

PLUGIN = ROOT / "examples" / "plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(PLUGIN)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (target / "riskaudit_loan_cost").is_dir()
    assert list(target.glob("riskaudit_loan_cost-*.dist-info/entry_points.txt"))
    env = {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    return target, env


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin-project")
    path = prepare_demo(folder / "inputs")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["loan_cost"] = {"amount_column": "loan_amount", "currency": "USD", "loss_given_default": 0.6}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_plugin_is_listed_beside_the_builtins(installed):
    _, env = installed
    proc = run_cli("checks", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "loan_cost" in proc.stdout and "fairness" in proc.stdout


def test_scan_runs_the_installed_plugin_with_its_project_configuration(installed, project, tmp_path):
    _, env = installed
    out = tmp_path / "report"
    proc = run_cli("scan", str(project), "--check", "loan_cost", "--check", "pii", "--out", str(out),
                   "--format", "json,html", env=env, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    check = next(c for c in report["checks"] if c["id"] == "loan_cost")
    assert check["status"] in ("pass", "warn", "fail"), check["summary"]
    assert "USD" in check["summary"]  # the project file's configuration reached the checker
    overall = next(f for f in check["findings"] if f["id"] == "loan_cost.expected_cost")
    assert overall["evidence"]["errors"] and "cost (USD)" in overall["evidence"]["errors"][0]
    assert overall["evidence"]["charts"][0]["type"] == "bar"
    assert {f["subject"] for f in check["findings"] if f["id"] == "loan_cost.group_cost_ratio"} <= {"sex", "age_band"}
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Cost of wrong decisions (USD)" in html and "<svg" in html


def test_a_typo_in_the_plugin_section_is_exit_2_naming_the_key(installed, project, tmp_path):
    _, env = installed
    bad = project.parent / "typo.yaml"
    data = yaml.safe_load(project.read_text(encoding="utf-8"))
    data["loan_cost"] = {"amount_colum": "loan_amount"}
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    proc = run_cli("scan", str(bad), "--check", "loan_cost", "--out", str(tmp_path / "r"), env=env)
    assert_usage_error(proc, "loan_cost", "amount_colum", "unknown option")


def test_without_the_plugin_its_section_is_an_unknown_key(project, tmp_path):
    proc = run_cli("scan", str(project), "--out", str(tmp_path / "r"))
    assert_usage_error(proc, "unknown key 'loan_cost'")


def test_the_plugin_passes_the_conformance_suite_and_its_oracle_tests(installed):
    _, env = installed
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(PLUGIN),
                           str(PLUGIN / "tests")], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env}, cwd=PLUGIN)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout and "failed" not in proc.stdout
