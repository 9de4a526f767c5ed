"""The trust policy: what the *deploying* side requires before ``riskaudit gate`` opens.

A report, its policy and its project file come from the audited side and may be
attacker-controlled; the trust policy lives in the repository that deploys and is the
only source of the gate's requirements. Nothing a report says can lower them::

    # trust.yaml
    scanners:                       # who may produce reports: name -> public key
      ci: "ed25519:…"               # the CI's scanner key (`riskaudit keygen`; private half in CI secrets)
    approvers:                      # role -> {name: public key}; a key is the approver's identity
      model-owner: {Olivia: "ed25519:…"}
      compliance:  {Carl: "ed25519:…", Cleo: "ed25519:…"}
    risk_tier: medium               # the lowest tier this deployment is judged at (a report can only raise it)
    approvals:                      # tier -> outcome -> roles and counts (fail never opens)
      low:    {pass: [{role: model-owner, count: 1}]}
      medium: {pass: [{role: model-owner, count: 1}, {role: compliance, count: 1}]}
      high:   {pass: [{role: model-owner, count: 1}, {role: compliance, count: 2}]}
    allow_warn: false               # may a warn outcome deploy (with the tier's `warn` approvals)?
    approval_ttl_days: 90
    require: {model_hash: true, data_hash: false}   # the gate must be given --model / --data
    audit_policies: [default, strict]   # optional: the audit policies a report may use (names or sha256)
    required_checks: [fairness]         # optional: checkers that must have run (not skipped)
    ledger: ledger.sqlite3              # optional: consult this audit ledger (relative to this file)

Unknown keys, wrong types and malformed keys are input errors naming the file and key.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping


from riskaudit import untrusted
from riskaudit.errors import InputError

KEY_PREFIX = "ed25519:"
TIERS = ("low", "medium", "high")
OUTCOMES = ("pass", "warn")
TRUST_KEYS = ("scanners", "approvers", "risk_tier", "approvals", "allow_warn", "approval_ttl_days",
              "require", "audit_policies", "required_checks", "ledger")
REQUIRE_KEYS = ("model_hash", "data_hash")


def normalize_key(text: Any) -> str:
    """``ed25519:<base64>`` with surrounding blanks removed (the prefix is optional on input)."""
    return KEY_PREFIX + str(text).strip().removeprefix(KEY_PREFIX)


def key_problem(text: Any) -> str | None:
    """Why ``text`` is not an Ed25519 public key line, or None."""
    if not isinstance(text, str):
        return "must be a string like \"ed25519:<base64>\" (from `riskaudit keygen`)"
    try:
        raw = base64.b64decode(normalize_key(text).removeprefix(KEY_PREFIX), validate=True)
    except ValueError:
        return "is not base64 after 'ed25519:'"
    if len(raw) != 32:
        return f"decodes to {len(raw)} bytes, not the 32 of an Ed25519 public key"
    return None


def short_key(key: str) -> str:
    """A key as people read it: its first 12 base64 characters."""
    return normalize_key(key)[:len(KEY_PREFIX) + 12] + "…"


@dataclass(frozen=True)
class TrustPolicy:
    """The deployer's requirements (see the module docstring for the file format)."""

    path: Path | None
    """The file it was read from (None for the insecure local stand-in)."""
    scanners: Mapping[str, str]
    """public key -> scanner name."""
    approvers: Mapping[str, Mapping[str, str]]
    """role -> {public key -> approver name}."""
    approvals: Mapping[str, Mapping[str, tuple[tuple[str, int], ...]]]
    """tier -> outcome -> ((role, count), ...)."""
    risk_tier: str = "low"
    allow_warn: bool = False
    approval_ttl_days: float | None = 90.0
    require_model_hash: bool = False
    require_data_hash: bool = False
    audit_policies: tuple[str, ...] = ()
    """Allowed audit-policy sha256 values (empty: any)."""
    required_checks: tuple[str, ...] = ()
    ledger: Path | None = None
    sha256: str = ""
    insecure: bool = False
    """True only for ``--insecure-no-trust-policy``: requirements copied from the report."""

    def requirements(self, tier: str, outcome: str) -> tuple[tuple[str, int], ...] | None:
        """The roles and counts for ``tier``/``outcome``; None when the policy defines none."""
        return (self.approvals.get(tier) or {}).get(outcome)

    def effective_tier(self, report_tier: Any) -> str:
        """The higher of this policy's tier and the report's (a report can raise, never lower)."""
        rank = {t: i for i, t in enumerate(TIERS)}
        report_rank = rank.get(report_tier, len(TIERS) - 1)  # an unknown tier is judged as high
        return TIERS[max(rank[self.risk_tier], report_rank)]


