"""``riskaudit gate``: may this audited model be deployed?

The gate opens only when every one of these holds (each failure is one reason):

1. the report's ``digest`` verifies (the file is byte-for-byte what the scan wrote, up to
   JSON formatting);
2. its status passes the policy: ``pass``, or ``warn`` when the policy's ``allow_warn`` is
   true (read from ``manifest.approval_policy``, which the digest binds);
3. for every role in ``approvals_required``, at least ``count`` different approvers have a
   record that counts: about this digest, from a role the report requires, signed by a key
   the policy lists for that role (when it lists any; a signature that does not verify never
   counts), not older than ``approval_ttl_days``, not dated in the future, and not followed
   by a rejection (a valid rejection voids every approval recorded before it);
4. when given, the model file and the data file hash to what the report audited.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from riskaudit.approvals import (
    CorruptReport, load_records, load_report, normalize_key, parse_time, report_file, signature_state,
)
from riskaudit.data import IMAGE_SUFFIXES, sha256_file, sha256_tree
from riskaudit.errors import InputError
from riskaudit.result import compute_digest

CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a record's time may lie (clocks differ) before it is refused."""


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict."""

    open: bool
    """True only when there is no reason to keep it closed."""
    reasons: list[str] = field(default_factory=list)
    """Why it is closed, one sentence each (empty when open)."""
    notes: list[str] = field(default_factory=list)
    """Records that did not count although the gate opened (informational)."""

    @property
    def exit_code(self) -> int:
        return 0 if self.open else 1


def _approval_policy(report: Mapping[str, Any]) -> Mapping[str, Any]:
    pol = (report.get("manifest") or {}).get("approval_policy")
    return pol if isinstance(pol, Mapping) else {}


def status_reasons(report: Mapping[str, Any]) -> list[str]:
    """Why the report's status alone keeps the gate closed (empty: it passes)."""
    status = report.get("status")
    if status == "pass":
        return []
    if status == "warn":
        allow = _approval_policy(report).get("allow_warn")
        if allow is True:
            return []
        if allow is None:
            return ["the report's status is warn and the report does not record whether its policy "
                    "allows deploying on warn (manifest.approval_policy.allow_warn)"]
        return ["the report's status is warn and its policy does not allow deploying on warn "
                "(allow_warn: false)"]
    if status == "fail":
        return ["the report's status is fail: at least one finding failed the policy"]
    if status == "error":
        return ["the report's status is error: at least one check could not complete, so the "
                "audit is incomplete"]
    return [f"the report's status {status!r} is not one of pass, warn, fail, error"]


def _who(rec: Mapping[str, Any]) -> str:
    noun = "rejection" if rec.get("decision") == "reject" else "approval"
    return f"{noun} by {rec.get('approver')!r} as {rec.get('role')!r} at {rec.get('created_at')}"


def _record_problem(rec: Mapping[str, Any], roles: Sequence[str], keys: Mapping[str, Any],
                    ttl_days: float | None, now: datetime, check_expiry: bool) -> str | None:
    role = rec.get("role")
    if role not in roles:
        allowed = ", ".join(roles) if roles else "none"
        return f"role {role!r} is not one this report's policy allows (roles required: {allowed})"
    state = signature_state(rec)
    if state == "invalid":
        return "its signature does not verify (the record was forged or altered after signing)"
    listed = {normalize_key(k) for k in (keys.get(role) or [])}
    if listed:
        if state == "unsigned":
            return (f"it is unsigned, and the policy counts only records signed by a key it lists "
                    f"for role {role!r}")
        if normalize_key(rec.get("public_key", "")) not in listed:
            return f"it is signed with a key the policy does not list for role {role!r}"
    t = parse_time(rec.get("created_at"))
    if t is None:
        return "its time does not parse"
    if t > now + CLOCK_SKEW:
        return f"it is dated in the future ({rec.get('created_at')})"
    if check_expiry and rec.get("decision") == "approve" and ttl_days is not None:
        expires = t + timedelta(days=float(ttl_days))
        if expires <= now:
            return (f"it expired on {expires.strftime('%Y-%m-%d %H:%M UTC')} "
                    f"(approval_ttl_days: {ttl_days:g})")
    return None


def evaluate_records(report: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                     now: datetime | None = None, check_expiry: bool = True) -> list[dict[str, Any]]:
    """Each record (for this report's digest) with ``valid`` (it counts) and ``why`` (if not)."""
    now = now or datetime.now(timezone.utc)
    roles = [r.get("role") for r in report.get("approvals_required") or []]
    pol = _approval_policy(report)
    keys = pol.get("keys") or {}
    ttl = pol.get("approval_ttl_days")
    out = []
    for rec in records:
        if rec.get("report_digest") != report.get("digest"):
            continue
        why = _record_problem(rec, roles, keys if isinstance(keys, Mapping) else {}, ttl, now, check_expiry)
        out.append({**rec, "valid": why is None, "why": why or ""})
    rejections = [r for r in out if r["valid"] and r["decision"] == "reject"]
    if rejections:
        last = max(rejections, key=lambda r: parse_time(r["created_at"]))
        t_rej = parse_time(last["created_at"])
        for r in out:
            if r["valid"] and r["decision"] == "approve" and parse_time(r["created_at"]) <= t_rej:
                r["valid"] = False
                r["why"] = (f"the rejection by {last['approver']!r} as {last['role']!r} at "
                            f"{last['created_at']} came after it")
    return out


