"""Scan one table: column verdicts, entities in free text, k-anonymity. Used by the checker
and by ``riskaudit anonymize``."""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from riskaudit.checks.pii.columns import (dominant, every_row_verdict, full_share, is_free_text, name_meaning,
                                         round_share, street_like, structured_verdict)
from riskaudit.checks.pii.engine import WEAK_ENTITIES, Engine, get_engine
from riskaudit.checks.pii.language import detect_language, language_name
from riskaudit.checks.pii.kanon import (class_size_histogram, generalize_continuous, k_anonymity,
                                        suggest_quasi_identifiers)
from riskaudit import fmt
from riskaudit.masking import mask_value

FREE_TEXT = "FREE_TEXT"


# Entity types in plain words for messages (the type's code stays in the evidence).
ENTITY_WORDS = {
    "EMAIL_ADDRESS": "e-mail addresses", "PHONE_NUMBER": "phone numbers", "PERSON": "person names",
    "CREDIT_CARD": "card numbers", "IBAN_CODE": "IBANs", "IP_ADDRESS": "IP addresses",
    "STREET_ADDRESS": "street addresses", "DATE_OF_BIRTH": "dates of birth", "US_SSN": "US social security numbers",
    "UK_NHS": "NHS numbers", "UK_NINO": "UK national insurance numbers", "ES_NIF": "Spanish NIF numbers",
    "ES_NIE": "Spanish NIE numbers", "IT_FISCAL_CODE": "Italian fiscal codes", "DE_TAX_ID": "German tax ids",
    "FR_INSEE": "French social security numbers", "NL_BSN": "Dutch BSN numbers", "IN_AADHAAR": "Aadhaar numbers",
    "IN_PAN": "Indian PAN numbers", "AU_TFN": "Australian tax file numbers", "SG_NRIC_FIN": "Singapore NRIC/FIN numbers",
    "US_PASSPORT": "passport numbers", "US_DRIVER_LICENSE": "driving licence numbers", "CRYPTO": "crypto wallet addresses",
    "MAC_ADDRESS": "MAC addresses", "US_ITIN": "US tax ids (ITIN)",
    "DATE_TIME": "dates", "LOCATION": "place names", "URL": "web addresses",
    "NRP": "nationalities or religious or political groups", "ORGANIZATION": "organisation names",
}


def entity_words(entity: str) -> str:
    """``PHONE_NUMBER`` -> "phone numbers" (unknown types as their code)."""
    return ENTITY_WORDS.get(entity, entity)


def pct(share: float | None) -> str:
    """A share as a rounded percentage ("3.3%", "20%", "0.05%"); "none" for None."""
    if share is None:
        return "none"
    p = 100 * float(share)
    text = f"{p:.2g}" if 0 < abs(p) < 1 else f"{p:.1f}" if abs(p) < 10 else f"{p:.0f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def ner_note(engine) -> str:
    lang = getattr(engine, "language", "en")
    if engine.has_ner:
        where = "free text" if lang == "en" else f"{language_name(lang)} text"
        return f"Names in {where} found with {engine.model_note}."
    if lang != "en":
        extra = " (pip install 'riskaudit[ner-fr]')" if lang == "fr" else ""
        return (f"Name detection in {language_name(lang)} text was limited: {engine.model_note}"
                f"{extra}, so names were found only by patterns and a {language_name(lang)} "
                "name lexicon (the English model is not used on other languages).")
    return (f"No named-entity model was used ({engine.model_note}), so name detection inside free "
            "text was limited to a name lexicon; name-like columns were still found from their "
            "names and values.")


def engine_for(cfg: Mapping[str, Any], model_spec: str | None, language: str = "en") -> Engine:
    return get_engine(model_spec, float(cfg["score_threshold"]), tuple(cfg["ignore_entities"]),
                      tuple(cfg["phone_regions"]), language)


class TextEngines:
    """Presidio's pattern recognizers for structured columns; the spaCy named-entity model
    loads only when a free-text column is analysed (a table of codes and categories never
    pays for it). Structured verdicts do not use the NER model either way."""

    def __init__(self, cfg: Mapping[str, Any], model_spec: str | None):
        self.cfg, self.model_spec = cfg, model_spec
        self._patterns: Engine | None = None
        self._ner: Engine | None = None

    def analyze_value(self, value: str, threshold: float = 0.3):
        if self._patterns is None:
            self._patterns = self._ner or engine_for(self.cfg, "off")
        return self._patterns.analyze_value(value, threshold)

    @property
    def ner(self):
        if self._ner is None:
            self._ner = engine_for(self.cfg, self.model_spec)
        return self._ner

    language = "en"
    """The language of the default engine (free text in other languages: :meth:`for_language`)."""

    def for_language(self, lang: str):
        """The engine for free text in ``lang``: its spaCy pipeline when installed, else patterns
        and the name lexicon (the English model never runs on other languages)."""
        return self.ner.for_language(lang)

    def analyze_texts(self, texts, **kw):
        return self.ner.analyze_texts(texts, **kw)

    @property
    def has_ner(self) -> bool:
        return self.ner.has_ner

    @property
    def model_note(self) -> str:
        return self.ner.model_note

    def note(self) -> str:
        if self._ner is None:
            return "No free-text column, so no named-entity model was needed."
        return ner_note(self._ner)


