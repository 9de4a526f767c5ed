"""``report.html``: one self-contained file for the compliance officer who signs.

The first printed pages decide: the verdict and what it means, the few findings that drive
it in plain words (what was found, who or what is affected, why it matters, what to do, the
threshold and where it comes from), what changed since the last approved audit, and the
approvals needed. Everything else is one click away: per-check details (closed), the
regulation mapping, and an appendix with passed findings, the component list and the
reproducibility manifest.

View models are built first (plain dataclasses, every computation here); the jinja2
template (autoescaping on) only lays them out. Inline CSS, charts as inline SVG from
:mod:`riskaudit.reports.svg`, no scripts, no network requests; prints cleanly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Mapping, Sequence

import jinja2
from markupsafe import Markup

from riskaudit.inert import shell_command, visible
from riskaudit.reports import chartnotes
from riskaudit.reports.plain import KindText, humanize, number, texts_for, threshold_source, with_unit
from riskaudit.reports.svg import render_chart

TEMPLATES = __import__("pathlib").Path(__file__).parent / "templates"
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
STATUS_ORDER = {"fail": 0, "error": 0, "warn": 1, "pass": 2, "skipped": 3}
VERDICT_TEXT = {
    "pass": "No finding reached the policy's failure level. The model may be deployed once the "
            "approvals below are recorded.",
    "warn": "No finding failed, but some need a reviewer's attention. Read the findings below before "
            "signing: by signing you accept these risks.",
    "fail": "At least one finding failed the policy. The model must not be deployed as it is: fix the "
            "findings below and run the audit again.",
    "error": "At least one check could not complete, so the audit is incomplete and the model must not "
             "be deployed until it runs in full.",
}
MAX_TABLE_ROWS = 50
MAX_DRIVERS = 6
MAX_CHANGES = 6


@dataclass
class TableView:
    columns: list[str]
    rows: list[list[str]]
    truncated: int = 0


@dataclass
class FindingView:
    id: str
    kind_title: str
    status: str
    severity: str
    subject: str
    message: str
    value: str
    threshold: str
    why: str = ""
    advice: str = ""
    source: str = ""
    tables: list[tuple[str, TableView]] = field(default_factory=list)
    shared_tables: list[str] = field(default_factory=list)
    charts: list[Markup] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class DriverView:
    """One finding kind that drives the verdict, in plain language."""

    id: str
    title: str
    status: str
    severity: str
    found: str
    affected: str
    why: str
    advice: str
    threshold: str
    count: int


@dataclass
class CheckView:
    id: str
    title: str
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
class ApprovalEntry:
    approver: str
    role: str
    decision: str
    when: str
    key: str
    counts: bool
    why: str = ""


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
    drivers: list[DriverView]
    more_drivers: list[DriverView]
    approvals: list[ApprovalRow]
    approval_entries: list[ApprovalEntry]
    gate_blocked: list[str]
    approve_commands: list[str]
    manifest: list[tuple[str, str]]
    tool_version: str
    passed: list[FindingView]
    components: TableView | None
    changes: Mapping[str, Any] | None
    frameworks: list[Any]


def _short(value: Any, limit: int = 120) -> str:
    if value is None:
        return "—"
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_ROW_NAMES = {"group", "subject", "column", "feature", "name", "component", "layer", "class", "attack", "role"}
_SHARE_WORDS = ("share", "rate", "accuracy", "fraction", "tpr", "fpr", "selection", "precision", "recall")


def _cell(value: Any, key: str = "") -> str:
    """A table cell: numbers rounded; shares and rates as percents; intervals as 'a to b'."""
    if key.lower().replace(" ", "_") in ("p_value", "pvalue", "p") and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return with_unit(value, "p_value")
    if "rel_diff" in key.lower() and isinstance(value, (int, float)) and not isinstance(value, bool):
        return with_unit(value, "relative")
    is_share = any(w in key.lower() for w in _SHARE_WORDS) and "threshold" not in key.lower()
    if isinstance(value, float) and not isinstance(value, bool) and 0 <= value <= 1 and is_share:
        return with_unit(value, "share")
    if isinstance(value, list) and len(value) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        return f"{_cell(float(value[0]), key)} to {_cell(float(value[1]), key)}"
    if isinstance(value, (list, dict)) and not value:
        return "none"
    return _short(value, 60)


def _table(rows: Sequence[Any], limit: int = MAX_TABLE_ROWS) -> TableView | None:
    if not rows or not all(isinstance(r, Mapping) for r in rows):
        return None
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(str(k))
    cols.sort(key=lambda c: 0 if c.lower() in _ROW_NAMES else 1)  # what a row is about comes first
    body = [[_cell(r.get(c), c) for c in cols] for r in rows[:limit]]
    return TableView(columns=[humanize(c) for c in cols], rows=body, truncated=max(len(rows) - limit, 0))


def _split_evidence(evidence: Mapping[str, Any]):
    tables, charts, details, advice = [], [], [], ""
    for key, val in evidence.items():
        if key == "charts" and isinstance(val, list):
            charts += [spec for spec in val if isinstance(spec, Mapping)]
        elif key == "advice" and isinstance(val, str):
            advice = val
        elif isinstance(val, list) and val and isinstance(val[0], Mapping) and _table(val):
            tables.append((humanize(key), _table(val)))
        else:
            details.append((humanize(key), _cell(val, key) if not isinstance(val, (dict, list)) or not val
                            or len(val) == 2 else _short(val)))
    return tables, charts, details, advice


def _kind_title(fid: str, texts: Mapping[str, KindText]) -> str:
    check, _, kind = fid.partition(".")
    return f"{humanize(check)}: {humanize(kind).lower()}"


def _threshold_text(f: Mapping[str, Any], text: KindText | None, report: Mapping[str, Any]) -> tuple[str, str]:
    unit = text.unit if text else ""
    thr = f.get("threshold")
    if thr is None:
        return "—", ""
    ev = f.get("evidence") or {}
    source = threshold_source(report, f)
    if unit == "flag":
        return "any", source
    return with_unit(thr, unit, ev), source


def _finding_view(f: Mapping[str, Any], texts: Mapping[str, KindText], report: Mapping[str, Any],
                  seen_tables: dict[str, str]) -> FindingView:
    ev = f.get("evidence") or {}
    tables, charts, details, advice = _split_evidence(ev)
    text = texts.get(f["id"])
    unit = text.unit if text else ""
    kept, shared = [], []
    for title, t in tables:
        key = hashlib.sha256(json.dumps([t.columns, t.rows]).encode()).hexdigest()
        if key in seen_tables:
            shared.append(f"{title}: shown above, under {seen_tables[key]}")
        else:
            seen_tables[key] = f"{f['subject']}"
            kept.append((title, t))
    threshold, source = _threshold_text(f, text, report)
    chart_svgs = [Markup(svg) for svg in (render_chart(chartnotes.for_finding(spec, f, text, source))
                                          for spec in charts) if svg]
    return FindingView(id=f["id"], kind_title=_kind_title(f["id"], texts), status=f["status"],
                       severity=f["severity"], subject=_subject(f), message=f["message"],
                       value=with_unit(f.get("value"), unit, ev), threshold=threshold,
                       why=text.why if text else "", advice=advice or (text.advice if text else ""),
                       source=source, tables=kept, shared_tables=shared, charts=chart_svgs, details=details)


def _subject(f: Mapping[str, Any]) -> str:
    subject = str(f["subject"])
    ds = (f.get("evidence") or {}).get("dataset")
    if isinstance(ds, str) and ds and ds not in subject:
        return f"{subject} ({ds} data)"
    return subject


def _sort_key(f: Mapping[str, Any]):
    return (STATUS_ORDER.get(f["status"], 9), SEVERITY_ORDER.get(f["severity"], 9), f["id"], str(f["subject"]))


def _drivers(findings: Sequence[Mapping[str, Any]], texts: Mapping[str, KindText], report: Mapping[str, Any]):
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for f in sorted(findings, key=_sort_key):
        if f["status"] in ("fail", "warn"):
            by_kind.setdefault(f["id"], []).append(f)
    ranked = sorted(by_kind.items(), key=lambda kv: _sort_key(kv[1][0]))
    # Each failing checker's worst kind first, so one checker's many findings do not hide another's.
    round_of: dict[str, int] = {}
    order = []
    for fid, group in ranked:
        check = fid.partition(".")[0]
        round_of[check] = round_of.get(check, -1) + 1
        order.append((round_of[check], STATUS_ORDER.get(group[0]["status"], 9), fid, group))
    kinds = [(fid, group) for _, _, fid, group in sorted(order, key=lambda t: (t[1], t[0]))]
    out = []
    for fid, group in kinds:
        worst = group[0]
        text = texts.get(fid)
        subjects = list(dict.fromkeys(str(g["subject"]) for g in group))
        affected = ", ".join(subjects[:6]) + (f" and {len(subjects) - 6} more" if len(subjects) > 6 else "")
        threshold, source = _threshold_text(worst, text, report)
        unit = text.unit if text else ""
        value = with_unit(worst.get("value"), unit, worst.get("evidence") or {})
        advice = (worst.get("evidence") or {}).get("advice")
        out.append(DriverView(
            id=fid, title=_kind_title(fid, texts), status=worst["status"], severity=worst["severity"],
            found=str(worst["message"]), affected=affected,
            why=(text.why if text and text.why else (text.doc if text else "")),
            advice=(advice if isinstance(advice, str) and advice else (text.advice if text else "")),
            threshold=(f"any such finding is a {worst['status']} ({source})" if unit == "flag" and source else
                       f"worst {value} against the {worst['status']} level {threshold} ({source})"
                       if threshold != "—" else f"worst {value}"),
            count=len(group)))
    return out[:MAX_DRIVERS], out[MAX_DRIVERS:]


def key_fingerprint(public_key: Any) -> str:
    """A short, comparable fingerprint of an Ed25519 public key text (``ed25519:BASE64``)."""
    if not public_key:
        return ""
    digest = hashlib.sha256(str(public_key).strip().encode()).hexdigest()[:16]
    return "SHA256:" + ":".join(digest[i:i + 4] for i in range(0, 16, 4))


def _approval_entries(approvals: Sequence[Mapping[str, Any]] | None) -> list[ApprovalEntry]:
    out = []
    for a in approvals or []:
        fp = a.get("key_fingerprint") or a.get("fingerprint") or key_fingerprint(a.get("public_key"))
        state = a.get("signature_state")
        key = "unsigned" if not (a.get("signature") or fp) else (fp or "signed")
        if state == "invalid":
            key += " (signature does not verify)"
        out.append(ApprovalEntry(approver=str(a.get("approver")), role=str(a.get("role")),
                                 decision=str(a.get("decision", "approve")), when=str(a.get("created_at") or "—"),
                                 key=key, counts=bool(a.get("valid", True)), why=str(a.get("why") or "")))
    return out


def _approval_rows(report: Mapping[str, Any], approvals: Sequence[Mapping[str, Any]] | None) -> list[ApprovalRow]:
    rows = []
    for req in report.get("approvals_required", []):
        mine = [a for a in approvals or [] if a.get("role") == req["role"]]
        rows.append(ApprovalRow(
            role=req["role"], required=int(req.get("count", 1)),
            signed=list(dict.fromkeys(str(a.get("who") or a.get("approver")) for a in mine
                                      if a.get("decision", "approve") == "approve" and a.get("valid", True))),
            rejected=[str(a.get("who") or a.get("approver")) for a in mine if a.get("decision") == "reject"]))
    return rows


def _gate_blocked(report: Mapping[str, Any]) -> list[str]:
    """Why the status alone keeps every gate closed (fail, error). A warn depends on the
    deploying side's trust policy (``allow_warn``), which the report cannot know."""
    from riskaudit.result import CLOSED_BY_STATUS

    reason = CLOSED_BY_STATUS.get(str(report.get("status")))
    return [reason] if reason else []


