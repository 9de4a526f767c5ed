"""``report.sarif``: SARIF 2.1.0 for code-scanning dashboards (fail = error, warn = warning)."""

from __future__ import annotations

import json
from typing import Any, Mapping

from riskaudit.inert import visible

LEVEL = {"fail": "error", "warn": "warning"}


def render(report: Mapping[str, Any]) -> str:
    rules: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    for check in report["checks"]:
        for f in check["findings"]:
            if f["status"] not in LEVEL:
                continue
            rules.setdefault(f["id"], {"id": f["id"], "shortDescription": {"text": f["id"]},
                                       "properties": {"checker": check["id"]}})
            results.append({"ruleId": f["id"], "level": LEVEL[f["status"]],
                            "message": {"text": visible(f"{f['subject']}: {f['message']}")},
                            "properties": {"severity": f["severity"], "value": f.get("value"),
                                           "threshold": f.get("threshold")}})
        if check["status"] == "error":
            rid = f"{check['id']}.error"
            rules.setdefault(rid, {"id": rid, "shortDescription": {"text": rid}})
            results.append({"ruleId": rid, "level": "error", "message": {"text": visible(check["summary"])}})
    doc = {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": "riskaudit", "version": report["tool"]["version"],
                                      "rules": list(rules.values())}},
                  "results": results,
                  "properties": {"digest": report.get("digest"), "status": report["status"]}}],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
