"""Start-up cost: the commands that only list, print or decide load no numerical library.

A property, not a timing: each command runs in a fresh interpreter, which then reports the
heavy modules present in ``sys.modules``. Timings are in ``benchmarks/bench_e2e.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from approval_support import make_audit

HEAVY = ("numpy", "pandas", "pyarrow", "torch", "pyspark", "py4j", "scipy", "sklearn", "presidio_analyzer", "spacy",
         "fairlearn", "art", "alibi_detect", "great_expectations", "transformers", "jinja2",
         "license_expression", "onnxruntime", "cyclonedx")

PROBE = """
import json, os, sys
from riskaudit.cli import main
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as exc:
    code = exc.code
heavy = json.loads(os.environ["PROBE_HEAVY"])
with open(os.environ["PROBE_OUT"], "w") as fh:
    json.dump({"code": code, "loaded": sorted(m for m in heavy if m in sys.modules)}, fh)
"""


def probe(tmp_path, *args: str) -> dict:
    out = tmp_path / "probe.json"
    env = {**os.environ, "PROBE_OUT": str(out), "PROBE_HEAVY": json.dumps(HEAVY),
           "RISKAUDIT_LEDGER": str(tmp_path / "ledger.sqlite3")}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True,
                          text=True, timeout=120)
    assert out.exists(), proc.stderr
    result = json.loads(out.read_text())
    result["stdout"], result["stderr"] = proc.stdout, proc.stderr
    return result


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["checks"], ["checks", "-v"],
                                  ["scan", "--help"], ["gate", "--help"]])
def test_listing_and_help_import_no_heavy_library(tmp_path, args):
    res = probe(tmp_path, *args)
    assert res["code"] == 0, res["stderr"]
    assert res["loaded"] == [], f"riskaudit {' '.join(args)} imported {res['loaded']}"
    if args == ["checks"]:  # the listing still names every built-in checker
        for cid in ("pii", "data_validity", "licenses", "consistency", "fairness", "drift", "robustness"):
            assert cid in res["stdout"]


def test_gate_on_a_real_report_imports_no_heavy_library(tmp_path):
    audit = make_audit(tmp_path / "audit")
    res = probe(tmp_path, "gate", str(audit.report), "--model", str(audit.model), "--data", str(audit.data))
    assert res["code"] == 1, res["stdout"] + res["stderr"]  # nobody signed: closed, for that reason
    assert "Gate CLOSED" in res["stdout"] and "approval" in res["stdout"], res["stdout"]
    assert res["loaded"] == [], f"riskaudit gate imported {res['loaded']}"


def test_a_lazily_imported_module_behaves_like_the_module():
    from riskaudit._lazy import lazy_module

    fractions = lazy_module("fractions")
    assert "not loaded yet" in repr(fractions) or "fractions" in sys.modules
    assert fractions.Fraction(1, 3) + fractions.Fraction(1, 6) == fractions.Fraction(1, 2)
    assert "loaded" in repr(fractions) and "Fraction" in dir(fractions)
    with pytest.raises(AttributeError):
        fractions.no_such_name
    with pytest.raises(AttributeError):
        fractions.Fraction = int


def test_report_values_from_numpy_still_become_plain_json():
    import numpy as np

    from riskaudit.result import jsonable

    out = jsonable({"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "a": np.arange(2),
                    "nan": np.float64("nan")})
    assert out == {"i": 3, "f": 0.5, "b": True, "a": [0, 1], "nan": None}
    assert type(out["i"]) is int and type(out["b"]) is bool


# ---------------------------------------------------------------- checkers pay only for what they use
CHECK_PROBE = """
import json, os, sys
import pandas as pd
from riskaudit.checks.pii import PiiChecker
from riskaudit.testing import run_check
res = run_check(PiiChecker, data=pd.read_csv(os.environ["PROBE_DATA"]))
heavy = json.loads(os.environ["PROBE_HEAVY"])
with open(os.environ["PROBE_OUT"], "w") as fh:
    json.dump({"status": res.status.value, "summary": res.summary,
               "name_detection": res.metrics.get("name_detection"),
               "subjects": sorted(f.subject for f in res.findings if f.status.value != "pass"),
               "loaded": sorted(m for m in heavy if m in sys.modules)}, fh)
