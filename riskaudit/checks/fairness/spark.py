"""fairness on the Spark engine: the group counts of every row, aggregated in Spark.

The model's raw outputs come from :meth:`SparkDataset.predict_all` (``mapInPandas``, the
model broadcast to the executors); the same Python pass turns each Arrow batch into cell
types with the pandas engine's own functions
(``labels_to_index``, :func:`decide`, :func:`row_types`) under both readings of the outputs
(probabilities already, or scores to squash) plus the per-row figures of
:func:`riskaudit.engines.spark.rule_stats`; Spark counts the rows of every (sensitive
values, both cell types) with those figures' extremes, from which the driver decides the
reading over the whole table as ``to_proba`` decides over its array
(:func:`~riskaudit.engines.spark.rule_of`) and keeps that reading's counts. The driver builds the joint
table from those few counts with the pandas engine's group naming (``_group_codes`` over
the distinct values), so every rate equals the pandas engine's on the full table, and the
bootstrap (one multinomial draw over the table's cells) is the same draw for the same seed.
Numeric attributes that the pandas engine bins into quintiles keep the driver sample (the
quintile edges would need the full column): :func:`full_counts` raises ``CheckerError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyspark.sql import functions as F

from riskaudit.checks.fairness._rows import BIN_NUMERIC_ABOVE, _group_codes, decide, missing_note, row_types
from riskaudit.checks.fairness import _counts as C
from riskaudit.engines.spark import (COUNT, RULE_STATS, batch_counts, column, partition_id, rule_extremes, rule_of,
                                    to_proba_rows)
from riskaudit.errors import CheckerError

TYPE = "__riskaudit_type"
UNKNOWN = "__riskaudit_unknown"
SQUASHED = "__riskaudit_type_squashed"
PRED_ID, PRED_SQ = "__riskaudit_pred_identity", "__riskaudit_pred_squashed"


def full_counts(ctx: Any, prep: dict, threshold: float | None) -> tuple[list[list[str]], np.ndarray, list[str], int]:
    """(group names per attribute, joint counts (*sizes, 12), notes, rows with a label outside
    the classes) over every row. With a model, the rows per predicted class are left in
    ``ctx.data.predicted_classes`` for drift."""
    ds = ctx.data
    ds.distributed.discard("fairness")
    sens = [str(c) for c in ctx.sensitive]
    keep = sens + ([str(ctx.target)] if ctx.target else [])
    model = ctx.model is not None
    schema, keys = _schema(ds.spark_frame, sens, model)
    fn = _typer(ctx.target, tuple(prep["classes"]), int(prep["pos"]), threshold, model, sens)
    if model:  # predicted and typed in one Python pass per batch
        mapped = ds.predict_all(ctx.model, list(ctx.features), keep=keep, then=fn, schema=schema)
    else:
        mapped = ds.spark_frame.select(*[column(c) for c in keep]).mapInPandas(
            lambda batches: fn((pdf, None) for pdf in batches), schema)
    stats = [F.min(RULE_STATS[0]), F.max(RULE_STATS[1]), F.max(RULE_STATS[2]), F.max(RULE_STATS[3])] if model else []
    agg = mapped.groupBy(*keys).agg(F.sum(COUNT).alias("count"), *stats).toPandas()
    agg = agg.set_axis(keys + ["count"] + (list(RULE_STATS) if model else []), axis=1)
    if model:  # the reading of the outputs, decided over every row
        identity = rule_of(float(agg[RULE_STATS[0]].min()), float(agg[RULE_STATS[1]].max()),
                           int(agg[RULE_STATS[2]].max()), float(agg[RULE_STATS[3]].max()))
        pred = agg.groupby(PRED_ID if identity else PRED_SQ)["count"].sum()
        ds.predicted_classes[(id(ctx.model), tuple(str(f) for f in ctx.features))] = {
            int(k): int(v) for k, v in pred.items()}
        agg = agg.rename(columns={TYPE if identity else SQUASHED: "__type"})
        agg = agg.groupby([f"s{i}" for i in range(len(sens))] + ["__type", UNKNOWN], dropna=False,
                          as_index=False)["count"].sum().rename(columns={"__type": TYPE})
    unknown = int(agg.loc[agg[UNKNOWN].to_numpy(dtype=bool), "count"].sum())
    return _table(agg[agg[TYPE] >= 0], sens, ds, unknown)


def _schema(sdf: Any, sens: list[str], model: bool) -> tuple[Any, list[str]]:
    """The typer's output schema and the columns the counts are grouped by."""
    from pyspark.sql.types import BooleanType, DoubleType, IntegerType, LongType, StructField, StructType

    fields = {f.name: f for f in sdf.schema.fields}
    out = [StructField(f"s{i}", fields[c].dataType) for i, c in enumerate(sens)] + [
        StructField(TYPE, IntegerType()),  # -1: left out (no model, unknown label)
        StructField(UNKNOWN, BooleanType())]
    extra = [SQUASHED, PRED_ID, PRED_SQ] if model else []
    out += [StructField(c, IntegerType()) for c in extra] + [StructField(COUNT, LongType())]
    if model:
        out += [StructField(c, IntegerType() if c == RULE_STATS[2] else DoubleType()) for c in RULE_STATS]
    return StructType(out), [f"s{i}" for i in range(len(sens))] + [TYPE, UNKNOWN] + extra


