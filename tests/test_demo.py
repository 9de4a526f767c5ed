"""`riskaudit demo` as a new user runs it: real scan, real reports, on 2 cores in under 60 s."""

import json
import time

import jsonschema

from helpers import run_cli
from riskaudit.reports.json_report import load_schema
from riskaudit.result import verify_digest


def test_demo_writes_all_reports(tmp_path):
    t0 = time.perf_counter()
    proc = run_cli("demo", "--out", str(tmp_path / "demo"), timeout=300)
    elapsed = time.perf_counter() - t0
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
