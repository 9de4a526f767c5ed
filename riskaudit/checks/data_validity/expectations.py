"""Column-level validation with great-expectations 1.x.

The suite is the union of expectations inferred from the reference data, explicit
expectations in the policy and a user's great-expectations suite file. Expectations are
great-expectations' (names, arguments, semantics, result fields), validated on an
ephemeral, in-memory context that sends no usage analytics and draws no progress bars.

Speed: importing great-expectations and building its context costs 4-6 s of a cold scan on
two cores, more than the whole validation of 1,000,000 rows. The five expectation types the
inference produces (not null, between on int64/float64 columns, in set, unique, table
columns match set), given plain arguments, are therefore computed with pandas exactly as
great-expectations' pandas engine computes them (:func:`validate_native`: the same null
filtering, comparisons, ``mostly`` rule and first five unexpected values);
tests/checks/test_data_validity.py keeps great-expectations as the oracle (every outcome
equal on real data and edge cases). Any other expectation, or other arguments, goes to
great-expectations, imported then.

Speed: great-expectations' pandas engine copies and boolean-filters the whole batch for
every metric it computes (null filtering, ``unexpected_index`` bookkeeping). On a
1,000,000 x 20 frame that made one suite take 19 s, 80% of it in pandas block copies.
Each column's expectations therefore run on a one-column batch (``frame[[col]]``), so the
engine filters one column instead of thirty; table-level expectations run on the full frame
(their metrics do not filter rows). ``BASIC`` results keep the
engine from building index lists (``BASIC``, 5 partial examples: 17% faster than ``SUMMARY``
on that frame, with the same counts and examples).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from riskaudit._lazy import lazy_module

from riskaudit import _scope, untrusted
from riskaudit.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_module("numpy")
    pd = lazy_module("pandas")

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 5}
NUMERIC_TYPES = ["int", "float", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64", "float16", "float32", "float64", "Int8", "Int16", "Int32", "Int64",
                 "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64"]
BOOL_TYPES = ["bool", "bool_", "boolean"]
STRING_TYPES = ["str", "string"]
_META_KEYS = {"type", "expectation_type", "meta", "notes", "id", "kwargs", "rendered_content",
              "description", "severity"}


@dataclass
class Spec:
    """One expectation to validate, with where it came from (inferred, policy, suite file)."""

    type: str
    kwargs: dict
    source: str

    @property
    def columns(self) -> tuple[str, ...]:
        kw = self.kwargs
        if "column" in kw:
            return (str(kw["column"]),)
        if "column_A" in kw and "column_B" in kw:
            return (str(kw["column_A"]), str(kw["column_B"]))
        if "column_list" in kw and isinstance(kw["column_list"], (list, tuple)):
            return tuple(str(c) for c in kw["column_list"])
        return ()


@dataclass
class Outcome:
    """A failed expectation, reduced to what a finding needs."""

    spec: Spec
    success: bool
    rows: int
    unexpected_count: int | None = None
    examples: list = field(default_factory=list)
    observed: Any = None
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


def quiet() -> contextlib.AbstractContextManager[None]:
    """Keep great-expectations' logs, warnings and any stray output off the terminal."""
    return _scope.quiet(("great_expectations",), level=logging.CRITICAL + 1, stdout=True, stderr=True,
                        propagate=False)


def _gx():
    with quiet(), _without_unused_pyspark():
        import great_expectations as gx  # slow import (~4 s): only when the check runs
    return gx


@contextlib.contextmanager
def _without_unused_pyspark() -> Iterator[None]:
    """Import great-expectations without pyspark unless the Spark engine loaded it already.

    great-expectations imports pyspark at import time when it is installed (its Spark data
    source); the pandas engine never uses it, and pyspark must not load unless ``--engine
    spark`` asks for it. While great-expectations is first imported ``sys.modules["pyspark"]``
    and ``["py4j"]`` are ``None`` (it reads the ImportError as "not installed"). The Spark engine imports
    pyspark before any checker runs, so its scans get the Spark data source.
    """
    import sys

    if "great_expectations" in sys.modules or "pyspark" in sys.modules:
        yield
        return
    from riskaudit._scope import unimportable

    with unimportable("pyspark", "py4j"):  # py4j: pyspark's JVM bridge
        yield


