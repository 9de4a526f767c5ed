"""``--format evidence``: a technical-documentation pack structured like Annex IV of the EU AI
Act (Regulation (EU) 2024/1689), as Markdown.

It fills what the scan measured and the project file describes (intended purpose, owner,
version: ``manifest.system``), and marks every part a person must still write with
``TO BE WRITTEN``. It maps evidence; it does not certify conformity and is not legal advice.
"""

from __future__ import annotations

from typing import Any, Mapping

from riskaudit.reports.markdown import _cell
from riskaudit.reports.plain import humanize, number, texts_for, with_unit
from riskaudit.reports.regulation import framework_views

TO_WRITE = "**TO BE WRITTEN** by the provider:"
DISCLAIMER = ("This pack maps the evidence of one riskaudit scan onto the structure of Annex IV of the "
              "EU AI Act. It does not certify conformity and is not legal advice; the parts marked "
              "TO BE WRITTEN must be completed and the whole reviewed by the people accountable.")


def _name(uri: Any) -> str:
    """A file's name, not the scanning machine's absolute path (the sha256 identifies it)."""
    from riskaudit.reports.html import _display_uri

    return _display_uri(uri)


def _todo(what: str) -> str:
    return f"> {TO_WRITE} {what}"


def _findings(report: Mapping[str, Any], check_ids: tuple[str, ...], texts) -> list[str]:
    rows = ["| Check | Finding | About | Status | Value | Level |", "| --- | --- | --- | --- | --- | --- |"]
    n = 0
    for c in report.get("checks") or []:
        if c.get("id") not in check_ids:
            continue
        for f in c.get("findings") or []:
            t = texts.get(f.get("id"))
            unit = t.unit if t else ""
            ev = f.get("evidence") or {}
            kind = str(f.get("id", "")).partition(".")[2]
            about = str(f.get("subject"))
            if isinstance(ev.get("dataset"), str) and ev["dataset"] not in about:
                about += f" ({ev['dataset']} data)"
            rows.append(f"| {_cell(humanize(c['id']))} | {_cell(humanize(kind))} | {_cell(about)} | "
                        f"{_cell(f.get('status'))} | {_cell(with_unit(f.get('value'), unit, ev))} | "
                        f"{_cell(with_unit(f.get('threshold'), unit, ev))} |")
            n += 1
    return rows if n else ["No finding of these checks in this scan (the checks did not run or found nothing)."]


def _checks(report: Mapping[str, Any], ids: tuple[str, ...]) -> list[str]:
    out = []
    for c in report.get("checks") or []:
        if c.get("id") in ids:
            out.append(f"- **{_cell(humanize(c['id']))}**: {_cell(c.get('status', '').upper())} — {_cell(c.get('summary'))}")
    return out or ["- These checks did not run in this scan."]


def render(report: Mapping[str, Any]) -> str:
    texts = texts_for(report)
    policy = (report.get("subject") or {}).get("policy") or {}
    L = ["# Technical documentation (EU AI Act, Annex IV structure)", "", f"_{DISCLAIMER}_", "",
         f"Generated from the riskaudit report `{_cell(report.get('digest', ''))}` of "
         f"{_cell(report.get('created_at', ''))}; verdict **{_cell(str(report.get('status', '')).upper())}** under "
         f"policy **{_cell(policy.get('name'))}**, risk tier **{_cell(report.get('risk_tier'))}**.", ""]
    L += _general(report)
    L += _development(report, texts)
    L += _monitoring(report)
    L += _risk_management(report, texts)
    L += _lifecycle(report)
    L += _standards(report)
    return "\n".join(L)


def _general(report: Mapping[str, Any]) -> list[str]:
    """Annex IV 1: general description (the project file's descriptive fields, the model file)."""
    subj = report.get("subject") or {}
    man = report.get("manifest") or {}
    system = man.get("system") or {}
    model = subj.get("model") or {}

    def field(key: str, what: str) -> str:
        value = system.get(key)
        return _cell(value) if value else f"_{TO_WRITE} {what}_"

    return ["## 1. General description of the AI system", "",
            "- **Intended purpose:** " + field('intended_purpose', 'what the system is for, for whom, and its limits '
                                               '(project file: intended_purpose)'),
            f"- **Provider / owner:** {field('owner', 'the accountable person or team (project file: owner)')}",
            f"- **Version:** {field('version', 'the version of the system (project file: version)')}",
            f"- **Model file:** `{_cell(_name(model.get('uri', 'none')))}` ({_cell(model.get('format', '—'))}), "
            f"sha256 `{_cell(model.get('sha256', '—'))}`" if model else "- **Model file:** none (data-only audit)",
            f"- **Software it was audited with:** Python {_cell(man.get('python'))}; "
            + ", ".join(f"{_cell(k)} {_cell(v)}" for k, v in sorted((man.get("packages") or {}).items())), "",
            _todo("how the system interacts with other hardware and software, the forms in which it is "
                  "placed on the market, the hardware it runs on, its user interface and the instructions "
                  "for use (Annex IV 1(b)-(h))."), ""]


