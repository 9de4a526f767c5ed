"""Per-row parts of the fairness checker shared by its pandas path and its Spark path
(:mod:`riskaudit.checks.fairness.spark`, which runs them inside ``mapInPandas``): a
sensitive column's group codes, the predicted class of each row and its cell type."""

from __future__ import annotations

from typing import TYPE_CHECKING

from riskaudit import fmt
from riskaudit._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import riskaudit.checks.fairness._counts as C
else:
    np = lazy_module("numpy")
    pd = lazy_module("pandas")
    C = lazy_module("riskaudit.checks.fairness._counts")

MISSING = "(missing)"
BIN_NUMERIC_ABOVE = 20  # numeric sensitive columns with more distinct values are binned


def decide(proba: np.ndarray, pos: int, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(predicted positive, predicted class) per row: the most probable class, or with a
    threshold the positive class when its score reaches it (else the most probable other)."""
    if threshold is not None:
        pred_pos = proba[:, pos] >= threshold
        others = proba.copy()
        others[:, pos] = -np.inf
        return pred_pos, np.where(pred_pos, pos, others.argmax(1))
    y_pred = proba.argmax(1)
    return y_pred == pos, y_pred


def row_types(pred_pos: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, pos: int) -> np.ndarray:
    """Each row's cell type (:func:`._counts.cell_types`)."""
    true_state = np.where(y_true < 0, 0, np.where(y_true == pos, 2, 1))
    correct = (y_true >= 0) & (y_pred == y_true)
    return C.cell_types(pred_pos, true_state, correct)


def missing_note(n_missing: int) -> str:
    """The note on a sensitive attribute's rows without a value (both engines)."""
    forms = "forms its" if n_missing == 1 else "form their"
    return f"{fmt.count(n_missing, 'rows')} without a value {forms} own group {MISSING!r}"


def _group_codes(series: pd.Series) -> tuple[np.ndarray, list[str], str | None]:
    """Integer codes, group names (sorted, as text), and a note of what was done."""
    note = []
    s = series
    raw_codes, uniques = pd.factorize(s, sort=False)  # len(uniques): nunique(dropna=True)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) \
            and len(uniques) > BIN_NUMERIC_ABOVE:
        s = pd.qcut(s, 5, duplicates="drop").astype(str).where(s.notna())
        note.append("numeric with many values, binned into quintiles")
        raw_codes, uniques = pd.factorize(s, sort=False)
    texts = [str(u) for u in uniques]
    n_missing = int((raw_codes < 0).sum())
    if n_missing:
        texts.append(MISSING)
        raw_codes = np.where(raw_codes < 0, len(texts) - 1, raw_codes)
        note.append(missing_note(n_missing))
    names = sorted(set(texts))  # values equal as text (1 and "1") are one group
    lookup = np.array([names.index(t) for t in texts], dtype=np.int64)
    codes = lookup[raw_codes] if len(texts) else np.zeros(len(s), dtype=np.int64)
    return codes, names, "; ".join(note) or None
