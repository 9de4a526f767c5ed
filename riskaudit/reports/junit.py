"""``junit.xml``: one test case per finding, so CI systems show findings natively.

A ``fail`` finding is a failure; a checker that ended in ``error`` is an error test case;
a skipped checker is a skipped test case; ``warn`` findings pass with a system-out note.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Mapping

from riskaudit.inert import visible

# Characters XML 1.0 does not allow anywhere (control characters, lone surrogates,
# U+FFFE/U+FFFF): ElementTree writes them as they are, and parsers then reject the file.
def xml_safe(text: str) -> str:
    """``text`` with every XML-illegal character, and every character a reader of the CI's
    test view cannot see (controls, zero-width characters, bidirectional overrides), written
    as a visible escape (``\\x07``, ``\\u202e``): :func:`riskaudit.inert.visible`."""
    return visible(text)


def render(report: Mapping[str, Any]) -> str:
    checks = report.get("checks", [])
    suites = ET.Element("testsuites", name="riskaudit")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for check in checks:
        suite = ET.SubElement(suites, "testsuite", name=f"riskaudit.{check['id']}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if check["status"] in ("error", "skipped") or not check.get("findings"):
            case = ET.SubElement(suite, "testcase", classname=f"riskaudit.{check['id']}",
                                 name=check["id"], time=f"{check.get('duration_s', 0):.3f}")
            counts["tests"] += 1
            if check["status"] == "error":
                ET.SubElement(case, "error", message=check["summary"]).text = check["summary"]
                counts["errors"] += 1
            elif check["status"] == "skipped":
                ET.SubElement(case, "skipped", message=check["summary"])
                counts["skipped"] += 1
        for f in check.get("findings", []):
            case = ET.SubElement(suite, "testcase", classname=f"riskaudit.{check['id']}",
                                 name=f"{f['id']}[{f['subject']}]")
            counts["tests"] += 1
            if f["status"] == "fail":
                fail = ET.SubElement(case, "failure", message=f["message"], type=f["severity"])
                fail.text = f"{f['message']}\nvalue={f.get('value')} threshold={f.get('threshold')}"
                counts["failures"] += 1
            elif f["status"] == "warn":
                ET.SubElement(case, "system-out").text = f"WARN: {f['message']}"
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        suites.set(k, str(v))
    ET.indent(suites)
    # the illegal characters can only come from names, messages and values: escape them last
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + xml_safe(ET.tostring(suites, encoding="unicode")) + "\n"