def _development(report: Mapping[str, Any], texts) -> list[str]:
    """Annex IV 2: data sets (2(d)), human oversight (2(e)), validation and testing (2(g)),
    cybersecurity (2(h))."""
    subj = report.get("subject") or {}
    man = report.get("manifest") or {}
    L = ["## 2. Elements of the AI system and its development", "",
         "### 2(d) Data requirements and data sets", ""]
    for role, d in (subj.get("datasets") or {}).items():
        L.append(f"- **{_cell(role)}:** `{_cell(_name(d.get('uri')))}`, {number(d.get('rows'))} rows × "
                 f"{number(d.get('columns'))} columns, sha256 `{_cell(d.get('sha256'))}`")
    inputs = man.get("inputs") or {}
    L += ["", f"- Target: `{_cell(inputs.get('target'))}`; features: {_cell(', '.join(inputs.get('features') or []) or '—')}; "
              f"sensitive attributes: {_cell(', '.join(inputs.get('sensitive') or []) or '—')}", "",
          "Data quality, personal data and licensing as measured by this scan:", ""]
    L += _checks(report, ("data_validity", "pii", "licenses")) + [""]
    L += _findings(report, ("data_validity", "pii"), texts) + [""]
    L += [_todo("the provenance and scope of each data set, how it was collected and selected, the "
                "labelling procedure and the data-cleaning methods (Annex IV 2(d))."), "",
          "### 2(e) Human oversight", ""]
    roles = ", ".join(f"{_cell(r.get('role'))} ×{r.get('count', 1)}" for r in report.get("approvals_required") or [])
    L += [f"The policy requires these sign-offs before deployment: {roles or 'none'}. The deployment gate "
          "(`riskaudit gate`) checks them against this report's digest.", "",
          _todo("the human-oversight measures in operation (Article 14): who can override or stop the "
                "system, and how its outputs are interpreted."), "",
          "### 2(g) Validation and testing", "",
          f"Command: `{_cell(man.get('command') or 'riskaudit.scan()')}`; seed {_cell(man.get('seed'))}; "
          f"device {_cell(man.get('device'))}.", ""]
    L += _checks(report, ("performance", "fairness", "robustness", "consistency", "drift")) + [""]
    L += _findings(report, ("performance", "fairness", "robustness", "consistency", "drift"), texts) + [""]
    L += [_todo("why these metrics and data are appropriate for this system, and the signed test logs of "
                "any further testing (Annex IV 2(g), 4)."), "",
          "### 2(h) Cybersecurity", "", _todo("the cybersecurity measures (Annex IV 2(h)); the robustness "
                                              "check above covers adversarial inputs only."), ""]
    return L


def _monitoring(report: Mapping[str, Any]) -> list[str]:
    """Annex IV 3 and 4: monitoring, functioning and control; the metrics' appropriateness."""
    L = ["## 3. Monitoring, functioning and control", "",
         "Accuracy for specific groups and foreseeable sources of discrimination are in section 2(g) "
         "(fairness findings). Input data drift against the reference data:", ""]
    L += _checks(report, ("drift",)) + ["", _todo("capabilities and limitations in performance, foreseeable "
                                                  "unintended outcomes and the specifications of input data."), ""]
    return L + ["## 4. Appropriateness of the performance metrics", "",
                _todo("why the metrics in 2(g) suit this system and its intended purpose."), ""]


def _risk_management(report: Mapping[str, Any], texts) -> list[str]:
    """Annex IV 5 (Article 9): the failing and warning findings with what to do."""
    L = ["## 5. Risk management system (Article 9)", "",
         "Findings that failed or warned, with what to do:", ""]
    bad = [f for c in report.get("checks") or [] for f in c.get("findings") or []
           if f.get("status") in ("fail", "warn")]
    for f in bad[:40]:
        t = texts.get(f.get("id"))
        advice = (t.advice if t and t.advice else (f.get("evidence") or {}).get("advice")) or ""
        L.append(f"- **{_cell(f.get('status', '').upper())}** {_cell(humanize(str(f.get('id')).partition('.')[2]))} "
                 f"({_cell(f.get('subject'))}): {_cell(f.get('message'))}" + (f" — {_cell(advice)}" if advice else ""))
    if len(bad) > 40:
        L.append(f"- … and {len(bad) - 40} more in report.json.")
    if not bad:
        L.append("- No finding failed or warned.")
    L += ["", _todo("the risk-management process these results feed, the risks accepted and the measures "
                    "taken."), ""]
    return L


def _lifecycle(report: Mapping[str, Any]) -> list[str]:
    """Annex IV 6: changes since the last approved audit."""
    changes = report.get("changes")
    L = ["## 6. Changes through the lifecycle", ""]
    if changes:
        b = changes.get("baseline") or {}
        L.append(f"Compared with the approved audit of {_cell(b.get('created_at'))} (digest `{_cell(b.get('digest'))}`):")
        for section in ("new", "worse", "resolved", "better"):
            for x in changes.get(section) or []:
                L.append(f"- {section}: {_cell(x.get('title'))} — {_cell(x.get('subject'))}: "
                         f"{_cell(x.get('before'))} → {_cell(x.get('after'))}")
    else:
        L.append("No earlier approved audit to compare with.")
    L += ["", _todo("the changes made to the system and why."), ""]
    return L


def _standards(report: Mapping[str, Any]) -> list[str]:
    """Annex IV 7-9: frameworks (the policy's regulation mapping), declaration, post-market."""
    L = ["## 7. Standards and frameworks", "", "Evidence of this scan per framework (as mapped in the policy):", ""]
    for fw in framework_views(report):
        c = fw.counts
        L += [f"### {_cell(fw.title)}", "",
              f"{c['failing']} provisions with failing evidence, {c['passing']} passing, {c['none']} without evidence.",
              "", "| Provision | Evidence |", "| --- | --- |"]
        L += [f"| {_cell(p.id)} {_cell(p.title)} | {_cell(p.state)} |" for p in fw.provisions] + [""]
    L += [_todo("the harmonised standards applied, or the other solutions adopted (Annex IV 7)."), "",
          "## 8. EU declaration of conformity", "", _todo("a copy of the declaration (Article 47)."), "",
          "## 9. Post-market monitoring", "",
          "riskaudit can re-run this audit on production data (drift against this report's reference data).",
          "", _todo("the post-market monitoring plan (Article 72)."), ""]
    return L
