"""Policies: which checkers run, with which options and levels, and who must approve.

A policy is YAML, validated on load against the JSON Schema of :mod:`riskaudit.schema` (the
checkers' own sections once the installed checkers are known). Every error names the file
and the key's path, e.g. ``policies/mine.yaml: checks.fairness.thresholds.disparate_impcat:
unknown finding kind``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from riskaudit._lazy import lazy_module


from riskaudit.checks.base import Checker, Levels, OptionError
from riskaudit.errors import PolicyError
from riskaudit.result import Severity

if TYPE_CHECKING:  # pragma: no cover
    import yaml

    from riskaudit import untrusted

    from riskaudit.registry import Registry
else:
    yaml = lazy_module("yaml")  # parsed only when a policy is loaded (not for --help)
    untrusted = lazy_module("riskaudit.untrusted")

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
    "regulations": "frameworks and their provisions, and per finding kind the provisions it gives evidence for",
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
    packaged: bool = False
    """A built-in policy, shipped with riskaudit (not a file of the user's, whatever its name,
    nor one that extends a built-in): the test suite validates it against the schema of every
    built-in checker, so a scan does not again (nor imports jsonschema for it)."""

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

    def levels(self, checker: type[Checker]) -> dict[str, Levels]:
        sec = self.check_section(checker.id)
        th = sec.get("thresholds") or {}
        sev = sec.get("severity") or {}
        out = {}
        for kind, k in checker.kinds.items():
            t = th.get(kind) or {}
            out[kind] = Levels(direction=k.direction,
                               fail=t.get("fail", k.fail) if "fail" in t else k.fail,
                               warn=t.get("warn", k.warn) if "warn" in t else k.warn,
                               severity=Severity(sev.get(kind, k.severity)), unit=k.unit)
        return out

    def threshold_sources(self, checker: type[Checker]) -> dict[str, dict[str, dict[str, Any]]]:
        """Each graded kind's levels and where each comes from, as a reader should see it:
        ``{kind: {"fail": {"value": 0.25, "source": "policy “default” key
        checks.drift.thresholds.data_drift.fail = 0.25"}}}`` or ``"checker default 0.25"``."""
        from riskaudit import fmt

        th = self.check_section(checker.id).get("thresholds") or {}
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for kind, lv in self.levels(checker).items():
            levels = {}
            for level, value in (("fail", lv.fail), ("warn", lv.warn)):
                if value is None:
                    continue
                plain = lv.unit in ("shift", "flag", "obligation", "p_value")  # the level as written
                shown = fmt.number(value) if plain else fmt.with_unit(value, lv.unit)
                source = (f"policy “{self.name}” key checks.{checker.id}.thresholds.{kind}.{level} = {shown}"
                          if level in (th.get(kind) or {}) else f"checker default {shown}")
                levels[level] = {"value": value, "source": source}
            if levels:
                out[kind] = levels
        return out

    def approvals_for(self, tier: str, outcome: str) -> list[dict[str, Any]]:
        outcome = "fail" if outcome in ("fail", "error") else outcome
        if outcome not in OUTCOMES:
            outcome = "pass"
        table = (self.data.get("approvals") or {}).get(tier) or {}
        return [{"role": r["role"], "count": int(r.get("count", 1))} for r in (table.get(outcome) or [])]

    def validate_checks(self, registry: Registry) -> None:
        """Check every ``checks.<id>`` section against the installed checkers' declarations
        (their options, finding kinds and severities, in the policy JSON Schema)."""
        from riskaudit.schema import first_error, policy_schema

        if self.packaged:
            return  # shipped with riskaudit: tests/test_schema.py validates it with every checker
        for cid, sec in (self.data.get("checks") or {}).items():
            where = f"{self.source}: checks.{cid}"
            if cid not in registry:
                raise PolicyError(f"{where}: unknown checker (installed: {', '.join(registry.ids)})")
            checker = registry[cid]
            err = first_error({"checks": {cid: sec}}, policy_schema({cid: checker}))
            if err is not None:
                raise PolicyError(f"{self.source}: {err[0]}: {err[1]}")
            try:  # what a schema cannot say (an expectation's arguments, an exception's dates)
                checker.validate_options(sec.get("options") or {})
            except OptionError as exc:
                raise PolicyError(f"{where}.options.{exc.path}: {exc.reason}") from None


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
        return _load_file(cand, source=f"builtin:{text}", packaged=True)
    if not path.exists():
        raise PolicyError(f"--policy: file {text!r} does not exist")
    return _load_file(path, source=text)


def _load_file(path: Path, source: str, *, packaged: bool = False) -> Policy:
    try:
        raw = path.read_bytes()
        data = untrusted.read_yaml(raw, packaged=packaged)  # libyaml's safe loader when PyYAML has it
    except untrusted.YamlError as exc:
        raise PolicyError(f"{source}: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise PolicyError(f"{source}: a policy must be a mapping of keys, got {type(data).__name__}")
    return _build(dict(data), source=source, raw=raw, packaged=packaged)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _build(data: dict[str, Any], source: str, raw: bytes, *, packaged: bool = False) -> Policy:
    _validate(data, source, packaged=packaged)
    if "extends" in data:
        base = load_policy(data["extends"])
        data = _merge(base.data, {k: v for k, v in data.items() if k != "extends"})
        raw = base.sha256.encode() + raw
    name = data.get("name") or Path(source.replace("builtin:", "")).stem
    return Policy(name=str(name), source=source, sha256=hashlib.sha256(raw).hexdigest(), data=data,
                  packaged=packaged)


def _validate(data: Mapping[str, Any], source: str, *, packaged: bool = False) -> None:
    """Against the policy JSON Schema (:mod:`riskaudit.schema`); the first error names the key.
    A built-in policy (``packaged``) skips the schema: the test suite validates every one of
    them with it."""
    if not packaged:
        from riskaudit.schema import first_error, policy_schema

        err = first_error(data, policy_schema(builtin_names=builtin_policy_names()))
        if err is not None:
            key, msg = err
            raise PolicyError(f"{source}: {key}: {msg}" if key else f"{source}: {msg}")
    _check_regulation_references(data.get("regulations") or {}, source)


def _check_regulation_references(reg: Mapping[str, Any], source: str) -> None:
    """Every provision a finding kind names must be declared under its framework (what a
    schema cannot say)."""
    frameworks = reg.get("frameworks") or {}
    for kind, targets in (reg.get("kinds") or {}).items():
        for fid, provs in targets.items():
            known = (frameworks.get(fid) or {}).get("provisions")
            if known is None:
                raise PolicyError(f"{source}: regulations.kinds.{kind}.{fid}: unknown framework "
                                  f"(known: {', '.join(map(str, frameworks))})")
            if any(p not in known for p in provs):
                raise PolicyError(f"{source}: regulations.kinds.{kind}.{fid}: must list provisions declared "
                                  f"under regulations.frameworks.{fid}.provisions, got {provs!r}")
