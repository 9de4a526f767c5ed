"""`riskaudit approve` and `riskaudit keygen`: records bound to the digest, signatures, the
approvals/ folder, the ledger rows, the refreshed HTML, and concurrent approvers."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import stat
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from approval_support import make_audit, make_key
from riskaudit.approvals import (
    RECORD_SCHEMA, approve, approvals_dir, load_records, make_record, signature_state,
)
from riskaudit.commands.approvals import approve as approve_cmd, keygen
from riskaudit.attestation import payload_sha256
from riskaudit.gate import evaluate_gate
from riskaudit.ledger import Ledger


@pytest.fixture(autouse=True)
def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKAUDIT_LEDGER", str(tmp_path / "ledger.sqlite3"))


def test_approve_writes_a_record_file_and_a_ledger_row(tmp_path):
    audit = make_audit(tmp_path / "a")
    now = datetime(2026, 11, 24, 12, 30, 5, tzinfo=timezone.utc)
    rec, path = approve(audit.report, role="compliance", approver="Ana Ö'Brien <script>",
                        comment="ok with the drift", now=now)
    assert path.parent == tmp_path / "a" / "approvals" and path.suffix == ".json"
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk == rec
    assert rec == {
        "schema": RECORD_SCHEMA, "report_digest": audit.body["digest"], "role": "compliance",
        "approver": "Ana Ö'Brien <script>", "decision": "approve", "comment": "ok with the drift",
        "created_at": "2026-11-24T12:30:05.000000Z",
        "model_sha256": audit.body["subject"]["model"]["sha256"],
        "policy_sha256": audit.body["subject"]["policy"]["sha256"],
        "attestation_sha256": payload_sha256(json.loads((tmp_path / "a" / "report.intoto.json").read_text())),
        "ledger_head": rec["ledger_head"],
    }
    with Ledger(tmp_path / "ledger.sqlite3") as led:  # the head before the approval's own row
        assert led.check_head(rec["ledger_head"]) is None and rec["ledger_head"]["seq"] == led.head()["seq"] - 1
    assert signature_state(rec) == "unsigned"
    assert [p.name for p in (tmp_path / "a").iterdir() if p.name.startswith(".")] == []  # no temp file left
    with Ledger(tmp_path / "ledger.sqlite3") as led:
        assert led.approvals(audit.body["digest"]) == [rec]
        assert [s.digest for s in led.scans()] == [audit.body["digest"]]
        assert led.verify() == []


def test_signed_record_verifies_and_any_change_breaks_it(tmp_path):
    audit = make_audit(tmp_path / "a")
    key, key_path, public = make_key(tmp_path, "me")
    rec, _ = approve(audit.report, role="model-owner", approver="Me", key_path=key_path)
    assert rec["public_key"] == public and public.startswith("ed25519:")
    assert signature_state(rec) == "valid"
    for field, value in [("decision", "reject"), ("report_digest", "sha256:" + "0" * 64),
                         ("created_at", "2030-01-01T00:00:00.000000Z"), ("role", "compliance")]:
        assert signature_state({**rec, field: value}) == "invalid", field
    assert signature_state({**rec, "signature": "not base64!"}) == "invalid"
    assert signature_state({k: v for k, v in rec.items() if k != "public_key"}) == "invalid"


def test_cli_approve_and_reject(tmp_path):
    audit = make_audit(tmp_path / "a")
    runner = CliRunner()
    res = runner.invoke(approve_cmd, [str(audit.report), "--role", "model-owner", "--approver", "Olivia"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("Recorded approve by 'Olivia' as 'model-owner' (UNSIGNED: it will not count "
                                 "at a gate with a trust policy) for report sha256:")
    assert res.output.splitlines()[1] == ("Approvals still needed: role 'compliance': 0 of 1 required approval(s) "
                                          "from different trusted keys (by the report's own requirements; the "
                                          "gate applies the trust policy)")
    res = runner.invoke(approve_cmd, [str(audit.report), "--role", "compliance", "--approver", "Carl",
                                      "--reject", "--comment", "needs a fairness review"])
    assert res.exit_code == 0, res.output
    records, problems = load_records(audit.report, audit.body["digest"])
    assert [(r["role"], r["decision"], r["comment"]) for r in records] == [
        ("model-owner", "approve", ""), ("compliance", "reject", "needs a fairness review")]
    assert problems == []


@pytest.mark.parametrize("args, message", [
    (["--role", "janitor", "--approver", "J"],
     "--role 'janitor': neither this report's policy nor the trust policy asks for that role "
     "(roles: model-owner, compliance)"),
    (["--role", "compliance", "--approver", "  "], "--approver: give your name"),
    (["--role", "compliance", "--approver", "C", "--key", "missing.key"], "--key: file 'missing.key' does not exist"),
])
def test_cli_approve_bad_input_exits_2(tmp_path, monkeypatch, args, message):
    audit = make_audit(tmp_path / "a")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(approve_cmd, [str(audit.report), *args])
    assert res.exit_code == 2
    assert res.output.strip() == f"riskaudit: error: {message}"
    assert not approvals_dir(audit.report).exists()


def test_approve_refuses_a_tampered_report_and_a_non_ed25519_key(tmp_path):
    audit = make_audit(tmp_path / "a")
    body = audit.reload()
    body["status"] = "pass" if body["status"] != "pass" else "warn"
    audit.report.write_text(json.dumps(body))
    res = CliRunner().invoke(approve_cmd, [str(audit.report), "--role", "compliance", "--approver", "C"])
    assert res.exit_code == 2 and "was changed after the scan" in res.output

    other = make_audit(tmp_path / "b")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "ec.key").write_bytes(pem)
    res = CliRunner().invoke(approve_cmd, [str(other.report), "--role", "compliance", "--approver", "C",
                                           "--key", str(tmp_path / "ec.key")])
    assert res.exit_code == 2 and "not an Ed25519 key" in res.output
    (tmp_path / "junk.key").write_text("hello")
    res = CliRunner().invoke(approve_cmd, [str(other.report), "--role", "compliance", "--approver", "C",
                                           "--key", str(tmp_path / "junk.key")])
    assert res.exit_code == 2 and "is not an unencrypted PEM private key" in res.output


def test_keygen_writes_a_private_key_0600_and_a_public_key_line(tmp_path):
    runner = CliRunner()
    out = tmp_path / "keys" / "owner.key"
    res = runner.invoke(keygen, ["--out", str(out)])
    assert res.exit_code == 0, res.output
    pub = (tmp_path / "keys" / "owner.key.pub").read_text().strip()
    assert pub.startswith("ed25519:") and f'"{pub}"' in res.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert out.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    res = runner.invoke(keygen, ["--out", str(out)])
    assert res.exit_code == 2 and "already exists" in res.output
    assert runner.invoke(keygen, ["--out", str(out), "--force"]).exit_code == 0
    assert (tmp_path / "keys" / "owner.key.pub").read_text().strip() != pub


def test_approve_refreshes_the_html_approval_block(tmp_path):
    audit = make_audit(tmp_path / "a", html=True)
    html = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    assert "Olivia &lt;Owner&gt;" not in html
    res = CliRunner().invoke(approve_cmd, [str(audit.report), "--role", "model-owner", "--approver", "Olivia <Owner>"])
    assert res.exit_code == 0, res.output
    assert "Updated the approval status in" in res.output
    html = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    assert "Olivia &lt;Owner&gt;" in html and "<Owner>" not in html
    assert "riskaudit approve report.json --role compliance --approver" in html
    assert "--role model-owner --approver" not in html  # model-owner has signed
    row = html[html.index("<td>model-owner</td>"):].split("</tr>")[0]
    assert row.count("<td>") == 5 and "<td>0</td>" in row  # nobody missing for model-owner
    row = html[html.index("<td>compliance</td>"):].split("</tr>")[0]
    assert "<td>1</td><td>—</td><td>1</td>" in row  # compliance: required 1, none signed, 1 missing


def test_no_html_is_created_when_the_scan_wrote_none(tmp_path):
    audit = make_audit(tmp_path / "a")
    res = CliRunner().invoke(approve_cmd, [str(audit.report), "--role", "model-owner", "--approver", "O"])
    assert res.exit_code == 0 and "Updated" not in res.output
    assert not (tmp_path / "a" / "report.html").exists()


def _approve_many(report, ledger, key_path, worker, n, barrier):
    os.environ["RISKAUDIT_LEDGER"] = ledger
    barrier.wait(60)  # every worker starts writing at the same moment
    for i in range(n):
        role = "model-owner" if (worker + i) % 2 else "compliance"
        approve(report, role=role, approver=f"worker{worker}-{i}", key_path=key_path)


def test_concurrent_approvals_on_one_ledger_lose_nothing(tmp_path):
    audit = make_audit(tmp_path / "a")
    _, key_path, _ = make_key(tmp_path, "k")
    ledger = str(tmp_path / "shared.sqlite3")
    workers, each = 6, 5
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=_approve_many, args=(str(audit.report), ledger, str(key_path), w, each, barrier))
             for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    records, problems = load_records(audit.report, audit.body["digest"])
    assert len(records) == workers * each and problems == []
    with Ledger(ledger) as led:
        rows = led.approvals(audit.body["digest"])
        assert len(rows) == workers * each
        assert sorted(r["approver"] for r in rows) == sorted(f"worker{w}-{i}" for w in range(workers)
                                                             for i in range(each))
        assert len(led.scans()) == 0  # approvers without --trust never record a scan: the scanner does
        assert led.verify() == []
        assert led.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert all(signature_state(r) == "valid" for r in records)
    # one key signed every record under 30 names: it counts once per role, and the gate opens
    # only on the local escape hatch where any key counts (approve needs model-owner + compliance)
    assert evaluate_gate(audit.report, insecure=True, ledger_path=ledger).open


def test_make_record_validates_its_fields(tmp_path):
    audit = make_audit(tmp_path / "a")
    from riskaudit.errors import InputError

    with pytest.raises(InputError, match="--role"):
        make_record(audit.body, role=" ", approver="x")
    with pytest.raises(InputError, match="decision 'maybe'"):
        make_record(audit.body, role="r", approver="x", decision="maybe")


def test_a_ledger_that_cannot_be_written_leaves_no_approval_file(tmp_path):
    audit = make_audit(tmp_path / "a")
    (tmp_path / "junk.db").write_bytes(b"not a database" * 200)
    res = CliRunner().invoke(approve_cmd, [str(audit.report), "--role", "compliance", "--approver", "C",
                                           "--ledger", str(tmp_path / "junk.db")])
    assert res.exit_code == 2 and "is not a riskaudit ledger" in res.output
    assert list(approvals_dir(audit.report).glob("*.json")) == []
    res = CliRunner().invoke(approve_cmd, [str(audit.report), "--role", "compliance", "--approver", "C"])
    assert "Approvals still needed: role 'model-owner': 0 of 1" in res.output
    res = CliRunner().invoke(approve_cmd, [str(audit.report), "--role", "model-owner", "--approver", "O"])
    assert "Approvals still needed: none, every required role has signed" in res.output