def text_columns(frame: pd.DataFrame, ignore: Sequence[str] = ()) -> list[str]:
    """Every column that can hold personal data, whatever its dtype: text, categories,
    integers, floats and dates (numbers and dates are scanned as their canonical text;
    booleans and durations cannot hold any)."""
    out = []
    for col in frame.columns:
        if col in ignore:
            continue
        dt = frame[col].dtype
        if pd.api.types.is_bool_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt) \
                or pd.api.types.is_complex_dtype(dt):
            continue
        out.append(col)
    return out


def _canonical(v: Any) -> str | None:
    """A value as the text a recognizer reads: integers (and integral floats, as a card
    column with gaps is read) without '.0' or exponent, dates in ISO form."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return None
        return str(int(v)) if float(v).is_integer() and abs(float(v)) < 1e19 else None
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat() if v == v.normalize() else v.isoformat()
    return str(v)


def sample_values(series: pd.Series, size: int, full: bool, rng: np.random.Generator) -> list[str]:
    s = series.dropna()
    if not full and len(s) > size:
        idx = np.sort(rng.choice(len(s), size, replace=False))
        s = s.iloc[idx]
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        vals = s.tolist()
        if all(isinstance(v, str) for v in vals):
            return [str(v) for v in vals]  # numpy's str_ to str (Presidio takes only str)
    elif pd.api.types.is_float_dtype(s.dtype):
        arr = s.to_numpy(dtype=float)
        if not np.all(np.mod(arr, 1) == 0):
            return []  # measurements, prices, coordinates: no identifier is a fraction
    out = (_canonical(v) for v in s.tolist())
    return [v for v in out if v is not None]


def _address_like(values: list[str], k: int = 200) -> float:
    """Share of (up to ``k``) values that are mostly a street address (cheap: the address
    patterns alone, on values of at most 80 characters)."""
    from riskaudit.checks.pii.addresses import address_regex

    rx = address_regex()
    picked = values[:: max(1, len(values) // k)][:k]
    hits = 0
    for v in picked:
        if len(v) <= 80:
            m = rx.search(v)
            hits += bool(m and m.end() - m.start() >= 0.5 * len(v.strip()))
    return hits / len(picked) if picked else 0.0


# Digits in the shortest identifier a pattern recognizer could find in a bare number
# (national ids and phone numbers have 9 or more; postcodes are quasi-identifiers).
_MIN_DIGITS = 8


def is_text_dtype(series: pd.Series) -> bool:
    """Strings, objects or categories (not numbers, dates or booleans)."""
    dt = series.dtype
    return bool(pd.api.types.is_object_dtype(dt) or pd.api.types.is_string_dtype(dt)
                or isinstance(dt, pd.CategoricalDtype))


def _worth_scanning(series: pd.Series, values: list[str]) -> bool:
    """Numbers and dates are scanned when their name announces an entity or some are long
    enough to be an identifier (a column of counts or years is skipped, which keeps wide
    numeric tables fast)."""
    dt = series.dtype
    if is_text_dtype(series):
        return True
    if name_meaning(series.name) is not None:
        return True
    if pd.api.types.is_datetime64_any_dtype(dt):
        return False
    return any(len(v.lstrip("-")) >= _MIN_DIGITS for v in values)


def _mostly_streets(values: Sequence[str]) -> bool:
    return sum(map(street_like, values[:500])) >= 0.5 * len(values[:500])


def classify(frame: pd.DataFrame, cfg: Mapping[str, Any], engine, rng: np.random.Generator,
             columns: Sequence[str] | None = None, verdicts: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Per text column: kind (structured / free_text), verdict, entity counts, masked examples.
    ``verdicts``: structured columns' verdicts made elsewhere (every row of a Spark table), used
    instead of the sample's."""
    full = bool(cfg["full"])
    out = []
    cols = list(columns) if columns is not None else text_columns(frame, cfg["ignore_columns"])
    for col in cols:
        # the verdict always comes from a seeded sample; `full` then measures the share over
        # every row (vectorized, de-duplicated) and analyses every row of free text
        values = sample_values(frame[col], int(cfg["sample_size"]), False, rng)
        values = [v for v in values if v.strip()]
        if not values or not _worth_scanning(frame[col], values):
            continue
        verdict = None
        free = is_free_text(values)
        if free and _address_like(values) >= float(cfg["min_share"]):
            # short multi-word values that are addresses ("Urbanización de Domitila
            # Calatayud 10 Apt. 80"), not sentences: a structured verdict
            verdict = structured_verdict(col, values, engine, float(cfg["min_share"]), int(cfg.get("min_count", 5)))
            if verdict.entity is None or verdict.confidence < float(cfg["min_confidence"]):
                verdict = None
        if verdict is None and free and not _mostly_streets(values):
            if full:
                values = [v for v in sample_values(frame[col], 0, True, rng) if v.strip()]
            out.append(_free_text_item(col, values, engine, cfg, len(frame[col].dropna())))
        else:
            v = (verdicts or {}).get(str(col)) or verdict or \
                structured_verdict(col, values, engine, float(cfg["min_share"]), int(cfg.get("min_count", 5)))
            tallied = False
            if full and verdicts is None and not dominant(v, float(cfg["min_share"]), float(cfg["min_confidence"])):
                # a few e-mails or IBANs among harmless values: every row through the recognizers
                # (as the Spark engine's --full does), not only the sample's
                every = [x for x in sample_values(frame[col], 0, True, rng) if x.strip()]
                if len(every) > len(values):
                    v = every_row_verdict(col, every, engine, float(cfg["min_share"]), int(cfg.get("min_count", 5)))
                    tallied = True
            if v.entity is None or v.confidence < float(cfg["min_confidence"]):
                # short values with sentences among them ("kein Kommentar" and "Rückruf an
                # Jana Förster, +49 30 1234567"): the sentences get the free-text path
                sentences = [x for x in values if is_sentence(x) and not street_like(x)]
                if sentences and len(sentences) >= max(int(cfg.get("min_count", 5)),
                                                       MIXED_SENTENCE_SHARE * len(values)):
                    out.append(_free_text_item(col, sentences, engine, cfg, len(frame[col].dropna()),
                                               scanned=values))
                continue
            share = v.share
            # --full measures the share by the type's shape over every row: only where most
            # values are the type (a minority's shape is shared by the other values: any
            # capitalised word is name-shaped), else the validated sample share stands
            if full and not tallied and v.share >= float(cfg["min_share"]):
                exact = full_share(frame[col], v.entity)
                if exact is not None:
                    share = exact
                    v.rows_scanned = int(frame[col].notna().sum())
            examples = []
            for val in v.holders or values:  # values holding the type first (a minority's)
                m = mask_value(val, v.entity)
                if m not in examples:
                    examples.append(m)
                if len(examples) == 3:
                    break
            n_rows = int(frame[col].notna().sum())
            types = ", ".join(f"{entity_words(e)} {pct(s)}" for e, s in v.entities.items())
            out.append({
                "column": str(col), "kind": "structured", "entity": v.entity, "share": round_share(share),
                "message": (f"Column {col!r} holds {entity_words(v.entity)} ({pct(share)} of "
                            f"{v.rows_scanned:,} scanned rows"
                            + (f": {types}" if len(v.entities) > 1 else "")
                            + f"; confidence {v.confidence:.2f}, from its {v.basis})"),
                "evidence": {"entity_types": list(v.entities) or [v.entity], "entity_shares": v.entities,
                             "shares": v.shares, "confidence": v.confidence,
                             "name_meaning": v.name_meaning, "basis": v.basis,
                             "rows_scanned": v.rows_scanned, "rows": n_rows, "full_scan": full,
                             "examples": examples,
                             "advice": "Remove the column or anonymize it (riskaudit anonymize) "
                                       "unless the model needs it and the data subjects consented."},
            })
    return out


