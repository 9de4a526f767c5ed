"""Speed of the performance checker's bootstrap: its numpy metrics against scikit-learn's.

The checker computes accuracy, balanced accuracy, macro F1, ROC AUC, log loss and ECE on
every bootstrap resample. Measured side by side in the same run, on the same resamples:

- riskaudit: ``riskaudit.checks.performance._metrics.classification`` (numpy, one bincount
  for the confusion matrix, a rank sum for the AUC);
- scikit-learn: ``accuracy_score``, ``balanced_accuracy_score``, ``f1_score(average="macro")``,
  ``roc_auc_score``, ``log_loss`` (the oracle of the tests) and the same ECE;
- the whole checker (``riskaudit.testing.run_check``) on the same rows.

    .venv/bin/python benchmarks/bench_performance.py [--rows 20000] [--resamples 200] [--classes 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from riskaudit.checks.performance import PerformanceChecker
from riskaudit.checks.performance import _metrics as M
from riskaudit.testing import run_check


def make_data(n: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 1.5
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, p


def sklearn_metrics(y, p, k):
    pred = p.argmax(1)
    auc = skm.roc_auc_score(y, p[:, 1]) if k == 2 else skm.roc_auc_score(y, p, multi_class="ovr",
                                                                        labels=list(range(k)))
    return {"accuracy": skm.accuracy_score(y, pred), "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
            "macro_f1": skm.f1_score(y, pred, average="macro", labels=list(range(k)), zero_division=0),
            "roc_auc": auc, "log_loss": skm.log_loss(y, y_proba=p, labels=list(range(k))),
            "ece": M.ece(y, p, 10)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--classes", type=int, default=3)
    args = ap.parse_args()
    y, p = make_data(args.rows, args.classes)
    rng = np.random.default_rng(1)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(args.resamples)]
    t0 = time.perf_counter()
    ours = [M.classification(y[i], p[i]) for i in draws]
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = [sklearn_metrics(y[i], p[i], args.classes) for i in draws]
    t_sk = time.perf_counter() - t0
    worst = max(abs(a[m] - b[m]) for a, b in zip(ours, theirs) for m in a)
    print(f"{args.rows:,} rows, {args.classes} classes, {args.resamples} bootstrap resamples, 6 metrics each")
    print(f"  riskaudit numpy : {t_ours:7.2f} s")
    print(f"  scikit-learn    : {t_sk:7.2f} s   ({t_sk / t_ours:.1f}x the numpy time)")
    print(f"  largest difference between the two over all resamples and metrics: {worst:.2e}")
    frame = pd.DataFrame(p, columns=[f"s{c}" for c in range(args.classes)]).assign(y=y)
    t0 = time.perf_counter()
    run_check(PerformanceChecker, data=frame, predictions=None, scores=[f"s{c}" for c in range(args.classes)],
              target="y", classes=list(range(args.classes)))
    print(f"  whole checker (stored scores, data only, {args.resamples} resamples): "
          f"{time.perf_counter() - t0:7.2f} s")


if __name__ == "__main__":
    main()
