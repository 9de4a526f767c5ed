"""Masking is a property of the report: no raw personal data in any written file or the ledger.

The dataset is Faker-generated in several locales; the target itself is an e-mail address,
a categorical column holds a handful of names (so data_validity's expected-category evidence
would list them), free text carries names and e-mails, and a numeric column holds card numbers.
"""

from __future__ import annotations

import html
import json
import sqlite3

import jsonschema
import numpy as np
import pandas as pd
import pytest

from helpers import run_cli
from riskaudit.masking import ReportMasker, mask_value
from riskaudit.reports.json_report import load_schema

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR"]


def _frames(n=400, seed=3):
    from faker import Faker

    fake = Faker(LOCALES)
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    owners = [fake.unique.email() for _ in range(3)]
    agents = [fake.unique.name() for _ in range(9)]
    secrets: set[str] = set(owners) | set(agents)

    def frame(rows, agent_pool):
        names = [fake.unique.name() for _ in range(rows)]
        emails = [fake.unique.email() for _ in range(rows)]
        phones = [fake["en_US"].phone_number() for _ in range(rows)]
        cards = [int(fake["en_US"].credit_card_number(card_type="visa16")) for _ in range(rows)]
        notes = []
        for i in range(rows):
            if i % 10 == 0:
                who, mail = fake.unique.name(), fake.unique.email()
                secrets.update((who, mail))
                notes.append(f"Customer {who} asked to be reached at {mail} about the order.")
            else:
                notes.append("Order shipped on time, no complaints.")
        secrets.update(names + emails + phones + [str(c) for c in cards])
        return pd.DataFrame({
            "full_name": names, "email": emails, "phone": phones, "card_no": cards, "note": notes,
            "agent": rng.choice(agent_pool, rows), "sex": rng.choice(["F", "M"], rows),
            "income": rng.normal(50_000, 12_000, rows).round(0), "age": rng.integers(18, 80, rows),
            "owner": rng.choice(owners, rows),
        })

    ref = frame(n, agents[:8])
    cur = frame(n, agents)  # one agent the reference never saw: an out_of_range finding
    cur.loc[0, "income"] = 10_000_000  # an outlier row, so examples are shown
    return cur, ref, sorted(secrets)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    root = tmp_path_factory.mktemp("masking")
    cur, ref, secrets = _frames()
    cur.to_csv(root / "cur.csv", index=False)
    ref.to_csv(root / "ref.csv", index=False)
    ledger = root / "ledger.sqlite3"
    proc = run_cli("scan", "--data", "cur.csv", "--reference", "ref.csv", "--target", "owner",
                   "--sensitive", "sex", "--out", "out", "--format", "html,json,junit,md,sarif",
                   "--ledger", str(ledger), "--skip", "licenses", cwd=root, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    return root, secrets, proc


def _texts(root):
    files = sorted(p for p in (root / "out").rglob("*") if p.is_file())
    texts = {p.name: p.read_text(encoding="utf-8") for p in files}
    con = sqlite3.connect(root / "ledger.sqlite3")
    try:
        rows = []
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            rows += [json.dumps(r, ensure_ascii=False, default=str) for r in con.execute(f"SELECT * FROM {table}")]
    finally:
        con.close()
    texts["ledger"] = "\n".join(rows)
    texts["ledger.bytes"] = (root / "ledger.sqlite3").read_bytes().decode("utf-8", errors="ignore")
    return texts


def test_the_scan_marked_the_columns_and_reported_them(scanned):
    root, _, _ = scanned
    report = json.loads((root / "out" / "report.json").read_text())
    jsonschema.validate(report, load_schema())
    pii = next(c for c in report["checks"] if c["id"] == "pii")
    marked = set(pii["metrics"]["pii_columns"])
    assert {"full_name", "email", "phone", "owner", "note", "agent"} <= marked, marked
    assert {c["id"] for c in report["checks"] if c["status"] != "skipped"} >= {"pii", "data_validity", "fairness"}
    # the findings that used to leak are there, masked
    dv = next(c for c in report["checks"] if c["id"] == "data_validity")
    assert any(f["subject"] == "agent" for f in dv["findings"]), [f["id"] for f in dv["findings"]]
    assert report["manifest"]["inputs"]["classes"] and all("***" in c for c in report["manifest"]["inputs"]["classes"])


def test_no_raw_personal_value_in_any_written_file_or_the_ledger(scanned):
    root, secrets, proc = scanned
    texts = _texts(root)
    assert {"report.html", "report.json", "junit.xml", "summary.md", "report.sarif", "ledger"} <= set(texts)
    assert texts["ledger"]
    leaks = []
    for name, text in texts.items():
        plain = html.unescape(text)
        for value in secrets:
            if value in text or value in plain:
                leaks.append((name, value))
    for value in secrets:  # the progress lines on stderr too
        if value in proc.stderr or value in proc.stdout:
            leaks.append(("stderr", value))
    assert not leaks, leaks[:20]


def test_the_masker_on_its_own():
    frame = pd.DataFrame({"who": ["Megan Smith", "May Lee", "Al"], "n": [1, 2, 3]})
    masker = ReportMasker([frame], {"pii_columns": {"who": "PERSON"}}, engine_factory=None)
    got = masker.value({"msg": "Megan Smith and May Lee met the Mayor; Al stayed.",
                        "May Lee": ["May Lee", 4111111111111111], "n": 5})
    assert got["msg"] == f"{mask_value('Megan Smith', 'PERSON')} and {mask_value('May Lee', 'PERSON')} met the Mayor; Al stayed."
    assert list(got) == ["msg", mask_value("May Lee", "PERSON"), "n"]
    assert got[mask_value("May Lee", "PERSON")][0] == mask_value("May Lee", "PERSON")
    # without the engine a long number is left as it is; with it a card number is masked
    assert got[mask_value("May Lee", "PERSON")][1] == 4111111111111111

    from riskaudit.checks.pii import PiiChecker
    from riskaudit.checks.pii.scanner import engine_for

    cfg = PiiChecker.validate_options({})
    masker = ReportMasker([frame], {}, engine_factory=lambda: engine_for(cfg, None))
    got = masker.value(["write to jane.doe@example.org today", 4111111111111111, 12345, "plain words"])
    assert "jane.doe@example.org" not in got[0] and got[0].startswith("write to j***@e***")
    assert isinstance(got[1], str) and "4111111111111111" not in got[1]
    assert got[2:] == [12345, "plain words"]


def test_without_a_working_engine_the_masker_fails_closed_by_shape():
    """The PII engine cannot be built here (as when spaCy's model is missing or Presidio
    breaks): e-mails, card numbers, ids and long digit runs are masked by their shape; report
    sentences with figures, dates and counts stay readable."""
    def broken():
        raise OSError("the spaCy model cannot be loaded")

    masker = ReportMasker([], {}, engine_factory=broken)
    got = masker.value(["write to jane.doe@example.org", "card 4111 1111 1111 1111", "PAN ABCPE1234F",
                        "p-value 0.003 on 1,000,000 rows (2026-12-04)", 4111111111111111])
    assert "jane.doe@example.org" not in got[0] and "4111 1111 1111 1111" not in got[1]
    assert "ABCPE1234F" not in got[2] and "4111111111111111" not in str(got[4])
    assert got[3] == "p-value 0.003 on 1,000,000 rows (2026-12-04)"


def test_the_scans_masker_uses_the_policy_options_and_loads_the_engine_only_for_candidates(tmp_path):
    """report_masker completes the policy's pii options with their defaults (a partial
    section used to fail the engine silently, so no entity was masked); report sentences
    with figures never reach the engine; names go to it only when the pii checker found
    free text (its named-entity model is loaded then)."""
    from riskaudit.registry import Registry
    from riskaudit.scan import report_masker

    reg = Registry.from_entry_points()
    built: list[str] = []
    masker = report_masker(reg, {"pii": {"sample_size": 500}}, [None], {}, {})
    factory = masker._engine_factory
    masker._engine_factory = lambda: built.append("engine") or factory()
    plain = ["p-value 0.003 on 1,000,000 rows (2026-12-04)", "Joint MMD Test over 6 features", "Mean Radius",
             "differ by up to 0.00145; bootstrap interval 0.000745 to 0.00452."]
    assert masker.value(plain) == plain and built == []
    got = masker.value(["reach Jane Doe at jane.doe@example.org", "card 4111 1111 1111 1111", "Jane Doe",
                        "as a float: 4111111111111111.0"])
    assert built == ["engine"]
    assert "jane.doe@example.org" not in got[0] and "4111 1111 1111 1111" not in got[1]
    assert "4111111111111111" not in got[3]
    assert got[2] == "Jane Doe"  # no free text in this scan: names are rule 1's (marked columns)
    # with free text found by the pii checker, names go to its engine too
    shared = {"pii_columns": {"note": "FREE_TEXT"}}
    masker = report_masker(reg, {"pii": {"sample_size": 500}}, [None], shared, {})
    got = masker.value(["Customer Megan Smith called", "Joint MMD Test over 6 features"])
    assert "Megan Smith" not in got[0] and got[1] == "Joint MMD Test over 6 features"


def test_ids_in_a_column_the_pii_checker_did_not_mark_are_masked_in_a_whole_scan():
    """Two id values (an Indian PAN and a UK NINO, a handful of rows each: too few distinct
    values for the pii checker to mark the column) land in a categorical column of the data
    under audit; data_validity reports them as values unseen in the reference. Whatever
    process analyses the report's strings (the pii checker may run in its own), both are
    masked in report.json, with the other checkers beside them as in a real scan."""
    from sklearn.datasets import load_iris

    import riskaudit

    df = load_iris(as_frame=True).frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    df["branch"] = np.random.default_rng(0).choice(["north", "south", "east"], len(df))
    ref, cur = df.iloc[::2].reset_index(drop=True), df.iloc[1::2].reset_index(drop=True)
    cur.loc[:3, "branch"] = "ABCPE1234F"
    cur.loc[4:6, "branch"] = "JG 10 38 25 A"
    rep = riskaudit.scan(data=cur, reference=ref, target="target", checks=["pii", "data_validity", "licenses"],
                         policy="default").to_dict()
    text = json.dumps(rep)
    assert "branch" not in rep["checks"][[c["id"] for c in rep["checks"]].index("pii")]["metrics"]["pii_columns"]
    assert "ABCPE1234F" not in text and "JG 10 38 25 A" not in text
    assert "[IN_PAN]" in text and "[UK_NINO]" in text
