"""The conformance suite for checkers, built-in and third-party, in the style of
scikit-learn's estimator checks (``sklearn.utils.estimator_checks.parametrize_with_checks``).

Each property a checker must have is one named function ``check_<property>(case)`` that
raises :class:`ConformanceError` with a message saying what the checker must do (never a
bare ``assert``: the suite also works under ``python -O``). A :class:`Case` is a checker
class plus the inputs of one scan (``riskaudit.scan`` keyword arguments: real data, a
real model). Use it from pytest, one test per check::

    from riskaudit.testing import Case, parametrize_with_checks

    @parametrize_with_checks([
        Case(LoanCostChecker, data=frame, model=net, target="approved"),
        Case(LoanCostChecker, data=frame, name="no-model", allow_skip=True),
    ])
    def test_conformance(case, check):
        check(case)

or all at once with :func:`check_checker` (returns the checker's result for your own
assertions). The checks:

``check_declaration``            the class is well formed (id, description, needs, documented
                                 options and kinds) and its option defaults validate
``check_option_validation``      unknown and invalid options are refused, naming the key, both
                                 by the class and through a policy (exit 2 in the CLI)
``check_runs``                   the scan runs it to a result that is not ``error`` (nor
                                 ``skipped`` unless the case allows it), with a summary sentence
``check_findings_well_formed``   finding ids ``<id>.<kind>`` of declared kinds, statuses, a
                                 message, scalar values, JSON-serializable evidence; the check's
                                 status is its worst finding
``check_evidence_conventions``   ``advice`` is text, tables are lists of row mappings, every
                                 chart spec is valid (``riskaudit.reports.svg.validate_chart``)
``check_deterministic``          two scans with the same seed give the same findings and summary
                                 (findings of ``Kind(timed=True)`` kinds: the same ids and subjects)
``check_no_printing``            nothing reaches stdout or stderr (warnings and log records aside)
``check_global_state_untouched`` the global random states (random, numpy, torch), torch's thread
                                 count, environment variables and logger levels are as before
``check_no_state_on_instance``   ``run`` sets, replaces or changes no attribute of the checker
                                 instance (per-run state lives in locals or a run object)
``check_masking_respected``      values of columns marked as personal data
                                 (``ctx.shared["pii_columns"]``) never appear unmasked
                                 (only for cases whose data has identifying text columns)
``check_model_state_restored``   the model's weights, train/eval flags, ``requires_grad`` and
                                 gradients are as before (only for cases with a torch module)

Scans of one case are cached on it, so the checks share three scans per case. The global
state is compared around the second scan: the first may import libraries for the first time.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import random
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np

from riskaudit.checks.base import Checker, CheckOutput, Kind, OptionError
from riskaudit.errors import PolicyError, RiskauditError
from riskaudit.registry import Registry, validate_checker_class
from riskaudit.result import CheckResult, Finding, Severity, Status, canonical_json

__all__ = [
    "Case", "ConformanceError", "CHECKS", "checks", "parametrize_with_checks", "check_checker", "run_check",
    "check_declaration", "check_option_validation", "check_runs", "check_findings_well_formed",
    "check_evidence_conventions", "check_deterministic", "check_no_printing", "check_global_state_untouched",
    "check_masking_respected", "check_model_state_restored", "check_no_state_on_instance",
]


class ConformanceError(AssertionError):
    """A checker does not have a property every checker must have; the message says which."""


@dataclass(eq=False)
class Case:
    """One conformance scenario: a checker class and the ``riskaudit.scan`` inputs to run it on.

    ``Case(MyChecker, data=frame, model=net, target="y", options={"my_id": {...}})``.
    ``allow_skip``: the checker may skip on these inputs (e.g. a case without a model).
    """

    checker: type[Checker]
    scan_kwargs: dict[str, Any]
    allow_skip: bool = False
    name: str | None = None
    _runs: dict[str, Any] = field(default_factory=dict, repr=False)

    def __init__(self, checker: type[Checker], *, allow_skip: bool = False, name: str | None = None,
                 **scan_kwargs: Any) -> None:
        self.checker = checker
        self.scan_kwargs = dict(scan_kwargs)
        self.allow_skip = allow_skip
        self.name = name
        self._runs = {}

    @property
    def id(self) -> str:
        return self.name or str(getattr(self.checker, "id", self.checker.__name__))

    def __repr__(self) -> str:
        return f"Case({self.checker.__name__}, {self.id})"


def _fail(case: Case, what: str) -> NoReturn:
    raise ConformanceError(f"checker {getattr(case.checker, 'id', case.checker.__name__)!r} "
                           f"({case.checker.__module__}.{case.checker.__qualname__}), case {case.id!r}: {what}")


def run_check(checker: type[Checker], **scan_kwargs: Any) -> CheckResult:
    """Run one checker through :func:`riskaudit.scan` and return its result."""
    from riskaudit.scan import scan

    scan_kwargs.setdefault("policy", {"name": "test"})
    report = scan(registry=Registry.from_classes([checker]), **scan_kwargs)
    return report.check(checker.id)


def _run(case: Case, *, extra: Sequence[type[Checker]] = (), verbose: bool = False,
         checker: type[Checker] | None = None) -> CheckResult:
    from riskaudit.scan import scan

    kwargs = dict(case.scan_kwargs)
    kwargs.setdefault("policy", {"name": "test"})
    try:
        report = scan(registry=Registry.from_classes([checker or case.checker, *extra]), verbose=verbose, **kwargs)
    except RiskauditError as exc:
        _fail(case, f"the scan refused the case's inputs: {exc}")
    return report.check(case.checker.id)


# ----------------------------------------------------------------------------- snapshots

def _attributes(obj: object) -> dict[str, tuple[Any, Any]]:
    """The instance's attributes: each value and, for a dict, list or set, its contents (by
    identity), so a replaced attribute and one changed in place are both seen."""
    out: dict[str, tuple[Any, Any]] = {}
    for name, value in vars(obj).items():
        contents: Any = None
        if isinstance(value, dict):
            contents = [(k, id(v)) for k, v in value.items()]
        elif isinstance(value, (list, set)):
            contents = [id(v) for v in value]
        out[name] = (value, contents)
    return out


def _attribute_changes(before: Mapping[str, tuple[Any, Any]], after: Mapping[str, tuple[Any, Any]]) -> list[str]:
    out = [f"set self.{n}" for n in after if n not in before]
    out += [f"deleted self.{n}" for n in before if n not in after]
    for n in before.keys() & after.keys():
        if after[n][0] is not before[n][0]:
            out.append(f"replaced self.{n}")
        elif after[n][1] != before[n][1]:
            out.append(f"changed self.{n} in place")
    return sorted(out)


def _instrumented(cls: type[Checker]) -> tuple[type[Checker], list[str]]:
    """``cls`` whose ``run`` records what it did to the instance's attributes."""
    changes: list[str] = []

    class Instrumented(cls):  # type: ignore[valid-type,misc]
        def run(self, ctx: Any) -> CheckOutput:
            before = _attributes(self)
            try:
                return super().run(ctx)
            finally:
                changes.extend(_attribute_changes(before, _attributes(self)))

    Instrumented.__name__, Instrumented.__qualname__ = cls.__name__, cls.__qualname__
    Instrumented.__module__ = cls.__module__
    return Instrumented, changes


