"""``report.json``: the contract's schema 1 (CONTRACT.md), pretty-printed.

The ``digest`` inside is computed on the canonical form (sorted keys, no whitespace);
indentation here does not change it. Format changes:
- schema 1 (0.1.0): first version; adds ``risk_tier``, ``manifest`` and per-check
  ``description`` to the contract's fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

SCHEMA_PATH = Path(__file__).parent / "schema" / "report.schema.json"


def render(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
