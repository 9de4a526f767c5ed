"""One model interface for every checker: load safely, predict in batches, time each batch.

Supported: TorchScript (``.pt``/``.pth``), ``torch.export`` archives (``.pt2``), ONNX
(through onnxruntime, the ``onnx`` extra), ``package.module:attr`` naming an
``nn.Module``, a factory of one or a predict callable, and the same objects in memory.

Never unpickles a model file without ``trust=True`` (``--trust-model``): a pickle can run
arbitrary code when loaded. ``.pt2`` archives hold pickles (weights, constants, example
inputs), so they need ``trust=True`` too and are refused before torch opens them. State dicts load only
with ``torch.load(weights_only=True)``
into the architecture an entry point names.

The model's train/eval mode is left as it was saved unless ``eval_mode=True``: the
consistency checker must see a model that was saved in train mode.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import os
import re
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from riskaudit._lazy import lazy_module

from riskaudit._scope import torch_rng, torch_threads
from riskaudit.data import model_file_sha256, require_regular, sha256_file
from riskaudit.errors import InputError, ModelLoadError

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".sav", ".dill"}
_ENTRY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

PICKLE_REFUSED = (
    "{path} is a pickled Python object ({what}). Loading a pickle runs whatever code its "
    "author put in it, so riskaudit refuses it. Export the model with torch.jit.save, "
    "torch.export or ONNX, or name its class with --model package.module:Factory and its "
    "weights with --weights; pass --trust-model only if you trust the file's origin.")


PT2_REFUSED = (
    "{path} is a torch.export archive (.pt2). torch.export.load unpickles the weights, constants "
    "and example inputs stored in it, and a pickle runs whatever code its author put in it, so "
    "riskaudit refuses it. Pass --trust-model only if you trust the file's origin, or save the "
    "model as TorchScript (torch.jit.save) or ONNX.")


def resolve_device(device: str) -> str:
    import torch

    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise InputError(f"--device must be auto, cpu or cuda, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: no CUDA device is available on this machine")
    return device


BATCH_BYTES = 8 * 2**20
"""Input bytes per inference batch when no batch size is given. Measured on 2 shared,
loaded cores (noisy, best of 2): a 16-32-32-2 MLP predicted 2.3 M rows/s in batches of 256
rows and 9.2 M rows/s in batches of 65,536; a 100-256-256-10 MLP 20 k rows/s at 256, 112 k
at 16,384 (6 MiB of input) and 74 k at 65,536 (25 MiB): larger batches pay until a few MiB
of input, then activations outgrow the caches. A fixed 256 also costs 3,907 Python round
trips per million rows."""
MIN_BATCH, MAX_BATCH = 16, 16384

ONE_THREAD_VALUES = 2**16
"""Batches of fewer input values (rows x inputs per row) than this run a torch module on
one CPU thread. Measured on 2 cores with a load average of 5-6 (other jobs running): the
bench's TorchScript MLP through batches of 1 to 5,000 rows took 1.2-2.7 s with torch's
two threads, each parallel operation waiting for a thread the machine had descheduled,
and 0.06-0.08 s on one thread; a small batch has too little work to share out anyway.
Larger batches use the thread count :meth:`Model.forward` measured for the model."""


def _values_per_row(x: Any) -> int:
    shape = getattr(x, "shape", None)
    return int(np.prod(shape[1:])) if shape is not None and len(shape) > 1 else 1



def auto_batch_size(x: Any) -> int:
    """Rows per inference batch that fit the inputs: :data:`BATCH_BYTES` of float32 input,
    between :data:`MIN_BATCH` and :data:`MAX_BATCH` rows (16,384 rows of 20 features;
    2,674 images of 28 x 28; 16 images of 3 x 224 x 224)."""
    n = len(x)
    if n == 0:
        return 1
    rows = BATCH_BYTES // max(4 * _values_per_row(x), 1)
    return int(min(max(rows, MIN_BATCH), MAX_BATCH, n))


@dataclass
class Model:
    """A loaded model with batched prediction.

    ``module`` is the ``torch.nn.Module`` (TorchScript included) when there is one, for
    white-box use; ``predict_fn`` is set for callables and ONNX sessions.
    """

    uri: str
    format: str
    sha256: str | None = None
    module: Any = None
    predict_fn: Callable[[Any], Any] | None = None
    device: str = "cpu"
    accepts_frame: bool = False
    """True when the predict callable is given a DataFrame of the features (non-numeric)."""
    latencies: list[tuple[int, float]] = field(default_factory=list)
    """(batch size, seconds) of every batch predicted so far by the running checker."""
    errors: int = 0
    """Batches that raised (running checker)."""
    nonfinite: int = 0
    """Outputs that were NaN or infinite (running checker)."""
    input_width: int | None = None
    """Number of inputs per sample the model declares (ONNX signature), when it declares one."""
    _big_batch_threads: int | None = field(default=None, init=False, repr=False, compare=False)
    """Torch CPU threads measured fastest for large batches (``_threads_for``; 0: unchanged)."""

    def reset_counters(self) -> None:
        """Start ``latencies``, ``errors`` and ``nonfinite`` afresh (the scan does it before
        each checker: one checker's deliberate probes are not another's model errors)."""
        self.latencies = []
        self.errors = 0
        self.nonfinite = 0

    def describe(self) -> dict[str, Any]:
        out = {"uri": self.uri, "format": self.format}
        if self.sha256:
            out["sha256"] = self.sha256
        return out

    def forward(self, x: Any, *, batch_size: int | None = None, seed: int | None = 0,
                record: bool = True) -> np.ndarray:
        """Raw outputs for ``x`` (numpy array, or DataFrame for frame callables), batched.

        ``batch_size`` None: :func:`auto_batch_size` of the inputs (a checker that measures
        something per batch size passes its own).

        With ``seed`` set, torch's random state is forked and seeded for this call, so a
        stochastic model (Dropout left active) still gives the same outputs for the same
        call; the global state is restored afterwards. ``seed=None`` leaves it unseeded.
        """
        n = len(x)
        if n == 0:
            return np.zeros((0,), dtype=np.float32)
        batch_size = max(1, int(batch_size if batch_size is not None else auto_batch_size(x)))
        outs = []
        threads = self._threads_for(x, batch_size)
        with self._rng_scope(seed), (torch_threads(threads) if threads else contextlib.nullcontext()):
            for start in range(0, n, batch_size):
                chunk = x[start:start + batch_size] if not hasattr(x, "iloc") else x.iloc[start:start + batch_size]
                t0 = time.perf_counter()
                try:
                    out = self._forward_batch(chunk)
                except Exception:
                    self.errors += 1
                    raise
                finally:
                    if record:
                        self.latencies.append((len(chunk), time.perf_counter() - t0))
                self.nonfinite += int(np.size(out) - np.isfinite(out).sum()) if np.issubdtype(out.dtype, np.floating) else 0
                outs.append(out)
        return np.concatenate(outs, axis=0)

    def predict_proba(self, x: Any, **kw) -> np.ndarray:
        """Class probabilities (N x C): softmax of logits, or [1-p, p] for one output."""
        return to_proba(self.forward(x, **kw))

    def predict_values(self, x: Any, **kw) -> np.ndarray:
        """Flattened outputs (regression)."""
        out = self.forward(x, **kw)
        return out.reshape(len(out), -1)[:, 0] if out.ndim > 1 else out

    def _forward_batch(self, chunk: Any) -> np.ndarray:
        if self.module is not None:
            import torch

            with torch.no_grad():
                t = torch.as_tensor(np.ascontiguousarray(chunk, dtype=np.float32), device=self.device)
                out = self.module(t)
                if isinstance(out, (tuple, list)):
                    out = out[0]
                return out.detach().float().cpu().numpy()
        if self.predict_fn is None:
            raise InputError(f"model {self.uri} has neither a torch module nor a predict function")
        out = self.predict_fn(chunk)
        if hasattr(out, "detach"):
            out = out.detach().cpu().numpy()
        out = np.asarray(out)
        if out.dtype == object:
            raise InputError(f"model {self.uri} returned non-numeric outputs")
        return out.astype(np.float32, copy=False) if np.issubdtype(out.dtype, np.floating) else out

    def _threads_for(self, x: Any, batch_size: int) -> int | None:
        """Torch CPU threads for batches of ``batch_size`` rows of ``x`` (None: unchanged).

        Batches of fewer than :data:`ONE_THREAD_VALUES` input values: one thread. Larger
        ones: measured once per model, on the first forward of at least 4 such batches: one
        batch timed on one thread and on torch's thread count (best of 2 each, after a
        warm-up call; torch's random state forked, so a stochastic model's outputs do not
        move), the faster kept. Measured on 2 cores at load 6-9: the bench MLP took 0.13-0.16 s
        per million rows on one thread, 0.5-4 s on two (threads waiting on each other)."""
        if self.module is None or self.device != "cpu":
            return None
        rows = min(batch_size, len(x))
        if rows * _values_per_row(x) < ONE_THREAD_VALUES:
            return 1
        if self._big_batch_threads is None:
            import torch

            most = torch.get_num_threads()
            if most <= 1 or len(x) < 4 * rows:
                return None
            chunk = x[:rows] if not hasattr(x, "iloc") else x.iloc[:rows]
            best: dict[int, float] = {}
            try:
                with torch_rng(None, self.device):
                    self._forward_batch(chunk)  # warm-up (TorchScript profiles its first calls)
                    for n_threads in (1, most, 1, most):
                        with torch_threads(n_threads):
                            t0 = time.perf_counter()
                            self._forward_batch(chunk)
                            best[n_threads] = min(best.get(n_threads, math.inf), time.perf_counter() - t0)
            except Exception:  # the model fails on this input: forward() itself reports it
                return None
            self._big_batch_threads = min(best, key=lambda k: (best[k], k))
        return self._big_batch_threads or None

    def _rng_scope(self, seed: int | None) -> contextlib.AbstractContextManager[None]:
        if self.module is None or seed is None:
            return contextlib.nullcontext()
        return torch_rng(seed, self.device)


def to_proba(raw: np.ndarray) -> np.ndarray:
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1 or (raw.ndim == 2 and raw.shape[1] == 1):
        r = raw.reshape(-1)
        p = r if (np.nanmin(r) >= 0 and np.nanmax(r) <= 1) else 1.0 / (1.0 + np.exp(-r))
        return np.stack([1 - p, p], axis=1)
    raw = raw.reshape(len(raw), -1)
    if np.nanmin(raw) >= 0 and np.allclose(raw.sum(axis=1), 1.0, atol=1e-4):
        return raw
    z = raw - raw.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def load_model(spec: Any, *, trust: bool = False, device: str = "auto", weights: str | None = None,
               eval_mode: bool = False, search_paths: Sequence[str | os.PathLike] = ()) -> Model:
    """Load ``spec`` (path, entry point, module or callable) into a :class:`Model`."""
    dev = resolve_device(device)
    if isinstance(spec, Model):
        return spec
    import torch

    if isinstance(spec, torch.nn.Module):
        return _from_module(spec, uri=f"<in-memory {type(spec).__name__}>", fmt="module",
                            sha=None, device=dev, eval_mode=eval_mode, weights=weights)
    if callable(spec) and not isinstance(spec, (str, os.PathLike)):
        return _from_object(spec, uri=f"<in-memory {getattr(spec, '__name__', type(spec).__name__)}>",
                            device=dev, eval_mode=eval_mode, weights=weights)
    if not isinstance(spec, (str, os.PathLike)):
        raise InputError(f"--model: cannot use a {type(spec).__name__} as a model")
    text = str(spec)
    path = Path(text)
    if not path.exists() and _ENTRY_RE.match(text):
        obj = _import_entry_point(text, search_paths)
        return _from_object(obj, uri=text, device=dev, eval_mode=eval_mode, weights=weights,
                            fmt="entrypoint")
    if not path.exists():
        raise InputError(f"--model: file {text!r} does not exist (and it is not a "
                         "package.module:attr entry point)")
    require_regular(path, "--model")
    if path.is_dir():
        raise InputError(f"--model: {text!r} is a folder; give the model file")
    suffix = path.suffix.lower()
    sha = model_file_sha256(path)
    if suffix in PICKLE_SUFFIXES:
        if not trust:
            raise ModelLoadError(PICKLE_REFUSED.format(path=text, what=f"a {suffix} file"))
        return _load_trusted_pickle(path, sha, dev, eval_mode)
    if suffix == ".onnx":
        return _load_onnx(path, sha)
    if suffix == ".pt2":
        if not trust:  # refused before torch opens the archive at all
            raise ModelLoadError(PT2_REFUSED.format(path=text))
        try:
            ep = torch.export.load(str(path))
        except Exception as exc:
            raise ModelLoadError(f"--model: cannot load {text!r} as a torch.export archive: "
                                 f"{_first_line(exc)}") from None
        return _from_module(ep.module(), uri=text, fmt="torch.export", sha=sha, device=dev,
                            eval_mode=eval_mode, weights=None)
    if suffix in (".pt", ".pth", ".ts", ".torchscript", ".bin"):
        return _load_torch_file(path, sha, dev, trust, eval_mode)
    raise InputError(f"--model: unknown model file type {suffix or '(none)'} for {text!r}; "
                     "expected .pt/.pth (TorchScript), .pt2 (torch.export), .onnx or an entry point")


def _first_line(exc: BaseException) -> str:
    s = str(exc).strip()
    return s.splitlines()[0] if s else type(exc).__name__


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.split("/", 1)[-1].startswith("code/") for n in zf.namelist())


def _load_torch_file(path: Path, sha: str, dev: str, trust: bool, eval_mode: bool) -> Model:
    import torch

    if _is_torchscript(path):
        try:
            module = torch.jit.load(str(path), map_location=dev)
        except Exception as exc:
            raise ModelLoadError(f"--model: cannot load TorchScript file {str(path)!r}: "
                                 f"{_first_line(exc)}") from None
        return _from_module(module, uri=str(path), fmt="torchscript", sha=sha, device=dev,
                            eval_mode=eval_mode, weights=None)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types; which one decides the message below
        if not _pickles_objects(path, exc):
            raise ModelLoadError(
                f"--model: cannot read {str(path)!r} as a PyTorch file (TorchScript, torch.export, or a "
                f"state dict for --weights); it may be damaged or of another format: "
                f"{type(exc).__name__}: {_first_line(exc)}") from None
        if not trust:
            raise ModelLoadError(PICKLE_REFUSED.format(
                path=str(path), what=f"torch.save of a whole object; safe loading said: {_first_line(exc)}")) from None
        obj = torch.load(str(path), map_location="cpu", weights_only=False)
        return _from_object(obj, uri=str(path), device=dev, eval_mode=eval_mode, weights=None,
                            fmt="pickle", sha=sha)
    raise ModelLoadError(
        f"--model: {str(path)!r} holds weights only (a state dict of {len(obj) if hasattr(obj, '__len__') else '?'} "
        "entries), not a model. Name the architecture with --model package.module:Factory and "
        "pass this file with --weights.")


def _pickles_objects(path: Path, exc: BaseException) -> bool:
    """Whether safe loading refused ``path`` because it pickles Python objects (a whole model
    saved with torch.save), rather than because it is damaged or not a PyTorch file at all."""
    import pickle

    if "Unsupported global" in str(exc):  # torch's weights-only unpickler met a class reference
        return True
    with open(path, "rb") as fh:
        head = fh.read(1)
    return isinstance(exc, pickle.UnpicklingError) and head == b"\x80"  # a pickle's PROTO opcode


def _load_trusted_pickle(path: Path, sha: str, dev: str, eval_mode: bool) -> Model:
    import pickle

    try:
        if path.suffix.lower() == ".joblib":
            import joblib

            obj = joblib.load(path)
        else:
            with open(path, "rb") as fh:
                obj = pickle.load(fh)  # only with --trust-model  # noqa: S301
    except Exception as exc:
        raise ModelLoadError(f"--model: cannot unpickle {str(path)!r}: {_first_line(exc)}") from None
    return _from_object(obj, uri=str(path), device=dev, eval_mode=eval_mode, weights=None,
                        fmt="pickle", sha=sha)


def _load_onnx(path: Path, sha: str) -> Model:
    try:
        import onnxruntime as ort
    except ImportError:
        raise InputError("--model: ONNX models need onnxruntime; install riskaudit[onnx]") from None
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(f"--model: cannot load ONNX file {str(path)!r}: {_first_line(exc)}") from None
    name = sess.get_inputs()[0].name

    def run(x):
        return sess.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]

    shape = sess.get_inputs()[0].shape
    width = shape[-1] if len(shape) == 2 and isinstance(shape[-1], int) else None
    return Model(uri=str(path), format="onnx", sha256=sha, predict_fn=run, input_width=width)


def _import_entry_point(text: str, search_paths: Sequence[str | os.PathLike]) -> Any:
    mod_name, attr = text.split(":", 1)
    added = [str(p) for p in search_paths if str(p) not in sys.path]
    sys.path[:0] = added
    try:
        try:
            obj = importlib.import_module(mod_name)
        except ImportError as exc:
            raise InputError(f"--model {text}: cannot import module {mod_name!r}: {exc}") from None
        except (Exception, SystemExit) as exc:  # user code may call sys.exit at import
            raise InputError(f"--model {text}: importing {mod_name!r} failed: "
                             f"{type(exc).__name__}: {_first_line(exc)}") from None
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise InputError(f"--model {text}: module {mod_name!r} has no attribute {attr!r}")
            obj = getattr(obj, part)
        return obj
    finally:
        for p in added:
            if p in sys.path:
                sys.path.remove(p)


def _required_positional(fn: Callable) -> int | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return sum(1 for p in sig.parameters.values()
               if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _from_object(obj: Any, *, uri: str, device: str, eval_mode: bool, weights: str | None,
                 fmt: str = "callable", sha: str | None = None) -> Model:
    import torch

    if isinstance(obj, torch.nn.Module):
        return _from_module(obj, uri=uri, fmt=fmt if fmt != "callable" else "module", sha=sha,
                            device=device, eval_mode=eval_mode, weights=weights)
    is_class = inspect.isclass(obj)
    if is_class and issubclass(obj, torch.nn.Module) or (callable(obj) and _required_positional(obj) == 0):
        try:
            made = obj()
        except (Exception, SystemExit) as exc:
            raise InputError(f"--model {uri}: calling the factory failed: "
                             f"{type(exc).__name__}: {_first_line(exc)}") from None
        if isinstance(made, torch.nn.Module):
            return _from_module(made, uri=uri, fmt=fmt, sha=sha, device=device,
                                eval_mode=eval_mode, weights=weights)
        if callable(made):
            obj = made
        else:
            raise InputError(f"--model {uri}: the factory returned a {type(made).__name__}, "
                             "not a torch.nn.Module or a predict callable")
    if weights:
        raise InputError(f"--weights needs --model to name a torch.nn.Module; {uri} is a callable")
    if hasattr(obj, "predict_proba") and callable(obj.predict_proba):
        fn = obj.predict_proba
    elif hasattr(obj, "predict") and callable(obj.predict) and not callable(obj):
        fn = obj.predict
    elif callable(obj):
        fn = obj
    else:
        raise InputError(f"--model {uri}: a {type(obj).__name__} is neither a torch.nn.Module, a "
                         "factory of one, nor a predict callable")
    return Model(uri=uri, format=fmt, sha256=sha, predict_fn=fn,
                 accepts_frame=bool(getattr(obj, "riskaudit_accepts_dataframe", False)))


def _from_module(module: Any, *, uri: str, fmt: str, sha: str | None, device: str,
                 eval_mode: bool, weights: str | None) -> Model:
    import torch

    if weights:
        wpath = Path(weights)
        if not wpath.exists():
            raise InputError(f"--weights: file {weights!r} does not exist")
        require_regular(wpath, "--weights")
        try:
            state = torch.load(str(wpath), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelLoadError(PICKLE_REFUSED.format(path=weights, what=_first_line(exc))) from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            module.load_state_dict(state)
        except Exception as exc:
            raise InputError(f"--weights {weights}: does not fit {uri}: {_first_line(exc)}") from None
        sha = sha256_file(wpath) if sha is None else sha
    if device != "cpu":
        module = module.to(device)
    if eval_mode:
        module.eval()
    return Model(uri=uri, format=fmt, sha256=sha, module=module, device=device)
