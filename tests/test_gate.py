"""`riskaudit gate`: the tamper matrix. Each attack closes the gate with its own reason; the
happy path opens it. Real scans, real Ed25519 keys, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from approval_support import make_audit, make_key, make_model
from helpers import ROOT, assert_usage_error, run_cli
from riskaudit.approvals import approve, approvals_dir, make_record, parse_time, write_record
from riskaudit.commands.approvals import gate
from riskaudit.gate import evaluate_gate


@pytest.fixture(autouse=True)
def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKAUDIT_LEDGER", str(tmp_path / "ledger.sqlite3"))


@pytest.fixture()
def signed(tmp_path):
    """A passing medium-tier audit whose policy lists one key per role; nobody has signed yet."""
    keys_dir = tmp_path / "keys"
    owner = make_key(keys_dir, "owner")
    comp = make_key(keys_dir, "compliance")
    audit = make_audit(tmp_path / "audit", keys={"model-owner": [owner[2]], "compliance": [comp[2]]})
    return audit, owner, comp


def sign_all(audit, owner, comp, now=None):
    approve(audit.report, role="model-owner", approver="Olivia Owner", key_path=owner[1], now=now)
    approve(audit.report, role="compliance", approver="Carl Compliance", key_path=comp[1], now=now)


def only_reason_with(result, needle):
    assert not result.open
    hits = [r for r in result.reasons if needle in r]
    assert hits, (needle, result.reasons)
    return hits


def test_happy_path_opens_the_gate(signed):
    audit, owner, comp = signed
    sign_all(audit, owner, comp)
    result = evaluate_gate(audit.report, model_path=audit.model, data_path=audit.data)
    assert result.open and result.reasons == [] and result.notes == []
    res = CliRunner().invoke(gate, [str(audit.report), "--model", str(audit.model), "--data", str(audit.data)])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("Gate OPEN")


def test_no_approval_yet_lists_every_missing_role(signed):
    audit, _, _ = signed
    result = evaluate_gate(audit.report)
    assert not result.open
    assert [r.split(":")[0] for r in result.reasons] == ["role 'model-owner'", "role 'compliance'"]
    assert "0 of 1 required approval(s)" in result.reasons[0]


def test_one_byte_changed_in_report_closes_the_gate(signed):
    audit, owner, comp = signed
    sign_all(audit, owner, comp)
    raw = bytearray(audit.report.read_bytes())
    pos = raw.index(b'"rows": 20') + len(b'"rows": 2')
    raw[pos:pos + 1] = b"1"  # 20 rows -> 21 rows: still valid JSON, one byte changed
    audit.report.write_bytes(bytes(raw))
    result = evaluate_gate(audit.report)
    hits = only_reason_with(result, "digest does not verify")
    assert "was changed after the scan" in hits[0]
    assert len(result.reasons) == 1  # approvals still bind to the recorded digest


def test_one_byte_that_breaks_the_json_closes_the_gate(signed, tmp_path):
    audit, _, _ = signed
    raw = audit.report.read_bytes()
    audit.report.write_bytes(raw[:-2] + b"!" + raw[-1:])
    res = CliRunner().invoke(gate, [str(audit.report)])
    assert res.exit_code == 1
    assert "cannot be trusted" in res.output and "is not valid JSON" in res.output


def test_model_swapped_after_the_audit(signed):
    audit, owner, comp = signed
    sign_all(audit, owner, comp)
    make_model(audit.model, seed=1)  # a retrained model under the same file name
    result = evaluate_gate(audit.report, model_path=audit.model, data_path=audit.data)
    hits = only_reason_with(result, "changed after the audit")
    assert hits[0].startswith(f"the model file {str(audit.model)!r} has sha256")
    assert len(result.reasons) == 1
    assert evaluate_gate(audit.report, data_path=audit.data).open  # without --model no file check


def test_data_swapped_after_the_audit(signed):
    audit, owner, comp = signed
    sign_all(audit, owner, comp)
    audit.data.write_text(audit.data.read_text().replace("\n0.0,", "\n9.0,", 1))
    result = evaluate_gate(audit.report, model_path=audit.model, data_path=audit.data)
    only_reason_with(result, "matches no audited dataset")
    assert len(result.reasons) == 1


def test_forged_signature_does_not_count(signed):
    audit, owner, comp = signed
    sign_all(audit, owner, comp)
    path = next(p for p in approvals_dir(audit.report).glob("*.json") if "compliance" in p.name)
    rec = json.loads(path.read_text())
    rec["approver"] = "Mallory"  # altered after signing: the signature no longer covers it
    path.write_text(json.dumps(rec))
    result = evaluate_gate(audit.report)
    assert result.reasons[0].startswith("role 'compliance': 0 of 1")
    hits = only_reason_with(result, "signature does not verify")
    assert "'Mallory'" in hits[0]
    assert len(result.reasons) == 2


def test_signature_by_a_key_not_listed_for_the_role(signed, tmp_path):
    audit, owner, comp = signed
    approve(audit.report, role="model-owner", approver="Olivia Owner", key_path=owner[1])
    # a genuine signature, but by the model owner's key, not the compliance key
    approve(audit.report, role="compliance", approver="Olivia Owner", key_path=owner[1])
    result = evaluate_gate(audit.report)
    only_reason_with(result, "signed with a key the policy does not list for role 'compliance'")
    stranger = make_key(tmp_path / "other", "stranger")
    approve(audit.report, role="compliance", approver="Sam", key_path=stranger[1])
    assert len([r for r in evaluate_gate(audit.report).reasons if "does not list" in r]) == 2


def test_unsigned_record_does_not_count_when_keys_are_configured(signed):
    audit, owner, _ = signed
    approve(audit.report, role="model-owner", approver="Olivia Owner", key_path=owner[1])
    approve(audit.report, role="compliance", approver="Carl Compliance")
    only_reason_with(evaluate_gate(audit.report), "it is unsigned")


def test_unsigned_records_count_when_the_policy_lists_no_keys(tmp_path):
    audit = make_audit(tmp_path / "a")
    approve(audit.report, role="model-owner", approver="O")
    approve(audit.report, role="compliance", approver="C")
    assert evaluate_gate(audit.report).open


def test_role_the_policy_does_not_allow(signed, tmp_path):
    audit, owner, comp = signed
    approve(audit.report, role="model-owner", approver="Olivia Owner", key_path=owner[1])
    # `approve` refuses the role, so the record is committed by hand (e.g. in a pull request)
    rec = make_record(audit.body, role="intern", approver="Ian Intern", private_key=comp[0])
    write_record(rec, approvals_dir(audit.report))
    result = evaluate_gate(audit.report)
    assert result.reasons[0].startswith("role 'compliance': 0 of 1")
    hits = only_reason_with(result, "role 'intern' is not one this report's policy allows")
    assert "'Ian Intern'" in hits[0]


def test_expired_approval(signed):
    audit, owner, comp = signed
    sign_all(audit, owner, comp)
    now = datetime.now(timezone.utc)
    assert evaluate_gate(audit.report, now=now + timedelta(days=89)).open
    result = evaluate_gate(audit.report, now=now + timedelta(days=91))
    hits = only_reason_with(result, "expired on")
    assert len(hits) == 2 and "(approval_ttl_days: 90)" in hits[0]


def test_later_rejection_voids_earlier_approvals(signed):
    audit, owner, comp = signed
    t0 = datetime.now(timezone.utc) - timedelta(hours=2)
    sign_all(audit, owner, comp, now=t0)
    assert evaluate_gate(audit.report).open
    approve(audit.report, role="compliance", approver="Carl Compliance", decision="reject",
            comment="bias not explained", key_path=comp[1], now=t0 + timedelta(hours=1))
    result = evaluate_gate(audit.report)
    assert result.reasons[0].startswith("rejected by 'Carl Compliance' as 'compliance'")
    assert result.reasons[0].endswith(": bias not explained")
    assert len([r for r in result.reasons if "came after it" in r]) == 2
    # everyone signs again after the rejection: the gate opens
    sign_all(audit, owner, comp)
    assert evaluate_gate(audit.report).open


def test_missing_role_and_count_of_distinct_approvers(tmp_path):
    audit = make_audit(tmp_path / "a", tier="high")
    approve(audit.report, role="model-owner", approver="O")
    approve(audit.report, role="compliance", approver="C1")
    approve(audit.report, role="compliance", approver="C1")  # the same person twice counts once
    result = evaluate_gate(audit.report)
    assert result.reasons == ["role 'compliance': 1 of 2 required approval(s) that count (record one "
                              "with: riskaudit approve REPORT --role compliance --approver NAME)"]
    approve(audit.report, role="compliance", approver="C2")
    assert evaluate_gate(audit.report).open


def test_record_dated_in_the_future_does_not_count(tmp_path):
    audit = make_audit(tmp_path / "a", tier="low")
    approve(audit.report, role="model-owner", approver="O", now=datetime.now(timezone.utc) + timedelta(days=1))
    only_reason_with(evaluate_gate(audit.report), "dated in the future")


def test_warn_outcome_needs_allow_warn_and_the_extra_role(tmp_path):
    audit = make_audit(tmp_path / "w", outcome="warn")
    assert [r["role"] for r in audit.body["approvals_required"]] == ["model-owner", "compliance", "risk-officer"]
    for role in ("model-owner", "compliance"):
        approve(audit.report, role=role, approver=role.upper())
    assert evaluate_gate(audit.report).reasons[0].startswith("role 'risk-officer': 0 of 1")
    approve(audit.report, role="risk-officer", approver="R")
    assert evaluate_gate(audit.report).open

    strict = make_audit(tmp_path / "s", outcome="warn", allow_warn=False)
    for role in ("model-owner", "compliance", "risk-officer"):
        approve(strict.report, role=role, approver=role.upper())
    result = evaluate_gate(strict.report)
    assert result.reasons == ["the report's status is warn and its policy does not allow deploying on "
                              "warn (allow_warn: false)"]


def test_fail_outcome_never_opens_even_with_every_approval(tmp_path):
    audit = make_audit(tmp_path / "f", outcome="fail")
    for role in ("model-owner", "compliance"):
        approve(audit.report, role=role, approver=role.upper())
    result = evaluate_gate(audit.report)
    assert result.reasons == ["the report's status is fail: at least one finding failed the policy"]


def test_approvals_of_another_report_in_the_same_folder_do_not_count(tmp_path):
    old = make_audit(tmp_path / "a", tier="low", rows=20)
    approve(old.report, role="model-owner", approver="O")
    new = make_audit(tmp_path / "a", tier="low", rows=22)  # a re-scan overwrites report.json
    assert new.body["digest"] != old.body["digest"]
    assert evaluate_gate(new.report).reasons[0].startswith("role 'model-owner': 0 of 1")


def test_malformed_approval_file_is_reported_not_fatal(tmp_path):
    audit = make_audit(tmp_path / "a", tier="low")
    approvals_dir(audit.report).mkdir()
    (approvals_dir(audit.report) / "junk.json").write_text("{not json")
    result = evaluate_gate(audit.report)
    assert any("junk.json is not readable JSON" in r for r in result.reasons)


def test_cli_lists_every_reason_on_its_own_line(signed):
    audit, owner, _ = signed
    approve(audit.report, role="model-owner", approver="O", key_path=owner[1])
    make_model(audit.model, seed=3)
    res = CliRunner().invoke(gate, [str(audit.report), "--model", str(audit.model)])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert lines[0] == "Gate CLOSED (2 reasons):"
    assert lines[1].startswith("- role 'compliance': 0 of 1") and lines[2].startswith("- the model file")
    assert len(lines) == 3


def test_cli_bad_inputs_exit_2(signed, tmp_path):
    audit, _, _ = signed
    runner = CliRunner()
    res = runner.invoke(gate, [str(tmp_path / "missing.json")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(gate, [str(audit.report), "--model", str(tmp_path / "nope.pt")])
    assert res.exit_code == 2 and "--model: file" in res.output
    res = runner.invoke(gate, [str(audit.report), "--approvals", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "--approvals: folder" in res.output
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    res = runner.invoke(gate, [str(tmp_path / "other.json")])
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
    audit = make_audit(tmp_path / "a", tier="low")
    proc = run_cli("gate", str(audit.report), env={"RISKAUDIT_LEDGER": str(tmp_path / "l.db")}, timeout=120)
    assert proc.returncode == 1 and "role 'model-owner': 0 of 1" in proc.stdout
    proc = run_cli("approve", str(audit.report), "--role", "model-owner", "--approver", "Ada",
                   env={"RISKAUDIT_LEDGER": str(tmp_path / "l.db")}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("gate", str(audit.report), "--model", str(audit.model), timeout=120)
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
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
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
    assert body["approvals_required"] == []
    (tmp_path / "report.json").write_text(json.dumps(body))
    assert evaluate_gate(tmp_path / "report.json").open
    assert evaluate_gate(tmp_path).open  # a folder holding report.json works too


def test_signed_approval_replayed_onto_another_report_does_not_count(signed, tmp_path):
    audit, owner, comp = signed
    sign_all(audit, owner, comp)
    keys = {"model-owner": [owner[2]], "compliance": [comp[2]]}
    other = make_audit(tmp_path / "other", keys=keys, rows=24)
    approvals_dir(other.report).mkdir()
    for src in approvals_dir(audit.report).glob("*.json"):
        rec = json.loads(src.read_text())
        rec["report_digest"] = other.body["digest"]  # re-pointed at the new report
        (approvals_dir(other.report) / src.name).write_text(json.dumps(rec))
    result = evaluate_gate(other.report)
    assert len([r for r in result.reasons if "signature does not verify" in r]) == 2
