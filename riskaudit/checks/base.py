"""The checker plugin interface. Built-in checkers and third-party plugins use it alike.

The plugin author's guide is ``docs/plugins.md``: every ``CheckContext``, ``Dataset`` and
``Model`` member a checker may use, ``ctx.shared``, the evidence conventions and every chart
spec with an example. ``examples/plugin/`` is a complete third-party checker. In short:

Writing a checker
=================

A checker is a subclass of :class:`Checker` in its own module, registered under the
entry-point group ``riskaudit.checks`` in the distribution's ``pyproject.toml``::

    [project.entry-points."riskaudit.checks"]
    my_check = "my_package.my_module:MyChecker"

The entry-point name must equal the class's ``id``. A checker declares, as class
attributes:

``id``
    lower-case identifier; finding ids are ``<id>.<kind>``.
``description``
    one line for ``riskaudit checks`` and the report.
``needs``
    a frozenset of :class:`Need`; when one is not met the scan records the check as
    ``skipped`` with the reason and never calls ``run``.
``options``
    a mapping of option name to :class:`Option` (default, type, constraint, doc). The
    policy's ``checks.<id>.options`` and the project file's section under the checker's id
    (or ``options.<id>``) are validated against it; an unknown or invalid key stops the scan
    with exit 2 naming the file, the checker and the key. ``self.config`` holds the values.
``kinds``
    a mapping of finding kind to :class:`Kind`: the default ``fail`` / ``warn`` levels,
    which direction is bad, and the default severity. Policies override levels and
    severities per kind (``checks.<id>.thresholds.<kind>.fail``).
``priority``
    checkers run in ascending priority (default 100); a checker whose results others use
    (``pii`` marks personal-data columns for masking) runs earlier.

``run(ctx)`` receives a :class:`CheckContext` (the inputs: ``ctx.data`` and
``ctx.reference`` are :class:`riskaudit.data.Dataset`, ``ctx.model`` a
:class:`riskaudit.model.Model`) and returns a :class:`CheckOutput`. It builds findings with
:meth:`CheckContext.finding`, which grades a value against the policy's levels for that
kind; ``evidence`` holds tables (lists of row mappings), ``advice`` and ``charts`` (specs
documented in :mod:`riskaudit.reports.svg`). A checker never prints, never writes files,
never calls ``sys.exit`` and never seeds global random state: it takes its generators from
:meth:`CheckContext.rng`. Raising any exception ends the check with status ``error`` and
the exception's message; the scan goes on and the gate stays closed.

Test your class with :mod:`riskaudit.testing` (``parametrize_with_checks`` or
``check_checker``): the conformance suite every built-in checker passes.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import enum
import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, MutableMapping, Sequence

from riskaudit._lazy import lazy_module

from riskaudit.errors import CheckerError, PluginError
from riskaudit.result import Finding, Severity, Status

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from riskaudit.data import Dataset
    from riskaudit.model import Model
else:
    np = lazy_module("numpy")

__all__ = [
    "Need", "Option", "Kind", "Checker", "CheckContext", "CheckOutput", "CheckerError",
    "CheckSkipped", "NEED_REASONS",
]


class CheckSkipped(Exception):
    """Raise from ``run`` when the inputs a checker needs are missing in a way ``needs``
    cannot express (e.g. "a model or a target"); the check is recorded as ``skipped`` with
    the exception's message as the reason."""


class Need(str, enum.Enum):
    """What a checker requires before it can run."""

    DATA = "data"
    """the evaluation dataset (``--data``)"""
    REFERENCE = "reference"
    """held-out data the model was validated on, the baseline of drift (``--reference``)"""
    TRAIN = "train"
    """the data the model was fitted on (``--train``)"""
    TARGET = "target"
    """a label column (``--target``)"""
    SENSITIVE = "sensitive"
    """at least one protected attribute (``--sensitive``)"""
    MODEL = "model"
    """a model that can be called on new inputs: a file, a module or a predict callable
    (``--model``); stored predictions (``--predictions``/``--scores``) do not meet it"""
    TORCH_MODULE = "torch_module"
    """a torch module for white-box access (gradients, layers)"""



