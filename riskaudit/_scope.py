"""Scoped changes of process-wide state: each helper puts back what it found.

riskaudit is a library: a scan must leave the host process (a notebook, a CI job) as it
found it. Whatever has to change process-wide for a while — environment variables that
keep libraries offline, logger levels, torch's thread count, the global random states an
attack library draws from, a third-party module's global — changes only inside one of
these context managers, and only here. Heavy libraries (numpy, torch) are imported inside
the helpers that need them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

OFFLINE_ENV = {
    # great-expectations sends usage analytics unless told not to.
    "GX_ANALYTICS_ENABLED": "false",
    # Hugging Face libraries (pulled in by alibi-detect): never reach a hub.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    # tqdm progress bars of the libraries do not reach the user's terminal.
    "TQDM_DISABLE": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # tldextract (Presidio's e-mail recognizer): the bundled public-suffix snapshot, no fetch.
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
}
"""Set for the duration of a scan (only where the user has not set them)."""


@contextlib.contextmanager
def environ(values: Mapping[str, str], *, override: bool = False) -> Iterator[None]:
    """Set environment variables (by default only those not set yet); restore on exit."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if override or key not in os.environ:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def offline() -> contextlib.AbstractContextManager[None]:
    """No network, telemetry or progress bars from the libraries a scan uses."""
    return environ(OFFLINE_ENV)


@contextlib.contextmanager
def unimportable(*names: str) -> Iterator[None]:
    """While inside, ``import name`` raises ImportError for each of ``names`` not imported yet
    (``sys.modules[name] = None``), so a library imported meanwhile reads an optional
    dependency as "not installed"; the entries are removed on exit (restored as found)."""
    import sys

    hidden = [m for m in names if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for m in hidden:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]


@contextlib.contextmanager
def patched(obj: Any, attr: str, value: Any) -> Iterator[None]:
    """Set ``obj.attr`` to ``value`` (a third-party module's global); restore on exit."""
    old = getattr(obj, attr)
    setattr(obj, attr, value)
    try:
        yield
    finally:
        setattr(obj, attr, old)


@contextlib.contextmanager
def quiet(loggers: Iterable[str] = (), *, level: int = logging.ERROR, stdout: bool = False,
          stderr: bool = False, propagate: bool = True) -> Iterator[None]:
    """Silence warnings and the named loggers (``""`` is the root logger) below ``level``;
    with ``stdout``/``stderr``, swallow stray prints too. Everything is put back on exit."""
    saved = [(lg, lg.level, lg.propagate) for lg in map(logging.getLogger, loggers)]
    for lg, _, _ in saved:
        lg.setLevel(level)
        lg.propagate = propagate
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(warnings.catch_warnings())
            warnings.simplefilter("ignore")
            if stdout:
                stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            if stderr:
                stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
            yield
    finally:
        for lg, lvl, prop in saved:
            lg.setLevel(lvl)
            lg.propagate = prop


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch intra-op CPU threads (None or 0: unchanged); restore the count."""
    import torch

    before = torch.get_num_threads()
    if n and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextlib.contextmanager
def torch_rng(seed: int | None, device: str = "cpu") -> Iterator[None]:
    """Fork torch's global generator (CPU and, on CUDA, the current device) and seed the
    fork with ``seed`` (None: fork only); the caller's state is back on exit."""
    import torch

    devices = [torch.cuda.current_device()] if str(device).startswith("cuda") and torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(int(seed))  # local: fork_rng restores the global state on exit
        yield


@contextlib.contextmanager
def global_rngs(seed: int, device: str = "cpu") -> Iterator[None]:
    """Seed numpy's, Python's and torch's global generators for a library that draws from
    them (ART), then put back the states they had: the caller does not notice."""
    import numpy as np  # here, not at the top: the CLI imports this module and starts fast

    np_state = np.random.get_state()
    py_state = random.getstate()
    with torch_rng(seed, device):
        np.random.seed(seed)  # restored below  # noqa: NPY002
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)