def _process_state() -> dict[str, Any]:
    import torch

    loggers = {name: (lg.level, lg.propagate, lg.disabled) for name, lg in logging.Logger.manager.loggerDict.items()
               if isinstance(lg, logging.Logger)}
    return {
        "the Python random state": random.getstate(),
        "numpy's global random state": repr(np.random.get_state(legacy=True)),
        "torch's global random state": torch.get_rng_state().numpy().tobytes(),
        "torch's thread count": torch.get_num_threads(),
        "torch's grad mode": torch.is_grad_enabled(),
        "the environment variables": dict(os.environ),
        "the root logger's level": logging.getLogger().level,
        "logging.disable": logging.root.manager.disable,
        "_loggers": loggers,
    }


def _state_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    out = [k for k in before if not k.startswith("_") and before[k] != after[k]]
    if out and "the environment variables" in out:
        a, b = before["the environment variables"], after["the environment variables"]
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        out[out.index("the environment variables")] = f"the environment variables ({', '.join(keys[:8])})"
    changed = sorted(n for n, v in before["_loggers"].items() if after["_loggers"].get(n, v) != v)
    if changed:
        out.append(f"the level or propagation of loggers {', '.join(changed[:8])}")
    return out


def _torch_module(case: Case) -> Any:
    model = case.scan_kwargs.get("model")
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    return model if isinstance(model, torch.nn.Module) else None