def make_context():
    """An ephemeral context: in-memory stores, analytics off, progress bars off."""
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig)

    config = DataContextConfig(analytics_enabled=False,
                               progress_bars=ProgressBarsConfig(globally=False),
                               store_backend_defaults=InMemoryStoreBackendDefaults())
    with quiet():
        return gx.get_context(project_config=config, mode="ephemeral")


def to_expectation(spec: Spec):
    """The great-expectations Expectation object of ``spec`` (raises ValueError on bad input)."""
    _gx()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    try:
        with quiet():
            return ExpectationConfiguration(type=spec.type, kwargs=dict(spec.kwargs)).to_domain_obj()
    except Exception as exc:  # ExpectationNotFoundError, pydantic ValidationError, ...
        first = str(exc).strip().splitlines()
        raise ValueError(f"{spec.type}: {' '.join(x.strip() for x in first[:4]) or type(exc).__name__}") from None


_NATIVE_KWARGS = {
    "expect_column_values_to_not_be_null": {"column", "mostly"},
    "expect_column_values_to_be_between": {"column", "min_value", "max_value", "mostly"},
    "expect_column_values_to_be_in_set": {"column", "value_set", "mostly"},
    "expect_column_values_to_be_unique": {"column", "mostly"},
    "expect_table_columns_to_match_set": {"column_set", "exact_match"},
}


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def native_arguments(spec: Spec) -> bool:
    """Whether ``spec`` is one of the types :func:`validate_native` computes, with plain
    arguments great-expectations accepts as they are (anything else goes to it)."""
    kw = spec.kwargs
    allowed = _NATIVE_KWARGS.get(spec.type)
    if allowed is None or not set(kw) <= allowed:
        return False
    if "mostly" in kw and not (_number(kw["mostly"]) and 0 <= kw["mostly"] <= 1):
        return False
    if spec.type == "expect_table_columns_to_match_set":
        cols = kw.get("column_set")
        return (isinstance(cols, list) and all(isinstance(c, str) for c in cols)
                and isinstance(kw.get("exact_match", True), bool))
    if not isinstance(kw.get("column"), str) or not kw["column"]:
        return False
    if spec.type == "expect_column_values_to_be_between":
        lo, hi = kw.get("min_value"), kw.get("max_value")
        return ((lo is not None or hi is not None) and all(v is None or _number(v) for v in (lo, hi))
                and (lo is None or hi is None or lo <= hi))
    if spec.type == "expect_column_values_to_be_in_set":
        values = kw.get("value_set")
        return isinstance(values, list) and all(isinstance(v, (str, int, float)) for v in values)
    return True


def check_spec(spec: Spec) -> None:
    """Raise ValueError when great-expectations would refuse ``spec`` (it is imported only
    for arguments :func:`native_arguments` does not vouch for)."""
    if not native_arguments(spec):
        to_expectation(spec)


def parse_entries(entries: Sequence[Any], source: str) -> list[Spec]:
    """Specs from a list of ``{type: expect_..., kwargs: {...}}`` (or kwargs given inline;
    ``expectation_type`` as in great-expectations 0.x suite files is accepted too)."""
    specs = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ValueError(f"item {i + 1} must be a mapping with 'type' and 'kwargs', got {entry!r}")
        etype = entry.get("type", entry.get("expectation_type"))
        if not isinstance(etype, str) or not etype.startswith("expect_"):
            raise ValueError(f"item {i + 1} needs 'type': the name of a great-expectations "
                             f"expectation such as expect_column_values_to_be_between, got {etype!r}")
        kwargs = entry.get("kwargs")
        if kwargs is None:
            kwargs = {k: v for k, v in entry.items() if k not in _META_KEYS}
        if not isinstance(kwargs, Mapping):
            raise ValueError(f"item {i + 1} ({etype}): 'kwargs' must be a mapping")
        specs.append(Spec(etype, _plain(dict(kwargs)), source))
    return specs


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def load_suite_file(project: Mapping[str, Any]) -> tuple[list[Spec], str | None]:
    """Specs from the great-expectations suite JSON named by the project's ``expectation_suite``."""
    name = project.get("expectation_suite") if project else None
    if not name:
        return [], None
    path = Path(str(name))
    if not path.is_absolute() and project.get("project_dir"):
        path = Path(str(project["project_dir"])) / path
    try:
        doc = untrusted.loads_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"expectation_suite: file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"expectation_suite: cannot read {str(path)!r} as a great-expectations "
                         f"suite (JSON): {exc}") from None
    entries = doc.get("expectations") if isinstance(doc, Mapping) else None
    if not isinstance(entries, list):
        raise InputError(f"expectation_suite: {str(path)!r} has no 'expectations' list")
    try:
        specs = parse_entries(entries, f"suite file {path.name}")
        for spec in specs:
            check_spec(spec)
    except ValueError as exc:
        raise InputError(f"expectation_suite: {str(path)!r}: {exc}") from None
    return specs, str(path)


