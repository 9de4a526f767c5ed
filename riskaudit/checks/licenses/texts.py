"""Identify a full license text by comparison with the license texts of ScanCode's LicenseDB.

The reference texts come from the ``licensedcode-data`` package (ScanCode's license data,
CC-BY-4.0), for every current id of the SPDX list that license-expression's bundled index
knows (BUSL-1.1, SSPL-1.0, Elastic-2.0, PolyForm-Noncommercial-1.0.0, MIT-0... included). A
text is reduced to its set of word bigrams (lower case, punctuation, template markup such as
``<<var;...>>`` and placeholders such as ``<year>`` removed); the score of a
candidate is the Dice coefficient of the two sets, ``2 |A & B| / (|A| + |B|)``. Bigrams keep
versions apart (CC-BY-NC-4.0 against CC-BY-NC-SA-4.0, GPL-2.0 against GPL-3.0, SSPL-1.0
against the AGPL-3.0 it rewrites) where single words would not.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from riskaudit.checks.licenses.spdx import license_texts

__all__ = ["identify_text", "TextMatch", "looks_like_license_text"]

_MARKUP = re.compile(r"<<.*?>>|<[^<>\n]{1,60}>", re.S)
_WORD = re.compile(r"[a-z0-9]+")
_COPYRIGHT_LINE = re.compile(r"^[ \t]*(?:copyright\b|\(c\)|©|all rights reserved).*$", re.M)
_LIST_MARK = re.compile(r"^[ \t]*(?:\(?[0-9]{1,2}[.)]|\([a-z]\)|[-*•])[ \t]", re.M)


def shingles(text: str) -> frozenset[str]:
    """The word bigrams of a text. Markup, list numbering ("1.", "(a)", "-") and copyright lines
    (the holder, not the license) are left out."""
    text = _MARKUP.sub(" ", text.lower().replace("licence", "license"))
    text = _LIST_MARK.sub(" ", _COPYRIGHT_LINE.sub(" ", text))
    words = _WORD.findall(text)
    return frozenset(f"{a} {b}" for a, b in zip(words, words[1:]))


@functools.lru_cache(maxsize=1)
def _index() -> tuple[tuple[str, frozenset[str]], ...]:
    out = []
    seen = set()
    for rec in license_texts():
        if rec.spdx_id in seen:  # two LicenseDB keys of one SPDX id: the first (the index's order)
            continue
        seen.add(rec.spdx_id)
        grams = shingles(rec.text)
        if len(grams) >= 5:
            out.append((rec.spdx_id, grams))
    return tuple(out)


VARIANT_MARGIN = 0.01


@dataclass(frozen=True)
class TextMatch:
    """The best SPDX match of a text: ``spdx_id`` None when no score reaches ``minimum``."""

    spdx_id: str | None
    score: float
    best_candidate: str | None
    runner_up: str | None
    runner_up_score: float


def identify_text(text: str, minimum: float = 0.8) -> TextMatch:
    """Best SPDX license for a full license text, with its Dice score on word bigrams."""
    return _identify(text, minimum)


def _identify(text: str, minimum: float) -> TextMatch:
    doc = shingles(text)
    if len(doc) < 5:
        return TextMatch(None, 0.0, None, None, 0.0)
    scores = []
    n = len(doc)
    for sid, grams in _index():
        m = len(grams)
        if min(n, m) * 2 / (n + m) < minimum * 0.5:  # cannot reach half the minimum
            continue
        inter = len(doc & grams)
        if inter:
            scores.append((2 * inter / (n + m), sid))
    if not scores:
        return TextMatch(None, 0.0, None, None, 0.0)
    scores.sort(key=lambda t: (-t[0], len(t[1]), t[1]))  # ties: the plain id over its variants
    # A variant (BSD-3-Clause-HP) within VARIANT_MARGIN of its base id (BSD-3-Clause) differs
    # from it by a name or a word the text at hand need not share: the base id is the claim.
    for i, (score, sid) in enumerate(scores[1:4], start=1):
        if scores[0][0] - score <= VARIANT_MARGIN and scores[0][1].startswith(sid + "-"):
            scores.insert(0, scores.pop(i))
            break
    best_score, best = scores[0]
    second_score, second = scores[1] if len(scores) > 1 else (0.0, None)
    return TextMatch(best if best_score >= minimum else None, round(best_score, 4), best,
                     second, round(second_score, 4))


def looks_like_license_text(text: str) -> bool:
    """A long text with the vocabulary of a license (not one line naming one)."""
    words = len(text.split())
    return words >= 60 and bool(re.search(r"permission|warranty|licen[cs]e|copyright|rights", text, re.I))
