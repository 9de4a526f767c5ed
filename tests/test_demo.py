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
    assert report["subject"]["datasets"]["reference"]["rows"] == 3000
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
