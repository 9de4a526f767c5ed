"""The perturbation space: where an attack may move an input, and how far.

Attacks run in a *scaled* space: images as they are (epsilon in the input's scale),
tables standardized by the reference mean and standard deviation (epsilon in standard
deviations, so one epsilon means the same for income and for age). :meth:`Space.realize`
turns whatever an attack returns into an input a real user could submit: the perturbation
is projected back into the epsilon ball, values stay inside the valid range (images) or the
reference min/max (tables), integer features are rounded to integers inside the ball, and
frozen features (categorical, one-hot, immutable) are copied bit for bit from the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from riskaudit._lazy import lazy_module

from riskaudit.checks.base import CheckSkipped

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_module("numpy")
    pd = lazy_module("pandas")


class _Table(NamedTuple):
    """The per-feature statistics a table's space has (an image space has none)."""

    shift: np.ndarray
    scale: np.ndarray
    mutable: np.ndarray
    integer: np.ndarray
    raw_lo: np.ndarray
    raw_hi: np.ndarray


@dataclass
class Space:
    images: bool
    x_raw: np.ndarray
    """Original inputs in the model's scale (float64 for tables, float32 for images)."""
    x_scaled: np.ndarray
    """Original inputs in the attack's scale (float32)."""
    finite_rows: np.ndarray
    lo: Any
    hi: Any
    """Valid range in the attack's scale (scalars for images, per-feature arrays for tables)."""
    shift: np.ndarray | None = None
    scale: np.ndarray | None = None
    mutable: np.ndarray | None = None
    integer: np.ndarray | None = None
    raw_lo: np.ndarray | None = None
    raw_hi: np.ndarray | None = None
    names: tuple[str, ...] = ()
    frozen_names: tuple[str, ...] = ()
    integer_names: tuple[str, ...] = ()
    image_range: tuple[float, float] = (0.0, 1.0)
    frame_columns: dict[str, Any] = field(default_factory=dict)
    rows: np.ndarray | None = None
    """Evaluation row numbers of ``x_raw`` when it holds a seeded sample (None: every row)."""
    evaluation_total: int = 0
    """Evaluation rows in the dataset (``len(x_raw)`` unless sampled)."""
    reference_sample: tuple[int, int] | None = None
    """(rows used, rows in the reference) when the feature statistics come from a sample."""

    def table(self) -> _Table:
        """The per-feature statistics of a table's space (ValueError on an image space)."""
        if self.shift is None or self.scale is None or self.mutable is None or self.integer is None \
                or self.raw_lo is None or self.raw_hi is None:
            raise ValueError("an image space has no per-feature statistics")
        return _Table(self.shift, self.scale, self.mutable, self.integer, self.raw_lo, self.raw_hi)

    def row_number(self, i: int) -> int:
        """The evaluation data's row number of position ``i`` of ``x_raw``."""
        return int(self.rows[i]) if self.rows is not None else int(i)

    @property
    def eps_unit(self) -> str:
        return "input scale" if self.images else "reference standard deviations"

    def eps_label(self, eps: float) -> str:
        if self.images:
            span = self.image_range[1] - self.image_range[0]
            k = eps / span * 255
            if abs(k - round(k)) < 1e-6 and round(k) > 0:
                return f"{int(round(k))}/255" if span == 1 else f"{int(round(k))}"
        return f"{eps:g}"

    @property
    def mask(self) -> np.ndarray | None:
        """ART's mask: 1 where the attack may perturb (tables), None for images."""
        return None if self.images else self.table().mutable.astype(np.float32)

    def to_scaled(self, x: np.ndarray) -> np.ndarray:
        if self.images:
            return np.asarray(x, dtype=np.float32)
        t = self.table()
        return ((np.asarray(x, dtype=np.float64) - t.shift) / t.scale).astype(np.float32)

    def realize(self, z_adv: np.ndarray, rows: np.ndarray, eps: float, norm) -> np.ndarray:
        """The realistic adversarial inputs (model scale) for ``z_adv`` of original ``rows``."""
        z0 = self.x_scaled[rows].astype(np.float64)
        d = np.asarray(z_adv, dtype=np.float64).reshape(z0.shape) - z0
        t = None if self.images else self.table()
        if t is not None:
            d[:, ~t.mutable] = 0.0
        if norm == np.inf:
            d = np.clip(d, -eps, eps)
        else:
            flat = d.reshape(len(d), -1)
            n = np.linalg.norm(flat, axis=1)
            factor = np.where(n > eps, eps / np.maximum(n, 1e-30), 1.0)
            d = (flat * factor[:, None]).reshape(d.shape)
        if t is None:
            return np.clip(z0 + d, np.minimum(self.lo, z0), np.maximum(self.hi, z0)).astype(np.float32)
        x0 = self.x_raw[rows]
        # in float64 from the exact originals: an unperturbed feature keeps its value
        x = np.clip(x0 + d * t.scale, np.minimum(t.raw_lo, x0), np.maximum(t.raw_hi, x0))
        if t.integer.any():
            k = t.integer
            rad = eps * t.scale[k]
            lo_i = np.maximum(np.ceil(x0[:, k] - rad - 1e-9), np.ceil(np.minimum(t.raw_lo[k], x0[:, k])))
            hi_i = np.minimum(np.floor(x0[:, k] + rad + 1e-9), np.floor(np.maximum(t.raw_hi[k], x0[:, k])))
            r = np.clip(np.round(x[:, k]), lo_i, hi_i)
            integral = np.mod(x0[:, k], 1) == 0
            x[:, k] = np.where(integral & (lo_i <= hi_i), r, x0[:, k])
        x[:, ~t.mutable] = x0[:, ~t.mutable]  # bit-for-bit originals
        return x

    def norms(self, x_adv: np.ndarray, rows: np.ndarray, norm) -> np.ndarray:
        """Perturbation size of realized inputs, in the epsilon's unit."""
        d = (self.to_scaled(x_adv).astype(np.float64) - self.x_scaled[rows]).reshape(len(rows), -1)
        if not self.images:
            d = (np.asarray(x_adv, dtype=np.float64) - self.x_raw[rows]) / self.table().scale
        return np.abs(d).max(axis=1) if norm == np.inf else np.linalg.norm(d, axis=1)


