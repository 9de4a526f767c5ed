"""Regulation mapping: which provisions a report gives evidence for, per framework.

The mapping lives in the policy pack (``regulations:`` in ``policies/default.yaml``): the
frameworks with their provisions, and per finding kind the provisions its evidence speaks
to. The scan copies the policy's mapping into the report (``manifest.regulations``), so the
digest binds it. Two pseudo-kinds stand for the audit itself: ``audit.record`` (the report,
its digest, manifest and ledger row: record-keeping, documentation) and ``audit.approvals``
(the sign-off the policy requires: human oversight).

A provision has *failing* evidence when a finding mapped to it failed, evidence *with
warnings* when one warned, *passing* evidence when mapped findings ran and passed, and *no
evidence* otherwise. This maps evidence; it does not certify compliance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

STATE_TEXT = {"fail": "failing evidence", "warn": "evidence with warnings", "pass": "passing evidence",
              "none": "no evidence"}
STATE_CSS = {"fail": "bad", "warn": "bad", "pass": "ok", "none": "none"}
RANK = {"fail": 3, "warn": 2, "pass": 1, "none": 0}


@dataclass
class ProvisionView:
    id: str
    title: str
    status: str
    sources: str

    @property
    def state(self) -> str:
        return STATE_TEXT[self.status]

    @property
    def css(self) -> str:
        return STATE_CSS[self.status]


@dataclass
class FrameworkView:
    id: str
    title: str
    provisions: list[ProvisionView] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out = {"failing": 0, "passing": 0, "none": 0}
        for p in self.provisions:
            out["failing" if p.status in ("fail", "warn") else "passing" if p.status == "pass" else "none"] += 1
        return out


def for_report(reg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The policy's mapping in the form stored in report.json: frameworks and provisions as
    lists, so their order survives the report's sorted-key JSON."""
    reg = reg or {}
    frameworks = []
    for fid, fw in (reg.get("frameworks") or {}).items():
        if isinstance(fw, Mapping):
            frameworks.append({"id": str(fid), "title": str(fw.get("title", fid)),
                               "provisions": [{"id": str(k), "title": str(v)}
                                              for k, v in (fw.get("provisions") or {}).items()]})
    return {"frameworks": frameworks, "kinds": {str(k): dict(v) for k, v in (reg.get("kinds") or {}).items()
                                                if isinstance(v, Mapping)}}


def _ordered(reg: Mapping[str, Any]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    frameworks = reg.get("frameworks") or []
    if isinstance(frameworks, Mapping):
        reg = for_report(reg)
        frameworks = reg["frameworks"]
    out = []
    for fw in frameworks:
        if isinstance(fw, Mapping):
            out.append((str(fw.get("id")), str(fw.get("title", fw.get("id"))),
                        [(str(p.get("id")), str(p.get("title", ""))) for p in fw.get("provisions") or []
                         if isinstance(p, Mapping)]))
    return out


def mapping_of(report: Mapping[str, Any]) -> Mapping[str, Any]:
    """The report's regulation mapping (bound by its digest), or the built-in default pack's."""
    reg = (report.get("manifest") or {}).get("regulations")
    if isinstance(reg, Mapping) and reg.get("frameworks"):
        return reg
    try:
        from riskaudit.policy import load_policy

        return load_policy("default").data.get("regulations") or {}
    except Exception:
        return {}


def kind_statuses(report: Mapping[str, Any]) -> dict[str, str]:
    """Worst status per finding kind that ran (``pass``/``warn``/``fail``), plus the audit's
    own pseudo-kinds."""
    out: dict[str, str] = {}
    for c in report.get("checks") or []:
        for f in c.get("findings") or []:
            s = f.get("status")
            if s in RANK and RANK[s] > RANK.get(out.get(f["id"], "none"), 0):
                out[f["id"]] = s
    if report.get("digest"):
        out["audit.record"] = "pass"
    if report.get("approvals_required"):
        out["audit.approvals"] = "pass"
    return out


def _kind_title(kind: str) -> str:
    from riskaudit.reports.plain import humanize

    check, _, name = kind.partition(".")
    if check == "audit":
        return {"record": "this report and its ledger record", "approvals": "the required sign-offs"}.get(name, kind)
    return f"{humanize(check)}: {humanize(name).lower()}"


def framework_views(report: Mapping[str, Any]) -> list[FrameworkView]:
    reg = mapping_of(report)
    kinds = reg.get("kinds") or {}
    if not isinstance(kinds, Mapping):
        kinds = {}
    seen = kind_statuses(report)
    views = []
    for fw_id, fw_title, provisions in _ordered(reg):
        view = FrameworkView(id=fw_id, title=fw_title)
        for pid, ptitle in provisions:
            status, sources = "none", []
            for kind, targets in kinds.items():
                listed = targets.get(fw_id) if isinstance(targets, Mapping) else None
                if not isinstance(listed, (list, tuple)) or pid not in listed:
                    continue
                s = seen.get(kind)
                if s is None:
                    continue
                sources.append((-RANK[s], _kind_title(kind), s))
                if RANK[s] > RANK[status]:
                    status = s
            sources.sort()
            shown = [f"{title} ({s})" for _, title, s in sources[:6]]
            if len(sources) > 6:
                shown.append(f"{len(sources) - 6} more")
            view.provisions.append(ProvisionView(id=pid, title=ptitle, status=status,
                                                 sources="; ".join(shown) or "—"))
        views.append(view)
    return views


__all__ = ["framework_views", "for_report", "kind_statuses", "mapping_of", "FrameworkView", "ProvisionView"]
