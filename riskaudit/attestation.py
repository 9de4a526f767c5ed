"""Scan attestations: an in-toto Statement in a DSSE envelope, signed with the scanner's key.

``riskaudit scan --scanner-key KEY`` writes ``report.intoto.json`` beside ``report.json``:
a DSSE envelope (``payloadType: application/vnd.in-toto+json``, securesystemslib's
:class:`~securesystemslib.dsse.Envelope` and Ed25519 :class:`CryptoSigner`) whose payload is
an in-toto Statement v1::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "model.pt", "digest": {"sha256": "…"}},
                 {"name": "dataset:current:eval.csv", "digest": {"sha256": "…"}}],
     "predicateType": "https://github.com/riskaudit/riskaudit/attestation/scan/v1",
     "predicate": {"report": {"digest": "sha256:…", "status": "pass", "risk_tier": "medium", …},
                   "policy": {"name": "default", "sha256": "…"},
                   "scanner": {"name": "riskaudit", "version": "0.1.0"},
                   "ledger": {"seq": 12, "head": "<row hash>"} | null}}

``predicate.ledger`` is the audit ledger's head right after the scan was recorded: a later
ledger that lacks that row, or holds another row there, was truncated or rewritten.
Any tool that speaks DSSE (cosign, in-toto, securesystemslib) can verify the envelope with
the scanner's public key; :func:`verify` is what ``riskaudit gate`` runs.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from riskaudit import untrusted
from riskaudit.errors import InputError
from riskaudit.result import compute_digest
from riskaudit.trust import KEY_PREFIX, normalize_key

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://github.com/riskaudit/riskaudit/attestation/scan/v1"
ATTESTATION_FILE = "report.intoto.json"


class AttestationError(Exception):
    """The attestation is missing, malformed, not signed by a trusted scanner, or not about this report."""


@dataclass(frozen=True)
class VerifiedAttestation:
    scanner: str
    """The trust policy's name for the key that signed it."""
    key: str
    """That key (``ed25519:…``)."""
    statement: dict[str, Any]
    payload_sha256: str
    """SHA-256 of the signed payload: what approvals bind to."""

    @property
    def ledger_head(self) -> Mapping[str, Any] | None:
        head = self.statement.get("predicate", {}).get("ledger")
        return head if isinstance(head, Mapping) else None


def _sslib_key(public_key_text: str):
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from securesystemslib.signer import SSlibKey

    raw = base64.b64decode(normalize_key(public_key_text).removeprefix(KEY_PREFIX), validate=True)
    return SSlibKey.from_crypto(ed25519.Ed25519PublicKey.from_public_bytes(raw))


