"""pii on the Spark engine: ``full`` scans every row of a table larger than its driver sample.

Which columns get a structured verdict is decided on the driver sample, as the pandas engine
decides it (:func:`structured_candidates`: the same sample of each column, the same tests).
Every row of those columns then goes through one ``mapInPandas`` pass, in one of two ways:

- a column whose sample verdict's type holds ``min_share`` of the sample or more (a column of
  e-mails or phone numbers): that verdict stands and its share is measured over every row by
  the type's shape (:func:`~riskaudit.checks.pii.columns.shaped_count`), exactly what the
  pandas engine's ``full`` does;
- every other column (where a few e-mails or IBANs may hide among harmless values): each
  Python worker builds the pattern engine once (:func:`_engine`, a module-level cache:
  Presidio loads once per worker, not per batch; nothing unpicklable is broadcast, only the
  options), reads each batch's values as the pandas engine reads them
  (:func:`~riskaudit.checks.pii.scanner.sample_values`) and tallies them with the pandas
  engine's own function (:class:`~riskaudit.checks.pii.columns.Tally`: rows per entity type
  and per set of types, rows per digit count, rows fitting the column name's format, the
  first distinct values holding each type). Spark sums the tallies (the distinct values: the
  first ``keep`` of each type by position), and the driver judges each column's tally with
  :func:`~riskaudit.checks.pii.columns.tally_verdict`, the function behind the pandas
  engine's verdicts.

The findings are then made by the pandas engine's
:func:`~riskaudit.checks.pii.scanner.scan_dataset` on the driver sample given those verdicts.
The recognizers cost 5 us (a city) to 1 ms (a phone number, phonenumbers' matcher over seven
regions) per distinct value, hence the shape for the columns whose type is already clear.

Free text stays on the driver sample: Presidio with spaCy takes about 2 ms a sentence on this
machine's cores (3,000 Faker sentences: 5.6 s), hours for ten million rows. So do the
k-anonymity classes (they need every quasi-identifier combination) and the language.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from riskaudit.checks.pii.columns import (HOLDERS_KEPT, Tally, Verdict, dominant, name_meaning, shaped_count,
                                         structured_verdict, tally_verdict)
from riskaudit.checks.pii.scanner import (_address_like, _mostly_streets, _worth_scanning, is_free_text, sample_values,
                                          scan_dataset, text_columns)

ENGINE_KEYS = ("score_threshold", "ignore_entities", "phone_regions")
"""The options the pattern engine is built from (all the executors get of the options)."""

_ENGINES: dict[tuple, Any] = {}
"""The pattern engine of this Python process, per settings: built on a worker's first batch,
kept for every later batch and task the worker runs."""

_MEMOS: dict[tuple, dict[str, frozenset[str]]] = {}
"""The types of the values this Python process has judged, per settings and column-name
meaning (a value repeated across batches and tasks is judged once; bounded by
:data:`~riskaudit.checks.pii.columns.MEMO_VALUES`)."""

_POS = 2**40
"""A value's position: partition id x 2^40 + its place among the partition's values."""


def structured_candidates(frame: pd.DataFrame, cfg: Mapping[str, Any], rng: np.random.Generator,
                          engine: Any) -> dict[str, Verdict | None]:
    """The columns the pandas engine would give a structured verdict from ``frame`` (a
    superset: a column of sentences that are mostly addresses or streets is kept), each with
    its sample verdict when that verdict's type holds ``min_share`` of the sample or more (the
    pandas engine's ``full`` then measures that type's share by its shape over every row),
    else None (every row goes through the recognizers). ``rng`` draws the same samples as the
    scan's own (a generator of the same seed)."""
    out: dict[str, Verdict | None] = {}
    min_share, min_count = float(cfg["min_share"]), int(cfg.get("min_count", 5))
    for col in text_columns(frame, cfg["ignore_columns"]):
        values = [v for v in sample_values(frame[col], int(cfg["sample_size"]), False, rng) if v.strip()]
        if not values or not _worth_scanning(frame[col], values):
            continue
        if is_free_text(values) and not (_mostly_streets(values) or _address_like(values) >= min_share):
            continue  # free text: analysed on the driver sample
        v = structured_verdict(col, values, engine, min_share, min_count)
        out[str(col)] = v if dominant(v, min_share, float(cfg["min_confidence"])) else None
    return out


