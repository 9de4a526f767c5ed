"""Write an anonymized copy of a dataset (``riskaudit anonymize DATA --out PATH``).

1. The pii checker's scanner finds the personal-data columns (a seeded sample decides).
2. Those columns: every value is transformed by the operator the policy names for the
   column's entity type. Every other text column: every cell (not a sample) is analysed by
   the same engine and each entity found inside it is transformed (presidio-anonymizer),
   whatever share of the column holds personal data. Replacements are counted per column
   and entity type.
   Operators: ``redact`` (remove), ``mask`` (``*``), ``replace`` (``<EMAIL_ADDRESS>``),
   ``hash`` (salted SHA-256; the salt comes from the environment variable
   ``RISKAUDIT_SALT`` or the policy's ``salt_file`` and is never written anywhere), ``keep``.
3. Quasi-identifiers are generalized one step at a time (dates to month then year, postcodes
   to shorter prefixes, ages to wider bands), always the one with the most distinct values,
   until k-anonymity holds; records still below k are then suppressed (``*``) unless the
   policy says stop (``suppress: false``).
4. The copy is written atomically (temporary file + ``os.replace``); the input is only read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from riskaudit.errors import InputError
from riskaudit.reports.writer import atomic_path

SALT_ENV = "RISKAUDIT_SALT"
OPERATORS = ("redact", "mask", "replace", "hash", "keep")
OUTPUT_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
                   ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
MAX_STEPS = 40


@dataclass
class ColumnChange:
    column: str
    what: str
    values_changed: int
    entities: dict[str, int] = field(default_factory=dict)
    """Replacements per entity type (a whole value counts once)."""

    def line(self) -> str:
        return f"{self.column}: {self.what} ({self.values_changed} value{'s' if self.values_changed != 1 else ''} changed)"


@dataclass
class AnonymizeResult:
    out: Path
    rows: int
    changes: list[ColumnChange] = field(default_factory=list)
    kanon_before: dict[str, Any] | None = None
    kanon_after: dict[str, Any] | None = None

    def replaced(self) -> dict[str, dict[str, int]]:
        """Replacements per column and entity type."""
        out: dict[str, dict[str, int]] = {}
        for c in self.changes:
            for ent, n in c.entities.items():
                out.setdefault(c.column, {})[ent] = out.get(c.column, {}).get(ent, 0) + n
        return out

    def lines(self) -> list[str]:
        out = [c.line() for c in self.changes] or ["no personal data found; the copy equals the input"]
        totals: dict[str, int] = {}
        for per in self.replaced().values():
            for ent, n in per.items():
                totals[ent] = totals.get(ent, 0) + n
        if totals:
            out.append("replaced in all: " + ", ".join(f"{n} {e}" for e, n in sorted(totals.items())))
        if self.kanon_after is not None and self.kanon_before is not None:
            ka = self.kanon_after
            met = ka["records_below_k"] == 0
            out.append(f"k-anonymity over {', '.join(ka['quasi_identifiers'])}: k={ka['k']} "
                       f"{'met' if met else 'NOT met'} (smallest class {ka['smallest_class']}, "
                       f"{ka['records_below_k']} records below k; before: {self.kanon_before['records_below_k']})")
        return out


def load_salt(cfg: Mapping[str, Any]) -> bytes | None:
    salt = os.environ.get(SALT_ENV)
    if salt:
        return salt.encode()
    path = cfg.get("salt_file")
    if path:
        p = Path(path).expanduser()
        try:
            data = p.read_bytes().strip()
        except OSError as exc:
            raise InputError(f"pii option salt_file {str(p)!r} cannot be read ({exc.strerror})") from None
        if not data:
            raise InputError(f"pii option salt_file {str(p)!r} is empty")
        return data
    return None


def salted_hash(value: str, salt: bytes) -> str:
    import hashlib
    import hmac

    return hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _operator_for(entity: str, ops: Mapping[str, str]) -> str:
    op = ops.get(entity, ops.get("DEFAULT", "replace"))
    return op


def _operator_configs(entities, ops, salt):
    from presidio_anonymizer.entities import OperatorConfig

    out = {}
    for ent in set(entities) | {"DEFAULT"}:
        op = _operator_for(ent, ops)
        if op == "redact":
            out[ent] = OperatorConfig("redact", {})
        elif op == "mask":
            out[ent] = OperatorConfig("mask", {"masking_char": "*", "chars_to_mask": 10_000,
                                               "from_end": False})
        elif op == "hash":
            out[ent] = OperatorConfig("custom", {"lambda": lambda x, _s=salt: salted_hash(x, _s)})
        elif op == "keep":
            out[ent] = OperatorConfig("keep", {})
        else:
            out[ent] = OperatorConfig("replace", {"new_value": f"<{ent}>"})
    return out


def _value_op(entity: str, ops, salt) -> Callable[[str], str]:
    op = _operator_for(entity, ops)
    if op == "redact":
        return lambda v: ""
    if op == "mask":
        return lambda v: "*" * min(len(v), 10)
    if op == "hash":
        return lambda v: salted_hash(v, salt)
    if op == "keep":
        return lambda v: v
    return lambda v: f"<{entity}>"


# --- generalization of quasi-identifiers ------------------------------------------------

def _max_level(kind: str, series: pd.Series) -> int:
    if kind == "continuous":
        return 2
    if kind == "postcode":
        return int(series.dropna().astype(str).str.len().max() or 1)
    if kind == "date":
        return 4
    if kind == "age":
        return 4 if pd.api.types.is_numeric_dtype(series) else 1
    return 1


def _generalize(series: pd.Series, kind: str, level: int) -> pd.Series:
    if level <= 0:
        return series
    if kind == "postcode":
        s = series.astype("string")
        keep = s.str.len() - level
        out = [(v[:max(k, 0)] + "*" * (len(v) - max(k, 0))) if v is not pd.NA else v
               for v, k in zip(s.fillna("").tolist(), keep.fillna(0).astype(int).tolist())]
        res = pd.Series(out, index=series.index, dtype=object)
        res[(res.str.strip("*") == "").fillna(True)] = "*"
        return res.where(series.notna(), None)
    if kind == "date":
        if level >= 4:
            return pd.Series("*", index=series.index, dtype=object)
        d = pd.to_datetime(series, errors="coerce", format="mixed")
        if level == 1:
            res = d.dt.strftime("%Y-%m")
        elif level == 2:
            res = d.dt.strftime("%Y")
        else:
            res = (d.dt.year // 10 * 10).astype("Int64").astype("string") + "s"
        return res.astype(object).where(d.notna(), None)
    if kind == "continuous" and level == 1:
        from riskaudit.checks.pii.kanon import quantile_bins

        return quantile_bins(series)
    if kind == "age" and pd.api.types.is_numeric_dtype(series) and level < 4:
        width = {1: 5, 2: 10, 3: 20}[level]
        v = pd.to_numeric(series, errors="coerce")
        lo = (np.floor(v / width) * width)
        res = lo.astype("Int64").astype("string") + "-" + (lo + width - 1).astype("Int64").astype("string")
        return res.astype(object).where(v.notna(), None)
    return pd.Series("*", index=series.index, dtype=object)


def _describe_level(kind: str, level: int, series: pd.Series) -> str:
    if kind == "continuous" and level == 1:
        from riskaudit.checks.pii.kanon import CONTINUOUS_BINS

        return f"continuous values generalized to {CONTINUOUS_BINS} equal-frequency bins"
    if kind == "postcode":
        return f"postcodes cut to a prefix ({level} trailing characters hidden)"
    if kind == "date":
        return {1: "dates generalized to year-month", 2: "dates generalized to year",
                3: "dates generalized to decade"}.get(level, "dates suppressed")
    if kind == "age" and level < 4 and pd.api.types.is_numeric_dtype(series):
        return f"ages generalized to {({1: 5, 2: 10, 3: 20})[level]}-year bands"
    return "values suppressed (*)"


def anonymize_frame(frame: pd.DataFrame, cfg: Mapping[str, Any], *, model_spec: str | None = None,
                    seed: int = 0, salt: bytes | None = None) -> tuple[pd.DataFrame, AnonymizeResult]:
    """The anonymized copy of ``frame`` and what changed (input frame untouched)."""
    from riskaudit.checks.pii.scanner import classify, engine_for, is_text_dtype, text_columns

    ops = _operators(cfg)
    out = frame.copy()
    result = AnonymizeResult(out=Path("."), rows=len(frame))
    engine = engine_for(cfg, model_spec).lenient()  # a name missed is a name left in the copy
    rng = np.random.default_rng(seed)
    scanned = classify(frame, {**cfg, "full": False}, engine, rng)
    if "hash" in ops.values() and salt is None:
        raise InputError(f"the 'hash' operator needs a salt: set the environment variable {SALT_ENV} "
                         "or the policy option checks.pii.options.salt_file")
    pii_cols = []
    # a column replaced as a whole is one that (nearly) every value of is the entity; a column
    # where only some rows hold one (20% e-mails among notes) is searched cell by cell, so the
    # other values survive
    structured = {c["column"]: c for c in scanned
                  if c["kind"] == "structured" and float(c.get("share", 1.0)) >= WHOLE_COLUMN_SHARE}
    partial = {c["column"] for c in scanned if c["kind"] == "structured"} - set(structured)
    # numbers and dates are replaced only as whole columns the scan found to hold personal data
    # (card numbers stored as integers); entities are searched cell by cell in text only, so a
    # loan amount is never taken for a phone number
    text_cols = [c for c in text_columns(frame, cfg["ignore_columns"])
                 if str(c) in structured or str(c) in partial or is_text_dtype(frame[c])]
    # every distinct cell of the other text columns, analysed once (across columns), in
    # parallel worker processes
    spans = analyze_cells(engine, [v for col in text_cols if str(col) not in structured
                                   for v in _distinct_texts(frame[col])],
                          workers=_workers(cfg))
    for col in text_cols:
        col_info = structured.get(str(col))
        if col_info is not None:  # a column of personal data: every value is replaced as a whole
            result.changes.append(_replace_column(frame, out, col, col_info["entity"], ops, salt))
            pii_cols.append(col)
            continue
        # any other text column: every cell is analysed, every entity found is replaced,
        # whatever share of the column holds personal data
        n_changed, ents = _anonymize_text_column(frame, out, col, spans, ops, salt)
        if n_changed:
            desc = ", ".join(f"{c} {e} -> {_operator_for(e, ops)}" for e, c in sorted(ents.items()))
            result.changes.append(ColumnChange(str(col), f"entities in text: {desc}", n_changed, dict(ents)))
            pii_cols.append(col)
    qis = _quasi_identifiers(frame, cfg, pii_cols)
    if qis:
        _reach_k_anonymity(frame, out, qis, cfg, result)
    return out, result


def _operators(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The policy's operator per entity type (DEFAULT for the rest), each a known operator."""
    ops = {str(k).upper() if str(k).upper() != "DEFAULT" else "DEFAULT": str(v).lower()
           for k, v in dict(cfg["operators"]).items()}
    for ent, op in ops.items():
        if op not in OPERATORS:
            raise InputError(f"pii option operators.{ent}: unknown operator {op!r} "
                             f"(known: {', '.join(OPERATORS)})")
    return ops


