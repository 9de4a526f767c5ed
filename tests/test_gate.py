"""`riskaudit gate REPORT --trust TRUST_POLICY`: the tamper matrix. Each attack closes the gate
with its own reason; the happy path opens it. Real scans, real Ed25519 keys, real DSSE
attestations, a real SQLite ledger, real files."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from approval_support import SCANNER, attest, make_audit, make_key, make_model, write_trust
from helpers import ROOT, assert_usage_error, run_cli
from riskaudit.approvals import approve, approvals_dir, make_record, parse_time, write_record
from riskaudit.commands.approvals import gate
from riskaudit.gate import NO_TRUST_POLICY, evaluate_gate
from riskaudit.ledger import Ledger
from riskaudit.result import compute_digest


@pytest.fixture(autouse=True)
def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKAUDIT_LEDGER", str(tmp_path / "ledger.sqlite3"))


@dataclass
class World:
    audit: object
    trust: Path
    owner: tuple
    comp: tuple
    comp2: tuple
    risk: tuple
    keys: Path


def _world(tmp_path, **audit_kw) -> World:
    keys = tmp_path / "keys"
    owner, comp, comp2, risk = (make_key(keys, n) for n in ("owner", "compliance", "compliance2", "risk"))
    trust = write_trust(tmp_path / "deploy" / "trust.yaml", approvers={
        "model-owner": {"Olivia": owner[2]}, "compliance": {"Carl": comp[2], "Cleo": comp2[2]},
        "risk-officer": {"Rita": risk[2]}})
    return World(make_audit(tmp_path / "audit", **audit_kw), trust, owner, comp, comp2, risk, keys)


@pytest.fixture()
def world(tmp_path):
    """A passing medium-tier audit attested by the CI scanner; nobody has signed yet."""
    return _world(tmp_path)


def sign_all(w: World, now=None, report=None):
    approve(report or w.audit.report, role="model-owner", approver="Olivia Owner", key_path=w.owner[1], now=now)
    approve(report or w.audit.report, role="compliance", approver="Carl Compliance", key_path=w.comp[1], now=now)


def only_reason_with(result, needle):
    assert not result.open
    hits = [r for r in result.reasons if needle in r]
    assert hits, (needle, result.reasons)
    return hits


def test_happy_path_opens_the_gate(world):
    sign_all(world)
    a = world.audit
    result = evaluate_gate(a.report, world.trust, model_path=a.model, data_path=a.data)
    assert result.open and result.reasons == [] and result.notes == [], result
    res = CliRunner().invoke(gate, [str(a.report), "--trust", str(world.trust), "--model", str(a.model),
                                    "--data", str(a.data)])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("Gate OPEN")


def test_without_a_trust_policy_the_gate_stays_closed_and_says_why(world):
    sign_all(world)
    result = evaluate_gate(world.audit.report)
    assert not result.open and result.reasons == [NO_TRUST_POLICY]
    res = CliRunner().invoke(gate, [str(world.audit.report)])
    assert res.exit_code == 1 and "no trust policy was given (--trust TRUST_POLICY)" in res.output
    # the loudly named escape hatch judges by the report's own requirements, and says so
    res = CliRunner().invoke(gate, [str(world.audit.report), "--insecure-no-trust-policy"])
    assert res.exit_code == 0 and "INSECURE: no trust policy" in res.output
    res = CliRunner().invoke(gate, [str(world.audit.report), "--insecure-no-trust-policy", "--trust",
                                    str(world.trust)])
    assert res.exit_code == 2


def test_gate_help_explains_the_trust_flow_in_three_sentences():
    res = CliRunner().invoke(gate, ["--help"])
    assert res.exit_code == 0
    import re

    doc = " ".join(gate.help.split())
    assert len(re.findall(r"\.(?:\s|$)", doc)) == 3, doc  # three sentences
    for needle in ("TRUST_POLICY", "scanner", "approver keys", "stays closed"):
        assert needle in res.output


def test_no_approval_yet_lists_every_missing_role(world):
    result = evaluate_gate(world.audit.report, world.trust)
    assert [r.split(":")[0] for r in result.reasons] == ["role 'model-owner'", "role 'compliance'"]
    assert "0 of 1 required approval(s) from different trusted keys" in result.reasons[0]
    assert "riskaudit approve REPORT --role model-owner --key KEY" in result.reasons[0]


def test_one_byte_changed_in_report_closes_the_gate(world):
    sign_all(world)
    raw = bytearray(world.audit.report.read_bytes())
    pos = raw.index(b'"rows": 20') + len(b'"rows": 2')
    raw[pos:pos + 1] = b"1"  # 20 rows -> 21 rows: still valid JSON, one byte changed
    world.audit.report.write_bytes(bytes(raw))
    result = evaluate_gate(world.audit.report, world.trust)
    hits = only_reason_with(result, "digest does not verify")
    assert "was changed after the scan" in hits[0]
    only_reason_with(result, "not attested by a trusted scanner")


def test_one_byte_that_breaks_the_json_closes_the_gate(world):
    raw = world.audit.report.read_bytes()
    world.audit.report.write_bytes(raw[:-2] + b"!" + raw[-1:])
    res = CliRunner().invoke(gate, [str(world.audit.report), "--trust", str(world.trust)])
    assert res.exit_code == 1
    assert "cannot be trusted" in res.output and "is not valid JSON" in res.output


# -- the tamper matrix ------------------------------------------------------------------------
def test_forged_and_rehashed_report(tmp_path):
    """A FAIL report edited to pass, its approvals emptied, its digest recomputed."""
    w = _world(tmp_path, outcome="fail")
    sign_all(w)
    body = w.audit.reload()
    body["status"] = "pass"
    body["approvals_required"] = []
    for check in body["checks"]:
        check["status"] = "pass"
    body["digest"] = compute_digest(body)
    w.audit.report.write_text(json.dumps(body))
    result = evaluate_gate(w.audit.report, w.trust)
    hits = only_reason_with(result, "not attested by a trusted scanner")
    assert "is about report" in hits[0]
    # the trust policy still asks for its roles: the report cannot lower them
    only_reason_with(result, "role 'compliance': 0 of 1")
    # and `approve` refuses to record a decision about the forged report
    with pytest.raises(Exception, match="is about another report"):
        approve(w.audit.report, role="model-owner", approver="Mallory", key_path=w.owner[1])


def test_forged_report_with_a_forged_attestation(tmp_path):
    """The forger also re-signs the attestation with a key of their own."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from riskaudit.errors import InputError
    from riskaudit.trust import load_trust_policy

    w = _world(tmp_path, outcome="fail")
    body = w.audit.reload()
    body["status"] = "pass"
    body["digest"] = compute_digest(body)
    w.audit.report.write_text(json.dumps(body))
    mallory = ed25519.Ed25519PrivateKey.generate()
    attest(w.audit.report, body, mallory, ledger=tmp_path / "mallory.sqlite3")
    with pytest.raises(InputError, match="not signed by a scanner the trust policy lists"):
        approve(w.audit.report, role="model-owner", approver="O", key_path=w.owner[1],
                trust=load_trust_policy(w.trust))
    # without --trust the decision is recorded, but the ledger gains no scan row for the forgery
    approve(w.audit.report, role="model-owner", approver="O", key_path=w.owner[1])
    with Ledger() as led:
        assert body["digest"] not in {s.digest for s in led.scans()}
    sign_all(w)
    only_reason_with(evaluate_gate(w.audit.report, w.trust), "not signed by a scanner the trust policy lists")