def _module_state(module: Any) -> dict[str, Any]:
    return {
        "weights": {k: v.detach().clone() for k, v in module.state_dict().items()},
        "train flags": [m.training for m in module.modules()],
        "requires_grad": [p.requires_grad for p in module.parameters()],
        "gradients": [None if p.grad is None else p.grad.detach().clone() for p in module.parameters()],
    }


def _reference(case: Case) -> dict[str, Any]:
    """The first scan of a case, with what it printed and the model state around it."""
    if "reference" in case._runs:
        return case._runs["reference"]
    module = _torch_module(case)
    model_before = _module_state(module) if module is not None else None
    out, err = io.StringIO(), io.StringIO()
    disabled = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # log records are not prints; the CLI decides where they go
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("ignore")
            result = _run(case, verbose=True)  # verbose: the scan's own silencing is off
    finally:
        logging.disable(disabled)
    case._runs["reference"] = {
        "result": result, "stdout": out.getvalue(), "stderr": err.getvalue(),
        "model": (model_before, _module_state(module) if module is not None else None),
    }
    return case._runs["reference"]


_PROBE_SEED = 918_273_645


def _second(case: Case) -> dict[str, Any]:
    """A second, plain scan of the case, with the process state around it. (The first scan
    may import libraries for the first time, whose import-time effects are not the checker's.)"""
    if "second" not in case._runs:
        import torch

        _reference(case)
        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
        # Distinctive global states (a checker that seeds them with a constant would leave
        # them as the first scan did), then the caller's states back.
        random.seed(_PROBE_SEED)
        np.random.seed(_PROBE_SEED)  # noqa: NPY002
        torch.manual_seed(_PROBE_SEED)
        instrumented, changes = _instrumented(case.checker)
        try:
            before = _process_state()
            result = _run(case, checker=instrumented)
            after = _process_state()
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])  # noqa: NPY002
            torch.set_rng_state(saved[2])
        case._runs["second"] = {"result": result, "state": (before, after), "instance": changes}
    return case._runs["second"]


def _ran(case: Case) -> CheckResult | None:
    """The reference result when the checker ran (None when it was allowed to skip)."""
    res = _reference(case)["result"]
    if res.status == Status.ERROR:
        _fail(case, f"it ended in error: {res.summary}")
    if res.status == Status.SKIPPED:
        if not case.allow_skip:
            _fail(case, f"it was skipped: {res.summary} (give the case the inputs it needs, "
                        "or Case(..., allow_skip=True))")
        return None
    return res


# ----------------------------------------------------------------------------- the checks

def check_declaration(case: Case) -> None:
    """The class is a well-formed checker whose declared defaults validate."""
    cls = case.checker
    try:
        validate_checker_class(cls, f"{cls.__module__}:{cls.__qualname__}")
    except RiskauditError as exc:
        _fail(case, str(exc))
    if "\n" in cls.description.strip():
        _fail(case, "the description must be one line (it heads the check in every report)")
    for name, kind in cls.kinds.items():
        if not (name.isidentifier() and name == name.lower()):
            _fail(case, f"finding kind {name!r} must be a lower-case identifier (finding ids are <id>.<kind>)")
        if not isinstance(kind, Kind) or not kind.doc.strip():
            _fail(case, f"finding kind {name!r} needs a doc: what it means, for `riskaudit checks -v`")
    for name, opt in cls.options.items():
        if not opt.doc.strip():
            _fail(case, f"option {name!r} needs a doc")
    try:
        defaults = cls.validate_options({})
        cls.validate_options(dict(defaults))  # a default given explicitly is valid too
    except OptionError as exc:
        _fail(case, f"its declared default for option {exc.key!r} does not validate: {exc.reason}")


def _bad_values(opt: Any) -> list[Any]:
    """Values the option must refuse: of a type it does not take, outside its choices or bounds."""
    typ = opt.type if opt.type is not None else type(opt.default)
    types = set(typ if isinstance(typ, tuple) else (typ,))
    if float in types:
        types.add(int)
    if list in types or tuple in types:
        types |= {list, tuple}
    bad: list[Any] = [v for v in ("a lot", 12345, 0.5, [1, 2], {"a": 1})
                      if not isinstance(v, tuple(types)) and not (isinstance(v, int) and float in types)]
    if bool not in types:
        bad.append(True)
    if opt.choices is not None and str in types:
        bad.append("__not_one_of_the_choices__")
    if opt.minimum is not None:
        bad.append(opt.minimum - 1)
    if opt.maximum is not None:
        bad.append(opt.maximum + 1)
    return bad