def _engine(settings: tuple) -> Any:
    """The worker's pattern engine (Presidio's recognizers, no spaCy), built once per process."""
    eng = _ENGINES.get(settings)
    if eng is None:
        from riskaudit.checks.pii.scanner import TextEngines

        eng = _ENGINES[settings] = TextEngines(dict(zip(ENGINE_KEYS, settings)), "off")
    return eng


def _tallier(columns: list[str], shapes: dict[str, str], settings: tuple, keep: int) -> Callable:
    """The ``mapInPandas`` function: one tally per column of the partition's rows (the
    columns of ``shapes``: rows shaped like their type, as the pandas engine's ``full``
    counts them), sent back as rows of (column, kind, key, value, rows, pos)."""
    meanings = {c: name_meaning(c) for c in columns}

    def tally(batches):
        from riskaudit.engines.spark import partition_id

        engine = _engine(settings)
        base = partition_id() * _POS
        tallies = {c: Tally(keep=keep) for c in columns}
        seen = dict.fromkeys(columns, 0)
        nonnull = dict.fromkeys(columns, 0)
        fraction = dict.fromkeys(columns, 0)
        shaped = dict.fromkeys(columns, 0)
        unused = np.random.default_rng(0)  # sample_values draws nothing for a full column
        for pdf in batches:
            for i, c in enumerate(columns):
                s = pdf.iloc[:, i]
                nonnull[c] += int(s.notna().sum())
                if c in shapes:
                    shaped[c] += (shaped_count(s, shapes[c]) or (0, 0))[0]
                    continue
                if fraction[c]:
                    continue
                if pd.api.types.is_float_dtype(s.dtype):
                    arr = s.dropna().to_numpy(dtype=float)
                    if not np.all(np.mod(arr, 1) == 0):
                        fraction[c] = 1  # measurements: the pandas engine scans no fraction column
                        continue
                values = [v for v in sample_values(s, 0, True, unused) if v.strip()]
                tallies[c].add(values, engine, meanings[c], start=base + seen[c],
                               memo=_MEMOS.setdefault((settings, meanings[c]), {}))
                seen[c] += len(values)
        rows: list[tuple] = []
        for c, t in tallies.items():
            rows += [(c, "rows", "", "", t.rows, 0), (c, "nonnull", "", "", nonnull[c], 0),
                     (c, "fraction", "", "", fraction[c], 0), (c, "shaped", "", "", t.name_shaped, 0),
                     (c, "fitting", "", "", t.fitting, 0), (c, "type_shaped", "", "", shaped[c], 0)]
            rows += [(c, "entity", e, "", n, 0) for e, n in t.entity_rows.items()]
            rows += [(c, "set", "|".join(s), "", n, 0) for s, n in t.set_rows.items()]
            rows += [(c, "digits", str(d), "", n, 0) for d, n in t.digit_rows.items()]
            rows += [(c, "holder", e, v, 0, p) for e, held in t.holders.items() for v, p in held.items()]
            rows += [(c, "fullname", "", v, 0, p) for v, p in t.full_names.items()]
        yield pd.DataFrame(rows, columns=["column", "kind", "key", "value", "rows", "pos"]).astype(
            {"rows": "int64", "pos": "int64"})
    return tally


