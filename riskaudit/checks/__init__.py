"""Built-in checkers, one module each. They are found through the ``riskaudit.checks``
entry-point group (see ``pyproject.toml``), never by importing this package."""