def test_lax_project_policy_cannot_lower_the_requirements(tmp_path):
    """The audited side points its project at a policy that asks for no approvals."""
    import riskaudit
    from approval_support import RowCount
    from riskaudit.registry import Registry

    w = _world(tmp_path)
    folder = tmp_path / "lax"
    folder.mkdir()
    report = riskaudit.scan(data=str(w.audit.data), target="y", policy={"name": "lax", "risk_tier": "low"},
                            registry=Registry.from_classes([RowCount]))
    body = report.to_dict()
    assert body["approvals_required"] == [] and body["status"] == "pass"
    (folder / "report.json").write_text(json.dumps(body))
    attest(folder / "report.json", body, SCANNER)  # genuinely scanned and attested by the CI
    result = evaluate_gate(folder / "report.json", w.trust)
    assert [r.split(":")[0] for r in result.reasons] == ["role 'model-owner'"]  # the trust policy's low tier
    pinned = write_trust(tmp_path / "pinned.yaml", approvers=yaml_approvers(w),
                         approvals={"low": {"pass": [{"role": "model-owner", "count": 1}]}},
                         audit_policies=["default", "strict"], risk_tier="medium")
    result = evaluate_gate(folder / "report.json", pinned)
    only_reason_with(result, "which is not one of the trust policy's audit_policies")
    only_reason_with(result, "approvals.medium.pass")  # the pinned tier has no entry for medium: closed


