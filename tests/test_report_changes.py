"""'Changed since the last approved audit': the ledger's approved audit of the same model (or a
baseline report) against the new scan, in report.json, report.html and `riskaudit diff`."""

import json

import numpy as np
import pandas as pd

from approval_support import make_model
from helpers import assert_usage_error, run_cli
from riskaudit.reports.changes import compare, render_text
from riskaudit.result import verify_digest


def _frame(rows, dup):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.integers(0, 5, rows)})
    if dup:
        df = pd.concat([df, df.iloc[:dup]], ignore_index=True)
    return df


def test_second_scan_lists_what_changed_since_the_approved_one(tmp_path):
    ledger = str(tmp_path / "ledger.sqlite3")
    model = make_model(tmp_path / "model.pt")
    _frame(200, 0).to_csv(tmp_path / "clean.csv", index=False)
    _frame(200, 30).to_csv(tmp_path / "dups.csv", index=False)
    key = run_cli("keygen", "--out", str(tmp_path / "ci.key"))
    assert key.returncode == 0, key.stderr
    common = ["--model", str(model), "--check", "data_validity", "--ledger", ledger, "-q",
              "--scanner-key", str(tmp_path / "ci.key")]
    first = run_cli("scan", "--data", str(tmp_path / "clean.csv"), "--out", str(tmp_path / "a"), *common)
    assert first.returncode == 0, first.stderr
    old = json.loads((tmp_path / "a" / "report.json").read_text())
    assert "changes" not in old  # nothing approved yet to compare with
    for role in [r["role"] for r in old["approvals_required"]]:
        proc = run_cli("approve", str(tmp_path / "a"), "--role", role, "--approver", f"A {role}", "--ledger", ledger)
        assert proc.returncode == 0, proc.stderr
    second = run_cli("scan", "--data", str(tmp_path / "dups.csv"), "--out", str(tmp_path / "b"), *common)
    assert second.returncode == 1, second.stderr
    new = json.loads((tmp_path / "b" / "report.json").read_text())
    assert verify_digest(new)  # the comparison is part of what approvers sign
    ch = new["changes"]
    assert ch["baseline"]["digest"] == old["digest"] and "ledger" in ch["baseline"]["source"]
    dup = [x for x in ch["new"] if x["id"] == "data_validity.duplicate_rows"]
    assert len(dup) == 1 and dup[0]["status_before"] in (None, "pass") and dup[0]["status_after"] == "fail"
    # the figure shown is the one in the report, as a percent: an independent count by pandas
    frame = pd.read_csv(tmp_path / "dups.csv")
    share = frame.duplicated().mean()
    assert abs(dup[0]["value_after"] - share) < 1e-9
    assert f"{share * 100:.3g} %" in dup[0]["after"]
    assert {"title": "Verdict", "before": "pass", "after": "fail"} in ch["metrics"]
    page = (tmp_path / "b" / "report.html").read_text()
    section = page[page.index('<section id="changes">'):page.index('<section id="approvals">')]
    assert "Data validity: duplicate rows" in section and old["digest"][:19] in section
    # riskaudit diff prints the same comparison
    diff = run_cli("diff", str(tmp_path / "a"), str(tmp_path / "b" / "report.json"))
    assert diff.returncode == 0, diff.stderr
    assert "New (1):" in diff.stdout and "Data validity: duplicate rows" in diff.stdout
    assert f"fail ({dup[0]['after'].split('(')[1]}" in diff.stdout
    js = run_cli("diff", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json")
    assert json.loads(js.stdout)["new"] == ch["new"]


def test_diff_sections_follow_status_and_value_direction():
    def rep(findings, status="fail"):
        return {"status": status, "digest": "sha256:" + "0" * 64, "created_at": "t",
                "checks": [{"id": "fairness", "status": status, "findings": findings}]}

    def f(subject, status, value, fid="fairness.disparate_impact"):
        return {"id": fid, "subject": subject, "status": status, "value": value, "threshold": 0.8}

    old = rep([f("sex", "fail", 0.5), f("age", "fail", 0.7), f("race", "pass", 0.95), f("zip", "fail", 0.6),
               f("gone", "warn", 0.85)])
    new = rep([f("sex", "fail", 0.3), f("age", "warn", 0.85), f("race", "fail", 0.5), f("zip", "pass", 0.9),
               f("region", "fail", 0.1)])
    ch = compare(old, new, directions={"fairness.disparate_impact": "below"})
    names = {s: [x["subject"] for x in ch[s]] for s in ("new", "worse", "resolved", "better")}
    assert names == {"new": ["race", "region"], "worse": ["sex"], "resolved": ["gone", "zip"], "better": ["age"]}
    text = render_text(ch)
    assert "Worse (1):" in text and "fail (0.5) -> fail (0.3)" in text


def test_diff_refuses_files_that_are_not_reports(tmp_path):
    (tmp_path / "x.json").write_text('{"schema_version": "1", "digest": "sha256:0", "checks": 5}')
    (tmp_path / "y.json").write_text("not json")
    assert_usage_error(run_cli("diff", str(tmp_path / "x.json"), str(tmp_path / "x.json")), "not a well-formed")
    assert_usage_error(run_cli("diff", str(tmp_path / "y.json"), str(tmp_path / "x.json")), "OLD", "not valid JSON")
    assert_usage_error(run_cli("diff", str(tmp_path / "x.json"), str(tmp_path / "none.json")), "NEW", "does not exist")


def test_a_baseline_report_is_read_once_for_drift_and_for_the_changes(tmp_path, monkeypatch):
    """--baseline: one read of the file serves the drift checker and the report's changes."""
    import sys

    from click.testing import CliRunner

    from riskaudit.cli import cli

    scan_module = sys.modules["riskaudit.scan"]  # the package's `scan` attribute is the function

    model = make_model(tmp_path / "model.pt")
    _frame(200, 0).to_csv(tmp_path / "clean.csv", index=False)
    _frame(200, 30).to_csv(tmp_path / "dups.csv", index=False)
    common = ["--model", str(model), "--check", "data_validity", "--ledger", str(tmp_path / "l.sqlite3"), "-q"]
    first = run_cli("scan", "--data", str(tmp_path / "clean.csv"), "--out", str(tmp_path / "a"), *common)
    assert first.returncode == 0, first.stderr
    reads: list[str] = []
    real = scan_module.load_baseline
    monkeypatch.setattr(scan_module, "load_baseline", lambda path: reads.append(str(path)) or real(path))
    res = CliRunner().invoke(cli, ["scan", "--data", str(tmp_path / "dups.csv"), "--out", str(tmp_path / "b"),
                                   "--baseline", str(tmp_path / "a" / "report.json"), *common])
    assert res.exit_code == 1, res.output
    assert reads == [str(tmp_path / "a" / "report.json")]
    old = json.loads((tmp_path / "a" / "report.json").read_text())
    ch = json.loads((tmp_path / "b" / "report.json").read_text())["changes"]
    assert ch["baseline"]["digest"] == old["digest"] and ch["baseline"]["source"] == "--baseline report.json"
    assert [x["id"] for x in ch["new"]] == ["data_validity.duplicate_rows"]
