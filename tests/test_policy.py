"""Policies: built-ins load, strict extends default, and errors name the file and the key."""

import pytest

from riskaudit.errors import PolicyError
from riskaudit.policy import builtin_policy_names, load_policy


def test_builtin_policies_load_and_differ():
    assert {"default", "strict"} <= set(builtin_policy_names())
    default, strict = load_policy("default"), load_policy("strict")
    assert default.risk_tier == "medium" and strict.risk_tier == "high"
    assert default.allow_warn is True and strict.allow_warn is False
    assert default.sha256 != strict.sha256 and len(default.sha256) == 64
    assert [r["role"] for r in strict.approvals_for("high", "pass")] == ["model-owner", "compliance", "risk-officer"]
    assert strict.approvals_for("high", "error") == strict.approvals_for("high", "fail")


@pytest.mark.parametrize("text, needle", [
    ("risk_tier: medium\nthreshholds: {}\n", "threshholds: unknown key"),
    ("risk_tier: 3\n", "risk_tier: must be one of"),
    ("allow_warn: 'yes'\n", "allow_warn: must be true or false"),
    ("checks:\n  x:\n    enabeld: true\n", "checks.x.enabeld: unknown key"),
    ("checks:\n  x:\n    thresholds:\n      k: {fail: high}\n", "checks.x.thresholds.k.fail: must be a number"),
    ("checks:\n  x:\n    severity:\n      k: huge\n", "checks.x.severity.k: must be one of"),
    ("approvals:\n  medium:\n    pass: [{role: owner, count: 0}]\n", "approvals.medium.pass[0].count"),
    ("approvals:\n  extreme: {}\n", "approvals.extreme: unknown risk tier"),
    ("approval_ttl_days: -1\n", "approval_ttl_days: must be a positive number"),
    ("extends: nosuch\n", "extends: must name a built-in policy"),
    ("- a\n- b\n", "must be a mapping"),
])
def test_invalid_policies_name_file_and_key(tmp_path, text, needle):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(str(path))
    assert str(path) in str(info.value) and needle in str(info.value)


def test_unknown_checker_in_policy_is_an_error():
    from riskaudit.registry import Registry

    pol = load_policy({"checks": {"nosuch": {"enabled": True}}})
    with pytest.raises(PolicyError, match="checks.nosuch: unknown checker"):
        pol.validate_checks(Registry([]))