def test_report_attested_by_the_attackers_key(world, tmp_path):
    sign_all(world)
    _, _, mallory = make_key(tmp_path / "mallory", "scanner")
    from cryptography.hazmat.primitives.asymmetric import ed25519

    attest(world.audit.report, world.audit.body, ed25519.Ed25519PrivateKey.generate())
    result = evaluate_gate(world.audit.report, world.trust)
    hits = only_reason_with(result, "not signed by a scanner the trust policy lists (ci)")
    assert len(hits) == 1
    (world.audit.folder / "report.intoto.json").unlink()
    only_reason_with(evaluate_gate(world.audit.report, world.trust), "there is no scan attestation")


def test_approvals_signed_by_the_attackers_key(world, tmp_path):
    approve(world.audit.report, role="model-owner", approver="Olivia Owner", key_path=world.owner[1])
    stranger = make_key(tmp_path / "other", "stranger")
    approve(world.audit.report, role="compliance", approver="Carl Compliance", key_path=stranger[1])
    # a genuine signature, but by the model owner's key, not a compliance key
    approve(world.audit.report, role="compliance", approver="Carl Compliance", key_path=world.owner[1])
    approve(world.audit.report, role="compliance", approver="Carl Compliance")  # unsigned
    result = evaluate_gate(world.audit.report, world.trust)
    assert result.reasons[0].startswith("role 'compliance': 0 of 1")
    assert len([r for r in result.reasons if "does not list for role 'compliance'" in r]) == 2
    only_reason_with(result, "it is unsigned")


def test_one_key_under_two_names_counts_once(tmp_path):
    w = _world(tmp_path, tier="high")  # high: compliance x2
    approve(w.audit.report, role="model-owner", approver="Olivia", key_path=w.owner[1])
    approve(w.audit.report, role="compliance", approver="Ada", key_path=w.comp[1])
    approve(w.audit.report, role="compliance", approver="Bob", key_path=w.comp[1])
    result = evaluate_gate(w.audit.report, w.trust)
    assert len(result.reasons) == 1 and result.reasons[0].startswith("role 'compliance': 1 of 2")
    approve(w.audit.report, role="compliance", approver="Bob", key_path=w.comp2[1])
    assert evaluate_gate(w.audit.report, w.trust).open


def test_deleted_rejection_file_keeps_the_gate_closed(world):
    t0 = datetime.now(timezone.utc) - timedelta(hours=2)
    sign_all(world, now=t0)
    approve(world.audit.report, role="compliance", approver="Carl", decision="reject", comment="bias",
            key_path=world.comp[1], now=t0 + timedelta(hours=1))
    rejection = next(p for p in approvals_dir(world.audit.report).glob("*reject*.json"))
    rejection.unlink()
    result = evaluate_gate(world.audit.report, world.trust)
    hits = only_reason_with(result, "rejected by Carl (key ed25519:")
    assert hits[0].endswith(": 'bias'")
    assert len([r for r in result.reasons if "came after it" in r]) == 2


def test_truncated_ledger_with_rewritten_head(world, tmp_path):
    sign_all(world)
    ledger = tmp_path / "ledger.sqlite3"
    assert evaluate_gate(world.audit.report, world.trust).open
    with Ledger(ledger) as led:
        n = led.head()["seq"]
    # the attacker cuts every row from the scan on, and rewrites the head: two SQL updates
    conn = sqlite3.connect(ledger)
    scan_seq = conn.execute("SELECT MIN(seq) FROM scans WHERE digest = ?", (world.audit.body["digest"],)).fetchone()[0]
    conn.execute("DELETE FROM scans WHERE seq >= ?", (scan_seq,))
    conn.execute("DELETE FROM approvals WHERE seq >= ?", (scan_seq,))
    prev = conn.execute("SELECT row_hash FROM scans WHERE seq = ? UNION SELECT row_hash FROM approvals "
                        "WHERE seq = ?", (scan_seq - 1, scan_seq - 1)).fetchone()
    conn.execute("UPDATE meta SET value = ? WHERE key = 'head_seq'", (str(scan_seq - 1),))
    conn.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (prev[0] if prev else "0" * 64,))
    conn.commit()
    conn.close()
    assert n > scan_seq
    with Ledger(ledger) as led:
        assert led.verify() == []  # the chain alone cannot see it ...
    result = evaluate_gate(world.audit.report, world.trust)  # ... the signed heads can
    hits = only_reason_with(result, "rows were deleted from its tail (truncated)")
    assert "the scan attestation (signed by ci)" in hits[0]
    only_reason_with(result, "the configured ledger does not hold it")