def _display_uri(uri: Any) -> str:
    """A file's name only: the machine's absolute paths stay out of the report's header."""
    text = str(uri or "")
    if ":" in text and "/" not in text and "\\" not in text:
        return text  # package.module:attr
    return PurePath(text.replace("\\", "/")).name or text


def build_view(report: Mapping[str, Any], approvals: Sequence[Mapping[str, Any]] | None = None,
               texts: Mapping[str, KindText] | None = None) -> ReportView:
    from riskaudit.reports.regulation import framework_views

    texts = texts_for(report) if texts is None else texts
    subj = report.get("subject", {})
    checks, all_findings, passed, counts, check_counts, components = _check_views(report, texts)
    drivers, more = _drivers(all_findings, texts, report)
    rows = _approval_rows(report, approvals)
    model = subj.get("model") or {}
    datasets = [(role, f"{_display_uri(d.get('uri'))} — {number(d.get('rows'))} rows × "
                       f"{number(d.get('columns'))} columns")
                for role, d in (subj.get("datasets") or {}).items()]
    commands = [shell_command("riskaudit", "approve", "report.json", "--role", a.role, "--approver",
                              "YOUR NAME", "--key", "KEYFILE", "--comment", "...") for a in rows if a.missing]
    return ReportView(
        status=report["status"], verdict=VERDICT_TEXT.get(report["status"], ""),
        created_at=report.get("created_at", ""), digest=report.get("digest", ""),
        risk_tier=str(report.get("risk_tier", "")), policy=str(subj.get("policy", {}).get("name")),
        model=f"{_display_uri(model.get('uri'))} ({model.get('format')})" if model else "no model (data-only audit)",
        datasets=datasets, counts=counts, check_counts=check_counts, checks=checks,
        drivers=drivers, more_drivers=more, approvals=rows, approval_entries=_approval_entries(approvals),
        gate_blocked=_gate_blocked(report),
        approve_commands=commands or ["riskaudit approve report.json --role ROLE --approver 'YOUR NAME' "
                                      "--key KEYFILE --comment '...'"],
        manifest=_manifest_rows(report), tool_version=str(report.get("tool", {}).get("version", "")),
        passed=passed, components=components, changes=_changes(report.get("changes")),
        frameworks=framework_views(report))


