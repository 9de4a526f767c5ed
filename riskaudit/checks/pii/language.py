"""The language of a free-text column, offline (lingua-language-detector).

Chosen by measurement (1,050 Faker sentences in en, de, fr, es, it, nl, pl): lingua in
low-accuracy mode over all its languages got 99.2% right at about 2,000 sentences/s with
no model download and no dependencies; py3langid got 99.9% at 30,000/s but every current
release needs numpy 2, which riskaudit's pins exclude. A column needs at most
``MAX_TEXTS`` sentences, so the speed difference is milliseconds.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Sequence

MAX_TEXTS = 60
"""sentences of a column given to the detector (evenly spread over the sample)"""

NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
         "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "sv": "Swedish", "da": "Danish"}


@functools.lru_cache(maxsize=1)
def _detector():
    try:
        from lingua import LanguageDetectorBuilder
    except ImportError:
        return None
    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def available() -> bool:
    return _detector() is not None


def detect_language(texts: Sequence[str]) -> tuple[str | None, float]:
    """The most frequent language of ``texts`` (ISO 639-1 code, lower case) and the share
    of the examined texts in it; ``(None, 0.0)`` when the detector is not installed or
    no text has a recognizable language."""
    det = _detector()
    texts = [t for t in texts if t and any(c.isalpha() for c in t)]
    if det is None or not texts:
        return None, 0.0
    step = max(1, len(texts) // MAX_TEXTS)
    picked = [t[:1000] for t in texts[::step][:MAX_TEXTS]]
    votes: Counter = Counter()
    for text in picked:
        lang = det.detect_language_of(text)
        if lang is not None:
            votes[lang.iso_code_639_1.name.lower()] += 1
    if not votes:
        return None, 0.0
    code, n = votes.most_common(1)[0]
    return code, n / len(picked)


def language_name(code: str | None) -> str:
    if code is None:
        return "an unknown language"
    return NAMES.get(code, code)