NEED_REASONS = {
    Need.DATA: "no evaluation data was given (--data)",
    Need.REFERENCE: "no reference data was given (--reference: held-out data the model was validated on)",
    Need.TRAIN: "no training data was given (--train)",
    Need.TARGET: "no target column was named (--target)",
    Need.SENSITIVE: "no sensitive attribute was named (--sensitive)",
    Need.MODEL: "no model was given (--model)",
    Need.TORCH_MODULE: "the model is not a torch module (white-box access needed)",
}

STORED_PREDICTIONS_REASON = ("only stored predictions were given (--predictions/--scores), and "
                             "this check needs the model itself")

_MISSING = object()


@dataclass(frozen=True)
class Option:
    """A declared, validated keyword option of a checker.

    ``type`` is a Python type or tuple of types; ``choices`` restricts values; ``minimum`` /
    ``maximum`` bound numbers; ``item_type`` checks every element of a list. ``schema`` adds
    JSON Schema keywords for what these cannot say (list items with bounds, the keys of a
    mapping, the fields of a list of records); it is part of the one schema that checks
    policies and project files before any checker runs (:mod:`riskaudit.schema`).
    """

    default: Any
    doc: str
    type: Any = None
    choices: Sequence[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    item_type: Any = None
    nullable: bool = False
    schema: Mapping[str, Any] | None = None

    def validate(self, name: str, value: Any) -> Any:
        """Return the value (lists normalized to tuples) or raise ValueError with a message."""
        if value is None:
            if self.nullable or self.default is None:
                return None
            raise ValueError("must not be null")
        typ = self.type if self.type is not None else type(self.default)
        if typ is float:
            typ = (int, float)
        if typ in (list, tuple):
            typ = (list, tuple)
        if isinstance(value, bool) and typ not in (bool, (bool,)) and bool not in _as_tuple(typ):
            raise ValueError(f"must be {_type_name(typ)}, got {value!r}")
        if not isinstance(value, typ):
            raise ValueError(f"must be {_type_name(typ)}, got {type(value).__name__} {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"must be a finite number, got {value!r}")
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be >= {self.minimum}, got {value!r}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"must be <= {self.maximum}, got {value!r}")
        if isinstance(value, (list, tuple)):
            if self.item_type is not None:
                for item in value:
                    if not isinstance(item, self.item_type) or isinstance(item, bool) and self.item_type is not bool:
                        raise ValueError(f"items must be {_type_name(self.item_type)}, got {item!r}")
            value = tuple(value)
        return value


def _as_tuple(t):
    return t if isinstance(t, tuple) else (t,)


def _type_name(t) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             list: "a list", tuple: "a list", dict: "a mapping"}
    return " or ".join(dict.fromkeys(names.get(x, x.__name__) for x in _as_tuple(t)))


@dataclass(frozen=True)
class Kind:
    """Defaults for one finding kind.

    ``direction`` says which side of a level is bad: ``"above"`` (a share of duplicated
    rows: more is worse) or ``"below"`` (a selection-rate ratio: less is worse).
    ``fail`` / ``warn`` are the default levels (None: never at that status from a value).
    A value exactly at a level is not past it.
    ``why`` says in plain words why a finding of this kind matters (for the people affected
    or the business); ``advice`` what to do about it. The report shows both to readers who
    are not data scientists. ``unit`` names what ``value`` measures, so reports can print it
    rounded with its unit: ``share`` (a fraction shown as a percent), ``points`` (a difference
    of two shares, shown in percentage points), ``ratio``, ``relative`` (a relative change or
    difference, shown as a percent), ``sd`` (standard deviations), ``p_value``, ``flag``
    (1 yes / 0 no), or a countable noun in the plural (``rows``, ``samples``, ``layers``).
    ``timed``: the value is a wall-clock measurement (latency, throughput), so two scans
    with the same seed may differ in it; the conformance suite's determinism check then
    compares only which findings there are.
    """

    doc: str
    direction: str = "above"
    fail: float | None = None
    warn: float | None = None
    severity: Severity = Severity.MEDIUM
    why: str = ""
    advice: str = ""
    unit: str = ""
    timed: bool = False

    def __post_init__(self):
        if self.direction not in ("above", "below"):
            raise PluginError(f"Kind direction must be 'above' or 'below', got {self.direction!r}")


