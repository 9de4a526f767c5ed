"""The checker plugin API: options, levels, needs, errors, determinism."""

import numpy as np
import pandas as pd
import pytest

import riskaudit
from riskaudit.checks.base import CheckOutput, Checker, Kind, Need, Option
from riskaudit.errors import PluginError, PolicyError
from riskaudit.registry import Registry
from riskaudit.result import Status
from riskaudit.testing import check_checker, run_check


class RowCount(Checker):
    id = "rowcount"
    description = "Counts rows and draws a seeded random number."
    kinds = {"too_many": Kind("more rows than allowed", direction="above", fail=100, warn=50)}
    options = {"scale": Option(1.0, "a multiplier", minimum=0.0)}

    def run(self, ctx):
        value = ctx.data.rows * self.config["scale"]
        noise = float(ctx.rng("noise").normal())
        f = ctx.finding("too_many", "rows", "{value} rows (limit {threshold}).", value=value,
                        evidence={"noise": noise})
        return CheckOutput([f], summary=f"The table has {value:g} rows.")


class Boom(Checker):
    id = "boom"
    description = "Always raises."
    kinds = {"x": Kind("never")}

    def run(self, ctx):
        raise RuntimeError("kaboom")


class NeedsModel(Checker):
    id = "needs_model"
    description = "Needs a model."
    needs = frozenset({Need.DATA, Need.MODEL})
    kinds = {"x": Kind("never")}

    def run(self, ctx):  # pragma: no cover - never reached without a model
        return CheckOutput([], "ran")


FRAME = pd.DataFrame({"a": np.arange(70), "y": [0, 1] * 35})


def test_levels_grade_values_and_policy_overrides_them():
    res = run_check(RowCount, data=FRAME, target="y")
    assert res.status == Status.WARN and res.findings[0].threshold == 50
    assert res.findings[0].message == "70 rows (limit 50)."
    pol = {"checks": {"rowcount": {"thresholds": {"too_many": {"fail": 60}}, "severity": {"too_many": "critical"}}}}
    res = run_check(RowCount, data=FRAME, target="y", policy=pol)
    assert res.status == Status.FAIL and res.findings[0].severity.value == "critical"


def test_conformance_helper_passes_and_is_deterministic():
    res = check_checker(RowCount, data=FRAME, target="y", seed=3)
    other = run_check(RowCount, data=FRAME, target="y", seed=4)
    assert res.findings[0].evidence["noise"] != other.findings[0].evidence["noise"]


def test_raising_checker_becomes_error_and_scan_goes_on():
    report = riskaudit.scan(data=FRAME, target="y", registry=Registry.from_classes([Boom, RowCount]),
                            policy={"name": "t"})
    assert report.check("boom").status == Status.ERROR
    assert "kaboom" in report.check("boom").summary
    assert report.check("rowcount").status == Status.WARN
    assert report.status == Status.ERROR and report.exit_code == 1


def test_unmet_needs_skip_with_reason():
    report = riskaudit.scan(data=FRAME, target="y", registry=Registry.from_classes([NeedsModel]),
                            policy={"name": "t"})
    res = report.check("needs_model")
    assert res.status == Status.SKIPPED and "no model was given" in res.summary
    assert report.exit_code == 0


def test_invalid_option_in_policy_names_checker_and_key():
    with pytest.raises(PolicyError, match=r"checks\.rowcount\.options\.scale: must be >= 0"):
        run_check(RowCount, data=FRAME, policy={"checks": {"rowcount": {"options": {"scale": -1}}}})
    with pytest.raises(PolicyError, match=r"checks\.rowcount\.options\.scael: unknown option"):
        run_check(RowCount, data=FRAME, policy={"checks": {"rowcount": {"options": {"scael": 1}}}})
    with pytest.raises(PolicyError, match=r"checks\.rowcount\.thresholds\.too_mny: unknown finding kind"):
        run_check(RowCount, data=FRAME, policy={"checks": {"rowcount": {"thresholds": {"too_mny": {"fail": 1}}}}})


