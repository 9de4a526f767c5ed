"""riskaudit: audit a trained model and its data before deployment.

``riskaudit.scan(...)`` runs the installed checkers and returns a :class:`Report`.
Importing riskaudit changes nothing in the process: the offline settings of the libraries
it uses apply only while a checker runs (``riskaudit/_scope.py``). The names below are
imported on first use, so ``riskaudit --version`` or ``--help`` loads none of the scan's
modules (``tests/test_startup.py``).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from riskaudit._version import __version__

if TYPE_CHECKING:
    from riskaudit.errors import (CheckerError, InputError, ModelLoadError, PluginError, PolicyError,
                                  RiskauditError)
    from riskaudit.result import CheckResult, Finding, Report, Severity, Status
    from riskaudit.scan import scan

_WHERE = {"scan": "riskaudit.scan",
          **dict.fromkeys(("Report", "CheckResult", "Finding", "Status", "Severity"), "riskaudit.result"),
          **dict.fromkeys(("RiskauditError", "InputError", "PolicyError", "ModelLoadError", "PluginError",
                           "CheckerError"), "riskaudit.errors")}

__all__ = [
    "scan", "Report", "CheckResult", "Finding", "Status", "Severity", "RiskauditError",
    "InputError", "PolicyError", "ModelLoadError", "PluginError", "CheckerError", "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'riskaudit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """``riskaudit.scan`` stays the function once the module of the same name is imported
    (the import system sets the package's attribute to the module then), as it was when
    this package imported it eagerly."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "scan" and isinstance(value, types.ModuleType) and hasattr(value, "scan"):
            value = value.scan
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