MIXED_SENTENCE_SHARE = 0.1
"""Share of a short-valued column's rows that are sentences from which those rows are
searched as free text."""


def is_sentence(value: str) -> bool:
    """Three or more words of letters ("Rückruf an Jana, 0171 2345678"; a phone number's
    digit groups are no words), one of them a lower-case word that is no conjunction or
    company suffix ("an": a sentence; "Müller und Schmidt GmbH": a company's name)."""
    from riskaudit.checks.pii.columns import not_name_words

    words = [w.strip(".,;:!?()") for w in value.split()]
    words = [w for w in words if sum(c.isalpha() for c in w) >= 2]
    return len(words) >= 3 and any(w.islower() and w not in not_name_words() for w in words)


def _free_text_item(col: Any, values: list[str], engine, cfg: Mapping[str, Any], n_rows: int,
                    scanned: list[str] | None = None) -> dict[str, Any]:
    """The free-text result of ``values`` in their detected language; ``scanned``: the values
    scanned when ``values`` are the sentences among them (the language is detected on all:
    a few short sentences of names say little about it)."""
    if scanned is not None:  # short texts: detected in chunks of 20 distinct values
        distinct = list(dict.fromkeys(scanned))
        lang, agree = detect_language([". ".join(distinct[i:i + 20]) for i in range(0, len(distinct), 20)])
    else:
        lang, agree = detect_language(values)
    eng = engine
    if lang is not None and lang != getattr(engine, "language", "en") and hasattr(engine, "for_language"):
        eng = engine.for_language(lang)
    item = _free_text(str(col), values, eng, n_rows, int(cfg.get("n_process", 1)),
                      len(scanned) if scanned is not None else None)
    item["language"] = lang or "unknown"
    item["evidence"]["language"] = lang or "unknown"
    item["evidence"]["language_share"] = round(agree, 3)
    return item


