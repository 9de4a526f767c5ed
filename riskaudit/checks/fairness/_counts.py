"""Vectorized group counts for the fairness checker.

Classification: every row falls in one of 12 *cell types* — predicted positive or not (2) x
true label unknown / negative / positive (3) x prediction correct or not (2). Every metric
fairlearn computes for a group (selection rate, accuracy, TPR, FPR, FNR, precision) is a
ratio of sums of cell-type counts, so one ``np.bincount`` over ``group_code * 12 + type``
gives every group's figures at once. The joint table over all sensitive attributes is
counted once; single attributes and pair intersections are its margins.

The bootstrap resamples rows with replacement. A resample's counts depend only on how many
rows of each (joint group, cell type) it drew, which is one multinomial draw over the
non-empty cells: ``rng.multinomial(n, cell_counts / n, size=B)``. That is the exact
nonparametric bootstrap at a cost independent of the number of rows.

Regression: per group the count, sum of predictions, of absolute and of squared errors; the
bootstrap uses Poisson(1) row weights, chunked over rows (weights matrix times the per-row
group indicator values).
"""

from __future__ import annotations

import numpy as np

N_TYPES = 12
# type = pred_pos * 6 + true_state * 2 + correct; true_state 0 unknown, 1 negative, 2 positive
_T = np.arange(N_TYPES)
_PP = _T // 6
_TS = (_T // 2) % 3
_C = _T % 2

CLASSIFICATION_METRICS = ("selection_rate", "accuracy", "true_positive_rate",
                          "false_positive_rate", "false_negative_rate", "precision")
REGRESSION_METRICS = ("mean_prediction", "mean_absolute_error", "root_mean_squared_error")


def cell_types(pred_pos: np.ndarray, true_state: np.ndarray, correct: np.ndarray) -> np.ndarray:
    return (pred_pos.astype(np.int64) * 6 + true_state.astype(np.int64) * 2
            + correct.astype(np.int64))


def joint_table(codes: list[np.ndarray], sizes: list[int], types: np.ndarray) -> np.ndarray:
    """Counts of shape (*sizes, 12) in one bincount."""
    joint = np.zeros(len(types), dtype=np.int64)
    for c, s in zip(codes, sizes):
        joint *= s
        joint += c
    flat = np.bincount(joint * N_TYPES + types, minlength=int(np.prod(sizes)) * N_TYPES)
    return flat.reshape(*sizes, N_TYPES)


def margin(table: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Counts of the attributes in ``axes`` (kept, in that order), shape (G, 12) flattened
    over the kept attributes; works on bootstrap stacks (B, *sizes, 12) when shifted."""
    n_attr = table.ndim - 1
    drop = tuple(a for a in range(n_attr) if a not in axes)
    out = table.sum(axis=drop) if drop else table
    return out.reshape(-1, N_TYPES)


def margin_boot(tables: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """:func:`margin` of a bootstrap stack (B, *sizes, 12) -> (B, G, 12)."""
    n_attr = tables.ndim - 2
    drop = tuple(a + 1 for a in range(n_attr) if a not in axes)
    out = tables.sum(axis=drop) if drop else tables
    return out.reshape(len(tables), -1, N_TYPES)


def _div(num, den):
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def classification_metrics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics from type counts (..., 12). Label metrics use rows with a known label."""
    c = counts.astype(np.float64)
    n = c.sum(-1)
    sel = c[..., _PP == 1].sum(-1)
    lab = c[..., _TS != 0].sum(-1)
    correct = c[..., (_TS != 0) & (_C == 1)].sum(-1)
    tp = c[..., (_PP == 1) & (_TS == 2)].sum(-1)
    fp = c[..., (_PP == 1) & (_TS == 1)].sum(-1)
    fn = c[..., (_PP == 0) & (_TS == 2)].sum(-1)
    tn = c[..., (_PP == 0) & (_TS == 1)].sum(-1)
    return {
        "count": n,
        "labelled": lab,
        "selection_rate": _div(sel, n),
        "accuracy": _div(correct, lab),
        "true_positive_rate": _div(tp, tp + fn),
        "false_positive_rate": _div(fp, fp + tn),
        "false_negative_rate": _div(fn, tp + fn),
        "precision": _div(tp, tp + fp),
    }


def bootstrap_tables(table: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """B resampled joint tables (B, *table.shape) by one multinomial draw over cells."""
    flat = table.reshape(-1)
    nz = np.flatnonzero(flat)
    n = int(flat.sum())
    out = np.zeros((n_boot, flat.size), dtype=np.int64)
    if n == 0 or n_boot == 0:
        return out.reshape(n_boot, *table.shape)
    p = flat[nz] / n
    out[:, nz] = rng.multinomial(n, p / p.sum(), size=n_boot)
    return out.reshape(n_boot, *table.shape)


def regression_sums(codes: np.ndarray, size: int, pred: np.ndarray, err: np.ndarray,
                    labelled: np.ndarray) -> np.ndarray:
    """Per group: count, labelled count, sum pred, sum |err|, sum err^2 -> (G, 5)."""
    e = np.where(labelled, err, 0.0)
    cols = [np.ones_like(pred), labelled.astype(np.float64), pred, np.abs(e), e * e]
    return np.stack([np.bincount(codes, weights=w, minlength=size) for w in cols], axis=1)


def regression_metrics(sums: np.ndarray) -> dict[str, np.ndarray]:
    s = np.asarray(sums, dtype=np.float64)
    return {
        "count": s[..., 0],
        "labelled": s[..., 1],
        "mean_prediction": _div(s[..., 2], s[..., 0]),
        "mean_absolute_error": _div(s[..., 3], s[..., 1]),
        "root_mean_squared_error": np.sqrt(_div(s[..., 4], s[..., 1])),
    }


def regression_bootstrap(codes: np.ndarray, size: int, pred: np.ndarray, err: np.ndarray,
                         labelled: np.ndarray, n_boot: int, rng: np.random.Generator,
                         chunk: int = 20000) -> np.ndarray:
    """(B, G, 5) sums under Poisson(1) row weights: weights (B x rows) @ per-row values."""
    n = len(pred)
    out = np.zeros((n_boot, size, 5))
    if n_boot == 0 or n == 0:
        return out
    e = np.where(labelled, err, 0.0)
    vals = np.stack([np.ones_like(pred), labelled.astype(np.float64), pred, np.abs(e), e * e], 1)
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        w = rng.poisson(1.0, size=(n_boot, sl.stop - sl.start)).astype(np.float64)
        onehot = np.zeros((sl.stop - sl.start, size))
        onehot[np.arange(sl.stop - sl.start), codes[sl]] = 1.0
        # (B x r) @ (r x G*5)
        x = (onehot[:, :, None] * vals[sl][:, None, :]).reshape(sl.stop - sl.start, -1)
        out += (w @ x).reshape(n_boot, size, 5)
    return out
