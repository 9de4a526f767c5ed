"""performance on the Spark engine: every point figure over every row of a sampled table.

Used when a dataset is larger than its driver sample (``SparkDataset.sampled``). The model's
raw outputs come from :meth:`SparkDataset.predict_all` (``mapInPandas``, the model broadcast
to the executors); the same Python pass reduces each partition's Arrow batches to a few
totals with the pandas engine's own functions (``labels_to_index``, ``to_proba``'s rule,
:mod:`._metrics`' confusion matrix, log loss and calibration bins), under both readings of the
outputs (probabilities already, or scores to squash) until a batch rules the first out; the
driver decides the reading over the whole table as ``to_proba`` decides over its array
(:func:`~riskaudit.engines.spark.rule_of`) and keeps that reading's totals.

- classification: the confusion matrix (accuracy, balanced accuracy, macro F1, the
  per-class table), the sum of the log loss, and per calibration bin the rows, summed
  confidence and summed correctness (the ECE and reliability diagram): counts exact, sums
  within rounding of the pandas engine's.
- ROC AUC (binary, or one-vs-rest macro over the classes present): the Mann-Whitney
  statistic from the positives and negatives of every distinct score (**exact**, ties count
  one half) when each class's scores take at most :data:`EXACT_SCORES` distinct values over
  the table; else from a **histogram** of the scores whose bins are :data:`HIST_BITS`
  mantissa bits of min(p, 1 - p) wide (relative width 2^-12: fine in both tails, where
  confident models put most rows). Pairs in different bins are ordered exactly; pairs that
  share a bin count one half, so the error is at most half the share of (positive,
  negative) pairs that share a bin: :attr:`Figures.auc_max_error`, computed from the
  histogram itself and shown in the report.
- regression: MAE, RMSE and R² from sums (errors, squared errors, and the labels' mean and
  sum of squared deviations merged per partition by Chan's formula, numerically stable).

Floating-point totals come back one row per partition and are added on the driver with
``math.fsum`` (correctly rounded: the same figures whatever order Spark returns them in);
the score counts are integers summed in Spark. Bootstrap intervals stay on the driver
sample (the checker says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskaudit.checks.performance import _metrics as M
from riskaudit.engines.spark import RULE_STATS, _first_line, column, partition_id, rule_of, rule_stats, to_proba_rows
from riskaudit.errors import CheckerError

EXACT_SCORES = 2048
"""Distinct scores per class (over the table) up to which the ROC AUC is exact."""
HIST_BITS = 12
"""Mantissa bits of min(p, 1 - p) that a histogram bin of scores keeps."""
_SHIFT = 52 - HIST_BITS
_HALF = int(np.float64(0.5).view(np.int64)) >> _SHIFT
_COMPACT = 1 << 20
TOTALS, EXACT, HIST, OVERFLOW, RULE = range(5)
_TOL = 1e-4 + 1e-5  # rule_of's tolerance on a row's sum


@dataclass
class Figures:
    """The point figures of one table, over every row (known label, finite outputs)."""

    point: dict[str, float]
    rows: int
    left_out: int
    confusion: np.ndarray | None = None
    calibration: dict[str, np.ndarray] | None = None
    label_counts: np.ndarray | None = None
    """Rows per known label (outputs finite or not): the majority-class baseline."""
    target_mean: float = float("nan")
    """Regression: mean of the target over the rows that have one (``np.nanmean``)."""
    y_stats: tuple[int, float, float] = (0, 0.0, 0.0)
    """Regression: rows, mean and sum of squared deviations of the labels kept."""
    auc_method: str = ""
    auc_max_error: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def sq_dev(self, centre: float) -> float:
        """Sum over the rows kept of (label - centre)²."""
        n, mean, m2 = self.y_stats
        return m2 + n * (mean - centre) ** 2


def exact_keys(p: np.ndarray) -> np.ndarray:
    """Integers in the order of the scores (non-negative doubles): their bits."""
    return (np.maximum(np.asarray(p, np.float64), 0.0) + 0.0).view(np.int64)


def hist_keys(p: np.ndarray) -> np.ndarray:
    """The histogram bin of each score in [0, 1], non-decreasing in the score: the top
    :data:`HIST_BITS` mantissa bits of p below 1/2, of 1 - p above (mirrored)."""
    p = np.clip(np.asarray(p, np.float64), 0.0, 1.0)
    low = p <= 0.5
    q = np.where(low, p, 1.0 - p) + 0.0  # exact for p in [1/2, 1] (Sterbenz)
    bits = q.view(np.int64) >> _SHIFT
    return np.where(low, bits, 2 * _HALF + 1 - bits)


def mann_whitney(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """(AUC, largest error) from positives and negatives per group of scores in ascending
    order: the Mann-Whitney statistic with a group's own pairs counted one half (exact when
    a group is one score; else off by at most half that group's pairs)."""
    pos, neg = np.asarray(pos, np.float64), np.asarray(neg, np.float64)
    n1, n0 = pos.sum(), neg.sum()
    if n1 == 0 or n0 == 0:
        return float("nan"), 0.0
    below = np.cumsum(neg) - neg
    return float(np.sum(pos * (below + 0.5 * neg)) / (n1 * n0)), float(0.5 * np.sum(pos * neg) / (n1 * n0))


