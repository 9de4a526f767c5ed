"""Model-quality metrics in numpy, fast enough to run inside a bootstrap.

Each function matches its scikit-learn counterpart (the tests use scikit-learn as the
oracle): ``accuracy_score``, ``balanced_accuracy_score``,
``precision_recall_fscore_support(zero_division=0)``, ``roc_auc_score`` (binary, and
one-vs-rest macro over the classes present), ``log_loss``, ``mean_absolute_error``,
``root_mean_squared_error`` and ``r2_score``. scikit-learn validates its inputs on every
call (about a millisecond each); a bootstrap calls these thousands of times.

Expected calibration error follows Guo et al. (2017): the top-label confidence binned into
``bins`` equal-width bins (scikit-learn's ``calibration_curve`` binning), the
sample-weighted mean of |accuracy - confidence| over the bins.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """k x k confusion matrix (rows: true class, columns: predicted class)."""
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class (0 where undefined, like zero_division=0)."""
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def accuracy(cm: np.ndarray) -> float:
    return float(np.trace(cm) / cm.sum())


def balanced_accuracy(cm: np.ndarray) -> float:
    """Mean recall over the classes present in the true labels."""
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def average_ranks(score: np.ndarray) -> np.ndarray:
    """``scipy.stats.rankdata(score)`` (ties get the mean of their ranks; all NaN when a score
    is NaN) with NumPy alone: the performance checker needs nothing else of scipy.stats,
    whose import costs about 0.5 s of a cold process (tests/checks/test_performance.py keeps
    rankdata as the oracle). Ranks are whole or half numbers: exact in float64."""
    score = np.asarray(score, dtype=np.float64)
    if np.isnan(score).any():
        return np.full(len(score), np.nan)
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2.0)[inverse.ravel()]


def _auc(pos: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney U statistic (ties count one half)."""
    n1 = int(pos.sum())
    n0 = len(pos) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = average_ranks(score)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Binary: AUC of the second class's score. Multiclass: macro mean of one-vs-rest AUCs
    over the classes present (NaN with fewer than two classes present)."""
    k = proba.shape[1]
    if k == 2:
        return _auc(y == 1, proba[:, 1])
    present = [c for c in range(k) if 0 < (y == c).sum() < len(y)]
    if len(present) < 2:
        return float("nan")
    return float(np.mean([_auc(y == c, proba[:, c]) for c in present]))


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    eps = np.finfo(np.float64).eps
    p = np.clip(proba[np.arange(len(y)), y], eps, 1 - eps)
    return float(-np.mean(np.log(p)))


def calibration_bins(y: np.ndarray, proba: np.ndarray, bins: int) -> dict[str, np.ndarray]:
    """Per bin of top-label confidence: count, mean confidence, accuracy (empty bins dropped)."""
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(np.float64)
    return _bins(np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], conf), conf, correct, bins)


def _bins(ids: np.ndarray, conf: np.ndarray, correct: np.ndarray, bins: int) -> dict[str, np.ndarray]:
    """:func:`calibration_bins` from each row's bin, confidence and correctness."""
    count = np.bincount(ids, minlength=bins).astype(np.float64)
    conf_sum = np.bincount(ids, weights=conf, minlength=bins)
    acc_sum = np.bincount(ids, weights=correct, minlength=bins)
    return _bins_of_sums(count, conf_sum, acc_sum, bins)


def _bins_of_sums(count: np.ndarray, conf_sum: np.ndarray, acc_sum: np.ndarray, bins: int) -> dict[str, np.ndarray]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    keep = count > 0
    return {"count": count[keep], "confidence": conf_sum[keep] / count[keep],
            "accuracy": acc_sum[keep] / count[keep], "lower": edges[:-1][keep], "upper": edges[1:][keep]}


def ece(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    return _ece(calibration_bins(y, proba, bins), len(y))


def _ece(b: dict[str, np.ndarray], n: int) -> float:
    return float(np.sum(b["count"] * np.abs(b["accuracy"] - b["confidence"])) / n)


def classification(y: np.ndarray, proba: np.ndarray, bins: int = 10, scores: bool = True) -> dict[str, float]:
    """Scalar classification metrics of label indices ``y`` and class probabilities."""
    k = proba.shape[1]
    cm = confusion(y, proba.argmax(axis=1), k)
    out = {"accuracy": accuracy(cm), "balanced_accuracy": balanced_accuracy(cm),
           "macro_f1": float(per_class(cm)["f1"][cm.sum(axis=1) > 0].mean())}
    if scores:
        out.update({"roc_auc": roc_auc(y, proba), "log_loss": log_loss(y, proba),
                    "ece": ece(y, proba, bins)})
    return out


def regression(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    err = pred - y
    sse = float(np.sum(err ** 2))
    sst = float(np.sum((y - y.mean()) ** 2))
    r2 = (1.0 if sse == 0 else 0.0) if sst == 0 else 1.0 - sse / sst
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))), "r2": r2}


