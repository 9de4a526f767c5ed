"""Datasets: loading (CSV, Parquet, JSON lines, NPZ, image folders), hashing, column roles.

Every loader reads; none writes. Input files are opened read-only and hashed with a
streamed SHA-256 into the report's ``subject``.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from riskaudit._lazy import lazy_module

from riskaudit.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_module("numpy")
    pd = lazy_module("pandas")

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
                  ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".npz": "npz"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
ARRAY_FEATURE = "x"
"""Feature name of an array dataset whose samples are images or tensors (not columns)."""


def file_kind(mode: int) -> str | None:
    """None for a regular file or folder; otherwise what the path is (for messages)."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    for test, name in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def require_regular(path: str | os.PathLike, what: str) -> None:
    """Refuse a device, FIFO or socket before anything reads it (an endless input never ends).

    ``what`` names the option, e.g. ``--data``. A missing path is left to the caller.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    kind = file_kind(mode)
    if kind is not None:
        raise InputError(f"{what}: {str(path)!r} is a {kind}, not a regular file or folder; "
                         "riskaudit reads only files and folders (a device or pipe may never end)")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20, what: str = "input") -> str:
    """Streamed SHA-256 of a regular file (constant memory); InputError for anything else.

    The file is opened non-blocking (a FIFO does not wait for a writer) and checked with
    ``fstat`` on the open descriptor, so a path swapped for a device after a check is still
    refused.
    """
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind is not None or stat.S_ISDIR(os.fstat(fd).st_mode):
            raise InputError(f"{what}: {str(path)!r} is a {kind or 'folder'}, not a regular file; "
                             "riskaudit reads only regular files (a device or pipe may never end)")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def onnx_external_files(path: Path) -> list[str]:
    """The files an ONNX model keeps its weights in (``location`` of its external-data
    tensors, relative to the model's folder), sorted; none for a self-contained model."""
    try:
        import onnx
        from onnx.external_data_helper import _get_all_tensors, uses_external_data
    except ImportError:
        raise InputError(f"{str(path)!r}: ONNX models need the onnx package to be hashed with "
                         "their external weights; install riskaudit[onnx]") from None
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise InputError(f"{str(path)!r} is not a readable ONNX model: {type(exc).__name__}") from None
    return sorted({e.value for t in _get_all_tensors(proto) if uses_external_data(t)
                   for e in t.external_data if e.key == "location"})


def model_file_sha256(path: Path, what: str = "--model") -> str:
    """The SHA-256 riskaudit records for a model file, and the gate checks: the file's own,
    or for an ONNX model with external weights, a hash over the model file and every
    weights file (``sha256_tree`` of the folder's names and hashes), so swapping a weights
    file after the audit changes it."""
    sha = sha256_file(path, what=what)
    if path.suffix.lower() != ".onnx":
        return sha
    external = onnx_external_files(path)
    if not external:
        return sha
    root = path.parent
    outside = [loc for loc in external if Path(loc).is_absolute() or ".." in Path(loc).parts]
    if outside:  # onnxruntime refuses these too
        raise InputError(f"{what}: {str(path)!r} keeps weights outside its folder ({outside[0]!r})")
    return sha256_tree(root, [path] + [root / loc for loc in external])


def sha256_tree(root: Path, files: Sequence[Path]) -> str:
    """SHA-256 over (relative path, file hash) pairs, sorted: stable for a folder."""
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.relative_to(root).as_posix().encode("utf-8") + b"\0")
        h.update(sha256_file(f).encode() + b"\n")
    return h.hexdigest()


