"""--format evidence: an Annex IV-structured technical documentation pack, and the regulation
mapping per framework (passing, failing, no evidence). Maps evidence; never certifies."""

import re

import pandas as pd
import pytest

import riskaudit
from helpers import Hostile
from riskaudit.errors import PolicyError
from riskaudit.policy import load_policy
from riskaudit.registry import Registry
from riskaudit.reports import evidence, html
from riskaudit.reports.regulation import framework_views

ANNEX_IV = ["## 1. General description", "## 2. Elements of the AI system", "### 2(d) Data", "### 2(e) Human oversight",
            "### 2(g) Validation and testing", "## 3. Monitoring", "## 4. Appropriateness", "## 5. Risk management",
            "## 6. Changes", "## 7. Standards", "## 8. EU declaration", "## 9. Post-market"]


def test_demo_evidence_pack_follows_annex_iv_and_marks_what_people_write(demo_out, demo_scan):
    text = (demo_out / "technical-documentation.md").read_text(encoding="utf-8")
    positions = [text.index(h) for h in ANNEX_IV]
    assert positions == sorted(positions)
    assert "not legal advice" in text and "does not certify" in text
    assert text.count("**TO BE WRITTEN**") >= 8
    # the project file's descriptive fields are used, not marked as missing
    assert "- **Intended purpose:** Demo only: triage of consumer loan applications" in text
    assert "- **Provider / owner:** Demo credit-risk team" in text and "- **Version:** demo-1" in text
    assert demo_scan["manifest"]["system"]["version"] == "demo-1"
    # measured figures reach the pack rounded with units, matching report.json
    leak = next(f for c in demo_scan["checks"] for f in c["findings"] if f["id"] == "data_validity.train_test_leakage")
    assert f"| Data validity | Train test leakage | current | fail | {leak['value'] * 100:.3g} % | 1 % |" in text
    assert "EU AI Act" in text and "NIST AI Risk Management Framework" in text and "ISO/IEC 42001" in text


def test_without_descriptive_fields_they_are_marked_to_be_written_and_text_is_escaped():
    frame = pd.DataFrame({"<b>x</b>|y": ["a", "b", "c"], "y": [0, 1, 0]})
    rep = riskaudit.scan(data=frame, target="y", registry=Registry.from_classes([Hostile]), policy={"name": "t"}).to_dict()
    text = evidence.render(rep)
    assert "- **Intended purpose:** _**TO BE WRITTEN** by the provider:" in text
    assert "- **Version:** _**TO BE WRITTEN**" in text
    assert "<b>" not in text and "\\<b\\>" in text


def test_regulation_section_per_framework_from_the_policy_mapping(demo_scan):
    views = {fw.id: fw for fw in framework_views(demo_scan)}
    assert set(views) == {"eu_ai_act", "nist_ai_rmf", "iso_42001"}
    eu = {p.id: p for p in views["eu_ai_act"].provisions}
    assert set(eu) == {"Art. 9", "Art. 10", "Art. 12", "Art. 13", "Art. 14", "Art. 15", "Annex IV"}
    # the demo's fairness and leakage failures are failing evidence for data governance (Art. 10)
    assert eu["Art. 10"].status == "fail" and "Fairness: disparate impact (fail)" in eu["Art. 10"].sources
    assert eu["Art. 14"].status == "pass"  # the required sign-off is evidence of human oversight
    nist = {p.id: p for p in views["nist_ai_rmf"].provisions}
    assert nist["MEASURE 2.11"].status == "fail"
    # a provision whose kinds did not run has no evidence
    only_licenses = dict(demo_scan, checks=[c for c in demo_scan["checks"] if c["id"] == "licenses"])
    nist = {p.id: p for p in {fw.id: fw for fw in framework_views(only_licenses)}["nist_ai_rmf"].provisions}
    assert nist["MEASURE 2.11"].status == "none" and nist["MEASURE 2.11"].sources == "—"
    assert nist["GOVERN 6.1"].status == "fail"  # the non-commercial data license
    # provisions keep the policy's order through report.json's sorted keys
    assert [p.id for p in views["eu_ai_act"].provisions][:2] == ["Art. 9", "Art. 10"]
    no_fair = only_licenses
    assert all(p.status == "none" for p in framework_views(dict(no_fair, checks=[], approvals_required=[],
                                                                    digest=""))[0].provisions)
    page = html.render(demo_scan)
    section = page[page.index('<section id="regulation">'):page.index('<section id="appendix">')]
    for title in ("EU AI Act", "NIST AI Risk Management Framework", "ISO/IEC 42001"):
        assert title in section
    assert "does not certify" in section
    assert re.search(r"Art\. 10 — Data and data governance</td><td class=\"bad\">failing evidence", section)


def test_policy_regulation_mapping_is_validated(tmp_path):
    bad = {"name": "x", "regulations": {"frameworks": {"eu": {"title": "EU", "provisions": {"Art. 9": "Risk"}}},
                                        "kinds": {"fairness.disparate_impact": {"eu": ["Art. 99"]}}}}
    with pytest.raises(PolicyError, match=r"regulations\.kinds\.fairness\.disparate_impact\.eu"):
        load_policy(bad)
    with pytest.raises(PolicyError, match=r"unknown framework"):
        load_policy({"regulations": {"frameworks": {}, "kinds": {"a.b": {"nist": ["X"]}}}})
    assert load_policy("strict").data["regulations"]["kinds"]["fairness.disparate_impact"]["eu_ai_act"]


def test_evidence_pack_names_files_not_machine_paths(demo_out, demo_scan):
    text = (demo_out / "technical-documentation.md").read_text(encoding="utf-8")
    files = [line for line in evidence.render(demo_scan).splitlines() if line.startswith(("- **Model file", "- **current", "- **reference"))]
    assert len(files) == 3 and not any(str(demo_out) in line for line in files)  # the command keeps its paths
    assert "`model.pt` (torchscript)" in evidence.render(demo_scan) and demo_scan["subject"]["model"]["sha256"] in text
