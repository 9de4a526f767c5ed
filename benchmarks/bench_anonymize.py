"""Benchmark of `riskaudit anonymize` against plain Presidio (same machine, same run).

Target: 1,000,000 short text cells (100,000 rows x 10 text columns) anonymized in under
2 minutes on 2 cores, every cell analysed (no sample).

The table: full names, e-mails and phone numbers (columns of personal data, replaced as a
whole), cities and jobs (hundreds of distinct values), a status and a category (a handful),
a contact column with 20% e-mails (under the pii checker's 30% column share), short comments
(5% naming a person and an e-mail) and unique reference codes.

riskaudit: ``riskaudit.anonymize.anonymize`` on the CSV, the whole process as a user runs it
(load, column verdicts, analysis of every distinct cell, write), ``n_process`` = 2.
Peer: Presidio's ``AnalyzerEngine`` (predefined recognizers, the same spaCy pipeline) and
``AnonymizerEngine`` called on every cell, as its documentation shows. The peer is timed on
a strided sample of cells (``--peer-cells``) and its rate extrapolated to the whole table;
both rates are printed. Quality: planted e-mails and names that survive in each output.

    .venv/bin/python benchmarks/bench_anonymize.py                 # 100,000 rows (1,000,000 cells)
    .venv/bin/python benchmarks/bench_anonymize.py --rows 10000    # quick look
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SENTENCES = [
    "Order shipped on time, package left at the door.", "Customer asked for gift wrapping.",
    "Delivery delayed by the weather, arrived two days late.", "Item returned unopened.",
    "Refund processed after the quality check.", "The size did not fit, exchange requested.",
    "Battery life shorter than advertised.", "Great value, would order again.",
]


def make_table(rows: int, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    from faker import Faker

    fake = Faker(["en_US", "en_GB"])
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    pool = max(rows // 10, 100)  # Faker is slow: draw pools, then sample (values still repeat little)
    names = np.array([fake.name() for _ in range(pool)], dtype=object)
    emails = np.array([f"{fake.user_name()}{i}@{fake.free_email_domain()}" for i in range(rows)], dtype=object)
    phones = np.array([fake["en_US"].phone_number() for _ in range(pool)], dtype=object)
    cities = np.array([fake.city() for _ in range(1000)], dtype=object)
    jobs = np.array([fake.job() for _ in range(600)], dtype=object)
    contact = rng.choice(np.array(["call the front desk", "see ticket", "no contact", "walk-in"], dtype=object), rows)
    mixed = rng.random(rows) < 0.2
    contact[mixed] = emails[rng.permutation(rows)[: int(mixed.sum())]]
    comments = rng.choice(np.array(SENTENCES, dtype=object), rows)
    personal = np.flatnonzero(rng.random(rows) < 0.05)
    planted = []
    for i in personal:
        who, mail = names[rng.integers(pool)], emails[rng.integers(rows)]
        comments[i] = f"Refund for {who}, reply to {mail}."
        planted.append(mail)
    frame = pd.DataFrame({
        "full_name": rng.choice(names, rows), "email": emails, "phone": rng.choice(phones, rows),
        "city": rng.choice(cities, rows), "job": rng.choice(jobs, rows),
        "status": rng.choice(["open", "closed", "pending", "escalated"], rows),
        "category": rng.choice(["books", "garden", "toys", "kitchen", "sports", "music"], rows),
        "contact": contact, "comment": comments,
        "ref": ["REF-" + "".join(r) for r in rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ"), (rows, 8)).tolist()],
    })
    planted += list(contact[mixed])
    return frame, planted


def presidio_peer(cells: list[str]):
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    from riskaudit.checks.pii.engine import find_spacy_model, offline_extractor, offline_scope

    offline_scope(offline_extractor()).__enter__()  # a benchmark process: offline for its whole life
    model, _ = find_spacy_model(None)
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    anonymizer = AnonymizerEngine()
    t0 = time.perf_counter()
    out = [anonymizer.anonymize(text=c, analyzer_results=analyzer.analyze(text=c, language="en")).text
           for c in cells]
    return out, time.perf_counter() - t0


def _cpu() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--peer-cells", type=int, default=3000)
    ap.add_argument("--n-process", type=int, default=2)
    args = ap.parse_args()
    import logging

    logging.disable(logging.WARNING)
    from riskaudit.anonymize import anonymize

    frame, planted = make_table(args.rows)
    cells = frame.shape[0] * frame.shape[1]
    print(f"table: {args.rows:,} rows x {frame.shape[1]} text columns = {cells:,} cells "
          f"({frame.stack().nunique():,} distinct); {os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        frame.to_csv(src, index=False)
        policy = {"name": "bench", "checks": {"pii": {"options": {"n_process": args.n_process}}}}
        cpu0 = _cpu()
        t0 = time.perf_counter()
        result = anonymize(src, dst, policy=policy)
        took = time.perf_counter() - t0
        cpu = _cpu() - cpu0
        text = dst.read_text()
    survived = sum(1 for p in set(planted) if p in text)
    print(f"riskaudit anonymize: {took:,.1f} s for {cells:,} cells ({cells / took:,.0f} cells/s); "
          f"target under 120 s: {'met' if took < 120 else 'NOT met'}")
    print(f"  CPU time (this process and its workers): {cpu:,.1f} s, i.e. about {cpu / 2:,.0f} s of wall "
          f"time on 2 idle cores; load average during the run: {os.getloadavg()[0]:.1f}")
    print(f"  planted e-mails left in the copy: {survived} of {len(set(planted)):,}")
    for column, per in result.replaced().items():
        print(f"  {column}: " + ", ".join(f"{n:,} {e}" for e, n in sorted(per.items())))
    flat = frame.to_numpy().ravel()
    step = max(1, len(flat) // args.peer_cells)
    sample = [str(c) for c in flat[::step][: args.peer_cells]]
    peer_out, peer_s = presidio_peer(sample)
    rate = len(sample) / peer_s
    peer_left = sum(1 for c, o in zip(sample, peer_out) if c in set(planted) and c in o)
    print(f"Presidio AnalyzerEngine + AnonymizerEngine per cell: {len(sample):,} cells in {peer_s:,.1f} s "
          f"({rate:,.0f} cells/s) -> about {cells / rate:,.0f} s for the {cells:,} cells "
          f"(planted e-mails left in its sample: {peer_left})")


if __name__ == "__main__":
    main()
