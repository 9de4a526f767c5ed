"""data_validity on the Spark engine: expectations and row/label checks over every row.

Used when the datasets carry a Spark DataFrame (``riskaudit.engines.spark.SparkDataset``).
Expectations (inferred from the driver samples) run through great-expectations' Spark data
source. Rows are compared through a 96-bit key (xxhash64 and murmur3 of the row's canonical
values): numbers as float64 (-0.0 = 0.0, NaN = missing), text normalized
like the pandas engine (:func:`_norm_text`, native Spark expressions), labels by
:func:`rows.normalize_label` over their distinct values, missing values tagged. Duplicates are
rows minus distinct keys; leakage a semi-join of keys against the training keys; conflicting
labels a group-by of feature keys counting distinct normalized labels. A false match needs
two rows whose two hashes both collide (about n^2 / 2^97: under 1e-13 for 10^8 rows).
Outliers, type-list expectations and the chance share of a duplicate use the driver sample.
Differences from the pandas engine: mostly-numeric text columns are not coerced to numbers
first; case folding is Spark's lower() (see :func:`_norm_text`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskaudit.checks.data_validity import rows as rw
from riskaudit.engines.spark import column
from riskaudit.errors import CheckerError

if TYPE_CHECKING:
    from riskaudit.result import Finding

_NULL = "\u0000<null>"


class CountedLabels:
    """The label column of a table seen through its exact value counts (computed in Spark):
    what ``rows.label_variants`` / ``rows.class_counts`` and the label checks read."""

    def __init__(self, counts: pd.Series, total: int):
        self._counts = counts
        self._total = total

    def value_counts(self, dropna: bool = True) -> pd.Series:
        return self._counts.sort_values(ascending=False, kind="stable")

    def __len__(self) -> int:
        return self._total

    def isin(self, values) -> pd.Series:  # row positions are not known: no example rows
        return pd.Series(np.zeros(0, dtype=bool))


# Python's str.split() whitespace (Java's \\s lacks the Unicode and separator characters)
_SPACE = "[\\s\\u001c-\\u001f\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+"


_OTHER_SPACE = ("\t\n\u000b\f\r\u001c\u001d\u001e\u001f\u0085\u00a0\u1680"
                + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000")
"""The characters of :data:`_SPACE` other than the plain space."""


def _norm_text(col):
    """``rows.normalize_text`` as a native Spark expression (no Python worker): whitespace runs
    collapsed and trimmed, then lower-cased. Spark's lower() is Python's casefold() except for the
    few characters whose case folding is longer (German sharp s, ligatures, final sigma).

    The regular expression runs only on the values it would change (a whitespace character
    other than the space, two spaces in a row, a space at either end): found with
    ``translate`` and ``instr``, a few times cheaper per value than the regular expression,
    which was most of the row-key pass over a table with text columns (28 s of CPU for four
    text columns of 10M rows)."""
    from pyspark.sql import functions as F

    plain = ((F.length(F.translate(col, _OTHER_SPACE, "")) == F.length(col)) & (F.instr(col, "  ") == 0)
             & ~col.startswith(" ") & ~col.endswith(" "))
    return F.lower(F.when(plain, col).otherwise(F.trim(F.regexp_replace(col, _SPACE, " "))))


def _label_map(sdf, target: str, texts: list[str] | None = None):
    """The code of the normalized label (``rows.normalize_label``, computed on the driver over
    the distinct values only; labels that normalize alike share a code) of each row as a Spark
    map expression of the label column: null for a missing label. ``texts``: the label's
    distinct values as Spark casts them to string (``SparkDataset.value_counts``), else
    collected here."""
    from pyspark.sql import functions as F

    raw = [t for t in texts if t is not None] if texts is not None else \
        [r[0] for r in sdf.select(column(target).cast("string")).distinct().collect() if r[0] is not None]
    if not raw:
        return F.lit(None).cast("int")
    norm = {v: rw.normalize_label(v) for v in raw}
    code = {n: i for i, n in enumerate(sorted(set(norm.values()), key=str))}
    pairs = [x for v in raw for x in (F.lit(v), F.lit(code[norm[v]]))]
    return F.create_map(*pairs)[column(target).cast("string")]


def _canonical(sdf, cols: list[str]):
    """{column: canonical expression, never null} and the text columns. Numbers are float64
    (missing and NaN: one NaN; -0.0: 0.0), hashed as numbers, not text; text is normalized,
    missing text a tag."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, NumericType, StringType

    types = {f.name: f.dataType for f in sdf.schema.fields}
    out, texts = {}, []
    for c in cols:
        col, t = column(c), types[c]
        if isinstance(t, NumericType) and not isinstance(t, BooleanType):
            d = col.cast("double")
            e = F.when(d.isNull() | F.isnan(d), F.lit(float("nan"))).otherwise(
                F.when(d == 0, F.lit(0.0)).otherwise(d))
        elif isinstance(t, StringType):
            e = F.coalesce(_norm_text(col), F.lit(_NULL))
            texts.append(c)
        else:
            e = F.coalesce(col.cast("string"), F.lit(_NULL))
        out[c] = e
    return out, texts