def _free_text(col: str, values: list[str], engine, n_rows: int, n_process: int = 1,
               scanned: int | None = None) -> dict[str, Any]:
    spans = engine.analyze_texts(values, n_process=n_process)
    counts: Counter = Counter()
    rows_with = 0
    examples: list[str] = []
    for text, ss in zip(values, spans):
        strong = [s for s in ss if s.entity not in WEAK_ENTITIES]
        counts.update(s.entity for s in ss)
        if strong:
            rows_with += 1
            for s in strong:
                m = mask_value(text[s.start:s.end], s.entity)
                if len(examples) < 5 and m not in examples:
                    examples.append(m)
    total = scanned or len(values)
    share = rows_with / total
    top = ", ".join(fmt.count(c, entity_words(e)) for e, c in counts.most_common(5))
    where = (f"Free-text column {col!r}" if scanned is None else
             f"Column {col!r} ({pct(len(values) / total)} of its scanned rows are sentences)")
    return {
        "column": str(col), "kind": "free_text", "entity": FREE_TEXT, "share": round(share, 4),
        "rows_with_pii": rows_with,
        "message": (f"{where}: {rows_with:,} of {total:,} scanned rows "
                    f"({pct(share)}) hold personal data ({top or 'none'})"),
        "evidence": {"entity_types": sorted(counts), "entity_counts": dict(sorted(counts.items())),
                     "rows_scanned": total, "sentence_rows": len(values), "rows": n_rows,
                     "rows_with_pii": rows_with,
                     "examples": examples, "name_detection": ner_note(engine),
                     "advice": "Anonymize the text (riskaudit anonymize replaces each entity) or drop it."},
    }


def scan_dataset(frame: pd.DataFrame, cfg: Mapping[str, Any], *, model_spec: str | None,
                 rng: np.random.Generator, sensitive: Sequence[str] = (),
                 exclude: Sequence[str] = (), verdicts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    columns = text_columns(frame, cfg["ignore_columns"])
    # Presidio and spaCy (with torch under thinc) load only for a table with text columns
    engine = TextEngines(cfg, model_spec) if columns else None
    results = classify(frame, cfg, engine, rng, columns, verdicts) if columns else []
    flagged = [r for r in results if r["kind"] == "structured" or r["rows_with_pii"] > 0]
    pii_cols = {r["column"] for r in flagged}
    qis_declared = cfg["quasi_identifiers"]
    if qis_declared:
        qis = [q for q in qis_declared if q in frame.columns]
    else:
        qis = list(suggest_quasi_identifiers(frame, exclude=tuple(pii_cols) + tuple(exclude)))
    kan, chart = None, None
    if qis and len(frame):
        lcol = cfg["l_diversity_column"]
        compared, how = generalize_continuous(frame, qis)
        kan = k_anonymity(compared, qis, int(cfg["k"]), sensitive=lcol)
        kan["treatment"] = how
        chart = class_size_histogram(compared, qis, int(cfg["k"]))
    return {"columns": flagged, "kanon": kan, "chart": chart,
            "ner_note": engine.note() if engine is not None else
            "No text column, so no named-entity model was needed.",
            "quasi_identifiers": qis,
            "text_columns": [r["column"] for r in results],
            "free_text_columns": [r["column"] for r in results if r["kind"] == "free_text"]}
