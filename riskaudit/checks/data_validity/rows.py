"""Row-level checks great-expectations does not have: duplicates, leakage, conflicting and
inconsistent labels, rare classes, empty samples, outliers, representation.

Rows are hashed column by column with ``pd.util.hash_pandas_object`` (text is factorized
first and only its distinct values are normalized and hashed), and the per-column 64-bit
hashes are combined with numpy: no Python object is built per row.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Sequence

import numpy as np
import pandas as pd

from riskaudit.masking import safe_example

MAX_ROWS = 20
"""Example row indices kept in a finding's evidence."""
_MULT = np.uint64(0x100000001B3)
_NULL_HASH = np.uint64(0x9E3779B97F4A7C15)


def normalize_text(values: pd.Series) -> pd.Series:
    """Whitespace runs collapsed to one space, trimmed, case-folded (for leakage matching).

    Called on the distinct values of a column only."""
    return pd.Series([" ".join(t.split()).casefold() for t in values.astype(str)], index=values.index,
                     dtype=object)


def normalize_label(value: Any) -> str:
    """Unicode NFKC, case folding and whitespace trimming: 'NORMAL ' -> 'normal'."""
    return " ".join(unicodedata.normalize("NFKC", str(value)).casefold().split())


def _numeric_hash(values: np.ndarray) -> np.ndarray:
    v = pd.Series(values.astype("float64", copy=False))
    v = v.where(v != 0, 0.0)  # -0.0 == 0.0
    out = pd.util.hash_pandas_object(v, index=False).to_numpy()
    return np.where(v.isna().to_numpy(), _NULL_HASH, out)