def figures(ctx: Any, ds: Any, regression: bool, k: int, bins: int) -> Figures:
    """The :class:`Figures` of ``ds`` (a :class:`~riskaudit.engines.spark.SparkDataset`)
    over every row; :class:`CheckerError` when they cannot be had in Spark (a model that
    cannot travel, a failed job)."""
    from pyspark.sql import functions as F

    if getattr(ctx.model, "stored_columns", None):
        raise CheckerError("stored predictions are columns of the driver sample, not a model the executors can run")
    target = str(ctx.target)
    classes = tuple(ctx.classes or ())
    fn = _regression_pass(target) if regression else _classification_pass(target, classes, k, bins)
    mapped = ds.predict_all(ctx.model, list(ctx.features), keep=[target], then=fn, schema=_schema())
    try:
        agg = (mapped.groupBy("part", "kind", "reading", "cls", "key")
               .agg(F.sum("pos").alias("pos"), F.sum("neg").alias("neg"), F.first("counts").alias("counts"),
                    F.first("sums").alias("sums")).toPandas())
    except Exception as exc:  # a failed job (the model on the executors, a label it cannot read)
        raise CheckerError(f"the Spark job failed: {_first_line(exc)}") from None
    agg = agg.sort_values(["kind", "reading", "cls", "key", "part"], kind="stable").reset_index(drop=True)
    out = _regression_figures(agg) if regression else _classification_figures(agg, k, bins)
    if out.rows == 0:
        raise CheckerError("no row has a known label and finite outputs")
    return out


def target_summary(ds: Any, target: str, classes: tuple, k: int, regression: bool) -> tuple[np.ndarray, float]:
    """(rows per known label, mean of the target) over the whole table of ``ds``, without
    the model: the baseline's figures when it is fitted on a sampled table no pass covered."""
    from pyspark.sql.types import ArrayType, DoubleType, LongType, StructField, StructType

    def count(batches):
        from riskaudit.data import labels_to_index

        labels = np.zeros(max(k, 1), np.int64)
        sums = []
        for pdf in batches:
            if regression:
                y = np.asarray(pdf[target], dtype=np.float64)
                y = y[~np.isnan(y)]
                sums.append(float(np.sum(y)))
                labels[0] += len(y)
            else:
                y = labels_to_index(pdf[target], classes)
                labels += np.bincount(y[(y >= 0) & (y < k)], minlength=k)
        yield pd.DataFrame({"part": [partition_id()], "counts": [labels.tolist()],
                            "sums": [[math.fsum(sums)]]})

    schema = StructType([StructField("part", LongType()), StructField("counts", ArrayType(LongType())),
                         StructField("sums", ArrayType(DoubleType()))])
    try:
        rows = ds.spark_frame.select(column(target)).mapInPandas(count, schema).toPandas().sort_values("part")
    except Exception as exc:
        raise CheckerError(f"the Spark job failed: {_first_line(exc)}") from None
    labels = np.sum(np.stack([np.asarray(c, np.int64) for c in rows["counts"]]), axis=0)
    if not regression:
        return labels, float("nan")
    n = int(labels[0])
    return labels, math.fsum(float(s[0]) for s in rows["sums"]) / n if n else float("nan")


# ------------------------------------------------------------------ the Python pass
def _schema():
    from pyspark.sql.types import ArrayType, DoubleType, IntegerType, LongType, StructField, StructType

    return StructType([StructField("part", LongType()), StructField("kind", IntegerType()),
                       StructField("reading", IntegerType()), StructField("cls", IntegerType()),
                       StructField("key", LongType()), StructField("pos", LongType()), StructField("neg", LongType()),
                       StructField("counts", ArrayType(LongType())), StructField("sums", ArrayType(DoubleType()))])