def _replace_column(frame: pd.DataFrame, out: pd.DataFrame, col: Any, ent: str, ops: Mapping[str, str],
                    salt: bytes | None) -> ColumnChange:
    """Every value of ``col`` replaced as a whole by the operator for ``ent`` (into ``out``)."""
    fn = _value_op(ent, ops, salt)
    s = frame[col]
    mask = s.notna()
    uniq = pd.unique(s[mask].astype(str))
    mapping = {u: fn(u) for u in uniq}
    new = s[mask].astype(str).map(mapping)
    out[col] = out[col].astype(object)
    out.loc[mask, col] = new
    changed = int((new != s[mask].astype(str)).sum())
    return ColumnChange(str(col), f"{ent} -> {_operator_for(ent, ops)}", changed, {ent: changed} if changed else {})


def _quasi_identifiers(frame: pd.DataFrame, cfg: Mapping[str, Any], pii_cols: list) -> dict[str, str]:
    """The policy's quasi-identifiers (each must be a column), else those suggested from names."""
    from riskaudit.checks.pii.columns import qi_meaning
    from riskaudit.checks.pii.kanon import suggest_quasi_identifiers

    from riskaudit.checks.pii.kanon import generalize_continuous

    if not cfg["quasi_identifiers"]:
        qis = suggest_quasi_identifiers(frame, exclude=pii_cols)
    else:
        missing = [q for q in cfg["quasi_identifiers"] if q not in frame.columns]
        if missing:
            raise InputError(f"pii option quasi_identifiers: column {missing[0]!r} is not in the data")
        qis = {q: (qi_meaning(q) or ("age" if pd.api.types.is_numeric_dtype(frame[q]) else "category"))
               for q in cfg["quasi_identifiers"]}
    # continuous columns (a standardized age) are compared in bins, as the pii checker does,
    # and generalized to those bins first
    _, how = generalize_continuous(frame, list(qis))
    return {q: "continuous" if how.get(q, "exact values") != "exact values" else kind for q, kind in qis.items()}


