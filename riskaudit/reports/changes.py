"""What changed between two audits: new, resolved, worse and better findings, and the change of
each headline figure. Used by ``riskaudit diff OLD NEW`` and by the report's "changed since the
last approved audit" section (``report.json`` ``changes``, bound by the digest).

A finding is identified by its id, its subject and the dataset it is about. Statuses rank
pass < warn < fail. *New*: failing or warning now, absent before. *Resolved*: failing or
warning before, passing or absent now. *Worse* / *better*: in both, with a higher / lower
status, or the same non-passing status and a value that moved by more than 1 % of the level
in the bad / good direction of its kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from riskaudit.reports.plain import KindText, humanize, kind_texts, with_unit

RANK = {"pass": 0, "warn": 1, "fail": 2, "error": 3}
SECTIONS = ("new", "worse", "resolved", "better")


def _key(f: Mapping[str, Any]) -> tuple[str, str, str]:
    ds = (f.get("evidence") or {}).get("dataset")
    return str(f.get("id")), str(f.get("subject")), str(ds) if isinstance(ds, str) else ""


def _findings(report: Mapping[str, Any]) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    out: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for c in report.get("checks") or []:
        for f in c.get("findings") or []:
            out.setdefault(_key(f), f)
    return out


def _title(fid: str) -> str:
    check, _, kind = fid.partition(".")
    return f"{humanize(check)}: {humanize(kind).lower()}"


def _state(f: Mapping[str, Any] | None, text: KindText | None) -> str:
    if f is None:
        return "absent"
    value = with_unit(f.get("value"), text.unit if text else "", f.get("evidence") or {})
    return f"{f.get('status')} ({value})" if f.get("value") is not None else str(f.get("status"))


def _moved(old: Mapping[str, Any], new: Mapping[str, Any], direction: str) -> int:
    """+1 worse, -1 better, 0 no material change of value."""
    a, b = old.get("value"), new.get("value")
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool) or isinstance(b, bool):
        return 0
    scale = abs(new.get("threshold") or 0) or max(abs(a), abs(b), 1e-12)
    if abs(b - a) <= 0.01 * scale:
        return 0
    worse = b > a if direction == "above" else b < a
    return 1 if worse else -1


def compare(old: Mapping[str, Any], new: Mapping[str, Any], *, source: str = "baseline report",
            texts: Mapping[str, KindText] | None = None,
            directions: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The changes from ``old`` to ``new`` (two report dicts), JSON-ready."""
    texts = kind_texts() if texts is None else texts
    directions = directions if directions is not None else _directions()
    before, after = _findings(old), _findings(new)
    out: dict[str, list] = {s: [] for s in SECTIONS}
    for key in sorted(set(before) | set(after)):
        fid, subject, ds = key
        o, n = before.get(key), after.get(key)
        text = texts.get(fid)
        # a key is in one report at least; the rank of an absent finding is never read
        ro = RANK.get(o.get("status", ""), 0) if o is not None else 0
        rn = RANK.get(n.get("status", ""), 0) if n is not None else 0
        if o is None:
            section = "new" if rn else None
        elif n is None:
            section = "resolved" if ro else None
        elif rn > ro:
            section = "worse" if ro else "new"
        elif rn < ro:
            section = "resolved" if rn == 0 else "better"
        elif rn:
            moved = _moved(o, n, directions.get(fid, "above"))
            section = {1: "worse", -1: "better"}.get(moved)
        else:
            section = None
        if section:
            out[section].append({"id": fid, "title": _title(fid),
                                 "subject": subject + (f" ({ds} data)" if ds and ds not in subject else ""),
                                 "before": _state(o, text), "after": _state(n, text),
                                 "status_before": o.get("status") if o else None,
                                 "status_after": n.get("status") if n else None,
                                 "value_before": o.get("value") if o else None,
                                 "value_after": n.get("value") if n else None})
    return {"baseline": {"digest": str(old.get("digest", "")), "created_at": str(old.get("created_at", "")),
                         "status": str(old.get("status", "")), "source": source},
            **out, "metrics": _metrics(old, new, texts)}


