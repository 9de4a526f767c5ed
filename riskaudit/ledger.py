"""The audit ledger: an embedded SQLite database of every scan and every approval.

Where it lives: ``ledger_path`` when given, else the environment variable
``RISKAUDIT_LEDGER``, else ``~/.riskaudit/ledger.sqlite3``. Writing creates it (and its
folder) on first use; reading a ledger that does not exist finds nothing and creates
nothing.

The schema is versioned (``PRAGMA user_version``) and migrated forward on open, one step
per entry of :data:`MIGRATIONS`. The database runs in WAL mode; every append is one
``BEGIN IMMEDIATE`` transaction, so concurrent writers (several ``riskaudit approve``
processes) queue on the write lock and none of their rows is lost.

**Hash chain.** Rows of both tables (``scans`` and ``approvals``) form one chain ordered by
``seq``: each row stores ``prev_hash`` (the ``row_hash`` of the row before it, or
:data:`GENESIS`) and ``row_hash`` = SHA-256 of the canonical JSON of all its other columns,
``seq`` and ``prev_hash`` included. The ``meta`` table keeps the head (last ``seq`` and
hash). :func:`verify` recomputes everything, so editing a row, deleting one from the
middle, reordering rows or a head that disagrees with the chain is detected.

What the chain alone cannot see: the last rows deleted *and* the head rewritten to the new
last row (two SQL statements), or a whole new chain built by someone who can write the
file. The signed evidence closes part of that: a scan attestation and every approval
record carry the head at their time (:meth:`Ledger.head`), and ``riskaudit gate``
(:meth:`Ledger.check_head`) refuses a ledger that no longer holds those rows, counts an
approval only when its row is present, and keeps a rejection recorded here even when its
file is gone. Rows newer than the last signed head, removed together with their files, stay
undetectable; keep the ledger where neither approvers nor the audited side can write.
This module is storage only: the decisions about what a ledger's rows mean live in
:mod:`riskaudit.gate`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from riskaudit.errors import InputError
from riskaudit.result import canonical_json

ENV_VAR = "RISKAUDIT_LEDGER"
GENESIS = "0" * 64
BUSY_TIMEOUT_MS = 60_000


# Each migration takes the schema from version i to i + 1 (index i). Append, never edit.
MIGRATIONS: tuple[str, ...] = (
    # 1: the meta table (chain head) and the two chained tables.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta (key, value) VALUES ('head_seq', '0'), ('head_hash', '""" + GENESIS + """');
    CREATE TABLE scans (
        seq INTEGER PRIMARY KEY, digest TEXT NOT NULL, created_at TEXT, recorded_at TEXT NOT NULL,
        status TEXT, risk_tier TEXT, model_uri TEXT, model_sha256 TEXT, datasets TEXT NOT NULL,
        policy_name TEXT, policy_sha256 TEXT, report_path TEXT, report_json TEXT NOT NULL,
        prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL);
    CREATE TABLE approvals (
        seq INTEGER PRIMARY KEY, digest TEXT NOT NULL, role TEXT NOT NULL, approver TEXT NOT NULL,
        decision TEXT NOT NULL, comment TEXT, approved_at TEXT NOT NULL, recorded_at TEXT NOT NULL,
        public_key TEXT, signature TEXT, record_path TEXT, record_json TEXT NOT NULL,
        prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL);
    """,
    # 2: look-ups by model (history --model, last approved report) and by digest.
    """
    CREATE INDEX scans_model ON scans (model_sha256);
    CREATE INDEX scans_digest ON scans (digest);
    CREATE INDEX approvals_digest ON approvals (digest);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_ledger_path() -> Path:
    """``$RISKAUDIT_LEDGER`` or ``~/.riskaudit/ledger.sqlite3``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".riskaudit" / "ledger.sqlite3"