def _reach_k_anonymity(frame: pd.DataFrame, out: pd.DataFrame, qis: Mapping[str, str],
                       cfg: Mapping[str, Any], result: AnonymizeResult) -> None:
    """Generalize the quasi-identifiers of ``out`` step by step (greedy: the step leaving the
    fewest records below k), then suppress what is still below k; records what changed."""
    from riskaudit.checks.pii.kanon import SUPPRESSED, equivalence_classes, generalize_continuous
    from riskaudit.checks.pii.kanon import k_anonymity as exact_k_anonymity

    k = int(cfg["k"])
    cols = list(qis)

    def k_anonymity(table: pd.DataFrame, qi: list, k: int) -> dict:  # as the pii checker measures
        return exact_k_anonymity(generalize_continuous(table, qi)[0], qi, k)

    result.kanon_before = k_anonymity(out, cols, k)
    levels = {c: 0 for c in cols}
    original = {c: frame[c] for c in cols}
    state = result.kanon_before
    steps = 0
    budget = float(cfg["max_suppression"]) * len(out) if cfg["suppress"] else 0.0
    while cfg["generalize"] and state["records_below_k"] > budget and steps < MAX_STEPS:
        # coarsen before blanking a whole column: full suppression only when nothing else is left
        cands = [c for c in cols if levels[c] + 1 < _max_level(qis[c], original[c])] or \
            [c for c in cols if levels[c] < _max_level(qis[c], original[c])]
        if not cands:
            break
        trials = []
        for c in cands:
            trial = out.copy(deep=False)
            trial[c] = _generalize(original[c], qis[c], levels[c] + 1)
            below = k_anonymity(trial, cols, k)["records_below_k"]
            trials.append((below, levels[c], c, trial[c]))
        below, _, best, values = min(trials, key=lambda t: (t[0], t[1], t[2]))  # ties: fewer steps
        levels[best] += 1
        out[best] = values
        state = k_anonymity(out, cols, k)
        steps += 1
    if state["records_below_k"] > 0 and cfg["suppress"]:
        for c in cols:  # a continuous column is binned before any value of it is blanked
            if qis[c] == "continuous" and not levels[c]:
                levels[c] = 1
                out[c] = _generalize(original[c], qis[c], 1)
        ids, sizes = equivalence_classes(generalize_continuous(out, cols)[0], cols)
        small = sizes[ids] < k
        for c in cols:
            out[c] = out[c].astype(object)
            out.loc[small, c] = SUPPRESSED
        state = k_anonymity(out, cols, k)
        result.changes.append(ColumnChange(", ".join(cols), f"quasi-identifiers of records in classes "
                                           f"below k={k} suppressed", int(small.sum()) * len(cols)))
    for c in cols:
        if levels[c]:
            changed = int((out[c].astype(str) != frame[c].astype(str)).sum())
            result.changes.append(ColumnChange(c, _describe_level(qis[c], levels[c], original[c]), changed))
    result.kanon_after = state


