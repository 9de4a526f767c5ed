"""``riskaudit gate``: may this audited model be deployed — by the deploying side's rules?

The requirements come from a *trust policy* (:mod:`riskaudit.trust`) that lives with the
deployment, never from the report: a report, its audit policy and its project file are
written by the audited side. The gate opens only when every one of these holds (each
failure is one reason):

1. the report's ``digest`` verifies and its attestation (``report.intoto.json``, a DSSE
   envelope) is signed by a scanner key the trust policy lists and is about exactly this
   report (:mod:`riskaudit.attestation`);
2. its status passes: ``pass``, or ``warn`` when the *trust policy* allows warn; its audit
   policy is one the trust policy allows, and the checks it requires ran;
3. for every role the trust policy requires for the tier (the higher of the trust policy's
   and the report's) and outcome — and any further role the report asks for — enough
   *different keys* the trust policy lists for that role signed an approval of this
   attestation, not older than the trust policy's ``approval_ttl_days``, not dated in the
   future, and not followed by a rejection from a trusted key (a rejection voids every
   approval recorded before it);
4. when a ledger is configured (``--ledger``, the trust policy's ``ledger`` or
   ``$RISKAUDIT_LEDGER``): its hash chain verifies, it still holds the head each signed
   attestation and counted approval recorded (so a truncated tail is seen), and its
   rejections count even when their files are gone;
5. the model / data files given (required when the trust policy says so) hash to what the
   report audited.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from riskaudit import attestation
from riskaudit.approvals import CorruptReport, load_records, load_report, parse_time, report_file, signature_state
from riskaudit.data import IMAGE_SUFFIXES, model_file_sha256, sha256_file, sha256_tree
from riskaudit.errors import InputError
from riskaudit.inert import shell_command
from riskaudit.result import CLOSED_BY_STATUS, compute_digest
from riskaudit.trust import TrustPolicy, insecure_stand_in, load_trust_policy, normalize_key, short_key

CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a record's time may lie (clocks differ) before it is refused."""

NO_TRUST_POLICY = ("no trust policy was given (--trust TRUST_POLICY): the gate's requirements — which "
                   "scanners and approver keys to trust, which approvals each risk tier needs — must come "
                   "from the deploying side, never from the report being judged, so the gate stays closed")
INSECURE_NOTE = ("INSECURE: no trust policy — the report set its own requirements and any key or none "
                 "counted; never use --insecure-no-trust-policy in CI")


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


def status_reasons(report: Mapping[str, Any], trust: TrustPolicy) -> list[str]:
    """Why the report's status alone keeps the gate closed (empty: it passes)."""
    status = report.get("status")
    if status == "pass":
        return []
    if status == "warn":
        return [] if trust.allow_warn else [
            "the report's status is warn and the trust policy does not allow deploying on warn (allow_warn: false)"]
    if status in CLOSED_BY_STATUS:
        return [CLOSED_BY_STATUS[status]]
    return [f"the report's status {status!r} is not one of pass, warn, fail, error"]


def required_roles(report: Mapping[str, Any], trust: TrustPolicy) -> tuple[list[tuple[str, int]], list[str]]:
    """(role, count) the gate checks, and reasons when the trust policy defines none.

    The trust policy's requirements for the effective tier and outcome, raised (never
    lowered) by whatever more the report asks for."""
    tier = trust.effective_tier(report.get("risk_tier"))
    outcome = report.get("status")
    outcome = outcome if isinstance(outcome, str) and outcome in ("pass", "warn") else "pass"
    base = trust.requirements(tier, outcome)
    if base is None:
        return [], [f"the trust policy defines no approvals for risk tier {tier!r} and outcome {outcome!r} "
                    f"(approvals.{tier}.{outcome}), so nothing can open the gate for this report"]
    need: dict[str, int] = {}
    for role, count in base:
        need[role] = max(need.get(role, 0), count)
    for req in report.get("approvals_required") or []:
        if isinstance(req, Mapping) and isinstance(req.get("role"), str):
            try:
                count = int(req.get("count", 1))
            except (TypeError, ValueError):
                count = 1
            need[req["role"]] = max(need.get(req["role"], 0), count)
    return list(need.items()), []


