"""No audited file runs code unless the user says so, scans are attested in a format other
tools verify, and what riskaudit shows stays inert. Real archives, real payloads, real keys."""

from __future__ import annotations

import base64
import json
import os
import pickle
import stat
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from approval_support import make_model
from helpers import assert_usage_error, run_cli
from riskaudit.errors import ModelLoadError
from riskaudit.model import load_model


class _Payload:
    """Unpickling this runs exec(): it creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def _pt2_with_payload(tmp_path: Path, where: str) -> tuple[Path, Path]:
    """A genuine torch.export archive whose weights / constants / sample inputs hold a payload."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)
            self.k = torch.tensor([1.0, 2.0])  # a constant

        def forward(self, x):
            return self.lin(x) + self.k

    clean = tmp_path / "clean.pt2"
    torch.export.save(torch.export.export(Net(), (torch.randn(3, 2),)), str(clean))
    marker = tmp_path / f"marker-{where}"
    payload = pickle.dumps(_Payload(marker))
    with zipfile.ZipFile(clean) as src:
        files = {n: src.read(n) for n in src.namelist()}
    root = next(iter(files)).split("/", 1)[0]
    if where in ("weights", "constants"):
        cfg_name = f"{root}/data/{where}/model_{where}_config.json"
        cfg = json.loads(files[cfg_name])
        entry = cfg["config"]["lin.weight"] if where == "weights" else next(iter(cfg["config"].values()))
        entry["use_pickle"] = True  # the archive says: this one is a pickle
        files[cfg_name] = json.dumps(cfg).encode()
        files[f"{root}/data/{where}/{entry['path_name']}"] = payload
    else:
        name = next(n for n in files if "/data/sample_inputs/" in n)
        files[name] = payload
    out = tmp_path / f"evil-{where}.pt2"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for name, data in files.items():
            dst.writestr(name, data)
    return out, marker


@pytest.mark.parametrize("where", ["weights", "constants", "sample_inputs"])
def test_pt2_payloads_never_run_without_trust_model(tmp_path, where):
    evil, marker = _pt2_with_payload(tmp_path, where)
    with pytest.raises(ModelLoadError, match="torch.export archive .* refuses it"):
        load_model(str(evil))
    assert not marker.exists()
    # the payload is live: unpickling the bytes planted in the archive does write the marker
    with zipfile.ZipFile(evil) as zf:
        planted = [zf.read(n) for n in zf.namelist() if zf.read(n) == pickle.dumps(_Payload(marker))]
    assert len(planted) == 1  # exactly the planted member (tensor bytes may also start with 0x80)
    pickle.loads(planted[0])  # noqa: S301 - the positive control, on the test's own payload
    assert marker.exists()
    marker.unlink()
    # and through the command line: exit 2, one message, no traceback, no marker
    pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 0.0], "y": [0, 1]}).to_csv(tmp_path / "d.csv", index=False)
    proc = run_cli("scan", "--model", str(evil), "--data", str(tmp_path / "d.csv"), "--target", "y",
                   "--out", str(tmp_path / "out"), "-q", cwd=tmp_path, timeout=300)
    assert_usage_error(proc, "torch.export archive", "--trust-model")
    assert not marker.exists()


def _evil_checkout(tmp_path: Path, project: str) -> tuple[Path, Path]:
    """A checkout under audit: a package that writes a marker when imported, and its riskaudit.yaml."""
    repo = tmp_path / "checkout"
    (repo / "evilpkg").mkdir(parents=True)
    marker = tmp_path / "imported"
    (repo / "evilpkg" / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').write('pwned')\n"
        "import torch\n"
        "def train(seed):\n    return torch.nn.Linear(2, 2)\n"
        "def Model():\n    return torch.nn.Linear(2, 2)\n")
    make_model(repo / "model.pt")
    pd.DataFrame({"a": np.arange(20.0), "b": np.ones(20), "y": [0, 1] * 10}).to_csv(repo / "data.csv", index=False)
    (repo / "riskaudit.yaml").write_text(project)
    return repo, marker


@pytest.mark.parametrize("project, key", [
    ("target: y\ntrain_entry_point: evilpkg:train\n", "train_entry_point: 'evilpkg:train'"),
    ("target: y\nmodel: evilpkg:Model\n", "model: 'evilpkg:Model'"),
    ("target: y\ntrust_model: true\n", "trust_model: true"),
])
def test_implicit_project_file_never_imports_code(tmp_path, project, key):
    repo, marker = _evil_checkout(tmp_path, project)
    # the command line names only a TorchScript file and a CSV; ./riskaudit.yaml is read implicitly
    proc = run_cli("scan", "--model", "model.pt", "--data", "data.csv", "--check", "data_validity",
                   "--out", str(tmp_path / "out"), "-q", cwd=repo, timeout=300)
    assert_usage_error(proc, "found implicitly", key, "--allow-project-code")
    assert not marker.exists()


