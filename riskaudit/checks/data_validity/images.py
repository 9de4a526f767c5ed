"""Image and tensor datasets (NPZ with N x ... arrays, image folders): content keys per
sample for duplicates and leakage, blank images, per-class counts."""

from __future__ import annotations

import hashlib

from typing import TYPE_CHECKING

from riskaudit._lazy import lazy_module
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_module("numpy")
    pd = lazy_module("pandas")


def is_image_like(ds) -> bool:
    """True when the samples are arrays (images/tensors), not table rows."""
    return ds is not None and ds.array is not None and ds.array.ndim > 2


def content_codes(*arrays: np.ndarray) -> list[np.ndarray] | None:
    """One integer per sample such that equal codes mean byte-identical samples, shared
    across ``arrays`` (None when the sample shapes differ, so no two can be equal)."""
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) != 1:
        return None
    flats = [np.ascontiguousarray(a.reshape(len(a), -1)) for a in arrays]
    width = flats[0].shape[1] * flats[0].dtype.itemsize
    dtypes = {f.dtype for f in flats}
    if len(dtypes) != 1:
        flats = [f.astype(np.float64) for f in flats]
        width = flats[0].shape[1] * 8
    keys = np.concatenate([f.view(np.dtype((np.void, width))).ravel() for f in flats])
    _, inverse = np.unique(keys, return_inverse=True)
    out, start = [], 0
    for f in flats:
        out.append(inverse[start:start + len(f)].ravel())
        start += len(f)
    return out


def sample_sha256(array: np.ndarray, index: int) -> str:
    return hashlib.sha256(np.ascontiguousarray(array[index]).tobytes()).hexdigest()


def blank(array: np.ndarray) -> np.ndarray:
    """True for constant samples (every pixel/value equal)."""
    flat = array.reshape(len(array), -1)
    return flat.max(axis=1) == flat.min(axis=1)


def thumbnails(array: np.ndarray, indices, limit: int = 4) -> list[dict]:
    """Small grayscale previews (at most 16 x 16) of the given samples for the report."""
    out = []
    for i in list(indices)[:limit]:
        img = np.asarray(array[i], dtype=np.float64)
        if img.ndim == 3:
            img = img.mean(axis=0)
        if img.ndim != 2:
            continue
        step = max(1, int(np.ceil(max(img.shape) / 16)))
        img = img[::step, ::step]
        lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
        img = (img - lo) / (hi - lo) if hi > lo else np.clip(img, 0, 1)
        out.append({"caption": f"sample {int(i)}", "pixels": np.round(img, 3).tolist()})
    return out


def per_class(frame: pd.DataFrame, target: str | None) -> dict[str, int]:
    if not target or target not in frame.columns:
        return {}
    return {str(k): int(v) for k, v in frame[target].value_counts(dropna=False).sort_index().items()}
