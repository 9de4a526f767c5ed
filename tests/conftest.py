import os

os.environ.setdefault("RISKAUDIT_CACHE", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "riskaudit"))