def _groups(agg: Any, sens: list[str], counts: Any) -> tuple[list[list[str]], list[np.ndarray], list[str]]:
    """Each attribute's group names and the aggregated rows' codes in them (the pandas
    engine's ``_group_codes`` over the distinct values), and a note on the rows without a
    value (``counts``: the rows each aggregated row stands for)."""
    import pandas as pd

    names, codes, notes = [], [], []
    for i, col in enumerate(sens):
        values = agg[f"s{i}"]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) \
                and values.nunique(dropna=True) > BIN_NUMERIC_ABOVE:
            raise CheckerError(f"{col} is numeric with many values; its quintiles need the whole column")
        c, g, _ = _group_codes(values)
        names.append(g)
        codes.append(c)
        missing = int(np.asarray(counts)[values.isna().to_numpy()].sum())
        if missing:
            notes.append(f"{col}: {missing_note(missing)}")
    return names, codes, notes


def _table(agg: Any, sens: list[str], ds: Any, unknown: int) -> tuple[list[list[str]], np.ndarray, list[str], int]:

    counts = agg["count"].to_numpy(dtype=np.int64)
    names, codes, notes = _groups(agg, sens, counts)
    sizes = [len(g) for g in names]
    if int(np.prod(sizes)) * C.N_TYPES > 4_000_000:
        raise CheckerError("too many joint groups to count in one table")
    table = np.zeros((*sizes, C.N_TYPES), dtype=np.int64)
    np.add.at(table, (*codes, agg[TYPE].to_numpy(dtype=np.int64)), counts)
    ds.distributed.add("fairness")
    return names, table, notes, unknown


def _typer(target: str | None, classes: tuple, pos: int, threshold: float | None, model: bool, sens: list[str]):
    """The ``mapInPandas`` function: each batch's sensitive values, cell types (-1: rows
    without a known label when there is no model, left out as on the pandas engine), whether
    the row has a label outside the classes and, with a model, the cell types of the outputs
    read as scores to squash and the figures that decide which reading holds."""

    def types(batches):
        from riskaudit.data import labels_to_index

        for pdf, raw in batches:  # raw: the model's outputs (N x C), None without a model
            n = len(pdf)
            y_true = labels_to_index(pdf[target], classes) if target else np.full(n, -1)
            cols = {f"s{i}": pdf[c].to_numpy() for i, c in enumerate(sens)}
            typed, argmax = {}, {}
            if model:
                for name, identity in ((TYPE, True), (SQUASHED, False)):
                    proba = to_proba_rows(raw, identity)
                    argmax[identity] = proba.argmax(1).astype(np.int32)
                    proba = np.nan_to_num(proba, nan=0.0, posinf=1.0, neginf=0.0)
                    pred_pos, y_pred = decide(proba, pos, threshold)
                    typed[name] = row_types(pred_pos, y_true, y_pred, pos).astype(np.int32)
            else:
                keep, pred_pos = y_true >= 0, y_true == pos
                typed[TYPE] = np.where(keep, row_types(pred_pos, y_true, y_true, pos), -1).astype(np.int32)
            cols[TYPE] = typed[TYPE]
            cols[UNKNOWN] = (y_true < 0) & (pdf[target].notna().to_numpy() if target else False)
            extremes = None
            if model:
                cols[SQUASHED] = typed[SQUASHED]
                cols[PRED_ID], cols[PRED_SQ] = argmax[True], argmax[False]
                extremes = rule_extremes(raw)
            yield batch_counts(cols, extremes)  # one row per distinct key of the batch, with its rows
    return types


REGRESSION_SUMS = ("__riskaudit_n", "__riskaudit_labelled", "__riskaudit_pred", "__riskaudit_abs", "__riskaudit_sq")


