"""The audit ledger: created on first use, WAL, migrated, hash-chained; `ledger verify`
catches rows edited or deleted behind the tool's back; history and the approved baseline."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from approval_support import make_audit
from riskaudit import ledger as ledger_mod
from riskaudit.approvals import approve
from riskaudit.commands.approvals import history, ledger as ledger_cmd
from riskaudit.gate import last_approved_report  # decision logic: not in the storage module
from riskaudit.ledger import MIGRATIONS, SCHEMA_VERSION, Ledger, default_ledger_path, record_scan, verify


@pytest.fixture()
def db(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "ledger.sqlite3"
    monkeypatch.setenv("RISKAUDIT_LEDGER", str(path))
    return path


@pytest.fixture()
def filled(tmp_path, db):
    """Two audits of one model (both recorded, the first approved) and one of another."""
    a = make_audit(tmp_path / "a", tier="low", rows=20)
    approve(a.report, role="model-owner", approver="Olivia")
    b = make_audit(tmp_path / "b", tier="low", rows=22, model_from=a.model)  # same model file
    record_scan(b.body, b.report)
    c = make_audit(tmp_path / "c", tier="low", model_seed=5)
    record_scan(c.body, c.report)
    return a, b, c


def test_default_path_and_creation_on_first_use(tmp_path, monkeypatch, db):
    assert default_ledger_path() == db
    monkeypatch.delenv("RISKAUDIT_LEDGER")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_ledger_path() == tmp_path / "home" / ".riskaudit" / "ledger.sqlite3"
    monkeypatch.setenv("RISKAUDIT_LEDGER", str(db))
    assert ledger_mod.history() == [] and last_approved_report("ab" * 32) is None
    assert not db.exists()  # reading creates nothing
    audit = make_audit(tmp_path / "a")
    record_scan(audit.body, audit.report)
    assert db.exists()
    with Ledger() as led:
        assert led.schema_version == SCHEMA_VERSION == 2
        assert led.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert led.count() == 1 and led.verify() == []
    assert record_scan(audit.body, audit.report) == 1  # idempotent per digest and path


def test_migrates_a_version_1_ledger_keeping_its_rows(tmp_path, db):
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    conn.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    audit = make_audit(tmp_path / "a")
    record_scan(audit.body, audit.report)  # opening migrates: 1 -> 2
    with Ledger(db) as led:
        assert led.schema_version == 2 and led.count() == 1
        names = {r[0] for r in led.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"scans_model", "scans_digest", "approvals_digest"} <= names
        assert led.verify() == []


def test_newer_schema_and_non_database_are_input_errors(tmp_path, db):
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    res = CliRunner().invoke(ledger_cmd, ["verify"])
    assert res.exit_code == 2 and "schema version 99, newer than this riskaudit understands" in res.output
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite at all" * 100)
    res = CliRunner().invoke(ledger_cmd, ["verify", "--ledger", str(tmp_path / "junk.db")])
    assert res.exit_code == 2 and "is not a riskaudit ledger" in res.output
    res = CliRunner().invoke(ledger_cmd, ["verify", "--ledger", str(tmp_path / "none.db")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_ledger_verify_passes_on_an_intact_ledger(filled, db):
    res = CliRunner().invoke(ledger_cmd, ["verify"])
    assert res.exit_code == 0
    assert res.output.strip().startswith(f"Ledger {db} is intact: 4 rows, hash chain verified (schema version 2). "
                                         "A chain cannot show rows cut from its tail")


def _sql(db, statement, *params):
    conn = sqlite3.connect(db)
    conn.execute(statement, params)
    conn.commit()
    conn.close()


def test_edited_row_is_detected(filled, db):
    a = filled[0]
    _sql(db, "UPDATE approvals SET approver = 'Mallory' WHERE approver = 'Olivia'")
    res = CliRunner().invoke(ledger_cmd, ["verify"])
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        f"Ledger {db} is DAMAGED (1 problem):",
        "- approvals row 2: its content was changed after it was recorded (hash mismatch)"]
    # an UPDATE that changes nothing is not flagged (no false positive)
    _sql(db, "UPDATE scans SET status = 'pass', report_json = replace(report_json, 'x', 'x') WHERE seq = 3")
    assert verify() == ["approvals row 2: its content was changed after it was recorded (hash mismatch)"]
    _sql(db, "UPDATE scans SET model_sha256 = ? WHERE seq = 3", a.body["subject"]["model"]["sha256"][::-1])
    assert "scans row 3: its content was changed" in verify()[1]


def test_edit_with_a_recomputed_row_hash_breaks_the_next_link(filled, db):
    with Ledger(db) as led:
        row = dict(led.conn.execute("SELECT * FROM scans WHERE seq = 1").fetchone())
    row["status"] = "pass" if row["status"] != "pass" else "warn"
    row["row_hash"] = ledger_mod.row_hash("scans", row)
    _sql(db, "UPDATE scans SET status = ?, row_hash = ? WHERE seq = 1", row["status"], row["row_hash"])
    assert verify() == ["approvals row 2: does not link to the row before it (a row before it was "
                        "edited, deleted or inserted)"]


def test_deleted_rows_are_detected(filled, db):
    _sql(db, "DELETE FROM scans WHERE seq = 3")
    problems = verify()
    assert problems[0] == "scans row 4: expected row 3 next; row(s) 3..3 were deleted"
    assert "does not link" in problems[1]
    _sql(db, "DELETE FROM scans WHERE seq = 4")  # now the tail is gone too
    assert verify() == ["the chain ends at row 2 but the ledger recorded 4 rows: the last row(s) were "
                        "deleted or the head edited"]


def test_history_lists_audits_and_filters_by_model(filled):
    a, b, c = filled
    runner = CliRunner()
    res = runner.invoke(history, [])
    assert res.exit_code == 0 and len(res.output.splitlines()) == 3
    assert "approvals: model-owner:Olivia (unsigned)" in res.output.splitlines()[0]
    sha = a.body["subject"]["model"]["sha256"]
    res = runner.invoke(history, ["--model", sha[:10], "--json"])
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert [r["digest"] for r in rows] == [a.body["digest"], b.body["digest"]]
    assert rows[0]["approvals"] == ["model-owner:Olivia (unsigned)"] and rows[1]["approvals"] == []
    res = runner.invoke(history, ["--model", "model.pt", "--json"])
    assert len(res.output.splitlines()) == 3  # all three files are called model.pt
    res = runner.invoke(history, ["--model", "sha256:" + "f" * 64])
    assert res.exit_code == 0 and res.output.strip() == f"No audits recorded for model 'sha256:{'f' * 64}'."


def test_last_approved_report_is_the_newest_approved_audit_of_that_model(filled, db):
    a, b, c = filled
    sha = a.body["subject"]["model"]["sha256"]
    assert b.body["subject"]["model"]["sha256"] == sha
    assert last_approved_report(sha)["digest"] == a.body["digest"]
    assert last_approved_report(sha, ledger_path=db) == a.body
    approve(b.report, role="model-owner", approver="Olivia")
    assert last_approved_report(sha)["digest"] == b.body["digest"]
    approve(b.report, role="model-owner", approver="Olivia", decision="reject")
    assert last_approved_report(sha)["digest"] == a.body["digest"]  # b was rejected after approval
    assert last_approved_report(c.body["subject"]["model"]["sha256"]) is None  # never approved
    assert last_approved_report("0" * 64) is None


def test_last_approved_report_skips_failed_and_edited_reports(tmp_path, db):
    f = make_audit(tmp_path / "f", outcome="fail")
    for role in ("model-owner", "compliance"):
        approve(f.report, role=role, approver=role)
    assert last_approved_report(f.body["subject"]["model"]["sha256"]) is None
    p = make_audit(tmp_path / "p", tier="low")
    approve(p.report, role="model-owner", approver="O")
    sha = p.body["subject"]["model"]["sha256"]
    assert last_approved_report(sha)["digest"] == p.body["digest"]
    _sql(db, "UPDATE scans SET report_json = replace(report_json, '\"rows\":20', '\"rows\":21') WHERE digest = ?",
         p.body["digest"])
    assert last_approved_report(sha) is None  # the stored report no longer matches its digest


def test_ledger_verify_as_a_user_runs_it(filled, db):
    from helpers import run_cli

    proc = run_cli("ledger", "verify", "--ledger", str(db), timeout=120)
    assert proc.returncode == 0 and "is intact: 4 rows" in proc.stdout, proc.stderr
    _sql(db, "UPDATE scans SET status = 'fail' WHERE seq = 3")
    _sql(db, "UPDATE scans SET report_path = '/elsewhere/report.json' WHERE seq = 1")
    proc = run_cli("ledger", "verify", "--ledger", str(db), timeout=120)
    assert proc.returncode == 1 and proc.stderr == ""
    assert proc.stdout.splitlines()[1:] == [
        "- scans row 1: its content was changed after it was recorded (hash mismatch)",
        "- scans row 3: its content was changed after it was recorded (hash mismatch)"]
