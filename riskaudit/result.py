"""Results are data: findings, check results and the report are frozen dataclasses.

Nothing here prints or decides exit codes beyond :pyattr:`Report.exit_code`, which the
CLI passes straight to ``sys.exit``.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping


SCHEMA_VERSION = "1"


class Status(str, enum.Enum):
    """Outcome of a finding, a check or a whole report."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]

    @staticmethod
    def worst(statuses, default: Status | None = None) -> Status:
        default = Status.PASS if default is None else default
        items = list(statuses)
        return max(items, key=lambda s: s.rank) if items else default


_STATUS_RANK = {Status.SKIPPED: 0, Status.PASS: 1, Status.WARN: 2, Status.FAIL: 3, Status.ERROR: 4}


class Severity(str, enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ["low", "medium", "high", "critical"].index(self.value)


class _NoNumpy:
    """Stands for numpy in :func:`jsonable` while numpy is not imported (matches nothing)."""

    class integer: ...  # noqa: E701
    class floating: ...  # noqa: E701
    class bool_: ...  # noqa: E701
    class ndarray: ...  # noqa: E701


def jsonable(value: Any) -> Any:
    """Convert numpy / pandas scalars, tuples, sets and non-finite floats to JSON-safe values.

    Non-finite floats become ``None`` (JSON has no NaN), so the canonical form is stable.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    # numpy is looked up, not imported: no numpy value exists before numpy is imported
    np: Any = sys.modules.get("numpy") or _NoNumpy
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if isinstance(value, (set, frozenset)):
            items = sorted(items, key=str)
        return [jsonable(v) for v in items]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        try:
            return jsonable(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)



def _read_only(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise TypeError(f"a finding's {type(self).__name__} is read-only: build a new finding "
                    "with dataclasses.replace")


class FrozenDict(dict):
    """A dict that refuses changes (a finding's evidence): equal to, serialized and read like
    the dict it copies."""

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> Any:
        return type(self), (dict(self),)


class FrozenList(list):
    """A list that refuses changes (rows of a finding's table): equal to, serialized and read
    like the list it copies."""

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = clear = sort = reverse = _read_only

    def __reduce__(self) -> Any:
        return type(self), (list(self),)


def frozen(value: Any) -> Any:
    """A read-only deep copy of ``value``: dicts and other mappings become :class:`FrozenDict`
    (key order kept), lists :class:`FrozenList`, tuples tuples, sets frozensets, numpy arrays
    read-only copies; other values are kept. Equal to ``value``, and :func:`jsonable` gives it
    the same JSON."""
    if isinstance(value, Mapping):
        return FrozenDict({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(frozen(v) for v in value)
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(frozen(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(frozen(v) for v in value)
    np: Any = sys.modules.get("numpy") or _NoNumpy
    if isinstance(value, np.ndarray):
        value = value.copy()
        value.setflags(write=False)
    return value


CLOSED_BY_STATUS: dict[str, str] = {
    "fail": "the report's status is fail: at least one finding failed the policy",
    "error": "the report's status is error: at least one check could not complete, so the audit is incomplete",
}
"""Why a report's status alone keeps every deployment gate closed, whatever is signed (the
gate, the approve command and the HTML approval block all say it with these words)."""

@dataclass(frozen=True)
class Finding:
    """One observation of a checker, graded against the policy.

    Immutable once made: ``value``, ``threshold`` and ``evidence`` are stored as read-only deep
    copies (:func:`frozen`), so a change is a new finding (``dataclasses.replace``)."""

    id: str
    """``<checker>.<kind>``, e.g. ``fairness.disparate_impact``."""
    status: Status
    """``pass``, ``warn`` or ``fail``."""
    severity: Severity
    """How bad a failure of this kind is, from the policy."""
    subject: str
    """What the finding is about: a column, feature, group, attack, component, batch size."""
    message: str
    """One sentence with the figure and the policy's threshold."""
    value: Any = None
    """The measured figure (a number, or None when the finding is qualitative)."""
    threshold: Any = None
    """The policy level the value was compared with (None when not graded on a number)."""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """Supporting data: tables (lists of row dicts), example row indices, chart specs."""

    def __post_init__(self) -> None:
        for name in ("value", "threshold", "evidence"):
            object.__setattr__(self, name, frozen(getattr(self, name)))

    @property
    def kind(self) -> str:
        return self.id.split(".", 1)[1] if "." in self.id else self.id

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "status": self.status.value,
            "severity": self.severity.value,
            "subject": self.subject,
            "message": self.message,
            "value": jsonable(self.value),
            "threshold": jsonable(self.threshold),
            "evidence": jsonable(self.evidence),
        }


@dataclass(frozen=True)
class CheckResult:
    """What one checker produced in one scan."""

    id: str
    status: Status
    summary: str
    """One sentence a compliance officer understands; for a skip or an error, the reason."""
    duration_s: float = 0.0
    findings: tuple[Finding, ...] = ()
    metrics: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    """The checker's one-line description (for the report)."""

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "status": self.status.value,
            "summary": self.summary,
            "description": self.description,
            "duration_s": round(float(self.duration_s), 3),
            "findings": [f.to_dict() for f in self.findings],
            "metrics": jsonable(self.metrics),
        }


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the form the digest is computed on."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def compute_digest(report_dict: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the report without its ``digest`` field."""
    body = {k: v for k, v in report_dict.items() if k != "digest"}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def verify_digest(report_dict: Mapping[str, Any]) -> bool:
    return report_dict.get("digest") == compute_digest(report_dict)


@dataclass(frozen=True)
class Report:
    """The audit of one model and its data under one policy (CONTRACT.md, schema 1)."""

    created_at: str
    status: Status
    subject: Mapping[str, Any]
    checks: tuple[CheckResult, ...]
    approvals_required: tuple[Mapping[str, Any], ...]
    manifest: Mapping[str, Any]
    """Reproducibility: seed, versions, policy, command line, device (an addition to schema 1)."""
    risk_tier: str = "medium"
    tool: Mapping[str, str] = field(default_factory=dict)
    changes: Mapping[str, Any] | None = None
    """What changed since the last approved audit of this model (or a baseline report), from
    :func:`riskaudit.reports.changes.compare`; absent when there is nothing to compare with."""

    @property
    def exit_code(self) -> int:
        """0 when nothing is at ``fail`` and no checker ended in ``error``; otherwise 1."""
        return 1 if self.status in (Status.FAIL, Status.ERROR) else 0

    def check(self, check_id: str) -> CheckResult:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.checks for f in c.findings]

    def to_dict(self) -> dict:
        body = {
            "schema_version": SCHEMA_VERSION,
            "tool": dict(self.tool),
            "created_at": self.created_at,
            "status": self.status.value,
            "risk_tier": self.risk_tier,
            "subject": jsonable(self.subject),
            "checks": [c.to_dict() for c in self.checks],
            "approvals_required": jsonable(list(self.approvals_required)),
            "manifest": jsonable(self.manifest),
        }
        if self.changes is not None:
            body["changes"] = jsonable(self.changes)
        body["digest"] = compute_digest(body)
        return body

    @property
    def digest(self) -> str:
        return self.to_dict()["digest"]


__all__ = [
    "Status", "Severity", "Finding", "CheckResult", "Report", "canonical_json",
    "compute_digest", "verify_digest", "jsonable", "SCHEMA_VERSION",
]