def check_option_validation(case: Case) -> None:
    """Unknown and invalid options are refused with an error naming the key, before any run."""
    from riskaudit.scan import scan

    cls = case.checker
    try:
        cls.validate_options({"__no_such_option__": 1})
    except OptionError as exc:
        if exc.key != "__no_such_option__":
            _fail(case, f"an unknown option was refused under the wrong key {exc.key!r}")
    else:
        _fail(case, "an unknown option was accepted; options must be declared in `options`")
    for name, opt in cls.options.items():
        for value in _bad_values(opt):
            try:
                cls.validate_options({name: value})
            except OptionError as exc:
                if exc.key != name:
                    _fail(case, f"the invalid value {value!r} of option {name!r} was reported under {exc.key!r}")
            else:
                _fail(case, f"option {name!r} accepted the invalid value {value!r}; declare its type, "
                            "choices or bounds on its Option")
    probe = next(((n, v) for n, o in cls.options.items() for v in _bad_values(o)), ("__no_such_option__", 1))
    policy = {"name": "conformance", "checks": {cls.id: {"options": {probe[0]: probe[1]}}}}
    try:
        scan(registry=Registry.from_classes([cls]), policy=policy)
    except PolicyError as exc:
        if f"checks.{cls.id}.options.{probe[0]}" not in str(exc):
            _fail(case, f"a policy's invalid option was reported without its key path: {exc}")
    else:
        _fail(case, f"a policy setting option {probe[0]!r} to {probe[1]!r} was accepted")


def check_runs(case: Case) -> None:
    """The scan runs the checker to a result (not ``error``) with a plain summary sentence."""
    res = _ran(case)
    summary = (res or _reference(case)["result"]).summary
    if not isinstance(summary, str) or not summary.strip():
        _fail(case, "the check needs a summary: one sentence a compliance officer understands")
    if "{" in summary and "}" in summary and any(p in summary for p in ("{value", "{threshold", "{status")):
        _fail(case, f"the summary has an unfilled placeholder: {summary!r}")


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str, np.integer, np.floating, np.bool_))


def check_findings_well_formed(case: Case) -> None:
    """Findings are of declared kinds, graded pass/warn/fail, with a message and JSON-safe data."""
    res = _ran(case)
    if res is None:
        return
    cls = case.checker
    for f in res.findings:
        where = f"finding {f.id!r} on {f.subject!r}"
        if not isinstance(f, Finding):
            _fail(case, f"{where} is a {type(f).__name__}, not a Finding (build it with ctx.finding)")
        if not f.id.startswith(cls.id + ".") or f.kind not in cls.kinds:
            _fail(case, f"{where}: the id must be '{cls.id}.<kind>' of a kind declared in {cls.__name__}.kinds")
        if f.status not in (Status.PASS, Status.WARN, Status.FAIL):
            _fail(case, f"{where}: a finding's status is pass, warn or fail, got {f.status}")
        if not isinstance(f.severity, Severity):
            _fail(case, f"{where}: severity must be a Severity")
        if not isinstance(f.subject, str) or not f.subject:
            _fail(case, f"{where}: the subject names what the finding is about (a column, group, attack...)")
        if not isinstance(f.message, str) or not f.message.strip():
            _fail(case, f"{where} has no message")
        if any(p in f.message for p in ("{value}", "{threshold}", "{status}")):
            _fail(case, f"{where}: unfilled placeholder in {f.message!r}")
        for label, v in (("value", f.value), ("threshold", f.threshold)):
            if not _is_scalar(v):
                _fail(case, f"{where}: {label} must be a number, text or None, got {type(v).__name__}")
        if not isinstance(f.evidence, Mapping):
            _fail(case, f"{where}: evidence must be a mapping")
    try:
        canonical_json(res.to_dict())
    except (TypeError, ValueError) as exc:
        _fail(case, f"the result cannot be written as JSON: {exc}")
    worst = Status.worst((f.status for f in res.findings), Status.PASS)
    if res.status != worst:
        _fail(case, f"the check's status {res.status.value} is not its worst finding's ({worst.value})")


