"""`riskaudit anonymize` leaves no detected personal data behind, whatever the column's share."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from riskaudit.anonymize import anonymize
from riskaudit.checks.pii import PiiChecker
from riskaudit.checks.pii.scanner import engine_for
from riskaudit.result import Status
from riskaudit.testing import run_check

N = 3000


@pytest.fixture(scope="module")
def hostile_table():
    from faker import Faker

    fake = Faker(["en_US", "en_GB"])
    fake.seed_instance(21)
    rng = np.random.default_rng(21)
    # 20% e-mails in a column of otherwise harmless words (under the 30% column share)
    emails = [fake.unique.email() for _ in range(N // 5)]
    contact = np.array(["call the front desk", "see ticket", "no contact", "walk-in"] * (N // 4), dtype=object)
    where = rng.choice(N, len(emails), replace=False)
    contact[where] = emails
    # one personal row among 3000 rows of free text: a sample of 2000 may miss it
    sentences = ["Order shipped on time; package left at the door.", "Customer asked for a gift wrap.",
                 "Delivery delayed by the weather, arrived two days late.", "Item returned unopened."]
    notes = [sentences[i % 4] for i in range(N)]
    rare_name, rare_mail = "Rosalind Featherstonehaugh", "rosalind.fh@example.net"
    notes[2417] = f"Refund requested by {rare_name}, write to {rare_mail} please."
    frame = pd.DataFrame({"ticket": np.arange(N), "contact": contact, "note": notes,
                          "status": rng.choice(["open", "closed", "pending"], N),
                          "amount": rng.normal(100, 20, N).round(2)})
    return frame, emails, (rare_name, rare_mail)


def test_every_cell_is_analysed_and_every_entity_replaced(tmp_path, hostile_table):
    frame, emails, (rare_name, rare_mail) = hostile_table
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    frame.to_csv(src, index=False)
    lines: list[str] = []
    result = anonymize(src, out, echo=lines.append)
    copy = pd.read_csv(out)
    text = out.read_text()
    assert not [e for e in emails if e in text]
    assert rare_mail not in text and rare_name not in text
    # the counts per column and type agree with what was planted (an independent count)
    replaced = result.replaced()
    assert replaced["contact"] == {"EMAIL_ADDRESS": len(emails)}
    assert int(copy["contact"].str.fullmatch("<EMAIL_ADDRESS>").sum()) == len(emails)
    assert replaced["note"].get("EMAIL_ADDRESS") == 1 and replaced["note"].get("PERSON", 0) >= 1
    assert copy.loc[2417, "note"].count("<EMAIL_ADDRESS>") == 1
    # untouched cells stay as they were
    keep = ~frame["contact"].isin(emails)
    assert (copy.loc[keep, "contact"] == frame.loc[keep, "contact"]).all()
    assert (copy["status"] == frame["status"]).all() and (copy["note"].drop(2417) == frame["note"].drop(2417)).all()
    assert not any("no personal data found" in line for line in lines)
    assert any(f"{len(emails)} EMAIL_ADDRESS" in line for line in lines)
    # the pii checker, every row scanned, finds nothing above the policy's level in the copy
    res = run_check(PiiChecker, data=copy, ids=["ticket"], policy="default",
                    options={"pii": {"full": True}})
    assert res.status != Status.ERROR
    assert [f for f in res.findings if f.kind == "pii_detected" and f.status != Status.PASS] == []
    # and the engine itself finds no strong entity left in any cell
    from riskaudit.checks.pii.engine import WEAK_ENTITIES

    engine = engine_for(PiiChecker.validate_options({}), None)
    texts = list(dict.fromkeys(copy["contact"].astype(str).tolist() + copy["note"].astype(str).tolist()))
    left = [(t, s.entity) for t, ss in zip(texts, engine.analyze_texts(texts)) for s in ss
            if s.entity not in WEAK_ENTITIES]
    assert left == []


def test_the_input_had_what_the_old_sample_missed(hostile_table):
    """The planted data really is below the share threshold and rare (the test can fail)."""
    frame, emails, _ = hostile_table
    share = frame["contact"].isin(emails).mean()
    assert 0 < share < PiiChecker.validate_options({})["min_share"]
    assert sum(bool(re.search(r"@", n)) for n in frame["note"]) == 1


def test_parallel_analysis_agrees_with_the_engine_in_process():
    from faker import Faker

    from riskaudit.anonymize import MIN_PARALLEL, analyze_cells

    fake = Faker("en_US")
    fake.seed_instance(5)
    texts = [fake.email() if i % 3 == 0 else fake.name() if i % 3 == 1 else fake.sentence(nb_words=5)
             for i in range(MIN_PARALLEL + 300)]
    engine = engine_for(PiiChecker.validate_options({}), None)
    parallel = analyze_cells(engine, texts, workers=2)
    engine._memo.clear()
    alone = dict(zip(texts, engine.analyze_texts(texts)))
    assert parallel.keys() == alone.keys()
    assert parallel == alone
    assert sum(1 for v in parallel.values() if v) > len(texts) // 2


def test_a_full_disk_while_writing_the_copy_is_exit_2_without_leftovers(tmp_path, monkeypatch, capsys):
    import errno
    import os

    from riskaudit import cli

    src = tmp_path / "in.csv"
    pd.DataFrame({"note": ["nothing personal"] * 20, "n": range(20)}).to_csv(src, index=False)
    real = pd.DataFrame.to_csv

    def full(self, path, *a, **kw):  # the fault itself is simulated: half a file, then ENOSPC
        real(self.head(5), path, *a, **kw)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(SystemExit) as exc:
        cli.main(["anonymize", str(src), "--out", str(tmp_path / "out.csv")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "out.csv" in err and os.strerror(errno.ENOSPC) in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