"""


def probe_pii(tmp_path, frame) -> dict:
    data, out = tmp_path / "data.csv", tmp_path / "probe.json"
    frame.to_csv(data, index=False)
    env = {**os.environ, "PROBE_OUT": str(out), "PROBE_DATA": str(data),
           "PROBE_HEAVY": json.dumps(["presidio_analyzer", "spacy", "torch", "transformers"])}
    proc = subprocess.run([sys.executable, "-c", CHECK_PROBE], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and out.exists(), proc.stderr
    return json.loads(out.read_text())


def test_pii_on_a_table_without_text_loads_no_ner_model(tmp_path):
    from sklearn.datasets import load_diabetes

    res = probe_pii(tmp_path, load_diabetes(as_frame=True).frame)  # age, sex (coded), bmi ... all numeric
    assert res["status"] != "error", res["summary"]
    # Presidio's pattern layer may load: the report's masking (issue 15) asks its engine about
    # every string with digits. No named-entity model and no transformers are ever loaded.
    assert "transformers" not in res["loaded"], res["loaded"]
    assert res["name_detection"] == "No free-text column, so no named-entity model was needed."


def test_pii_with_structured_text_loads_presidio_but_no_ner_model_nor_transformers(tmp_path):
    from faker import Faker

    fake = Faker("de_DE")
    fake.seed_instance(3)
    frame = pd.DataFrame({"email": [fake.email() for _ in range(60)], "score": range(60)})
    res = probe_pii(tmp_path, frame)
    assert res["status"] != "error", res["summary"]
    assert "email" in res["subjects"]  # Presidio still finds the addresses
    assert "presidio_analyzer" in res["loaded"] and "transformers" not in res["loaded"], res["loaded"]
    # structured columns only: the spaCy named-entity model was not loaded
    assert res["name_detection"] == "No free-text column, so no named-entity model was needed."


def test_riskaudit_scan_is_the_function_whatever_imported_its_module_first():
    """The package imports its names lazily; ``riskaudit.scan`` is still the function after
    ``import riskaudit.scan`` (the import system sets the attribute to the module)."""
    code = ("import riskaudit.scan, riskaudit.result, riskaudit\n"
            "from riskaudit.scan import run_checker\n"
            "print(callable(riskaudit.scan), riskaudit.scan.__name__, riskaudit.Report.__name__,"
            " riskaudit.InputError.__name__, run_checker.__module__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["True", "scan", "Report", "InputError", "riskaudit.scan"], proc.stderr


def test_a_scan_on_the_built_in_policy_does_not_import_jsonschema(tmp_path):
    """The built-in policies ship with riskaudit and are validated against the schema by
    tests/test_schema.py; a scan on one (and on no project options) leaves jsonschema out.
    A user's policy still goes through it (the next test)."""
    data = tmp_path / "groups.csv"
    pd.DataFrame({"a": [0, 1] * 50, "y": [0, 1, 1, 0] * 25}).to_csv(data, index=False)
    code = ("import sys\n"
            "from riskaudit.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n    print('exit', exc.code)\n"
            "print('jsonschema' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, "scan", "--data", str(data), "--target", "y",
                           "--sensitive", "a", "--check", "fairness", "--format", "json",
                           "--out", str(tmp_path / "out"), "-q"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RISKAUDIT_LEDGER": str(tmp_path / "ledger.sqlite3")})
    lines = proc.stdout.strip().splitlines()
    assert lines[-2] in ("exit 0", "exit 1") and (tmp_path / "out" / "report.json").exists(), proc.stdout + proc.stderr
    assert lines[-1] == "False", proc.stdout + proc.stderr


def test_a_user_policy_is_still_validated_whatever_its_file_is_called(tmp_path, monkeypatch):
    """Only the files shipped in riskaudit's own policy folder skip the schema; a file of the
    user's named like a built-in (``builtin:default.yaml``) is validated like any other."""
    from riskaudit.errors import PolicyError
    from riskaudit.policy import builtin_policy_dir, load_policy

    monkeypatch.chdir(tmp_path)
    (tmp_path / "builtin:default.yaml").write_text("risk_tier: extreme\n")
    with pytest.raises(PolicyError, match="risk_tier"):
        load_policy("builtin:default.yaml")
    assert load_policy("default").packaged
    copy = tmp_path / "mine.yaml"
    copy.write_bytes((builtin_policy_dir() / "default.yaml").read_bytes())
    assert not load_policy(str(copy)).packaged


def test_installed_versions_in_the_manifest_equal_importlib_metadata():
    """The manifest reads each version from its ``name-version.dist-info`` folder name; the
    oracle is importlib.metadata's parse of the METADATA file."""
    import importlib
    from importlib import metadata

    scan_module = importlib.import_module("riskaudit.scan")
    seen = 0
    for dist in metadata.distributions():
        assert scan_module._dist_version(dist) == dist.version, getattr(dist, "_path", dist)
        seen += 1
    assert seen > 50
    versions = scan_module._versions()
    assert versions["pandas"] == metadata.version("pandas") and versions["numpy"] == metadata.version("numpy")
