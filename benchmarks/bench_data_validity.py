"""Benchmark of the data_validity checker against Deepchecks' data_integrity suite and a
pandas floor (read the file + describe() + duplicated()).

    .venv/bin/python benchmarks/bench_data_validity.py --rows 1000000 --deepchecks-rows 100000

Data: ``--rows`` evaluation rows x 30 columns (12 numeric, 10 categorical, 8 free text) plus a
reference of ``--reference-rows`` rows, written once to Parquet; defects are planted with known
counts (duplicates, leaked rows, nulls, impossible values, label variants). Every tool runs in
its own subprocess on the same file; the table gives the wall time of the work after imports
(reading included), the whole process time, and the peak resident memory of the process.

Deepchecks is a benchmark-only peer (``pip install deepchecks`` into the venv); it is not a
dependency of riskaudit. deepchecks 0.19.1 calls ``get_scorer('max_error')`` at import, which
scikit-learn 1.9 renamed to ``neg_max_error``; the deepchecks runner maps that one name before
importing it and changes nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_NUM, N_CAT, N_TEXT = 12, 10, 8
WORDS = np.array("alpha beta gamma delta late payment loan approved account balance credit "
                 "card branch online phone visit address moved salary review pending closed "
                 "open fee waived dispute customer asked about limit increase".split())


def make_frame(n: int, seed: int, id_offset: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {"id": np.arange(id_offset, id_offset + n)}
    for i in range(N_NUM):
        if i % 3 == 0:
            cols[f"num_{i}"] = rng.integers(0, 100, n)
        else:
            cols[f"num_{i}"] = np.round(rng.lognormal(3 + i / 10, 0.4, n), 3)
    for i in range(N_CAT - 1):
        cats = np.array([f"c{i}_{k}" for k in range(5 + i)])
        cols[f"cat_{i}"] = cats[rng.integers(0, len(cats), n)]
    cols["group"] = np.array(["f", "m", "x"])[rng.choice(3, n, p=[0.49, 0.49, 0.02])]
    for i in range(N_TEXT):
        a, b, c = (WORDS[rng.integers(0, len(WORDS), n)] for _ in range(3))
        cols[f"text_{i}"] = pd.Series(a).str.cat([pd.Series(b), pd.Series(c),
                                                  pd.Series(rng.integers(0, 10**6, n)).astype(str)], sep=" ")
    frame = pd.DataFrame(cols)
    frame["label"] = np.where(frame["num_1"] + rng.normal(0, 5, n) > frame["num_1"].median(), "yes", "no")
    return frame


def plant(cur: pd.DataFrame, ref: pd.DataFrame, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = len(cur)
    idx = rng.choice(n, 5000, replace=False)
    dup_src, dup_dst = idx[:1000], idx[1000:2000]
    cur.iloc[dup_dst, 1:] = cur.iloc[dup_src, 1:].to_numpy()            # 1000 duplicates (new ids)
    leak_src = rng.choice(len(ref), 500, replace=False)
    cur.iloc[idx[2000:2500], 1:] = ref.iloc[leak_src, 1:].to_numpy()      # 500 leaked rows
    cur.loc[idx[2500:3500], "num_2"] = np.nan                             # 1000 missing values
    cur.loc[idx[3500:3510], "num_4"] = -1.0                               # 10 impossible values
    cur.loc[idx[3510:3530], "label"] = "Yes "                             # 20 label variants
    return {"duplicate_rows": 1000, "train_test_leakage": 500, "missing_values": 1000,
            "out_of_range": 10, "label_inconsistency": 20}


# ------------------------------------------------------------------ runners (subprocesses)

def run_riskaudit(data: str, reference: str) -> dict:
    import riskaudit  # noqa: F401
    from riskaudit.checks.data_validity import DataValidityChecker
    from riskaudit.registry import Registry
    from riskaudit.scan import scan

    t = time.perf_counter()
    report = scan(data=data, reference=reference, target="label", ids=["id"], sensitive=["group"],
                  policy="default", registry=Registry.from_classes([DataValidityChecker]))
    elapsed = time.perf_counter() - t
    res = report.check("data_validity")
    found = {}
    for f in res.findings:
        found.setdefault(f.kind, []).append((f.subject, f.evidence.get("count")))
    return {"seconds": elapsed, "status": res.status.value, "findings": found,
            "check_seconds": res.duration_s}


def run_deepchecks(data: str, reference: str, rows: int) -> dict:
    import sklearn.metrics

    original = sklearn.metrics.get_scorer
    sklearn.metrics.get_scorer = lambda name: original("neg_max_error" if name == "max_error" else name)
    import warnings

    warnings.filterwarnings("ignore")
    from deepchecks.tabular import Dataset
    from deepchecks.tabular.suites import data_integrity

    t = time.perf_counter()
    frame = pd.read_parquet(data)
    if rows < len(frame):
        frame = frame.iloc[:rows]
    cat = [c for c in frame.columns if c.startswith("cat_")] + ["group"]
    ds = Dataset(frame, label="label", cat_features=cat, index_name="id")
    result = data_integrity().run(ds)
    elapsed = time.perf_counter() - t
    failed = [r.get_header() for r in result.get_not_passed_checks()]
    return {"seconds": elapsed, "rows": len(frame), "not_passed": failed}


def run_floor(data: str, rows: int) -> dict:
    t = time.perf_counter()
    frame = pd.read_parquet(data)
    if rows < len(frame):
        frame = frame.iloc[:rows]
    frame.describe(include="all")
    dups = int(frame.drop(columns="id").duplicated().sum())
    return {"seconds": time.perf_counter() - t, "duplicates": dups}


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss would carry the parent's
    peak over fork + exec on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(argv: list[str]) -> None:
    tool, data, reference, rows = argv[0], argv[1], argv[2], int(argv[3])
    if tool == "riskaudit":
        out = run_riskaudit(data, reference)
    elif tool == "deepchecks":
        out = run_deepchecks(data, reference, rows)
    else:
        out = run_floor(data, rows)
    out["peak_rss_mb"] = _peak_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # whole process, imports included
    print("RESULT " + json.dumps(out, default=str))


def measure(tool: str, data: Path, reference: Path, rows: int, timeout: int) -> dict:
    t = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", tool, str(data), str(reference),
                               str(rows)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s", "process_seconds": time.perf_counter() - t}
    total = time.perf_counter() - t
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}", "process_seconds": total}
    out = json.loads(line[-1][7:])
    out["process_seconds"] = total
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reference-rows", type=int, default=200_000)
    ap.add_argument("--deepchecks-rows", type=int, default=100_000,
                    help="rows Deepchecks runs on (it is far slower; 0 = all)")
    ap.add_argument("--deepchecks-timeout", type=int, default=420)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_dv_"))
    work.mkdir(parents=True, exist_ok=True)
    data, ref_path = work / f"current_{args.rows}.parquet", work / f"reference_{args.reference_rows}.parquet"
    t = time.perf_counter()
    ref = make_frame(args.reference_rows, seed=1, id_offset=10**8)
    cur = make_frame(args.rows, seed=2)
    planted = plant(cur, ref, seed=3)
    cur.to_parquet(data, index=False)
    ref.to_parquet(ref_path, index=False)
    small = work / f"current_{args.deepchecks_rows}.parquet"
    dc_rows = args.deepchecks_rows or args.rows
    if dc_rows < args.rows:
        cur.iloc[:dc_rows].to_parquet(small, index=False)
    else:
        small = data
    del cur, ref
    print(f"data: {args.rows:,} x 30 current, {args.reference_rows:,} reference rows "
          f"({time.perf_counter() - t:.1f} s to generate); planted: {planted}", flush=True)

    rows = []
    load0 = os.getloadavg()
    ra = measure("riskaudit", data, ref_path, args.rows, 600)
    rows.append(("riskaudit data_validity", args.rows, ra))
    fl = measure("floor", data, ref_path, args.rows, 600)
    rows.append(("pandas floor (read+describe+duplicated)", args.rows, fl))
    if dc_rows < args.rows:
        ra_s = measure("riskaudit", small, ref_path, dc_rows, 600)
        rows.append(("riskaudit data_validity", dc_rows, ra_s))
        fl_s = measure("floor", small, ref_path, dc_rows, 600)
        rows.append(("pandas floor (read+describe+duplicated)", dc_rows, fl_s))
    dc = measure("deepchecks", small, ref_path, dc_rows, args.deepchecks_timeout)
    rows.append(("deepchecks data_integrity", dc_rows, dc))

    print(f"\nload average before/after: {load0} / {os.getloadavg()} on {os.cpu_count()} cores")
    print(f"\n{'tool':42} {'rows':>9} {'work s':>8} {'process s':>9} {'cpu s':>7} {'peak MB':>8}")
    for name, n, r in rows:
        if "error" in r:
            print(f"{name:42} {n:>9,} {'-':>8} {r['process_seconds']:>9.1f} {'-':>7} {'-':>8}  {r['error']}")
        else:
            print(f"{name:42} {n:>9,} {r['seconds']:>8.1f} {r['process_seconds']:>9.1f} "
                  f"{r['cpu_seconds']:>7.1f} {r['peak_rss_mb']:>8.0f}")
    if "error" not in ra:
        print(f"\nriskaudit at {args.rows:,} rows: {ra['seconds']:.1f} s (target < 30 s), "
              f"peak {ra['peak_rss_mb'] / 1024:.2f} GB (target < 4 GB)")
        if "error" not in fl:
            print(f"ratio riskaudit / pandas floor ({args.rows:,} rows): {ra['seconds'] / fl['seconds']:.1f}x "
                  f"wall, {ra['cpu_seconds'] / fl['cpu_seconds']:.1f}x CPU")
        same = ra if dc_rows >= args.rows else ra_s
        if "error" not in dc and "error" not in same:
            print(f"ratio riskaudit / deepchecks ({dc_rows:,} rows): {same['seconds'] / dc['seconds']:.2f}x "
                  f"wall, {same['cpu_seconds'] / dc['cpu_seconds']:.2f}x CPU "
                  f"(deepchecks {dc['seconds']:.1f} s, riskaudit {same['seconds']:.1f} s)")
        found = {k: v for k, v in ra["findings"].items() if k in planted}
        print(f"riskaudit findings on planted kinds: {json.dumps(found)}")
    if "error" not in dc:
        print(f"deepchecks checks not passed: {dc['not_passed']}")


if __name__ == "__main__":
    main()
