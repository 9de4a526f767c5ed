"""Click commands beyond ``scan``/``demo``/``checks``, one module per feature.

``riskaudit/cli.py`` maps each command name to ``module:attribute`` and imports it only
when that command runs (fast start-up; a feature's heavy imports stay out of the others).
"""