@pytest.mark.parametrize("project, key", [
    ("target: y\ndata: data.csv\ntrain_entry_point: evilpkg:train\n", "train_entry_point: 'evilpkg:train'"),
    ("target: y\ndata: data.csv\nmodel: evilpkg:Model\n", "model: 'evilpkg:Model'"),
])
def test_a_named_project_file_does_not_run_its_code_either(tmp_path, project, key):
    """CI runs `riskaudit scan checkout/riskaudit.yaml` on a pull request: naming the file says
    what to scan, not that the pull request's code may run beside the job's signing key."""
    repo, marker = _evil_checkout(tmp_path, project)
    proc = run_cli("scan", str(repo / "riskaudit.yaml"), "--check", "data_validity",
                   "--out", str(tmp_path / "out"), "-q", cwd=tmp_path, timeout=300)
    assert_usage_error(proc, key, "--allow-project-code")
    assert "found implicitly" not in proc.stderr
    assert not marker.exists()
    # the same entry point on the command line is the caller's own choice
    (repo / "riskaudit.yaml").unlink()
    proc = run_cli("scan", "--model", "evilpkg:Model", "--data", "data.csv", "--target", "y",
                   "--check", "data_validity", "--out", str(tmp_path / "out2"), "-q", cwd=repo, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    assert marker.exists()


def test_allow_project_code_is_the_explicit_opt_in(tmp_path):
    repo, marker = _evil_checkout(tmp_path, "target: y\nmodel: evilpkg:Model\n")
    proc = run_cli("scan", "--data", "data.csv", "--check", "data_validity", "--allow-project-code",
                   "--out", str(tmp_path / "out"), "-q", cwd=repo, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    assert marker.exists()  # the user said so: the entry point was imported


def test_keygen_writes_a_0600_private_key_even_over_a_0644_file(tmp_path):
    from click.testing import CliRunner

    from riskaudit.commands.approvals import keygen

    key = tmp_path / "ci.key"
    key.write_text("old")
    key.chmod(0o644)
    old_umask = os.umask(0o022)
    try:
        res = CliRunner().invoke(keygen, ["--out", str(key), "--force"])
    finally:
        os.umask(old_umask)
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ci.key", "ci.key.pub"]  # no temporary left


def test_scan_with_scanner_key_writes_a_dsse_attestation_others_can_verify(tmp_path):
    """The envelope is checked with an independent DSSE verifier: the PAE built here from the
    spec (DSSEv1 SP len(type) SP type SP len(body) SP body) and cryptography's Ed25519."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from riskaudit.approvals import generate_keypair
    from riskaudit.ledger import Ledger

    priv, _, public = generate_keypair(tmp_path / "scanner.key")
    pd.DataFrame({"a": np.arange(20.0), "b": np.ones(20), "y": [0, 1] * 10}).to_csv(tmp_path / "d.csv", index=False)
    make_model(tmp_path / "m.pt")
    ledger = tmp_path / "ledger.sqlite3"
    proc = run_cli("scan", "--model", str(tmp_path / "m.pt"), "--data", str(tmp_path / "d.csv"), "--target", "y",
                   "--check", "data_validity", "--format", "json", "--out", str(tmp_path / "out"),
                   "--scanner-key", str(priv), "--ledger", str(ledger), "-q", cwd=tmp_path, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    env = json.loads((tmp_path / "out" / "report.intoto.json").read_text())
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert env["payloadType"] == "application/vnd.in-toto+json" and len(env["signatures"]) == 1
    body = base64.b64decode(env["payload"])
    pae = b"DSSEv1 %d %s %d %s" % (len(env["payloadType"]), env["payloadType"].encode(), len(body), body)
    raw = base64.b64decode(public.removeprefix("ed25519:"))
    ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(env["signatures"][0]["sig"]), pae)
    stmt = json.loads(body)
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    import hashlib

    assert {s["digest"]["sha256"] for s in stmt["subject"]} == {
        hashlib.sha256((tmp_path / "m.pt").read_bytes()).hexdigest(),
        report["subject"]["datasets"]["current"]["sha256"]}
    assert stmt["predicate"]["report"]["digest"] == report["digest"]
    assert stmt["predicate"]["policy"]["sha256"] == report["subject"]["policy"]["sha256"]
    with Ledger(ledger) as led:  # the ledger's head right after the scan's own row
        assert stmt["predicate"]["ledger"] == led.head() and led.scans()[-1].digest == report["digest"]
    # a bad key is exit 2 before any scan work
    (tmp_path / "bad.key").write_text("not a key")
    proc = run_cli("scan", "--data", str(tmp_path / "d.csv"), "--scanner-key", str(tmp_path / "bad.key"),
                   "--out", str(tmp_path / "out2"), cwd=tmp_path, timeout=300)
    assert_usage_error(proc, "--scanner-key:", "bad.key")
    assert not (tmp_path / "out2").exists()


def test_commands_shown_in_html_and_hints_quote_user_values(tmp_path):
    import html as html_mod
    import shlex

    from riskaudit.gate import approval_reasons
    from riskaudit.reports.html import render

    role = "x; touch /tmp/pwned #"
    report = {"schema_version": "1", "status": "pass", "risk_tier": "low", "digest": "sha256:" + "0" * 64,
              "subject": {"datasets": {}, "policy": {"name": "p", "sha256": "1" * 64}}, "checks": [],
              "approvals_required": [{"role": role, "count": 1}], "manifest": {}, "created_at": "",
              "tool": {"name": "riskaudit", "version": "0"}}
    page = render(report)

    shown = html_mod.unescape(page.split('<div class="cmd">', 1)[1].split("</div>", 1)[0])
    argv = shlex.split(shown.splitlines()[0])
    assert argv[argv.index("--role") + 1] == role  # the pasted command keeps the role one argument
    blocking, _ = approval_reasons(report, [])
    hint = blocking[0].split("(record one with: ", 1)[1].rstrip(")")
    argv = shlex.split(hint)
    assert argv[argv.index("--role") + 1] == role  # one argument, not a command separator


def test_terminal_text_is_inert():
    from riskaudit.inert import terminal

    shown = terminal("Carl\x1b[2K\r\x1b]0;owned\x07\nGate OPEN: fake\u202e\x00")
    assert shown == "Carl ⏎ Gate OPEN: fake"  # the OSC title and the line clear are gone
    assert all(ord(c) >= 32 for c in shown)


def test_scan_progress_lines_are_inert(capsys):
    from types import SimpleNamespace

    from riskaudit.cli import StderrProgress
    from riskaudit.result import Status

    progress = StderrProgress()
    progress.check_started("pii", "", 0, 1)
    progress.check_finished(SimpleNamespace(id="pii", status=Status.PASS, duration_s=0.1,
                                            summary="column '\x1b[2Jx'\nVerdict: PASS"))
    err = capsys.readouterr().err
    assert "\x1b" not in err and err.count("\n") == 1 and "Verdict: PASS" in err


def test_end_to_end_trust_flow_through_the_command_line(tmp_path):
    """keygen -> scan --scanner-key -> approve --key --trust -> gate --trust, each a real process."""
    from approval_support import write_trust

    env = {"RISKAUDIT_LEDGER": str(tmp_path / "ledger.sqlite3")}
    keys = {}
    for name in ("scanner", "olivia", "carl", "rita"):
        proc = run_cli("keygen", "--out", str(tmp_path / "keys" / f"{name}.key"), env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        keys[name] = (tmp_path / "keys" / f"{name}.key.pub").read_text().strip()
    trust = write_trust(tmp_path / "deploy" / "trust.yaml", scanners={"ci": keys["scanner"]},
                        approvers={"model-owner": {"Olivia": keys["olivia"]}, "compliance": {"Carl": keys["carl"]},
                                   "risk-officer": {"Rita": keys["rita"]}},
                        approvals={tier: {outcome: [{"role": "model-owner", "count": 1},
                                                    {"role": "compliance", "count": 1}]
                                          for outcome in ("pass", "warn")} for tier in ("low", "medium", "high")},
                        allow_warn=True, require={"model_hash": True})
    pd.DataFrame({"a": np.arange(40.0), "b": np.ones(40), "y": [0, 1] * 20}).to_csv(tmp_path / "d.csv", index=False)
    make_model(tmp_path / "m.pt")
    proc = run_cli("scan", "--model", str(tmp_path / "m.pt"), "--data", str(tmp_path / "d.csv"), "--target", "y",
                   "--check", "data_validity", "--format", "html,json", "--out", str(tmp_path / "audit"),
                   "--scanner-key", str(tmp_path / "keys" / "scanner.key"), "-q", env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = str(tmp_path / "audit" / "report.json")
    gate = ["gate", report, "--trust", str(trust), "--model", str(tmp_path / "m.pt")]
    proc = run_cli(*gate, env=env, timeout=120)
    assert proc.returncode == 1 and "role 'model-owner': 0 of 1" in proc.stdout
    # the report's own policy may ask for more (here a risk officer on warn): it can raise, never lower
    required = {r["role"] for r in json.loads(Path(report).read_text())["approvals_required"]}
    signers = {"model-owner": "olivia", "compliance": "carl", "risk-officer": "rita"}
    for role, who in ((role, signers[role]) for role in sorted(required | {"model-owner", "compliance"})):
        proc = run_cli("approve", report, "--role", role, "--approver", who.title(), "--key",
                       str(tmp_path / "keys" / f"{who}.key"), "--trust", str(trust), env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
    proc = run_cli(*gate, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("Gate OPEN"), proc.stdout
    make_model(tmp_path / "m.pt", seed=5)  # a different model under the audited name
    proc = run_cli(*gate, env=env, timeout=120)
    assert proc.returncode == 1 and "changed after the audit" in proc.stdout
