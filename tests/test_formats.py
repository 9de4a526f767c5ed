"""Every format is valid whatever the data: junit.xml parses, SARIF and report.json validate."""

from __future__ import annotations

import json
import xml.dom.minidom
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

import riskaudit
from helpers import Hostile
from riskaudit.registry import Registry
from riskaudit.reports import junit, sarif
from riskaudit.reports.json_report import load_schema
from riskaudit.reports.writer import write_reports

SARIF_SCHEMA = Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json"
CONTROL = "bad\x01name\x1b[31m\x0c\x00"


@pytest.fixture(scope="module")
def control_report():
    frame = pd.DataFrame({"tab\tand\nnewline": ["a", "b", "c"], CONTROL: ["v\x07alue\x08", "x\ufffey", "ok"],
                          "y": [0, 1, 0]})
    return riskaudit.scan(data=frame, target="y", registry=Registry.from_classes([Hostile]),
                          policy={"name": "t"}).to_dict()


def test_junit_with_control_characters_is_well_formed(control_report, tmp_path):
    text = junit.render(control_report)
    root = ET.fromstring(text.encode("utf-8"))  # expat rejects any XML-illegal character
    xml.dom.minidom.parseString(text.encode("utf-8"))
    names = [c.get("name") for c in root.iter("testcase")]
    assert any("bad\\x01name\\x1b[31m\\x0c\\x00" in n for n in names), names
    assert any("tab\tand\nnewline" in (c.get("name") or "") for c in root.iter("testcase"))
    messages = " ".join(f.get("message", "") + (f.text or "") for f in root.iter("failure"))
    assert "v\\x07alue\\x08" in messages and "\\x0c\\x00" in messages
    written = write_reports(control_report, tmp_path / "out", ["junit"])
    ET.parse(written["junit"])


def test_xml_safe_leaves_legal_text_alone():
    legal = "tab\t newline\n cr\r ünïcode ✓ 😀 \ue000"
    assert junit.xml_safe(legal) == legal
    assert junit.xml_safe("\x00\x1f\ud800\uffff") == "\\x00\\x1f\\ud800\\uffff"


def _sarif_validator():
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_sarif_validates_against_the_sarif_2_1_0_schema(control_report):
    validator = _sarif_validator()
    doc = json.loads(sarif.render(control_report))
    errors = sorted(validator.iter_errors(doc), key=str)
    assert not errors, errors[:3]
    assert doc["runs"][0]["results"]
    # the validator is not a rubber stamp
    broken = json.loads(sarif.render(control_report))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    assert list(validator.iter_errors(broken))


def test_sarif_of_an_error_and_a_skip_validates():
    class Broken(Hostile):
        id = "broken"

        def run(self, ctx):
            raise RuntimeError("boom \x00")

    rep = riskaudit.scan(data=pd.DataFrame({"a": [1, 2]}), registry=Registry.from_classes([Broken]),
                         policy={"name": "t"}).to_dict()
    assert not list(_sarif_validator().iter_errors(json.loads(sarif.render(rep))))
    jsonschema.validate(rep, load_schema())
    ET.fromstring(junit.render(rep).encode("utf-8"))


def test_report_json_with_control_characters_validates(control_report, tmp_path):
    written = write_reports(control_report, tmp_path / "o", ["json"])
    doc = json.loads(written["json"].read_text(encoding="utf-8"))
    jsonschema.validate(doc, load_schema())
    assert doc == control_report


def test_reports_for_people_show_invisible_characters_instead_of_obeying_them(tmp_path):
    """Seen with a table whose column names held a right-to-left override (``rtl\\u202eevil``
    is displayed reversed, "Trojan Source") and ANSI escapes: report.html, summary.md and
    junit.xml carried them raw. They are now written as visible escapes (report.json keeps
    the exact names: it is for machines)."""
    from html.parser import HTMLParser

    from riskaudit.inert import visible

    rng = pd.Series(range(120))
    frame = pd.DataFrame({"rtl\u202eevil": rng * 0.5, "ansi\x1b[2Jx": rng % 7, "zw\u200bj": rng % 3,
                          "grp": ["a\u2066b", "c\x07"] * 60, "y": [0, 1, 1] * 40})
    report = riskaudit.scan(data=frame, reference=frame.iloc[:60], target="y", sensitive=["grp"],
                            checks=["fairness", "drift", "data_validity"], policy="default", seed=1)
    written = write_reports(report.to_dict(), tmp_path / "out", ["html", "md", "junit", "json", "sarif"])
    invisible = "\u202e\u2066\u200b\x1b\x07"
    for fmt in ("html", "md", "junit", "sarif"):
        text = Path(written[fmt]).read_text(encoding="utf-8")
        assert not any(ch in text for ch in invisible), fmt
    html_text = Path(written["html"]).read_text(encoding="utf-8")
    seen: list[str] = []

    class Text(HTMLParser):
        def handle_data(self, data):
            seen.append(data)

    Text().feed(html_text)
    shown = " ".join(seen)
    assert "rtl\\u202eevil" in shown and "ansi\\x1b[2Jx" in shown and "a\\u2066b" in shown
    assert "rtl\\u202eevil" in Path(written["md"]).read_text(encoding="utf-8").replace("\\\\", "\\")
    assert "rtl\u202eevil" in Path(written["json"]).read_text(encoding="utf-8") or \
        "rtl\\u202eevil" in Path(written["json"]).read_text(encoding="utf-8")
    assert visible("tab\t é 😀 \n") == "tab\t é 😀 \n"
