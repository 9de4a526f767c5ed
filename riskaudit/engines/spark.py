"""The Spark engine (``--engine spark``): audit Parquet/Delta folders and Spark tables where they live.

Each dataset stays a Spark DataFrame (:attr:`SparkDataset.spark_frame`); the checkers see a
seeded **driver sample** as ``Dataset.frame`` (the whole table when it has at most
``sample_rows`` rows). What is computed over the full table in Spark is listed in
:data:`DISTRIBUTED`; every other checker says in its summary that it ran on the sample
(:func:`note`). The session is the active one (a Databricks notebook, ``spark-submit``), else
a local one (``local[2]``, no UI, bound to 127.0.0.1, quiet logs).

Only this module (and the checkers' ``spark`` helpers it hands datasets to) imports pyspark.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskaudit import _scope
from riskaudit.engines import spark_profile
from riskaudit.engines.spark_profile import phase
from riskaudit.data import Dataset, frame_matrix, require_regular, sha256_tree
from riskaudit.engines import is_spark_frame
from riskaudit.errors import InputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_SAMPLE_ROWS = 200_000
"""Rows collected to the driver for the checkers that run on a sample (project key
``spark_sample_rows``)."""

ARROW_BATCH_ROWS = 100_000
"""Rows per Arrow batch of a local session's Python workers (a session from the environment
keeps its own ``spark.sql.execution.arrow.maxRecordsPerBatch``)."""

SPLIT_BYTES = 64 * 2**20
"""Largest file split of a local session's scans (``spark.sql.files.maxPartitionBytes``): more,
smaller tasks, so both cores stay busy to the end of each pass over a table of a few files."""

DISTRIBUTED = {
    "data_validity": ("the expectations (great-expectations' Spark data source) and the counts of "
                      "duplicate rows, train/test leakage, conflicting labels, empty rows and text, "
                      "label variants and classes ran over every row in Spark (outliers and "
                      "type checks: driver sample)"),
    "fairness": ("the model's predictions (mapInPandas on the executors) and the group counts "
                 "behind every rate and its bootstrap interval covered every row, as did the group sums of a "
                 "regression's predictions and errors (their bootstrap intervals, extra_metrics and the note on "
                 "non-finite scores: driver sample)"),
    "performance": ("the model's predictions (mapInPandas on the executors) and every point figure covered every "
                    "row (the confusion matrix, log loss and calibration bins; ROC AUC exact from each distinct "
                    "score's counts, else from a fine histogram of the scores, its largest error stated; "
                    "regression's MAE, RMSE and R² from sums); the bootstrap intervals: driver sample"),
    "drift": ("each feature's shift and the shift of the labels and predicted classes were measured over every row "
              "(category and class counts exact; numeric: rows counted exactly in bins on the reference "
              "sample's deciles, the PSI's, and 1,000 quantiles, the Wasserstein distance integrated over "
              "them, within 2% or 0.003 SD of the exact figure where tested); the tests that decide significance, the "
              "multivariate test and concept drift ran on the driver sample"),
    "pii": ("with --full, every row of each structured column was scanned on the executors (mapInPandas): a column "
            "whose type holds most of the sample by that type's shape, as the pandas engine's --full does, the others "
            "through Presidio's recognizers (loaded once per Python worker) and the name lexicon, their counts per "
            "entity type and first distinct values summed in Spark and judged by the pandas engine's rules; which "
            "columns are structured, free text (spaCy) and k-anonymity: driver sample"),
}
"""What each checker computes over the full table on the Spark engine."""

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")
_LOG4J = """\
rootLogger.level = fatal
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = fatal
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = fatal
logger.submit.name = org.apache.spark.deploy.SparkSubmit
logger.submit.level = fatal
logger.context.name = org.apache.spark.SparkContext
logger.context.level = fatal
"""


def session() -> SparkSession:
    """The active SparkSession, else a local one started quietly (``local[2]``, no UI, no network).

    ``RISKAUDIT_SPARK_MASTER`` overrides the local master (e.g. ``local[8]``),
    ``RISKAUDIT_SPARK_DRIVER_MEMORY`` its memory (default ``2g``); ``RISKAUDIT_SPARK_PROFILE=1``
    prints each Spark job's time on stderr at exit (:mod:`riskaudit.engines.spark_profile`).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError("--engine spark needs pyspark: pip install 'riskaudit[spark]'") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    conf_dir = Path(tempfile.gettempdir()) / f"riskaudit-spark-{os.getuid()}"
    conf_dir.mkdir(mode=0o700, exist_ok=True)
    log4j = conf_dir / "log4j2.properties"
    log4j.write_text(_LOG4J, encoding="utf-8")
    # -Xss: deeper thread stacks for the tasks (a 50M-row scan's task died of StackOverflowError)
    java_opts = f"-Dlog4j2.configurationFile=file:{log4j} -Dlog4j.configurationFile=file:{log4j} -Xss16m"
    builder = (SparkSession.builder
               .master(os.environ.get("RISKAUDIT_SPARK_MASTER", "local[2]"))
               .appName("riskaudit")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.driver.extraJavaOptions", java_opts)
               .config("spark.driver.memory", os.environ.get("RISKAUDIT_SPARK_DRIVER_MEMORY", "2g"))
               .config("spark.sql.shuffle.partitions", "8")
               # file splits of at most 64 MiB (Spark's default 128 MiB gave a 10M-row table of 20
               # files 7 tasks: on 2 cores the last of 4 waves ran on one core in every pass)
               .config("spark.sql.files.maxPartitionBytes", str(SPLIT_BYTES))
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               # rows per Arrow batch sent to the Python workers (mapInPandas): the default 10,000
               # made 1,000 batches of a 10M-row table, each paying pandas' and torch's fixed costs
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.pyspark.python", sys.executable)
               .config("spark.pyspark.driver.python", sys.executable))
    builder = spark_profile.configure(builder)  # RISKAUDIT_SPARK_PROFILE=1: Spark's event log, summed up at exit
    # the workers run this interpreter (its packages: pandas for the UDFs, torch for the model);
    # SparkContext reads PYSPARK_PYTHON when it starts, so it is set around that call only
    with _scope.environ({"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}):
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@dataclass
class SparkDataset(Dataset):
    """A dataset on the Spark engine: ``frame`` is the driver sample, ``spark_frame`` the table."""

    spark_frame: Any = None
    total_rows: int = 0
    seed: int = 0
    distributed: set[str] = field(default_factory=set)
    """Checkers (beyond data_validity) that did run over the whole table in this scan: their
    :data:`DISTRIBUTED` sentence applies (:func:`note`)."""
    predicted_classes: dict = field(default_factory=dict, repr=False, compare=False)
    """Rows per predicted class over the whole table, by (model id, features): counted by the
    first checker that predicted every row (fairness), read by the next (drift)."""
    counted: dict = field(default_factory=dict, repr=False, compare=False)
    """:meth:`value_counts` of each column asked for, kept for the scan."""

    @property
    def rows(self) -> int:  # the table's, not the driver sample's
        return int(self.total_rows)

    @property
    def sampled(self) -> bool:
        return len(self.frame) < self.total_rows

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(engine="spark", driver_rows=int(len(self.frame)),
                   sampled=self.sampled)
        return out

    def value_counts(self, name: str) -> list[tuple[Any, str | None, int]]:
        """Rows per distinct value of column ``name`` over the whole table: (the value, its text
        as Spark casts it to string, rows), a missing value as None. One Spark group-by of that
        column, kept for the scan: the label's classes (:func:`complete_classes`), data_validity's
        label codes and counts and drift's label shift read the same counts (four passes over the
        label column before)."""
        if name not in self.counted:
            col = column(name)
            rows = self.spark_frame.groupBy(col.alias("v"), col.cast("string").alias("s")).count().collect()
            self.counted[name] = [(r[0], r[1], int(r[2])) for r in rows]
        return list(self.counted[name])

    def predict_all(self, model: Any, features: list[str], *, keep: list[str] | None = None,
                    batch_rows: int = 8192, then: Any = None, schema: Any = None) -> DataFrame:
        """The table's columns ``keep`` (default: all) with the model's raw outputs of every
        row in column :data:`OUTPUT` (``array<double>``), computed on the executors through
        ``mapInPandas``; only the features and ``keep`` are read and sent to Python. With
        ``then`` (a function of an iterator of ``(batch's keep columns, its raw outputs as an
        N x C float64 array)`` pairs) and its output ``schema``, its batches instead: the outputs
        are used in the same Python pass that makes them, as one array per batch (not one
        Python object per row).

        The model travels once per executor as a broadcast (:func:`ship_model`); each Arrow
        batch is predicted in chunks of ``batch_rows`` rows on one torch thread per task
        (Spark runs one task per core) with torch's random state seeded from the scan seed
        (``Model.forward``), so the outputs are the same on every run for the same table.
        Lazy: nothing runs until the frame is used."""
        from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

        sdf = self.spark_frame
        feats = [str(f) for f in features]
        kept = list(sdf.columns) if keep is None else [str(c) for c in dict.fromkeys(keep)]
        read = sdf.select(*[column(c) for c in dict.fromkeys(feats + kept)])
        shipped = sdf.sparkSession.sparkContext.broadcast(ship_model(model))
        fields = {f.name: f for f in sdf.schema.fields}
        fn = _predictor(shipped, feats, kept, int(self.seed), int(batch_rows), self.uri)
        if then is not None:
            return read.mapInPandas(lambda batches: then(fn(batches)), schema)
        return read.mapInPandas(lambda batches: (pdf.assign(**{OUTPUT: list(out)}) for pdf, out in fn(batches)),
                                StructType([fields[c] for c in kept] + [StructField(OUTPUT, ArrayType(DoubleType()))]))


OUTPUT = "__riskaudit_output"
"""Column of :meth:`SparkDataset.predict_all`: the model's raw outputs for the row."""


def ship_model(model: Any) -> tuple[str, bytes]:
    """What the executors get of a loaded :class:`~riskaudit.model.Model`: a TorchScript
    module as the bytes ``torch.jit.save`` writes (the worker loads it with ``torch.jit.load``,
    the loader that needs no ``--trust-model``); any other model already loaded in this
    process (an in-memory module, a callable, a pickle loaded with ``--trust-model``) as
    cloudpickle bytes of that object. A model that cannot travel (an ONNX session, a table of
    stored predictions) raises :class:`~riskaudit.errors.CheckerError`."""
    import io

    from riskaudit.errors import CheckerError

    if getattr(model, "stored_columns", None):
        raise CheckerError("stored predictions are columns of the driver sample, not a model the executors can run")
    if model.module is not None and model.format == "torchscript":
        import torch

        buf = io.BytesIO()
        torch.jit.save(model.module, buf)
        return "torchscript", buf.getvalue()
    from pyspark import cloudpickle

    try:
        return "object", cloudpickle.dumps(model)
    except Exception as exc:
        raise CheckerError(f"the {model.format} model cannot be sent to the Spark executors "
                           f"({type(exc).__name__}: {_first_line(exc)})") from None


def _worker_model(shipped: tuple[str, bytes]) -> Any:
    import io
    import pickle

    kind, blob = shipped
    if kind == "torchscript":
        import torch

        from riskaudit.model import Model

        return Model(uri="<TorchScript on executor>", format="torchscript",
                     module=torch.jit.load(io.BytesIO(blob), map_location="cpu"))
    return pickle.loads(blob)  # bytes this scan made of the model it had loaded  # noqa: S301


def _predictor(shipped: Any, features: list[str], keep: list[str], seed: int, batch_rows: int, uri: str):
    def predict(batches):
        import numpy as np

        model = _worker_model(shipped.value)
        if hasattr(model, "_big_batch_threads"):
            model._big_batch_threads = 0  # no thread-count probe: the task's one thread is kept
        with _scope.torch_threads(1):
            for pdf in batches:
                if not len(pdf):
                    continue
                # frame_matrix: a Dataset of each batch would check every text column for nested
                # values first (a fifth of the fairness pass's Python time)
                x = pdf[features] if model.accepts_frame else frame_matrix(pdf, features, uri)
                out = np.asarray(model.forward(x, batch_size=batch_rows, seed=seed, record=False), dtype=np.float64)
                yield pdf[keep], out.reshape(len(pdf), -1)
    return predict


def partition_id() -> int:
    """The Spark partition a ``mapInPandas`` function is running on (0 outside a task): the
    per-partition totals carry it, so the driver adds them in a fixed order."""
    from pyspark import TaskContext

    tc = TaskContext.get()
    return int(tc.partitionId()) if tc is not None else 0


def rule_of(lo: float | None, hi: float | None, width: int | None, worst: float | None) -> bool:
    """Whether raw outputs are probabilities already (else: sigmoid or softmax), decided over
    every row as :func:`riskaudit.model.to_proba` decides over its array: one output in [0, 1],
    or non-negative rows summing to 1 (within 1e-4 + 1e-5). From four aggregates of
    :func:`rule_stats` over the table: least and greatest finite output (NumPy's
    ``nanmin``/``nanmax``), most outputs per row, worst deviation of a row's sum from 1."""
    import math

    if lo is None or hi is None or not math.isfinite(lo) or not math.isfinite(hi):
        return False
    if int(width or 0) == 1:
        return bool(lo >= 0 and hi <= 1)
    return bool(lo >= 0 and worst is not None and worst <= 1e-4 + 1e-5)


RULE_STATS = ("__riskaudit_lo", "__riskaudit_hi", "__riskaudit_width", "__riskaudit_dev")
"""Per-row columns of :func:`rule_stats`; their min, max, max, max over a table are
:func:`rule_of`'s arguments (computed in the pass that uses the outputs: no pass of its own)."""


def rule_stats(raw: Any) -> dict[str, Any]:
    """Per row of raw outputs (N x C): least and greatest finite output (+inf / -inf when
    none), width, and the deviation of the row's sum from 1 (+inf when a value is NaN, as
    ``np.allclose`` fails on NaN)."""
    import numpy as np

    raw = np.asarray(raw, dtype=np.float64).reshape(len(raw), -1)
    finite = np.isfinite(raw)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, read as the worst deviation below
        dev = np.where(np.isnan(raw).any(axis=1), np.inf, np.abs(raw.sum(axis=1) - 1))
    return dict(zip(RULE_STATS, (np.where(finite, raw, np.inf).min(axis=1, initial=np.inf),
                                 np.where(finite, raw, -np.inf).max(axis=1, initial=-np.inf),
                                 np.full(len(raw), raw.shape[1], dtype=np.int32),
                                 np.nan_to_num(dev, nan=np.inf))))


def rule_extremes(raw: Any) -> dict[str, Any]:
    """A batch's figures behind :func:`rule_of` (:func:`rule_stats`' least low, greatest high,
    width and deviation over the batch's rows, computed over the whole array at once): Spark
    takes the same extremes over the batches."""
    import numpy as np

    raw = np.asarray(raw, dtype=np.float64).reshape(len(raw), -1)
    finite = np.isfinite(raw)
    with np.errstate(invalid="ignore"):  # as rule_stats: a row with NaN, or inf - inf, is the worst
        dev = np.nan_to_num(np.where(np.isnan(raw).any(axis=1), np.inf, np.abs(raw.sum(axis=1) - 1)), nan=np.inf)
    return {RULE_STATS[0]: float(np.min(raw, where=finite, initial=np.inf)),
            RULE_STATS[1]: float(np.max(raw, where=finite, initial=-np.inf)),
            RULE_STATS[2]: np.int32(raw.shape[1] if len(raw) else 0),
            RULE_STATS[3]: float(dev.max(initial=-np.inf))}


COUNT = "__riskaudit_count"
"""Column of :func:`batch_counts`: rows of the batch with that row's values."""


def batch_counts(cols: dict[str, Any], extremes: dict[str, Any] | None = None) -> Any:
    """The distinct rows of a batch's columns (``cols``: name -> array, missing values kept as
    a value of their own) with their number of rows in column :data:`COUNT`: what a
    ``mapInPandas`` pass sends back to Spark instead of one row per input row, when Spark only
    sums those rows per key afterwards. ``extremes`` (name -> the batch's value: a least or
    greatest figure) ride on every output row (Spark takes their min/max over the table)."""
    import numpy as np
    import pandas as pd

    names = list(cols)
    n = len(next(iter(cols.values()))) if cols else 0
    codes, uniques, radix = [], [], 1
    for c in names:
        k, u = pd.factorize(pd.Series(cols[c]), use_na_sentinel=False)
        codes.append(k.astype(np.int64))
        uniques.append(np.asarray(u))
        radix *= max(len(u), 1)
    if n and radix < 2**62:
        key = np.zeros(n, dtype=np.int64)
        for k, u in zip(reversed(codes), reversed(uniques)):  # mixed radix, first column most significant
            key = key * max(len(u), 1) + k
        if radix <= 4 * n + 1024:
            counts = np.bincount(key, minlength=radix)
            keys = np.flatnonzero(counts)
            counts = counts[keys]
        else:
            keys, counts = np.unique(key, return_counts=True)
        out, rest = {}, keys
        for c, u in zip(names, uniques):
            size = max(len(u), 1)
            out[c] = u[rest % size]
            rest = rest // size
        frame = pd.DataFrame(out)
        for c in names:  # factorize keeps the dtype of numbers and booleans; restore it
            want = np.asarray(cols[c]).dtype
            if want.kind in "biu" and frame[c].dtype != want:
                frame[c] = frame[c].astype(want)
        frame[COUNT] = counts.astype(np.int64)
    else:
        frame = pd.DataFrame(cols).value_counts(dropna=False, sort=False).reset_index(name=COUNT) if n \
            else pd.DataFrame({**{c: np.asarray(cols[c])[:0] for c in names}, COUNT: np.zeros(0, np.int64)})
    for c, v in (extremes or {}).items():
        frame[c] = v
    return frame


def to_proba_rows(raw: Any, identity: bool) -> Any:
    """Class probabilities (N x C) of raw outputs under the rule :func:`rule_of` chose."""
    import numpy as np

    raw = np.asarray(raw, dtype=np.float64).reshape(len(raw), -1)
    if raw.shape[1] == 1:
        r = raw[:, 0]
        p = r if identity else 1.0 / (1.0 + np.exp(-r))
        return np.stack([1 - p, p], axis=1)
    if identity:
        return raw
    e = np.exp(raw - raw.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def load(source: Any, role: str, *, seed: int = 0, sample_rows: int = DEFAULT_SAMPLE_ROWS) -> SparkDataset:
    """A Spark DataFrame, ``spark:[catalog.]schema.table``, or a Parquet/Delta file or folder."""
    if isinstance(source, SparkDataset):
        return source
    if isinstance(source, Dataset):
        raise InputError(f"--{role}: the Spark engine takes a Spark DataFrame, a spark: table or a "
                         "Parquet/Delta path, not an in-memory Dataset")
    uri, sha = None, None
    if is_spark_frame(source):
        sdf, uri = source, f"<Spark DataFrame: {role}>"
    elif isinstance(source, str) and source.startswith("spark:"):
        name = source[len("spark:"):]
        if not _TABLE.match(name):
            raise InputError(f"--{role}: {source!r} is not a table name; give spark:[catalog.]schema.table")
        sdf, uri = _read(lambda s: s.table(name), role, source), source
    elif isinstance(source, (str, os.PathLike)):
        sdf, uri, sha = _read_path(Path(source), role)
    else:
        raise InputError(f"--{role}: the Spark engine cannot use a {type(source).__name__}; give a "
                         "Spark DataFrame, spark:catalog.schema.table or a Parquet/Delta folder")
    sdf = sdf.toDF(*[str(c) for c in sdf.columns])
    if not sdf.columns:
        raise InputError(f"--{role}: {uri} has no columns")
    try:  # Spark reads lazily: a corrupt file shows here
        with phase(f"{role}: count"):
            total = int(sdf.count())
        if total == 0:
            raise InputError(f"--{role}: {uri} has no rows")
        with phase(f"{role}: driver sample"):
            frame = driver_sample(sdf, total, seed, sample_rows)
        if sha is None:
            with phase(f"{role}: fingerprint"):
                sha = fingerprint(sdf, total)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"--{role}: Spark cannot read {uri!r}: {_first_line(exc)}") from None
    unsupported = nested_columns(sdf)
    return SparkDataset(frame=frame, uri=uri, sha256=sha, path=Path(source) if isinstance(source, (str, os.PathLike))
                        and not str(source).startswith("spark:") else None,
                        unsupported=unsupported, spark_frame=sdf, total_rows=total, seed=int(seed))


def _read(fn, role: str, what: str):
    spark = session()
    try:
        return fn(spark)
    except Exception as exc:  # AnalysisException and friends: one message, exit 2
        raise InputError(f"--{role}: Spark cannot read {what!r}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    """The first informative line of a (Py4J / Spark) error, at most 300 characters."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    cause = next((ln for ln in lines if "Exception:" in ln and not ln.startswith("at ")), None)
    return (cause or (lines[0] if lines else type(exc).__name__))[:300]


def _read_path(path: Path, role: str):
    if not path.exists():
        raise InputError(f"--{role}: {str(path)!r} does not exist")
    require_regular(path, f"--{role}")
    if path.is_dir() and (path / "_delta_log").is_dir():
        fmt = "delta"
    elif path.is_dir() or path.suffix.lower() in (".parquet", ".pq"):
        fmt = "parquet"
    else:
        raise InputError(f"--{role}: the Spark engine reads Parquet or Delta files and folders and "
                         f"spark: tables; {str(path)!r} is neither (use the pandas engine for "
                         f"{path.suffix or 'this file'})")
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    if fmt == "parquet" and path.is_dir() and not any(f.suffix == ".parquet" for f in files):
        raise InputError(f"--{role}: folder {str(path)!r} holds no .parquet files (nor a Delta _delta_log)")
    with phase(f"{role}: SHA-256 of the files"):
        sha = sha256_tree(path, files) if path.is_dir() else sha256_tree(path.parent, files)
    sdf = _read(lambda s: s.read.format(fmt).load(str(path)), role, str(path))
    return sdf, str(path), sha


def column(name: str):
    """``F.col`` of a column by its exact name: quoted, backticks doubled (a name from the
    audited table such as ``a.b`` or ``x`y`` is a name, never an expression)."""
    from pyspark.sql import functions as F

    return F.col("`" + str(name).replace("`", "``") + "`")


def _hashable(sdf: DataFrame) -> list[str]:
    from pyspark.sql.types import MapType

    return [f.name for f in sdf.schema.fields if not isinstance(f.dataType, MapType)]


def driver_sample(sdf: DataFrame, total: int, seed: int, sample_rows: int):
    """The table as pandas when it has at most ``sample_rows`` rows; else the ``sample_rows``
    rows of least seeded row hash (xxhash64 of every column and the seed): the same rows
    whatever the partitioning, a different set for another seed."""
    from pyspark.sql import functions as F

    if total <= sample_rows:
        return sdf.toPandas()
    key = F.xxhash64(*[column(c) for c in _hashable(sdf)], F.lit(int(seed)))
    keyed = sdf.withColumn("__riskaudit_key", key)
    # a filter on the key keeps about 10% more than the rows of least key (hashes are uniform
    # over the 64-bit range): one pass with no sort; the driver keeps the least ones. Too few
    # (many identical rows share a key): the sort below.
    cut = -2**63 + int(min(1.0, 1.1 * sample_rows / total) * 2**64)
    near = keyed.where(F.col("__riskaudit_key") < F.lit(cut)).toPandas() if cut < 2**63 else None
    if near is not None and len(near) >= sample_rows:
        near = near.sort_values("__riskaudit_key", kind="stable").head(int(sample_rows))
        return near.drop(columns="__riskaudit_key").reset_index(drop=True)
    picked = keyed.orderBy("__riskaudit_key").limit(int(sample_rows))
    return picked.drop("__riskaudit_key").toPandas()


def nested_columns(sdf: DataFrame) -> dict[str, str]:
    from pyspark.sql.types import ArrayType, MapType, StructType

    names = {ArrayType: "list", StructType: "struct/map", MapType: "struct/map"}
    return {f.name: names[type(f.dataType)] for f in sdf.schema.fields if type(f.dataType) in names}


def fingerprint(sdf: DataFrame, total: int) -> str:
    """SHA-256 of the schema, the row count and two order-free sums of 64-bit row hashes:
    the same table gives the same value on any cluster (for tables and DataFrames, which have
    no file to hash)."""
    from pyspark.sql import functions as F

    cols = [column(c) for c in _hashable(sdf)]
    row = sdf.select(F.sum(F.xxhash64(*cols).cast("decimal(38,0)")).alias("a"),
                     F.sum(F.hash(*cols).cast("decimal(38,0)")).alias("b")).first()
    assert row is not None  # an aggregate has one row
    h = hashlib.sha256(sdf.schema.json().encode("utf-8"))
    h.update(f"{total}:{row['a']}:{row['b']}".encode())
    return h.hexdigest()


def complete_classes(ds: SparkDataset | None, target: str | None) -> None:
    """Add to a sampled driver frame one row of every class of ``target`` the sample lacks,
    so the model's classes and the per-class checks see every class of the table."""
    if ds is None or not target or not ds.sampled or target not in ds.spark_frame.columns:
        return
    import pandas as pd
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    seen = set(ds.frame[target].dropna().tolist())
    sdf = ds.spark_frame
    labels = [v for v, _, _ in ds.value_counts(target) if v is not None]
    missing = [v for v in labels if v not in seen]
    if not missing:
        return
    key = F.xxhash64(*[column(c) for c in _hashable(sdf)], F.lit(ds.seed))
    w = Window.partitionBy(column(target)).orderBy("__riskaudit_key")
    extra = (sdf.where(column(target).isin(missing)).withColumn("__riskaudit_key", key)
             .withColumn("__riskaudit_n", F.row_number().over(w)).where("__riskaudit_n = 1")
             .drop("__riskaudit_key", "__riskaudit_n").toPandas())
    ds.frame = pd.concat([ds.frame, extra], ignore_index=True)


def note(check_id: str, datasets: list[Any]) -> str:
    """The sentence a check result on the Spark engine ends with: what ran over every row in
    Spark, what on the driver sample."""
    sampled = [d for d in datasets if isinstance(d, SparkDataset) and d.sampled]
    if check_id == "licenses" or not any(isinstance(d, SparkDataset) for d in datasets):
        return ""
    done = DISTRIBUTED.get(check_id)
    if check_id != "data_validity" and not any(check_id in getattr(d, "distributed", ()) for d in datasets):
        done = None  # this checker fell back to the driver sample (it says why in its notes)
    if not sampled:
        whole = "every row was collected to the driver (the tables fit the sample size)"
        return f" Spark engine: {done}; {whole}." if done else f" Spark engine: {whole}."
    sizes = ", ".join(f"{len(d.frame):,} of {d.total_rows:,} rows" for d in sampled)
    rest = f"the rest ran on a seeded sample collected to the driver ({sizes})"
    if done:
        return f" Spark engine: {done}; {rest}."
    return (f" Spark engine: this check ran on a seeded sample collected to the driver ({sizes}), "
            "not on every row.")
