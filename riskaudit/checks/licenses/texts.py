"""Identify a full license text by comparison with the SPDX license list's own texts.

The reference texts come from the ``spdx`` package (the SPDX license-list data: ids,
names and the license texts, CC0). A text is reduced to its set of word bigrams (lower
case, punctuation, SPDX template markup such as ``<<var;...>>`` and placeholders such as
``<year>`` removed); the score of a candidate is the Dice coefficient of the two sets,
``2 |A & B| / (|A| + |B|)``. Bigrams keep versions apart (CC-BY-NC-4.0 against
CC-BY-NC-SA-4.0, GPL-2.0 against GPL-3.0) where single words would not.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass


from riskaudit.checks.licenses.spdx import licensing, spdx_data_dir, spdx_records

__all__ = ["spdx_records", "identify_text", "TextMatch", "looks_like_license_text"]

_MARKUP = re.compile(r"<<.*?>>|<[^<>\n]{1,60}>", re.S)
_WORD = re.compile(r"[a-z0-9]+")


def shingles(text: str) -> frozenset[str]:
    text = _MARKUP.sub(" ", text.lower().replace("licence", "license"))
    words = _WORD.findall(text)
    return frozenset(f"{a} {b}" for a, b in zip(words, words[1:]))


@functools.lru_cache(maxsize=1)
def _index() -> tuple[tuple[str, frozenset[str]], ...]:
    from license_expression import ExpressionError

    out = []
    seen = set()
    base = spdx_data_dir()
    for rec in spdx_records():
        path = os.path.join(base, rec["template"])
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except UnicodeDecodeError:
            with open(path, encoding="latin-1") as fh:
                text = fh.read()
        except OSError:
            continue
        sid = rec["id"]
        try:  # the list's deprecated ids ("GPL-2.0") in today's spelling ("GPL-2.0-only")
            sid = licensing().parse(sid).render()
        except ExpressionError:  # an id the expression parser does not know stays as listed
            sid = rec["id"]
        if sid in seen:
            continue
        seen.add(sid)
        grams = shingles(text)
        if len(grams) >= 5:
            out.append((sid, grams))
    return tuple(out)


@dataclass(frozen=True)
class TextMatch:
    """The best SPDX match of a text: ``spdx_id`` None when no score reaches ``minimum``."""

    spdx_id: str | None
    score: float
    best_candidate: str | None
    runner_up: str | None
    runner_up_score: float


# Source-available licenses whose texts the SPDX list of the ``spdx`` package (2.5.1)
# predates: recognised by their title together with a clause only their text has.
_TITLED = (
    ("BUSL-1.1", re.compile(r"business\s+source\s+licen[sc]e\s+(?:version\s+)?1\.1", re.I),
     re.compile(r"change\s+date|additional\s+use\s+grant", re.I)),
    ("SSPL-1.0", re.compile(r"server\s+side\s+public\s+licen[sc]e", re.I),
     re.compile(r"offering\s+the\s+program\s+as\s+a\s+service|service\s+source\s+code", re.I)),
    ("Elastic-2.0", re.compile(r"elastic\s+licen[sc]e\s+(?:2\.0|v2)", re.I),
     re.compile(r"hosted\s+or\s+managed\s+service", re.I)),
    ("PolyForm-Noncommercial-1.0.0", re.compile(r"polyform\s+noncommercial\s+licen[sc]e\s+1\.0\.0", re.I),
     re.compile(r"noncommercial\s+purposes", re.I)),
)


def _titled(text: str) -> str | None:
    for sid, title, clause in _TITLED:
        if title.search(text[:4000]) and clause.search(text):
            return sid
    return None


def identify_text(text: str, minimum: float = 0.8) -> TextMatch:
    """Best SPDX license for a full license text, with its Dice score on word bigrams.

    The source-available licenses the text index lacks are recognised first, by their title
    and a clause of theirs (score 1.0, ``runner_up`` "title and clause"): SSPL-1.0 is a
    rewrite of AGPL-3.0 and scores 0.90 against it on bigrams."""
    sid = _titled(text)
    if sid:
        return TextMatch(sid, 1.0, sid, "title and clause", 0.0)
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
    best_score, best = scores[0]
    second_score, second = scores[1] if len(scores) > 1 else (0.0, None)
    return TextMatch(best if best_score >= minimum else None, round(best_score, 4), best,
                     second, round(second_score, 4))


def looks_like_license_text(text: str) -> bool:
    """A long text with the vocabulary of a license (not one line naming one)."""
    words = len(text.split())
    return words >= 60 and bool(re.search(r"permission|warranty|licen[cs]e|copyright|rights", text, re.I))