def _check_views(report: Mapping[str, Any], texts: Mapping[str, KindText]):
    """One view per check (worst first) with its failing and warning findings; the passed
    findings and the component list for the appendix; the counts for the header."""
    checks, all_findings, passed = [], [], []
    counts = {"fail": 0, "warn": 0, "pass": 0}
    check_counts = {"pass": 0, "warn": 0, "fail": 0, "error": 0, "skipped": 0}
    components = None
    for c in sorted(report["checks"], key=lambda c: (STATUS_ORDER.get(c["status"], 9), c["id"])):
        check_counts[c["status"]] = check_counts.get(c["status"], 0) + 1
        fs = sorted(c.get("findings", []), key=_sort_key)
        c_counts = {"fail": 0, "warn": 0, "pass": 0}
        seen: dict[str, str] = {}
        views = []
        for f in fs:
            c_counts[f["status"]] = c_counts.get(f["status"], 0) + 1
            counts[f["status"]] = counts.get(f["status"], 0) + 1
            all_findings.append(f)
            if f["status"] == "pass":
                ev = f.get("evidence") or {}
                if f["id"] == "licenses.bill_of_materials" and isinstance(ev.get("table"), list):
                    components = _table(ev["table"], limit=5000)
                text = texts.get(f["id"])
                passed.append(FindingView(id=f["id"], kind_title=_kind_title(f["id"], texts), status="pass",
                                          severity=f["severity"], subject=_subject(f), message=f["message"],
                                          value=with_unit(f.get("value"), text.unit if text else "", ev),
                                          threshold=_threshold_text(f, text, report)[0]))
            else:
                views.append(_finding_view(f, texts, report, seen))
        metrics = dict(c.get("metrics") or {})
        m_tables, m_charts, m_details, _ = _split_evidence(metrics)
        if c["id"] == "licenses" and isinstance(metrics.get("components"), list):
            # the full component list goes to the appendix, once
            components = _table(metrics["components"], limit=5000) or components
            m_tables = [(t, v) for t, v in m_tables if t != "Components"]
        checks.append(CheckView(id=c["id"], title=humanize(c["id"]), status=c["status"], summary=c["summary"],
                                description=c.get("description", ""),
                                duration=f"{number(c.get('duration_s', 0) or 0, 2)} s", counts=c_counts,
                                findings=views, metrics=m_details,
                                charts=[Markup(svg) for svg in (render_chart(chartnotes.for_check(
                                    spec, c["id"], fs, texts, report)) for spec in m_charts) if svg],
                                tables=m_tables))
    return checks, all_findings, passed, counts, check_counts, components