def _evidence_problems(where: str, evidence: Mapping[str, Any]) -> list[str]:
    from riskaudit.reports.svg import render_chart, validate_chart

    problems = []
    advice = evidence.get("advice")
    if advice is not None and not isinstance(advice, str):
        problems.append(f"{where}: 'advice' must be text")
    charts = evidence.get("charts")
    if charts is not None:
        if not isinstance(charts, (list, tuple)):
            problems.append(f"{where}: 'charts' must be a list of chart specs")
        else:
            for spec in charts:
                bad = validate_chart(spec)
                title = spec.get("title") if isinstance(spec, Mapping) else spec
                if bad:
                    problems.append(f"{where}: chart {title!r}: {'; '.join(bad)}")
                elif not render_chart(spec):
                    problems.append(f"{where}: chart {title!r} does not render")
    for key, val in evidence.items():
        if key in ("charts", "advice") or not isinstance(val, (list, tuple)) or not val:
            continue
        if any(isinstance(r, Mapping) for r in val) and not all(isinstance(r, Mapping) for r in val):
            problems.append(f"{where}: table {key!r} mixes rows that are mappings with rows that are not")
    return problems


def check_evidence_conventions(case: Case) -> None:
    """Evidence and metrics follow the conventions the renderers understand."""
    res = _ran(case)
    if res is None:
        return
    problems = _evidence_problems("metrics", res.metrics)
    for f in res.findings:
        problems += _evidence_problems(f"finding {f.id!r} on {f.subject!r}", f.evidence)
    if problems:
        _fail(case, "evidence the reports cannot show: " + " | ".join(problems[:5]))


def check_deterministic(case: Case) -> None:
    """Two scans with the same seed give identical findings and summary."""
    first = _ran(case)
    if first is None:
        return
    second = _second(case)["result"]

    def comparable(f: Finding) -> dict[str, Any]:
        kind = case.checker.kinds.get(f.kind)
        full = f.to_dict()
        return {k: full[k] for k in ("id", "subject")} if kind is not None and kind.timed else full

    a, b = [comparable(f) for f in first.findings], [comparable(f) for f in second.findings]
    if a != b or first.summary != second.summary:
        diff = next((f"{x['id']} on {x['subject']!r}: {x['message']!r} then {y['message']!r}"
                     for x, y in zip(a, b) if x != y), f"{len(a)} then {len(b)} findings")
        _fail(case, "two scans with the same seed differ (take randomness from ctx.rng(name) or "
                    f"ctx.seed_for(name), never from global state): {diff}")


def check_no_printing(case: Case) -> None:
    """The checker writes nothing to stdout or stderr; the CLI owns the terminal."""
    ref = _reference(case)
    for stream in ("stdout", "stderr"):
        if ref[stream]:
            _fail(case, f"it wrote to {stream} (return findings, summary and metrics instead; report "
                        f"progress with ctx.progress): {ref[stream][:200]!r}")


def check_global_state_untouched(case: Case) -> None:
    """Global random states, torch's thread count, env vars and logger levels are unchanged."""
    _ran(case)
    before, after = _second(case)["state"]
    changed = _state_changes(before, after)
    if changed:
        _fail(case, f"the scan changed {', '.join(changed)}; use ctx.rng(name) and the scoped helpers "
                    "of riskaudit._scope (they put back what they change)")


def check_no_state_on_instance(case: Case) -> None:
    """``run`` leaves the checker instance's attributes as they were: per-run state lives in
    locals or a run object, so one instance can run twice (or on two scans) without one run
    seeing the other's data, and what a run held is freed when it ends."""
    _ran(case)
    changes = _second(case)["instance"]
    if changes:
        _fail(case, f"run() {', '.join(dict.fromkeys(changes))}: keep per-run state in locals or a run object "
                    "passed to your helpers, never on the checker instance")


