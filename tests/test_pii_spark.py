"""pii on the Spark engine: ``full`` scans every row on the executors (mapInPandas).

The oracle is the pandas engine on the whole table: a table of 1,000 rows (under the pii
checker's 2,000-value sample, so the pandas engine judges every row) with a 200-row driver
sample. A handful of e-mails and IBANs (Faker) sit in columns of harmless values, in rows
outside the driver sample: the sample misses them, the full scan finds them with the pandas
engine's counts.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from faker import Faker

from riskaudit.scan import scan

KW = dict(checks=["pii"], seed=0, ids=["id"])


@pytest.fixture(scope="module")
def rare(spark, tmp_path_factory):
    """(parquet path, the planted raw values): e-mails in ``contact`` (job titles), IBANs in
    ``ref`` (codes), none of them in the seeded 200-row driver sample."""
    from riskaudit.engines.spark import driver_sample

    fake = Faker("en_US")
    fake.seed_instance(3)
    n = 1000
    base = pd.DataFrame({"id": np.arange(n), "city": [fake.city() for _ in range(n)],
                         "contact": [fake.job() for _ in range(n)], "ref": [fake.bothify("??-####") for _ in range(n)],
                         "customer_name": [fake.name() for _ in range(n)],
                         "score": np.round(np.random.default_rng(0).random(n), 3)})
    emails, ibans = [fake.email() for _ in range(6)], [fake.iban() for _ in range(4)]
    rng = np.random.default_rng(1)
    at_e, at_i = [int(r) for r in rng.choice(n, 6, replace=False)], [int(r) for r in rng.choice(n, 4, replace=False)]
    for _ in range(20):  # a planted row's hash decides whether the sample takes it: move those it takes
        frame = base.copy()
        frame.loc[at_e, "contact"], frame.loc[at_i, "ref"] = emails, ibans
        sampled = set(driver_sample(spark.createDataFrame(frame), n, 0, 200)["id"])
        if not sampled & set(at_e + at_i):
            break
        at_e = [r if r not in sampled else int(rng.integers(n)) for r in at_e]
        at_i = [r if r not in sampled else int(rng.integers(n)) for r in at_i]
    assert not sampled & set(at_e + at_i) and len(set(at_e)) == 6 and len(set(at_i)) == 4
    path = tmp_path_factory.mktemp("pii-spark") / "rare.parquet"
    frame.to_parquet(path, index=False)
    return str(path), emails + ibans


def _pii(report):
    return next(c for c in report.checks if c.id == "pii")


def _found(check, rare=None):
    """Each finding's kind, subject, status, value and rows; with the types and examples of
    the columns of ``rare`` (the others' come from the sample the verdict was made on)."""
    return [(f.kind, f.subject, f.status, f.value, f.evidence.get("rows_scanned"))
            + ((f.evidence.get("entity_shares"), f.evidence.get("examples")) if rare is None or f.subject in rare else ())
            for f in check.findings]


def test_full_scan_finds_what_the_sample_misses_with_the_pandas_counts(spark, rare):
    path, raw = rare
    oracle = _pii(scan(data=path, full=True, **KW))
    sampled = _pii(scan(data=path, engine="spark", sample_rows=200, **KW))
    runs = [scan(data=path, engine="spark", sample_rows=200, full=True, **KW) for _ in range(2)]
    full = _pii(runs[0])
    assert {f.subject for f in oracle.findings} == {"contact", "ref", "customer_name"}
    # the sample sees no e-mail and no IBAN
    assert {f.subject for f in sampled.findings} == {"customer_name"}
    assert "seeded sample of 200 rows of each column" in sampled.summary
    assert "--full scans every row on the executors" in sampled.summary
    assert "not on every row" in sampled.summary
    # every row scanned: the pandas engine's findings and counts (the rare values' examples too),
    # on every run; customer_name's type is the sample's, its share by shape over every row
    assert _found(full, {"contact", "ref"}) == _found(oracle, {"contact", "ref"})
    assert _found(full) == _found(_pii(runs[1]))
    assert _pii(runs[0]).metrics["datasets"]["current"]["full_scan"]["by_shape"] == ["customer_name"]
    shares = {f.subject: f.evidence["entity_shares"] for f in full.findings}
    assert shares["contact"] == {"EMAIL_ADDRESS": 0.006} and shares["ref"] == {"IBAN_CODE": 0.004}
    assert all(f.evidence["full_scan"] and f.evidence["rows"] == 1000 for f in full.findings)
    assert full.status == oracle.status
    assert "every row of the evaluation data (1,000 rows) was scanned" in full.summary
    assert "with --full, every row of each structured column was scanned on the executors" in full.summary
    assert runs[0].subject["datasets"]["current"]["sampled"] is True
    text = json.dumps(runs[0].to_dict())
    assert not [v for v in raw if v in text]  # masked: no planted value in the report


def test_a_table_the_driver_sample_holds_gives_the_pandas_findings(spark, rare):
    path, _ = rare
    for full in (False, True):
        a = _pii(scan(data=path, full=full, **KW))
        b = _pii(scan(data=path, engine="spark", full=full, **KW))
        assert _found(b) == _found(a), full
        assert "every row was collected to the driver" in b.summary and "--full" not in b.summary


def test_tallies_of_parts_add_up_to_the_whole_column():
    """The verdict from tallies of a column's parts, merged, is the verdict of the whole column:
    what the executors' batches sum to."""
    from dataclasses import asdict

    from riskaudit.checks.pii.columns import Tally, name_meaning, structured_verdict, tally_verdict
    from riskaudit.checks.pii.scanner import TextEngines
    from riskaudit.checks.pii import PiiChecker

    cfg = {k: o.default for k, o in PiiChecker.options.items()}
    engine = TextEngines(cfg, None)
    fake = Faker(["en_US", "de_DE"])
    fake.seed_instance(5)
    columns = {
        "customer_name": [fake.name() for _ in range(150)] + ["n/a"] * 50,
        "contact": [fake.job() for _ in range(300)] + [fake.email() for _ in range(3)],
        "phone": [fake.phone_number() for _ in range(40)] + ["unknown"] * 160,
        "misc": [fake.name() for _ in range(12)] + [fake.city() for _ in range(200)] + [fake.credit_card_number()] * 9,
    }
    for col, values in columns.items():
        values = [values[i] for i in np.random.default_rng(0).permutation(len(values))]
        for min_share, min_count in ((0.3, 5), (0.02, 2), (0.5, 12)):
            whole = structured_verdict(col, values, engine, min_share, min_count)
            merged = Tally(keep=max(min_count, 10))
            memo: dict = {}  # a worker's types of the values it has seen, across batches
            for lo in range(0, len(values), 37):
                part = Tally(keep=merged.keep)
                part.add(values[lo:lo + 37], engine, name_meaning(col), start=lo, memo=memo)
                merged.merge(part)
            assert asdict(tally_verdict(col, merged, min_share, min_count)) == asdict(whole), (col, min_share)


def test_one_email_in_a_large_column_keeps_a_share_above_zero():
    """A full scan's share can be far below 1e-4: it stays above 0 (2 significant digits), so
    the policy's warn level of 0 still flags the column."""
    from riskaudit.checks.pii.columns import Tally, round_share, tally_verdict
    from riskaudit.checks.pii.scanner import TextEngines
    from riskaudit.checks.pii import PiiChecker

    cfg = {k: o.default for k, o in PiiChecker.options.items()}
    tally = Tally()
    tally.add(["Accountant", "Engineer, civil", "Nurse"] * 100_000 + ["jane.roe@example.org"], TextEngines(cfg, None), None)
    v = tally_verdict("contact", tally, 0.3, 5)
    assert v.entity == "EMAIL_ADDRESS" and v.share == pytest.approx(1 / 300_001, rel=0.02) and v.share > 0
    assert round_share(0.12345678) == 0.1235 and round_share(0.0) == 0.0 and round_share(6e-6) == 6e-6