def sample_rows(rng: np.random.Generator, n: int, limit: int) -> np.ndarray | None:
    """Sorted seeded sample of ``limit`` of ``n`` row numbers; None when every row is used."""
    if not limit or n <= limit:
        return None
    return np.sort(rng.choice(n, size=int(limit), replace=False))


def build_space(ctx, *, immutable, categorical, rows: np.ndarray | None = None,
                reference_rows: int = 0) -> Space:
    """The perturbation space of the evaluation rows ``rows`` (None: all of them).

    The feature statistics (mean, standard deviation, valid range, binary and integer
    features) need only a sample: with ``reference_rows`` > 0 they come from a seeded sample
    of at most that many reference rows (``Space.reference_sample`` says how many).
    """
    ds = ctx.data
    feats = list(ctx.features)
    if ds.array is not None and ds.array.ndim > 2 and feats == ["x"]:
        total = len(ds.array)
        x = np.asarray(ds.array if rows is None else ds.array[rows], dtype=np.float32)
        finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        vals = x[finite]
        vmin = float(vals.min()) if vals.size else 0.0
        vmax = float(vals.max()) if vals.size else 1.0
        if vmin >= 0 and vmax <= 1:
            lo, hi = 0.0, 1.0
        elif vmin >= 0 and vmax <= 255:
            lo, hi = 0.0, 255.0
        else:
            lo, hi = vmin, vmax if vmax > vmin else vmin + 1.0
        return Space(images=True, x_raw=x, x_scaled=x, finite_rows=finite, lo=lo, hi=hi,
                     image_range=(lo, hi), rows=rows, evaluation_total=total)
    total = len(ds.frame)
    frame = ds.frame[feats] if rows is None else ds.frame.iloc[rows][feats]
    non_numeric = [c for c in feats if not (pd.api.types.is_numeric_dtype(frame[c])
                                            or pd.api.types.is_bool_dtype(frame[c]))]
    if non_numeric:
        raise CheckSkipped(f"feature {non_numeric[0]!r} is not numeric; the attacks perturb numeric model "
                           "inputs only (encode categorical columns before the model).")
    x = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    # feature scales from held-out reference data, else the training data, else the data itself
    ref_ds = next((d for d in (ctx.reference, ctx.train)
                   if d is not None and all(d.has_column(c) for c in feats)), ds)
    ref_rows = sample_rows(ctx.rng("space"), len(ref_ds.frame), reference_rows)
    rframe = ref_ds.frame[feats] if ref_rows is None else ref_ds.frame.iloc[ref_rows][feats]
    reference_sample = None if ref_rows is None else (len(ref_rows), len(ref_ds.frame))
    if any(not (pd.api.types.is_numeric_dtype(rframe[c]) or pd.api.types.is_bool_dtype(rframe[c])) for c in feats):
        ref_ds, rframe, reference_sample = ds, frame, None
    r = rframe.to_numpy(dtype=np.float64, na_value=np.nan)
    r = r[np.isfinite(r).all(axis=1)]
    if len(r) == 0:
        r = x[np.isfinite(x).all(axis=1)]
    if len(r) == 0:
        raise CheckSkipped("no evaluation or reference row has finite values in every feature.")
    shift = r.mean(axis=0)
    std = r.std(axis=0)
    constant = ~(std > 0)
    scale = np.where(constant, 1.0, std)
    raw_lo, raw_hi = r.min(axis=0), r.max(axis=0)
    frozen_names = set(categorical) & set(feats)
    imm = [c for c in (*ctx.sensitive, *ctx.ids)] if immutable is None else list(immutable)
    frozen_names |= set(imm) & set(feats)
    for j, c in enumerate(feats):
        col = rframe[c]
        if pd.api.types.is_bool_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype) \
                or pd.Series(r[:, j]).nunique() <= 2 or constant[j]:
            frozen_names.add(c)
    mutable = np.array([c not in frozen_names for c in feats])
    integer = np.array([mutable[j] and bool(np.all(np.mod(r[:, j], 1) == 0)) for j in range(len(feats))])
    x_scaled = ((x - shift) / scale).astype(np.float32)
    finite = np.isfinite(x).all(axis=1)
    z_lo = ((raw_lo - shift) / scale).astype(np.float32)
    z_hi = ((raw_hi - shift) / scale).astype(np.float32)
    if finite.any():  # the attack may keep an original that lies outside the reference range
        z_lo = np.minimum(z_lo, x_scaled[finite].min(axis=0))
        z_hi = np.maximum(z_hi, x_scaled[finite].max(axis=0))
    z_hi = np.where(z_hi > z_lo, z_hi, z_lo + 1.0).astype(np.float32)
    return Space(images=False, x_raw=x, x_scaled=x_scaled, finite_rows=finite, lo=z_lo, hi=z_hi,
                 shift=shift, scale=scale, mutable=mutable, integer=integer, raw_lo=raw_lo, raw_hi=raw_hi,
                 rows=rows, evaluation_total=total, reference_sample=reference_sample,
                 names=tuple(feats), frozen_names=tuple(c for c in feats if c in frozen_names),
                 integer_names=tuple(c for j, c in enumerate(feats) if integer[j]),
                 frame_columns={c: frame[c].dtype for c in feats})