def full_regression_sums(ctx: Any, mode: str) -> tuple[list[list[str]], np.ndarray, list[str], Any]:
    """Regression: (group names per attribute, joint sums (*sizes, 5) of
    :func:`._counts.regression_sums` over every row, notes, and a function giving a driver
    frame's rows their codes in those groups (the bootstrap stays on the driver sample)).

    Each partition's Python pass sums per joint group the count, labelled count, prediction,
    |error| and error² of its Arrow batches (the pandas engine's per-row values: predictions
    from the model's first output, non-finite ones counted as 0 and unlabelled); the driver
    adds the partitions' sums with ``math.fsum`` (correctly rounded: the same figures in any
    order). Numeric attributes binned into quintiles on the pandas engine raise
    :class:`CheckerError` (the quintile edges need the whole column)."""
    import math

    import pandas as pd
    from pyspark.sql.types import DoubleType, LongType, StructField, StructType

    ds = ctx.data
    ds.distributed.discard("fairness")
    sens = [str(c) for c in ctx.sensitive]
    if not sens:
        raise CheckerError("no sensitive attribute to group by")
    target = str(ctx.target) if ctx.target is not None else None
    keep = sens + ([target] if target else [])
    fields = {f.name: f for f in ds.spark_frame.schema.fields}
    schema = StructType([StructField("part", LongType())]
                        + [StructField(f"s{i}", fields[c].dataType) for i, c in enumerate(sens)]
                        + [StructField(c, DoubleType()) for c in REGRESSION_SUMS])
    fn = _summer(target, sens, mode == "model")
    if mode == "model":
        mapped = ds.predict_all(ctx.model, list(ctx.features), keep=keep, then=fn, schema=schema)
    else:
        mapped = ds.spark_frame.select(*[column(c) for c in keep]).mapInPandas(fn, schema)
    try:
        rows = mapped.toPandas()
    except Exception as exc:
        from riskaudit.engines.spark import _first_line

        raise CheckerError(f"the Spark job failed: {_first_line(exc)}") from None
    keys = [f"s{i}" for i in range(len(sens))]
    rows = rows.sort_values(["part"], kind="stable")
    agg = rows.groupby(keys, dropna=False, sort=False)[list(REGRESSION_SUMS)].agg(math.fsum).reset_index()
    names, codes, notes = _groups(agg, sens, agg[REGRESSION_SUMS[0]].to_numpy())
    sizes = [len(g) for g in names]
    if int(np.prod(sizes)) * 5 > 4_000_000:
        raise CheckerError("too many joint groups to sum in one table")
    table = np.zeros((*sizes, 5), dtype=np.float64)
    sums = agg[list(REGRESSION_SUMS)].to_numpy(np.float64)
    for j in range(5):  # one group per row of agg: no two rows add into one cell
        np.add.at(table[..., j], tuple(codes), sums[:, j])

    def driver_codes(frame: Any) -> list[np.ndarray]:
        """Each sensitive column's codes for the rows of a driver frame in the whole table's
        groups (the values read with the table's distinct values, so equal values are equal
        text whatever dtype the sample got)."""
        out = []
        for i, col in enumerate(sens):
            both = pd.concat([agg[f"s{i}"], frame[col]], ignore_index=True)
            c, g, _ = _group_codes(both)
            if g != names[i]:
                raise CheckerError(f"{col}: the driver sample's groups are not the table's")
            out.append(c[len(agg):])
        return out

    ds.distributed.add("fairness")
    return names, table, notes, driver_codes


def _summer(target: str | None, sens: list[str], model: bool):
    """The ``mapInPandas`` function of :func:`full_regression_sums`: per partition, one row
    per joint group of the sensitive values with its five sums."""
    import pandas as pd

    def sums(batches):
        part = partition_id()
        parts = []
        for item in batches:  # with a model: (the batch, its raw outputs as one array)
            pdf, raw = item if model else (item, None)
            n = len(pdf)
            if not n:
                continue
            y = (pd.to_numeric(pdf[target], errors="coerce").to_numpy(dtype=np.float64) if target
                 else np.full(n, np.nan))
            if model:
                p = np.asarray(raw, dtype=np.float64).reshape(n, -1)[:, 0]
            else:
                p = y.copy()
            labelled = np.isfinite(y) & np.isfinite(p)
            p = np.where(np.isfinite(p), p, 0.0)
            e = np.where(labelled, p - y, 0.0)
            frame = pd.DataFrame({f"s{i}": pdf[c].to_numpy() for i, c in enumerate(sens)})
            vals = pd.DataFrame(dict(zip(REGRESSION_SUMS, (np.ones(n), labelled.astype(np.float64), p, np.abs(e),
                                                           e * e))))
            parts.append(pd.concat([frame, vals], axis=1).groupby([f"s{i}" for i in range(len(sens))],
                                                                  dropna=False, sort=False).sum().reset_index())
        keys = [f"s{i}" for i in range(len(sens))]
        if parts:
            out = pd.concat(parts, ignore_index=True).groupby(keys, dropna=False, sort=False).sum().reset_index()
        else:
            out = pd.DataFrame({**{k: [] for k in keys}, **{c: [] for c in REGRESSION_SUMS}})
        out.insert(0, "part", part)
        yield out[["part", *keys, *REGRESSION_SUMS]]
    return sums