@dataclass(frozen=True)
class Levels:
    """Effective fail/warn levels and severity for one kind after the policy is applied."""

    direction: str
    fail: float | None
    warn: float | None
    severity: Severity
    unit: str = ""
    """The kind's unit (:attr:`Kind.unit`), for the ``{value_text}`` / ``{threshold_text}`` placeholders."""

    def grade(self, value: float) -> tuple[Status, float | None]:
        """Status of ``value`` and the level it was judged against."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return Status.PASS, self.fail

        def past(level):
            if level is None:
                return False
            return value > level if self.direction == "above" else value < level

        if past(self.fail):
            return Status.FAIL, self.fail
        if past(self.warn):
            return Status.WARN, self.warn
        return Status.PASS, self.fail if self.fail is not None else self.warn


@dataclass(frozen=True)
class CheckOutput:
    """What ``Checker.run`` returns."""

    findings: Sequence[Finding]
    summary: str
    """One plain sentence for a compliance officer, e.g. '2 of 12 columns have missing values'."""
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class CheckContext:
    """Everything a checker may read during one scan. Built by :func:`riskaudit.scan`."""

    checker_id: str
    data: Dataset | None
    reference: Dataset | None
    target: str | None
    features: tuple[str, ...]
    sensitive: tuple[str, ...]
    ids: tuple[str, ...]
    task: str | None
    """``classification`` or ``regression`` (None without a target or model to infer from)."""
    model: Model | None
    classes: tuple[Any, ...] | None
    """Class labels in the order of the model's outputs (classification)."""
    seed: int
    device: str
    levels: Mapping[str, Levels]
    """Effective fail/warn levels per finding kind of this checker."""
    project: Mapping[str, Any] = field(default_factory=dict)
    """Project settings, read-only: ``project_dir``, ``data_path``, ``reference_path``,
    ``model_path``, ``licenses`` (declared), ``train_entry_point``, ``expectation_suite``,
    ``spacy_model``; absent when not set. A plugin's own settings are its options."""
    shared: MutableMapping[str, Any] = field(default_factory=dict)
    """Written by earlier checkers for later ones (e.g. ``pii_columns``); one dict per scan."""
    progress: Callable[..., None] = field(default=lambda fraction, message="": None)
    """Report progress in [0, 1]; the CLI draws it on stderr."""
    baseline: Mapping[str, Any] | None = None
    """An earlier report.json of the same model (model drift), when one was given."""
    train: Dataset | None = None
    """The data the model was fitted on (``--train``): leakage, the generalization gap.
    ``reference`` is the held-out validation data (drift's baseline), never the training data."""
    quiet: Callable[[], None] = field(default=lambda: None)
    """Wait until the work the scan runs beside this checker (the pii checker's process) is
    done. Call it right before timing anything (model latency), so that the figures are not
    the scan's own contention."""

    def rng(self, name: str = "") -> np.random.Generator:
        """A generator seeded from the scan's seed, this checker's id and ``name``.

        Independent streams per purpose keep results stable when a checker adds a draw.
        """
        digest = hashlib.sha256(f"{self.seed}:{self.checker_id}:{name}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def seed_for(self, name: str = "") -> int:
        """A 31-bit integer seed derived like :meth:`rng`, for libraries that take an int."""
        digest = hashlib.sha256(f"{self.seed}:{self.checker_id}:{name}".encode()).digest()
        return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF

    def model_inputs(self, ds: Dataset) -> Any:
        """What the model takes for ``ds``: a float32 array of the features in model order,
        or the feature DataFrame for a predict callable that asked for one."""
        stored = getattr(self.model, "stored_columns", None)
        if stored:  # a table of stored predictions stands in for the model: its columns
            missing = [c for c in stored if c not in ds.frame.columns]
            if missing:
                raise CheckerError(f"{ds.uri} has no prediction column {missing[0]!r}")
            return ds.frame[list(stored)]
        if self.model is not None and self.model.accepts_frame:
            return ds.frame[list(self.features)]
        return ds.feature_matrix(self.features)

    def label_indices(self, ds: Dataset) -> np.ndarray:
        """The target of ``ds`` as model output indices (classification); -1 for labels the
        model does not know (``classes``)."""
        from riskaudit.data import labels_to_index  # pandas loads only when a checker needs it

        return labels_to_index(ds.frame[self.target], self.classes or ())

    def finding(self, kind: str, subject: Any, message: str, *, value: Any = None,
                status: Status | None = None, evidence: Mapping[str, Any] | None = None,
                threshold: Any = None) -> Finding:
        """Build a finding of this checker.

        With ``status`` None the value is graded against the policy's levels for ``kind``;
        ``message`` may use ``{value}``, ``{threshold}`` and ``{status}`` placeholders,
        filled after grading (rounded by :mod:`riskaudit.fmt`); ``{value_text}`` and
        ``{threshold_text}`` add the kind's unit ("3.33 %", "25 rows"); ``{value_percent}`` and
        ``{threshold_percent}`` show a fraction as a percent. Pass ``status`` to grade yourself (qualitative findings).
        """
        lv = self.levels.get(kind)
        if lv is None:
            raise CheckerError(f"checker {self.checker_id!r} reported undeclared kind {kind!r}")
        if status is None:
            status, level = lv.grade(value)
            if threshold is None:
                threshold = level
        status = Status(status)
        if status not in (Status.PASS, Status.WARN, Status.FAIL):
            raise CheckerError(f"a finding's status must be pass, warn or fail, got {status.value}")
        text = message.format(value=_fmt(value), threshold=_fmt(threshold), status=status.value,
                              value_text=_fmt(value, lv.unit), threshold_text=_fmt(threshold, lv.unit),
                              value_percent=_fmt(value, "share"), threshold_percent=_fmt(threshold, "share")) \
            if "{" in message else message
        return Finding(id=f"{self.checker_id}.{kind}", status=status, severity=lv.severity,
                       subject=str(subject), message=text, value=value, threshold=threshold,
                       evidence=dict(evidence or {}))


def _fmt(v, unit=None):
    """A placeholder's text: rounded (riskaudit.fmt), with the kind's unit for ``*_text``."""
    from riskaudit import fmt

    if unit is not None:
        return fmt.with_unit(v, unit) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
    return fmt.number(v) if isinstance(v, float) else v


class Checker(abc.ABC):
    """Base class of every checker. See the module docstring for the plugin guide."""

    id: ClassVar[str]
    description: ClassVar[str]
    needs: ClassVar[frozenset[Need]] = frozenset({Need.DATA})
    options: ClassVar[Mapping[str, Option]] = {}
    kinds: ClassVar[Mapping[str, Kind]] = {}
    priority: ClassVar[int] = 100

    def __init__(self, **options: Any) -> None:
        """Validate keyword options against ``options``; store them unchanged otherwise.

        Raises ``PluginError``-free ``ValueError``/``KeyError`` subclasses through
        :meth:`validate_options`, which the scan reports with the policy key's path.
        """
        self.config: dict[str, Any] = self.validate_options(options)

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Return the full option dict (defaults filled in) or raise :class:`OptionError`.

        The values are checked against the JSON Schema generated from ``options``
        (:func:`riskaudit.schema.checker_options_schema`, the same schema policies and
        project files are validated with), then normalized (lists to tuples).

        Inside :func:`packaged_options` (the options are a built-in policy's, shipped with
        riskaudit and validated against the schema by its test suite) the schema step, and the
        import of jsonschema, are left out. The same options are validated once per process: the scan
        checks every checker's options before any runs, the checker's constructor finds them
        checked (:data:`_VALIDATED`, keyed by the options' JSON text)."""
        unknown = sorted(set(options) - set(cls.options))
        if unknown:
            known = ", ".join(sorted(cls.options)) or "none"
            raise OptionError(unknown[0], f"unknown option (known: {known})")
        memo = _options_key(cls, options)
        if memo is not None and memo in _VALIDATED:
            return dict(_VALIDATED[memo])
        if not _PACKAGED.get():
            from riskaudit.schema import checker_options_schema, first_error

            err = first_error(dict(options), checker_options_schema(cls))
            if err is not None:
                key, msg = err
                name = key.split(".", 1)[0].split("[", 1)[0]
                raise OptionError(name, msg, path=key)
        out = {}
        for name, opt in cls.options.items():
            value = options.get(name, opt.default)
            try:
                out[name] = opt.validate(name, value) if name in options else _freeze(opt.default)
            except ValueError as exc:
                raise OptionError(name, str(exc)) from None
        if memo is not None:
            _VALIDATED[memo] = dict(out)
        return out

    @classmethod
    def unmet_needs(cls, ctx: CheckContext) -> list[str]:
        """Reasons this checker cannot run in ``ctx`` (empty when it can)."""
        stored = bool(getattr(ctx.model, "stored_columns", None))
        have = {
            Need.DATA: ctx.data is not None,
            Need.REFERENCE: ctx.reference is not None,
            Need.TARGET: ctx.target is not None,
            Need.SENSITIVE: bool(ctx.sensitive),
            Need.TRAIN: ctx.train is not None,
            Need.MODEL: ctx.model is not None and not stored,
            Need.TORCH_MODULE: ctx.model is not None and ctx.model.module is not None,
        }
        return [STORED_PREDICTIONS_REASON if n == Need.MODEL and stored else NEED_REASONS[n]
                for n in sorted(cls.needs, key=lambda n: n.value) if not have[n]]

    @abc.abstractmethod
    def run(self, ctx: CheckContext) -> CheckOutput:
        """Examine the inputs in ``ctx`` and return findings, a summary and metrics."""


_PACKAGED: contextvars.ContextVar[bool] = contextvars.ContextVar("riskaudit_packaged_options", default=False)


@contextlib.contextmanager
def packaged_options(packaged: bool = True):
    """Within: :meth:`Checker.validate_options` takes the options as a built-in policy's
    (no schema step). The signature of ``validate_options``, which plugins override, stays."""
    token = _PACKAGED.set(bool(packaged))
    try:
        yield
    finally:
        _PACKAGED.reset(token)


_VALIDATED: dict[tuple[type, str], dict[str, Any]] = {}
"""(checker class, options as JSON text) -> the options :meth:`Checker.validate_options`
returned for them in this process."""


def _options_key(cls: type, options: Mapping[str, Any]) -> tuple[type, str] | None:
    """The memo key of ``options`` (None when they have no JSON text: never memoized)."""
    import json

    try:
        return cls, json.dumps(options, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError):
        return None


def _freeze(value):
    return tuple(value) if isinstance(value, list) else value


class OptionError(ValueError):
    """An invalid checker option: ``key`` names it, ``reason`` says what is wrong; ``path``
    is where inside it (``exceptions[0].expires``), the key itself by default."""

    def __init__(self, key: str, reason: str, path: str | None = None):
        super().__init__(f"{path or key}: {reason}")
        self.key = key
        self.reason = reason
        self.path = path or key