def sha256_frame(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update("\0".join(map(str, frame.columns)).encode("utf-8"))
    nested = nested_columns(frame)
    if nested:  # lists / dicts are unhashable: hash their text form
        frame = frame.assign(**{c: frame[c].map(repr) for c in nested})
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


# Container types a cell may hold (numpy's array is added where used: reading np.ndarray here
# would import numpy when the module loads, and ``riskaudit --help`` imports this module).
_NESTED = (list, tuple, dict, set, frozenset)


def nested_columns(frame: pd.DataFrame, probe: int = 1000) -> dict[str, str]:
    """Columns holding lists, arrays, structs (dicts) or maps: {column: what they hold}.

    Checks that compare, hash or count values cannot use them; they are reported as
    unsupported and skipped. Object columns are probed on their first ``probe`` non-null
    values and a strided sample of the rest.
    """
    out = {}
    nested = (*_NESTED, np.ndarray)
    for col in frame.columns:
        s = frame[col]
        if s.dtype != object:
            continue
        vals = s.dropna()
        if vals.empty:
            continue
        step = max(1, len(vals) // probe)
        sample = pd.concat([vals.iloc[:probe], vals.iloc[::step]])
        kinds = {type(v).__name__ for v in sample.tolist() if isinstance(v, nested)}
        if kinds:
            names = {"ndarray": "list", "tuple": "list", "dict": "struct/map", "set": "set",
                     "frozenset": "set"}
            out[str(col)] = " / ".join(sorted({names.get(k, k) for k in kinds}))
    return out


@dataclass
class Dataset:
    """A loaded dataset.

    ``frame`` always exists: the table itself; for NPZ with 2-D ``x`` the columns
    ``x0..xN`` (+ ``y``); for images and higher-rank arrays one row per sample with ``y``
    or ``label`` and, for image folders, ``path``. ``array`` holds the samples of NPZ and
    image datasets (images as float32 N x C x H x W in [0, 1]).
    """

    frame: pd.DataFrame
    uri: str
    sha256: str
    kind: str = "table"
    """``table``, ``array`` (NPZ) or ``images`` (image folder)."""
    array: np.ndarray | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)
    """Files that could not be read (image folders): ``{"path", "error"}``."""
    path: Path | None = None
    default_target: str | None = None
    unsupported: dict[str, str] = field(default_factory=dict)
    """Columns whose values are nested (lists, structs, maps): ``{column: what}``. Checks
    that cannot use them skip them and data_validity reports them."""

    def __post_init__(self) -> None:
        if not self.unsupported and self.frame is not None:
            self.unsupported = nested_columns(self.frame)

    def without_unsupported(self) -> Dataset:
        """This dataset without its nested columns (the same object when it has none)."""
        if not self.unsupported:
            return self
        import dataclasses

        return dataclasses.replace(self, frame=self.frame.drop(columns=list(self.unsupported)),
                                   unsupported=dict(self.unsupported))

    @property
    def rows(self) -> int:
        return int(len(self.frame))

    @property
    def columns(self) -> int:
        return int(self.frame.shape[1])

    def describe(self) -> dict[str, Any]:
        return {"uri": self.uri, "sha256": self.sha256, "rows": self.rows,
                "columns": self.columns, "kind": self.kind}

    def has_column(self, name: str) -> bool:
        return name in self.frame.columns

    def feature_matrix(self, features: Sequence[str]) -> np.ndarray:
        """Model inputs as float32: the array for NPZ / images, the feature columns otherwise.

        Raises InputError naming the first non-numeric feature column.
        """
        if self.array is not None and (list(features) == [ARRAY_FEATURE] or self.array.ndim > 2):
            return np.asarray(self.array, dtype=np.float32)
        return frame_matrix(self.frame, features, self.uri)


def frame_matrix(frame: pd.DataFrame, features: Sequence[str], uri: str) -> np.ndarray:
    """The feature columns of ``frame`` as float32 (:meth:`Dataset.feature_matrix` of a frame;
    the Spark engine's workers call it on each Arrow batch without building a Dataset).

    Raises InputError naming the first non-numeric feature column.
    """
    sub = frame[list(features)]
    for col in sub.columns:
        if not (pd.api.types.is_numeric_dtype(sub[col]) or pd.api.types.is_bool_dtype(sub[col])):
            raise InputError(
                f"feature column {col!r} of {uri} is not numeric (dtype {sub[col].dtype}); "
                "a tensor model takes numbers. Encode it, leave it out of --features, or give "
                "a predict callable that takes a DataFrame.")
    return sub.to_numpy(dtype=np.float32, na_value=np.nan)

def labels_to_index(values: Iterable[Any], classes: Sequence[Any]) -> np.ndarray:
    """Map label values to model output indices; unknown labels become -1."""
    lookup = {str(c): i for i, c in enumerate(classes)}
    s = pd.Series(values)
    kind = s.dtype.kind
    if kind in "biuf" or isinstance(s.dtype, pd.CategoricalDtype) or \
            (kind == "O" and pd.api.types.infer_dtype(s, skipna=False) == "string"):
        # each distinct label is turned into text once, not every row (0.5 s per million);
        # only where equal values have equal text (an object column may hold 1 and 1.0)
        codes, uniques = pd.factorize(s, use_na_sentinel=False)
        table = np.array([lookup.get(str(u), -1) for u in uniques], dtype=np.int64)
        return table[codes] if len(table) else np.zeros(len(codes), dtype=np.int64)
    return s.astype(str).map(lookup).fillna(-1).to_numpy(dtype=np.int64)


def load_dataset(source: Any, role: str = "data") -> Dataset:
    """Load ``source``: a path, a DataFrame, an ``(x, y)`` pair, a numpy array or a Dataset."""
    if isinstance(source, Dataset):
        return source
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        _check_not_empty(frame, f"the in-memory {role} DataFrame")
        return Dataset(frame=frame, uri=f"<in-memory DataFrame: {role}>", sha256=sha256_frame(frame))
    if isinstance(source, np.ndarray) or (isinstance(source, tuple) and len(source) == 2):
        x, y = (source, None) if isinstance(source, np.ndarray) else source
        return _array_dataset(np.asarray(x), None if y is None else np.asarray(y),
                              uri=f"<in-memory arrays: {role}>", sha=None)
    if isinstance(source, (str, os.PathLike)):
        return _load_path(Path(source), role)
    raise InputError(f"--{role}: cannot use a {type(source).__name__} as a dataset; give a file "
                     "path, a pandas DataFrame or an (x, y) pair of numpy arrays")


def _check_not_empty(frame: pd.DataFrame, what: str) -> None:
    if frame.shape[1] == 0:
        raise InputError(f"{what} has no columns")
    if len(frame) == 0:
        raise InputError(f"{what} has no rows")


def _load_path(path: Path, role: str) -> Dataset:
    if not path.exists():
        raise InputError(f"--{role}: file {str(path)!r} does not exist")
    require_regular(path, f"--{role}")
    if path.is_dir():
        return _load_image_folder(path, role)
    fmt = TABLE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"--{role}: cannot read {str(path)!r}: unknown file type "
                         f"{path.suffix or '(none)'}; expected CSV, Parquet, JSON lines, NPZ "
                         "or a folder of images with one sub-folder per class")
    if not os.access(path, os.R_OK):
        raise InputError(f"--{role}: file {str(path)!r} is not readable")
    sha = sha256_file(path, what=f"--{role}")
    if fmt == "npz":
        return _load_npz(path, sha, role)
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, low_memory=False, **csv_dialect(path))
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_json(path, lines=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"--{role}: {str(path)!r} is empty") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"--{role}: {str(path)!r} is not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start}); save it as UTF-8 (Excel: 'CSV UTF-8') or convert it, "
                         "e.g. iconv -f cp1252 -t utf-8") from None
    except Exception as exc:  # pandas/pyarrow raise many types for malformed files
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"--{role}: cannot parse {str(path)!r} as {fmt}: {msg}") from None
    frame.columns = [str(c) for c in frame.columns]
    _check_not_empty(frame, f"--{role} file {str(path)!r}")
    return Dataset(frame=frame, uri=str(path), sha256=sha, path=path)


