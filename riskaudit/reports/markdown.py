"""``summary.md``: the report's first pages for a pull-request comment or a CI job summary —
the verdict and what it means, the findings that drive it in plain words, what changed since
the last approved audit, and the approvals needed. Built from the same view model as the HTML
(:func:`riskaudit.reports.html.build_view`), so both say the same thing."""

from __future__ import annotations

from typing import Any, Mapping

from riskaudit.inert import visible

ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "error": "💥", "skipped": "⏭️"}
HEADLINE = {"pass": "may be deployed once approved", "warn": "review before signing",
            "fail": "do not deploy", "error": "audit incomplete, do not deploy"}


def _cell(text: Any) -> str:
    s = "" if text is None else visible(text)
    for ch in ("\\", "|", "`", "*", "_", "<", ">", "[", "]"):
        s = s.replace(ch, "\\" + ch)
    return s.replace("\r", " ").replace("\n", " ")


def _code(text: Any) -> str:
    """Inline code that no value can break out of (backticks and line breaks removed)."""
    return "`" + visible(text).replace("`", "'").replace("\r", " ").replace("\n", " ") + "`"


def render(report: Mapping[str, Any], max_findings: int = 25) -> str:
    from riskaudit.reports.html import build_view

    view = build_view(report)
    status = view.status
    lines = [f"## riskaudit: {ICON.get(status, '')} {status.upper()} — {HEADLINE.get(status, '')}", "",
             _cell(view.verdict), "", _subject_line(report, view), ""]
    lines += _drivers(view, max_findings)
    lines += _changes(view.changes)
    lines += _approvals(view)
    lines += ["<details><summary>Checks</summary>", "", "| check | status | summary |", "| --- | --- | --- |"]
    lines += [f"| {_cell(c.title)} | {ICON.get(c.status, '')} {c.status} | {_cell(c.summary)} |" for c in view.checks]
    lines += ["", "</details>", "", f"<sub>digest {_code(report.get('digest', ''))} · the full report, with "
              "every finding, chart and table, is report.html</sub>", ""]
    return "\n".join(lines)


def _subject_line(report: Mapping[str, Any], view: Any) -> str:
    c = view.counts
    counts = f"{c.get('fail', 0)} failed, {c.get('warn', 0)} warned, {c.get('pass', 0)} passed findings"
    if report.get("subject", {}).get("model"):
        return (f"Model {_code(view.model)} · policy **{_cell(view.policy)}** · risk tier "
                f"**{_cell(view.risk_tier)}** · {counts}")
    return f"Policy **{_cell(view.policy)}** · risk tier **{_cell(view.risk_tier)}** · no model · {counts}"


def _drivers(view: Any, limit: int) -> list[str]:
    lines = ["### What drives the verdict", ""]
    if not view.drivers:
        return lines + ["No finding failed or warned.", ""]
    for i, d in enumerate(view.drivers, 1):
        many = f" ({d.count} findings)" if d.count > 1 else ""
        lines.append(f"{i}. {ICON.get(d.status, '')} **{_cell(d.title)}**{many}: {_cell(d.found)}")
        lines.append(f"   - **Affected:** {_cell(d.affected)}")
        if d.why:
            lines.append(f"   - **Why it matters:** {_cell(d.why)}")
        if d.advice:
            lines.append(f"   - **What to do:** {_cell(d.advice)}")
        lines.append(f"   - **Threshold:** {_cell(d.threshold)}")
    if view.more_drivers:
        more = view.more_drivers[:limit]
        names = "; ".join(f"{ICON.get(d.status, '')} {_cell(d.title)}" + (f" ×{d.count}" if d.count > 1 else "")
                          for d in more)
        rest = len(view.more_drivers) - len(more)
        lines += ["", f"Also {len(view.more_drivers):,} more kinds of finding: {names}"
                  + (f" and {rest} more" if rest else "") + " (see report.html)."]
    return lines + [""]


def _changes(ch: Mapping[str, Any] | None) -> list[str]:
    lines = ["### Changed since the last approved audit", ""]
    if not ch:
        return lines + ["No earlier approved audit of this model was found in the ledger and no baseline "
                        "report was given, so there is nothing to compare with.", ""]
    base = ch["baseline"]
    lines += [f"Compared with the audit of {_cell(base['created_at'])} ({_cell(base['source'])}; verdict "
              f"{_cell(base['status']).upper()}): **{len(ch['new']):,} new**, **{len(ch['worse']):,} worse**, "
              f"{len(ch['resolved']):,} resolved, {len(ch['better']):,} better.", ""]
    if ch["top"]:
        lines += ["| change | finding | about | before | now |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {_cell(x['label'])} | {_cell(x['title'])} | {_cell(x['subject'])} | {_cell(x['before'])} | "
                  f"{_cell(x['after'])} |" for x in ch["top"]]
        if ch["more"]:
            lines.append(f"\n… and {ch['more']} more changes in report.html.")
        lines.append("")
    if ch["metrics_top"]:
        lines += ["| headline figure that changed | before | now |", "| --- | --- | --- |"]
        lines += [f"| {_cell(m['title'])} | {_cell(m['before'])} | {_cell(m['after'])} |" for m in ch["metrics_top"]]
    else:
        lines.append("No headline figure changed.")
    return lines + [""]


def _approvals(view: Any) -> list[str]:
    lines = ["### Approvals needed", ""]
    if view.gate_blocked:
        lines += [f"**The deployment gate stays closed whatever is signed:** {_cell('; '.join(view.gate_blocked))}. "
                  "Signatures record who reviewed this audit; they do not open the gate.", ""]
    if not view.approvals:
        return lines + ["The policy requires no approval for this outcome.", ""]
    lines += [f"Under policy **{_cell(view.policy)}**, a **{_cell(view.risk_tier)}**-risk model with outcome "
              f"**{_cell(view.status)}** needs these sign-offs"
              + ("" if view.gate_blocked else " before `riskaudit gate` lets it deploy") + ":", "",
              "| role | required | signed by | missing |", "| --- | --- | --- | --- |"]
    lines += [f"| {_cell(a.role)} | {a.required} | {_cell(', '.join(a.signed)) or '—'} | {a.missing} |"
              for a in view.approvals]
    lines += ["", "Record one with `riskaudit approve report.json --role ROLE --approver NAME --key KEYFILE`.", ""]
    return lines
