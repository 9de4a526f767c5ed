"""Plain words for readers who are not data scientists: rounded numbers with units, headers
without snake_case, and each finding kind's ``why`` and ``advice`` from the checker that
declares it (:class:`riskaudit.checks.base.Kind`), built-in or plugin alike.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Mapping

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


def number(value: Any, digits: int = 3) -> str:
    """An ordinary number rounded for people: no scientific notation above 1e-4, thousands
    separated, at most ``digits`` significant digits (integers stay whole)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or (math.isfinite(value) and float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if not math.isfinite(value):
        return "not a number" if math.isnan(value) else ("∞" if value > 0 else "−∞")
    a = abs(value)
    if a < 1e-4:
        return f"{value:.1e}"  # a genuinely tiny figure: say so honestly
    if a >= 1000:
        return f"{value:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(a)))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def percent(share: float, digits: int = 3) -> str:
    """A share in [0, 1] as a percent: ``0.0333`` -> ``3.33 %``; tiny shares -> ``< 0.01 %``."""
    p = share * 100
    if p == 0:
        return "0 %"
    if 0 < abs(p) < 0.01:
        return "< 0.01 %" if p > 0 else "> −0.01 %"
    return f"{number(p, digits)} %"


def with_unit(value: Any, unit: str, evidence: Mapping[str, Any] | None = None) -> str:
    """``value`` rounded and followed by its unit, as a reader should see it."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return number(v)
    if unit == "share":
        return percent(v)
    if unit == "relative":
        if v == 0:
            return "0 %"
        if 0 < abs(v) * 100 < 0.0001:
            return "< 0.0001 %"
        return f"{number(v * 100)} %"
    if unit == "points":
        return f"{number(v * 100)} percentage points"
    if unit == "ratio":
        return number(v, 2)
    if unit == "sd":
        return f"{number(v, 2)} standard deviations"
    if unit == "shift":
        kind = str((evidence or {}).get("effect_unit") or "").lower()
        if "sd" in kind or "wasserstein" in kind:
            return f"{number(v, 2)} standard deviations"
        return f"{number(v, 2)} (shift score)"
    if unit == "p_value":
        return "p < 0.001" if v < 0.001 else f"p = {number(v, 2)}"
    if unit == "flag":
        return "yes" if v >= 0.5 else "no"
    if unit == "obligation":
        return "full" if v >= 1 else ("partial" if v > 0 else "none")
    if unit:
        n = number(v)
        noun = unit[:-1] if n == "1" and unit.endswith("s") else unit
        return f"{n} {noun}"
    return number(v)


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


__all__ = ["KindText", "texts_for", "humanize", "number", "percent", "with_unit", "kind_texts"]