annotate_records = evaluate_records  # what the HTML re-render passes to the renderer


def approval_reasons(report: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                     now: datetime | None = None, check_expiry: bool = True) -> tuple[list[str], list[str]]:
    """(blocking reasons, lines about records that did not count)."""
    evaluated = evaluate_records(report, records, now=now, check_expiry=check_expiry)
    blocking: list[str] = []
    for req in report.get("approvals_required") or []:
        role, need = req.get("role"), int(req.get("count", 1))
        approvers = {r["approver"] for r in evaluated
                     if r["valid"] and r["decision"] == "approve" and r["role"] == role}
        if len(approvers) < need:
            blocking.append(f"role {role!r}: {len(approvers)} of {need} required approval(s) that count "
                            f"(record one with: riskaudit approve REPORT --role {role} --approver NAME)")
    if blocking:
        rejections = [r for r in evaluated if r["valid"] and r["decision"] == "reject"]
        for r in rejections:
            comment = f": {r['comment']}" if r.get("comment") else ""
            blocking.insert(0, f"rejected by {r['approver']!r} as {r['role']!r} at {r['created_at']}{comment}")
    ignored = [f"the {_who(r)} does not count: {r['why']}" for r in evaluated if not r["valid"]]
    return blocking, ignored


def dataset_hash(path: Path) -> str:
    """The SHA-256 riskaudit records for a dataset file or image folder."""
    if path.is_dir():
        classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        files = [f for c in classes for f in sorted(c.rglob("*"))
                 if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
        return sha256_tree(path, files)
    return sha256_file(path)


def file_reasons(report: Mapping[str, Any], model_path: str | os.PathLike | None = None,
                 data_path: str | os.PathLike | None = None) -> list[str]:
    """Why the files to deploy are not the ones audited (InputError if a path is missing)."""
    reasons: list[str] = []
    subj = report.get("subject") or {}
    if model_path is not None:
        p = Path(model_path)
        if not p.is_file():
            raise InputError(f"--model: file {str(p)!r} does not exist" if not p.exists()
                             else f"--model: {str(p)!r} is a folder; give the model file")
        model = subj.get("model") or {}
        audited = model.get("sha256")
        if not model:
            reasons.append(f"the report audited no model, so the model file {str(p)!r} was not audited")
        elif not audited:
            reasons.append(f"the report records no file hash for its model ({model.get('uri')}), so "
                           f"{str(p)!r} cannot be matched to it")
        else:
            actual = sha256_file(p)
            if actual != audited:
                reasons.append(f"the model file {str(p)!r} has sha256 {actual}, but the audited model "
                               f"({model.get('uri')}) had {audited}: it changed after the audit")
    if data_path is not None:
        p = Path(data_path)
        if not p.exists():
            raise InputError(f"--data: file {str(p)!r} does not exist")
        datasets = {role: d.get("sha256") for role, d in (subj.get("datasets") or {}).items()
                    if isinstance(d, Mapping)}
        actual = dataset_hash(p)
        if actual not in datasets.values():
            audited = ", ".join(f"{role} {sha}" for role, sha in datasets.items()) or "none"
            reasons.append(f"the data {str(p)!r} has sha256 {actual}, which matches no audited "
                           f"dataset (audited: {audited})")
    return reasons


def evaluate_gate(report_path: str | os.PathLike, model_path: str | os.PathLike | None = None,
                  data_path: str | os.PathLike | None = None, now: datetime | None = None,
                  approvals_folder: str | os.PathLike | None = None) -> GateResult:
    """Judge the report at ``report_path`` with the approvals in ``approvals/`` next to it.

    Raises :class:`~riskaudit.errors.InputError` for a missing or unreadable report or file.
    """
    now = now or datetime.now(timezone.utc)
    rpath = report_file(report_path)
    try:
        report = load_report(rpath)
    except CorruptReport as exc:  # a report damaged after the scan closes the gate (exit 1)
        return GateResult(open=False, reasons=[f"the report cannot be trusted: {exc}"])
    if approvals_folder is not None and not Path(approvals_folder).is_dir():
        raise InputError(f"--approvals: folder {str(approvals_folder)!r} does not exist")
    reasons: list[str] = []
    computed = compute_digest(report)
    if computed != report.get("digest"):
        reasons.append(f"the report's digest does not verify: {str(rpath)!r} was changed after the "
                       f"scan (it records {report.get('digest')}, its content hashes to {computed})")
    reasons += status_reasons(report)
    records, bad_files = load_records(rpath, report.get("digest"), folder=approvals_folder)
    blocking, ignored = approval_reasons(report, records, now=now)
    reasons += blocking
    reasons += file_reasons(report, model_path, data_path)
    notes = ignored + bad_files
    if reasons:
        return GateResult(open=False, reasons=reasons + notes, notes=[])
    return GateResult(open=True, reasons=[], notes=notes)


__all__ = ["GateResult", "evaluate_gate", "evaluate_records", "approval_reasons", "status_reasons",
           "file_reasons", "dataset_hash"]