def _manifest_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The appendix's reproducibility rows: digest, command, seed, inputs and versions."""
    subj = report.get("subject", {})
    model = subj.get("model") or {}
    man = report.get("manifest", {})
    manifest = [
        ("Report digest", report.get("digest", "")),
        ("Created", report.get("created_at", "")),
        ("Command", man.get("command") or "riskaudit.scan() (library call)"),
        ("Seed", str(man.get("seed"))),
        ("Device", str(man.get("device"))),
        ("Policy", f"{subj.get('policy', {}).get('name')} (sha256 {subj.get('policy', {}).get('sha256', '')})"),
        ("Model", f"{model.get('uri')} ({model.get('format')}), sha256 {model.get('sha256')}" if model else "none"),
    ]
    manifest += [(f"Dataset: {role}", f"{d.get('uri')}, sha256 {d.get('sha256')}")
                 for role, d in (subj.get("datasets") or {}).items()]
    manifest += [("Python", str(man.get("python"))), ("Platform", str(man.get("platform")))]
    manifest += [(f"Package {k}", str(v)) for k, v in sorted((man.get("packages") or {}).items())]
    inputs = man.get("inputs") or {}
    manifest += [(f"Input: {humanize(k).lower()}", _short(v, 300)) for k, v in inputs.items()]
    return manifest