def _identity(rec: Mapping[str, Any], trust: TrustPolicy) -> tuple[str, str]:
    """(identity the count uses, name shown) — the key, named by the trust policy."""
    key = rec.get("public_key")
    if key:
        norm = normalize_key(key)
        name = (trust.approvers.get(rec.get("role", "")) or {}).get(norm) or rec.get("approver")
        return norm, f"{name} (key {short_key(norm)})"
    return f"name:{rec.get('approver')}", f"{rec.get('approver')} (unsigned)"


def _record_problem(rec: Mapping[str, Any], trust: TrustPolicy, att_sha: str | None, now: datetime,
                    check_expiry: bool, in_ledger: set | None) -> str | None:
    state = signature_state(rec)
    if state == "invalid":
        return "its signature does not verify (the record was forged or altered after signing)"
    if not trust.insecure:
        if state == "unsigned":
            return "it is unsigned; only records signed by a key the trust policy lists count"
        listed = trust.approvers.get(rec.get("role", "")) or {}
        if normalize_key(rec.get("public_key", "")) not in listed:
            return f"it is signed with a key the trust policy does not list for role {rec.get('role')!r}"
    if att_sha is not None and rec.get("attestation_sha256") != att_sha:
        return "it is about another attestation of this report (a replayed or stale decision)"
    if in_ledger is not None and not trust.insecure and rec.get("decision") == "approve" \
            and rec.get("signature") not in in_ledger:
        return "the configured ledger does not hold it (recorded in another ledger, or its row was removed)"
    t = parse_time(rec.get("created_at"))
    if t is None:
        return "its time does not parse"
    if t > now + CLOCK_SKEW:
        return f"it is dated in the future ({rec.get('created_at')})"
    ttl = trust.approval_ttl_days
    if check_expiry and rec.get("decision") == "approve" and ttl is not None:
        expires = t + timedelta(days=ttl)
        if expires <= now:
            return f"it expired on {expires.strftime('%Y-%m-%d %H:%M UTC')} (approval_ttl_days: {ttl:g})"
    return None


def _valid_time(rec: Mapping[str, Any]) -> datetime:
    """The time of a record judged valid (:func:`_record_problem` refuses one whose time does not parse)."""
    t = parse_time(rec["created_at"])
    assert t is not None
    return t


def evaluate_records(report: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                     trust: TrustPolicy | None = None, att_sha: str | None = None,
                     now: datetime | None = None, check_expiry: bool = True,
                     in_ledger: set | None = None) -> list[dict[str, Any]]:
    """Each record about this report with ``valid`` (it counts), ``why`` (if not), ``identity``
    (its key) and ``who`` (the trust policy's name for it). Without ``trust``, the report's own
    requirements and any signer (what the HTML block and ``history`` show). With ``in_ledger``
    (the signatures a configured ledger holds), an approval the ledger lacks does not count."""
    now = now or datetime.now(timezone.utc)
    trust = trust or insecure_stand_in(report)
    out, seen = [], set()
    for rec in records:
        if rec.get("report_digest") != report.get("digest"):
            continue
        fingerprint = (rec.get("signature"), rec.get("created_at"), rec.get("role"), rec.get("approver"),
                       rec.get("decision"))
        if fingerprint in seen:  # the same record from its file and from the ledger
            continue
        seen.add(fingerprint)
        why = _record_problem(rec, trust, att_sha, now, check_expiry, in_ledger)
        identity, who = _identity(rec, trust)
        out.append({**rec, "valid": why is None, "why": why or "", "identity": identity, "who": who})
    rejections = [r for r in out if r["valid"] and r["decision"] == "reject"]
    if rejections:
        last = max(rejections, key=_valid_time)
        t_rej = _valid_time(last)
        for r in out:
            if r["valid"] and r["decision"] == "approve" and _valid_time(r) <= t_rej:
                r["valid"] = False
                r["why"] = f"the rejection by {last['who']} as {last['role']!r} at {last['created_at']} came after it"
    return out




