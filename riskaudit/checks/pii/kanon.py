"""k-anonymity and l-diversity over quasi-identifiers."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from riskaudit.checks.pii.columns import qi_meaning

SUPPRESSED = "*"
"""Marker of a suppressed quasi-identifier value; a record whose quasi-identifiers are all
suppressed cannot be singled out through them and counts as anonymous."""


def suggest_quasi_identifiers(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> dict[str, str]:
    """Columns whose names mark them as quasi-identifiers (postcode, birth date or age, sex...)
    and whose cardinality lets them single people out (more than one value, not all unique
    free text). Returns ``{column: kind}``."""
    out = {}
    n = len(frame)
    for col in frame.columns:
        if col in exclude:
            continue
        kind = qi_meaning(col)
        if kind is None:
            continue
        nun = frame[col].nunique(dropna=True)
        if nun <= 1:
            continue
        if kind in ("sex", "category") and n and nun > max(50, 0.5 * n):
            continue  # a free-text column named like a category
        out[str(col)] = kind
    return out


CONTINUOUS_BINS = 10
"""Equal-frequency bins a continuous quasi-identifier is generalized to."""
_MAX_EXACT = 120
"""More distinct whole numbers than this (ages in years, 0 to 120) is a measurement."""


def generalize_continuous(frame: pd.DataFrame, qis: Sequence[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """The quasi-identifier columns as k-anonymity compares them, and how each was used.

    A continuous numeric column (fractions, such as a standardized age, or more than 120
    distinct whole numbers) singles out nearly every record by its exact value, which is
    not how anyone looks a person up: it is generalized to :data:`CONTINUOUS_BINS`
    equal-frequency bins (someone who knows the value can still place a record in its
    bin). Other columns are used as they are."""
    out = frame
    how: dict[str, str] = {}
    for q in qis:
        s = frame[q]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            vals = s.dropna().to_numpy(dtype=float)
            fractional = bool(len(vals)) and not np.all(np.mod(vals, 1) == 0)
            if (fractional or len(np.unique(vals)) > _MAX_EXACT) and len(np.unique(vals)) > CONTINUOUS_BINS:
                if out is frame:
                    out = frame.copy(deep=False)
                out[q] = quantile_bins(s)
                how[str(q)] = f"in {CONTINUOUS_BINS} equal-frequency bins"
                continue
        how[str(q)] = "exact values"
    return out, how


def quantile_bins(series: pd.Series, bins: int = CONTINUOUS_BINS) -> pd.Series:
    """Each value's equal-frequency bin, labelled by the range of the values in it ("-0.0127
    to 0.0054"); missing values stay missing. Bins are cut on the values' ranks, so that
    infinite or huge values (attacker-controlled data) bin like any other."""
    v = pd.to_numeric(series, errors="coerce").astype(float)
    idx = pd.qcut(v.rank(method="min"), bins, labels=False, duplicates="drop")
    lo, hi = v.groupby(idx).transform("min"), v.groupby(idx).transform("max")
    labels = [f"{a:.3g} to {b:.3g}" if a == a else None for a, b in zip(lo.tolist(), hi.tolist())]
    return pd.Series(labels, index=series.index, dtype=object).where(v.notna(), None)


def equivalence_classes(frame: pd.DataFrame, qis: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Class id of every row and the size of every class."""
    if not len(frame):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    keys = frame[list(qis)].astype("string").fillna("<NA>")
    ids = keys.groupby(list(qis), sort=False, dropna=False).ngroup().to_numpy()
    return ids, np.bincount(ids)


def k_anonymity(frame: pd.DataFrame, qis: Sequence[str], k: int = 5,
                sensitive: str | None = None) -> dict[str, Any]:
    """The smallest class, the records and classes below ``k`` and, with a sensitive column,
    the smallest number of distinct sensitive values in a class (l-diversity)."""
    ids, sizes = equivalence_classes(frame, qis)
    n = len(frame)
    row_sizes = sizes[ids] if n else np.zeros(0, dtype=np.int64)
    below = row_sizes < k
    if n:
        suppressed = (frame[list(qis)].astype("string") == SUPPRESSED).all(axis=1).to_numpy(dtype=bool)
        below &= ~suppressed
        if suppressed.any():
            keep = ~suppressed
            sizes = np.bincount(ids[keep]) if keep.any() else np.zeros(0, dtype=np.int64)
            sizes = sizes[sizes > 0]
    out: dict[str, Any] = {
        "quasi_identifiers": list(qis),
        "k": int(k),
        "rows": int(n),
        "classes": int(len(sizes)),
        "smallest_class": int(sizes.min()) if len(sizes) else 0,
        "records_below_k": int(below.sum()),
        "share_below_k": float(below.mean()) if n else 0.0,
        "classes_below_k": int((sizes < k).sum()),
        "unique_records": int(((row_sizes == 1) & below).sum()),
    }
    if sensitive is not None and sensitive in frame.columns and n:
        s = frame[sensitive].astype("string").fillna("<NA>")
        distinct = pd.Series(s.to_numpy()).groupby(ids).nunique()
        out["l_diversity"] = {"column": str(sensitive), "l": int(distinct.min()),
                              "classes_with_l_1": int((distinct == 1).sum())}
    return out


def class_size_histogram(frame: pd.DataFrame, qis: Sequence[str], k: int) -> Mapping[str, Any]:
    """A bar chart spec: how many records sit in classes of size 1, 2, ..., k-1, >= k."""
    ids, sizes = equivalence_classes(frame, qis)
    row_sizes = sizes[ids] if len(ids) else np.zeros(0, dtype=np.int64)
    labels = [str(i) for i in range(1, k)] + [f">={k}"]
    values = [float((row_sizes == i).sum()) for i in range(1, k)] + [float((row_sizes >= k).sum())]
    return {"type": "bar", "title": "Records by equivalence-class size", "labels": labels,
            "values": values, "y_label": "records"}
