"""`riskaudit demo` as a new user runs it: real scan, real reports, on 2 cores in under 60 s."""

import json
import time

import pytest

import jsonschema

from helpers import run_cli
from riskaudit.reports.json_report import load_schema
from riskaudit.result import verify_digest


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("demo")
    t0 = time.perf_counter()
    proc = run_cli("demo", "--out", str(tmp_path / "demo"), timeout=300)
    return tmp_path, proc, time.perf_counter() - t0


def findings(report, check_id, status=None):
    check = next(c for c in report["checks"] if c["id"] == check_id)
    return [f for f in check["findings"] if status is None or f["status"] == status]


def test_demo_writes_all_reports(demo_run):
    tmp_path, proc, elapsed = demo_run
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    out = tmp_path / "demo"
    assert proc.stdout.strip().splitlines()[-1].endswith(str(out / "report.html"))
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, load_schema())
    assert verify_digest(report)
    assert {"report.html", "report.json", "junit.xml", "summary.md"} <= {p.name for p in out.iterdir()}
    assert report["subject"]["model"]["format"] == "torchscript"
    assert report["subject"]["datasets"]["train"]["rows"] == 3000
    assert report["subject"]["datasets"]["reference"]["rows"] == 1000
    assert elapsed < 60, f"demo took {elapsed:.1f}s"


def test_demo_shows_each_checker_finding_something_real(demo_run):
    tmp_path, proc, _ = demo_run
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert proc.returncode == 1 and report["status"] == "fail"
    # licenses: the dataset's CC-BY-NC-4.0 fails commercial use, with an SBOM beside the report
    nc = findings(report, "licenses", "fail")
    assert [f["id"] for f in nc] == ["licenses.noncommercial_license"] and "CC-BY-NC-4.0" in nc[0]["message"]
    assert (tmp_path / "demo" / "sbom.cdx.json").exists()
    # fairness: the model approves 18-25 year-olds far less often; sex is balanced
    di = {f["subject"]: f for f in findings(report, "fairness") if f["id"] == "fairness.disparate_impact"}
    assert di["age_band"]["status"] == "fail" and di["age_band"]["value"] < 0.8
    assert di["sex"]["status"] == "pass"
    # data_validity: leakage, label spellings, impossible values, a rare class
    dv = [(f["id"].split(".")[1], f["subject"], f) for f in findings(report, "data_validity")]
    leak = [f for k, _, f in dv if k == "train_test_leakage"]
    assert leak[0]["status"] == "fail" and leak[0]["evidence"]["count"] == 40
    assert [f["evidence"]["count"] for k, _, f in dv if k == "label_inconsistency" and f["status"] == "fail"] == [14]
    assert any(k == "out_of_range" and s == "age" and f["status"] == "fail" for k, s, f in dv)  # explicit expectation
    assert any(k == "out_of_range" and s == "debt_ratio" for k, s, f in dv)
    assert any(k == "rare_class" and s == "manual_review" for k, s, f in dv)
    # drift: incomes fell and loans grew (data drift), the approval rule changed (concept drift)
    drifted = sorted(f["subject"] for f in findings(report, "drift", "fail") if f["id"] == "drift.data_drift")
    assert drifted == ["income", "loan_amount"]
    assert any(f["id"] == "drift.concept_drift" for f in findings(report, "drift", "fail"))
    # consistency: the model was saved with Dropout active
    kinds = {f["id"]: f["subject"] for f in findings(report, "consistency", "fail")}
    assert kinds.get("consistency.train_mode_layers") == "net.2"
    assert "consistency.nondeterministic_predictions" in kinds


def test_demo_consistency_is_fixed_by_eval_mode(demo_run):
    tmp_path, _, _ = demo_run
    project = tmp_path / "demo" / "inputs" / "riskaudit.yaml"
    proc = run_cli("scan", str(project), "--eval-mode", "--check", "consistency", "--format", "json",
                   "--out", str(tmp_path / "eval"))
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["checks"][[c["id"] for c in report["checks"]].index("consistency")]["status"] == "pass", proc.stderr
    assert proc.returncode == 0


def test_demo_pii_is_found_and_never_shown_raw(demo_run):
    import pandas as pd

    tmp_path, _, _ = demo_run
    out = tmp_path / "demo"
    report = json.loads((out / "report.json").read_text())
    flagged = {f["subject"] for f in findings(report, "pii", "fail") if f["id"] == "pii.pii_detected"}
    assert {"name", "email", "notes"} <= flagged
    assert any(f["id"] == "pii.reidentification_risk" for f in findings(report, "pii", "fail"))
    # robustness: the demo model loses accuracy at the policy's epsilon
    rb = [f for f in findings(report, "robustness", "fail") if f["id"] == "robustness.adversarial_accuracy"]
    assert rb and all(f["evidence"]["epsilon"] == f["evidence"]["judged_epsilon"] for f in rb)
    # no raw name, e-mail address or notes text reaches any report written
    import html

    raw = pd.concat([pd.read_csv(out / "inputs" / "data" / f) for f in ("current.csv", "train.csv", "validation.csv")])
    secrets = set(raw["email"]) | set(raw["name"]) | {html.escape(n) for n in raw["name"]}
    assert len(secrets) > 2000
    texts = {p.name: p.read_text(errors="replace") for p in out.iterdir()
             if p.is_file() and p.suffix in (".html", ".json", ".xml", ".md", ".sarif")}
    assert "report.html" in texts
    for name, text in texts.items():
        leaked = [s for s in secrets if s in text]
        assert not leaked, (name, leaked[:5])


def test_demo_tables_come_from_the_cache_the_second_time(tmp_path, monkeypatch):
    from riskaudit import demo

    monkeypatch.setenv("RISKAUDIT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    key, ref = demo._cached_data(tmp_path / "a")
    assert ref is not None and len(key) == 16
    monkeypatch.setattr(demo, "make_demo_data", lambda: (_ for _ in ()).throw(AssertionError("regenerated")))
    key2, ref2 = demo._cached_data(tmp_path / "b")
    assert (key2, ref2) == (key, None)
    for name in demo.DATA_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "b" / "train.csv").read_text(encoding="utf-8") == ref.to_csv(index=False)
    # a tampered key (it names the cached model file) is not trusted: the tables are made again
    (demo.cache_dir() / "data" / "train.key").write_text("../../evil", encoding="utf-8")
    with pytest.raises(AssertionError, match="regenerated"):
        demo._cached_data(tmp_path / "b")
