"""Columns of one dominant type with a few stray values: "unknown" in a column of numbers.

A CSV column of 1,009 numbers and 8 ``unknown`` strings is read by pandas as text: every
value is then "of the wrong type", ranges cannot be checked and no row matches the same row
of a clean reference. :func:`coerce_frame` finds such columns (most non-missing values are
numbers or numeric text) and returns a copy with the column coerced to numbers, the stray
values turned into missing values, plus which cells were stray so that a checker can report
exactly those (``data_validity.type_mismatch``). Checks that compare values (ranges,
duplicates, leakage, drift) then work on the coerced column.

Parsing is done with ``pd.to_numeric(errors="coerce")`` on the distinct values only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from riskaudit._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # imported on first use: the drift checker imports this module when checkers are listed
    np = lazy_module("numpy")
    pd = lazy_module("pandas")

DOMINANT_SHARE = 0.5
"""A text column is numeric when more than this share of its non-missing values parse as numbers."""


@dataclass(frozen=True)
class Stray:
    """The cells of one column that are not of the column's dominant type."""

    column: str
    dominant: str
    """``numeric``: the type the column was coerced to."""
    mask: np.ndarray = field(repr=False)
    """True for each stray cell (row position)."""
    examples: tuple = ()
    """Up to 5 distinct stray values, as found (to be masked before showing)."""

    @property
    def count(self) -> int:
        return int(self.mask.sum())


def _numeric_share(series: pd.Series) -> tuple[float, pd.Series, np.ndarray, pd.Series]:
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    uniq = pd.Series(np.asarray(uniques, dtype=object))
    is_bool = uniq.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
    as_text = uniq.map(lambda v: v.strip() if isinstance(v, str) else v)
    parsed = pd.to_numeric(as_text, errors="coerce").astype("float64")
    parsed[is_bool] = np.nan
    ok = parsed.notna().to_numpy()
    present = codes >= 0
    if not present.any():
        return 0.0, parsed, codes, uniq
    share = float(np.bincount(codes[present], minlength=len(uniq))[ok].sum()) / int(present.sum())
    return share, parsed, codes, uniq


SCREEN = 1000
"""Up to 2 x SCREEN values are parsed first; a column is parsed in full only when most of
the non-missing ones are numbers."""


def _mostly_numeric_sample(series: pd.Series) -> bool:
    if len(series) > 2 * SCREEN:  # fixed positions (a local generator): no aliasing with strides
        pos = np.sort(np.random.default_rng(len(series)).choice(len(series), 2 * SCREEN, replace=False))
        series = series.iloc[pos]
    values = series.dropna()
    if values.empty:
        return False
    values = values.map(lambda v: np.nan if isinstance(v, (bool, np.bool_)) else (v.strip() if isinstance(v, str) else v))
    return float(pd.to_numeric(values, errors="coerce").notna().mean()) > DOMINANT_SHARE * 0.8


def coerce_frame(frame: pd.DataFrame, skip: Iterable[str] = ()) -> tuple[pd.DataFrame, dict[str, Stray]]:
    """``frame`` with its mostly-numeric text/object columns coerced to float64, and the stray
    cells of each coerced column. The frame itself is returned unchanged (not copied) when no
    column needs coercion; ``skip`` names columns left alone (ids, the label)."""
    skip = set(skip)
    coerced: dict[str, pd.Series] = {}
    strays: dict[str, Stray] = {}
    for col in frame.columns:
        if col in skip:
            continue
        s = frame[col]
        if s.dtype != object and not pd.api.types.is_string_dtype(s):
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            continue
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred in ("empty", "boolean", "datetime", "date", "bytes"):
            continue
        if not _mostly_numeric_sample(s):
            continue  # cheap screen: a text column is not factorized and parsed in full
        share, parsed, codes, uniq = _numeric_share(s)
        if share <= DOMINANT_SHARE:
            continue
        values = np.where(codes >= 0, parsed.to_numpy()[np.maximum(codes, 0)] if len(parsed) else np.nan,
                          np.nan)
        bad_unique = parsed.isna().to_numpy()
        mask = (codes >= 0) & bad_unique[np.maximum(codes, 0)] if len(parsed) else np.zeros(len(s), bool)
        coerced[col] = pd.Series(values.astype("float64"), index=s.index, name=col)
        if mask.any():
            examples = tuple(uniq[bad_unique].head(5).tolist())
            strays[col] = Stray(str(col), "numeric", mask, examples)
    if not coerced:
        return frame, {}
    out = frame.copy(deep=False)
    for col, values in coerced.items():
        out[col] = values
    return out, strays
