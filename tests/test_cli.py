"""The command line as users and CI run it: exit codes 0/1/2 and clear messages, no tracebacks."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import ROOT, assert_usage_error, run_cli

PLUGIN_SRC = ROOT / "tests" / "fixtures" / "plugin_pkg"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    """Install the tiny third-party plugin package for real (pip, into a target folder)."""
    target = tmp_path_factory.mktemp("plugin_site")
    build = tmp_path_factory.mktemp("plugin_build")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(PLUGIN_SRC)],
                   check=True, capture_output=True, text=True, cwd=build)
    return str(target)


@pytest.fixture()
def csv(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"a": np.arange(60), "b": np.linspace(0, 1, 60), "y": [0, 1] * 30}).to_csv(path, index=False)
    return path


def plugin_env(plugin_path):
    return {"PYTHONPATH": os.pathsep.join([plugin_path, os.environ.get("PYTHONPATH", "")])}


def test_third_party_plugin_is_listed_and_runs(plugin_path, csv, tmp_path):
    listed = run_cli("checks", env=plugin_env(plugin_path))
    assert listed.returncode == 0, listed.stderr
    assert "rowlimit" in listed.stdout and "riskaudit-rowlimit==1.0.0" in listed.stdout
    out = tmp_path / "rep"
    proc = run_cli("scan", "--data", str(csv), "--target", "y", "--check", "rowlimit", "--out", str(out),
                   "--format", "json,html,junit,md,sarif", env=plugin_env(plugin_path))
    assert proc.returncode == 0, proc.stderr  # 60 rows: warn only
    assert proc.stdout.strip().splitlines()[-1] == f"Verdict: WARN — report: {out / 'report.html'}"
    report = json.loads((out / "report.json").read_text())
    check = next(c for c in report["checks"] if c["id"] == "rowlimit")
    assert check["findings"][0]["id"] == "rowlimit.too_many_rows" and check["status"] == "warn"
    assert {p.name for p in out.iterdir()} == {"report.json", "report.html", "junit.xml", "summary.md", "report.sarif"}


def test_policy_failure_exits_1(plugin_path, csv, tmp_path):
    policy = tmp_path / "tight.yaml"
    policy.write_text("checks:\n  rowlimit:\n    thresholds:\n      too_many_rows: {fail: 10}\n")
    proc = run_cli("scan", "--data", str(csv), "--check", "rowlimit", "--policy", str(policy),
                   "--out", str(tmp_path / "r"), env=plugin_env(plugin_path))
    assert proc.returncode == 1, proc.stderr
    assert "Verdict: FAIL" in proc.stdout.splitlines()[-1]


def test_project_file_is_read_and_options_override_it(plugin_path, csv, tmp_path):
    (tmp_path / "riskaudit.yaml").write_text(
        f"data: {csv.name}\ntarget: y\ncheck: [rowlimit]\nout: from-project\nformat: [json]\n")
    proc = run_cli("scan", cwd=tmp_path, env=plugin_env(plugin_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "from-project" / "report.json").exists()
    proc = run_cli("scan", "--out", "from-cli", cwd=tmp_path, env=plugin_env(plugin_path))
    assert (tmp_path / "from-cli" / "report.json").exists()


def _bad_inputs(tmp_path, csv):
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b,y\n")
    malformed = tmp_path / "malformed.csv"
    malformed.write_text('a,b,y\n1,2,3\n"4,5,6\n7,8\n')
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("name,y\nJos\xe9,1\nAnn,0\n".encode("latin-1"))
    one_class = tmp_path / "one_class.csv"
    pd.DataFrame({"a": range(10), "y": ["yes"] * 10}).to_csv(one_class, index=False)
    bad_policy = tmp_path / "bad_policy.yaml"
    bad_policy.write_text("risk_tier: medium\nthreshholds: {}\n")
    bad_policy_value = tmp_path / "bad_value.yaml"
    bad_policy_value.write_text("risk_tier: extreme\n")
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("checks: [\n")
    npz = tmp_path / "noxs.npz"
    np.savez(npz, features=np.zeros((3, 2)))
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(b"\x80\x04N.")
    whole = tmp_path / "whole.pt"
    torch.save(torch.nn.Linear(2, 2), whole)
    project = tmp_path / "proj.yaml"
    project.write_text("data: data.csv\ntargte: y\n")
    return [
        (("scan", "--data", str(tmp_path / "missing.csv")), ["missing.csv", "does not exist"]),
        (("scan", "--data", str(csv), "--target", "label"), ["'label'", "data.csv"]),
        (("scan", "--data", str(csv), "--sensitive", "race"), ["'race'", "--sensitive"]),
        (("scan", "--data", str(csv), "--features", "a,zz"), ["'zz'", "--features"]),
        (("scan", "--data", str(empty)), ["empty.csv", "no rows"]),
        (("scan", "--data", str(malformed)), ["malformed.csv", "cannot parse"]),
        (("scan", "--data", str(latin)), ["latin1.csv", "UTF-8"]),
        (("scan", "--data", str(one_class), "--target", "y"), ["single class", "'y'"]),
        (("scan", "--data", str(csv), "--policy", str(bad_policy)), ["bad_policy.yaml", "threshholds", "unknown key"]),
        (("scan", "--data", str(csv), "--policy", str(bad_policy_value)), ["bad_value.yaml", "risk_tier", "extreme"]),
        (("scan", "--data", str(csv), "--policy", str(broken_yaml)), ["broken.yaml", "invalid YAML"]),
        (("scan", "--data", str(csv), "--policy", "nonexistent"), ["nonexistent", "built-in"]),
        (("scan", "--data", str(csv), "--check", "nosuchcheck"), ["nosuchcheck", "unknown checker"]),
        (("scan", "--data", str(npz)), ["noxs.npz", "'x'"]),
        (("scan", "--data", str(csv), "--model", str(pickled)), ["model.pkl", "--trust-model"]),
        (("scan", "--data", str(csv), "--model", str(whole)), ["whole.pt", "--trust-model"]),
        (("scan", "--data", str(csv), "--model", "no_such_pkg.mod:Model"), ["no_such_pkg", "cannot import"]),
        (("scan", str(project)), ["proj.yaml", "targte"]),
        (("scan", str(tmp_path / "nofile.yaml")), ["nofile.yaml", "does not exist"]),
        (("scan", "--data", str(csv), "--format", "pdf"), ["pdf", "--format"]),
        (("scan", "--data", str(csv), "--seed", "abc"), ["--seed"]),
        (("scan",), ["nothing to audit", "riskaudit.yaml"]),
    ]


def test_every_bad_input_is_exit_2_with_a_clear_message(tmp_path, csv):
    for args, needles in _bad_inputs(tmp_path, csv):
        proc = run_cli(*args, "--out", str(tmp_path / "never"), cwd=tmp_path)
        assert_usage_error(proc, *needles)
    assert not (tmp_path / "never").exists(), "no report folder is written on an input error"


def test_input_files_are_never_modified(plugin_path, csv, tmp_path):
    before = (csv.read_bytes(), csv.stat().st_mtime_ns)
    run_cli("scan", "--data", str(csv), "--reference", str(csv), "--out", str(tmp_path / "r"),
            env=plugin_env(plugin_path))
    assert (csv.read_bytes(), csv.stat().st_mtime_ns) == before


def test_checks_lists_and_help_works():
    proc = run_cli("--help")
    assert proc.returncode == 0 and "scan" in proc.stdout and "demo" in proc.stdout
    proc = run_cli("checks", "-v")
    assert proc.returncode == 0


LEAVE = """
import atexit, sys, threading, time
import sklearn  # a library whose teardown the console command skips
atexit.register(lambda: print("exit handler ran", flush=True))
if sys.argv[1] == "worker":
    def work():
        time.sleep(0.5)
        print("worker finished", flush=True)
    threading.Thread(target=work).start()
sys.stdout.write("buffered line\\n")  # not flushed yet: the exit must flush it
sys.argv = ["riskaudit", *sys.argv[2:]]
from riskaudit.cli import main
main()
"""


@pytest.mark.parametrize("thread", ["none", "worker"])
def test_the_console_command_skips_teardown_but_not_exit_handlers_streams_or_threads(thread):
    """After a heavy library is loaded the console command leaves by os._exit (the
    interpreter's teardown costs about a second): exit handlers still run, buffered output
    is flushed, the exit code is the command's, and a thread still working is waited for."""
    for args, code in ((["--version"], 0), (["gate", "--no-such-option"], 2)):
        proc = subprocess.run([sys.executable, "-c", LEAVE, thread, *args], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == code, proc.stderr
        assert "buffered line" in proc.stdout
        assert "exit handler ran" in proc.stdout
        assert ("worker finished" in proc.stdout) == (thread == "worker")
        assert "Traceback" not in proc.stderr