def _fail(path: Path, key: str, what: str) -> InputError:
    return InputError(f"--trust: {str(path)!r}: {key} {what}")


def _keys_map(path: Path, where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise _fail(path, where, "must be a mapping of name: \"ed25519:<public key>\"")
    out: dict[str, str] = {}
    for name, key in value.items():
        why = key_problem(key)
        if why:
            raise _fail(path, f"{where}.{name}", why)
        norm = normalize_key(key)
        if norm in out:
            raise _fail(path, f"{where}.{name}", f"repeats the key of {out[norm]!r}; one key is one identity")
        out[norm] = str(name)
    return out


def _builtin_policy_sha(name: str) -> str | None:
    """The sha256 a scan records for the built-in policy ``name`` (None: not a built-in name).
    Only names: a path here would be read relative to wherever the gate runs."""
    from riskaudit.policy import builtin_policy_dir, load_policy

    if not name.replace("-", "").replace("_", "").isalnum() or not (builtin_policy_dir() / f"{name}.yaml").is_file():
        return None
    return load_policy(str(builtin_policy_dir() / f"{name}.yaml")).sha256


def load_trust_policy(path: str | os.PathLike) -> TrustPolicy:
    """Read and validate a trust policy; :class:`InputError` names the file and the key."""
    p = Path(path)
    raw, data = _read_trust_file(p)
    unknown = [k for k in data if k not in TRUST_KEYS]
    if unknown:
        raise _fail(p, repr(unknown[0]), f"is not a trust policy key (known: {', '.join(TRUST_KEYS)})")
    for needed in ("scanners", "approvers", "approvals"):
        if needed not in data:
            raise _fail(p, needed, "is missing: the trust policy must say which scanners and approvers "
                                   "it trusts and which approvals it requires")
    scanners = _keys_map(p, "scanners", data["scanners"])
    if not isinstance(data["approvers"], Mapping):
        raise _fail(p, "approvers", "must map each role to {name: public key}")
    approvers = {str(role): _keys_map(p, f"approvers.{role}", keys) for role, keys in data["approvers"].items()}
    approvals = _approvals(p, data["approvals"], approvers)
    tier = data.get("risk_tier", "low")
    if tier not in TIERS:
        raise _fail(p, "risk_tier", f"must be one of {', '.join(TIERS)}, got {tier!r}")
    allow_warn = data.get("allow_warn", False)
    if not isinstance(allow_warn, bool):
        raise _fail(p, "allow_warn", f"must be true or false, got {allow_warn!r}")
    ttl = data.get("approval_ttl_days", 90)
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0):
        raise _fail(p, "approval_ttl_days", f"must be a positive number of days (or null: no expiry), got {ttl!r}")
    require = data.get("require") or {}
    if not isinstance(require, Mapping) or any(k not in REQUIRE_KEYS or not isinstance(v, bool)
                                               for k, v in require.items()):
        raise _fail(p, "require", f"must map {' / '.join(REQUIRE_KEYS)} to true or false")
    policies = _audit_policies(p, data.get("audit_policies") or [])
    checks = data.get("required_checks") or []
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise _fail(p, "required_checks", "must be a list of checker ids")
    ledger = data.get("ledger")
    if ledger is not None and not isinstance(ledger, str):
        raise _fail(p, "ledger", "must be a path")
    return TrustPolicy(
        path=p.resolve(), scanners=scanners, approvers=approvers, approvals=approvals, risk_tier=tier,
        allow_warn=allow_warn, approval_ttl_days=None if ttl is None else float(ttl),
        require_model_hash=bool(require.get("model_hash", False)),
        require_data_hash=bool(require.get("data_hash", False)),
        audit_policies=tuple(policies), required_checks=tuple(checks),
        ledger=None if ledger is None else (p.resolve().parent / Path(ledger).expanduser()),
        sha256=hashlib.sha256(raw).hexdigest())


def _read_trust_file(p: Path) -> tuple[bytes, Mapping[str, Any]]:
    """The file's bytes (hashed into the decision) and its YAML mapping."""
    if not p.is_file():
        raise InputError(f"--trust: file {str(p)!r} does not exist" if not p.exists()
                         else f"--trust: {str(p)!r} is a folder; give the trust policy file")
    raw = p.read_bytes()
    try:
        data = untrusted.read_yaml(raw)
    except untrusted.YamlError as exc:
        why = "is not UTF-8 text" if exc.problem is None else f"is not valid YAML{exc.where}: {exc.problem}"
        raise InputError(f"--trust: {str(p)!r} {why}") from None
    if not isinstance(data, Mapping):
        raise InputError(f"--trust: {str(p)!r} must be a mapping of keys ({', '.join(TRUST_KEYS)})")
    return raw, data