REPLACED_WEAK = frozenset({"LOCATION"})
"""Weak entity types still replaced in text (addresses); dates, URLs and nationalities stay."""
MIN_PARALLEL = 2000
"""Fewer distinct cells than this are analysed in process (a worker costs more than it saves)."""

_WORKER_ENGINE = None


def _workers(cfg: Mapping[str, Any]) -> int:
    """Worker processes for the analysis: the pii option n_process when above 1, else every
    core this process may use."""
    n = int(cfg.get("n_process", 1) or 1)
    if n > 1:
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _distinct_texts(series: pd.Series) -> list[str]:
    return [t for t in pd.unique(series.dropna().astype(str)) if t.strip()]


def _analyze_chunk(texts: list[str]):
    engine = _WORKER_ENGINE
    assert engine is not None  # analyze_cells sets it before forking the workers that call this
    return engine.analyze_texts(texts)


def analyze_cells(engine, texts: list[str], workers: int = 1) -> dict[str, list]:
    """Spans of every distinct text, analysed by ``engine`` (the pii checker's).

    With ``workers`` > 1 and enough texts, forked worker processes share the loaded engine
    (copy-on-write) and each analyses a contiguous chunk: the whole Presidio pipeline runs
    in parallel, not only spaCy.
    """
    import multiprocessing

    texts = list(dict.fromkeys(texts))
    if workers <= 1 or len(texts) < MIN_PARALLEL or "fork" not in multiprocessing.get_all_start_methods():
        return dict(zip(texts, engine.analyze_texts(texts))) if texts else {}
    global _WORKER_ENGINE
    _WORKER_ENGINE = engine
    size = max(500, -(-len(texts) // (workers * 4)))
    chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.map(_analyze_chunk, chunks, chunksize=1)
    finally:
        _WORKER_ENGINE = None
    return {t: sp for chunk, res in zip(chunks, results) for t, sp in zip(chunk, res)}


WHOLE_COLUMN_SHARE = 0.9
"""Share of a column's values holding its entity above which the column is replaced whole."""



def _anonymize_text_column(frame, out, col, spans, ops, salt):
    """Replace each entity found in each cell of ``col`` (``spans``: text -> spans).

    Returns (cells changed, {entity type: replacements over all cells}).
    """
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import RecognizerResult

    from riskaudit.checks.pii.engine import WEAK_ENTITIES

    s = frame[col]
    mask = s.notna()
    texts = s[mask].astype(str)
    codes, uniq = pd.factorize(texts, sort=False)
    uniq = [str(u) for u in uniq]
    freq = np.bincount(codes, minlength=len(uniq)) if len(codes) else np.zeros(0, dtype=int)
    anon = None
    counts: dict[str, int] = {}
    mapping = list(uniq)
    configs_for: dict[frozenset, dict] = {}
    for i, text in enumerate(uniq):
        kept = [sp for sp in spans.get(text, ()) if sp.entity not in WEAK_ENTITIES or sp.entity in REPLACED_WEAK]
        if not kept:
            continue
        if anon is None:
            anon = AnonymizerEngine()
        key = frozenset(sp.entity for sp in kept)
        if key not in configs_for:
            configs_for[key] = _operator_configs(key, ops, salt)
        configs = configs_for[key]
        res = anon.anonymize(text=text, analyzer_results=[RecognizerResult(sp.entity, sp.start, sp.end, sp.score)
                                                          for sp in kept], operators=configs)
        mapping[i] = res.text
        for sp in kept:
            counts[sp.entity] = counts.get(sp.entity, 0) + int(freq[i])
    new_uniq = np.array(mapping, dtype=object)
    new = pd.Series(new_uniq[codes] if len(codes) else [], index=texts.index, dtype=object)
    changed = int((new != texts).sum())
    if changed:
        out[col] = out[col].astype(object)
        out.loc[mask, col] = new
    return changed, counts


def write_table(frame: pd.DataFrame, out: Path) -> None:
    fmt = OUTPUT_SUFFIXES.get(out.suffix.lower())
    with atomic_path(out) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False, sep="\t" if out.suffix.lower() == ".tsv" else ",")
        elif fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)