def test_replayed_approval_does_not_count(world, tmp_path):
    sign_all(world)
    other = make_audit(tmp_path / "other", rows=24)
    approvals_dir(other.report).mkdir()
    for src in approvals_dir(world.audit.report).glob("*.json"):
        (approvals_dir(other.report) / src.name).write_bytes(src.read_bytes())  # as signed
    assert evaluate_gate(other.report, world.trust).reasons[0].startswith("role 'model-owner': 0 of 1")
    for src in approvals_dir(world.audit.report).glob("*.json"):
        rec = json.loads(src.read_text())
        rec["report_digest"] = other.body["digest"]  # re-pointed at the new report
        (approvals_dir(other.report) / src.name).write_text(json.dumps(rec))
    result = evaluate_gate(other.report, world.trust)
    assert len([r for r in result.reasons if "signature does not verify" in r]) == 2


def test_approval_of_an_earlier_attestation_is_stale(world, tmp_path):
    sign_all(world)
    with Ledger() as led:  # the ledger moved on: a re-attestation records a new head
        led.record_scan({**world.audit.body, "digest": "sha256:" + "0" * 64}, None)
    attest(world.audit.report, world.audit.body, SCANNER)
    result = evaluate_gate(world.audit.report, world.trust)
    assert len([r for r in result.reasons if "about another attestation of this report" in r]) == 2


def test_expired_approval(world):
    sign_all(world)
    now = datetime.now(timezone.utc)
    assert evaluate_gate(world.audit.report, world.trust, now=now + timedelta(days=89)).open
    result = evaluate_gate(world.audit.report, world.trust, now=now + timedelta(days=91))
    hits = only_reason_with(result, "expired on")
    assert len(hits) == 2 and "(approval_ttl_days: 90)" in hits[0]


def test_swapped_model(world):
    sign_all(world)
    a = world.audit
    make_model(a.model, seed=1)  # a retrained model under the same file name
    result = evaluate_gate(a.report, world.trust, model_path=a.model, data_path=a.data)
    hits = only_reason_with(result, "changed after the audit")
    assert hits[0].startswith(f"the model file {str(a.model)!r} has sha256")
    assert len(result.reasons) == 1
    assert evaluate_gate(a.report, world.trust, data_path=a.data).open  # this trust policy does not require it
    strict = write_trust(world.trust.with_name("strict.yaml"), approvers=yaml_approvers(world),
                         require={"model_hash": True})
    only_reason_with(evaluate_gate(a.report, strict), "give --model MODEL_FILE")


def test_data_swapped_after_the_audit(world):
    sign_all(world)
    a = world.audit
    a.data.write_text(a.data.read_text().replace("\n0.0,", "\n9.0,", 1))
    result = evaluate_gate(a.report, world.trust, model_path=a.model, data_path=a.data)
    only_reason_with(result, "matches no audited dataset")
    assert len(result.reasons) == 1


# -- the rest of the rules --------------------------------------------------------------------
def test_forged_signature_does_not_count(world):
    approve(world.audit.report, role="model-owner", approver="Olivia Owner", key_path=world.owner[1])
    genuine = json.loads(next(approvals_dir(world.audit.report).glob("*.json")).read_text())
    rec = make_record(world.audit.body, role="compliance", approver="Carl", private_key=world.comp[0],
                      attestation_sha256=genuine["attestation_sha256"])
    rec["comment"] = "edited"  # altered after signing: the signature no longer covers it
    write_record(rec, approvals_dir(world.audit.report))
    result = evaluate_gate(world.audit.report, world.trust)
    assert result.reasons[0].startswith("role 'compliance': 0 of 1")
    only_reason_with(result, "signature does not verify")


