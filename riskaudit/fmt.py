"""Numbers as people read them: the one place figures in messages and reports are formatted.

Checkers (built-in and plugins) and renderers use these instead of ``f"{x:.3g}"``: at most
three significant digits, no scientific notation for ordinary numbers, thousands
separated, the unit named (percent of rows, percentage points, standard deviations,
rows), p-values as ``p < 0.001``. Pure functions of the standard library only, so any
module may import it.
"""

from __future__ import annotations

import math
from typing import Any, Mapping


def number(value: Any, digits: int = 3) -> str:
    """An ordinary number rounded for people: no scientific notation above 1e-4, thousands
    separated, at most ``digits`` significant digits (integers, and floats holding a whole
    number, stay whole: they are counts)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        try:  # a numpy scalar
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or (math.isfinite(value) and float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if not math.isfinite(value):
        return "not a number" if math.isnan(value) else ("∞" if value > 0 else "−∞")
    a = abs(value)
    if a < 1e-4:
        return f"{value:.1e}"  # a genuinely tiny figure: say so honestly
    if a >= 1000:  # a measured figure: its first ``digits`` digits ("14,100,000", not "14,061,009")
        return f"{round(value, digits - 1 - math.floor(math.log10(a))):,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(a)))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def percent(share: Any, digits: int = 3) -> str:
    """A share in [0, 1] as a percent: ``0.0333`` -> ``3.33 %``; tiny shares -> ``< 0.01 %``."""
    if share is None or isinstance(share, bool) or not isinstance(share, (int, float)) \
            or not math.isfinite(share):
        return number(share)
    p = share * 100
    if p == 0:
        return "0 %"
    if 0 < abs(p) < 0.01:
        return "< 0.01 %" if p > 0 else "> −0.01 %"
    return f"{number(p, digits)} %"


def points(diff: float) -> str:
    """A difference of two shares: ``0.94`` -> ``94 percentage points``."""
    n = number(diff * 100)
    return f"{n} percentage point{'' if n == '1' else 's'}"


def p_value(p: Any) -> str:
    """``p < 0.001`` below 0.001, else ``p = 0.04`` (two significant digits)."""
    if p is None or not isinstance(p, (int, float)) or not math.isfinite(p):
        return "p not computable"
    return "p < 0.001" if p < 0.001 else f"p = {number(float(p), 2)}"


def sd(value: float) -> str:
    """A shift measured in standard deviations of the reference data."""
    return f"{number(value, 2)} standard deviations"


def count(n: Any, noun: str) -> str:
    """``count(1, "rows")`` -> ``1 row``; ``count(1200, "rows")`` -> ``1,200 rows``."""
    text = number(n)
    word = noun[:-1] if text == "1" and noun.endswith("s") else noun
    return f"{text} {word}"


def interval(lo: Any, hi: Any, unit: str = "", level: float | None = None) -> str:
    """A confidence interval: ``95 % interval 3.1 % to 5.2 %``."""
    head = f"{number(level * 100)} % interval " if level else "interval "
    return f"{head}{with_unit(lo, unit)} to {with_unit(hi, unit)}"


def with_unit(value: Any, unit: str, evidence: Mapping[str, Any] | None = None) -> str:
    """``value`` rounded and followed by its unit (a :class:`~riskaudit.checks.base.Kind`'s
    ``unit``), as a reader should see it."""
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
        return points(v)
    if unit == "ratio":
        return number(v, 2)
    if unit == "sd":
        return sd(v)
    if unit == "shift":
        kind = str((evidence or {}).get("effect_unit") or "").lower()
        if "sd" in kind or "wasserstein" in kind or "standard deviation" in kind:
            return sd(v)
        return f"{number(v, 2)} (shift score)"
    if unit == "p_value":
        return p_value(v)
    if unit == "flag":
        return "yes" if v >= 0.5 else "no"
    if unit == "obligation":
        return "full" if v >= 1 else ("partial" if v > 0 else "none")
    if unit:
        return count(v, unit)
    return number(v)


__all__ = ["number", "percent", "points", "p_value", "sd", "count", "interval", "with_unit"]
