"""Policies: which checkers run, with which options and levels, and who must approve.

A policy is YAML, validated on load. Every error names the file and the key's path, e.g.
``policies/mine.yaml: checks.fairness.thresholds.disparate_impcat: unknown finding kind``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml

from riskaudit.checks.base import Levels, OptionError
from riskaudit.errors import PolicyError
from riskaudit.result import Severity

if TYPE_CHECKING:  # pragma: no cover
    from riskaudit.registry import Registry

TIERS = ("low", "medium", "high")
OUTCOMES = ("pass", "warn", "fail")
TOP_KEYS = {
    "name": "a short name shown in the report",
    "description": "what this policy is for",
    "risk_tier": "low, medium or high: selects the approvals required",
    "allow_warn": "whether `riskaudit gate` may open on a warn outcome",
    "approval_ttl_days": "days an approval stays valid",
    "checks": "per checker: enabled, options, thresholds, severity",
    "approvals": "per risk tier and outcome: the roles that must approve and how many",
    "keys": "per role: Ed25519 public keys allowed to sign approvals",
    "extends": "a built-in policy name this one starts from",
    "max_runtime": "seconds a scan (scan_s) and each checker (check_s) may run; null = no limit",
}
CHECK_KEYS = {"enabled", "options", "thresholds", "severity", "max_runtime_s"}
DEFAULT_MAX_RUNTIME = {"scan_s": 3600, "check_s": 900}


def builtin_policy_dir() -> Path:
    """``riskaudit/_policies`` in an installed wheel; ``policies/`` in a source checkout."""
    here = Path(__file__).resolve().parent
    for cand in (here / "_policies", here.parent / "policies"):
        if cand.is_dir():
            return cand
    raise PolicyError("the built-in policies are missing from this installation of riskaudit")


def builtin_policy_names() -> list[str]:
    return sorted(p.stem for p in builtin_policy_dir().glob("*.yaml"))


@dataclass(frozen=True)
class Policy:
    name: str
    source: str
    """File path, or ``builtin:<name>``."""
    sha256: str
    data: Mapping[str, Any]

    @property
    def risk_tier(self) -> str:
        return self.data.get("risk_tier", "medium")

    @property
    def allow_warn(self) -> bool:
        return bool(self.data.get("allow_warn", True))

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.sha256, "source": self.source}

    def check_section(self, cid: str) -> Mapping[str, Any]:
        return (self.data.get("checks") or {}).get(cid) or {}

    def enabled(self, cid: str) -> bool:
        return bool(self.check_section(cid).get("enabled", True))

    def options(self, cid: str) -> dict[str, Any]:
        return dict(self.check_section(cid).get("options") or {})

    @property
    def scan_budget(self) -> float | None:
        """Seconds the whole scan may run (``max_runtime.scan_s``; None = no limit)."""
        return _seconds((self.data.get("max_runtime") or {}), "scan_s")

    def check_budget(self, cid: str) -> tuple[float | None, str]:
        """Seconds checker ``cid`` may run and the policy key that says so."""
        sec = self.check_section(cid)
        if "max_runtime_s" in sec:
            v = sec["max_runtime_s"]
            return (None if v is None else float(v)), f" (policy key checks.{cid}.max_runtime_s)"
        return _seconds((self.data.get("max_runtime") or {}), "check_s"), " (policy key max_runtime.check_s)"

    def levels(self, checker: type) -> dict[str, Levels]:
        sec = self.check_section(checker.id)
        th = sec.get("thresholds") or {}
        sev = sec.get("severity") or {}
        out = {}
        for kind, k in checker.kinds.items():
            t = th.get(kind) or {}
            out[kind] = Levels(direction=k.direction,
                               fail=t.get("fail", k.fail) if "fail" in t else k.fail,
                               warn=t.get("warn", k.warn) if "warn" in t else k.warn,
                               severity=Severity(sev.get(kind, k.severity)))
        return out

    def approvals_for(self, tier: str, outcome: str) -> list[dict[str, Any]]:
        outcome = "fail" if outcome in ("fail", "error") else outcome
        if outcome not in OUTCOMES:
            outcome = "pass"
        table = (self.data.get("approvals") or {}).get(tier) or {}
        return [{"role": r["role"], "count": int(r.get("count", 1))} for r in (table.get(outcome) or [])]

    def validate_checks(self, registry: "Registry") -> None:
        """Check every ``checks.<id>`` section against the installed checkers' declarations."""
        for cid, sec in (self.data.get("checks") or {}).items():
            where = f"{self.source}: checks.{cid}"
            if cid not in registry:
                if self.source.startswith("builtin:"):
                    continue  # built-in policies carry sections for every built-in checker
                raise PolicyError(f"{where}: unknown checker (installed: {', '.join(registry.ids)})")
            checker = registry[cid]
            try:
                checker.validate_options(sec.get("options") or {})
            except OptionError as exc:
                raise PolicyError(f"{where}.options.{exc.key}: {exc.reason}") from None
            for group in ("thresholds", "severity"):
                for kind in (sec.get(group) or {}):
                    if kind not in checker.kinds:
                        raise PolicyError(f"{where}.{group}.{kind}: unknown finding kind of "
                                          f"{cid} (known: {', '.join(checker.kinds)})")


