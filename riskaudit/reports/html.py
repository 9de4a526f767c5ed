"""``report.html``: one self-contained file for the compliance officer.

View models are built first (plain dataclasses, every computation here); the jinja2
template (autoescaping on) only lays them out. Inline CSS, charts as inline SVG from
:mod:`riskaudit.reports.svg`, no scripts, no network requests; prints cleanly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
from markupsafe import Markup

from riskaudit.inert import shell_command
from riskaudit.reports.svg import render_chart

TEMPLATES = Path(__file__).parent / "templates"
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
STATUS_ORDER = {"fail": 0, "error": 0, "warn": 1, "pass": 2, "skipped": 3}
VERDICT_TEXT = {
    "pass": "No finding reached the policy's failure level.",
    "warn": "No finding failed, but some need a reviewer's attention.",
    "fail": "At least one finding failed the policy. Deployment should not proceed without remediation "
            "or an explicit, recorded acceptance of the risk.",
    "error": "At least one check could not complete, so the audit is incomplete and the gate stays closed.",
}
MAX_TABLE_ROWS = 50


@dataclass
class TableView:
    columns: list[str]
    rows: list[list[str]]
    truncated: int = 0


@dataclass
class FindingView:
    id: str
    status: str
    severity: str
    subject: str
    message: str
    value: str
    threshold: str
    advice: str = ""
    tables: list[tuple[str, TableView]] = field(default_factory=list)
    charts: list[Markup] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class CheckView:
    id: str
    status: str
    summary: str
    description: str
    duration: str
    counts: dict[str, int]
    findings: list[FindingView]
    charts: list[Markup]
    metrics: list[tuple[str, str]]
    tables: list[tuple[str, TableView]]


@dataclass
class ApprovalRow:
    role: str
    required: int
    signed: list[str]
    rejected: list[str]

    @property
    def missing(self) -> int:
        return max(self.required - len(self.signed), 0)


@dataclass
class ReportView:
    status: str
    verdict: str
    created_at: str
    digest: str
    risk_tier: str
    policy: str
    model: str
    datasets: list[tuple[str, str]]
    counts: dict[str, int]
    check_counts: dict[str, int]
    checks: list[CheckView]
    top_findings: list[FindingView]
    approvals: list[ApprovalRow]
    approve_commands: list[str]
    manifest: list[tuple[str, str]]
    tool_version: str


def _short(value: Any, limit: int = 120) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(rows: Sequence[Any]) -> TableView | None:
    if not rows or not all(isinstance(r, Mapping) for r in rows):
        return None
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(str(k))
    body = [[_short(r.get(c), 60) for c in cols] for r in rows[:MAX_TABLE_ROWS]]
    return TableView(columns=cols, rows=body, truncated=max(len(rows) - MAX_TABLE_ROWS, 0))


def _split_evidence(evidence: Mapping[str, Any]):
    tables, charts, details, advice = [], [], [], ""
    for key, val in evidence.items():
        if key == "charts" and isinstance(val, list):
            charts += [Markup(svg) for svg in map(render_chart, val) if svg]
        elif key == "advice" and isinstance(val, str):
            advice = val
        elif isinstance(val, list) and val and isinstance(val[0], Mapping) and _table(val):
            tables.append((key.replace("_", " "), _table(val)))
        else:
            details.append((key.replace("_", " "), _short(val)))
    return tables, charts, details, advice


def _finding_view(f: Mapping[str, Any]) -> FindingView:
    tables, charts, details, advice = _split_evidence(f.get("evidence") or {})
    return FindingView(id=f["id"], status=f["status"], severity=f["severity"], subject=str(f["subject"]),
                       message=f["message"], value=_short(f.get("value")), threshold=_short(f.get("threshold")),
                       advice=advice, tables=tables, charts=charts, details=details)


def _sort_key(f: Mapping[str, Any]):
    return (STATUS_ORDER.get(f["status"], 9), SEVERITY_ORDER.get(f["severity"], 9), f["id"], str(f["subject"]))


def _approval_rows(report: Mapping[str, Any], approvals: Sequence[Mapping[str, Any]] | None) -> list[ApprovalRow]:
    rows = []
    for req in report.get("approvals_required", []):
        mine = [a for a in approvals or [] if a.get("role") == req["role"]]
        rows.append(ApprovalRow(
            role=req["role"], required=int(req.get("count", 1)),
            signed=[str(a.get("who") or a.get("approver")) for a in mine
                    if a.get("decision", "approve") == "approve" and a.get("valid", True)],
            rejected=[str(a.get("who") or a.get("approver")) for a in mine if a.get("decision") == "reject"]))
    return rows


def build_view(report: Mapping[str, Any], approvals: Sequence[Mapping[str, Any]] | None = None) -> ReportView:
    checks, all_findings = [], []
    counts = {"fail": 0, "warn": 0, "pass": 0}
    check_counts = {"pass": 0, "warn": 0, "fail": 0, "error": 0, "skipped": 0}
    for c in report["checks"]:
        check_counts[c["status"]] = check_counts.get(c["status"], 0) + 1
        fs = sorted(c.get("findings", []), key=_sort_key)
        c_counts = {"fail": 0, "warn": 0, "pass": 0}
        for f in fs:
            c_counts[f["status"]] += 1
            counts[f["status"]] += 1
        views = [_finding_view(f) for f in fs]
        all_findings += [v for v in views if v.status in ("fail", "warn")]
        metrics = dict(c.get("metrics") or {})
        m_tables, m_charts, m_details, _ = _split_evidence(metrics)
        checks.append(CheckView(id=c["id"], status=c["status"], summary=c["summary"],
                                description=c.get("description", ""),
                                duration=f"{c.get('duration_s', 0):.2f} s", counts=c_counts, findings=views,
                                charts=m_charts, metrics=m_details, tables=m_tables))
    all_findings.sort(key=lambda v: (STATUS_ORDER[v.status], SEVERITY_ORDER.get(v.severity, 9)))
    rows = _approval_rows(report, approvals)
    subj = report.get("subject", {})
    model = subj.get("model") or {}
    datasets = [(role, f"{d.get('uri')} — {d.get('rows')} rows × {d.get('columns')} columns, sha256 "
                       f"{str(d.get('sha256', ''))[:16]}…") for role, d in (subj.get("datasets") or {}).items()]
    man = report.get("manifest", {})
    manifest = [
        ("report digest", report.get("digest", "")),
        ("created", report.get("created_at", "")),
        ("command", man.get("command") or "riskaudit.scan() (library call)"),
        ("seed", str(man.get("seed"))),
        ("device", str(man.get("device"))),
        ("policy", f"{subj.get('policy', {}).get('name')} (sha256 {subj.get('policy', {}).get('sha256', '')})"),
        ("model", f"{model.get('uri')} ({model.get('format')}), sha256 {model.get('sha256')}" if model else "none"),
    ]
    manifest += [(f"dataset: {role}", f"{d.get('uri')}, sha256 {d.get('sha256')}")
                 for role, d in (subj.get("datasets") or {}).items()]
    manifest += [("python", str(man.get("python"))), ("platform", str(man.get("platform")))]
    manifest += [(f"package {k}", str(v)) for k, v in sorted((man.get("packages") or {}).items())]
    inputs = man.get("inputs") or {}
    manifest += [(f"input {k}", _short(v, 300)) for k, v in inputs.items()]
    return ReportView(
        status=report["status"], verdict=VERDICT_TEXT.get(report["status"], ""),
        created_at=report.get("created_at", ""), digest=report.get("digest", ""),
        risk_tier=str(report.get("risk_tier", "")), policy=str(subj.get("policy", {}).get("name")),
        model=f"{model.get('uri')} ({model.get('format')})" if model else "no model (data-only audit)",
        datasets=datasets, counts=counts, check_counts=check_counts, checks=checks,
        top_findings=all_findings[:12], approvals=rows,
        approve_commands=[shell_command("riskaudit", "approve", "report.json", "--role", a.role, "--approver",
                                        "YOUR NAME", "--key", "YOUR.key", "--comment", "...")
                          for a in rows if a.missing] or
                         ["riskaudit approve report.json --role ROLE --approver 'YOUR NAME' --key YOUR.key --comment ..."],
        manifest=manifest, tool_version=str(report.get("tool", {}).get("version", "")))


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(report: Mapping[str, Any], approvals: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The HTML report; ``approvals`` (records with role, approver, decision, valid) fill the
    approval status block."""
    return _environment().get_template("report.html.j2").render(r=build_view(report, approvals))