CSV_DELIMITERS = (",", ";", "\t", "|")
PROBE_CHARS = 1 << 16
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")
_DECIMAL_POINT = re.compile(r"-?\d+\.\d+")


def csv_dialect(path: Path, probe_lines: int = 50) -> dict[str, str]:
    """How a CSV file is written: its delimiter and decimal mark, read from its first lines.

    Spreadsheets in most of Europe export ``;`` between fields and ``,`` in numbers
    (``0,47``). The delimiter is the one of ``, ; TAB |`` that splits the header into
    the most fields and every probed line into as many (``.tsv``: a tab); the decimal
    mark is ``,`` only with another delimiter, where number-like fields hold ``d,d``
    and none holds ``d.d``. Anything unclear is read as plain CSV."""
    import csv

    default = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            chunk = fh.read(PROBE_CHARS)  # bounded: a hostile file may have no line break
    except (OSError, UnicodeDecodeError):
        return {"sep": default}  # pandas' own error names the problem
    lines = chunk.splitlines(keepends=True)
    head = lines[:probe_lines] if len(chunk) < PROBE_CHARS else lines[:-1][:probe_lines]
    if not head or path.suffix.lower() == ".tsv":
        return {"sep": default}
    best, best_fields = default, 1
    for delim in CSV_DELIMITERS:
        widths = {len(row) for row in csv.reader(head, delimiter=delim) if row}
        fields = len(next(csv.reader(head[:1], delimiter=delim), []))
        if len(widths) == 1 and fields > best_fields:
            best, best_fields = delim, fields
    if best == ",":
        return {"sep": best}
    cells = [c.strip() for row in csv.reader(head[1:], delimiter=best) for c in row]
    comma = any(_DECIMAL_COMMA.fullmatch(c) for c in cells)
    point = any(_DECIMAL_POINT.fullmatch(c) for c in cells)
    return {"sep": best, "decimal": ","} if comma and not point else {"sep": best}


