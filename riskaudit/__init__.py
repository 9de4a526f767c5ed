"""riskaudit: audit a trained model and its data before deployment.

``riskaudit.scan(...)`` runs the installed checkers and returns a :class:`Report`.
Importing riskaudit changes nothing in the process: the offline settings of the libraries
it uses apply only while a checker runs (``riskaudit/_scope.py``).
"""

from riskaudit._version import __version__

from riskaudit.errors import (  # noqa: E402
    CheckerError, InputError, ModelLoadError, PluginError, PolicyError, RiskauditError,
)
from riskaudit.result import CheckResult, Finding, Report, Severity, Status  # noqa: E402
from riskaudit.scan import scan  # noqa: E402

__all__ = [
    "scan", "Report", "CheckResult", "Finding", "Status", "Severity", "RiskauditError",
    "InputError", "PolicyError", "ModelLoadError", "PluginError", "CheckerError", "__version__",
]