def test_duplicate_id_and_malformed_class_raise_naming_plugin():
    class Again(RowCount):
        pass

    with pytest.raises(PluginError, match="registered twice"):
        Registry.from_classes([RowCount, Again])

    class NoKinds(Checker):
        id = "nokinds"
        description = "x"

        def run(self, ctx):
            return CheckOutput([], "")

    with pytest.raises(PluginError, match="declares no finding kinds"):
        Registry.from_classes([NoKinds])


def test_project_file_section_under_a_checker_id_is_that_checkers_options(tmp_path):
    from riskaudit.project import load_project

    path = tmp_path / "riskaudit.yaml"
    path.write_text("data: d.csv\nfairness: {positive_label: approved}\noptions: {fairness: {bootstrap: 0}}\n")
    assert load_project(path).values["options"]["fairness"] == {"positive_label": "approved", "bootstrap": 0}
    path.write_text("fairness: {bootstrap: 10}\noptions: {fairness: {bootstrap: 0}}\n")
    with pytest.raises(PolicyError, match=r"fairness\.bootstrap is also set under options\.fairness"):
        load_project(path)
    path.write_text("fairness: [1, 2]\n")
    with pytest.raises(PolicyError, match="must be a mapping"):
        load_project(path)
    path.write_text("fairnes: {bootstrap: 10}\n")
    with pytest.raises(PolicyError, match="unknown key 'fairnes'.*installed checker: .*fairness"):
        load_project(path)


def test_a_finding_is_immutable_and_serializes_as_before():
    """Findings are frozen once made, their evidence and value included (a change is a new
    finding via dataclasses.replace); the read-only copy gives the same JSON as the input."""
    import copy
    import dataclasses
    import json
    import pickle

    from riskaudit.result import Finding, FrozenList, Severity

    table = [{"group": "a", "share": np.float64(0.25)}, {"group": "b", "share": float("nan")}]
    evidence = {"table": table, "charts": [{"type": "bar", "labels": ["a"], "values": [1]}],
                "tags": {"x", "y"}, "array": np.arange(3), "advice": "Do this."}
    f = Finding(id="rowcount.too_many", status=Status.FAIL, severity=Severity.HIGH, subject="rows",
                message="m", value=[1, 2], threshold=1, evidence=evidence)
    expected = {"table": [{"group": "a", "share": 0.25}, {"group": "b", "share": None}],
                "charts": [{"type": "bar", "labels": ["a"], "values": [1]}], "tags": ["x", "y"],
                "array": [0, 1, 2], "advice": "Do this."}
    assert json.dumps(f.to_dict()["evidence"]) == json.dumps(expected)
    assert f.to_dict()["value"] == [1, 2]
    evidence["table"][0]["group"] = "changed later"  # the finding holds its own copy
    assert f.evidence["table"][0]["group"] == "a"
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.status = Status.PASS  # type: ignore[misc]
    for mutate in (lambda: f.evidence.__setitem__("advice", "x"), lambda: f.evidence["table"].append({}),
                   lambda: f.evidence["table"][0].__setitem__("group", "x"),
                   lambda: f.evidence["charts"][0]["labels"].append("b"), lambda: f.value.append(3),
                   lambda: f.evidence["tags"].add("z"), lambda: f.evidence["array"].__setitem__(0, 9)):
        with pytest.raises((TypeError, AttributeError, ValueError)):
            mutate()
    assert f.evidence["table"][0] == {"group": "a", "share": 0.25}  # equal to the dicts and lists it copies
    assert json.loads(json.dumps(f.evidence["charts"])) == expected["charts"]  # read like plain dicts and lists
    copied = copy.deepcopy(f)
    assert copied.to_dict() == f.to_dict() == pickle.loads(pickle.dumps(f)).to_dict()
    assert isinstance(copied.evidence["table"], FrozenList)
    changed = dataclasses.replace(f, evidence={**f.evidence, "advice": "Other."})
    assert changed.evidence["advice"] == "Other." and f.evidence["advice"] == "Do this."