def _approvals(p: Path, value: Any, approvers: Mapping[str, Mapping[str, Any]]
               ) -> dict[str, dict[str, tuple[tuple[str, int], ...]]]:
    """``approvals``: tier -> outcome -> ((role, count), ...), each role one with enough approver keys."""
    approvals: dict[str, dict[str, tuple[tuple[str, int], ...]]] = {}
    if not isinstance(value, Mapping):
        raise _fail(p, "approvals", f"must map tiers ({', '.join(TIERS)}) to outcomes ({', '.join(OUTCOMES)})")
    for tier, per in value.items():
        if tier not in TIERS:
            raise _fail(p, f"approvals.{tier}", f"is not a risk tier ({', '.join(TIERS)})")
        if not isinstance(per, Mapping):
            raise _fail(p, f"approvals.{tier}", f"must map outcomes ({', '.join(OUTCOMES)}) to role lists")
        approvals[tier] = {}
        for outcome, reqs in per.items():
            where = f"approvals.{tier}.{outcome}"
            if outcome not in OUTCOMES:
                raise _fail(p, where, "is not an outcome that can deploy (pass, warn; fail never opens)")
            if not isinstance(reqs, list):
                raise _fail(p, where, "must be a list of {role: NAME, count: N} ([] for none)")
            approvals[tier][outcome] = tuple(_requirement(p, f"{where}[{i}]", req, approvers)
                                             for i, req in enumerate(reqs))
    return approvals


def _requirement(p: Path, where: str, req: Any, approvers: Mapping[str, Mapping[str, Any]]) -> tuple[str, int]:
    """One ``{role: NAME, count: N}`` of ``approvals`` as (role, count)."""
    if not isinstance(req, Mapping) or not isinstance(req.get("role"), str):
        raise _fail(p, where, "must be {role: NAME, count: N}")
    count = req.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise _fail(p, f"{where}.count", f"must be a whole number of at least 1, got {count!r}")
    if req["role"] not in approvers:
        raise _fail(p, f"{where}.role", f"{req['role']!r} has no approver keys under approvers")
    if count > len(approvers[req["role"]]):
        raise _fail(p, f"{where}.count", f"asks for {count} approvers of role {req['role']!r} "
                    f"but approvers lists only {len(approvers[req['role']])}")
    return req["role"], count


def _audit_policies(p: Path, items: Any) -> list[str]:
    """``audit_policies``: built-in policy names or sha256 digests, as hex digests."""
    policies = []
    for i, item in enumerate(items):
        text = str(item)
        sha = text.removeprefix("sha256:").lower()
        if len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
            policies.append(sha)
            continue
        builtin = _builtin_policy_sha(text)
        if builtin is None:
            raise _fail(p, f"audit_policies[{i}]", f"{text!r} is neither a built-in policy name nor a sha256")
        policies.append(builtin.removeprefix("sha256:"))
    return policies


def insecure_stand_in(report: Mapping[str, Any]) -> TrustPolicy:
    """``--insecure-no-trust-policy``: the report's own requirements, any scanner, any signer.

    For local experiments only: whoever can edit the report can open such a gate."""
    pol = (report.get("manifest") or {}).get("approval_policy") or {}
    tier, status = report.get("risk_tier"), report.get("status")
    tier = tier if isinstance(tier, str) and tier in TIERS else "high"
    status = status if isinstance(status, str) and status in OUTCOMES else "pass"
    reqs = tuple((str(r.get("role")), int(r.get("count", 1))) for r in report.get("approvals_required") or []
                 if isinstance(r, Mapping))
    ttl = pol.get("approval_ttl_days", 90)
    return TrustPolicy(path=None, scanners={}, approvers={}, approvals={tier: {status: reqs}},
                       risk_tier=tier, allow_warn=pol.get("allow_warn") is True,
                       approval_ttl_days=float(ttl) if isinstance(ttl, (int, float)) else 90.0,
                       insecure=True)


__all__ = ["TrustPolicy", "load_trust_policy", "insecure_stand_in", "normalize_key", "key_problem",
           "short_key", "TIERS"]
