"""Report renderers, one module per format. Each is a pure ``render(report: dict) -> str``
(or bytes); :mod:`riskaudit.reports.writer` alone writes files (atomically)."""

from __future__ import annotations

FORMATS = {
    "json": ("report.json", "riskaudit.reports.json_report"),
    "html": ("report.html", "riskaudit.reports.html"),
    "junit": ("junit.xml", "riskaudit.reports.junit"),
    "md": ("summary.md", "riskaudit.reports.markdown"),
    "sarif": ("report.sarif", "riskaudit.reports.sarif"),
    "evidence": ("technical-documentation.md", "riskaudit.reports.evidence"),
}
"""format name -> (file name in the report folder, renderer module)"""
