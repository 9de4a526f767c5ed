"""Masking of values that may be personal data. Raw PII never reaches a report or a log.

Checkers that show example values from a dataset pass them through :func:`mask_value`
when the column is marked as personal data (``ctx.shared["pii_columns"]``, filled by the
pii checker, which runs first) and through :func:`safe_example` always.
"""

from __future__ import annotations

from typing import Any, Mapping

MAX_EXAMPLE_CHARS = 60


def mask_value(value: Any, entity: str | None = None) -> str:
    """``'Megan Smith'`` -> ``'M**********'``; emails keep only the first character of each part.

    The length is capped so the mask does not reveal long values' length exactly.
    """
    text = "" if value is None else str(value)
    if not text:
        return text
    if entity == "EMAIL_ADDRESS" or ("@" in text and " " not in text):
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain[:1]}***"
    stars = "*" * min(max(len(text) - 1, 3), 10)
    tag = f" [{entity}]" if entity else ""
    return f"{text[:1]}{stars}{tag}"


def safe_example(value: Any, column: str | None = None,
                 pii_columns: Mapping[str, str] | None = None) -> Any:
    """An example value fit for a report: masked if its column holds PII, shortened if long."""
    if pii_columns and column is not None and column in pii_columns:
        return mask_value(value, pii_columns[column])
    if isinstance(value, str) and len(value) > MAX_EXAMPLE_CHARS:
        return value[:MAX_EXAMPLE_CHARS] + "…"
    return value