def _pii_candidates(case: Case) -> tuple[list[str], list[str]]:
    """Identifying text columns of the case's data (mostly distinct values; not the target or a
    sensitive attribute), and their values."""
    from riskaudit.data import load_dataset

    skip = {case.scan_kwargs.get("target"), *(case.scan_kwargs.get("sensitive") or ())}
    columns: dict[str, None] = {}
    values: set[str] = set()
    for role in ("data", "reference"):
        src = case.scan_kwargs.get(role)
        if src is None:
            continue
        frame = load_dataset(src, role).frame
        names = {str(c) for c in frame.columns}
        for col in frame.columns:
            if col in skip or frame[col].dtype != object:
                continue
            distinct = frame[col].dropna().astype(str).unique()
            if len(distinct) < 10 or len(distinct) < 0.5 * frame[col].notna().sum():
                continue  # categories ("female", "second"), not identifying values like names or e-mails
            texts = {v for v in distinct[:500]
                     if len(v) >= 6 and v not in names and not v.replace(".", "").replace("-", "").isdigit()}
            if texts:
                columns[str(col)] = None
                values |= texts
    return list(columns), sorted(values)


def _marker(columns: Sequence[str]) -> type[Checker]:
    class PiiMarker(Checker):
        id = "conformance_pii_marker"
        description = "Marks the case's text columns as personal data, as the pii checker would."
        needs = frozenset()
        priority = -(10 ** 6)
        kinds = {"marked": Kind("columns marked as personal data")}

        def run(self, ctx):
            ctx.shared["pii_columns"] = {**dict(ctx.shared.get("pii_columns") or {}),
                                         **{c: "PERSON" for c in columns}}
            return CheckOutput([], f"{len(columns)} column(s) marked as personal data.")

    return PiiMarker


def check_masking_respected(case: Case) -> None:
    """Values of columns marked as personal data never appear unmasked in the result."""
    columns, values = _pii_candidates(case)
    if not columns:
        _fail(case, "this case has no text columns to mark; run check_masking_respected on a case that has")
    res = case._runs.get("masked") or _run(case, extra=[_marker(columns)])
    case._runs["masked"] = res
    text = json.dumps(res.to_dict(), ensure_ascii=False)
    leaked = [v for v in values if v in text]
    if leaked:
        _fail(case, f"values of columns marked as personal data ({', '.join(columns[:5])}) appear unmasked, "
                    f"e.g. {leaked[0][:1]}***: pass examples through riskaudit.masking.safe_example with "
                    "ctx.shared['pii_columns']")


def check_model_state_restored(case: Case) -> None:
    """The model's weights, train/eval flags, requires_grad and gradients are as before."""
    import torch

    before, after = _reference(case)["model"]
    if before is None:
        _fail(case, "this case has no torch module; run check_model_state_restored on one that has")
    for key in ("train flags", "requires_grad"):
        if before[key] != after[key]:
            _fail(case, f"the model's {key} changed")
    for name, t in before["weights"].items():
        if not torch.equal(t, after["weights"][name]):
            _fail(case, f"the model's weight {name!r} changed: a checker must never modify the model")
    for i, (a, b) in enumerate(zip(before["gradients"], after["gradients"])):
        if (a is None) != (b is None) or (a is not None and not torch.equal(a, b)):
            _fail(case, f"the gradient of parameter {i} was left changed (zero or restore .grad after use)")


CHECKS: tuple[Callable[[Case], None], ...] = (
    check_declaration, check_option_validation, check_runs, check_findings_well_formed,
    check_evidence_conventions, check_deterministic, check_no_printing, check_global_state_untouched,
    check_no_state_on_instance,
)
"""The checks every case runs; :func:`checks` adds the masking and model-state checks
where the case's inputs make them meaningful."""


def checks(case: Case) -> Iterator[Callable[[Case], None]]:
    """The checks that apply to ``case``, in order."""
    yield from CHECKS
    if _pii_candidates(case)[0]:
        yield check_masking_respected
    if _torch_module(case) is not None:
        yield check_model_state_restored


def parametrize_with_checks(cases: Sequence[Case]) -> Any:
    """``pytest.mark.parametrize("case, check", ...)`` over every applicable check of every
    case, with ids ``<case>-<check>``; the test body is ``check(case)``."""
    import pytest

    params = [(case, check) for case in cases for check in checks(case)]
    ids = [f"{case.id}-{check.__name__.removeprefix('check_')}" for case, check in params]
    return pytest.mark.parametrize("case, check", params, ids=ids)


def check_checker(checker: type[Checker], *, allow_skip: bool = False, **scan_kwargs: Any) -> CheckResult:
    """Run every applicable check on one case; return the checker's result of the first scan."""
    case = Case(checker, allow_skip=allow_skip, **scan_kwargs)
    for check in checks(case):
        check(case)
    return _reference(case)["result"]
