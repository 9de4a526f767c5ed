"""Plain words for readers who are not data scientists: rounded numbers with units, headers
without snake_case, and each finding kind's ``why`` and ``advice`` from the checker that
declares it (:class:`riskaudit.checks.base.Kind`), built-in or plugin alike.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping

from riskaudit.fmt import number, percent, with_unit

# Words kept in capitals when a key is turned into a header.
_ACRONYMS = {"id", "ids", "sd", "sds", "psi", "mmd", "tpr", "fpr", "mae", "ci", "pii", "url", "uri", "sha256",
             "fgm", "pgd", "spdx", "sbom", "k"}


@dataclass(frozen=True)
class KindText:
    """What a reader is told about one finding kind."""

    doc: str = ""
    why: str = ""
    advice: str = ""
    unit: str = ""


def humanize(key: Any) -> str:
    """``rows_checked`` -> ``Rows checked``; ``p_value`` -> ``P value``; acronyms stay upper-case."""
    words = str(key).replace("_", " ").replace("-", " ").split()
    if not words:
        return ""
    out = [w.upper() if w.lower() in _ACRONYMS else w for w in words]
    first = out[0]
    out[0] = first if first.isupper() else first[:1].upper() + first[1:]
    return " ".join(out)


@functools.lru_cache(maxsize=1)
def _installed_kind_texts() -> dict[str, KindText]:
    try:
        from riskaudit.registry import Registry

        registry = Registry.from_entry_points()
    except Exception:  # a broken plugin must not stop a report from rendering
        return {}
    return kind_texts(registry)


def kind_texts(registry: Any = None) -> dict[str, KindText]:
    """``{"<checker>.<kind>": KindText}`` for every kind of every checker in ``registry``
    (default: the installed checkers)."""
    if registry is None:
        return dict(_installed_kind_texts())
    out = {}
    for checker in registry:
        for name, kind in checker.kinds.items():
            out[f"{checker.id}.{name}"] = KindText(doc=kind.doc, why=getattr(kind, "why", ""),
                                                   advice=getattr(kind, "advice", ""),
                                                   unit=getattr(kind, "unit", ""))
    return out


def texts_for(report: Mapping[str, Any]) -> dict[str, KindText]:
    """The kind texts a report carries (``manifest.kind_texts``, written by the scan from the
    checkers that ran, plugins included) over those of the checkers installed here."""
    out = kind_texts()
    carried = (report.get("manifest") or {}).get("kind_texts")
    if isinstance(carried, Mapping):
        for fid, t in carried.items():
            if isinstance(t, Mapping):
                base = out.get(str(fid), KindText())
                out[str(fid)] = KindText(doc=base.doc, why=str(t.get("why") or base.why),
                                         advice=str(t.get("advice") or base.advice),
                                         unit=str(t.get("unit") or base.unit))
    return out


def threshold_source(report: Mapping[str, Any], f: Mapping[str, Any]) -> str:
    """Where the threshold a finding was judged against comes from, exactly: ``policy “default”
    key checks.drift.thresholds.data_drift.fail = 0.1`` or ``checker default 0.1`` (from the
    report's ``manifest.thresholds``); ``set by the checker for this finding`` when the finding
    carries a threshold of its own. Reports written before ``manifest.thresholds`` name the key
    the policy would set."""
    thr = f.get("threshold")
    if not isinstance(thr, (int, float)) or isinstance(thr, bool):
        return ""
    own = (f.get("evidence") or {}).get("threshold_source")
    if isinstance(own, str) and own:  # a checker that knows better (a per-finding minimum) says so
        return own
    levels = ((report.get("manifest") or {}).get("thresholds") or {})
    fid = str(f.get("id", ""))
    if isinstance(levels, Mapping) and levels:
        entry_ = levels.get(fid)
        known: Mapping[str, Any] = entry_ if isinstance(entry_, Mapping) else {}
        order = ("warn", "fail") if f.get("status") == "warn" else ("fail", "warn")
        for level in order:
            entry = known.get(level)
            if isinstance(entry, Mapping) and entry.get("value") == thr and entry.get("source"):
                return str(entry["source"])
        return "set by the checker for this finding"
    check, _, kind = fid.partition(".")
    level = "warn" if f.get("status") == "warn" else "fail"
    policy = ((report.get("subject") or {}).get("policy") or {}).get("name", "")
    return f"policy “{policy}” key checks.{check}.thresholds.{kind}.{level} (report written before sources were recorded)"


__all__ = ["KindText", "threshold_source", "texts_for", "humanize", "number", "percent", "with_unit", "kind_texts"]