def resolve_path(ledger_path: str | os.PathLike | None) -> Path:
    return Path(ledger_path).expanduser() if ledger_path else default_ledger_path()


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(table: str, row: Mapping[str, Any]) -> str:
    """SHA-256 of the table name and the canonical JSON of every column but ``row_hash``."""
    body = {k: v for k, v in row.items() if k != "row_hash"}
    return hashlib.sha256(table.encode() + b"\0" + canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class ScanRow:
    """One scan in the ledger (what ``riskaudit history`` lists)."""

    seq: int
    digest: str
    created_at: str | None
    recorded_at: str
    status: str | None
    risk_tier: str | None
    model_uri: str | None
    model_sha256: str | None
    datasets: dict[str, str]
    """role -> sha256 of each audited dataset."""
    policy_name: str | None
    policy_sha256: str | None
    report_path: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Ledger:
    """A connection to one ledger file. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True):
        self.path = resolve_path(path)
        if not self.path.exists():
            if not create:
                raise InputError(f"ledger {str(self.path)!r} does not exist (no scan or approval "
                                 f"has been recorded there yet; set --ledger or ${ENV_VAR})")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"ledger {str(self.path)!r}: cannot create its folder: "
                                 f"{exc.strerror}") from None
        if self.path.exists() and self.path.is_dir():
            raise InputError(f"ledger {str(self.path)!r} is a folder, not a database file")
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000,
                                        isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._retry(lambda: self.conn.execute("PRAGMA journal_mode = WAL").fetchone())
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"ledger {str(self.path)!r} is not a riskaudit ledger "
                             f"(SQLite said: {exc})") from None

    # -- plumbing -----------------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _retry(fn, attempts: int = 50):
        for i in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or i == attempts - 1:
                    raise
                time.sleep(0.05 * (i + 1))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on any error)."""
        self._retry(lambda: self.conn.execute("BEGIN IMMEDIATE"))
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self._retry(lambda: self.conn.execute("COMMIT"))

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self.schema_version >= SCHEMA_VERSION:
            if self.schema_version > SCHEMA_VERSION:
                raise InputError(f"ledger {str(self.path)!r} has schema version {self.schema_version}, "
                                 f"newer than this riskaudit understands ({SCHEMA_VERSION}); upgrade riskaudit")
            return
        with self.transaction() as conn:
            version = self.schema_version  # re-read under the write lock
            for i in range(version, SCHEMA_VERSION):
                for stmt in (s.strip() for s in MIGRATIONS[i].split(";")):
                    if stmt:
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {i + 1}")

    def _append(self, table: str, row: dict[str, Any], unless: tuple[str, tuple] | None = None) -> int:
        """Append ``row`` to ``table`` as the next link of the chain; returns its seq.

        ``unless`` is a query run under the write lock: when it finds a row, nothing is
        appended and that row's seq is returned (idempotent writes under concurrency)."""
        with self.transaction() as conn:
            if unless is not None:
                found = conn.execute(*unless).fetchone()
                if found:
                    return int(found[0])
            head = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            seq = int(head["head_seq"]) + 1
            row = {**row, "seq": seq, "prev_hash": head["head_hash"]}
            row["row_hash"] = row_hash(table, row)
            cols = ", ".join(row)
            conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})",
                         tuple(row.values()))
            conn.execute("UPDATE meta SET value = ? WHERE key = 'head_seq'", (str(seq),))
            conn.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (row["row_hash"],))
        return seq

    # -- writing ------------------------------------------------------------------------
    def record_scan(self, report: Mapping[str, Any], report_path: str | os.PathLike | None) -> int:
        """Add a scan (idempotent per digest + report path); returns its seq."""
        digest = report.get("digest")
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise InputError("cannot record a scan without a report digest")
        path = str(Path(report_path).resolve()) if report_path else None
        subj = report.get("subject") or {}
        model = subj.get("model") or {}
        datasets = {role: d.get("sha256") for role, d in (subj.get("datasets") or {}).items()
                    if isinstance(d, Mapping)}
        policy = subj.get("policy") or {}
        return self._append("scans", {
            "digest": digest, "created_at": report.get("created_at"), "recorded_at": utc_now(),
            "status": report.get("status"), "risk_tier": report.get("risk_tier"),
            "model_uri": model.get("uri"), "model_sha256": model.get("sha256"),
            "datasets": json.dumps(datasets, sort_keys=True), "policy_name": policy.get("name"),
            "policy_sha256": policy.get("sha256"), "report_path": path,
            "report_json": canonical_json(dict(report)).decode("utf-8"),
        }, unless=("SELECT seq FROM scans WHERE digest = ? AND report_path IS ?", (digest, path)))

    def record_approval(self, record: Mapping[str, Any], record_path: str | os.PathLike | None) -> int:
        """Add an approval or rejection record (see :mod:`riskaudit.approvals`); returns its seq."""
        return self._append("approvals", {
            "digest": record["report_digest"], "role": record["role"], "approver": record["approver"],
            "decision": record["decision"], "comment": record.get("comment") or "",
            "approved_at": record["created_at"], "recorded_at": utc_now(),
            "public_key": record.get("public_key"), "signature": record.get("signature"),
            "record_path": str(Path(record_path).resolve()) if record_path else None,
            "record_json": canonical_json(dict(record)).decode("utf-8"),
        })

    # -- reading ------------------------------------------------------------------------
    def scans(self, model: str | None = None) -> list[ScanRow]:
        """Every scan, oldest first; ``model`` matches a sha256 (or its prefix) or the model's
        file name / URI."""
        rows = self.conn.execute("SELECT * FROM scans ORDER BY seq").fetchall()
        out = [_scan_row(r) for r in rows]
        if model:
            key = model.lower().removeprefix("sha256:")
            out = [s for s in out if (s.model_sha256 or "").startswith(key) and len(key) >= 6
                   or s.model_uri and (s.model_uri == model or Path(s.model_uri).name == model
                                       or Path(s.model_uri).stem == model)]
        return out

    def report(self, seq: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT report_json FROM scans WHERE seq = ?", (seq,)).fetchone()
        return json.loads(row[0])

    def approvals(self, digest: str | None = None) -> list[dict[str, Any]]:
        """Approval records (as written in the approval files), oldest first."""
        if digest is None:
            rows = self.conn.execute("SELECT record_json FROM approvals ORDER BY seq").fetchall()
        else:
            rows = self.conn.execute("SELECT record_json FROM approvals WHERE digest = ? ORDER BY seq",
                                     (digest,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def verify(self) -> list[str]:
        """Every problem of the hash chain, one sentence each; empty when the ledger is intact."""
        problems: list[str] = []
        rows: list[tuple[str, dict[str, Any]]] = []
        for table in ("scans", "approvals"):
            for r in self.conn.execute(f"SELECT * FROM {table}").fetchall():
                rows.append((table, dict(r)))
        rows.sort(key=lambda tr: tr[1]["seq"])
        prev, expected_seq = GENESIS, 1
        for table, row in rows:
            seq = row["seq"]
            if seq != expected_seq:
                problems.append(f"{table} row {seq}: expected row {expected_seq} next; "
                                f"row(s) {expected_seq}..{seq - 1} were deleted")
            if row["prev_hash"] != prev:
                problems.append(f"{table} row {seq}: does not link to the row before it "
                                "(a row before it was edited, deleted or inserted)")
            if row_hash(table, row) != row["row_hash"]:
                problems.append(f"{table} row {seq}: its content was changed after it was recorded "
                                "(hash mismatch)")
            prev, expected_seq = row["row_hash"], seq + 1
        head = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        if int(head.get("head_seq", -1)) != expected_seq - 1 or head.get("head_hash") != prev:
            problems.append(f"the chain ends at row {expected_seq - 1} but the ledger recorded "
                            f"{head.get('head_seq')} rows: the last row(s) were deleted or the head edited")
        return problems

    def head(self) -> dict[str, Any]:
        """The chain head as recorded in ``meta``: ``{"seq": N, "head": "<row hash>"}``."""
        meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        return {"seq": int(meta.get("head_seq", 0)), "head": str(meta.get("head_hash", GENESIS))}

    def check_head(self, head: Mapping[str, Any]) -> str | None:
        """Why the ledger no longer holds the row ``head`` names (taken from a signed attestation
        or approval), or None when it does: the tail was truncated or rewritten if not."""
        try:
            seq, expected = int(head.get("seq", "")), str(head.get("head"))  # missing or None: malformed
        except (TypeError, ValueError):
            return f"the recorded ledger head {dict(head)!r} is malformed"
        if seq == 0:
            return None if expected == GENESIS else "the recorded ledger head names row 0 with a non-genesis hash"
        for table in ("scans", "approvals"):
            row = self.conn.execute(f"SELECT row_hash FROM {table} WHERE seq = ?", (seq,)).fetchone()
            if row is not None:
                if row[0] != expected:
                    return (f"row {seq} of the ledger is not the row signed evidence recorded there "
                            "(the ledger was rewritten)")
                return None
        return (f"the ledger has no row {seq}, which signed evidence recorded as its head: rows were "
                "deleted from its tail (truncated) or the ledger was replaced")

    def count(self) -> int:
        return sum(self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("scans", "approvals"))


def _scan_row(r: sqlite3.Row) -> ScanRow:
    return ScanRow(seq=r["seq"], digest=r["digest"], created_at=r["created_at"],
                   recorded_at=r["recorded_at"], status=r["status"], risk_tier=r["risk_tier"],
                   model_uri=r["model_uri"], model_sha256=r["model_sha256"],
                   datasets=json.loads(r["datasets"]), policy_name=r["policy_name"],
                   policy_sha256=r["policy_sha256"], report_path=r["report_path"])


# -- the functions other modules call ----------------------------------------------------
def record_scan(report_dict: Mapping[str, Any], report_path: str | os.PathLike | None = None,
                ledger_path: str | os.PathLike | None = None) -> int:
    """Record a scan in the ledger (created on first use); returns its row number."""
    with Ledger(ledger_path) as led:
        return led.record_scan(report_dict, report_path)


def record_approval(record: Mapping[str, Any], record_path: str | os.PathLike | None = None,
                    ledger_path: str | os.PathLike | None = None) -> int:
    with Ledger(ledger_path) as led:
        return led.record_approval(record, record_path)


def verify(ledger_path: str | os.PathLike | None = None) -> list[str]:
    """Problems of the ledger's hash chain (empty: intact). Raises InputError if it is missing."""
    with Ledger(ledger_path, create=False) as led:
        return led.verify()


def history(model: str | None = None, ledger_path: str | os.PathLike | None = None) -> list[ScanRow]:
    """Past scans, oldest first (none when the ledger does not exist yet)."""
    if not resolve_path(ledger_path).exists():
        return []
    with Ledger(ledger_path, create=False) as led:
        return led.scans(model)


__all__ = ["Ledger", "ScanRow", "default_ledger_path", "record_scan", "record_approval", "verify",
           "history", "SCHEMA_VERSION", "ENV_VAR"]