def bootstrap(fn: Callable[[np.ndarray], dict[str, float]], n: int, resamples: int,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``fn(indices)`` on ``resamples`` resamples of ``range(n)`` drawn with replacement."""
    draws: dict[str, list[float]] = {}
    for _ in range(resamples):
        for name, value in fn(rng.integers(0, n, n)).items():
            draws.setdefault(name, []).append(value)
    return {name: np.asarray(v, dtype=np.float64) for name, v in draws.items()}


class TieGroups:
    """The scores of every class column sorted once, as groups of equal values, so that the
    AUC of any resample of the rows is computed without sorting again (:func:`classification_draws`)."""

    def __init__(self, proba: np.ndarray):
        self.groups = [np.unique(proba[:, c], return_inverse=True)[1].ravel() for c in range(proba.shape[1])]
        self.sizes = [int(g.max()) + 1 if len(g) else 0 for g in self.groups]

    def auc(self, column: int, rows: np.ndarray, pos: np.ndarray) -> float:
        """The Mann-Whitney AUC of ``proba[rows, column]`` for the positives ``pos`` (of the
        resample): per group of equal scores, positives times (negatives in lower groups +
        half the negatives of its own group). The same exact sums as :func:`_auc`'s ranks."""
        n1 = int(pos.sum())
        n0 = len(pos) - n1
        if n1 == 0 or n0 == 0:
            return float("nan")
        g = self.groups[column][rows]
        p_g = np.bincount(g[pos], minlength=self.sizes[column]).astype(np.float64)
        n_g = np.bincount(g[~pos], minlength=self.sizes[column]).astype(np.float64)
        below = np.cumsum(n_g) - n_g
        return float(np.sum(p_g * (below + 0.5 * n_g)) / (n1 * n0))

    def auc_weighted(self, column: int, weights: np.ndarray, pos: np.ndarray) -> float:
        """:meth:`auc` of a resample given as each row's multiplicity ``weights`` (float,
        whole numbers) and the rows' positives ``pos``: the same per-group counts (sums of
        whole numbers are exact in float64), hence the same figure, from sequential passes
        instead of gathers of the resampled rows."""
        wp = weights * pos
        n1 = int(wp.sum())
        n0 = int(weights.sum()) - n1
        if n1 == 0 or n0 == 0:
            return float("nan")
        p_g = np.bincount(self.groups[column], weights=wp, minlength=self.sizes[column])
        n_g = np.bincount(self.groups[column], weights=weights - wp, minlength=self.sizes[column])
        below = np.cumsum(n_g) - n_g
        return float(np.sum(p_g * (below + 0.5 * n_g)) / (n1 * n0))


def classification_draws(y: np.ndarray, proba: np.ndarray, bins: int, scores: bool, resamples: int,
                         rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``bootstrap(lambda i: classification(y[i], proba[i], bins, scores), len(y), resamples,
    rng)``, the same draws and figures, with each resample's ROC AUC from :class:`TieGroups`
    instead of a sort of the resample (at 50,000 rows the sorts were half the bootstrap), its
    calibration bins from each row's bin found once, and each resample taken as the rows'
    multiplicities (sequential weighted counts instead of gathers of the resampled rows).
    Scores with NaN take the sorting path (their AUC is NaN)."""
    if not scores or not np.isfinite(proba).all():
        return bootstrap(lambda i: classification(y[i], proba[i], bins, scores), len(y), resamples, rng)
    ties = TieGroups(proba)
    k = proba.shape[1]
    # each row's predicted class, calibration bin, confidence, correctness and log-loss term,
    # once (a resample picks rows: the same values, summed in the same order, as
    # classification() on the resample's rows, without gathering their scores)
    pred = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    correct = (pred == y).astype(np.float64)
    ids = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], conf)
    eps = np.finfo(np.float64).eps
    log_p = np.log(np.clip(proba[np.arange(len(y)), y], eps, 1 - eps))
    n = len(y)
    cells = y * k + pred
    positives = [y == c for c in range(k)]

    def one(i: np.ndarray) -> dict[str, float]:
        # the resample as each row's multiplicity: every count below is a sum of whole
        # numbers (exact), so accuracy, F1, AUC and the bins' counts equal classification()
        # on the resample's rows to the bit; the log loss and the bins' confidence sums add
        # the same terms in another order (within 1e-12, relative)
        w = np.bincount(i, minlength=n).astype(np.float64)
        cm = np.bincount(cells, weights=w, minlength=k * k).reshape(k, k)
        out = {"accuracy": accuracy(cm), "balanced_accuracy": balanced_accuracy(cm),
               "macro_f1": float(per_class(cm)["f1"][cm.sum(axis=1) > 0].mean())}
        if k == 2:
            auc = ties.auc_weighted(1, w, positives[1])
        else:
            per = cm.sum(axis=1)
            present = [c for c in range(k) if 0 < per[c] < n]
            auc = (float(np.mean([ties.auc_weighted(c, w, positives[c]) for c in present]))
                   if len(present) >= 2 else float("nan"))
        sums = (np.bincount(ids, weights=w, minlength=bins), np.bincount(ids, weights=w * conf, minlength=bins),
                np.bincount(ids, weights=w * correct, minlength=bins))
        out.update({"roc_auc": auc, "log_loss": float(-(w @ log_p) / n),
                    "ece": _ece(_bins_of_sums(*sums, bins), n)})
        return out

    return bootstrap(one, len(y), resamples, rng)


def interval(values: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """Percentile interval of bootstrap draws (NaN draws ignored); None without draws."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return None
    a = (1 - confidence) / 2
    lo, hi = np.quantile(v, [a, 1 - a])
    return float(lo), float(hi)
