"""Approval records: a decision about one exact report, bound to its digest, optionally signed.

A record is a small JSON file in ``approvals/`` next to the report (reviewable, committable
in git, so a pull request can carry the sign-off) and a row of the audit ledger::

    {"schema": "riskaudit-approval/1", "report_digest": "sha256:…", "role": "compliance",
     "approver": "Ada Lovelace", "decision": "approve", "comment": "",
     "created_at": "2026-11-24T13:00:00Z", "model_sha256": "…", "policy_sha256": "…",
     "attestation_sha256": "…", "ledger_head": {"seq": 12, "head": "…"},
     "public_key": "ed25519:<base64 Ed25519 raw key>", "signature": "<base64>"}

A record is a signed statement about the scan's attestation (``report.intoto.json``, see
:mod:`riskaudit.attestation`): ``attestation_sha256`` is the SHA-256 of its signed payload,
``ledger_head`` the audit ledger's head when the decision was recorded (so a ledger whose
tail was cut off later no longer holds it). The signature (Ed25519, the ``cryptography``
library) covers the canonical JSON of every other field, so the decision, role, time and
digest cannot be changed without breaking it. The approver is the *key*: ``riskaudit gate``
counts a record only when the trust policy lists its key for the role, and the name typed
in ``approver`` is a label (see :mod:`riskaudit.gate`, :mod:`riskaudit.trust`).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from riskaudit import untrusted
from riskaudit.errors import InputError
from riskaudit.result import canonical_json, compute_digest
from riskaudit.trust import KEY_PREFIX, normalize_key

RECORD_SCHEMA = "riskaudit-approval/1"
DECISIONS = ("approve", "reject")
APPROVALS_DIR = "approvals"
REQUIRED_FIELDS = ("report_digest", "role", "approver", "decision", "created_at")


# -- reports ------------------------------------------------------------------------------
class CorruptReport(InputError):
    """The report file exists but does not parse: altered or damaged after the scan."""


def load_report(report_path: str | os.PathLike, option: str = "REPORT") -> dict[str, Any]:
    """Read a report.json; InputError (naming the file) when missing or not a report."""
    path = Path(report_path)
    if not path.exists():
        raise InputError(f"{option}: file {str(path)!r} does not exist")
    if path.is_dir():
        cand = path / "report.json"
        if not cand.exists():
            raise InputError(f"{option}: {str(path)!r} is a folder without a report.json")
        path = cand
    try:
        data = untrusted.loads_json(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CorruptReport(f"{option}: {str(path)!r} is not UTF-8 text, so not a report.json") from None
    except json.JSONDecodeError as exc:
        raise CorruptReport(f"{option}: {str(path)!r} is not valid JSON (line {exc.lineno}, column "
                         f"{exc.colno}: {exc.msg}); a report.json that does not parse cannot be "
                         "trusted") from None
    except OSError as exc:
        raise InputError(f"{option}: cannot read {str(path)!r}: {exc.strerror}") from None
    if not isinstance(data, dict) or data.get("schema_version") != "1" or "digest" not in data:
        raise InputError(f"{option}: {str(path)!r} is not a riskaudit report.json "
                         "(schema_version 1 with a digest)")
    return data


def report_file(report_path: str | os.PathLike) -> Path:
    path = Path(report_path)
    return path / "report.json" if path.is_dir() else path


def approvals_dir(report_path: str | os.PathLike) -> Path:
    return report_file(report_path).parent / APPROVALS_DIR


# -- keys ---------------------------------------------------------------------------------
def _ed25519():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


def public_key_text(public_key) -> str:
    """``ed25519:<base64 of the 32 raw bytes>``: the form a policy's ``keys`` lists."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def generate_keypair(private_path: str | os.PathLike, *, overwrite: bool = False) -> tuple[Path, Path, str]:
    """Write an Ed25519 private key (PEM, PKCS#8, mode 0600) and ``<path>.pub`` (the public key
    line). Returns (private path, public path, public key text)."""
    from cryptography.hazmat.primitives import serialization

    priv = Path(private_path)
    pub = priv.with_name(priv.name + ".pub")
    for p in (priv, pub):
        if p.exists() and not overwrite:
            raise InputError(f"--out: {str(p)!r} already exists; choose another path or pass --force")
    key = _ed25519().Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    text = public_key_text(key.public_key())
    try:
        priv.parent.mkdir(parents=True, exist_ok=True)
        # A new file created 0600 and renamed over the old one: an existing file's mode
        # (say 0644) never carries over to the private key.
        tmp = priv.with_name(f".{priv.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            os.replace(tmp, priv)
        finally:
            tmp.unlink(missing_ok=True)
        pub.write_text(text + "\n", encoding="ascii")
    except OSError as exc:
        raise InputError(f"--out: cannot write the key pair to {str(priv)!r}: {exc.strerror}") from None
    return priv, pub, text


def load_private_key(path: str | os.PathLike):
    from cryptography.hazmat.primitives import serialization

    p = Path(path)
    if not p.exists():
        raise InputError(f"--key: file {str(p)!r} does not exist")
    try:
        key = serialization.load_pem_private_key(p.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"--key: {str(p)!r} is not an unencrypted PEM private key "
                         f"(make one with `riskaudit keygen`): {exc}") from None
    if not isinstance(key, _ed25519().Ed25519PrivateKey):
        raise InputError(f"--key: {str(p)!r} is a {type(key).__name__}, not an Ed25519 key "
                         "(make one with `riskaudit keygen`)")
    return key


# -- records ------------------------------------------------------------------------------
def utc_timestamp(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: Any) -> datetime | None:
    """A record's UTC time (``…Z``), or None when it does not parse."""
    if not isinstance(text, str):
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def signing_payload(record: Mapping[str, Any]) -> bytes:
    """What the signature covers: canonical JSON of every field but ``signature`` (and the
    ``_``-prefixed annotations riskaudit adds when reading, such as ``_file``)."""
    return canonical_json({k: v for k, v in record.items() if k != "signature" and not k.startswith("_")})


def make_record(report: Mapping[str, Any], *, role: str, approver: str, decision: str = "approve",
                comment: str = "", now: datetime | None = None, private_key=None,
                attestation_sha256: str | None = None,
                ledger_head: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A new approval record for ``report`` (signed when ``private_key`` is given)."""
    role, approver = (role or "").strip(), (approver or "").strip()
    if not role:
        raise InputError("--role: give the role you approve as (e.g. model-owner, compliance)")
    if not approver:
        raise InputError("--approver: give your name")
    if decision not in DECISIONS:
        raise InputError(f"decision {decision!r}: must be one of {', '.join(DECISIONS)}")
    subj = report.get("subject") or {}
    record: dict[str, Any] = {
        "schema": RECORD_SCHEMA,
        "report_digest": report["digest"],
        "role": role,
        "approver": approver,
        "decision": decision,
        "comment": comment or "",
        "created_at": utc_timestamp(now),
        "model_sha256": (subj.get("model") or {}).get("sha256"),
        "policy_sha256": (subj.get("policy") or {}).get("sha256"),
        "attestation_sha256": attestation_sha256,
        "ledger_head": dict(ledger_head) if ledger_head else None,
    }
    if private_key is not None:
        record["public_key"] = public_key_text(private_key.public_key())
        record["signature"] = base64.b64encode(private_key.sign(signing_payload(record))).decode("ascii")
    return record


def signature_state(record: Mapping[str, Any]) -> str:
    """``unsigned``, ``valid`` or ``invalid`` (a signature that does not verify or is malformed)."""
    sig, key = record.get("signature"), record.get("public_key")
    if not sig and not key:
        return "unsigned"
    if not sig or not key:
        return "invalid"
    from cryptography.exceptions import InvalidSignature

    try:
        raw = base64.b64decode(normalize_key(key).removeprefix(KEY_PREFIX), validate=True)
        pub = _ed25519().Ed25519PublicKey.from_public_bytes(raw)
        pub.verify(base64.b64decode(sig, validate=True), signing_payload(record))
    except (InvalidSignature, ValueError, TypeError):
        return "invalid"
    return "valid"


def record_problem(record: Any) -> str | None:
    """Why a parsed file is not a well-formed approval record, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [f for f in REQUIRED_FIELDS if not isinstance(record.get(f), str) or not record.get(f)]
    if missing:
        return "missing " + ", ".join(missing)
    if record["decision"] not in DECISIONS:
        return f"decision {record['decision']!r} is neither approve nor reject"
    if parse_time(record["created_at"]) is None:
        return f"created_at {record['created_at']!r} is not a UTC time"
    return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "x"


def write_record(record: Mapping[str, Any], folder: str | os.PathLike) -> Path:
    """Write ``record`` atomically as a new file in ``folder``; returns its path."""
    from riskaudit.reports.writer import atomic_write

    folder = Path(folder)
    stamp = re.sub(r"[^0-9]", "", record["created_at"])[:20]
    name = (f"{stamp}-{record['report_digest'].removeprefix('sha256:')[:12]}-{_slug(record['role'])}-"
            f"{_slug(record['approver'])}-{record['decision']}-{secrets.token_hex(3)}.json")
    path = folder / name
    try:
        atomic_write(path, json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise InputError(f"cannot write the approval into {str(folder)!r}: {exc.strerror}") from None
    return path


def load_records(report_path: str | os.PathLike, digest: str | None = None,
                 folder: str | os.PathLike | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Records in the report's ``approvals/`` folder for ``digest`` (all when None), oldest
    first, each with ``_file`` set; plus one sentence per file that is not a record."""
    folder = Path(folder) if folder else approvals_dir(report_path)
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    if not folder.is_dir():
        return records, problems
    for f in sorted(folder.glob("*.json")):
        try:
            rec = untrusted.loads_json(f.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, OSError) as exc:
            problems.append(f"approval file {f.name} is not readable JSON ({exc}); it does not count")
            continue
        why = record_problem(rec)
        if why:
            problems.append(f"approval file {f.name} is not an approval record ({why}); it does not count")
            continue
        if digest is not None and rec["report_digest"] != digest:
            continue  # a decision about another report (e.g. an earlier scan in this folder)
        rec["_file"] = f.name
        records.append(rec)
    records.sort(key=lambda r: (parse_time(r["created_at"]), r["_file"]))
    return records, problems


def approve(report_path: str | os.PathLike, *, role: str, approver: str, decision: str = "approve",
            comment: str = "", key_path: str | os.PathLike | None = None,
            ledger_path: str | os.PathLike | None = None, now: datetime | None = None,
            use_ledger: bool = True, trust=None) -> tuple[dict[str, Any], Path]:
    """Record a decision about the report at ``report_path``: the JSON file in ``approvals/``
    next to it and a ledger row (plus the scan's row when missing and ``trust`` verified its
    attestation; otherwise the scan's row is the scanner's to write). Returns (record, file).

    Refuses a report whose digest does not verify, one without a scan attestation
    (``report.intoto.json``) about exactly it, and a role the report does not require; with
    ``trust`` (a :class:`~riskaudit.trust.TrustPolicy`), also an attestation not signed by a
    scanner it lists and a role it does not know.
    """
    from riskaudit import attestation, ledger

    rpath = report_file(report_path)
    report = load_report(rpath)
    if compute_digest(report) != report["digest"]:
        raise InputError(f"REPORT: {str(rpath)!r} was changed after the scan (its digest does not "
                         "verify), so it cannot be approved; re-run the scan")
    att_path = attestation.attestation_path(rpath)
    try:
        envelope = attestation.load(att_path)
        if trust is not None:
            att_sha: str | None = attestation.verify(envelope, report, trust.scanners).payload_sha256
        else:
            try:
                stmt = untrusted.loads_json(base64.b64decode(envelope["payload"], validate=True))
                about = stmt["predicate"]["report"]["digest"]
            except (KeyError, TypeError, ValueError):  # ValueError: base64's and JSON's errors
                raise attestation.AttestationError(f"{str(att_path)!r} is not a scan attestation") from None
            if about != report["digest"]:
                raise attestation.AttestationError(f"{str(att_path)!r} is about another report")
            att_sha = attestation.payload_sha256(envelope)
    except attestation.AttestationError as exc:
        raise InputError(f"REPORT: cannot approve {str(rpath)!r}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InputError(f"REPORT: cannot approve {str(rpath)!r}: {str(att_path)!r} is not a scan "
                         "attestation (a DSSE envelope of an in-toto Statement)") from None
    roles = [r.get("role") for r in report.get("approvals_required") or []]
    if trust is not None:
        roles = sorted(set(roles) | set(trust.approvers))
    if role.strip() not in roles:
        allowed = ", ".join(map(str, roles)) if roles else "none: this outcome needs no approval"
        raise InputError(f"--role {role!r}: neither this report's policy nor the trust policy asks for "
                         f"that role (roles: {allowed})")
    key = load_private_key(key_path) if key_path else None
    folder = approvals_dir(rpath)
    if not use_ledger:
        record = make_record(report, role=role, approver=approver, decision=decision, comment=comment,
                             now=now, private_key=key, attestation_sha256=att_sha)
        return record, write_record(record, folder)
    with ledger.Ledger(ledger_path) as led:
        if trust is not None:  # only a scan a trusted scanner attested becomes a scan row here
            led.record_scan(report, rpath)
        record = make_record(report, role=role, approver=approver, decision=decision, comment=comment,
                             now=now, private_key=key, attestation_sha256=att_sha, ledger_head=led.head())
        path = write_record(record, folder)
        try:
            led.record_approval(record, path)
        except BaseException:
            path.unlink(missing_ok=True)  # file and ledger agree: neither holds the decision
            raise
    return record, path



__all__ = ["approve", "make_record", "write_record", "load_records", "load_report", "signature_state",
           "generate_keypair", "load_private_key", "public_key_text", "approvals_dir",
           "RECORD_SCHEMA", "DECISIONS"]
