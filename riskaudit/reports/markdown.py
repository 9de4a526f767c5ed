"""``summary.md``: a short summary for a pull-request comment or a CI job summary."""

from __future__ import annotations

from typing import Any, Mapping

ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "error": "💥", "skipped": "⏭️"}


def _cell(text: Any) -> str:
    s = "" if text is None else str(text)
    for ch in ("\\", "|", "`", "*", "_", "<", ">", "[", "]"):
        s = s.replace(ch, "\\" + ch)
    return s.replace("\r", " ").replace("\n", " ")


def render(report: Mapping[str, Any], max_findings: int = 25) -> str:
    status = report["status"]
    lines = [f"## riskaudit: {ICON.get(status, '')} {status.upper()}", ""]
    model = report["subject"].get("model", {})
    if model:
        lines.append(f"Model `{_cell(model.get('uri'))}` · policy **{_cell(report['subject']['policy']['name'])}**"
                     f" · risk tier **{_cell(report.get('risk_tier'))}**")
    else:
        lines.append(f"Policy **{_cell(report['subject']['policy']['name'])}** · risk tier "
                     f"**{_cell(report.get('risk_tier'))}** · no model")
    lines += ["", "| check | status | summary |", "| --- | --- | --- |"]
    for c in report["checks"]:
        lines.append(f"| {_cell(c['id'])} | {ICON.get(c['status'], '')} {c['status']} | {_cell(c['summary'])} |")
    bad = [f for c in report["checks"] for f in c["findings"] if f["status"] in ("fail", "warn")]
    bad.sort(key=lambda f: (f["status"] != "fail", ["critical", "high", "medium", "low"].index(f["severity"])))
    if bad:
        lines += ["", "### Findings", "", "| status | severity | finding | subject | message |",
                  "| --- | --- | --- | --- | --- |"]
        for f in bad[:max_findings]:
            lines.append(f"| {ICON[f['status']]} {f['status']} | {f['severity']} | `{_cell(f['id'])}` | "
                         f"{_cell(f['subject'])} | {_cell(f['message'])} |")
        if len(bad) > max_findings:
            lines.append(f"\n… and {len(bad) - max_findings} more in the HTML report.")
    roles = ", ".join(f"{r['role']} ×{r['count']}" for r in report.get("approvals_required", []))
    if roles:
        lines += ["", f"**Approvals required:** {_cell(roles)}. Record one with "
                      "`riskaudit approve report.json --role ROLE --approver NAME`."]
    lines += ["", f"<sub>digest `{report.get('digest', '')}`</sub>", ""]
    return "\n".join(lines)