def _who(rec: Mapping[str, Any]) -> str:
    noun = "rejection" if rec.get("decision") == "reject" else "approval"
    return f"{noun} by {rec['who']} as {rec.get('role')!r} at {rec.get('created_at')}"


def approval_reasons(report: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                     trust: TrustPolicy | None = None, att_sha: str | None = None,
                     now: datetime | None = None, check_expiry: bool = True,
                     in_ledger: set | None = None) -> tuple[list[str], list[str]]:
    """(blocking reasons, lines about records that did not count). Approvers are counted by
    key: one key counts once per role whatever names it signed with."""
    trust = trust or insecure_stand_in(report)
    evaluated = evaluate_records(report, records, trust, att_sha, now=now, check_expiry=check_expiry,
                                 in_ledger=in_ledger)
    roles, blocking = required_roles(report, trust)
    for role, need in roles:
        keys = {r["identity"] for r in evaluated if r["valid"] and r["decision"] == "approve" and r["role"] == role}
        if len(keys) < need:
            hint = shell_command("riskaudit", "approve", "REPORT", "--role", role, "--key", "KEY",
                                 "--approver", "NAME")
            blocking.append(f"role {role!r}: {len(keys)} of {need} required approval(s) from different trusted "
                            f"keys (record one with: {hint})")
    rejections = [r for r in evaluated if r["valid"] and r["decision"] == "reject"] if blocking else []
    for r in rejections:  # a rejection voids the approvals before it; later approvals can still open
        comment = f": {r['comment']!r}" if r.get("comment") else ""
        blocking.insert(0, f"rejected by {r['who']} as {r['role']!r} at {r['created_at']}{comment}")
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
            reasons.append(f"the report records no file hash for its model ({model.get('uri')!r}), so "
                           f"{str(p)!r} cannot be matched to it")
        else:
            actual = model_file_sha256(p)
            if actual != audited:
                reasons.append(f"the model file {str(p)!r} has sha256 {actual}, but the audited model "
                               f"({model.get('uri')!r}) had {audited}: it changed after the audit")
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


def _policy_reasons(report: Mapping[str, Any], trust: TrustPolicy) -> list[str]:
    reasons = []
    if trust.audit_policies:
        pol = (report.get("subject") or {}).get("policy") or {}
        sha = str(pol.get("sha256") or "").removeprefix("sha256:")
        if sha not in trust.audit_policies:
            reasons.append(f"the report was audited with policy {pol.get('name')!r} (sha256 {sha or 'none'}), "
                           "which is not one of the trust policy's audit_policies")
    by_id = {c.get("id"): c for c in report.get("checks") or [] if isinstance(c, Mapping)}
    for cid in trust.required_checks:
        status = (by_id.get(cid) or {}).get("status")
        if status in (None, "skipped", "error"):
            reasons.append(f"the trust policy requires check {cid!r}, which "
                           f"{'did not run' if status is None else 'was ' + status} in this audit")
    return reasons


def configured_ledger(trust: TrustPolicy, ledger_path: str | os.PathLike | None) -> Path | None:
    """The ledger the gate consults: ``--ledger``, the trust policy's, ``$RISKAUDIT_LEDGER``, or none."""
    from riskaudit.ledger import ENV_VAR

    if ledger_path:
        return Path(ledger_path).expanduser()
    if trust.ledger is not None:
        return trust.ledger
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else None