def full_tallies(sdf: Any, columns: list[str], shapes: dict[str, str],
                 cfg: Mapping[str, Any]) -> tuple[dict[str, Tally], dict[str, int], dict[str, int]]:
    """Each column's :class:`Tally` over every row of ``sdf``, its non-missing rows and (the
    columns of ``shapes``) its rows shaped like their type; a column with a fraction anywhere
    (measurements) has an empty tally, as on the pandas engine."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    from riskaudit.engines.spark import column

    keep = max(int(cfg.get("min_count", 5)), HOLDERS_KEPT)
    settings = (float(cfg["score_threshold"]), tuple(cfg["ignore_entities"]), tuple(cfg["phone_regions"]))
    schema = StructType([StructField("column", StringType()), StructField("kind", StringType()),
                         StructField("key", StringType()), StructField("value", StringType()),
                         StructField("rows", LongType()), StructField("pos", LongType())])
    parts = sdf.select(*[column(c) for c in columns]).mapInPandas(_tallier(columns, shapes, settings, keep), schema)
    summed = parts.groupBy("column", "kind", "key", "value").agg(F.sum("rows").alias("rows"),
                                                                 F.min("pos").alias("pos"))
    first = Window.partitionBy("column", "kind", "key").orderBy("pos", "value")
    rows = summed.withColumn("rank", F.row_number().over(first)).where(
        (F.col("rank") <= keep) | ~F.col("kind").isin("holder", "fullname")).toPandas()
    tallies = {c: Tally(keep=keep) for c in columns}
    nonnull = dict.fromkeys(columns, 0)
    shaped = dict.fromkeys(columns, 0)
    fraction = set()
    for c, kind, key, value, n, pos in rows[["column", "kind", "key", "value", "rows", "pos"]].itertuples(index=False):
        t, n, pos = tallies[c], int(n), int(pos)
        if kind == "rows":
            t.rows = n
        elif kind == "nonnull":
            nonnull[c] = n
        elif kind == "fraction" and n:
            fraction.add(c)
        elif kind == "shaped":
            t.name_shaped = n
        elif kind == "fitting":
            t.fitting = n
        elif kind == "type_shaped":
            shaped[c] = n
        elif kind == "entity":
            t.entity_rows[key] = n
        elif kind == "set":
            t.set_rows[tuple(key.split("|"))] = n
        elif kind == "digits":
            t.digit_rows[int(key)] = n
        elif kind == "holder":
            t.holders.setdefault(key, {})[value] = pos
        elif kind == "fullname":
            t.full_names[value] = pos
    for c in fraction:
        tallies[c] = Tally(keep=keep)
    return tallies, nonnull, shaped


def scan_table(ds: Any, cfg: Mapping[str, Any], *, model_spec: str | None, rng: Callable[[], np.random.Generator],
               sensitive: Sequence[str] = (), exclude: Sequence[str] = ()) -> dict[str, Any]:
    """:func:`~riskaudit.checks.pii.scanner.scan_dataset` of a Spark table larger than its
    driver sample, the structured columns' verdicts from every row (``rng()``: a fresh
    generator of the scan's sample seed, called twice for the same draws). The result has
    ``full_scan``: what was scanned over every row."""
    frame = ds.frame
    from riskaudit.checks.pii.scanner import TextEngines

    candidates = structured_candidates(frame, cfg, rng(), TextEngines(cfg, model_spec))
    nested = [c for c in candidates if c in (getattr(ds, "unsupported", None) or {})]
    columns = [c for c in candidates if c not in nested]  # lists and structs: the sample's verdict
    shapes = {c: v.entity for c, v in candidates.items() if c in columns and v is not None and v.entity}
    min_share, min_count = float(cfg["min_share"]), int(cfg.get("min_count", 5))
    tallies, nonnull, shaped = full_tallies(ds.spark_frame, columns, shapes, cfg) if columns else ({}, {}, {})
    verdicts: dict[str, Verdict] = {}
    for c in columns:
        v = candidates[c]
        if v is not None:  # the sample's type, its share by shape over every row (the pandas engine's full)
            verdicts[c] = dataclasses.replace(v, share=shaped[c] / nonnull[c] if nonnull[c] else 0.0,
                                              rows_scanned=nonnull[c])
        else:
            verdicts[c] = tally_verdict(c, tallies[c], min_share, min_count)
    res = scan_dataset(frame, {**cfg, "full": False}, model_spec=model_spec, rng=rng(), sensitive=sensitive,
                       exclude=exclude, verdicts=verdicts)
    for item in res["columns"]:
        if item["kind"] == "structured" and item["column"] in verdicts:
            item["evidence"].update(full_scan=True, rows=nonnull[item["column"]])
    res["full_scan"] = {"rows": int(ds.rows), "columns": columns, "by_shape": sorted(shapes),
                        "sampled_nested": nested, "sampled_free_text": list(res.get("free_text_columns", []))}
    return res