def _load_npz(path: Path, sha: str, role: str) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            xkey = "x" if "x" in keys else "X" if "X" in keys else None
            if xkey is None:
                raise InputError(f"--{role}: {str(path)!r} has no array named 'x' "
                                 f"(found: {', '.join(sorted(keys)) or 'none'})")
            x = npz[xkey]
            y = npz["y"] if "y" in keys else None
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(f"--{role}: {str(path)!r} holds object arrays, which need pickle "
                         f"to load and are refused ({exc})") from None
    except Exception as exc:
        raise InputError(f"--{role}: cannot read {str(path)!r} as NPZ: {exc}") from None
    ds = _array_dataset(x, y, uri=str(path), sha=sha, role=role)
    ds.path = path
    return ds


def _array_dataset(x: np.ndarray, y: np.ndarray | None, uri: str, sha: str | None,
                   role: str = "data") -> Dataset:
    if x.ndim == 0 or len(x) == 0:
        raise InputError(f"--{role}: {uri} has no samples in 'x'")
    if y is not None and len(y) != len(x):
        raise InputError(f"--{role}: {uri} has {len(x)} samples in 'x' but {len(y)} labels in 'y'")
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim == 2:
        frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    else:
        frame = pd.DataFrame(index=range(len(x)))
    if y is not None:
        frame["y"] = y
    if sha is None:
        h = hashlib.sha256(np.ascontiguousarray(x).tobytes())
        if y is not None:
            h.update(np.ascontiguousarray(y).tobytes())
        sha = h.hexdigest()
    return Dataset(frame=frame, uri=uri, sha256=sha, kind="array", array=x,
                   default_target="y" if y is not None else None)


def _load_image_folder(root: Path, role: str) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InputError(f"--{role}: folder {str(root)!r} has no sub-folders; an image dataset "
                         "needs one sub-folder per class")
    files = [(c.name, f) for c in classes for f in sorted(c.rglob("*"))
             if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise InputError(f"--{role}: folder {str(root)!r} contains no image files")
    images, labels, paths, problems = [], [], [], []
    for label, f in files:
        try:
            with Image.open(f) as im:
                im.load()
                images.append(im.convert("L") if im.mode in ("1", "L", "I;16", "I") else im.convert("RGB"))
            labels.append(label)
            paths.append(f.relative_to(root).as_posix())
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
                SyntaxError, MemoryError) as exc:
            # Pillow's limits stay on: a decompression bomb or a truncated file is one
            # unreadable file (a data_validity finding), never the end of the scan
            problems.append({"path": f.relative_to(root).as_posix(),
                             "error": f"{type(exc).__name__}: {exc}"})
    if not images:
        raise InputError(f"--{role}: no image in {str(root)!r} could be read "
                         f"(first error: {problems[0]['error']})")
    mode = "RGB" if any(im.mode == "RGB" for im in images) else "L"
    size = Counter(im.size for im in images).most_common(1)[0][0]
    arr = np.stack([np.asarray(im.convert(mode).resize(size) if im.size != size or im.mode != mode
                               else im, dtype=np.float32) / 255.0 for im in images])
    arr = arr[:, None, :, :] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)
    frame = pd.DataFrame({"path": paths, "label": labels})
    return Dataset(frame=frame, uri=str(root), sha256=sha256_tree(root, [f for _, f in files]),
                   kind="images", array=np.ascontiguousarray(arr), problems=problems, path=root,
                   default_target="label")


def infer_task(values: pd.Series) -> str:
    """``classification`` for labels that look categorical, ``regression`` for continuous ones."""
    v = values.dropna()
    if v.empty:
        return "classification"
    if not pd.api.types.is_numeric_dtype(v) or pd.api.types.is_bool_dtype(v):
        return "classification"
    if pd.api.types.is_float_dtype(v) and not np.all(np.mod(v.to_numpy(), 1) == 0):
        return "regression"
    return "classification" if v.nunique() <= 20 else "regression"