def _keys(exprs: list) -> tuple:
    """Two independent 64-bit hashes of the canonical values (no null among them, so no value
    can shift into another column's place)."""
    from pyspark.sql import functions as F

    exprs = exprs or [F.lit("")]
    return F.xxhash64(*exprs), F.hash(*exprs)


def row_checks(checker, ctx, datasets) -> list[Finding]:
    """The findings of ``DataValidityChecker._row_checks``, counted over every row in Spark:
    one Spark job per dataset (the current one also counts leakage in it)."""
    findings: list[Finding] = []
    leak_keys, feats_cur = _leak_keys(checker, ctx, datasets)
    leaked = None
    for name, ds in datasets:
        sdf = ds.spark_frame.drop(*[c for c in ds.unsupported if c in ds.spark_frame.columns])
        cols = [c for c in sdf.columns if c not in ctx.ids]
        feats = [f for f in checker._features(ctx, ds.frame) if f in sdf.columns]
        labelled = bool(ctx.target and ctx.target in sdf.columns and feats and ctx.task != "regression")
        parts = max(int(sdf.sparkSession.conf.get("spark.sql.shuffle.partitions", "8")),
                    -(-ds.total_rows // ROWS_PER_PARTITION))
        texts, sums = _count_rows(sdf, cols, feats, ctx.target if labelled else None,
                                  leak_keys if name == "current" else None, parts,
                                  [s for _, s, _ in ds.value_counts(ctx.target)] if labelled else None)
        n = ds.total_rows
        distinct = int(sums["distinct"] or 0)
        if cols and n - distinct > 0:
            findings.append(checker._by_chance(_finding(
                checker, "duplicate_rows", name, n - distinct, n,
                f"rows of the {name} data repeat an earlier row", columns_compared=len(cols)),
                lambda rng, name=name, cols=[c for c in cols if c in ds.frame.columns]: rw.chance_share(
                    "duplicate_rows", checker._cols(name, cols), rng)))
        count = int(sums["conflict_rows"] or 0)
        if labelled and count:
            codes, _ = rw.label_codes(ds.frame[ctx.target])
            findings.append(checker._by_chance(_finding(
                checker, "conflicting_labels", checker._subject(ctx.target, name), count, n,
                f"rows of the {name} data ({int(sums['conflict_groups']):,} groups of identical features) carry "
                "different labels", dataset=name, groups=int(sums["conflict_groups"])),
                lambda rng, name=name, feats=feats, codes=codes: rw.chance_share(
                    "conflicting_labels", checker._cols(name, feats), rng, labels=codes)))
        for i, c in enumerate(texts):
            count = int(sums[f"blank{i}"] or 0)
            if count:
                findings.append(_finding(checker, "empty_sample", checker._subject(c, name), count, n,
                                         f"values of {c!r} in the {name} data are empty or whitespace-only text",
                                         dataset=name))
        count = int(sums["empty"] or 0)
        if cols and count:
            findings.append(_finding(checker, "empty_sample", checker._subject("all columns", name), count, n,
                                     f"rows of the {name} data have no value at all", dataset=name))
        if name == "current" and leak_keys is not None:
            leaked = int(sums["leaked"] or 0)
        findings += checker._outliers(ctx, name, ds.frame, datasets)
    return findings + _leakage(checker, leaked, feats_cur, datasets)


BROADCAST_ROWS = 2_000_000
"""A training/reference table of at most this many rows has its feature keys sent to every
executor (a broadcast join: the current table is not shuffled for the leakage count). The
50M-row benchmark, whose 5M-row reference was broadcast, lost its local JVM to a
StackOverflowError in that job."""


def _leak_keys(checker, ctx, datasets) -> tuple[Any, list[str]]:
    """The distinct feature keys of the training (else reference) data over the current data's
    features, or None when there is no such data or it lacks one of them."""
    from pyspark.sql import functions as F

    by_name = dict(datasets)
    cur = by_name["current"]
    feats = [f for f in checker._features(ctx, cur.frame) if f in cur.spark_frame.columns
             and f not in cur.unsupported]
    other = next((o for o in ("train", "reference") if o in by_name), None)
    if other is None or not feats or not all(f in by_name[other].spark_frame.columns
                                             and f not in by_name[other].unsupported for f in feats):
        return None, feats
    o_ds = by_name[other]
    o_canon, _ = _canonical(o_ds.spark_frame, feats)
    o1, o2 = _keys([o_canon[c] for c in feats])
    keys = o_ds.spark_frame.select(o1.alias("f1"), o2.alias("f2")).distinct().withColumn("hit", F.lit(True))
    return (F.broadcast(keys) if o_ds.total_rows <= BROADCAST_ROWS else keys), feats


def _count_rows(sdf, cols: list[str], feats: list[str], target: str | None, leak_keys,
                partitions: int = 8, labels: list[str] | None = None) -> tuple[list[str], Any]:
    """(text columns, one row of counts): distinct rows, rows and groups of identical features
    with more than one label, rows with no value, blank text per text column and, given the
    other table's feature keys, current rows whose features occur there. One Spark job, one
    shuffle: the rows (two keys, the label's code, the flags packed in bits) are partitioned
    by their feature key, under which identical rows meet too (the features are among the
    row's columns); each partition groups them by row key (the flags are functions of the
    row, so one value per key), then by feature key, with no further exchange. The row key
    is two hashes of the feature key and the other columns' canonical values."""
    from pyspark.sql import functions as F

    canon, texts = _canonical(sdf, cols)
    canon.update(_canonical(sdf, [f for f in feats if f not in canon])[0])
    f1, f2 = _keys([canon[c] for c in feats])
    within = set(feats) <= set(cols)  # else (an id among the features): distinct rows counted on their own
    # the row key hashes the feature key and the other columns: the features are hashed once
    a1, a2 = _keys([f1, f2] + [canon[c] for c in cols if c not in feats] if within else [canon[c] for c in cols])
    label = F.coalesce(_label_map(sdf, target, labels), F.lit(-1)) if target else F.lit(-1)
    missing = [(column(c).isNull() | F.isnan(column(c).cast("double")))
               if _is_numeric(sdf, c) else column(c).isNull() for c in cols]
    all_missing = missing[0] if missing else F.lit(False)
    for m in missing[1:]:
        all_missing = all_missing & m
    flags = [all_missing] + [column(c).isNotNull() & (canon[c] == "") for c in texts]
    names = ["empty"] + [f"blank{i}" for i in range(len(texts))]
    words = [flags[i:i + _BITS] for i in range(0, len(flags), _BITS)]  # 62 flags per long
    packed = [sum((F.when(x, F.lit(1 << b)).otherwise(F.lit(0)) for b, x in enumerate(w)), F.lit(0)).cast("long")
              .alias(f"w{k}") for k, w in enumerate(words)]
    table = sdf.select(a1.alias("a1"), a2.alias("a2"), f1.alias("f1"), f2.alias("f2"), label.alias("y"), *packed)
    uniq = (table.repartition(int(partitions), "f1", "f2") if within else table).groupBy("f1", "f2", "a1", "a2", "y").agg(
        F.count(F.lit(1)).alias("c"), *[F.max(f"w{k}").alias(f"w{k}") for k in range(len(words))])
    bit = {x: F.shiftright(F.col(f"w{i // _BITS}"), i % _BITS).bitwiseAND(F.lit(1)) for i, x in enumerate(names)}
    groups = uniq.groupBy("f1", "f2").agg(F.sum("c").alias("n"), F.count(F.lit(1)).alias("m"),
                                          (F.min("y") != F.max("y")).alias("conflict"),
                                          *[F.sum(F.col("c") * bit[x]).alias(x) for x in names])
    leaked = F.lit(None).cast("long")
    if leak_keys is not None:
        groups = groups.join(leak_keys, on=["f1", "f2"], how="left")
        leaked = F.sum(F.when(F.col("hit"), F.col("n")))
    row = groups.agg(F.sum("m").alias("distinct"), F.sum(F.when(F.col("conflict"), F.col("n"))).alias("conflict_rows"),
                     F.count(F.when(F.col("conflict"), 1)).alias("conflict_groups"),
                     *[F.sum(x).alias(x) for x in names], leaked.alias("leaked")).first()
    sums = row.asDict()
    if not within:  # rows equal but for a feature outside them (an id) fall in different feature groups
        sums["distinct"] = table.select("a1", "a2").distinct().count()
    return texts, sums


_BITS = 62
ROWS_PER_PARTITION = 1_000_000
"""Rows per partition of :func:`_count_rows`'s shuffle (at least ``spark.sql.shuffle.partitions``):
each partition's rows are grouped in one hash table."""


def _leakage(checker, count: int | None, feats: list[str], datasets) -> list[Finding]:
    """Train/test leakage: current rows whose feature key occurs in the training (else
    reference) data (counted in :func:`_count_rows`)."""
    if not count:
        return []
    by_name = dict(datasets)
    other = next(o for o in ("train", "reference") if o in by_name)
    n = by_name["current"].total_rows
    what = "training" if other == "train" else "reference (training)"
    return [checker._by_chance(_finding(
        checker, "train_test_leakage", "current", count, n,
        f"evaluation rows also occur in the {what} data", dataset="current",
        columns_compared=list(feats),
        advice="Remove the leaked rows from the evaluation data, or split training "
               "and evaluation data by entity."),
        lambda rng: rw.chance_share("train_test_leakage", checker._cols("current", feats),
                                    rng, reference=checker._cols(other, feats)))]


def label_series(ctx, datasets) -> dict[str, CountedLabels]:
    """Each dataset's label column as exact value counts (``SparkDataset.value_counts``)."""
    out = {}
    for name, ds in datasets:
        if not ctx.target or ctx.target not in ds.spark_frame.columns:
            continue
        by_value: dict = {}
        for v, _, n in ds.value_counts(ctx.target):  # -0.0 and 0.0: one value, two texts
            if v is not None:
                by_value[v] = by_value.get(v, 0) + n
        counts = pd.Series(by_value, dtype="int64")
        out[name] = CountedLabels(counts, ds.total_rows)
    return out


def _is_numeric(sdf, c: str) -> bool:
    from pyspark.sql.types import BooleanType, NumericType

    t = sdf.schema[c].dataType
    return isinstance(t, NumericType) and not isinstance(t, BooleanType)


def _finding(checker, kind: str, subject: str, count: int, n: int, what: str, dataset: str | None = None,
             **evidence: Any):
    dataset = dataset or subject
    return checker._ctx.finding(
        kind, subject, f"{count:,} of {n:,} {what} (share {{value}}; {checker._levels(kind)}).",
        value=count / n, evidence={"count": count, "dataset": dataset, "rows": [], "engine": "spark", **evidence})


def validate(ds, specs, sample: pd.DataFrame) -> list:
    """great-expectations over every row through its Spark data source, after one Spark
    aggregation (:func:`screen`) has passed the plain expectations that hold; type-list
    expectations (pandas/Python type names, which a typed Spark column cannot violate the same
    way) on the driver sample."""
    from riskaudit.checks.data_validity import expectations as gxs

    sdf = ds.spark_frame.drop(*[c for c in ds.unsupported if c in ds.spark_frame.columns])
    typed = [s for s in specs if s.type == "expect_column_values_to_be_in_type_list"]
    outcomes = gxs.validate(sample, typed) if typed else []
    runnable = []
    for spec in (s for s in specs if s.type != "expect_column_values_to_be_in_type_list"):
        missing = [c for c in spec.columns if c not in sdf.columns]
        if missing:
            outcomes.append(gxs.Outcome(spec, False, ds.total_rows, details={"missing_columns": missing},
                                        error=f"column {missing[0]!r} is not in the data"))
        else:
            runnable.append(spec)
    passed = screen(sdf, runnable, ds.total_rows)
    rest = [spec for spec in runnable if id(spec) not in passed]
    return outcomes + (_with_gx(sdf, rest, ds.total_rows) if rest else []) + [
        gxs.Outcome(spec, True, ds.total_rows) for spec in runnable if id(spec) in passed]


def _with_gx(sdf, specs: list, rows: int) -> list:
    """great-expectations' Spark data source on ``specs``: first every verdict alone (its counts
    are aggregates that GX bundles into a few Spark jobs), then counts and example values of the
    failed ones only (example values cost one Spark job per expectation, a full pass where no
    value is unexpected)."""
    from riskaudit.checks.data_validity import expectations as gxs

    gx = gxs._gx()
    from great_expectations.compatibility import pyspark as gx_pyspark

    if gx_pyspark.pyspark is gx_pyspark.SPARK_NOT_IMPORTED:  # type: ignore[comparison-overlap]
        raise CheckerError("great-expectations was imported in this Python process before pyspark (a "
                           "pandas-engine scan ran first), so its Spark data source is off; start a new "
                           "process, or import pyspark before riskaudit")
    context = gxs.make_context()
    with gxs.quiet():
        # persist=False: great-expectations would otherwise cache the whole table (every column of
        # every row, in the driver's memory and on disk) before its first metric; the 10M-row
        # benchmark spent 26 s there, and the later passes read only the columns they need
        batch = (context.data_sources.add_spark("riskaudit_spark", persist=False).add_dataframe_asset("current")
                 .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": sdf}))
    verdicts = _run_suite(gx, batch, specs, {"result_format": "BOOLEAN_ONLY"})
    failed = [spec for spec, res in verdicts if not res.success]
    detail = {id(spec): gxs._outcome(spec, res, rows)
              for spec, res in (_run_suite(gx, batch, failed, gxs.RESULT_FORMAT) if failed else [])}
    return [detail.get(id(spec)) or gxs.Outcome(spec, True, rows) for spec, _ in verdicts]


def _unexpected(sdf, spec):
    """(unexpected, considered) count expressions of ``spec`` as great-expectations' Spark
    engine builds them (the same column expressions: ``isNull``; nulls filtered, then
    ``>=``/``<=`` or ``isin``), or None for a spec it does not cover."""
    from pyspark.sql import functions as F

    from riskaudit.checks.data_validity import expectations as gxs

    kw = spec.kwargs
    if spec.type not in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_between",
                         "expect_column_values_to_be_in_set") or not gxs.native_arguments(spec) \
            or kw["column"] not in sdf.columns:
        return None
    col = column(kw["column"])
    if spec.type == "expect_column_values_to_not_be_null":
        return F.sum(col.isNull().cast("long")), F.count(F.lit(1))
    if spec.type == "expect_column_values_to_be_between":
        if not _is_numeric(sdf, kw["column"]):
            return None
        lo, hi = kw.get("min_value"), kw.get("max_value")
        ok = (col >= F.lit(lo) if lo is not None else F.lit(True)) & (col <= F.lit(hi) if hi is not None else F.lit(True))
    else:
        ok = col.isin(list(kw["value_set"]))
    return F.sum((col.isNotNull() & ~ok).cast("long")), F.count(col)


def screen(sdf, specs: list, rows: int) -> set[int]:
    """Ids of the specs that pass, decided by one Spark aggregation: the unexpected and
    considered counts of every covered spec and great-expectations' rule (vacuously true
    without rows; else (considered - unexpected) / considered >= mostly). The specs that
    fail it or that it does not cover go to great-expectations, which reports the figures and
    examples (tests/test_spark_engine.py: same verdicts as great-expectations)."""
    exprs = {id(spec): e for spec in specs if (e := _unexpected(sdf, spec)) is not None}
    if not exprs or rows == 0:
        return set()
    row = sdf.agg(*[x.alias(f"{k}_{i}") for k, pair in enumerate(exprs.values()) for i, x in enumerate(pair)]).first()
    passed = set()
    for k, (key, spec) in enumerate((id(sp), sp) for sp in specs if id(sp) in exprs):
        bad, considered = int(row[f"{k}_0"] or 0), int(row[f"{k}_1"] or 0)
        mostly = float(spec.kwargs.get("mostly", 1.0))
        if considered == 0 or (float(considered) - float(bad)) / float(considered) >= mostly:
            passed.add(key)
    return passed


def _run_suite(gx, batch, specs: list, result_format: dict) -> list:
    """(spec, great-expectations result) of each spec, validated as one suite on ``batch``."""
    from riskaudit.checks.data_validity import expectations as gxs

    with gxs.quiet():
        suite = gx.ExpectationSuite(name="riskaudit_spark", expectations=[gxs.to_expectation(s) for s in specs])
        result = batch.validate(suite, result_format=result_format)
    left = list(result.results)  # not in suite order: matched by type and arguments
    out = []
    for spec in specs:
        i = next(i for i, res in enumerate(left) if _same(spec, res.expectation_config))
        out.append((spec, left.pop(i)))
    return out


def _plain(v):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple, set)):
        return tuple(_plain(x) for x in v)
    return str(v)


def _same(spec, config) -> bool:
    """``config`` (a result's expectation) is ``spec``: same type, same arguments (those the
    result echoes: great-expectations leaves out arguments equal to their defaults)."""
    kwargs = dict(config.kwargs or {})
    return config.type == spec.type and all(k not in kwargs or _plain(kwargs[k]) == _plain(v)
                                            for k, v in spec.kwargs.items())
