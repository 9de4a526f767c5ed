"""Benchmark of the pii checker against plain Presidio (same machine, same run).

1. Quality: a labelled set of Faker texts (names, emails, phones, SSNs, credit cards,
   IBANs, IPs, dates inside sentences; 30% without personal data). Entity-level precision
   and recall per type: a prediction is a true positive when its type equals a gold span's
   type and it covers at least half of that span; any other prediction is a false positive
   (ORGANIZATION, US_DRIVER_LICENSE, the URL inside an email...).
   Peer: Presidio's AnalyzerEngine out of the box (all predefined recognizers, the same
   spaCy pipeline, default threshold), called row by row as its documentation shows.
2. Speed: free-text rows/second of both (riskaudit batches, de-duplicates, disables the
   spaCy parser).
3. Structured-column verdicts on 1,000,000 rows x 10 columns (target: under 30 s), both
   with the default sample and with --full.

    .venv/bin/python benchmarks/bench_pii.py            # 5,000 texts, 1,000,000 rows
    .venv/bin/python benchmarks/bench_pii.py --texts 500 --rows 100000   # quick look
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import defaultdict

import numpy as np
import pandas as pd

TYPES = ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IBAN_CODE",
         "IP_ADDRESS", "DATE_TIME"]

TEMPLATES = [
    ("Please call {PERSON} at {PHONE_NUMBER} about the overdue invoice.", ),
    ("Customer {PERSON} wrote from {EMAIL_ADDRESS} asking for a refund.", ),
    ("The SSN on file for {PERSON} is {US_SSN}.", ),
    ("Charge the card {CREDIT_CARD} and send the receipt to {EMAIL_ADDRESS}.", ),
    ("Wire the deposit to IBAN {IBAN_CODE} before {DATE_TIME}.", ),
    ("Login from {IP_ADDRESS} was blocked on {DATE_TIME}.", ),
    ("{PERSON} changed the phone number to {PHONE_NUMBER} on {DATE_TIME}.", ),
    ("Contact {EMAIL_ADDRESS} or {PHONE_NUMBER} for the account of {PERSON}.", ),
    ("Applicant {PERSON}, SSN {US_SSN}, card {CREDIT_CARD}.", ),
    ("Meeting with {PERSON} was moved to {DATE_TIME}; she asked about IBAN {IBAN_CODE}.", ),
]
CLEAN = [
    "The shipment arrived two days late because of bad weather.",
    "Quality of the packaging was good and the product works as described.",
    "Returned because the size did not fit; the refund was processed.",
    "Battery life is shorter than advertised, about four hours of use.",
    "Great value for the price, we would order again next season.",
    "The team reviewed the quarterly figures and found no issues.",
    "Server maintenance is scheduled after the release of version 2.4.",
    "Please restart the router and check the cable before opening a ticket.",
    "The warehouse in the north wing is closed for inventory counting.",
    "Our support desk answers questions about billing and delivery.",
]


def make_texts(n: int, seed: int = 0):
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    gen = {"PERSON": fake.name, "EMAIL_ADDRESS": fake.email, "PHONE_NUMBER": fake.phone_number,
           "US_SSN": fake.ssn, "CREDIT_CARD": fake.credit_card_number, "IBAN_CODE": fake.iban,
           "IP_ADDRESS": fake.ipv4,
           "DATE_TIME": lambda: fake.date_between("-3y", "+1y").strftime(
               str(rng.choice(["%B %d, %Y", "%Y-%m-%d", "%d %B %Y"])))}
    texts, gold = [], []
    for _ in range(n):
        if rng.random() < 0.3:
            base = str(rng.choice(CLEAN))
            if rng.random() < 0.5:  # some variety so that de-duplication is not the whole story
                base = base.replace(".", f" (ticket {rng.integers(100, 999)}).")
            texts.append(base)
            gold.append([])
            continue
        tpl = TEMPLATES[rng.integers(len(TEMPLATES))][0]
        out, spans, pos = "", [], 0
        import re

        for m in re.finditer(r"\{(\w+)\}", tpl):
            out += tpl[pos:m.start()]
            val = gen[m.group(1)]()
            spans.append((m.group(1), len(out), len(out) + len(val)))
            out += val
            pos = m.end()
        out += tpl[pos:]
        texts.append(out)
        gold.append(spans)
    return texts, gold


def score(preds, gold):
    tp, fp, fn = defaultdict(int), defaultdict(int), defaultdict(int)
    for p_spans, g_spans in zip(preds, gold):
        used = set()
        for ent, s, e in p_spans:
            hit = None
            for i, (gent, gs, ge) in enumerate(g_spans):
                if i in used or gent != ent:
                    continue
                if min(e, ge) - max(s, gs) >= 0.5 * (ge - gs):
                    hit = i
                    break
            if hit is None:
                fp[ent] += 1
            else:
                used.add(hit)
                tp[ent] += 1
        for i, (gent, _, _) in enumerate(g_spans):
            if i not in used:
                fn[gent] += 1
    return tp, fp, fn


def plain_presidio(model_path):
    from riskaudit.checks.pii.engine import offline_extractor, offline_scope

    # for the rest of this benchmark process: without it Presidio prints a traceback (no network)
    offline_scope(offline_extractor()).__enter__()
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model_path}]})
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


def structured_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    pool = 20000

    def draw(fn):
        vals = np.array([fn() for _ in range(pool)], dtype=object)
        return vals[rng.integers(0, pool, rows)]

    return pd.DataFrame({
        "email": draw(fake.email), "phone": draw(fake.phone_number), "ssn": draw(fake.ssn),
        "customer_name": draw(fake.name), "first_name": draw(fake.first_name),
        "dob": draw(lambda: fake.date_of_birth().isoformat()), "ip": draw(fake.ipv4),
        # card numbers stored as integers (every dtype is scanned)
        "card_number": draw(lambda: int(fake.credit_card_number(
            str(rng.choice(["visa16", "mastercard", "amex", "discover"]))))).astype(np.int64),
        "weight_kg": rng.normal(70, 8, rows).round(2),
        "event_id": draw(lambda: fake.hexify("^^^^^^^^^^^^")),
    })


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=5000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--peer-texts", type=int, default=None,
                    help="texts given to plain Presidio (default: all)")
    args = ap.parse_args()
    logging.disable(logging.WARNING)

    from riskaudit.checks.pii import PiiChecker
    from riskaudit.checks.pii.scanner import engine_for

    cfg = PiiChecker.validate_options({})
    texts, gold = make_texts(args.texts)
    t0 = time.perf_counter()
    eng = engine_for(cfg, None)
    load_ours = time.perf_counter() - t0
    print(f"texts: {len(texts)} ({sum(1 for g in gold if not g)} without personal data); "
          f"NER: {eng.model_note}")

    peer_n = args.peer_texts or len(texts)
    t0 = time.perf_counter()
    peer = plain_presidio(eng.model)
    load_peer = time.perf_counter() - t0
    peer.analyze("warm up with Anna Smith", language="en")
    # alternate chunks of both systems so that the load of the shared machine hits both alike
    t_ours = t_peer = 0.0
    ours, peer_res = [], []
    chunk = 500
    for i in range(0, len(texts), chunk):
        part = texts[i:i + chunk]
        t0 = time.perf_counter()
        ours.extend(eng.analyze_texts(part))
        t_ours += time.perf_counter() - t0
        part = texts[i:min(i + chunk, peer_n)]
        t0 = time.perf_counter()
        peer_res.extend(peer.analyze(t, language="en") for t in part)
        t_peer += time.perf_counter() - t0
    ours_p = [[(s.entity, s.start, s.end) for s in ss] for ss in ours]
    peer_p = [[(r.entity_type, r.start, r.end) for r in rr] for rr in peer_res]

    a_tp, a_fp, a_fn = score(ours_p[:peer_n], gold[:peer_n])
    b_tp, b_fp, b_fn = score(peer_p, gold[:peer_n])
    print(f"\nEntity-level quality on {peer_n} texts (P = precision, R = recall)")
    print(f"{'type':<16}{'gold':>6} | {'riskaudit P':>11} {'R':>6} | {'Presidio P':>10} {'R':>6}")

    def pr(tp, fp, fn, t):
        p = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else float("nan")
        r = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else float("nan")
        return p, r

    for t in TYPES:
        g = a_tp[t] + a_fn[t]
        ap_, ar = pr(a_tp, a_fp, a_fn, t)
        bp, br = pr(b_tp, b_fp, b_fn, t)
        print(f"{t:<16}{g:>6} | {ap_:>11.3f} {ar:>6.3f} | {bp:>10.3f} {br:>6.3f}")
    for name, fp in (("riskaudit", a_fp), ("Presidio", b_fp)):
        other = {k: v for k, v in sorted(fp.items(), key=lambda kv: -kv[1]) if k not in TYPES}
        print(f"false positives of other types, {name}: {other or 'none'}")
    for name, tp, fp, fn in (("riskaudit", a_tp, a_fp, a_fn), ("Presidio", b_tp, b_fp, b_fn)):
        T, F, N = sum(tp.values()), sum(fp.values()), sum(fn.values())
        print(f"micro {name:<10} precision {T / (T + F):.3f}  recall {T / (T + N):.3f}  "
              f"(tp {T}, fp {F}, fn {N})")

    print(f"\nFree-text speed: riskaudit {len(texts) / t_ours:,.0f} rows/s "
          f"(batched, de-duplicated; model load {load_ours:.1f}s) vs Presidio row by row "
          f"{peer_n / t_peer:,.0f} rows/s (load {load_peer:.1f}s): "
          f"{(len(texts) / t_ours) / (peer_n / t_peer):.1f}x")

    # structured columns
    t0 = time.perf_counter()
    frame = structured_frame(args.rows)
    t_gen = time.perf_counter() - t0
    from riskaudit.testing import run_check

    print(f"\nStructured verdicts on {len(frame):,} rows x {frame.shape[1]} columns "
          f"(made in {t_gen:.1f}s)")
    for label, opts in (("sample (2,000 values)", {}), ("--full", {"full": True})):
        t0 = time.perf_counter()
        res = run_check(PiiChecker, data=frame, policy={"name": "b", "checks": {"pii": {"options": opts}}})
        dt = time.perf_counter() - t0
        flagged = res.metrics.get("pii_columns", {})
        print(f"  {label:<22} {dt:6.1f}s  status {res.status.value}: "
              f"{', '.join(f'{k}={v}' for k, v in flagged.items())}")


if __name__ == "__main__":
    main()