def test_later_rejection_voids_earlier_approvals(world):
    t0 = datetime.now(timezone.utc) - timedelta(hours=2)
    sign_all(world, now=t0)
    assert evaluate_gate(world.audit.report, world.trust).open
    approve(world.audit.report, role="compliance", approver="Carl Compliance", decision="reject",
            comment="bias not explained", key_path=world.comp[1], now=t0 + timedelta(hours=1))
    result = evaluate_gate(world.audit.report, world.trust)
    assert result.reasons[0].startswith("rejected by Carl (key ed25519:")
    assert result.reasons[0].endswith(": 'bias not explained'")
    assert len([r for r in result.reasons if "came after it" in r]) == 2
    sign_all(world)  # everyone signs again after the rejection: the gate opens
    assert evaluate_gate(world.audit.report, world.trust).open


def test_record_dated_in_the_future_does_not_count(world):
    approve(world.audit.report, role="model-owner", approver="O", key_path=world.owner[1],
            now=datetime.now(timezone.utc) + timedelta(days=1))
    only_reason_with(evaluate_gate(world.audit.report, world.trust), "dated in the future")


def test_warn_outcome_needs_the_trust_policys_allow_warn(tmp_path):
    w = _world(tmp_path, outcome="warn", allow_warn=True)  # the report's own policy says yes ...
    for role, key in (("model-owner", w.owner), ("compliance", w.comp), ("risk-officer", w.risk)):
        approve(w.audit.report, role=role, approver=role, key_path=key[1])
    result = evaluate_gate(w.audit.report, w.trust)  # ... the trust policy (allow_warn absent) says no
    assert result.reasons == ["the report's status is warn and the trust policy does not allow deploying "
                              "on warn (allow_warn: false)"]
    lenient = write_trust(tmp_path / "lenient.yaml", approvers=yaml_approvers(w), allow_warn=True)
    assert evaluate_gate(w.audit.report, lenient).open


def yaml_approvers(w: World) -> dict:
    return {"model-owner": {"Olivia": w.owner[2]}, "compliance": {"Carl": w.comp[2], "Cleo": w.comp2[2]},
            "risk-officer": {"Rita": w.risk[2]}}


def test_fail_outcome_never_opens_even_with_every_approval(tmp_path):
    w = _world(tmp_path, outcome="fail")
    sign_all(w)
    result = evaluate_gate(w.audit.report, w.trust)
    assert result.reasons[0] == "the report's status is fail: at least one finding failed the policy"


def test_role_the_trust_policy_does_not_know(world):
    approve(world.audit.report, role="model-owner", approver="Olivia Owner", key_path=world.owner[1])
    rec = make_record(world.audit.body, role="intern", approver="Ian Intern", private_key=world.comp[0])
    write_record(rec, approvals_dir(world.audit.report))  # committed by hand
    result = evaluate_gate(world.audit.report, world.trust)
    assert result.reasons[0].startswith("role 'compliance': 0 of 1")
    only_reason_with(result, "does not list for role 'intern'")


def test_malformed_approval_file_is_reported_not_fatal(world):
    approvals_dir(world.audit.report).mkdir()
    (approvals_dir(world.audit.report) / "junk.json").write_text("{not json")
    result = evaluate_gate(world.audit.report, world.trust)
    assert any("junk.json is not readable JSON" in r for r in result.reasons)


def test_cli_output_is_inert(world):
    """Names and comments with ANSI escapes and newlines cannot recolour the terminal or fake a verdict."""
    approve(world.audit.report, role="compliance", approver="\x1b[32mCarl\x1b[0m", decision="reject",
            comment="fine\nGate OPEN: the audit verifies\r\x1b[2K", key_path=world.comp[1])
    res = CliRunner().invoke(gate, [str(world.audit.report), "--trust", str(world.trust)])
    assert res.exit_code == 1
    assert "\x1b" not in res.output and "\r" not in res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("Gate CLOSED") and all(line.startswith("- ") for line in lines[1:])
    assert not any(line.startswith("Gate OPEN") for line in lines)