def _ledger_evidence(path: Path, digest: str) -> tuple[Any, list[dict[str, Any]], list[str]]:
    """(open Ledger or None, its records for ``digest``, reasons) for a configured ledger."""
    from riskaudit.ledger import Ledger

    if not path.is_file():
        return None, [], [f"the configured ledger {str(path)!r} does not exist, so its rejections and "
                          "chain cannot be checked"]
    try:
        led = Ledger(path, create=False)
    except InputError as exc:
        return None, [], [f"the configured ledger cannot be read: {exc}"]
    reasons = [f"the ledger is damaged: {p}" for p in led.verify()]
    return led, led.approvals(digest), reasons


def evaluate_gate(report_path: str | os.PathLike, trust: TrustPolicy | str | os.PathLike | None = None, *,
                  model_path: str | os.PathLike | None = None, data_path: str | os.PathLike | None = None,
                  now: datetime | None = None, approvals_folder: str | os.PathLike | None = None,
                  ledger_path: str | os.PathLike | None = None, insecure: bool = False) -> GateResult:
    """Judge the report at ``report_path`` against ``trust`` (a :class:`TrustPolicy` or its file).

    Without a trust policy the gate is closed, unless ``insecure`` (local experiments only).
    Raises :class:`~riskaudit.errors.InputError` for a missing or unreadable input file.
    """
    now = now or datetime.now(timezone.utc)
    if trust is not None and not isinstance(trust, TrustPolicy):
        trust = load_trust_policy(trust)
    rpath = report_file(report_path)
    try:
        report = load_report(rpath)
    except CorruptReport as exc:  # a report damaged after the scan closes the gate (exit 1)
        return GateResult(open=False, reasons=[f"the report cannot be trusted: {exc}"])
    if trust is None and not insecure:
        return GateResult(open=False, reasons=[NO_TRUST_POLICY])
    if approvals_folder is not None and not Path(approvals_folder).is_dir():
        raise InputError(f"--approvals: folder {str(approvals_folder)!r} does not exist")
    if trust is None:
        trust = insecure_stand_in(report)
    reasons: list[str] = []
    notes: list[str] = [INSECURE_NOTE] if trust.insecure else []
    computed = compute_digest(report)
    if computed != report.get("digest"):
        reasons.append(f"the report's digest does not verify: {str(rpath)!r} was changed after the "
                       f"scan (it records {report.get('digest')}, its content hashes to {computed})")
    att_sha, heads = _attestation(trust, rpath, report, reasons)
    reasons += status_reasons(report, trust)
    reasons += _policy_reasons(report, trust)
    records, bad_files = load_records(rpath, report.get("digest"), folder=approvals_folder)
    led, in_ledger = None, None
    ledger_file = configured_ledger(trust, ledger_path)
    if ledger_file is not None:
        led, ledger_records, ledger_problems = _ledger_evidence(ledger_file, str(report.get("digest")))
        reasons += ledger_problems
        records = list(records) + ledger_records
        in_ledger = {r.get("signature") for r in ledger_records if r.get("signature")}
    try:
        blocking, ignored = approval_reasons(report, records, trust, att_sha, now=now, in_ledger=in_ledger)
        if led is not None:
            for r in evaluate_records(report, records, trust, att_sha, now=now, in_ledger=in_ledger):
                if r["valid"] and isinstance(r.get("ledger_head"), Mapping):
                    heads.append((f"the {_who(r)}", r["ledger_head"]))
            for what, head in heads:
                problem = led.check_head(head)
                if problem:
                    reasons.append(f"the ledger does not hold what {what} recorded: {problem}")
    finally:
        if led is not None:
            led.close()
    reasons += blocking
    reasons += _required_hash_reasons(trust, model_path, data_path)
    reasons += file_reasons(report, model_path, data_path)
    notes += ignored + bad_files
    if reasons:
        return GateResult(open=False, reasons=reasons + notes, notes=[])
    return GateResult(open=True, reasons=[], notes=notes)