def _changes(raw: Any) -> dict[str, Any] | None:
    """The report's ``changes``, reduced to the strings the template shows; anything malformed
    (report.json is attacker-controlled) is dropped rather than breaking the page."""
    if not isinstance(raw, Mapping):
        return None
    base = raw.get("baseline")
    if not isinstance(base, Mapping):
        base = {}
    out: dict[str, Any] = {"baseline": {k: str(base.get(k, "")) for k in ("created_at", "source", "status", "digest")}}
    for section in ("new", "worse", "resolved", "better"):
        items = raw.get(section)
        if not isinstance(items, list):
            items = []
        out[section] = [{k: str(x.get(k, "")) for k in ("title", "subject", "before", "after")}
                        for x in items if isinstance(x, Mapping)]
    metrics = raw.get("metrics")
    if not isinstance(metrics, list):
        metrics = []
    out["metrics"] = [{k: str(m.get(k, "")) for k in ("title", "before", "after")} for m in metrics
                      if isinstance(m, Mapping)]
    out["all"] = [dict(x, label=section) for section in ("new", "worse", "resolved", "better") for x in out[section]]
    # the first pages show the few that matter most; the appendix lists them all
    out["top"] = out["all"][:MAX_CHANGES]
    out["more"] = max(len(out["all"]) - MAX_CHANGES, 0)
    out["metrics_top"] = [m for m in out["metrics"] if m["before"] != m["after"]][:MAX_CHANGES]
    return out


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              finalize=_shown)


def _shown(value: Any) -> Any:
    """Every ``{{ value }}`` of the templates: text with its invisible characters shown
    (controls, zero-width, bidirectional overrides: :func:`riskaudit.inert.visible`) before
    autoescaping; markup this module built (the charts) and non-text values pass."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def render(report: Mapping[str, Any], approvals: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The HTML report; ``approvals`` (records with role, approver, decision, created_at,
    public_key or key_fingerprint, valid, why) fill the approval block."""
    return _environment().get_template("report.html.j2").render(r=build_view(report, approvals))
