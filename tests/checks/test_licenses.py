"""Tests of the licenses checker on real license texts (Debian's common-licenses, the SPDX
list data of the ``spdx`` package: copies of the texts independent of the ScanCode LicenseDB
texts the checker matches against), real package metadata and the demo project."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from riskaudit.checks.base import OptionError
from riskaudit.checks.licenses import LicensesChecker, cyclonedx_json
from riskaudit.checks.licenses.spdx import evaluate, normalize, normalize_classifier
from riskaudit.checks.licenses.texts import identify_text
from riskaudit.result import Status
from riskaudit.testing import check_checker, run_check

COMMON = Path("/usr/share/common-licenses")


def spdx_text(sid: str) -> str:
    import spdx  # test extra only: the SPDX list's own texts, an independent copy

    return (Path(spdx.__file__).parent / "data" / f"{sid}.txt").read_text(encoding="utf-8")


def run(folder: Path, **options):
    options.setdefault("software", "none")
    return run_check(LicensesChecker, project={"project_dir": str(folder), "data_path": str(folder)},
                     options={"licenses": options})


def by_kind(result, kind):
    return [f for f in result.findings if f.kind == kind]


def data_finding(result):
    found = [f for f in result.findings if f.subject.startswith("data:")]
    assert len(found) == 1, [f.to_dict() for f in result.findings]
    return found[0]


# ----------------------------------------------------------------------------- normalization

@pytest.mark.parametrize("raw, expected", [
    ("Apache 2.0", "Apache-2.0"), ("Apache License, Version 2.0", "Apache-2.0"), ("BSD", "BSD-3-Clause"),
    ("GPLv3+", "GPL-3.0-or-later"), ("MIT License", "MIT"), ("LGPL-2.1+", "LGPL-2.1-or-later"),
    ("GPL-2.0", "GPL-2.0-only"), ("cc-by-nc-4.0", "CC-BY-NC-4.0"), ("CC BY-NC-SA 4.0", "CC-BY-NC-SA-4.0"),
    ("Attribution-NonCommercial 4.0 International", "CC-BY-NC-4.0"),
    ("https://creativecommons.org/licenses/by-sa/4.0/", "CC-BY-SA-4.0"),
    ("GNU General Public License v3.0 or later", "GPL-3.0-or-later"),
    ("MIT OR Apache-2.0", "MIT OR Apache-2.0"), ("UNKNOWN", None), ("", None), ("Dual License", None),
    ("<script>alert(1)</script>", None), ("Lizenz für ☃", None),
])
def test_normalize_aliases_and_expressions(raw, expected):
    assert normalize(raw).expression == expected


def test_classifiers_and_or_choice():
    assert normalize_classifier("License :: OSI Approved :: Apache Software License").expression == "Apache-2.0"
    assert normalize_classifier("License :: OSI Approved :: GNU General Public License v3 (GPLv3)").expression == "GPL-3.0-only"
    cat, chosen, note = evaluate("MIT OR GPL-3.0-only")
    assert (cat, chosen) == ("permissive", "MIT")
    assert "MIT is taken as the most permissive" in note
    assert evaluate("MIT OR Apache-2.0") == ("permissive", "MIT", "'MIT OR Apache-2.0' offers a choice; MIT is taken as the most permissive")
    assert evaluate("MIT AND GPL-3.0-only")[0] == "strong_copyleft"
    assert evaluate("GPL-2.0-only WITH Classpath-exception-2.0")[0] == "weak_copyleft"
    assert evaluate("AGPL-3.0-or-later")[0] == "network_copyleft"
    assert evaluate("CC-BY-NC-SA-4.0")[0] == "noncommercial"


# ----------------------------------------------------------------------------- license texts

@pytest.mark.parametrize("name, expected", [
    ("Apache-2.0", "Apache-2.0"), ("GPL-2", "GPL-2.0-only"), ("GPL-3", "GPL-3.0-only"),
    ("LGPL-2.1", "LGPL-2.1-only"), ("LGPL-3", "LGPL-3.0-only"), ("MPL-2.0", "MPL-2.0"),
    ("BSD", "BSD-3-Clause"), ("CC0-1.0", "CC0-1.0"), ("Artistic", "Artistic-1.0-Perl"),
    ("GFDL-1.3", "GFDL-1.3-only"),
])
def test_debian_common_licenses_identified(name, expected):
    m = identify_text((COMMON / name).read_text(encoding="utf-8", errors="replace"))
    assert m.spdx_id == expected
    assert m.score >= 0.94


@pytest.mark.parametrize("sid", ["CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "CC-BY-SA-4.0", "AGPL-3.0", "EPL-1.0", "ISC"])
def test_spdx_texts_identified_with_filled_placeholders(sid):
    text = spdx_text(sid).replace("<year>", "2026").replace("<copyright holders>", "Example Corp")
    m = identify_text(text)
    assert m.spdx_id == normalize(sid).expression
    # another copy of the text (SPDX's, with its copyright line and title), not the index's own
    assert m.score > 0.94 and m.runner_up_score < m.score


def test_text_matching_nothing_is_unknown_not_a_guess(tmp_path):
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(3)
    text = "License and warranty terms of the Example dataset.\n" + "\n".join(fake.paragraph(8) for _ in range(12))
    assert identify_text(text).spdx_id is None
    (tmp_path / "LICENSE").write_text(text, encoding="utf-8")
    f = data_finding(run(tmp_path))
    assert (f.kind, f.status) == ("unknown_license", Status.WARN)
    assert "matches no SPDX license text well" in f.evidence["sources"][0]["note"]


def test_debian_gpl_file_in_folder_is_copyleft_by_distribution(tmp_path):
    (tmp_path / "COPYING").write_text((COMMON / "GPL-3").read_text(encoding="utf-8"), encoding="utf-8")
    statuses = {d: data_finding(run(tmp_path, distribution=d)).status for d in ("distributed", "saas", "internal")}
    assert statuses == {"distributed": Status.FAIL, "saas": Status.WARN, "internal": Status.PASS}
    f = data_finding(run(tmp_path))
    assert f.kind == "copyleft_license" and f.evidence["license"] == "GPL-3.0-only"
    assert f.evidence["sources"][0]["location"] == "COPYING" and f.evidence["sources"][0]["score"] > 0.99


def test_agpl_counts_for_saas_and_lgpl_is_milder(tmp_path):
    (tmp_path / "LICENSE").write_text(spdx_text("AGPL-3.0"), encoding="utf-8")
    assert data_finding(run(tmp_path, distribution="saas")).status == Status.FAIL
    (tmp_path / "LICENSE").write_text((COMMON / "LGPL-2.1").read_text(encoding="utf-8"), encoding="utf-8")
    assert data_finding(run(tmp_path)).status == Status.WARN
    assert data_finding(run(tmp_path, distribution="saas")).status == Status.PASS


# ----------------------------------------------------------------------------- metadata forms

def test_frictionless_datapackage(tmp_path):
    (tmp_path / "datapackage.json").write_text(json.dumps(
        {"name": "x", "licenses": [{"name": "ODC-By-1.0", "path": "https://opendatacommons.org/licenses/by/"}]}),
        encoding="utf-8")
    f = data_finding(run(tmp_path))
    assert f.status == Status.PASS and f.evidence["license"] == "ODC-By-1.0"
    assert f.evidence["sources"][0]["source"] == "datapackage.json"


def test_hugging_face_card_front_matter(tmp_path):
    (tmp_path / "README.md").write_text("---\nlanguage: en\nlicense: cc-by-nc-sa-4.0\ntags: [x]\n---\n# Card\n",
                                        encoding="utf-8")
    f = data_finding(run(tmp_path))
    assert (f.kind, f.status, f.evidence["license"]) == ("noncommercial_license", Status.FAIL, "CC-BY-NC-SA-4.0")
    assert f.evidence["sources"][0]["location"] == "README.md:3 license"


def test_croissant_jsonld(tmp_path):
    (tmp_path / "croissant.json").write_text(json.dumps({
        "@context": {"@vocab": "https://schema.org/", "sc": "https://schema.org/"}, "@type": "sc:Dataset",
        "name": "toy", "license": "https://creativecommons.org/licenses/by/4.0/"}), encoding="utf-8")
    f = data_finding(run(tmp_path))
    assert (f.status, f.evidence["license"], f.evidence["sources"][0]["source"]) == \
        (Status.PASS, "CC-BY-4.0", "Croissant JSON-LD")


def test_or_expression_takes_users_choice_and_says_so(tmp_path):
    (tmp_path / "datapackage.json").write_text(json.dumps({"licenses": [{"name": "GPL-3.0-only OR MIT"}]}),
                                               encoding="utf-8")
    f = data_finding(run(tmp_path))
    assert f.status == Status.PASS and "MIT is taken as the most permissive" in f.evidence["note"]


@pytest.mark.parametrize("how, content", [
    ("LICENSE", spdx_text("CC-BY-NC-4.0")),
    ("LICENSE", spdx_text("CC-BY-NC-SA-4.0")),
    ("README.md", "# Toy data\n\nThis data is released under Attribution-NonCommercial 4.0 International.\n"),
    ("datapackage.json", json.dumps({"licenses": [{"name": "CC-BY-NC-4.0"}]})),
])
def test_noncommercial_fails_commercial_passes_noncommercial(tmp_path, how, content):
    (tmp_path / how).write_text(content, encoding="utf-8")
    bad = data_finding(run(tmp_path))
    assert (bad.kind, bad.status) == ("noncommercial_license", Status.FAIL)
    assert bad.severity.value == "high"
    ok = run(tmp_path, commercial=False, distribution="internal")
    assert data_finding(ok).status == Status.PASS and ok.status == Status.PASS
    assert all(f.status == Status.PASS for f in by_kind(run(tmp_path, commercial=False), "noncommercial_license"))


def test_folder_without_evidence_is_unknown(tmp_path):
    (tmp_path / "train.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    result = run(tmp_path)
    f = data_finding(result)
    assert (f.kind, f.status, f.value) == ("unknown_license", Status.WARN, 1.0)
    assert result.status == Status.WARN


@pytest.mark.parametrize("name, content, error", [
    ("README.md", "---\nlicense: [mit\n---\ntext\n", "malformed YAML front matter"),
    ("README.md", "---\ntitle: x\nno closing marker\n", "no closing '---'"),
    ("README.md", "---\nlicense: mit\nreleased: 2027-02-30\n---\ntext\n", "a value cannot be read"),
    ("datapackage.json", '{"licenses": [{"name": "MIT"}', "malformed JSON"),
    ("croissant.json", '{"@context": {}, "license": ', "malformed JSON"),
])
def test_malformed_metadata_is_a_finding_naming_the_file(tmp_path, name, content, error):
    (tmp_path / name).write_text(content, encoding="utf-8")
    result = run(tmp_path)
    bad = by_kind(result, "malformed_metadata")
    assert len(bad) == 1 and bad[0].status == Status.WARN
    assert bad[0].subject.startswith(name) and name in bad[0].message and error in bad[0].message
    assert data_finding(result).kind == "unknown_license"


def test_hostile_inputs_do_not_crash(tmp_path):
    folder = tmp_path / "<script>alert(1)<script> ☃ données"
    folder.mkdir()
    (folder / "LICENSE").write_bytes(b"\x00\xff\xfe binary \x00" * 50)
    (folder / "README.md").write_text("---\n- just a list\n---\nLicense: <script>x</script>\n", encoding="utf-8")
    (folder / "datapackage.json").write_text("[1, 2]", encoding="utf-8")
    result = check_checker(LicensesChecker, project={"data_path": str(folder)}, options={"licenses": {"software": "none"}})
    assert data_finding(result).kind == "unknown_license"
    assert {Path(f.subject).name for f in by_kind(result, "malformed_metadata")} == {"README.md", "datapackage.json"}


def test_declared_project_licenses_and_model_card(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.onnx").write_bytes(b"onnx")
    (tmp_path / "model" / "README.md").write_text("---\nlicense: apache-2.0\n---\n", encoding="utf-8")
    result = run_check(LicensesChecker, project={"project_dir": str(tmp_path), "model_path": "model/model.onnx",
                                                 "licenses": {"data": "CC-BY-4.0", "model": "MIT"}},
                       options={"licenses": {"software": "none"}})
    subjects = {f.subject: f for f in result.findings if f.subject.startswith(("data:", "model:"))}
    assert set(subjects) == {"model:model.onnx", "data:declared"}
    model = subjects["model:model.onnx"]
    assert {s["license"] for s in model.evidence["sources"]} == {"Apache-2.0", "MIT"}
    assert model.status == Status.PASS and "most restrictive" in model.evidence["note"]
    assert subjects["data:declared"].evidence["sources"][0]["location"] == "licenses.data"


# ----------------------------------------------------------------------------- policy

def _nc_folder(tmp_path) -> Path:
    (tmp_path / "datapackage.json").write_text(json.dumps({"licenses": [{"name": "CC-BY-NC-4.0"}]}), encoding="utf-8")
    return tmp_path


def test_exception_with_justification_and_expiry(tmp_path):
    folder = _nc_folder(tmp_path)
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    exc = {"component": f"data:{folder.name}", "kind": "noncommercial_license", "expires": future,
           "justification": "A commercial license was bought from the publisher (contract 42).",
           "approved_by": "J. Doe, legal"}
    f = data_finding(run(folder, exceptions=[exc]))
    assert f.status == Status.PASS and f.evidence["exception"]["expired"] is False
    assert f"Accepted by exception until {future}" in f.message
    past = dict(exc, expires="2020-01-01")
    result = run(folder, exceptions=[past])
    f = data_finding(result)
    assert f.status == Status.FAIL and "expired on 2020-01-01" in f.message
    bom = by_kind(result, "bill_of_materials")[0]
    assert bom.evidence["exceptions"][0]["expired"] is True
    assert bom.evidence["table"][0]["exception"] == "until 2020-01-01 (expired)"


@pytest.mark.parametrize("bad, reason", [
    ({"component": "data", "expires": "2030-01-01"}, "justification"),
    ({"component": "data", "justification": "because we can, really"}, "'expires'"),
    ({"component": "data", "justification": "because we can, really", "expires": "soon"}, "YYYY-MM-DD"),
    ({"component": "data", "justification": "because we can, really", "expires": "2030-01-01", "who": 1}, "unknown key"),
])
def test_invalid_exceptions_are_rejected(bad, reason):
    with pytest.raises(OptionError, match=reason):
        LicensesChecker(exceptions=[bad])


def test_allow_and_deny_lists(tmp_path):
    folder = _nc_folder(tmp_path)
    assert data_finding(run(folder, allow=["CC-BY-NC-4.0"])).status == Status.PASS
    (folder / "datapackage.json").write_text(json.dumps({"licenses": [{"name": "MIT"}]}), encoding="utf-8")
    f = data_finding(run(folder, deny=["MIT"]))
    assert (f.kind, f.status) == ("denied_license", Status.FAIL)


# ----------------------------------------------------------------------------- software

def test_installed_environment_is_resolved():
    result = run_check(LicensesChecker, options={"licenses": {"software": "environment"}})
    rows = {r["component"].lower(): r for r in result.metrics["components"] if r["type"] == "software"}
    assert rows["license-expression"]["license"] == "Apache-2.0"
    assert rows["spdx"]["license"] == "CC0-1.0"
    assert rows["numpy"]["license"] == "BSD-3-Clause"
    assert "BSD-3-Clause" in rows["torch"]["license"] and rows["torch"]["category"] == "permissive"
    assert rows["torch"]["evidence"].endswith("METADATA: License-Expression")
    counts = result.metrics["counts"]
    assert counts["total"] == len(rows) >= 50 and counts["resolved"] >= 0.9 * counts["total"]


def test_requirements_file_instead_of_environment(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("numpy==1.26.4  # pinned\nlicense-expression>=30\nno-such-package-xyz==1.0\n-e .\n",
                   encoding="utf-8")
    result = run_check(LicensesChecker, options={"licenses": {"requirements": str(req)}})
    rows = {r["component"]: r for r in result.metrics["components"]}
    assert set(rows) == {"numpy", "license-expression", "no-such-package-xyz"}
    assert rows["numpy"]["license"] == "BSD-3-Clause" and rows["numpy"]["version"] == "1.26.4"
    assert rows["no-such-package-xyz"]["license"] is None
    unknown = by_kind(result, "unknown_license")
    assert len(unknown) == 1 and unknown[0].evidence["count"] == 1


# ----------------------------------------------------------------------------- demo, CLI, SBOM

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from riskaudit.demo import prepare_demo

    return prepare_demo(tmp_path_factory.mktemp("demo")).parent


def test_demo_fails_noncommercial_and_shows_exception_snippet(demo):
    result = check_checker(LicensesChecker, project={"project_dir": str(demo), "data_path": "data/current.csv",
                                                     "reference_path": "data/reference.csv", "model_path": "model.pt"},
                           options={"licenses": {"software": "none"}})
    assert result.status == Status.FAIL
    f = by_kind(result, "noncommercial_license")[0]
    assert (f.subject, f.status, f.evidence["license"]) == ("data:data", Status.FAIL, "CC-BY-NC-4.0")
    assert {s["location"] for s in f.evidence["sources"]} == {"data/LICENSE:3", "data/datapackage.json:4 licenses[0]"}
    snippet = f.evidence["exception_snippet"]
    assert 'component: "data:data"' in snippet and "justification:" in snippet and "expires:" in snippet
    row = f.evidence["how_to_record_an_exception"][0]
    assert (row["policy key"], row["component"], row["kind"]) == \
        ("checks.licenses.options.exceptions", "data:data", "noncommercial_license")
    import yaml

    parsed = yaml.safe_load(snippet)["checks"]["licenses"]["options"]["exceptions"][0]
    LicensesChecker(exceptions=[dict(parsed, justification="Bought a commercial license, contract 7.")])
    assert "forbids commercial use" in result.summary
    assert by_kind(result, "bill_of_materials")[0].evidence["table"][0]["license"] == "CC-BY-NC-4.0"


def test_cli_table_exit_codes_and_cyclonedx(demo):
    from riskaudit.cli import cli

    runner = CliRunner()
    out = runner.invoke(cli, ["licenses", "--no-software", str(demo / "data")], standalone_mode=False)
    assert out.exception is None or getattr(out.exception, "exit_code", None) == 1, out.output
    assert "CC-BY-NC-4.0" in out.output and "fail" in out.output and "Verdict: FAIL" in out.output
    ok = runner.invoke(cli, ["licenses", "--no-software", "--non-commercial", str(demo / "data")])
    assert ok.exit_code == 0, ok.output
    missing = runner.invoke(cli, ["licenses", str(demo / "nope")])
    assert missing.exit_code != 0
    sbom = runner.invoke(cli, ["licenses", "--no-software", "--format", "cyclonedx", str(demo / "data")])
    doc = json.loads(sbom.output)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    comp = doc["components"][0]
    assert (comp["type"], comp["licenses"][0]["expression"]) == ("data", "CC-BY-NC-4.0")


def test_cli_main_exit_codes(demo, capsys):
    from riskaudit.cli import main

    for argv, code in ((["licenses", "--no-software", str(demo / "data")], 1),
                       (["licenses", "--no-software", "--non-commercial", str(demo / "data")], 0),
                       (["licenses", str(demo / "missing-folder")], 2)):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == code, argv
    assert "missing-folder" in capsys.readouterr().err


def test_cyclonedx_json_from_components(tmp_path):
    folder = _nc_folder(tmp_path)
    result = run(folder)
    doc = json.loads(cyclonedx_json(result))
    assert [c["name"] for c in doc["components"]] == [folder.name]
    assert json.loads(cyclonedx_json(result.to_dict()))["components"][0]["licenses"][0]["expression"] == "CC-BY-NC-4.0"


def test_lock_file_and_cyclonedx_from_whole_report(tmp_path):
    lock = tmp_path / "poetry.lock"
    lock.write_text('[[package]]\nname = "numpy"\nversion = "1.26.4"\n\n[[package]]\nname = "PyYAML"\nversion = "6.0.3"\n',
                    encoding="utf-8")
    import riskaudit
    from riskaudit.registry import Registry

    report = riskaudit.scan(registry=Registry.from_classes([LicensesChecker]), policy={"name": "t"},
                            options={"licenses": {"paths": [str(lock)]}})
    rows = {r["component"]: r["license"] for r in report.check("licenses").metrics["components"]}
    assert rows == {"numpy": "BSD-3-Clause", "PyYAML": "MIT"}
    doc = json.loads(cyclonedx_json(report.to_dict()))
    assert sorted((c["name"], c["purl"]) for c in doc["components"]) == [
        ("PyYAML", "pkg:pypi/pyyaml@6.0.3"), ("numpy", "pkg:pypi/numpy@1.26.4")]
    (tmp_path / "bad.lock").write_text("[[package]\nname=", encoding="utf-8")
    bad = run_check(LicensesChecker, options={"licenses": {"requirements": str(tmp_path / "bad.lock")}})
    assert by_kind(bad, "malformed_metadata")[0].subject.endswith("bad.lock")
