"""Conformance helpers for checker authors (built-in and third-party).

``check_checker(MyChecker, data=..., target=...)`` validates the class declaration, runs
it twice through the real :func:`riskaudit.scan` with the same seed, and asserts that it
ended without error, that every finding is a declared kind of this checker, that the
result is JSON-serializable, and that both runs gave identical findings. It returns the
:class:`~riskaudit.result.CheckResult` of the first run for further assertions.
"""

from __future__ import annotations

from typing import Any

from riskaudit.checks.base import Checker
from riskaudit.registry import Registry, validate_checker_class
from riskaudit.result import CheckResult, Status, canonical_json


def run_check(checker: type[Checker], **scan_kwargs: Any) -> CheckResult:
    """Run one checker through :func:`riskaudit.scan` and return its result."""
    from riskaudit.scan import scan

    scan_kwargs.setdefault("policy", {"name": "test"})
    report = scan(registry=Registry.from_classes([checker]), **scan_kwargs)
    return report.check(checker.id)


def check_checker(checker: type[Checker], *, allow_skip: bool = False, **scan_kwargs: Any) -> CheckResult:
    validate_checker_class(checker, f"{checker.__module__}:{checker.__qualname__}")
    checker.validate_options({})  # defaults must validate
    first = run_check(checker, **scan_kwargs)
    assert first.status != Status.ERROR, f"{checker.id} ended in error: {first.summary}"
    if first.status == Status.SKIPPED:
        assert allow_skip, f"{checker.id} was skipped: {first.summary}"
        return first
    assert first.summary and isinstance(first.summary, str), "a check needs a summary sentence"
    for f in first.findings:
        assert f.id.startswith(checker.id + "."), f"finding id {f.id!r} must start with {checker.id}."
        assert f.kind in checker.kinds, f"finding kind {f.kind!r} is not declared in {checker.id}.kinds"
        assert f.status in (Status.PASS, Status.WARN, Status.FAIL), f"bad finding status {f.status}"
        assert f.message, f"finding {f.id} on {f.subject!r} has no message"
    canonical_json(first.to_dict())  # raises on values JSON cannot hold
    second = run_check(checker, **scan_kwargs)
    strip = lambda r: [f.to_dict() for f in r.findings]  # noqa: E731
    assert strip(first) == strip(second), f"{checker.id}: two runs with the same seed differ"
    return first