def _rows(part: int, kind: int, reading: int, cls: int, keys=None, pos=None, neg=None, counts=None, sums=None):
    n = 1 if keys is None else len(keys)
    return pd.DataFrame({
        "part": np.full(n, -1 if kind in (EXACT, HIST, OVERFLOW) else part, np.int64),
        "kind": np.full(n, kind, np.int32), "reading": np.full(n, reading, np.int32),
        "cls": np.full(n, cls, np.int32),
        "key": np.zeros(n, np.int64) if keys is None else np.asarray(keys, np.int64),
        "pos": np.zeros(n, np.int64) if pos is None else np.asarray(pos, np.int64),
        "neg": np.zeros(n, np.int64) if neg is None else np.asarray(neg, np.int64),
        "counts": [None if counts is None else [int(v) for v in counts]] * n,
        "sums": [None if sums is None else [float(v) for v in sums]] * n})


def _merge(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
    """One (keys ascending, positives, negatives) of several."""
    keys = np.concatenate([p[0] for p in parts])
    u, inv = np.unique(keys, return_inverse=True)
    pos = np.bincount(inv, weights=np.concatenate([p[1] for p in parts]), minlength=len(u))
    neg = np.bincount(inv, weights=np.concatenate([p[2] for p in parts]), minlength=len(u))
    return u, pos.astype(np.int64), neg.astype(np.int64)


class _Scores:
    """A partition's positives and negatives per distinct score (until more than
    :data:`EXACT_SCORES`) and per histogram bin, for one class column under one reading."""

    def __init__(self):
        empty = (np.zeros(0, np.int64),) * 3
        self.exact, self.overflow = empty, False
        self.hist, self.pending, self.waiting = empty, [], 0

    def add(self, p: np.ndarray, positive: np.ndarray) -> None:
        if not len(p):
            return
        w = positive.astype(np.float64)
        if not self.overflow:
            self.exact = _merge([self.exact, (exact_keys(p), w, 1.0 - w)])
            if len(self.exact[0]) > EXACT_SCORES:
                self.overflow, self.exact = True, (np.zeros(0, np.int64),) * 3
        h = _merge([(hist_keys(p), w, 1.0 - w)])
        self.pending.append(h)
        self.waiting += len(h[0])
        if self.waiting > _COMPACT:
            self.hist, self.pending, self.waiting = _merge([self.hist, *self.pending]), [], 0

    def rows(self, reading: int, cls: int) -> list[pd.DataFrame]:
        hist = _merge([self.hist, *self.pending])
        out = [_rows(0, HIST, reading, cls, *hist)]
        out.append(_rows(0, OVERFLOW, reading, cls) if self.overflow else _rows(0, EXACT, reading, cls, *self.exact))
        return out


def _violates_identity(stats: dict[str, np.ndarray]) -> bool:
    """Whether this batch's outputs rule out reading them as probabilities for the table
    (:func:`rule_of` over the table reads the batches' extremes)."""
    lo, hi, width, dev = (stats[c] for c in RULE_STATS)
    if not len(lo):
        return False
    if int(width.max()) == 1:
        return bool(lo.min() < 0 or hi.max() > 1)
    return bool(lo.min() < 0 or dev.max() > _TOL)


def _classification_pass(target: str, classes: tuple, k: int, bins: int):
    edges = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    auc_classes = [1] if k == 2 else list(range(k))
    eps = np.finfo(np.float64).eps

    def run(batches):
        from riskaudit.data import labels_to_index

        part = partition_id()
        labels = np.zeros(k, np.int64)
        counts = {r: np.zeros(k * k + 2 + bins, np.int64) for r in (0, 1)}  # confusion, left out, kept, bins
        # log loss, confidence and correct per bin
        sums: dict[int, list[list[float]]] = {r: [[] for _ in range(1 + 2 * bins)] for r in (0, 1)}
        scores = {(r, c): _Scores() for r in (0, 1) for c in auc_classes}
        lo, hi, width, dev = np.inf, -np.inf, 0, -np.inf
        identity_possible = True
        for pdf, raw in batches:  # each batch and its raw outputs as one N x C array (predict_all)
            n = len(pdf)
            if not n:
                continue
            raw = np.asarray(raw, dtype=np.float64).reshape(n, -1)
            y = labels_to_index(pdf[target], classes)
            known = (y >= 0) & (y < k)
            labels += np.bincount(y[known], minlength=k)
            st = rule_stats(raw)
            lo, hi = min(lo, float(st[RULE_STATS[0]].min())), max(hi, float(st[RULE_STATS[1]].max()))
            width, dev = max(width, int(st[RULE_STATS[2]].max())), max(dev, float(st[RULE_STATS[3]].max()))
            identity_possible = identity_possible and not _violates_identity(st)
            for r in ((0, 1) if identity_possible else (1,)):
                proba = to_proba_rows(raw, r == 0)
                if proba.shape[1] != k:
                    raise ValueError(f"the model gives {proba.shape[1]} scores per row for {k} classes")
                keep = known & np.isfinite(proba).all(axis=1)
                yk, pk = y[keep], proba[keep]
                pred = pk.argmax(axis=1)
                conf = pk.max(axis=1)
                correct = (pred == yk).astype(np.float64)
                ids = np.searchsorted(edges, conf)
                c = counts[r]
                c[:k * k] += M.confusion(yk, pred, k).ravel()
                c[k * k] += int((~keep).sum())
                c[k * k + 1] += len(yk)
                c[k * k + 2:] += np.bincount(ids, minlength=bins)
                s = sums[r]
                s[0].append(float(-np.sum(np.log(np.clip(pk[np.arange(len(yk)), yk], eps, 1 - eps)))))
                for b, v in enumerate(np.bincount(ids, weights=conf, minlength=bins)):
                    s[1 + b].append(float(v))
                for b, v in enumerate(np.bincount(ids, weights=correct, minlength=bins)):
                    s[1 + bins + b].append(float(v))
                for cls in auc_classes:
                    scores[(r, cls)].add(pk[:, cls], yk == cls)
        out = [_rows(part, RULE, -1, 0, sums=[lo, hi, width, dev])]
        for r in ((0, 1) if identity_possible else (1,)):
            out.append(_rows(part, TOTALS, r, 0, counts=np.concatenate([counts[r], labels]),
                             sums=[math.fsum(v) for v in sums[r]]))
            for cls in auc_classes:
                out += scores[(r, cls)].rows(r, cls)
        yield pd.concat(out, ignore_index=True)
    return run


def _chan(a: tuple[int, float, float], b: tuple[int, float, float]) -> tuple[int, float, float]:
    """Rows, mean and sum of squared deviations of two parts together (Chan et al.)."""
    na, ma, qa = a
    nb, mb, qb = b
    n = na + nb
    if not nb:
        return a
    if not na:
        return b
    d = mb - ma
    return n, ma + d * nb / n, qa + qb + d * d * na * nb / n


def _regression_pass(target: str):
    def run(batches):
        part = partition_id()
        kept = left = with_y = 0
        abs_err, sq_err, y_sum = [], [], []
        stats: tuple[int, float, float] = (0, 0.0, 0.0)
        for pdf, raw in batches:  # each batch and its raw outputs as one array (predict_all)
            if not len(pdf):
                continue
            raw = np.asarray(raw, dtype=np.float64).reshape(len(pdf), -1)
            y = np.asarray(pdf[target], dtype=np.float64)
            pred = raw.reshape(len(raw), -1)[:, 0].astype(np.float64)
            keep = np.isfinite(y) & np.isfinite(pred)
            err = pred[keep] - y[keep]
            yk = y[keep]
            kept += len(yk)
            left += int((~keep).sum())
            have = y[~np.isnan(y)]
            with_y += len(have)
            y_sum.append(float(np.sum(have)))
            abs_err.append(float(np.sum(np.abs(err))))
            sq_err.append(float(np.sum(err * err)))
            if len(yk):
                m = float(yk.mean())
                stats = _chan(stats, (len(yk), m, float(np.sum((yk - m) ** 2))))
        yield _rows(part, TOTALS, 0, 0, counts=[kept, left, with_y],
                    sums=[math.fsum(abs_err), math.fsum(sq_err), math.fsum(y_sum), stats[1], stats[2]])
    return run


# ------------------------------------------------------------------ on the driver
def _fsum(rows: pd.Series) -> np.ndarray:
    stacked = np.stack([np.asarray(v, np.float64) for v in rows])
    return np.array([math.fsum(col) for col in stacked.T])


def _regression_figures(agg: pd.DataFrame) -> Figures:
    tot = agg[agg["kind"] == TOTALS]
    counts = np.stack([np.asarray(v, np.int64) for v in tot["counts"]])
    sums = [np.asarray(v, np.float64) for v in tot["sums"]]
    kept, left, with_y = (int(v) for v in counts.sum(axis=0))
    abs_err, sq_err, y_sum = (math.fsum(s[i] for s in sums) for i in range(3))
    stats: tuple[int, float, float] = (0, 0.0, 0.0)
    for c, s in zip(counts, sums):  # in partition order
        stats = _chan(stats, (int(c[0]), float(s[3]), float(s[4])))
    point = {"mae": float("nan"), "rmse": float("nan"), "r2": float("nan")}
    if kept:
        sst = stats[2]
        r2 = (1.0 if sq_err == 0 else 0.0) if sst == 0 else 1.0 - sq_err / sst
        point = {"mae": abs_err / kept, "rmse": math.sqrt(sq_err / kept), "r2": r2}
    return Figures(point=point, rows=kept, left_out=left, target_mean=y_sum / with_y if with_y else float("nan"),
                   y_stats=stats)


def _classification_figures(agg: pd.DataFrame, k: int, bins: int) -> Figures:
    rule = np.stack([np.asarray(v, np.float64) for v in agg.loc[agg["kind"] == RULE, "sums"]])
    identity = rule_of(float(rule[:, 0].min()), float(rule[:, 1].max()), int(rule[:, 2].max()),
                       float(rule[:, 3].max()))
    r = 0 if identity else 1
    tot = agg[(agg["kind"] == TOTALS) & (agg["reading"] == r)]
    if len(tot) != int((agg["kind"] == RULE).sum()):
        raise CheckerError("a partition lacks the totals of the outputs' reading")
    counts = np.stack([np.asarray(v, np.int64) for v in tot["counts"]]).sum(axis=0)
    sums = _fsum(tot["sums"])
    cm = counts[:k * k].reshape(k, k)
    left, kept = int(counts[k * k]), int(counts[k * k + 1])
    n_bin = counts[k * k + 2:k * k + 2 + bins].astype(np.float64)
    labels = counts[k * k + 2 + bins:]
    edges = np.linspace(0.0, 1.0, bins + 1)
    keep = n_bin > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        calib = {"count": n_bin[keep], "confidence": sums[1:1 + bins][keep] / n_bin[keep],
                 "accuracy": sums[1 + bins:][keep] / n_bin[keep], "lower": edges[:-1][keep],
                 "upper": edges[1:][keep]}
    point: dict[str, float] = {}
    method, err = "", 0.0
    if kept:
        point = {"accuracy": M.accuracy(cm), "balanced_accuracy": M.balanced_accuracy(cm),
                 "macro_f1": float(M.per_class(cm)["f1"][cm.sum(axis=1) > 0].mean())}
        auc, method, err = _roc_auc(agg, r, cm)
        point.update({"roc_auc": auc, "log_loss": float(sums[0] / kept),
                      "ece": float(np.sum(calib["count"] * np.abs(calib["accuracy"] - calib["confidence"])) / kept)})
    return Figures(point=point, rows=kept, left_out=left, confusion=cm, calibration=calib, label_counts=labels,
                   auc_method=method, auc_max_error=err, extra={"identity": identity})


def _roc_auc(agg: pd.DataFrame, r: int, cm: np.ndarray) -> tuple[float, str, float]:
    """(ROC AUC, method, largest error) as :func:`M.roc_auc` defines it, from the score counts."""
    k = len(cm)
    support = cm.sum(axis=1)
    n = int(support.sum())
    mine = agg[agg["reading"] == r]
    present = [1] if k == 2 else [c for c in range(k) if 0 < support[c] < n]
    if k > 2 and len(present) < 2:
        return float("nan"), "", 0.0
    exact = all(not ((mine["kind"] == OVERFLOW) & (mine["cls"] == c)).any()
                and int(((mine["kind"] == EXACT) & (mine["cls"] == c)).sum()) <= EXACT_SCORES for c in present)
    kind = EXACT if exact else HIST
    aucs, errs = [], []
    for c in present:
        rows = mine[(mine["kind"] == kind) & (mine["cls"] == c)].sort_values("key", kind="stable")
        auc, e = mann_whitney(rows["pos"].to_numpy(), rows["neg"].to_numpy())
        aucs.append(auc)
        errs.append(0.0 if exact else e)
    method = ("exact: every distinct score's positives and negatives" if exact else
              f"histogram of every row's scores ({HIST_BITS}-bit bins of min(p, 1 - p))")
    if k == 2:
        return aucs[0], method, errs[0]
    return float(np.mean(aucs)), method, float(np.mean(errs))
