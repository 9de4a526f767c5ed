"""drift on the Spark engine: effect sizes and prediction shares over every row.

Used when a dataset is larger than its driver sample (``SparkDataset.sampled``). The
two-sample tests (KS, chi-squared) stay exact on the seeded sample (the driver sample, at
most the ``max_rows`` / ``model_rows`` options); the effect sizes that grade a finding come
from the whole tables, aggregated in Spark:

- numeric features: the reference deciles (the PSI's bins) and 1,000 quantiles of each
  table from Spark's ``percentile_approx`` (accuracy 10,000: a quantile's rank is off by at
  most 1/10,000 of the rows), the rows per bin counted exactly against those edges, the
  reference's standard deviation exact (``stddev_pop``); the Wasserstein distance is the
  mean gap between the two quantile functions at the 1,000 midpoints
  (W1 = integral of |Q_ref(u) - Q_cur(u)| du). Against the exact figures: a few thousandths
  of a standard deviation and of PSI on the tested data (tests/test_spark_engine.py).
- categorical features: exact counts per category (one group-by of all of them).
- predictions: every row's predicted class (the model's persisted outputs,
  :meth:`SparkDataset.predictions`), counted exactly; the reading of the outputs (already
  probabilities, else sigmoid/softmax) decided per table as ``to_proba`` decides.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from riskaudit.checks.drift import stats
from riskaudit.engines.spark import OUTPUT, RULE_STATS, column, rule_of, rule_stats, to_proba_rows

GRID = 1000
"""Quantiles per numeric column behind the Wasserstein distance."""
ACCURACY = 10_000
"""``percentile_approx`` accuracy: rank error at most rows / ACCURACY."""
METHOD = ("effect sizes over every row in Spark: category counts exact; numeric PSI bins on the reference "
          f"deciles and the Wasserstein distance from {GRID:,} quantiles of each table (percentile_approx, "
          f"rank error at most 1/{ACCURACY:,} of the rows); tests on the seeded sample")
_MISSING = "\u0000<missing>"


def _finite(name: str):
    from pyspark.sql import functions as F

    x = column(name).cast("double")
    return F.when(x.isNotNull() & ~F.isnan(x) & (F.abs(x) != float("inf")), x)


def numeric_effects(cur_sdf: Any, ref_sdf: Any, features: list[str]) -> dict[str, dict[str, float]]:
    """``stats.numeric_effects`` of every feature over the whole tables (three passes: the
    reference's quantiles, then each table's bin counts, the current's quantiles with them)."""
    from pyspark.sql import functions as F

    if not features:
        return {}
    deciles = list(np.linspace(0, 1, 11))
    grid = list((np.arange(GRID) + 0.5) / GRID)
    probs = deciles + [0.25, 0.75] + grid
    ref_row = ref_sdf.agg(*[x for i, f in enumerate(features) for x in (
        F.percentile_approx(_finite(f), probs, ACCURACY).alias(f"q{i}"),
        F.stddev_pop(_finite(f)).alias(f"sd{i}"), F.count(_finite(f)).alias(f"n{i}"))]).first()
    edges = {}
    for i, f in enumerate(features):
        q = np.asarray(ref_row[f"q{i}"], dtype=np.float64)
        edges[f] = np.unique(q[:11])
    cur_row = cur_sdf.agg(*[F.percentile_approx(_finite(f), grid, ACCURACY).alias(f"q{i}")
                            for i, f in enumerate(features)], *_bin_counts(features, edges)).first()
    ref_bins = ref_sdf.agg(*_bin_counts(features, edges)).first()
    out = {}
    for i, f in enumerate(features):
        q = np.asarray(ref_row[f"q{i}"], dtype=np.float64)
        qc = np.asarray(cur_row[f"q{i}"], dtype=np.float64)
        psi = _psi(edges[f], ref_bins, cur_row, i)
        std = float(ref_row[f"sd{i}"] or 0.0)
        if not std > 0:
            iqr = float(q[12] - q[11])
            std = iqr if iqr > 0 else 1.0
        w = float(np.mean(np.abs(q[13:] - qc)))
        out[f] = {"psi": psi, "wasserstein_sd": w / std, "effect": w / std}
    return out


def _bin_counts(features: list[str], edges: dict[str, np.ndarray]) -> list:
    """Per feature: finite values, values <= each inner edge (searchsorted 'right'), values
    equal to a constant reference's one value."""
    from pyspark.sql import functions as F

    out = []
    for i, f in enumerate(features):
        x = _finite(f)
        out.append(F.count(x).alias(f"c{i}"))
        e = edges[f]
        if len(e) < 2:
            out.append(F.count(F.when(x == float(e[0]), 1)).alias(f"eq{i}"))
        out += [F.count(F.when(x <= float(v), 1)).alias(f"le{i}_{j}") for j, v in enumerate(e[1:-1])]
    return out


def _psi(edges: np.ndarray, ref_row: Any, cur_row: Any, i: int) -> float:
    nr, nc = int(ref_row[f"c{i}"]), int(cur_row[f"c{i}"])
    if len(edges) < 2:  # constant reference: share at that value vs the rest
        k = int(cur_row[f"eq{i}"]) / max(nc, 1)
        return stats.psi(np.array([1.0, 0.0]), np.array([k, 1 - k]))
    inner = range(len(edges) - 2)
    cut_r = np.array([0, *[int(ref_row[f"le{i}_{j}"]) for j in inner], nr])
    cut_c = np.array([0, *[int(cur_row[f"le{i}_{j}"]) for j in inner], nc])
    return stats.psi(np.diff(cut_r) / max(nr, 1), np.diff(cut_c) / max(nc, 1))


def category_counts(sdf: Any, features: list[str]) -> dict[str, dict[str, int]]:
    """Exact rows per category (as text; missing: ``<missing>``) of each feature, one group-by."""
    from pyspark.sql import functions as F

    if not features:
        return {}
    cells = F.array(*[F.struct(F.lit(i).alias("i"), F.coalesce(column(f).cast("string"), F.lit(_MISSING)).alias("v"))
                      for i, f in enumerate(features)])
    rows = sdf.select(F.explode(cells).alias("kv")).groupBy("kv.i", "kv.v").count().collect()
    out: dict[str, dict[str, int]] = {f: {} for f in features}
    for r in rows:
        out[features[int(r[0])]]["<missing>" if r[1] == _MISSING else str(r[1])] = int(r[2])
    return out


def categorical_effects(ref: dict[Any, int], cur: dict[Any, int]) -> dict[str, float]:
    """``stats.categorical_effects`` from category counts."""
    cats = sorted(set(ref) | set(cur), key=str)
    r = np.array([ref.get(c, 0) for c in cats], dtype=np.float64)
    c = np.array([cur.get(c, 0) for c in cats], dtype=np.float64)
    rs, cs = r / max(r.sum(), 1), c / max(c.sum(), 1)
    p = stats.psi(rs, cs)
    return {"psi": p, "js_distance": stats.js_distance(rs, cs), "effect": math.sqrt(max(p, 0.0))}


PRED_ID, PRED_SQ = "__riskaudit_pred_identity", "__riskaudit_pred_squashed"


def predicted_counts(ds: Any, model: Any, features: list[str]) -> dict[int, int]:
    """Rows per predicted class (index) over the whole table: the argmax of the model's
    probabilities, the outputs read as ``to_proba`` reads them over this table."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

    sdf = ds.predictions(model, features, [])
    schema = StructType([StructField(PRED_ID, IntegerType()), StructField(PRED_SQ, IntegerType())]
                        + [StructField(c, IntegerType() if c == RULE_STATS[2] else DoubleType()) for c in RULE_STATS])
    agg = (sdf.select(OUTPUT).mapInPandas(_classes, schema).groupBy(PRED_ID, PRED_SQ)
           .agg(F.count(F.lit(1)).alias("n"), F.min(RULE_STATS[0]), F.max(RULE_STATS[1]), F.max(RULE_STATS[2]),
                F.max(RULE_STATS[3])).toPandas())
    agg.columns = [PRED_ID, PRED_SQ, "n", *RULE_STATS]
    identity = rule_of(float(agg[RULE_STATS[0]].min()), float(agg[RULE_STATS[1]].max()),
                       int(agg[RULE_STATS[2]].max()), float(agg[RULE_STATS[3]].max()))
    counts = agg.groupby(PRED_ID if identity else PRED_SQ)["n"].sum()
    return {int(k): int(v) for k, v in counts.items()}


def _classes(batches):
    for pdf in batches:
        raw = np.stack(pdf[OUTPUT].to_numpy()) if len(pdf) else np.zeros((0, 1))
        cols = {PRED_ID: to_proba_rows(raw, True).argmax(1).astype(np.int32),
                PRED_SQ: to_proba_rows(raw, False).argmax(1).astype(np.int32), **rule_stats(raw)}
        yield pd.DataFrame(cols)
