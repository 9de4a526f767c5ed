"""report.json schema and digest; HTML escaping; JUnit, Markdown and SARIF renderers."""

import json
import os
import xml.etree.ElementTree as ET

import jsonschema
import numpy as np
import pandas as pd
import pytest

import riskaudit
from helpers import Hostile
from riskaudit.registry import Registry
from riskaudit.reports import html, junit, markdown, sarif
from riskaudit.reports.json_report import load_schema, render as render_json
from riskaudit.reports.writer import write_reports
from riskaudit.result import canonical_json, compute_digest, verify_digest

HOSTILE_COLUMNS = ["<script>alert(1)</script>", '" onmouseover="alert(2)', "naïve ünïcode ✓", "x' onerror='y"]


@pytest.fixture(scope="module")
def hostile_report():
    frame = pd.DataFrame({c: [f"<img src=x onerror=alert({i})>", '"><script>bad()</script>', "ok"]
                          for i, c in enumerate(HOSTILE_COLUMNS)})
    frame["y"] = [0, 1, 0]
    return riskaudit.scan(data=frame, target="y", registry=Registry.from_classes([Hostile]),
                          policy={"name": "t"}).to_dict()


def test_report_json_validates_against_the_schema(hostile_report):
    jsonschema.validate(hostile_report, load_schema())
    again = json.loads(render_json(hostile_report))
    jsonschema.validate(again, load_schema())
    assert again == hostile_report


def test_digest_verifies_and_any_change_breaks_it(hostile_report):
    assert verify_digest(hostile_report)
    assert hostile_report["digest"] == compute_digest(hostile_report)
    text = canonical_json({k: v for k, v in hostile_report.items() if k != "digest"})
    # flip each of 200 evenly spread bytes of the canonical form: every change is detected
    for pos in np.linspace(0, len(text) - 1, 200).astype(int):
        mutated = bytearray(text)
        mutated[pos] = ord("#") if mutated[pos] != ord("#") else ord("%")
        try:
            body = json.loads(bytes(mutated).decode("utf-8", errors="replace"))
        except json.JSONDecodeError:
            continue  # a byte that breaks the JSON is rejected before any digest check
        if not isinstance(body, dict):
            continue
        body["digest"] = hostile_report["digest"]
        assert not verify_digest(body), pos


def test_html_escapes_hostile_names_and_values(hostile_report):
    page = html.render(hostile_report)
    assert "<script" not in page.lower()
    assert 'onmouseover="' not in page and "onerror='" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34; onmouseover=&#34;alert(2)" in page
    assert "naïve ünïcode ✓" in page
    # charts are inline SVG, and their text is escaped too
    assert "<svg" in page and "&lt;script&gt;" in page.split("<svg", 1)[1]
    # self-contained: no external fetches
    for needle in ("http://", "https://", "src=\"", "<link", "@import"):
        assert needle not in page.replace('xmlns="http://www.w3.org/2000/svg"', ""), needle


def test_html_shows_verdict_approvals_and_manifest(hostile_report):
    report = dict(hostile_report, approvals_required=[{"role": "compliance", "count": 2}])
    page = html.render(report, approvals=[{"role": "compliance", "approver": "Dana <b>", "decision": "approve"}])
    assert "Verdict: FAIL" in page
    assert "riskaudit approve report.json --role compliance --approver" in page
    assert "Dana &lt;b&gt;" in page and "<td>compliance</td><td>2</td>" in page
    assert hostile_report["digest"] in page and "Reproducibility manifest" in page


def test_junit_has_a_case_per_finding_and_failures(hostile_report):
    root = ET.fromstring(junit.render(hostile_report))
    findings = [f for c in hostile_report["checks"] for f in c["findings"]]
    assert int(root.get("tests")) == len(findings)
    assert int(root.get("failures")) == sum(f["status"] == "fail" for f in findings)


def test_junit_marks_errors_and_skips():
    from riskaudit.checks.base import CheckOutput, Checker, Kind, Need

    class Broken(Checker):
        id = "broken"
        description = "raises"
        kinds = {"x": Kind("x")}

        def run(self, ctx):
            raise ValueError("no luck")

    class NeedsRef(Checker):
        id = "needsref"
        description = "needs reference"
        needs = frozenset({Need.REFERENCE})
        kinds = {"x": Kind("x")}

        def run(self, ctx):
            return CheckOutput([], "x")

    rep = riskaudit.scan(data=pd.DataFrame({"a": [1, 2]}), registry=Registry.from_classes([Broken, NeedsRef]),
                         policy={"name": "t"}).to_dict()
    root = ET.fromstring(junit.render(rep))
    assert root.get("errors") == "1" and root.get("skipped") == "1"
    assert rep["status"] == "error"


def test_markdown_and_sarif(hostile_report):
    md = markdown.render(hostile_report)
    assert md.startswith("## riskaudit:") and "FAIL" in md
    assert "<script>" not in md and "\\<script\\>" in md
    doc = json.loads(sarif.render(hostile_report))
    assert doc["version"] == "2.1.0" and doc["runs"][0]["results"]


def test_writer_is_atomic_and_renders_before_writing(hostile_report, tmp_path):
    out = tmp_path / "r"
    written = write_reports(hostile_report, out, ["json", "html", "md", "junit"])
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "report.html", "report.json", "summary.md"]
    assert json.loads(written["json"].read_text())["digest"] == hostile_report["digest"]
    # readable by others as the umask allows (mkstemp alone would leave 0600)
    mask = os.umask(0o22)
    os.umask(mask)
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o666 & ~mask}
    broken = dict(hostile_report)
    broken["checks"] = None  # makes every renderer raise
    with pytest.raises(TypeError):
        write_reports(broken, tmp_path / "r2", ["json", "html"])
    assert not (tmp_path / "r2").exists()


def test_same_seed_gives_identical_findings():
    from riskaudit.testing import run_check
    from test_checker_api import RowCount

    frame = pd.DataFrame({"a": np.arange(70), "y": [0, 1] * 35})
    a = run_check(RowCount, data=frame, seed=11)
    b = run_check(RowCount, data=frame, seed=11)
    assert [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings]


def test_summary_md_reads_like_the_first_pages_of_the_html(demo_out, demo_scan):
    """summary.md of the real demo: verdict and what it means, the findings that drive it in
    plain words (found, affected, why, what to do, threshold with its source), changes since
    the last approval, approvals needed with the closed gate on a fail — in that order."""
    md = (demo_out / "summary.md").read_text(encoding="utf-8")
    assert md == markdown.render(demo_scan)
    heads = ["## riskaudit: ❌ FAIL — do not deploy", "### What drives the verdict",
             "### Changed since the last approved audit", "### Approvals needed", "<details><summary>Checks"]
    assert [md.index(h) for h in heads] == sorted(md.index(h) for h in heads)
    assert html.VERDICT_TEXT["fail"] in md
    drivers = md[md.index("### What drives the verdict"):md.index("### Changed since")]
    for label in ("**Affected:**", "**Why it matters:**", "**What to do:**", "**Threshold:**"):
        assert label in drivers
    assert "Fairness: disparate impact" in drivers
    assert "policy “default” key checks.fairness.thresholds.disparate\\_impact.fail = 0.8" in drivers
    approvals = md[md.index("### Approvals needed"):]
    assert "stays closed whatever is signed" in approvals
    for req in demo_scan["approvals_required"]:
        assert f"| {req['role']} | {req['count']} | — | {req['count']} |" in approvals
    n_fail = sum(f["status"] == "fail" for c in demo_scan["checks"] for f in c["findings"])
    assert f"{n_fail} failed" in md
