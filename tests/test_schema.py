"""One JSON Schema (generated from the checkers' Option declarations) validates checker
options, policies and project files; a bad option stops the scan with exit 2 naming the key,
before any checker runs."""

from __future__ import annotations

import pytest
import yaml
from jsonschema import Draft202012Validator

from helpers import assert_usage_error, run_cli
from riskaudit.errors import PolicyError
from riskaudit.policy import builtin_policy_dir, builtin_policy_names, load_policy
from riskaudit.project import PROJECT_KEYS, load_project
from riskaudit.registry import Registry
from riskaudit.schema import checker_options_schema, errors, policy_schema, project_schema


@pytest.fixture(scope="module")
def checkers():
    reg = Registry.from_entry_points()
    return {cid: reg[cid] for cid in reg.ids}


def test_generated_schemas_are_valid_json_schema_and_builtin_policies_pass(checkers):
    for schema in [policy_schema(checkers, builtin_policy_names()), project_schema(PROJECT_KEYS, checkers),
                   *[checker_options_schema(c) for c in checkers.values()]]:
        Draft202012Validator.check_schema(schema)
    for name in builtin_policy_names():
        doc = yaml.safe_load((builtin_policy_dir() / f"{name}.yaml").read_text())
        assert errors(doc, policy_schema(checkers, builtin_policy_names())) == []
    # every default of every option satisfies its own schema
    for cid, cls in checkers.items():
        defaults = {n: list(o.default) if isinstance(o.default, tuple) else o.default
                    for n, o in cls.options.items()}
        assert errors(defaults, checker_options_schema(cls)) == [], cid


@pytest.mark.parametrize("options, needle", [
    ({"drift": {"alpha": 2}}, "checks.drift.options.alpha: must be <= 0.5"),
    ({"drift": {"correction": "holm"}}, "checks.drift.options.correction: must be one of"),
    ({"consistency": {"batch_sizes": [1, 0]}}, "checks.consistency.options.batch_sizes[1]: must be >= 1, got 0"),
    ({"licenses": {"exceptions": [{"component": "data:data"}]}},
     "checks.licenses.options.exceptions[0].justification: a written 'justification' (at least 10 characters)"),
    ({"licenses": {"exceptions": [{"component": "data:data", "justification": "reviewed by legal in 2026",
                                   "expires": "2027-02-30"}]}},
     "checks.licenses.options.exceptions[0].expires: 'expires' must be a date YYYY-MM-DD, got '2027-02-30'"),
    ({"licenses": {"exceptions": [{"component": "data:data", "justification": "reviewed by legal in 2026",
                                   "expires": "2027-01-31", "kind": "nope"}]}},
     "checks.licenses.options.exceptions[0].kind: unknown finding kind of licenses, got 'nope'"),
    ({"performance": {"minimums": {"hihg": {"accuracy": 0.8}}}},
     "checks.performance.options.minimums.hihg: unknown risk tier (known: low, medium, high)"),
    ({"performance": {"minimums": {"high": {"acuracy": 0.8}}}},
     "checks.performance.options.minimums.high.acuracy: unknown metric (known: accuracy, balanced_accuracy"),
    ({"performance": {"minimums": {"high": {"accuracy": "0.8"}}}},
     "checks.performance.options.minimums.high.accuracy: must be a number, got '0.8'"),
    ({"fairness": {"reference_groups": {1: "men"}}},
     "checks.fairness.options.reference_groups[1]: keys must be attribute names, got 1"),
    ({"licenses": {"sofware": "none"}}, "checks.licenses.options.sofware: unknown option"),
    ({"data_validity": {"chance_ratio": 2}}, "checks.data_validity.options.chance_ratio: must be <= 1"),
])
def test_bad_policy_option_names_the_key(tmp_path, options, needle):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"extends": "default", "checks": {c: {"options": o} for c, o in options.items()}}))
    pol = load_policy(str(path))
    with pytest.raises(PolicyError) as info:
        pol.validate_checks(Registry.from_entry_points())
        from riskaudit.scan import _checker_options
        _checker_options(Registry.from_entry_points(), pol, {})
    assert needle in str(info.value) and "mine.yaml" in str(info.value)


def test_project_file_keys_and_options_are_checked_before_any_checker(tmp_path):
    bad_type = tmp_path / "a.yaml"
    bad_type.write_text("data: d.csv\nseed: many\n")
    with pytest.raises(PolicyError, match="'seed': must be an integer"):
        load_project(bad_type)
    (tmp_path / "d.csv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,0\n")
    bad_option = tmp_path / "riskaudit.yaml"
    bad_option.write_text("data: d.csv\ntarget: y\noptions:\n  licenses:\n    distribution: everywhere\n")
    proc = run_cli("scan", str(bad_option), "--out", str(tmp_path / "never"), cwd=tmp_path)
    assert_usage_error(proc, "licenses", "distribution", "everywhere")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("where", ["project", "policy"])
def test_a_date_that_does_not_exist_is_exit_2_naming_the_file(tmp_path, where):
    """YAML builds ``2027-02-30`` as a date and fails (a ValueError, not a YAML error): one
    message naming the file, exit 2, and a real date in the same place is accepted."""
    (tmp_path / "d.csv").write_text("a,y\n1,0\n3,1\n5,0\n6,1\n")
    exc = ('{component: "data:data", justification: "reviewed by legal in 2026", expires: %s}')
    if where == "project":
        path = tmp_path / "riskaudit.yaml"
        body = "data: d.csv\ntarget: y\nlicenses:\n  software: none\n  exceptions:\n    - " + exc
        args = [str(path)]
    else:
        path = tmp_path / "mine.yaml"
        body = "extends: default\nchecks:\n  licenses:\n    options:\n      exceptions:\n        - " + exc
        args = ["--data", "d.csv", "--target", "y", "--policy", str(path)]
    path.write_text(body % "2027-02-30")
    proc = run_cli("scan", *args, "--check", "licenses", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert_usage_error(proc, path.name, "day is out of range for month")
    path.write_text(body % "2027-02-28")
    proc = run_cli("scan", *args, "--check", "licenses", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr


def test_every_built_in_policy_passes_the_full_validation_a_user_policy_gets(tmp_path):
    """A scan skips the schema for the built-in policies (:attr:`Policy.packaged`); this is
    the check it relies on: each one, loaded as an ordinary file, passes every step a user's
    policy goes through (the schema, each checker section, each checker's options)."""
    reg = Registry.from_entry_points()
    for name in builtin_policy_names():
        copy = tmp_path / f"{name}.yaml"
        copy.write_bytes((builtin_policy_dir() / f"{name}.yaml").read_bytes())
        pol = load_policy(str(copy))
        assert not pol.packaged
        pol.validate_checks(reg)
        for cid in reg.ids:
            reg[cid].validate_options(pol.options(cid))


def test_options_validated_once_are_not_trusted_for_other_values():
    """The memo of validated options is keyed by their content: a bad value after a good one
    of the same checker is still refused."""
    from riskaudit.checks.base import OptionError
    from riskaudit.checks.drift import DriftChecker

    assert DriftChecker.validate_options({"alpha": 0.01})["alpha"] == 0.01
    assert DriftChecker.validate_options({"alpha": 0.01})["alpha"] == 0.01
    with pytest.raises(OptionError, match="0.5"):
        DriftChecker.validate_options({"alpha": 2})