# --------------------------------------------------------------------------- inference

def column_kind(series: pd.Series, max_categories: int, distinct=None) -> str:
    """``bool``, ``numeric``, ``datetime``, ``categorical``, ``text``, ``mixed`` or ``empty``."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred == "empty":
        return "empty"
    if inferred.startswith("mixed") or inferred in ("integer", "floating", "decimal", "boolean"):
        # object columns holding numbers are numbers; mixed ones are their own kind
        return "mixed" if inferred.startswith("mixed") else ("bool" if inferred == "boolean" else "numeric")
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "categorical"
    n_distinct = len(distinct(series.name)[1]) if distinct else series.nunique(dropna=True)
    if n_distinct <= max_categories:
        return "categorical"
    return "text"


def _type_list(kind: str) -> list[str] | None:
    return {"numeric": NUMERIC_TYPES, "bool": BOOL_TYPES, "categorical": STRING_TYPES,
            "text": STRING_TYPES}.get(kind)


def _dominant_python_type(series: pd.Series) -> str:
    """The most common Python type among the values, counted over distinct values."""
    counts = series.value_counts(dropna=True)
    if counts.empty:
        return "str"
    by_type = pd.Series(counts.to_numpy(), index=[type(v).__name__ for v in counts.index])
    return str(by_type.groupby(level=0).sum().idxmax())


def infer_specs(current: pd.DataFrame, reference: pd.DataFrame | None, *, ids: Sequence[str],
                target: str | None, range_margin: float, null_margin: float,
                max_categories: int, distinct: Mapping[str, Any] | None = None,
                reference_name: str = "reference") -> list[Spec]:
    """The inferred part of the suite (see the module docstring). ``reference_name`` names the
    baseline's role (``reference``, or ``training`` when no held-out data was given).

    ``distinct``: per dataset (``current``, ``reference``) a function column -> (codes,
    distinct values), to reuse a factorization already made for row hashing."""
    specs: list[Spec] = []
    src = f"inferred from the {reference_name} data"
    distinct = distinct or {}
    kinds_cur = {c: column_kind(current[c], max_categories, distinct.get("current"))
                 for c in current.columns}
    if reference is None:
        # No baseline: every column is expected complete, a mixed column to hold one type.
        for col in current.columns:
            specs.append(Spec("expect_column_values_to_not_be_null", {"column": col}, "default"))
            if kinds_cur[col] == "mixed":
                specs.append(Spec("expect_column_values_to_be_in_type_list",
                                  {"column": col, "type_list": [_dominant_python_type(current[col])]},
                                  "default"))
        for col in ids:
            if col in current.columns:
                specs.append(Spec("expect_column_values_to_be_unique", {"column": col}, "default"))
        return specs

    specs.append(Spec("expect_table_columns_to_match_set",
                      {"column_set": [str(c) for c in reference.columns], "exact_match": True}, src))
    n_ref = max(len(reference), 1)
    for col in reference.columns:
        if col not in current.columns:
            continue
        ref = reference[col]
        null_frac = float(ref.isna().sum()) / n_ref
        mostly = 1.0 if null_frac == 0 else 1.0 - null_frac - null_margin
        if mostly > 0:
            kw = {"column": col} if mostly >= 1.0 else {"column": col, "mostly": round(mostly, 6)}
            specs.append(Spec("expect_column_values_to_not_be_null", kw, src))
        kind = column_kind(ref, max_categories, distinct.get("reference"))
        cur_kind = kinds_cur[col]
        types = _type_list(kind)
        typed = types is not None and cur_kind != kind and not (
            {kind, cur_kind} <= {"categorical", "text"} or cur_kind == "empty")
        if typed:
            # cheap dtype comparison first; great-expectations counts the offending values
            specs.append(Spec("expect_column_values_to_be_in_type_list",
                              {"column": col, "type_list": types}, src))
        if col in ids:
            specs.append(Spec("expect_column_values_to_be_unique", {"column": col}, src))
            continue
        if kind == "numeric" and cur_kind == "numeric":
            values = pd.to_numeric(ref, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            values = values[np.isfinite(values)]
            if len(values):
                lo, hi = float(values.min()), float(values.max())
                span = hi - lo if hi > lo else abs(hi)
                margin = range_margin * span
                low = lo - margin if lo < 0 else max(lo - margin, 0.0)  # never negative if never was
                specs.append(Spec("expect_column_values_to_be_between",
                                  {"column": col, "min_value": _round(low),
                                   "max_value": _round(hi + margin)}, src))
        elif kind == "categorical" and col != target and cur_kind in ("categorical", "text"):
            uniques = distinct["reference"](col)[1] if "reference" in distinct else ref.dropna().unique()
            values = sorted(map(str, uniques))
            if values:
                specs.append(Spec("expect_column_values_to_be_in_set",
                                  {"column": col, "value_set": values}, src))
        elif (kind == "mixed" or cur_kind == "mixed") and not typed:
            specs.append(Spec("expect_column_values_to_be_in_type_list",
                              {"column": col, "type_list": [_dominant_python_type(ref)]}, src))
    for col in ids:
        if col in current.columns and col not in reference.columns:
            specs.append(Spec("expect_column_values_to_be_unique", {"column": col}, src))
    return specs


def _round(x: float) -> float:
    return float(f"{x:.12g}")


# --------------------------------------------------------------------------- validation

@contextlib.contextmanager
def no_batch_fingerprint() -> Iterator[None]:
    """Skip the MD5 fingerprint great-expectations' pandas engine computes over every batch
    under 1 GB (``hash_pandas_object(df, index=True)``, stored only as a batch marker).

    Profiled on 1,000,000 rows x 30 columns it took 20 of the 33 s spent in
    great-expectations: every batch's text columns were factorized and hashed again. The
    validation itself does not use the fingerprint.
    """
    from great_expectations.execution_engine import pandas_execution_engine as engine

    with _scope.patched(engine, "HASH_THRESHOLD", 0):
        yield


def validate(frame: pd.DataFrame, specs: Sequence[Spec]) -> list[Outcome]:
    """Run ``specs`` on ``frame``; return every outcome (specs naming a missing column first,
    then by column, as great-expectations' suites per column run). Great-expectations is
    imported only for the specs :func:`validate_native` cannot take."""
    groups: dict[tuple[str, ...], list[Spec]] = {}
    outcomes: list[Outcome] = []
    for spec in specs:
        cols = spec.columns
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            outcomes.append(Outcome(spec, False, len(frame), details={"missing_columns": missing},
                                    error=f"column {missing[0]!r} is not in the data"))
            continue
        groups.setdefault(cols, []).append(spec)
    ordered = [spec for group in groups.values() for spec in group]
    native = [validate_native(frame, spec) for spec in ordered]
    by_gx = iter(validate_gx(frame, [spec for spec, o in zip(ordered, native) if o is None]))
    return outcomes + [o if o is not None else next(by_gx) for o in native]


def validate_native(frame: pd.DataFrame, spec: Spec) -> Outcome | None:
    """``spec`` computed with pandas as great-expectations' pandas engine computes it (the
    semantics are quoted from great-expectations 1.x), or None when it is not one of the
    types and arguments this covers (then great-expectations runs it)."""
    if not native_arguments(spec):
        return None
    kw, rows = spec.kwargs, len(frame)
    if spec.type == "expect_table_columns_to_match_set":
        # ExpectTableColumnsToMatchSet._validate / _validate_result
        actual, expected = {str(c) for c in frame.columns}, set(kw["column_set"])
        observed = sorted(actual)
        unexpected, missing = sorted(actual - expected), sorted(expected - actual)
        if not unexpected and not missing:
            return _outcome_from(spec, True, {"observed_value": observed}, None, rows)
        mismatched = {**({"unexpected": unexpected} if unexpected else {}),
                      **({"missing": missing} if missing else {})}
        success = not kw.get("exact_match", True) and not missing
        return _outcome_from(spec, success, {"observed_value": observed,
                                             "details": {"mismatched": mismatched}}, None, rows)
    col = kw["column"]
    if col not in frame.columns or frame.columns.duplicated().any():
        return None
    series = frame[col]
    mostly = float(kw.get("mostly", 1.0))
    if spec.type == "expect_column_values_to_not_be_null":
        # ExpectColumnValuesToNotBeNull._validate: every row is considered, nulls unexpected
        bad = series.isnull().to_numpy()
        considered = rows
    else:
        # ColumnMapExpectation: null rows are filtered out first (filter_column_isnull)
        series = series[series.notnull()]
        considered = len(series)
        if spec.type == "expect_column_values_to_be_between":
            if series.dtype not in (np.dtype("int64"), np.dtype("float64")):
                return None  # great-expectations compares other dtypes value by value
            lo, hi = kw.get("min_value"), kw.get("max_value")
            if lo is None:
                ok = series <= hi
            elif hi is None:
                ok = lo <= series
            else:
                ok = (lo <= series) & (series <= hi)
        elif spec.type == "expect_column_values_to_be_in_set":
            ok = series.isin(kw["value_set"])
        else:  # expect_column_values_to_be_unique
            ok = ~series.duplicated(keep=False)
        bad = ~ok.to_numpy(dtype=bool)
    count = int(bad.sum())
    success = True if rows == 0 or considered == 0 else (considered - count) / considered >= mostly
    examples = list(series[bad][:RESULT_FORMAT["partial_unexpected_count"]])
    return _outcome_from(spec, bool(success), {"element_count": rows, "unexpected_count": count,
                                               "partial_unexpected_list": examples}, None, rows)


def validate_gx(frame: pd.DataFrame, specs: Sequence[Spec]) -> list[Outcome]:
    """Run ``specs`` (their columns in ``frame``) with great-expectations, one suite per
    column group; return the outcomes in the order of ``specs`` grouped by column."""
    if not specs:
        return []
    gx = _gx()
    context = make_context()
    with quiet():
        batch_def = (context.data_sources.add_pandas("riskaudit")
                     .add_dataframe_asset("current").add_batch_definition_whole_dataframe("all"))
    groups: dict[tuple[str, ...], list[Spec]] = {}
    for spec in specs:
        groups.setdefault(spec.columns, []).append(spec)
    outcomes: list[Outcome] = []
    for index, (cols, group) in enumerate(groups.items()):
        sub = frame[list(dict.fromkeys(cols))] if cols else frame
        with quiet(), no_batch_fingerprint():
            suite = gx.ExpectationSuite(name=f"riskaudit_{index}",
                                        expectations=[to_expectation(s) for s in group])
            batch = batch_def.get_batch(batch_parameters={"dataframe": sub})
            result = batch.validate(suite, result_format=RESULT_FORMAT)
        for spec, res in zip(group, result.results):
            outcomes.append(_outcome(spec, res, len(frame)))
    return outcomes


def _outcome(spec: Spec, res, rows: int) -> Outcome:
    error = None
    exc = res.exception_info or {}
    if exc.get("raised_exception"):
        error = exc.get("exception_message")
    else:
        for value in exc.values():
            if isinstance(value, Mapping) and value.get("raised_exception"):
                error = value.get("exception_message") or "great-expectations could not evaluate it"
                break
    return _outcome_from(spec, bool(res.success), res.result or {}, error, rows)


def _outcome_from(spec: Spec, success: bool, info: Mapping[str, Any], error: str | None, rows: int) -> Outcome:
    count = info.get("unexpected_count")
    examples = [None if isinstance(v, float) and math.isnan(v) else v
                for v in (info.get("partial_unexpected_list") or [])[:5]]
    return Outcome(spec, success, int(info.get("element_count", rows) or rows),
                   None if count is None else int(count), examples, info.get("observed_value"),
                   info.get("details") or {}, error)


def kind_of(expectation_type: str) -> str:
    """The finding kind a failed expectation reports under."""
    t = expectation_type
    if "null" in t:
        return "missing_values"
    if "type" in t:
        return "type_mismatch"
    if t.startswith("expect_table_") or "column_to_exist" in t:
        return "schema_mismatch"
    if "unique" in t:
        return "duplicate_rows"
    return "out_of_range"