def _attestation(trust: TrustPolicy, rpath: Path, report: Mapping[str, Any], reasons: list[str]
                 ) -> tuple[str | None, list[tuple[str, Mapping[str, Any]]]]:
    """The scan attestation's payload digest (what approvals bind to) and the ledger head it
    recorded; a reason in ``reasons`` when a trusted scanner did not sign it. With the
    insecure stand-in policy, any attestation beside the report is read, unverified."""
    att_sha: str | None = None
    heads: list[tuple[str, Mapping[str, Any]]] = []
    att_file = attestation.attestation_path(rpath)
    if trust.insecure:
        if att_file.is_file():
            try:
                att_sha = attestation.payload_sha256(attestation.load(att_file))
            except attestation.AttestationError:
                att_sha = None
        return att_sha, heads
    try:
        verified = attestation.verify(attestation.load(att_file), report, trust.scanners)
    except attestation.AttestationError as exc:
        reasons.append(f"the report is not attested by a trusted scanner: {exc}")
        att_sha = "<untrusted>"  # no approval can bind to an attestation that does not verify
    else:
        att_sha = verified.payload_sha256
        if verified.ledger_head:
            heads.append((f"the scan attestation (signed by {verified.scanner})", verified.ledger_head))
    return att_sha, heads


def _required_hash_reasons(trust: TrustPolicy, model_path: Any, data_path: Any) -> list[str]:
    """The files the trust policy requires to be compared with the audited ones, when not given."""
    reasons = []
    if trust.require_model_hash and model_path is None:
        reasons.append("the trust policy requires the model file to be compared with the audited one "
                       "(give --model MODEL_FILE)")
    if trust.require_data_hash and data_path is None:
        reasons.append("the trust policy requires the data to be compared with the audited data "
                       "(give --data DATA)")
    return reasons


def last_approved_report(model_sha256: str, ledger_path: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The newest report of this model whose audit was approved, or None (drift's default baseline).

    "Approved" here is a baseline heuristic, not a deployment decision: the stored report's
    digest verifies, its status is pass or warn, and every role the report itself requires has
    valid signed-or-unsigned approvals in the ledger with no rejection after them. (Lives here,
    not in the ledger module: storage does not import decision logic.)"""
    from riskaudit.ledger import Ledger, resolve_path

    if not model_sha256 or not resolve_path(ledger_path).exists():
        return None
    key = model_sha256.lower().removeprefix("sha256:")
    with Ledger(ledger_path, create=False) as led:
        rows = led.conn.execute("SELECT seq, digest FROM scans WHERE model_sha256 = ? ORDER BY seq DESC",
                                (key,)).fetchall()
        seen: set[str] = set()
        for seq, digest in rows:
            if digest in seen:
                continue
            seen.add(digest)
            report = led.report(seq)
            if compute_digest(report) != report.get("digest") or report.get("status") not in ("pass", "warn"):
                continue
            blocking, _ = approval_reasons(report, led.approvals(digest), check_expiry=False)
            if not blocking:
                return report
    return None


def rerender_html(report_path: str | os.PathLike, now: datetime | None = None) -> Path | None:
    """Re-render ``report.html`` next to the report with the approval status block.

    Only when a ``report.html`` is already there and the HTML renderer accepts approvals
    (``riskaudit.reports.html.render(report, approvals=[...])``); returns the file or None.
    """
    rpath = report_file(report_path)
    html_path = rpath.parent / "report.html"
    if not html_path.exists():
        return None
    try:
        from riskaudit.reports.html import render
    except ImportError:
        return None
    from riskaudit.reports.writer import atomic_write

    report = load_report(rpath)
    records, _ = load_records(rpath, report["digest"])
    atomic_write(html_path, render(report, approvals=evaluate_records(report, records, now=now)))
    return html_path


__all__ = ["GateResult", "evaluate_gate", "evaluate_records", "approval_reasons", "status_reasons",
           "file_reasons", "dataset_hash", "required_roles", "last_approved_report", "rerender_html", "NO_TRUST_POLICY"]
