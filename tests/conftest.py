import os
import tempfile

os.environ.setdefault("RISKAUDIT_CACHE", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "riskaudit"))
# Scans made by the tests go to a throw-away ledger, never the developer's own.
os.environ.setdefault("RISKAUDIT_LEDGER", os.path.join(tempfile.mkdtemp(prefix="riskaudit-ledger-"), "ledger.sqlite3"))