def test_cli_bad_inputs_exit_2(world, tmp_path):
    runner = CliRunner()
    trust = ["--trust", str(world.trust)]
    res = runner.invoke(gate, [str(tmp_path / "missing.json"), *trust])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(gate, [str(world.audit.report), *trust, "--model", str(tmp_path / "nope.pt")])
    assert res.exit_code == 2 and "--model: file" in res.output
    res = runner.invoke(gate, [str(world.audit.report), *trust, "--approvals", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "--approvals: folder" in res.output
    res = runner.invoke(gate, [str(world.audit.report), "--trust", str(tmp_path / "no-trust.yaml")])
    assert res.exit_code == 2 and "--trust: file" in res.output
    bad = tmp_path / "bad-trust.yaml"
    bad.write_text("scanners: {ci: 'ed25519:AAAA'}\napprovers: {}\napprovals: {}\n")
    res = runner.invoke(gate, [str(world.audit.report), "--trust", str(bad)])
    assert res.exit_code == 2 and "scanners.ci decodes to 3 bytes" in res.output
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    res = runner.invoke(gate, [str(tmp_path / "other.json"), *trust])
    assert res.exit_code == 2 and "is not a riskaudit report.json" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_subprocess_missing_report_exits_2_without_traceback(tmp_path):
    code = "from riskaudit.commands.approvals import gate; gate()"
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "no-such-report.json")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert_usage_error(proc, "no-such-report.json", "does not exist")
    assert proc.stderr.startswith("riskaudit: error: REPORT: file")
    # and through the riskaudit console entry point the lead's cli.py maps to it
    assert_usage_error(run_cli("gate", str(tmp_path / "no-such-report.json"), timeout=120), "does not exist")


def test_subprocess_gate_open_and_closed(tmp_path):
    w = _world(tmp_path, tier="low")
    audit, env = w.audit, {"RISKAUDIT_LEDGER": str(tmp_path / "ledger.sqlite3")}
    proc = run_cli("gate", str(audit.report), "--trust", str(w.trust), env=env, timeout=120)
    assert proc.returncode == 1 and "role 'model-owner': 0 of 1" in proc.stdout
    proc = run_cli("approve", str(audit.report), "--role", "model-owner", "--approver", "Ada", "--key",
                   str(w.owner[1]), "--trust", str(w.trust), env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("gate", str(audit.report), "--trust", str(w.trust), "--model", str(audit.model), env=env,
                   timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("Gate OPEN"), proc.stdout + proc.stderr
    rec = json.loads(next(approvals_dir(audit.report).glob("*.json")).read_text())
    assert parse_time(rec["created_at"]).tzinfo is not None and rec["created_at"].endswith("Z")


def test_ci_examples_gate_the_deploy_job_and_publish_the_reports():
    import yaml

    gh = yaml.safe_load((ROOT / "examples" / "ci" / "github-actions.yml").read_text())
    steps = gh["jobs"]["deploy"]["steps"]
    runs = [s.get("run", "") for s in steps]
    gate_at = next(i for i, r in enumerate(runs) if r.startswith("riskaudit gate"))
    assert gate_at < next(i for i, r in enumerate(runs) if "deploy.sh" in r)
    assert gh["jobs"]["audit"]["if"] == "github.event_name == 'pull_request'"
    audit = " ".join(str(s) for s in gh["jobs"]["audit"]["steps"])
    for needle in ("junit.xml", "summary.md", "upload-artifact", "--format html,json,junit,md"):
        assert needle in audit
    gl = yaml.safe_load((ROOT / "examples" / "ci" / "gitlab-ci.yml").read_text())
    assert gl["deploy"]["script"][0].startswith("riskaudit gate")
    assert gl["riskaudit-audit"]["artifacts"]["reports"]["junit"] == "riskaudit-report/junit.xml"
    # the trust-policy flow: the scan is signed, every gate names the trust policy, none uses the escape hatch
    gh_text = (ROOT / "examples" / "ci" / "github-actions.yml").read_text()
    gl_text = (ROOT / "examples" / "ci" / "gitlab-ci.yml").read_text()
    for text in (gh_text, gl_text):
        gates = [line for line in text.splitlines() if "riskaudit gate " in line and not line.lstrip().startswith("#")]
        assert gates and all('--trust "$TRUST"' in line for line in gates), gates
        commands = [line.split(" #")[0] for line in text.splitlines() if not line.lstrip().startswith("#")]
        assert any("--scanner-key" in c for c in commands)
        assert not any(flag in c for c in commands for flag in ("--insecure", "--allow-project-code", "--trust-model"))
    assert gh["env"]["TRUST"] == gl["variables"]["TRUST"] == "deploy/trust.yaml"
    from riskaudit.trust import load_trust_policy

    example = load_trust_policy(ROOT / "examples" / "ci" / "trust.yaml")
    assert example.scanners and example.require_model_hash and not example.insecure
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert "--trust" in next(h for h in hooks if h["id"] == "riskaudit-gate")["args"]
    assert {h["id"]: h["entry"] for h in hooks} == {"riskaudit-gate": "riskaudit gate",
                                                    "riskaudit-scan": "riskaudit scan"}


def test_no_approval_required_opens_on_pass(tmp_path):
    import pandas as pd

    import riskaudit
    from approval_support import RowCount
    from riskaudit.registry import Registry

    report = riskaudit.scan(data=pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}), target="y",
                            policy={"name": "none"}, registry=Registry.from_classes([RowCount]))
    body = report.to_dict()
    (tmp_path / "report.json").write_text(json.dumps(body))
    attest(tmp_path / "report.json", body, SCANNER)
    trust = tmp_path / "trust.yaml"
    trust.write_text(f"scanners: {{ci: {json.dumps(write_scanner())}}}\napprovers: {{}}\n"
                     "approvals: {low: {pass: []}, medium: {pass: []}}\n")
    assert evaluate_gate(tmp_path / "report.json", trust).open
    assert evaluate_gate(tmp_path, trust).open  # a folder holding report.json works too


def write_scanner() -> str:
    from riskaudit.approvals import public_key_text

    return public_key_text(SCANNER.public_key())


def test_configured_ledger_missing_damaged_or_named_by_the_trust_policy(world, tmp_path, monkeypatch):
    sign_all(world)
    only_reason_with(evaluate_gate(world.audit.report, world.trust, ledger_path=tmp_path / "none.sqlite3"),
                     "the configured ledger")
    conn = sqlite3.connect(tmp_path / "ledger.sqlite3")
    conn.execute("UPDATE approvals SET comment = 'edited' WHERE seq = (SELECT MAX(seq) FROM approvals)")
    conn.commit()
    conn.close()
    only_reason_with(evaluate_gate(world.audit.report, world.trust), "the ledger is damaged")
    # the trust policy names the ledger (relative to itself); $RISKAUDIT_LEDGER is not needed
    monkeypatch.delenv("RISKAUDIT_LEDGER")
    named = write_trust(world.trust.with_name("named.yaml"), approvers=yaml_approvers(world),
                        ledger="../ledger.sqlite3")
    only_reason_with(evaluate_gate(world.audit.report, named), "the ledger is damaged")
    assert evaluate_gate(world.audit.report, world.trust).open  # no ledger configured: files alone


@pytest.mark.parametrize("envelope", [
    "[]", "{}", "not json", '{"payload": "!!", "payloadType": "application/vnd.in-toto+json", "signatures": []}',
    '{"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": "x"}',
    '{"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": [{"keyid": 1, "sig": "%%"}]}',
    '{"payload": "e30=", "payloadType": "text/plain", "signatures": []}',
])
def test_malformed_attestation_closes_the_gate_without_a_traceback(world, envelope):
    sign_all(world)
    (world.audit.folder / "report.intoto.json").write_text(envelope)
    only_reason_with(evaluate_gate(world.audit.report, world.trust), "the report is not attested by a trusted scanner")
    res = CliRunner().invoke(gate, [str(world.audit.report), "--trust", str(world.trust)])
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_trusted_scanner_signing_a_statement_about_something_else(world):
    """A genuine signature by the trusted key over a payload that is not this report's Statement."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner, SSlibKey

    sign_all(world)
    for payload in (b"[1, 2]", json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [],
                                           "predicateType": "x", "predicate": {}}).encode()):
        env = Envelope(payload=payload, payload_type="application/vnd.in-toto+json", signatures={})
        env.sign(CryptoSigner(SCANNER, SSlibKey.from_crypto(SCANNER.public_key())))
        (world.audit.folder / "report.intoto.json").write_text(json.dumps(env.to_dict()))
        only_reason_with(evaluate_gate(world.audit.report, world.trust), "not a riskaudit scan Statement")
