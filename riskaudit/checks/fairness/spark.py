"""fairness on the Spark engine: the group counts of every row, aggregated in Spark.

The model's raw outputs come from :meth:`SparkDataset.predict_all` (``mapInPandas``, the
model broadcast to the executors); whether they are probabilities already is decided over
the whole table (:func:`riskaudit.engines.spark.proba_rule`, as ``to_proba`` decides over
its array). A second ``mapInPandas`` turns each Arrow batch into cell types with the
pandas engine's own functions (``labels_to_index``, :func:`decide`, :func:`row_types`), and
Spark counts the rows of every (sensitive values, cell type). The driver builds the joint
table from those few counts with the pandas engine's group naming (``_group_codes`` over
the distinct values), so every rate equals the pandas engine's on the full table, and the
bootstrap (one multinomial draw over the table's cells) is the same draw for the same seed.
Numeric attributes that the pandas engine bins into quintiles keep the driver sample (the
quintile edges would need the full column): :func:`full_counts` raises ``CheckerError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from riskaudit.checks.fairness._rows import BIN_NUMERIC_ABOVE, MISSING, _group_codes, decide, row_types
from riskaudit.checks.fairness import _counts as C
from riskaudit.engines.spark import OUTPUT, column, proba_rule, to_proba_rows
from riskaudit.errors import CheckerError

TYPE = "__riskaudit_type"
UNKNOWN = "__riskaudit_unknown"


def full_counts(ctx: Any, prep: dict, threshold: float | None) -> tuple[list[list[str]], np.ndarray, list[str], int]:
    """(group names per attribute, joint counts (*sizes, 12), notes, rows with a label outside
    the classes) over every row."""
    import pandas as pd
    from pyspark.sql.types import BooleanType, IntegerType, StructField, StructType

    ds = ctx.data
    ds.distributed.discard("fairness")
    sens = [str(c) for c in ctx.sensitive]
    sdf, identity = ds.spark_frame, False
    if ctx.model is not None:
        sdf = ds.predict_all(ctx.model, list(ctx.features))
        identity = proba_rule(sdf)
    fields = {f.name: f for f in sdf.schema.fields}
    schema = StructType([StructField(f"s{i}", fields[c].dataType) for i, c in enumerate(sens)]
                        + [StructField(TYPE, IntegerType()),  # -1: left out (no model, unknown label)
                           StructField(UNKNOWN, BooleanType())])
    fn = _typer(ctx.target, tuple(prep["classes"]), int(prep["pos"]), threshold,
                ctx.model is not None, identity, sens)
    needed = dict.fromkeys(sens + ([ctx.target] if ctx.target else []) + ([OUTPUT] if ctx.model else []))
    keep = sdf.select(*[column(c) for c in needed])
    agg = keep.mapInPandas(fn, schema).groupBy(*[f"s{i}" for i in range(len(sens))], TYPE, UNKNOWN).count().toPandas()
    unknown = int(agg.loc[agg[UNKNOWN].to_numpy(dtype=bool), "count"].sum())
    agg = agg[agg[TYPE] >= 0]
    counts = agg["count"].to_numpy(dtype=np.int64)
    names, codes, notes = [], [], []
    for i, col in enumerate(sens):
        values = agg[f"s{i}"]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) \
                and values.nunique(dropna=True) > BIN_NUMERIC_ABOVE:
            raise CheckerError(f"{col} is numeric with many values; its quintiles need the whole column")
        c, g, _ = _group_codes(values)
        names.append(g)
        codes.append(c)
        missing = int(counts[values.isna().to_numpy()].sum())
        if missing:
            notes.append(f"{col}: {missing} row(s) without a value form their own group {MISSING!r}")
    sizes = [len(g) for g in names]
    if int(np.prod(sizes)) * C.N_TYPES > 4_000_000:
        raise CheckerError("too many joint groups to count in one table")
    table = np.zeros((*sizes, C.N_TYPES), dtype=np.int64)
    np.add.at(table, (*codes, agg[TYPE].to_numpy(dtype=np.int64)), counts)
    ds.distributed.add("fairness")
    return names, table, notes, unknown


def _typer(target: str | None, classes: tuple, pos: int, threshold: float | None, model: bool,
           identity: bool, sens: list[str]):
    """The ``mapInPandas`` function: each batch's sensitive values, cell types (-1: rows
    without a known label when there is no model, left out as on the pandas engine) and
    whether the row has a label outside the classes."""
    def types(batches):
        from riskaudit.data import labels_to_index

        for pdf in batches:
            n = len(pdf)
            y_true = labels_to_index(pdf[target], classes) if target else np.full(n, -1)
            if model:
                raw = np.stack(pdf[OUTPUT].to_numpy()) if n else np.zeros((0, 1))
                proba = np.nan_to_num(to_proba_rows(raw, identity), nan=0.0, posinf=1.0, neginf=0.0)
                pred_pos, y_pred = decide(proba, pos, threshold)
                keep = np.ones(n, dtype=bool)
            else:
                keep, y_pred, pred_pos = y_true >= 0, y_true, y_true == pos
            out = pdf[sens].copy()
            out.columns = [f"s{i}" for i in range(len(sens))]
            out[TYPE] = np.where(keep, row_types(pred_pos, y_true, y_pred, pos), -1).astype(np.int32)
            out[UNKNOWN] = (y_true < 0) & (pdf[target].notna().to_numpy() if target else False)
            yield out
    return types
