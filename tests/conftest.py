import os
import tempfile

os.environ.setdefault("RISKAUDIT_CACHE", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "riskaudit"))
# Scans made by the tests go to a throw-away ledger, never the developer's own.
os.environ.setdefault("RISKAUDIT_LEDGER", os.path.join(tempfile.mkdtemp(prefix="riskaudit-ledger-"), "ledger.sqlite3"))


import json  # noqa: E402

# great-expectations turns its Spark data source off for good when it is first imported without
# pyspark (riskaudit hides pyspark from it on the pandas engine). In one test process pandas
# scans run before Spark ones, so pyspark (the Python package only: no JVM) is loaded up front.
try:
    import pyspark  # noqa: E402, F401
except ImportError:  # without the spark extra the Spark tests fail (they do not skip); the rest run
    pass

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory):
    """The folder of one real `riskaudit demo` run (reports on the demo's planted defects)."""
    from helpers import run_cli

    out = tmp_path_factory.mktemp("demo-report") / "demo"
    proc = run_cli("demo", "--out", str(out), "--format", "html,json,md,evidence", timeout=300)
    assert proc.returncode == 1 and (out / "report.json").exists(), proc.stderr
    return out


@pytest.fixture(scope="session")
def demo_scan(demo_out):
    return json.loads((demo_out / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def spark():
    """ONE local SparkSession (local[2]) for the whole test run (per xdist worker), started on
    first use: the Spark engine takes the active session, as in a Databricks notebook."""
    from riskaudit.engines.spark import session

    s = session()
    yield s
    s.stop()