def statement(report: Mapping[str, Any], ledger_head: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The in-toto Statement about ``report`` (subjects: the model and dataset digests)."""
    from riskaudit._version import __version__

    subj = report.get("subject") or {}
    subjects = []
    model = subj.get("model") or {}
    if model.get("sha256"):
        subjects.append({"name": Path(str(model.get("uri") or "model")).name,
                         "digest": {"sha256": model["sha256"]}})
    for role, d in sorted((subj.get("datasets") or {}).items()):
        if isinstance(d, Mapping) and d.get("sha256"):
            subjects.append({"name": f"dataset:{role}:{Path(str(d.get('uri') or role)).name}",
                             "digest": {"sha256": d["sha256"]}})
    digest = str(report["digest"])
    if not subjects:  # in-toto needs one subject: then the report itself
        subjects.append({"name": "report.json", "digest": {"sha256": digest.removeprefix("sha256:")}})
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "report": {"digest": digest, "status": report.get("status"), "risk_tier": report.get("risk_tier"),
                       "created_at": report.get("created_at")},
            "policy": dict(subj.get("policy") or {}),
            "scanner": {"name": "riskaudit", "version": __version__},
            "ledger": dict(ledger_head) if ledger_head else None,
        },
    }


def sign(report: Mapping[str, Any], private_key, ledger_head: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The DSSE envelope (as a JSON-ready dict) of :func:`statement`, signed with ``private_key``
    (a ``cryptography`` Ed25519 private key)."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner, SSlibKey

    payload = json.dumps(statement(report, ledger_head), sort_keys=True, separators=(",", ":")).encode()
    envelope = Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
    envelope.sign(CryptoSigner(private_key, SSlibKey.from_crypto(private_key.public_key())))
    return envelope.to_dict()


def write(envelope: Mapping[str, Any], report_folder: str | os.PathLike) -> Path:
    """Write ``report.intoto.json`` into the report folder (atomically)."""
    from riskaudit.reports.writer import atomic_write

    path = Path(report_folder) / ATTESTATION_FILE
    try:
        atomic_write(path, json.dumps(envelope, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise InputError(f"--scanner-key: cannot write the attestation {str(path)!r}: {exc.strerror}") from None
    return path


def attestation_path(report_file: str | os.PathLike) -> Path:
    return Path(report_file).parent / ATTESTATION_FILE


def load(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise AttestationError(f"there is no scan attestation {str(p)!r} (scan with --scanner-key to sign the report)")
    try:
        data = untrusted.loads_json(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, OSError) as exc:
        raise AttestationError(f"the attestation {str(p)!r} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise AttestationError(f"the attestation {str(p)!r} is not a DSSE envelope")
    return data


def verify(envelope: Mapping[str, Any], report: Mapping[str, Any], scanners: Mapping[str, str]) -> VerifiedAttestation:
    """Check that ``envelope`` is signed by one of ``scanners`` (key -> name) and is about
    exactly ``report``; raises :class:`AttestationError` saying why not."""
    from securesystemslib.dsse import Envelope

    try:
        env = Envelope.from_dict(copy.deepcopy(dict(envelope)))
    except Exception as exc:  # KeyError, FormatError, binascii errors … from a malformed file
        raise AttestationError(f"the attestation is not a DSSE envelope ({type(exc).__name__})") from None
    if env.payload_type != PAYLOAD_TYPE:
        raise AttestationError(f"the attestation's payloadType is {env.payload_type!r}, not {PAYLOAD_TYPE}")
    if not scanners:
        raise AttestationError("the trust policy lists no scanner keys")
    keys = {}
    for text, name in scanners.items():
        key = _sslib_key(text)
        keys[key.keyid] = (key, text, name)
    try:
        accepted = env.verify([k for k, _, _ in keys.values()], 1)
    except Exception:
        raise AttestationError("the attestation is not signed by a scanner the trust policy lists "
                               f"({', '.join(sorted(scanners.values()))}): a report from anyone else, or "
                               "altered after signing, is not trusted") from None
    keyid = next(iter(accepted))
    _, text, name = keys[keyid]
    try:
        stmt = untrusted.loads_json(env.payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AttestationError("the attestation's payload is not JSON") from None
    if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE or stmt.get("predicateType") != PREDICATE_TYPE:
        raise AttestationError("the attestation is not a riskaudit scan Statement (in-toto v1)")
    pred = stmt.get("predicate")
    if not isinstance(pred, dict):
        pred = {}
    attested = (pred.get("report") or {}).get("digest")
    if attested != report.get("digest"):
        raise AttestationError(f"the attestation is about report {attested}, not this one ({report.get('digest')})")
    if compute_digest(report) != report.get("digest"):
        raise AttestationError("the report was changed after the scan (its digest does not verify)")
    expected = statement(report)["subject"]
    if stmt.get("subject") != expected:
        raise AttestationError("the attestation's subjects (model and dataset digests) differ from the report's")
    return VerifiedAttestation(scanner=name, key=normalize_key(text), statement=stmt,
                               payload_sha256=hashlib.sha256(env.payload).hexdigest())


def payload_sha256(envelope: Mapping[str, Any]) -> str | None:
    """SHA-256 of the envelope's payload (what an approval binds to), or None if malformed."""
    try:
        return hashlib.sha256(base64.b64decode(envelope["payload"], validate=True)).hexdigest()
    except (KeyError, TypeError, ValueError):
        return None


__all__ = ["sign", "write", "load", "verify", "statement", "payload_sha256", "attestation_path",
           "AttestationError", "VerifiedAttestation", "ATTESTATION_FILE", "PAYLOAD_TYPE", "PREDICATE_TYPE"]
