"""The version of riskaudit (one place; the package and the reports read it from here)."""

__version__ = "0.1.0"
