"""The trust policy file: every malformed entry is an input error naming the file and the key;
a valid one decides tiers and counts whatever the report says."""

from __future__ import annotations

import pytest
import yaml

from approval_support import SCANNER, make_key
from riskaudit.approvals import public_key_text
from riskaudit.errors import InputError
from riskaudit.trust import insecure_stand_in, load_trust_policy


@pytest.fixture()
def keys(tmp_path):
    return [make_key(tmp_path / "k", n)[2] for n in ("a", "b")]


def _doc(keys, **over):
    doc = {"scanners": {"ci": public_key_text(SCANNER.public_key())},
           "approvers": {"model-owner": {"Olivia": keys[0]}, "compliance": {"Carl": keys[1]}},
           "approvals": {"medium": {"pass": [{"role": "model-owner"}, {"role": "compliance", "count": 1}]}}}
    doc.update(over)
    return doc


def _write(tmp_path, doc):
    path = tmp_path / "trust.yaml"
    path.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)
    return path


def test_a_valid_policy(tmp_path, keys):
    trust = load_trust_policy(_write(tmp_path, _doc(keys, risk_tier="medium", approval_ttl_days=None)))
    assert trust.requirements("medium", "pass") == (("model-owner", 1), ("compliance", 1))
    assert trust.requirements("high", "pass") is None and trust.requirements("medium", "warn") is None
    assert trust.effective_tier("low") == "medium" and trust.effective_tier("high") == "high"
    assert trust.effective_tier("made-up") == "high"  # an unknown tier is judged at the strictest
    assert trust.approval_ttl_days is None and not trust.allow_warn and not trust.insecure
    assert trust.approvers["compliance"] == {keys[1]: "Carl"}


@pytest.mark.parametrize("change, message", [
    ({"scanner": {}}, "'scanner' is not a trust policy key"),
    ({"scanners": {"ci": "ed25519:AAAA"}}, "scanners.ci decodes to 3 bytes"),
    ({"scanners": {"ci": "ed25519:%%%"}}, "scanners.ci is not base64"),
    ({"scanners": {}}, "scanners must be a mapping of name"),
    ({"approvals": {"extreme": {}}}, "approvals.extreme is not a risk tier"),
    ({"approvals": {"low": {"fail": []}}}, "approvals.low.fail is not an outcome that can deploy"),
    ({"approvals": {"low": {"pass": [{"role": "janitor"}]}}}, "'janitor' has no approver keys"),
    ({"approvals": {"low": {"pass": [{"role": "compliance", "count": 2}]}}}, "lists only 1"),
    ({"approvals": {"low": {"pass": [{"role": "compliance", "count": 0}]}}}, "count must be a whole number"),
    ({"risk_tier": "extreme"}, "risk_tier must be one of"),
    ({"allow_warn": "yes"}, "allow_warn must be true or false"),
    ({"approval_ttl_days": -1}, "approval_ttl_days must be a positive number"),
    ({"require": {"model": True}}, "require must map model_hash / data_hash"),
    ({"audit_policies": ["lenient"]}, "neither a built-in policy name nor a sha256"),
])
def test_malformed_policy_is_an_input_error_naming_the_key(tmp_path, keys, change, message):
    with pytest.raises(InputError, match="--trust: .*trust.yaml") as err:
        load_trust_policy(_write(tmp_path, _doc(keys, **change)))
    assert message in str(err.value)


def test_one_key_cannot_be_two_people_of_a_role(tmp_path, keys):
    doc = _doc(keys)
    doc["approvers"]["compliance"] = {"Ada": keys[1], "Bob": " " + keys[1].removeprefix("ed25519:")}
    with pytest.raises(InputError, match="approvers.compliance.Bob repeats the key of 'Ada'"):
        load_trust_policy(_write(tmp_path, doc))


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "must be a mapping of keys"), ("a: [", "is not valid YAML"),
    ("valid_until: 2027-02-30\n", "is not valid YAML: a value cannot be read"),
    ("approvers: {}\napprovals: {}\n", "scanners is missing"),
])
def test_unreadable_policy(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        load_trust_policy(_write(tmp_path, text))
    with pytest.raises(InputError, match="does not exist"):
        load_trust_policy(tmp_path / "none.yaml")


def test_insecure_stand_in_copies_the_reports_own_requirements():
    report = {"risk_tier": "medium", "status": "warn", "approvals_required": [{"role": "x", "count": 2}],
              "manifest": {"approval_policy": {"allow_warn": True, "approval_ttl_days": 7}}}
    trust = insecure_stand_in(report)
    assert trust.insecure and trust.allow_warn and trust.approval_ttl_days == 7
    assert trust.requirements("medium", "warn") == (("x", 2),)
