"""One exception hierarchy. The CLI turns every :class:`RiskauditError` into exit code 2
with its message on stderr (one paragraph, no traceback).

Messages name the file, column, option or policy key at fault, so that a user can fix the
input without reading code.
"""

from __future__ import annotations


class RiskauditError(Exception):
    """Base of every error riskaudit raises on purpose."""


class InputError(RiskauditError):
    """A data file, model file, column or option is missing, malformed or unusable."""


class PolicyError(RiskauditError):
    """A policy or project file has an unknown key, a wrong type or a bad value."""


class ModelLoadError(InputError):
    """A model cannot be loaded safely (missing, malformed, or a pickle without --trust-model)."""


class PluginError(RiskauditError):
    """A checker plugin is malformed: duplicate id, missing attribute, invalid option."""


class CheckerError(Exception):
    """Raised by a checker to end its run with status ``error`` and this message.

    Any other exception a checker raises is treated the same way; this one just says the
    failure was anticipated, so its message is shown without the exception type.
    """