def anonymize(data: str | os.PathLike, out: str | os.PathLike, *, policy: Any = "default",
              force: bool = False, seed: int = 0, model_spec: str | None = None,
              echo: Callable[[str], None] | None = None) -> AnonymizeResult:
    """Anonymize the table at ``data`` into ``out``. Raises InputError for bad input."""
    from riskaudit.checks.base import OptionError
    from riskaudit.checks.pii import PiiChecker
    from riskaudit.data import load_dataset
    from riskaudit.errors import PolicyError
    from riskaudit.policy import load_policy

    src, dst = Path(data), Path(out)
    if dst.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"--out {str(dst)!r}: unknown output type {dst.suffix or '(none)'}; "
                         "use .csv, .tsv, .parquet or .jsonl")
    if src.exists() and dst.exists() and src.resolve() == dst.resolve():
        raise InputError(f"--out {str(dst)!r} is the input file; anonymize never overwrites its input")
    if dst.exists() and not force:
        raise InputError(f"--out {str(dst)!r} already exists; pass --force to replace it")
    if dst.exists() and dst.is_dir():
        raise InputError(f"--out {str(dst)!r} is a folder; give a file path")
    ds = load_dataset(src, role="data")
    if ds.kind != "table":
        raise InputError(f"DATA {str(src)!r} is not a table (CSV, Parquet or JSON lines); "
                         "anonymize works on tables")
    try:
        pol = load_policy(policy)
    except PolicyError as exc:
        raise InputError(str(exc)) from None
    try:
        cfg = PiiChecker.validate_options(pol.options("pii"))
    except OptionError as exc:
        raise InputError(f"{pol.source}: checks.pii.options.{exc.path}: {exc.reason}") from None
    salt = load_salt(cfg)
    frame, result = anonymize_frame(ds.frame, cfg, model_spec=model_spec, seed=seed, salt=salt)
    try:
        write_table(frame, dst)
    except OSError as exc:
        raise InputError(f"--out {str(dst)!r}: cannot write the copy ({exc.strerror or exc}); "
                         "nothing was written") from None
    result.out = dst
    if echo is not None:
        for line in result.lines():
            echo(line)
    return result