def _seconds(section: Mapping[str, Any], key: str) -> float | None:
    v = section.get(key, DEFAULT_MAX_RUNTIME[key]) if isinstance(section, Mapping) else DEFAULT_MAX_RUNTIME[key]
    return None if v is None else float(v)


def load_policy(spec: Any = "default") -> Policy:
    """Load a built-in policy by name, a YAML file by path, or a mapping."""
    if isinstance(spec, Policy):
        return spec
    if isinstance(spec, Mapping):
        data = dict(spec)
        raw = yaml.safe_dump(data, sort_keys=True).encode()
        return _build(data, source="<in-memory policy>", raw=raw)
    text = str(spec)
    path = Path(text)
    if not path.exists() and "/" not in text and not text.endswith((".yaml", ".yml")):
        cand = builtin_policy_dir() / f"{text}.yaml"
        if not cand.exists():
            raise PolicyError(f"--policy {text!r}: no such built-in policy "
                              f"(built-in: {', '.join(builtin_policy_names())}) and no such file")
        return _load_file(cand, source=f"builtin:{text}")
    if not path.exists():
        raise PolicyError(f"--policy: file {text!r} does not exist")
    return _load_file(path, source=text)


def _load_file(path: Path, source: str) -> Policy:
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PolicyError(f"{source}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise PolicyError(f"{source}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise PolicyError(f"{source}: a policy must be a mapping of keys, got {type(data).__name__}")
    return _build(dict(data), source=source, raw=raw)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _build(data: dict[str, Any], source: str, raw: bytes) -> Policy:
    _validate(data, source)
    if "extends" in data:
        base = load_policy(data["extends"])
        data = _merge(base.data, {k: v for k, v in data.items() if k != "extends"})
        raw = base.sha256.encode() + raw
    name = data.get("name") or Path(source.replace("builtin:", "")).stem
    return Policy(name=str(name), source=source, sha256=hashlib.sha256(raw).hexdigest(), data=data)


def _validate(data: Mapping[str, Any], source: str) -> None:
    def err(path: str, msg: str):
        raise PolicyError(f"{source}: {path}: {msg}")

    for key in data:
        if key not in TOP_KEYS:
            err(str(key), f"unknown key (known: {', '.join(TOP_KEYS)})")
    if "extends" in data and (not isinstance(data["extends"], str) or data["extends"] not in builtin_policy_names()):
        err("extends", f"must name a built-in policy ({', '.join(builtin_policy_names())}), got {data['extends']!r}")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            err(key, f"must be a string, got {data[key]!r}")
    if "risk_tier" in data and data["risk_tier"] not in TIERS:
        err("risk_tier", f"must be one of {', '.join(TIERS)}, got {data['risk_tier']!r}")
    if "allow_warn" in data and not isinstance(data["allow_warn"], bool):
        err("allow_warn", f"must be true or false, got {data['allow_warn']!r}")
    if "approval_ttl_days" in data:
        v = data["approval_ttl_days"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            err("approval_ttl_days", f"must be a positive number, got {v!r}")
    def positive_or_null(path: str, v: Any) -> None:
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
            err(path, f"must be a positive number of seconds or null (no limit), got {v!r}")

    tb = data.get("max_runtime") or {}
    if not isinstance(tb, Mapping):
        err("max_runtime", "must be a mapping with scan_s and/or check_s")
    for k, v in tb.items():
        if k not in DEFAULT_MAX_RUNTIME:
            err(f"max_runtime.{k}", f"unknown key (known: {', '.join(DEFAULT_MAX_RUNTIME)})")
        positive_or_null(f"max_runtime.{k}", v)
    checks = data.get("checks") or {}
    if not isinstance(checks, Mapping):
        err("checks", "must be a mapping of checker id to settings")
    for cid, sec in checks.items():
        p = f"checks.{cid}"
        if sec is None:
            continue
        if not isinstance(sec, Mapping):
            err(p, "must be a mapping with enabled / options / thresholds / severity")
        for k in sec:
            if k not in CHECK_KEYS:
                err(f"{p}.{k}", f"unknown key (known: {', '.join(sorted(CHECK_KEYS))})")
        if "max_runtime_s" in sec:
            positive_or_null(f"{p}.max_runtime_s", sec["max_runtime_s"])
        if "enabled" in sec and not isinstance(sec["enabled"], bool):
            err(f"{p}.enabled", f"must be true or false, got {sec['enabled']!r}")
        if "options" in sec and not isinstance(sec["options"] or {}, Mapping):
            err(f"{p}.options", "must be a mapping")
        for kind, lv in (sec.get("thresholds") or {}).items():
            if not isinstance(lv, Mapping):
                err(f"{p}.thresholds.{kind}", "must be a mapping with fail and/or warn")
            for lk, lval in lv.items():
                if lk not in ("fail", "warn"):
                    err(f"{p}.thresholds.{kind}.{lk}", "unknown key (known: fail, warn)")
                if lval is not None and (isinstance(lval, bool) or not isinstance(lval, (int, float))):
                    err(f"{p}.thresholds.{kind}.{lk}", f"must be a number or null, got {lval!r}")
        for kind, sv in (sec.get("severity") or {}).items():
            if sv not in [s.value for s in Severity]:
                err(f"{p}.severity.{kind}", f"must be one of low, medium, high, critical, got {sv!r}")
    approvals = data.get("approvals") or {}
    if not isinstance(approvals, Mapping):
        err("approvals", "must be a mapping of risk tier to outcomes")
    for tier, table in approvals.items():
        if tier not in TIERS:
            err(f"approvals.{tier}", f"unknown risk tier (known: {', '.join(TIERS)})")
        if not isinstance(table, Mapping):
            err(f"approvals.{tier}", "must be a mapping of outcome (pass, warn, fail) to roles")
        for outcome, roles in table.items():
            if outcome not in OUTCOMES:
                err(f"approvals.{tier}.{outcome}", f"unknown outcome (known: {', '.join(OUTCOMES)})")
            if not isinstance(roles, list):
                err(f"approvals.{tier}.{outcome}", "must be a list of {role, count}")
            for i, r in enumerate(roles):
                rp = f"approvals.{tier}.{outcome}[{i}]"
                if not isinstance(r, Mapping) or not isinstance(r.get("role"), str) or not r["role"]:
                    err(rp, "must be a mapping with a non-empty 'role'")
                extra = set(r) - {"role", "count"}
                if extra:
                    err(f"{rp}.{sorted(extra)[0]}", "unknown key (known: role, count)")
                c = r.get("count", 1)
                if isinstance(c, bool) or not isinstance(c, int) or c < 1:
                    err(f"{rp}.count", f"must be a positive integer, got {c!r}")
    keys = data.get("keys") or {}
    if not isinstance(keys, Mapping) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in keys.values()):
        err("keys", "must map each role to a list of public keys (strings)")
