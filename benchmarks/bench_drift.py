"""Benchmark of the drift checker against Evidently's DataDriftPreset, side by side.

Data: reference and current tables of 100,000 rows x 25 columns (20 numeric of mixed
distributions, 5 categorical) drawn from the same generator, except for a known shift in
4 columns of the current table: +0.1 standard deviations in num_03, num_07 and num_12 and
a moved category share in cat_2 (0.40/0.30/0.20/0.10 -> 0.35/0.30/0.20/0.15).

Quality: the checker must flag (warn or fail) exactly those 4 columns.
Speed: the whole drift check (per-feature tests and the multivariate test, run through
riskaudit.scan) against Evidently's data-drift report on the same frames. The default
multivariate test on mixed types is alibi-detect's classifier detector; a third row runs
the MMD variant (pytorch backend, numeric features only) for comparison. Each tool runs
in its own child process (imports excluded from the timing) so that peak memory (RSS) is
measured per tool.

    .venv/bin/python benchmarks/bench_drift.py [--rows 100000] [--device cpu]

Evidently is a benchmark-only peer: install it into your own virtual environment
(``pip install evidently``); it is not a dependency of riskaudit.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time

import numpy as np
import pandas as pd

SHIFTED = ["num_03", "num_07", "num_12", "cat_2"]


def make_data(rows: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def table(shift: bool) -> pd.DataFrame:
        cols = {}
        for i in range(20):
            kind = i % 4
            if kind == 0:
                x, sd = rng.normal(50, 10, rows), 10.0
            elif kind == 1:
                x = rng.lognormal(3, 0.5, rows)
                sd = float(np.sqrt((np.exp(0.25) - 1) * np.exp(6 + 0.25)))
            elif kind == 2:
                x, sd = rng.uniform(0, 1, rows), float(np.sqrt(1 / 12))
            else:
                x, sd = rng.gamma(2.0, 2.0, rows), float(np.sqrt(2.0) * 2.0)
            name = f"num_{i:02d}"
            if shift and name in SHIFTED:
                x = x + 0.1 * sd
            cols[name] = x
        levels = [["a", "b", "c"], ["n", "s", "e", "w"], ["x1", "x2", "x3", "x4"],
                  ["red", "green", "blue", "black", "white"], [f"g{j}" for j in range(8)]]
        for j, lv in enumerate(levels):
            p = np.ones(len(lv)) / len(lv)
            if j == 2:
                p = np.array([0.40, 0.30, 0.20, 0.10])
                if shift:
                    p = np.array([0.35, 0.30, 0.20, 0.15])
            cols[f"cat_{j}"] = rng.choice(lv, rows, p=p)
        return pd.DataFrame(cols)

    return table(False), table(True)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_riskaudit(rows: int, device: str, q, method: str = "auto") -> None:
    from riskaudit.checks.drift import DriftChecker
    from riskaudit.testing import run_check
    import alibi_detect.cd  # noqa: F401  (import outside the timing)

    ref, cur = make_data(rows)
    t0 = time.perf_counter()
    res = run_check(DriftChecker, data=cur, reference=ref, device=device, policy="default",
                    options={"drift": {"multivariate_method": method}})
    wall = time.perf_counter() - t0
    flagged = sorted({f.subject for f in res.findings if f.kind == "data_drift" and f.status.value != "pass"})
    mv = res.metrics.get("multivariate", {})
    q.put({"tool": "riskaudit drift" + (f" ({method} variant)" if method != "auto" else ""), "seconds": wall, "check_seconds": res.duration_s,
           "flagged": flagged, "rss_mb": _maxrss_mb(),
           "multivariate": f"{mv.get('method')} p={mv.get('p_value')} n={mv.get('sample_reference')}"})


def run_evidently(rows: int, q) -> None:
    try:
        import evidently
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except Exception as exc:  # not installed: say so
        q.put({"tool": "evidently", "error": f"{type(exc).__name__}: {exc}"})
        return
    ref, cur = make_data(rows)
    t0 = time.perf_counter()
    snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    wall = time.perf_counter() - t0
    flagged = []
    for m in snap.dict().get("metrics", []):
        name = str(m.get("metric_name", ""))
        if name.startswith("ValueDrift("):
            col = name.split("column=")[1].split(",")[0].rstrip(")")
            thr = float(name.split("threshold=")[1].split(")")[0]) if "threshold=" in name else None
            val = m.get("value")
            method = name.split("method=")[1].split(",")[0] if "method=" in name else ""
            # p-value methods drift when below the threshold, distance methods when above
            is_p = "p_value" in method or "test" in method.lower() or "chi" in method.lower()
            if thr is not None and val is not None and ((val < thr) if is_p else (val >= thr)):
                flagged.append(col)
    q.put({"tool": f"evidently {evidently.__version__} DataDriftPreset", "seconds": wall,
           "flagged": sorted(flagged), "rss_mb": _maxrss_mb()})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    results = []
    runs = ((run_riskaudit, (args.device,)), (run_evidently, ()), (run_riskaudit, (args.device, "mmd")))
    for target, extra in runs:
        q = ctx.Queue()
        p = ctx.Process(target=target, args=(args.rows, extra[0], q, *extra[1:]) if extra else (args.rows, q))
        p.start()
        results.append(q.get())
        p.join()
    print(f"data: {args.rows} rows x 25 columns, shifted: {', '.join(SHIFTED)}")
    print(f"{'tool':42s} {'seconds':>8s} {'RSS MB':>8s}  flagged columns")
    ok = True
    for r in results:
        if "error" in r:
            print(f"{r['tool']:42s} {'-':>8s} {'-':>8s}  not run: {r['error']}")
            continue
        exact = r["flagged"] == sorted(SHIFTED)
        print(f"{r['tool']:42s} {r['seconds']:8.2f} {r['rss_mb']:8.0f}  {', '.join(r['flagged']) or 'none'}"
              f"  ({'exactly the shifted columns' if exact else 'NOT exactly the shifted columns'})")
        if "multivariate" in r:
            print(f"{'':42s} check alone {r['check_seconds']:.2f} s; multivariate: {r['multivariate']}")
    ra = results[0]
    ev = results[1]
    ok = ra["flagged"] == sorted(SHIFTED) and ra["rss_mb"] < 2048
    if "seconds" in ev:
        ok = ok and ra["seconds"] < ev["seconds"]
        print(f"speed-up over Evidently: {ev['seconds'] / ra['seconds']:.1f}x")
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
