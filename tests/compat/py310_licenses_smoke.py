"""Python 3.10 smoke test of the licenses checker's lock/pyproject readers (tomli, not tomllib).

Not collected by pytest (it needs a Python 3.10 interpreter). Run in a 3.10 environment with
riskaudit's pure-Python dependencies (tomli, packaging, license-expression, licensedcode-data, numpy, pandas,
pyyaml, jsonschema, click, jinja2, cyclonedx-python-lib):

    python3.10 tests/compat/py310_licenses_smoke.py
"""
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
assert sys.version_info[:2] == (3, 10), sys.version
from riskaudit.checks.licenses import software
from riskaudit.checks.licenses.spdx import normalize, category, license_ids
d = pathlib.Path(tempfile.mkdtemp())
(d / "uv.lock").write_text('[[package]]\nname = "numpy"\nversion = "1.26.4"\n[[package]]\nname = "pandas"\nversion = "2.2.3"\n')
(d / "pyproject.toml").write_text('[project]\nname = "m"\ndependencies = ["numpy>=1.24", "PyYAML==6.0.1"]\n')
assert software._requirement_names(d / "uv.lock") == ([("numpy", "1.26.4"), ("pandas", "2.2.3")], [])
assert software._requirement_names(d / "pyproject.toml") == ([("numpy", ""), ("PyYAML", "6.0.1")], [])
assert software.find_project_requirements(d) == d / "uv.lock"
assert (normalize("Business Source License 1.1").expression, category("BUSL-1.1")) == ("BUSL-1.1", "restricted_use")
assert license_ids("GPL-2.0-only WITH Classpath-exception-2.0") == ["GPL-2.0-only"]
print("ok: the licenses checker reads lock and pyproject files on", sys.version.split()[0])