def _unique_hashes(objs: pd.Series, texts: pd.Series) -> np.ndarray:
    """Hashes of distinct values (``texts``: their text, normalized or not); numbers stored
    among text hash like the same number in a numeric column, so a mixed column still
    matches its numeric counterpart."""
    hashed = pd.util.hash_pandas_object(texts, index=False, categorize=False).to_numpy()
    if pd.api.types.infer_dtype(objs, skipna=True) not in ("string", "empty"):
        is_num = objs.map(lambda v: isinstance(v, (int, float, np.number))
                          and not isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
        if is_num.any():
            hashed[is_num] = _numeric_hash(objs[is_num].to_numpy(dtype="float64"))
    return hashed


class FrameHasher:
    """uint64 hashes per value of one DataFrame's columns, each computed once per scan.

    Text columns are factorized once; raw and normalized hashes, the blank-text mask and
    the distinct values are computed on the distinct values and gathered back by code.
    """

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._fact: dict[str, tuple[np.ndarray, pd.Series]] = {}
        self._text: dict[tuple[str, bool], pd.Series] = {}
        self._hash: dict[tuple[str, bool], np.ndarray] = {}

    def is_numeric(self, col: str) -> bool:
        s = self.frame[col]
        return pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s)

    def factorized(self, col: str) -> tuple[np.ndarray, pd.Series]:
        """Codes (-1 for missing) and distinct non-missing values of a column.

        A mostly-unique text column (over half of a strided sample of 10,000 values
        distinct) is not factorized: every non-missing value is its own code, so the work
        per distinct value is done once per row without building a hash table first. Its
        'distinct' count is then the number of non-missing values (still a text column).
        """
        if col not in self._fact:
            series = self.frame[col]
            n = len(series)
            sample = series.iloc[:: max(1, n // 10_000)] if n > 20_000 else None
            if sample is not None and sample.nunique(dropna=True) > 0.5 * max(int(sample.notna().sum()), 1):
                missing = series.isna().to_numpy()
                codes = np.full(n, -1, dtype=np.int64)
                codes[~missing] = np.arange(int((~missing).sum()))
                values = series[~missing] if missing.any() else series
                self._fact[col] = (codes, pd.Series(values.to_numpy(dtype=object)))
            else:
                codes, uniques = pd.factorize(series, use_na_sentinel=True)
                self._fact[col] = (codes, pd.Series(np.asarray(uniques, dtype=object)))
        return self._fact[col]

    def _texts(self, col: str, normalize: bool) -> pd.Series:
        key = (col, normalize)
        if key not in self._text:
            _, objs = self.factorized(col)
            plain = objs if pd.api.types.infer_dtype(objs, skipna=True) == "string" else objs.astype(str)
            self._text[key] = normalize_text(plain) if normalize else plain
        return self._text[key]

    def column(self, col: str, normalize: bool = False) -> np.ndarray:
        numeric = self.is_numeric(col)
        key = (col, normalize and not numeric)
        if key not in self._hash:
            if numeric:
                self._hash[key] = _numeric_hash(self.frame[col].to_numpy(dtype="float64", na_value=np.nan))
            else:
                codes, objs = self.factorized(col)
                per_unique = (_unique_hashes(objs, self._texts(col, normalize)) if len(objs)
                              else np.zeros(0, np.uint64))
                self._hash[key] = _gather(codes, per_unique, _NULL_HASH)
        return self._hash[key]

    def rows(self, columns: Sequence[str], normalize: bool = False) -> np.ndarray:
        """One uint64 per row over ``columns`` (order matters)."""
        h = np.zeros(len(self.frame), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for col in columns:
                h = (h * _MULT) ^ self.column(col, normalize)
        return h

    def missing(self, col: str) -> np.ndarray:
        if self.is_numeric(col):
            return self.frame[col].isna().to_numpy()
        return self.factorized(col)[0] < 0

    def blank_text(self, col: str) -> np.ndarray:
        """True where a non-missing value is an empty or whitespace-only string."""
        codes, objs = self.factorized(col)
        if len(objs) == 0:
            return np.zeros(len(codes), dtype=bool)
        blank = (self._texts(col, True) == "").to_numpy()
        if pd.api.types.infer_dtype(objs, skipna=True) != "string":
            blank &= (objs.map(type) == str).to_numpy()  # noqa: E721  (elementwise: values of exact type str)
        return _gather(codes, blank, False)


def _gather(codes: np.ndarray, per_unique: np.ndarray, missing) -> np.ndarray:
    if len(per_unique) == 0:
        return np.full(len(codes), missing, dtype=np.asarray(missing).dtype if not isinstance(missing, bool) else bool)
    return np.where(codes >= 0, per_unique[np.maximum(codes, 0)], missing)


def first_rows(mask: np.ndarray, limit: int = MAX_ROWS) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)[:limit]]


def duplicates(h: np.ndarray) -> np.ndarray:
    """True for every row that repeats an earlier row (the first copy is not counted)."""
    return pd.Series(h).duplicated(keep="first").to_numpy()


def leaked(h_cur: np.ndarray, h_ref: np.ndarray) -> np.ndarray:
    """True for evaluation rows whose hash occurs in the reference."""
    return pd.Series(h_cur).isin(pd.Series(h_ref).unique()).to_numpy()


def conflicts(h: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Rows whose identical feature rows carry more than one label, and how many groups."""
    frame = pd.DataFrame({"h": h, "y": labels})
    nunique = frame.groupby("h", sort=False)["y"].transform("nunique").to_numpy()
    mask = nunique > 1
    return mask, int(pd.Series(h[mask]).nunique())


def _combine(columns: Sequence[np.ndarray]) -> np.ndarray:
    h = np.zeros(len(columns[0]) if columns else 0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in columns:
            h = (h * _MULT) ^ c
    return h


def _shuffled(columns: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    return _combine([c[rng.permutation(len(c))] for c in columns])


def chance_share(kind: str, columns: Sequence[np.ndarray], rng: np.random.Generator, *,
                 reference: Sequence[np.ndarray] | None = None, labels: np.ndarray | None = None,
                 shuffles: int = 3) -> float:
    """Share of rows that would be duplicates / leaked / conflicting by chance alone.

    Each column's values (per-column hashes) are shuffled independently, which keeps every
    column's distribution and breaks the rows apart: what is left is what the feature
    space itself produces. Few distinct values per column for many rows (people described by
    sex, year and a yes/no) give many identical rows by chance; one continuous column gives
    none. The mean over ``shuffles`` seeded shuffles."""
    if not columns or len(columns[0]) == 0:
        return 0.0
    shares = []
    for _ in range(shuffles):
        h = _shuffled(columns, rng)
        if kind == "duplicate_rows":
            mask = duplicates(h)
        elif kind == "train_test_leakage":
            assert reference is not None  # the leakage share is asked for with the reference columns
            mask = leaked(h, _shuffled(reference, rng))
        else:
            assert labels is not None  # the conflict share is asked for with the labels
            mask = conflicts(h, labels[rng.permutation(len(labels))])[0]
        shares.append(float(mask.mean()))
    return float(np.mean(shares))


def label_codes(series: pd.Series) -> tuple[np.ndarray, dict[Any, str]]:
    """Codes of the normalized labels (-1 for missing) and the raw -> normalized map."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    norm = [normalize_label(u) for u in uniques]  # distinct labels only
    norm_codes, _ = pd.factorize(pd.Series(norm, dtype=object))
    mapped = np.where(codes >= 0, np.asarray(norm_codes, dtype=np.int64)[np.maximum(codes, 0)]
                      if len(norm_codes) else -1, -1)
    return mapped, dict(zip(uniques, norm))


def label_variants(datasets: dict[str, pd.Series]) -> list[dict[str, Any]]:
    """Groups of label spellings that normalize to the same label.

    Each group: normalized label, the canonical spelling (most frequent over all datasets),
    per-spelling counts per dataset, and the number of rows carrying another spelling.
    """
    counts: dict[Any, dict[str, int]] = {}
    for name, series in datasets.items():
        for value, n in series.value_counts(dropna=True).items():
            counts.setdefault(value, {})[name] = int(n)
    groups: dict[str, list[Any]] = {}
    for value in counts:
        groups.setdefault(normalize_label(value), []).append(value)
    out = []
    for norm, values in groups.items():
        if len(values) < 2:
            continue
        total = {v: sum(counts[v].values()) for v in values}
        canonical = max(values, key=lambda v: (total[v], str(v) == norm, str(v)))
        others = [v for v in values if v != canonical]
        out.append({"label": norm, "canonical": canonical, "values": values, "counts": counts,
                    "rows": sum(total[v] for v in others), "total": sum(total.values())})
    return sorted(out, key=lambda g: str(g["label"]))


def class_counts(series: pd.Series) -> pd.Series:
    """Row counts per normalized label, indexed by the most frequent spelling."""
    vc = series.value_counts(dropna=True)
    if vc.empty:
        return vc
    norm = pd.Series([normalize_label(v) for v in vc.index], index=vc.index)
    spelled = vc.groupby(norm.to_numpy()).apply(lambda s: s.idxmax())
    summed = vc.groupby(norm.to_numpy()).sum()
    return pd.Series(summed.to_numpy(), index=[str(spelled[k]) for k in summed.index])


def outlier_mask(values: np.ndarray, basis: np.ndarray, method: str, robust_z: float,
                 iqr_k: float) -> tuple[np.ndarray, dict[str, Any]] | None:
    """Outliers of ``values`` judged on the spread of ``basis`` (the reference when given).

    ``robust_z``: |0.6745 (x - median) / MAD| above the limit; falls back to the IQR rule when
    the MAD is 0. ``iqr``: outside [Q1 - k IQR, Q3 + k IQR]. None when the basis is constant.
    """
    basis = basis[np.isfinite(basis)]
    if len(basis) < 3:
        return None
    finite = np.isfinite(values)
    if method == "robust_z":
        med = float(np.median(basis))
        mad = float(np.median(np.abs(basis - med)))
        if mad > 0:
            z = np.zeros(len(values))
            z[finite] = 0.6745 * (values[finite] - med) / mad
            lo, hi = med - robust_z * mad / 0.6745, med + robust_z * mad / 0.6745
            return np.abs(z) > robust_z, {"method": "robust z-score", "limit": robust_z,
                                           "median": med, "mad": mad, "low": lo, "high": hi}
    q1, q3 = (float(q) for q in np.percentile(basis, [25, 75]))
    iqr = q3 - q1
    if iqr <= 0:
        return None
    lo, hi = q1 - iqr_k * iqr, q3 + iqr_k * iqr
    mask = finite & ((values < lo) | (values > hi))
    return mask, {"method": "IQR", "k": iqr_k, "q1": q1, "q3": q3, "low": lo, "high": hi}


def examples(series: pd.Series, mask: np.ndarray, column: str, pii: Any, limit: int = 5) -> list:
    """Up to ``limit`` distinct example values where ``mask`` holds, masked when PII."""
    picked = series[mask].drop_duplicates().head(limit).tolist()
    return [None if isinstance(v, float) and np.isnan(v) else safe_example(v, column, pii)
            for v in picked]


def representation(ref: pd.Series, cur: pd.Series) -> list[dict[str, Any]]:
    """Share of each group in the reference and in the evaluation data."""
    rc = ref.astype(object).where(ref.notna(), "(missing)").astype(str).value_counts()
    cc = cur.astype(object).where(cur.notna(), "(missing)").astype(str).value_counts()
    groups = sorted(set(rc.index) | set(cc.index), key=lambda g: (-int(rc.get(g, 0)), g))
    nr, nc = max(int(rc.sum()), 1), max(int(cc.sum()), 1)
    return [{"group": g, "reference_count": int(rc.get(g, 0)), "current_count": int(cc.get(g, 0)),
             "reference_share": round(int(rc.get(g, 0)) / nr, 4),
             "current_share": round(int(cc.get(g, 0)) / nc, 4)} for g in groups]
