"""Masking of values that may be personal data. Raw PII never reaches a report or a log.

Checkers that show example values from a dataset pass them through :func:`mask_value`
when the column is marked as personal data (``ctx.shared["pii_columns"]``, filled by the
pii checker, which runs first) and through :func:`safe_example` always.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, Mapping

from riskaudit._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_module("numpy")
    pd = lazy_module("pandas")

MAX_EXAMPLE_CHARS = 60


def mask_value(value: Any, entity: str | None = None) -> str:
    """``'Megan Smith'`` -> ``'M**********'``; emails keep only the first character of each part.

    The length is capped so the mask does not reveal long values' length exactly.
    """
    text = "" if value is None else str(value)
    if not text:
        return text
    if entity == "EMAIL_ADDRESS" or ("@" in text and " " not in text):
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain[:1]}***"
    stars = "*" * min(max(len(text) - 1, 3), 10)
    tag = f" [{entity}]" if entity else ""
    return f"{text[:1]}{stars}{tag}"


def safe_example(value: Any, column: str | None = None,
                 pii_columns: Mapping[str, str] | None = None) -> Any:
    """An example value fit for a report: masked if its column holds PII, shortened if long."""
    if pii_columns and column is not None and column in pii_columns:
        return mask_value(value, pii_columns[column])
    if isinstance(value, str) and len(value) > MAX_EXAMPLE_CHARS:
        return value[:MAX_EXAMPLE_CHARS] + "…"
    return value


# --- the report as a whole ---------------------------------------------------------------
# Masking is a property of the report, enforced in one place: `riskaudit.scan` passes every
# CheckResult (and the manifest's class list) through a ReportMasker before anyone sees it
# (the progress observer, the report files, the ledger). Checkers may mask their examples
# too; the masker catches what they miss.

MIN_VALUE_CHARS = 3
"""Shorter values of a personal-data column ("F", "NY") are not searched for in the text."""
MIN_DIGITS_ANALYSED = 9
"""Integers with this many digits or more are checked by the PII engine (card numbers...)."""


class ReportMasker:
    """Masks personal data wherever it appears in check results.

    Two rules, applied to every string (dict keys included) and to long integers:

    1. Any value of a column the pii checker marked (``shared["pii_columns"]``: the target
       and label columns included), found in the data or the reference, is replaced by its
       mask wherever it occurs (as a whole value or inside a sentence).
    2. Any span that the PII engine recognises as a personal-data entity (not the weak
       types: dates, URLs, locations, nationalities) is replaced by its mask: e-mails,
       cards, IBANs and the like; names of two capitalized words or more; phone numbers
       of 7 digits or more; ids by a column value's rules (no context word needed).
       If the engine cannot be built or fails, strong identifiers are masked by shape
       (:func:`_by_shape`): masking fails closed.
    """

    def __init__(self, frames=(), shared=None, engine_factory=None, names: bool | Callable[[], bool] = True):
        """``names``: whether strings of two capitalized words go to the engine (a bool, or
        a callable asked once, when the engine is first needed). :func:`riskaudit.scan.report_masker`
        asks for them only when the pii checker found free text: then its named-entity
        model is loaded anyway; otherwise every name-like value of the data belongs to a
        column the pii checker marked (rule 1), and report sentences ("Joint MMD test")
        would load Presidio and spaCy (about 3 s) for nothing."""
        self._frames = [f for f in frames if f is not None]
        self._shared = shared if shared is not None else {}
        self._engine_factory = engine_factory
        self._names = names
        self._engine = None
        self._engine_failed = False
        self._columns_seen: dict | None = None
        self._index: dict[str, list[tuple[str, str | None]]] = {}  # entity None: free text
        self._cache: dict[str, str] = {}

    # -- rule 1: values of marked columns -------------------------------------------------
    def _refresh_values(self) -> None:
        cols = dict(self._shared.get("pii_columns") or {})
        if cols == self._columns_seen:
            return
        self._columns_seen = cols
        self._cache.clear()
        values: dict[str, str | None] = {}
        for frame in self._frames:
            for col, entity in cols.items():
                if col not in frame.columns:
                    continue
                s = frame[col].dropna()
                for v in pd.unique(s.astype(str)):
                    v = v.strip()
                    if len(v) >= MIN_VALUE_CHARS:
                        values.setdefault(v, None if entity == "FREE_TEXT" else entity)
        index: dict[str, list[tuple[str, str | None]]] = {}
        for v, ent in values.items():
            index.setdefault(v[:MIN_VALUE_CHARS], []).append((v, ent))
        for bucket in index.values():
            bucket.sort(key=lambda t: -len(t[0]))
        self._index = index

    def _mask_values(self, text: str) -> str:
        index = self._index
        if not index or len(text) < MIN_VALUE_CHARS:
            return text
        out, i, n, last = [], 0, len(text), 0
        while i <= n - MIN_VALUE_CHARS:
            bucket = index.get(text[i:i + MIN_VALUE_CHARS])
            hit = None
            if bucket:
                for v, ent in bucket:
                    end = i + len(v)
                    if text.startswith(v, i) and _bounded(text, i, end, v):
                        hit = (v, ent, end)
                        break
            if hit is None:
                i += 1
                continue
            v, ent, end = hit
            out.append(text[last:i])
            out.append(mask_value(v, ent))
            i = last = end
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)

    # -- rule 2: what the engine recognises ---------------------------------------------
    def _get_engine(self):
        if self._engine is None and not self._engine_failed and self._engine_factory is not None:
            try:
                self._engine = self._engine_factory()
            except Exception:  # no Presidio / spaCy: rule 1 still applies
                self._engine_failed = True
        return self._engine

    def _mask_entities(self, texts: list[str]) -> dict[str, str]:
        if callable(self._names):
            self._names = bool(self._names())
        todo = [t for t in dict.fromkeys(texts) if _candidate(t, self._names)]
        engine = self._get_engine() if todo else None
        if engine is None:
            return _by_shape(todo) if self._engine_failed else {}
        from riskaudit.checks.pii.engine import WEAK_ENTITIES

        try:
            found = engine.analyze_texts(todo)
            # Ids in a sentence need a context word to count as found ("PAN", "NHS number"),
            # and national ids without a check digit (UK NINO, IN PAN) a higher score than
            # their format gives. For masking, a value that has an id's format (and check
            # digit, where it has one) is masked even where the pii checker would not report
            # it: the id rules of a column's values apply (structured), names excepted.
            id_like = [t for t in todo if _id_candidate(t)]
            by_id = dict(zip(id_like, engine.analyze_values(id_like)))
            ids = [[s for s in by_id.get(t, ()) if s.entity != "PERSON"] for t in todo]
        except Exception:  # the engine failed: the value rule still applied, shapes now
            self._engine_failed, self._engine = True, None
            return _by_shape(todo)
        out = {}
        for text, spans, more in zip(todo, found, ids):
            strong = sorted((s for s in [*spans, *more] if s.entity not in WEAK_ENTITIES
                             and _plausible(s.entity, text[s.start:s.end])),
                            key=lambda s: (s.start, -s.end))
            if not strong:
                continue
            parts, pos = [], 0
            for s in strong:
                if s.start < pos:
                    continue
                parts += [text[pos:s.start], mask_value(text[s.start:s.end], s.entity)]
                pos = s.end
            out[text] = "".join(parts) + text[pos:]
        return out

    # -- applying both ------------------------------------------------------------------
    def strings(self, texts) -> dict[str, str]:
        """Masked form of each of ``texts`` (cached across calls)."""
        self._refresh_values()
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            first = {t: self._mask_values(t) for t in todo}
            second = self._mask_entities(list(first.values()))
            for t in todo:
                self._cache[t] = second.get(first[t], first[t])
        return {t: self._cache[t] for t in texts}

    def value(self, obj: Any) -> Any:
        """``obj`` (any JSON-like structure) with every string and long integer masked."""
        found: list[str] = []
        _collect(obj, found)
        if not found:
            return obj
        table = self.strings(found)
        return _rebuild(obj, table)

    def result(self, res):
        """A CheckResult with its summary, findings and metrics masked."""
        import dataclasses

        if res is None:
            return res
        bundle = {"summary": res.summary, "metrics": dict(res.metrics),
                  "findings": [{"subject": f.subject, "message": f.message, "value": f.value,
                                "threshold": f.threshold, "evidence": dict(f.evidence)}
                               for f in res.findings]}
        masked = self.value(bundle)
        findings = tuple(dataclasses.replace(f, **m) for f, m in zip(res.findings, masked["findings"]))
        return dataclasses.replace(res, summary=masked["summary"], metrics=masked["metrics"],
                                   findings=findings)


_NAME_WORDS = re.compile(r"\b[A-Z][\w'’-]+\s+(?:[\w'’.-]+\s+)*?[A-Z][\w'’-]+")
MIN_PHONE_DIGITS = 7


_DIGIT_RUN = re.compile(r"\d(?:[ ./()+-]?\d){6,}")
"""Seven digits or more, single spaces, dots, dashes, slashes, brackets or '+' between them:
phones (7+ digits), cards, IBANs, national ids, account and licence numbers. Counts written
with thousands commas ("1,000,000 rows") are not."""
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
"""Dates and times (weak entities, never masked): not a digit run."""
_DECIMAL = re.compile(r"(?<![\d.])\d{1,6}\.\d+(?![\d.])")
"""A figure with a decimal point ("0.000745"): not a digit run (a card number written as a
float keeps its 13+ digit integer part)."""
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
_MIXED_TOKEN = re.compile(r"\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{20,}\b")
"""A long token of letters and digits (crypto wallet addresses)."""
_ID_SHAPE = re.compile(r"\b(?=(?:[A-Za-z]*\d){4})(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{8,19}\b"
                       r"|\b[A-Za-z]{2}(?:[ -]?\d{2}){3}[ -]?[A-Za-z]\b")
"""A token of 8-19 letters and digits with at least 4 digits (IN PAN ``ABCPE1234F``, IT
fiscal code, ES NIE, UK NINO ``ZZ631706T``), or a NINO written in pairs (``ZZ 91 41 77 T``):
national ids with letters whose digits are too few for a digit run."""


def _id_candidate(text: str) -> bool:
    """Worth the id rules of structured values: an id-shaped token or a run of 7+ digits."""
    plain = _DECIMAL.sub(" ", _ISO_DATE.sub(" ", text))
    return bool(_ID_SHAPE.search(plain) or _DIGIT_RUN.search(plain))


_SHAPES = re.compile("|".join(f"(?:{p.pattern})" for p in (
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), _IPV4, _MIXED_TOKEN, _ID_SHAPE, _DIGIT_RUN)))


def _by_shape(texts: list[str]) -> dict[str, str]:
    """Fail closed: when the PII engine cannot be loaded or fails, every e-mail, IPv4
    address, id-shaped token and run of 7+ digits (dates and decimals aside) is masked by
    its shape alone; names cannot be told by shape, and the value rule still applies."""
    out = {}
    for text in texts:
        protected = _DECIMAL.sub(lambda m: "\0" * len(m.group()), _ISO_DATE.sub(lambda m: "\0" * len(m.group()), text))
        parts, pos = [], 0
        for m in _SHAPES.finditer(protected):
            parts += [text[pos:m.start()], mask_value(text[m.start():m.end()])]
            pos = m.end()
        if parts:
            out[text] = "".join(parts) + text[pos:]
    return out


def _candidate(text: str, names: bool = True) -> bool:
    """Worth the engine: an '@' (e-mails), a run of 7+ digits (phones, cards, IBANs, ids),
    an id-shaped token of letters and digits, an IPv4 address, a long token of letters and digits (wallets), or with ``names`` two
    capitalized words (a name). Report text is mostly the checkers' own sentences with
    figures ("p-value 0.003", "1,000,000 rows"), column names and single labels; they hold
    none of these, so a scan whose report holds no such string never loads Presidio.
    Named-entity recognition alone is unreliable on single labels ('integer',
    'PHONE_NUMBER' read as names), so they are not asked."""
    if len(text) < MIN_VALUE_CHARS:
        return False
    if "@" in text or _IPV4.search(text) or _MIXED_TOKEN.search(text):
        return True
    if _id_candidate(text):
        return True
    return names and _NAME_WORDS.search(text) is not None


def _plausible(entity: str, span: str) -> bool:
    """Spans the masker accepts: a name of two capitalized words or more, a phone number of
    at least 7 digits (counts like '1640' are not phones), any other strong type."""
    if entity == "PERSON":
        return _NAME_WORDS.fullmatch(span.strip()) is not None
    if entity == "PHONE_NUMBER":
        return sum(c.isdigit() for c in span) >= MIN_PHONE_DIGITS
    return True


def _bounded(text: str, start: int, end: int, value: str) -> bool:
    """The match is not part of a longer word ('May' inside 'Mayor')."""
    if value[0].isalnum() and start > 0 and text[start - 1].isalnum():
        return False
    if value[-1].isalnum() and end < len(text) and text[end].isalnum():
        return False
    return True


def _is_long_int(obj: Any) -> bool:
    return (isinstance(obj, (int, np.integer)) and not isinstance(obj, (bool, np.bool_))
            and len(str(abs(int(obj)))) >= MIN_DIGITS_ANALYSED)


def _collect(obj: Any, found: list[str]) -> None:
    if isinstance(obj, str):
        found.append(obj)
    elif _is_long_int(obj):
        found.append(str(int(obj)))
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            if isinstance(k, str):
                found.append(k)
            _collect(v, found)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            _collect(v, found)
    elif isinstance(obj, np.ndarray) and obj.dtype.kind in "OUSi":
        for v in obj.tolist():
            _collect(v, found)


def _rebuild(obj: Any, table: Mapping[str, str]) -> Any:
    if isinstance(obj, str):
        return table.get(obj, obj)
    if _is_long_int(obj):
        text = str(int(obj))
        return obj if table.get(text, text) == text else table[text]
    if isinstance(obj, Mapping):
        return {(table.get(k, k) if isinstance(k, str) else k): _rebuild(v, table) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rebuild(v, table) for v in obj) if isinstance(obj, tuple) else [_rebuild(v, table) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return [_rebuild(v, table) for v in sorted(obj, key=str)]
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "OUSi":
        return [_rebuild(v, table) for v in obj.tolist()]
    return obj
