"""pii column verdicts from tallies: a column's :class:`Tally` adds up over its parts (what the
Spark engine's full scan sums over batches)."""

from __future__ import annotations

import numpy as np
from faker import Faker


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
            for lo in range(0, len(values), 37):
                part = Tally(keep=merged.keep)
                part.add(values[lo:lo + 37], engine, name_meaning(col), start=lo)
                merged.merge(part)
            assert asdict(tally_verdict(col, merged, min_share, min_count)) == asdict(whole), (col, min_share)