def _metrics(old: Mapping[str, Any], new: Mapping[str, Any], texts: Mapping[str, KindText]) -> list[dict]:
    """Headline figures: the verdict, failed and warning counts, each check's status, and the
    worst value of each finding kind present in both audits."""
    def counts(r, s):
        return sum(f.get("status") == s for c in r.get("checks") or [] for f in c.get("findings") or [])

    rows = [{"title": "Verdict", "before": str(old.get("status")), "after": str(new.get("status"))},
            {"title": "Failed findings", "before": str(counts(old, "fail")), "after": str(counts(new, "fail"))},
            {"title": "Warnings", "before": str(counts(old, "warn")), "after": str(counts(new, "warn"))}]
    o_checks = {c["id"]: c.get("status") for c in old.get("checks") or []}
    for c in new.get("checks") or []:
        if c["id"] in o_checks:
            rows.append({"title": f"{humanize(c['id'])} check", "before": str(o_checks[c["id"]]),
                         "after": str(c.get("status"))})
    directions = _directions()

    def worst(r):
        out: dict[str, float] = {}
        for f in _findings(r).values():
            v = f.get("value")
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            fid = f["id"]
            below = directions.get(fid, "above") == "below"
            if fid not in out or (v < out[fid] if below else v > out[fid]):
                out[fid] = v
        return out

    wo, wn = worst(old), worst(new)
    for fid in sorted(set(wo) & set(wn)):
        if wo[fid] != wn[fid]:
            unit = texts[fid].unit if fid in texts else ""
            rows.append({"title": f"{_title(fid)} (worst)", "before": with_unit(wo[fid], unit),
                         "after": with_unit(wn[fid], unit)})
    return rows


def _directions() -> dict[str, str]:
    try:
        from riskaudit.registry import Registry

        return {f"{c.id}.{k}": kind.direction for c in Registry.from_entry_points() for k, kind in c.kinds.items()}
    except Exception:
        return {}


def last_approved_of_model(model_uri: str, ledger_path: str | None = None) -> dict[str, Any] | None:
    """The newest audit in the ledger of a model with the same file name whose audit was
    approved (digest verifies, status passes its policy, every role signed), or None."""
    from riskaudit.gate import approval_reasons
    from riskaudit.ledger import Ledger, resolve_path
    from riskaudit.result import verify_digest

    name = Path(str(model_uri).replace("\\", "/")).name
    if not name or not resolve_path(ledger_path).exists():
        return None
    with Ledger(ledger_path, create=False) as led:
        seen: set[str] = set()
        for row in reversed(led.scans(name)):
            if row.digest in seen or row.status not in ("pass", "warn"):
                continue  # fail / error never passes its policy: no need to read the report
            seen.add(row.digest)
            report = led.report(row.seq)
            if not verify_digest(report) or report.get("status") not in ("pass", "warn"):
                continue
            blocking, _ = approval_reasons(report, led.approvals(row.digest), check_expiry=False)
            if not blocking:
                return report
    return None


def render_text(changes: Mapping[str, Any]) -> str:
    """The changes as plain terminal text (``riskaudit diff``)."""
    b = changes["baseline"]
    lines = [f"Compared with the audit of {b['created_at']} ({b['source']}; verdict {b['status'].upper()})."]
    any_change = False
    for section in SECTIONS:
        items = changes.get(section) or []
        if not items:
            continue
        any_change = True
        lines += ["", f"{section.capitalize()} ({len(items):,}):"]
        lines += [f"  - {x['title']} — {x['subject']}: {x['before']} -> {x['after']}" for x in items]
    if not any_change:
        lines += ["", "No finding changed status."]
    lines += ["", "Headline figures (before -> now):"]
    width = max((len(m["title"]) for m in changes.get("metrics") or []), default=0)
    lines += [f"  {m['title']:<{width}}  {m['before']} -> {m['after']}" for m in changes.get("metrics") or []]
    return "\n".join(lines) + "\n"


__all__ = ["compare", "render_text", "last_approved_of_model", "SECTIONS"]
