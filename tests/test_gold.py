"""Renderers compared with reference outputs (volatile fields fixed); see tests/gold/README.md."""

import os
from pathlib import Path

import pandas as pd
import pytest

import riskaudit
from helpers import Hostile
from riskaudit.registry import Registry
from riskaudit.reports import junit, markdown, sarif
from riskaudit.result import compute_digest

GOLD = Path(__file__).parent / "gold"
# A fixed policy, so that editing the built-in packs does not change the gold files.
GOLD_POLICY = {"name": "gold", "risk_tier": "medium", "approvals": {"medium": {
    "fail": [{"role": "model-owner", "count": 1}, {"role": "compliance", "count": 1}]}}}


@pytest.fixture(scope="module")
def gold_report():
    frame = pd.DataFrame({"age": [30, 41, 52], "<b>name</b>": ["a|b", "c", "d"], "y": [0, 1, 0]})
    report = riskaudit.scan(data=frame, target="y", registry=Registry.from_classes([Hostile]),
                            policy=GOLD_POLICY).to_dict()
    report["created_at"] = "2026-01-01T00:00:00Z"
    report["manifest"].update(packages={"riskaudit": "0.1.0"}, python="3.x", platform="any")
    for check in report["checks"]:
        check["duration_s"] = 0.0
    report["digest"] = compute_digest(report)
    return report


@pytest.mark.parametrize("name, renderer", [("summary.md", markdown), ("junit.xml", junit), ("report.sarif", sarif)])
def test_renderer_matches_gold(gold_report, name, renderer):
    got = renderer.render(gold_report)
    path = GOLD / name
    if os.environ.get("RISKAUDIT_REGEN_GOLD"):
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")
