"""Shared by the approvals, gate and ledger tests: a real scan with a tiny checker, written
to report.json next to a real TorchScript model and a CSV file, attested (DSSE) by a real
Ed25519 scanner key, and trust policies written as the deploying side would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from cryptography.hazmat.primitives.asymmetric import ed25519

import riskaudit
from riskaudit import attestation
from riskaudit.approvals import generate_keypair, load_private_key, public_key_text
from riskaudit.ledger import Ledger
from riskaudit.checks.base import CheckOutput, Checker, Kind, Need
from riskaudit.registry import Registry


class RowCount(Checker):
    """Grades the number of rows: the policy's levels choose pass, warn or fail."""

    id = "rowcount"
    description = "Counts the rows of the evaluation data."
    needs = frozenset({Need.DATA})
    kinds = {"rows": Kind("number of rows", direction="above", fail=1000, warn=500)}

    def run(self, ctx):
        f = ctx.finding("rows", "table", "{value} rows (level {threshold}).", value=ctx.data.rows)
        return CheckOutput([f], summary=f"The table has {ctx.data.rows} rows.")


APPROVALS = {
    "low": {"pass": [{"role": "model-owner", "count": 1}]},
    "medium": {"pass": [{"role": "model-owner", "count": 1}, {"role": "compliance", "count": 1}],
               "warn": [{"role": "model-owner", "count": 1}, {"role": "compliance", "count": 1},
                        {"role": "risk-officer", "count": 1}],
               "fail": [{"role": "model-owner", "count": 1}, {"role": "compliance", "count": 1}]},
    "high": {"pass": [{"role": "model-owner", "count": 1}, {"role": "compliance", "count": 2}]},
}


# What the deploying side requires (no `fail` entries: fail never opens).
TRUST_APPROVALS = {tier: {o: reqs for o, reqs in per.items() if o != "fail"} for tier, per in APPROVALS.items()}
SCANNER = ed25519.Ed25519PrivateKey.generate()
"""The CI's scanner key of this test session."""


@dataclass
class Audit:
    folder: Path
    report: Path
    model: Path
    data: Path
    body: dict

    def reload(self) -> dict:
        return json.loads(self.report.read_text(encoding="utf-8"))


def make_model(path: Path, seed: int = 0) -> Path:
    import torch

    gen = torch.Generator().manual_seed(seed)
    lin = torch.nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(2, 2, generator=gen))
    torch.jit.script(lin).save(str(path))
    return path


def make_audit(folder: Path, *, outcome: str = "pass", tier: str = "medium", keys: dict | None = None,
               allow_warn: bool = True, ttl_days: int = 90, model_seed: int = 0, rows: int = 20,
               html: bool = False, model_from: Path | None = None, scanner=SCANNER,
               ledger: Path | None = None) -> Audit:
    """Scan a CSV of ``rows`` rows with a TorchScript model; ``outcome`` picks the levels.
    The report is attested by ``scanner`` (None: not attested) with the ledger's head."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "model.pt"
    if model_from is not None:  # the very same bytes (TorchScript saves differ run to run)
        model.write_bytes(Path(model_from).read_bytes())
    else:
        make_model(model, seed=model_seed)
    data = folder / "data.csv"
    pd.DataFrame({"a": np.arange(rows, dtype=float), "b": np.ones(rows), "y": [0, 1] * (rows // 2)}).to_csv(
        data, index=False)
    levels = {"pass": {"warn": 500, "fail": 1000}, "warn": {"warn": 5, "fail": 1000},
              "fail": {"warn": 1, "fail": 5}}[outcome]
    policy = {"name": "test", "risk_tier": tier, "allow_warn": allow_warn, "approval_ttl_days": ttl_days,
              "approvals": APPROVALS, "keys": keys or {},
              "checks": {"rowcount": {"thresholds": {"rows": levels}}}}
    report = riskaudit.scan(data=str(data), model=str(model), target="y", policy=policy,
                            registry=Registry.from_classes([RowCount]))
    assert report.status.value == outcome
    body = report.to_dict()
    path = folder / "report.json"
    path.write_text(json.dumps(body, indent=2), encoding="utf-8")
    if scanner is not None:
        attest(path, body, scanner, ledger)
    if html:
        from riskaudit.reports.html import render

        (folder / "report.html").write_text(render(body), encoding="utf-8")
    return Audit(folder=folder, report=path, model=model, data=data, body=body)


def make_key(folder: Path, name: str):
    """(private key object, private key path, public key text)."""
    priv, _, text = generate_keypair(folder / f"{name}.key")
    return load_private_key(priv), priv, text


def attest(report_path: Path, body: dict, scanner, ledger: Path | None = None) -> Path:
    """Record the scan in the ledger and write its signed attestation, as `scan --scanner-key` does."""
    with Ledger(ledger) as led:
        led.record_scan(body, report_path)
        head = led.head()
    return attestation.write(attestation.sign(body, scanner, ledger_head=head), Path(report_path).parent)


def write_trust(path: Path, *, approvers: dict, scanners: dict | None = None, **extra) -> Path:
    """A trust policy file: ``approvers`` role -> {name: key text}; the session's scanner by default."""
    doc = {"scanners": scanners if scanners is not None else {"ci": public_key_text(SCANNER.public_key())},
           "approvers": approvers, "approvals": TRUST_APPROVALS, "risk_tier": "low", **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path
