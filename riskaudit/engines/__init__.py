"""Where the data is read and aggregated: ``pandas`` (default, in this process) or ``spark``.

``riskaudit.engines.spark`` imports pyspark; nothing here does, so the default engine never
loads it (``tests/test_startup.py``).
"""

from __future__ import annotations

from typing import Any

ENGINES = ("pandas", "spark")


def is_spark_frame(obj: Any) -> bool:
    """True for a ``pyspark.sql.DataFrame`` (classic or Spark Connect), without importing pyspark."""
    cls = type(obj)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pyspark.sql")


def resolve_engine(engine: str | None, *sources: Any) -> str:
    """The engine a scan uses: the one asked for, else ``spark`` when a source is a Spark
    DataFrame or a ``spark:`` table name, else ``pandas``."""
    from riskaudit.errors import InputError

    if engine is not None and engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    spark_given = any(is_spark_frame(s) or (isinstance(s, str) and s.startswith("spark:")) for s in sources)
    if engine == "pandas" and spark_given:
        raise InputError("a Spark DataFrame or spark: table was given with --engine pandas; "
                         "use --engine spark (pip install 'riskaudit[spark]')")
    return engine or ("spark" if spark_given else "pandas")
