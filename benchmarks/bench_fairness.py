"""Speed of the fairness checker's group metrics against pandas and fairlearn.

1,000,000 rows, two sensitive attributes (3 and 4 groups), 6 metrics (selection rate,
accuracy, TPR, FPR, FNR, precision) for each attribute and their intersection (3 + 4 + 12
groups), measured side by side in the same run:

- riskaudit: the checker's vectorized counts (one bincount) -> metrics, from integer codes;
- pandas: a hand-written groupby summing the same indicator columns (per attribute and per
  intersection), then the same ratios; also one groupby on the intersection + margins;
- fairlearn: MetricFrame with the same 6 metric functions (the oracle), same units;
- bootstrap: 200 resamples of every group's counts (multinomial over cells), and the full
  checker (``riskaudit.testing.run_check``) with and without bootstrap.

    .venv/bin/python benchmarks/bench_fairness.py [--rows 1000000] [--no-fairlearn]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from riskaudit.checks.fairness import FairnessChecker
from riskaudit.checks.fairness import _counts as C


def make_data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, n)
    b = rng.integers(0, 4, n)
    y = (rng.random(n) < 0.3 + 0.1 * a).astype(np.int64)
    score = 0.5 * y + 0.1 * b + rng.random(n) * 0.6
    p = (score > 0.55).astype(np.int64)
    return pd.DataFrame({"a": a, "b": b, "y": y, "p": p, "score": score})


def ours(df: pd.DataFrame):
    y, p = df["y"].to_numpy(), df["p"].to_numpy()
    types = C.cell_types(p == 1, np.where(y == 1, 2, 1), p == y)
    table = C.joint_table([df["a"].to_numpy(), df["b"].to_numpy()], [3, 4], types)
    return {axes: C.classification_metrics(C.margin(table, axes)) for axes in ((0,), (1,), (0, 1))}


def _rates(s: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "selection_rate": s["sel"] / s["n"], "accuracy": s["correct"] / s["n"],
        "true_positive_rate": s["tp"] / (s["tp"] + s["fn"]),
        "false_positive_rate": s["fp"] / (s["fp"] + s["tn"]),
        "false_negative_rate": s["fn"] / (s["tp"] + s["fn"]),
        "precision": s["tp"] / (s["tp"] + s["fp"])})


def pandas_groupby(df: pd.DataFrame):
    y, p = df["y"].to_numpy(), df["p"].to_numpy()
    ind = pd.DataFrame({"a": df["a"], "b": df["b"], "n": 1, "sel": p, "correct": (p == y).astype(np.int64),
                        "tp": p & y, "fp": p & (1 - y), "fn": (1 - p) & y, "tn": (1 - p) & (1 - y)})
    return {key: _rates(ind.groupby(list(key))[["n", "sel", "correct", "tp", "fp", "fn", "tn"]].sum())
            for key in (("a",), ("b",), ("a", "b"))}


def pandas_one_groupby(df: pd.DataFrame):
    y, p = df["y"].to_numpy(), df["p"].to_numpy()
    ind = pd.DataFrame({"a": df["a"], "b": df["b"], "n": 1, "sel": p, "correct": (p == y).astype(np.int64),
                        "tp": p & y, "fp": p & (1 - y), "fn": (1 - p) & y, "tn": (1 - p) & (1 - y)})
    joint = ind.groupby(["a", "b"]).sum()
    return {("a", "b"): _rates(joint), ("a",): _rates(joint.groupby(level=0).sum()),
            ("b",): _rates(joint.groupby(level=1).sum())}


def fairlearn_metricframe(df: pd.DataFrame):
    from fairlearn.metrics import (MetricFrame, false_negative_rate, false_positive_rate,
                                   selection_rate, true_positive_rate)
    from sklearn.metrics import accuracy_score, precision_score

    metrics = {"selection_rate": selection_rate, "accuracy": accuracy_score,
               "true_positive_rate": true_positive_rate, "false_positive_rate": false_positive_rate,
               "false_negative_rate": false_negative_rate,
               "precision": lambda t, p: precision_score(t, p, zero_division=0)}
    return {key: MetricFrame(metrics=metrics, y_true=df["y"], y_pred=df["p"],
                             sensitive_features=df[list(key)]).by_group
            for key in (("a",), ("b",), ("a", "b"))}


def best_of(fn, *args, repeat=3):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--no-fairlearn", action="store_true")
    args = ap.parse_args()
    df = make_data(args.rows)
    t_ours, m = best_of(ours, df)
    t_pd, pdm = best_of(pandas_groupby, df)
    t_pd1, _ = best_of(pandas_one_groupby, df)
    # same figures
    for axes, key in (((0,), ("a",)), ((1,), ("b",)), ((0, 1), ("a", "b"))):
        for col in pdm[key].columns:
            assert np.allclose(m[axes][col], pdm[key][col].to_numpy(), atol=1e-12), (key, col)
    rows = [("riskaudit vectorized counts", t_ours), ("pandas groupby x3 (hand-written)", t_pd),
            ("pandas 1 groupby + margins", t_pd1)]
    if not args.no_fairlearn:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_fl, flm = best_of(fairlearn_metricframe, df, repeat=1)
        for axes, key in (((0,), ("a",)), ((1,), ("b",)), ((0, 1), ("a", "b"))):
            assert np.allclose(m[axes]["selection_rate"], flm[key]["selection_rate"].to_numpy(), atol=1e-12)
        rows.append(("fairlearn MetricFrame (oracle)", t_fl))

    # bootstrap: 200 resamples of every group's counts
    y, p = df["y"].to_numpy(), df["p"].to_numpy()
    types = C.cell_types(p == 1, np.where(y == 1, 2, 1), p == y)
    table = C.joint_table([df["a"].to_numpy(), df["b"].to_numpy()], [3, 4], types)

    def boot():
        b = C.bootstrap_tables(table, 200, np.random.default_rng(0))
        return [C.classification_metrics(C.margin_boot(b, axes)) for axes in ((0,), (1,), (0, 1))]

    t_boot, _ = best_of(boot)
    rows.append(("bootstrap 200 resamples (counts->metrics)", t_boot))

    # the whole checker (inputs as data-level labels: no model call in the timing)
    from riskaudit.testing import run_check

    frame = df.assign(a=df["a"].map({0: "x", 1: "y", 2: "z"}), b=df["b"].astype(str),
                      p=np.where(df["p"] == 1, "yes", "no"))[["a", "b", "p", "score"]]
    for nb in (0, 200):
        t = time.perf_counter()
        res = run_check(FairnessChecker, data=frame, target="p", features=["score"], sensitive=["a", "b"],
                        options={"fairness": {"bootstrap": nb, "positive_label": "yes"}})
        rows.append((f"full checker, data-level, bootstrap={nb}", time.perf_counter() - t))
        assert res.status.value in ("pass", "warn", "fail"), res.summary

    print(f"rows={args.rows:,}  attributes: 3 and 4 groups + intersection (12); 6 metrics")
    print(f"{'method':44s} {'seconds':>9s} {'x riskaudit':>12s}")
    for name, t in rows:
        print(f"{name:44s} {t:9.3f} {t / t_ours:12.1f}")
    print(f"riskaudit / pandas groupby x3 = {t_ours / t_pd:.2f} (target <= 3)")


if __name__ == "__main__":
    main()
