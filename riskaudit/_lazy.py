"""Modules imported on first use, so that listing checkers or printing ``--help`` pays for
no numerical library.

``np = lazy_module("numpy")`` at the top of a module reads like ``import numpy as np``; the
real import happens the first time an attribute is read (``np.asarray``), which is inside
the code path that needs it. Until then ``"numpy" not in sys.modules``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """A stand-in for a module, imported on the first attribute access.

    Each attribute read is then kept in the instance's ``__dict__``, so later reads are
    plain attribute look-ups (``__getattr__`` runs only on a miss), as fast as a module's.
    """

    def __init__(self, name: str):
        object.__setattr__(self, "_lazy_name", name)
        object.__setattr__(self, "_lazy_module", None)

    def _load(self) -> ModuleType:
        module = self._lazy_module
        if module is None:
            module = importlib.import_module(self._lazy_name)
            object.__setattr__(self, "_lazy_module", module)
        return module

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._load(), attr)
        object.__setattr__(self, attr, value)
        return value

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError(f"cannot set {attr!r} on the lazily imported module {self._lazy_name!r}")

    def __dir__(self) -> list[str]:
        return dir(self._load())

    def __repr__(self) -> str:
        state = "loaded" if self._lazy_module is not None else "not loaded yet"
        return f"<lazily imported module {self._lazy_name!r} ({state})>"


def lazy_module(name: str) -> Any:
    """``name`` imported on first attribute access (typed ``Any`` so call sites read as usual)."""
    return LazyModule(name)
