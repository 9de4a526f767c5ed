"""License names, classifiers, URLs and expressions normalized to SPDX; license categories.

Parsing and rendering of expressions is done by the ``license-expression`` library
(``get_spdx_licensing()``); this module only maps the common spellings that are not SPDX
ids ("Apache 2.0", "BSD", "GPLv3+", trove classifiers, Creative Commons URLs) onto SPDX ids
first, and sorts SPDX ids into the categories the policy judges: license families by rule,
every other id by the ScanCode LicenseDB category license-expression bundles (SPDX list
3.27 in license-expression 30.4: BUSL-1.1, SSPL-1.0, Elastic-2.0, PolyForm are there); an
id on no list is ``unknown``.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

__all__ = ["Normalized", "normalize", "normalize_url", "category", "CATEGORIES", "evaluate",
           "license_ids", "license_list"]

# Spellings seen in package metadata and model/data cards, keyed by _key(spelling).
_ALIASES = {
    "apache": "Apache-2.0", "apache 2": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache2": "Apache-2.0",
    "apache software": "Apache-2.0", "apache software 2.0": "Apache-2.0", "asl 2.0": "Apache-2.0",
    "apache-2": "Apache-2.0", "apache v2": "Apache-2.0", "apache 1.1": "Apache-1.1",
    "mit": "MIT", "mit/x11": "MIT", "expat": "MIT", "mit-0": "MIT-0", "mit no attribution": "MIT-0",
    "bsd": "BSD-3-Clause", "new bsd": "BSD-3-Clause", "modified bsd": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause", "3-clause bsd": "BSD-3-Clause", "bsd-3": "BSD-3-Clause",
    "revised bsd": "BSD-3-Clause", "simplified bsd": "BSD-2-Clause", "bsd 2-clause": "BSD-2-Clause",
    "2-clause bsd": "BSD-2-Clause", "freebsd": "BSD-2-Clause", "bsd-2": "BSD-2-Clause",
    "isc": "ISC", "isc license (iscl)": "ISC", "iscl": "ISC",
    "gpl": "GPL-2.0-or-later", "gnu gpl": "GPL-2.0-or-later", "gnu general public": "GPL-2.0-or-later",
    "gplv2": "GPL-2.0-only", "gpl v2": "GPL-2.0-only", "gpl-2": "GPL-2.0-only", "gpl 2": "GPL-2.0-only",
    "gplv2+": "GPL-2.0-or-later", "gpl v2+": "GPL-2.0-or-later", "gpl-2+": "GPL-2.0-or-later",
    "gplv3": "GPL-3.0-only", "gpl v3": "GPL-3.0-only", "gpl-3": "GPL-3.0-only", "gpl 3": "GPL-3.0-only",
    "gplv3+": "GPL-3.0-or-later", "gpl v3+": "GPL-3.0-or-later", "gpl-3+": "GPL-3.0-or-later",
    "gnu gplv3": "GPL-3.0-only", "gnu gplv2": "GPL-2.0-only",
    "lgpl": "LGPL-2.1-or-later", "gnu lgpl": "LGPL-2.1-or-later", "lgplv2": "LGPL-2.0-only",
    "lgplv2+": "LGPL-2.0-or-later", "lgplv2.1": "LGPL-2.1-only", "lgplv2.1+": "LGPL-2.1-or-later",
    "lgpl 2.1": "LGPL-2.1-only", "lgplv3": "LGPL-3.0-only", "lgplv3+": "LGPL-3.0-or-later",
    "lgpl 3": "LGPL-3.0-only", "agpl": "AGPL-3.0-only", "agplv3": "AGPL-3.0-only",
    "agplv3+": "AGPL-3.0-or-later", "gnu agpl": "AGPL-3.0-only", "agpl 3": "AGPL-3.0-only",
    "mpl": "MPL-2.0", "mpl 2": "MPL-2.0", "mpl 2.0": "MPL-2.0", "mpl2": "MPL-2.0", "mpl 1.1": "MPL-1.1",
    "mozilla public 2.0": "MPL-2.0", "epl": "EPL-2.0", "epl 2.0": "EPL-2.0", "epl 1.0": "EPL-1.0",
    "psf": "PSF-2.0", "psfl": "PSF-2.0", "python software foundation": "PSF-2.0", "psf 2.0": "PSF-2.0",
    "python": "Python-2.0", "zpl 2.1": "ZPL-2.1", "zope public": "ZPL-2.1",
    "unlicense": "Unlicense", "public domain": "LicenseRef-Public-Domain", "cc0": "CC0-1.0",
    "cc0 1.0": "CC0-1.0", "cc0 1.0 universal": "CC0-1.0", "wtfpl": "WTFPL", "zlib": "Zlib",
    "zlib/libpng": "Zlib", "hpnd": "HPND", "artistic": "Artistic-2.0", "boost": "BSL-1.0",
    "boost software": "BSL-1.0", "bsl": "BSL-1.0", "openrail": "LicenseRef-OpenRAIL",
    "openrail++": "LicenseRef-OpenRAIL", "bigscience-openrail-m": "LicenseRef-OpenRAIL",
    "creativeml-openrail-m": "LicenseRef-OpenRAIL", "llama2": "LicenseRef-Llama-2",
    "llama3": "LicenseRef-Llama-3", "odbl": "ODbL-1.0", "odc-by": "ODC-By-1.0", "pddl": "PDDL-1.0",
    "cc-by": "CC-BY-4.0", "cc by": "CC-BY-4.0", "cc-by-sa": "CC-BY-SA-4.0", "cc-by-nc": "CC-BY-NC-4.0",
    "cc-by-nc-sa": "CC-BY-NC-SA-4.0", "cc-by-nc-nd": "CC-BY-NC-ND-4.0", "cc-by-nd": "CC-BY-ND-4.0",
    "dual bsd/gpl": "BSD-3-Clause OR GPL-2.0-or-later", "apache 2.0 or mit": "Apache-2.0 OR MIT",
    "mit or apache 2.0": "MIT OR Apache-2.0", "apache-2.0 or bsd-3-clause": "Apache-2.0 OR BSD-3-Clause",
}

# Source-available licenses (SPDX 3.x ids the old list lacks), by their usual names; keyed
# through _key like the aliases above.
_SOURCE_AVAILABLE_NAMES = {
    "Business Source License 1.1": "BUSL-1.1", "BUSL-1.1": "BUSL-1.1", "BUSL": "BUSL-1.1",
    "BSL 1.1": "BUSL-1.1", "BSL-1.1": "BUSL-1.1", "Business Source License": "BUSL-1.1",
    "Server Side Public License": "SSPL-1.0", "Server Side Public License v1": "SSPL-1.0",
    "Server Side Public License, Version 1": "SSPL-1.0", "SSPL": "SSPL-1.0", "SSPLv1": "SSPL-1.0",
    "SSPL 1.0": "SSPL-1.0", "Elastic License 2.0": "Elastic-2.0", "Elastic License v2": "Elastic-2.0",
    "ELv2": "Elastic-2.0", "Elastic-2.0": "Elastic-2.0", "Elastic License 2.0 (ELv2)": "Elastic-2.0",
    "PolyForm Noncommercial License 1.0.0": "PolyForm-Noncommercial-1.0.0",
    "PolyForm Noncommercial 1.0.0": "PolyForm-Noncommercial-1.0.0",
    "PolyForm Noncommercial": "PolyForm-Noncommercial-1.0.0",
    "PolyForm Small Business License 1.0.0": "PolyForm-Small-Business-1.0.0",
}

# Trove classifiers (the last part after "License ::") to SPDX.
_CLASSIFIERS = {
    "OSI Approved :: MIT License": "MIT", "OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "OSI Approved :: Apache Software License": "Apache-2.0", "OSI Approved :: BSD License": "BSD-3-Clause",
    "OSI Approved :: ISC License (ISCL)": "ISC",
    "OSI Approved :: GNU General Public License (GPL)": "GPL-2.0-or-later",
    "OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "OSI Approved :: GNU Library or Lesser General Public License (LGPL)": "LGPL-2.1-or-later",
    "OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "OSI Approved :: Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
    "OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "OSI Approved :: Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
    "OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "OSI Approved :: Zope Public License": "ZPL-2.1", "OSI Approved :: zlib/libpng License": "Zlib",
    "OSI Approved :: Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "OSI Approved :: Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "OSI Approved :: Artistic License": "Artistic-2.0",
    "OSI Approved :: Universal Permissive License (UPL)": "UPL-1.0",
    "OSI Approved :: European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "Public Domain": "LicenseRef-Public-Domain",
    "DFSG approved": None, "OSI Approved": None, "Other/Proprietary License": "LicenseRef-Proprietary",
    "Freely Distributable": None, "Freeware": None,
}

# Words that say "no license information" rather than naming one.
_EMPTY = {"", "unknown", "none", "null", "n/a", "na", "other", "dual license", "see license",
          "see license file", "see license.txt", "license.txt", "license", "custom"}

CATEGORIES = ("permissive", "weak_copyleft", "strong_copyleft", "network_copyleft",
              "noncommercial", "restricted_use", "proprietary", "unknown")

# ScanCode LicenseDB categories (license-expression's bundled index) -> policy categories,
# for the ids the family rules in category() do not settle.
_SCANCODE = {"Permissive": "permissive", "Public Domain": "permissive",
             "Copyleft": "strong_copyleft", "Copyleft Limited": "weak_copyleft",
             "Source-available": "restricted_use", "Free Restricted": "restricted_use",
             "Proprietary Free": "proprietary", "Commercial": "proprietary",
             "CLA": "unknown", "Patent License": "unknown", "Unstated License": "unknown"}


@dataclass(frozen=True)
class Normalized:
    """A license statement turned into an SPDX expression (None when it names no license)."""

    expression: str | None
    note: str = ""


@functools.lru_cache(maxsize=1)
def licensing():
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


@functools.lru_cache(maxsize=1)
def _scancode_index() -> dict[str, tuple[str, bool]]:
    """SPDX key (upper case) -> (ScanCode category, is_exception), from the ScanCode
    LicenseDB index that license-expression bundles (the SPDX list version in
    :func:`license_list`)."""
    from license_expression import get_license_index

    out: dict[str, tuple[str, bool]] = {}
    for rec in get_license_index():
        cat = str(rec.get("category") or "")
        exc = bool(rec.get("is_exception"))
        for key in [rec.get("spdx_license_key"), *(rec.get("other_spdx_license_keys") or [])]:
            if key:
                out.setdefault(str(key).upper(), (cat, exc))
    return out


@functools.lru_cache(maxsize=1)
def license_list() -> dict[str, object]:
    """Which license list the categories come from: recorded in the report."""
    import importlib.metadata as md
    import os

    import license_expression

    version = ""
    about = os.path.join(os.path.dirname(license_expression.__file__), "data", "license_key_index.json.ABOUT")
    try:
        with open(about, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("spdx_license_list_version:"):
                    version = line.split(":", 1)[1].strip()
    except OSError:
        pass
    def dist_version(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return ""

    return {"source": "ScanCode LicenseDB index bundled with license-expression",
            "library_version": dist_version("license-expression"),
            "spdx_license_list_version": version, "keys": len(_scancode_index()),
            "texts_source": "ScanCode LicenseDB license texts (licensedcode-data)",
            "texts_version": dist_version("licensedcode-data")}


def license_ids(expression: str) -> list[str]:
    """The license keys of an SPDX expression, without ``WITH`` exceptions
    (license-expression's symbols, decomposed)."""
    lic = licensing()
    try:
        expr = lic.parse(expression, validate=False)
    except Exception:  # license_expression raises several types for bad input
        return []
    if expr is None:
        return []
    return sorted({s.key for s in lic.license_symbols(expr, unique=True, decompose=True)
                   if not getattr(s, "is_exception", False)})


def _key(text: str) -> str:
    t = text.lower().replace("licence", "license").replace("_", " ")
    t = re.sub(r"[,;:()\"']", " ", t)
    t = re.sub(r"\b(the|license|version|ver\.?|software license)\b", " ", t)
    t = re.sub(r"\bv\s*(\d)", r"v\1", t)
    return re.sub(r"\s+", " ", t).strip()


@dataclass(frozen=True)
class LicenseText:
    """One license of ScanCode's LicenseDB with an SPDX id: its names and its text."""

    spdx_id: str
    names: tuple[str, ...]
    text: str


_HEADER_NAME = re.compile(r"^(?:name|short_name): *(.+?) *$", re.M)


@functools.lru_cache(maxsize=1)
def license_texts_dir() -> str:
    """The license texts of ScanCode's LicenseDB, from the ``licensedcode-data`` package
    (CC-BY-4.0): one ``<key>.LICENSE`` file per license, a YAML header then the text."""
    from importlib import metadata

    return str(metadata.distribution("licensedcode-data").locate_file("licensedcode/data/licenses"))


def read_license_file(path: str) -> tuple[str, str]:
    """(header, text) of a LicenseDB ``.LICENSE`` file."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        raw = fh.read()
    if raw.startswith("---"):
        header, sep, text = raw[3:].partition("\n---")
        if sep:
            return header, text.lstrip("-\n")
    return "", raw


@functools.lru_cache(maxsize=1)
def license_texts() -> tuple[LicenseText, ...]:
    """Every current (not deprecated) license with an SPDX id in license-expression's index
    whose text the LicenseDB data ships; exceptions (``WITH ...``) are not licenses."""
    from license_expression import get_license_index

    base = license_texts_dir()
    out = []
    for rec in get_license_index():
        sid = rec.get("spdx_license_key") or ""
        if not sid or sid.startswith("LicenseRef-") or rec.get("is_exception") or rec.get("is_deprecated"):
            continue
        path = os.path.join(base, f"{rec['license_key']}.LICENSE")
        try:
            header, text = read_license_file(path)
        except OSError:  # a key newer than the packaged texts
            continue
        out.append(LicenseText(sid, tuple(_HEADER_NAME.findall(header)), text))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _spdx_names() -> dict[str, str]:
    """License names ("GNU General Public License 3.0 or later", "MIT No Attribution") keyed
    like aliases."""
    return {_key(name): rec.spdx_id for rec in license_texts() for name in rec.names}


def _parse(text: str) -> str | None:
    """Render ``text`` as an SPDX expression when every symbol is a known SPDX key."""
    lic = licensing()
    try:
        expr = lic.parse(text, validate=False)
    except Exception:  # license_expression raises several types for bad input
        return None
    if expr is None or lic.unknown_license_keys(expr):
        return None
    return expr.render()


@functools.lru_cache(maxsize=4096)
def normalize(raw: str | None) -> Normalized:
    """Normalize a license name, SPDX id, expression, alias or URL to an SPDX expression."""
    if raw is None:
        return Normalized(None, "no license stated")
    text = " ".join(str(raw).split())
    if _key(text) in _EMPTY or text.lower() in _EMPTY or len(text) > 200:
        return Normalized(None, f"{text[:60]!r} names no license" if text else "no license stated")
    if re.match(r"https?://", text):
        sid = normalize_url(text)
        return Normalized(sid, f"URL {text}") if sid else Normalized(None, f"unrecognized license URL {text}")
    parsed = _parse(text)
    if parsed:
        return Normalized(parsed)
    key = _key(text)
    if key in _ALIASES:
        return Normalized(_ALIASES[key], f"alias {text!r}")
    names = _spdx_names()
    if key in names:
        return Normalized(_parse(names[key]) or names[key], f"SPDX name {text!r}")
    m = _GNU.search(text)
    if m:
        fam = {"affero": "AGPL", "lesser": "LGPL", "library": "LGPL"}.get((m.group(1) or "").lower(), "GPL")
        ver = m.group(2) if "." in m.group(2) else f"{m.group(2)}.0"
        later = "or-later" if m.group(3) else "only"
        got = _parse(f"{fam}-{ver}-{later}")
        if got:
            return Normalized(got, f"GNU name {text!r}")
    cc = _creative_commons(text)
    if cc:
        return Normalized(cc, f"Creative Commons name {text!r}")
    # "X or Y", "X and Y", "X / Y": normalize each part.
    parts = re.split(r"\s+(or|and)\s+|\s*/\s*", text, flags=re.I)
    if len(parts) > 1:
        items = parts[0::2]
        ops = [(p or "or").upper() for p in parts[1::2]]
        subs = [normalize(p) for p in items]
        if all(s.expression for s in subs):
            out = str(subs[0].expression)  # a non-empty string (all(...) above)
            for op, s in zip(ops, subs[1:]):
                out = f"{out} {op} {s.expression}"
            return Normalized(_parse(out) or out, f"combined from {text!r}")
    return Normalized(None, f"{text!r} is not a known license name")


def normalize_classifier(classifier: str) -> Normalized:
    """Map a trove classifier ("License :: OSI Approved :: MIT License") to SPDX."""
    tail = classifier.split("::", 1)[1].strip() if "::" in classifier else classifier
    tail = " :: ".join(p.strip() for p in tail.split("::"))
    if tail in _CLASSIFIERS:
        sid = _CLASSIFIERS[tail]
        note = f"classifier {classifier!r}"
        if tail.endswith("BSD License"):
            note += " (it does not say which BSD variant; BSD-3-Clause is assumed, all are permissive)"
        return Normalized(sid, note) if sid else Normalized(None, f"{classifier!r} names no license")
    return normalize(tail.split(" :: ")[-1])


_GNU = re.compile(r"GNU\s+(?:(Affero|Lesser|Library)\s+)?(?:General\s+)?Public\s+Licen[sc]e[\s,]*(?:v(?:ersion)?\s*)?"
                  r"(\d(?:\.\d)?)(\s*\+|\s*,?\s*or\s+(?:\(at\s+your\s+option\)\s+)?(?:any\s+)?later)?", re.I)
_CC_URL = re.compile(r"creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)", re.I)


def normalize_url(url: str) -> str | None:
    """SPDX id of a well-known license URL (Creative Commons, spdx.org, opensource.org, apache.org)."""
    m = _CC_URL.search(url)
    if m:
        return _parse(f"CC-{m.group(1).upper()}-{m.group(2)}")
    if re.search(r"creativecommons\.org/publicdomain/zero/1\.0", url, re.I):
        return "CC0-1.0"
    m = re.search(r"(?:spdx\.org/licenses|opensource\.org/licenses?)/([A-Za-z0-9.+-]+?)(?:\.html|\.php)?/?$", url)
    if m:
        return _parse(m.group(1)) or normalize(m.group(1)).expression
    if re.search(r"apache\.org/licenses/LICENSE-2\.0", url, re.I):
        return "Apache-2.0"
    m = re.search(r"gnu\.org/licenses/(agpl|gpl|lgpl)(?:-(\d\.\d))?", url, re.I)
    if m:
        ver = m.group(2) or "3.0"
        return f"{m.group(1).upper()}-{ver}-only"
    return None


_CC_WORDS = re.compile(
    r"(?:creative\s+commons\s+)?attribution(?P<parts>(?:[\s-]+(?:non-?commercial|share-?alike|no-?derivatives|no-?derivs))*)"
    r"(?:\s+(?P<ver>\d\.\d))?", re.I)
_CC_SHORT = re.compile(r"\bCC[\s-]BY(?P<parts>(?:[\s-](?:NC|SA|ND))*)(?:[\s-](?P<ver>\d\.\d))?\b", re.I)


def _creative_commons(text: str) -> str | None:
    """'Attribution-NonCommercial-ShareAlike 4.0', 'CC BY-NC 4.0' -> SPDX (4.0 when no version)."""
    m = _CC_SHORT.search(text)
    if m:
        parts = re.findall(r"NC|SA|ND", m.group("parts").upper())
    else:
        m = _CC_WORDS.search(text)
        if not m or ("creative" not in text.lower() and not m.group("parts")):
            return None
        low = m.group("parts").lower().replace("-", "")
        parts = [p for p, w in (("NC", "noncommercial"), ("ND", "noderiv"), ("SA", "sharealike")) if w in low]
        parts.sort(key=["NC", "ND", "SA"].index)
    if "ND" in parts and "SA" in parts:
        return None
    ver = m.group("ver") or "4.0"
    parts.sort(key=["NC", "ND", "SA"].index)
    return _parse("-".join(["CC-BY", *parts, ver]))


def find_in_prose(text: str) -> list[tuple[str, int, str]]:
    """License statements in free text: ``(spdx, line number, matched text)`` per line."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = re.search(r"SPDX-License-Identifier:\s*(.+)", line)
        if m:
            n = normalize(m.group(1).strip())
            if n.expression:
                out.append((n.expression, lineno, m.group(0).strip()))
                continue
        cc = _creative_commons(line)
        if cc and (re.search(r"\bCC[\s-]BY", line, re.I) or re.search(r"creative\s+commons|attribution-", line, re.I)):
            out.append((cc, lineno, line.strip()[:160]))
            continue
        for pat in (r"licen[sc]ed\s+under\s+(?:the\s+)?(?:terms\s+of\s+the\s+)?(.{2,80}?)(?:\s+licen[sc]e\b|[.,;(]|$)",
                    r"^\s*licen[sc]e\s*[:=]\s*(.{2,80}?)\s*$"):
            m = re.search(pat, line, re.I)
            if m:
                n = normalize(m.group(1).strip(" *_`"))
                if n.expression:
                    out.append((n.expression, lineno, line.strip()[:160]))
                    break
        m = re.search(r"https?://\S+", line)
        if m and not (out and out[-1][1] == lineno):
            sid = normalize_url(m.group(0).rstrip(").,>"))
            if sid:
                out.append((sid, lineno, line.strip()[:160]))
    return out


def category(spdx_id: str) -> str:
    """The policy category of one SPDX license id (no operators)."""
    sid = spdx_id.strip()
    up = sid.upper()
    if up.startswith("LICENSEREF-PROPRIETARY"):
        return "proprietary"
    if up.startswith("LICENSEREF-OPENRAIL") or up.startswith("LICENSEREF-LLAMA"):
        return "unknown"
    if up.startswith("LICENSEREF-PUBLIC-DOMAIN"):
        return "permissive"
    if up.startswith("LICENSEREF"):
        return "unknown"
    if re.search(r"(^|-)NC(-|$)|NONCOMMERCIAL", up):
        return "noncommercial"
    known = _scancode_index().get(up)
    if known is not None:  # on the current list: its ScanCode category, refined
        sc = known[0]
        if sc == "Copyleft":
            return "network_copyleft" if re.match(r"(AGPL|OSL-3)", up) else "strong_copyleft"
        if sc == "Copyleft Limited":
            return "strong_copyleft" if re.match(r"(CC-BY-SA|ODBL|EUPL|GFDL|CECILL-2)", up) else "weak_copyleft"
        return _SCANCODE.get(sc, "unknown")
    # not on the list (an old or misspelt id): license families by name, else unknown
    if re.match(r"(BUSL|SSPL|ELASTIC|POLYFORM|CONFLUENT-COMMUNITY|COMMONS-CLAUSE)", up):
        return "restricted_use"  # source-available: production / service use restricted
    if re.match(r"(AGPL|OSL-3)", up):
        return "network_copyleft"
    if re.match(r"(GPL|CC-BY-SA|ODBL|EUPL|GFDL|CECILL-2)", up):
        return "strong_copyleft"
    if re.match(r"(LGPL|MPL-|EPL-|CDDL-|CECILL-C)", up):
        return "weak_copyleft"
    return "unknown"  # not on the current SPDX list: nothing to judge it by


# Rank of a category for the user (lower is freer), used to pick from an OR and to combine AND.
_RANK = {"permissive": 0, "weak_copyleft": 1, "strong_copyleft": 2, "network_copyleft": 3,
         "unknown": 4, "restricted_use": 5, "proprietary": 6, "noncommercial": 7}


def evaluate(expression: str) -> tuple[str, str, str]:
    """``(category, chosen expression, note)`` of an SPDX expression.

    AND takes the most restrictive part; OR takes the choice most in the user's favour and
    says so; ``X WITH exception`` of a GPL-family license counts as weak copyleft.
    """
    lic = licensing()
    try:
        expr = lic.parse(expression, validate=False)
    except Exception:
        return "unknown", expression, f"{expression!r} is not a valid SPDX expression"
    notes: list[str] = []

    def walk(node):
        if isinstance(node, lic.OR):
            options = [walk(a) for a in node.args]
            best = min(options, key=lambda o: _RANK[o[0]])
            notes.append(f"'{node.render()}' offers a choice; {best[1]} is taken as the most permissive")
            return best
        if isinstance(node, lic.AND):
            parts = [walk(a) for a in node.args]
            worst = max(parts, key=lambda o: _RANK[o[0]])
            return worst[0], node.render()
        text = node.render() if hasattr(node, "render") else str(node)
        if " WITH " in text:
            base = text.split(" WITH ")[0]
            cat = category(base)
            if cat == "strong_copyleft":
                notes.append(f"{text}: the exception narrows the copyleft")
                cat = "weak_copyleft"
            return cat, text
        key = getattr(node, "key", text)
        return category(key), text

    cat, chosen = walk(expr)
    return cat, chosen, "; ".join(notes)


_ALIASES.update({_key(k): v for k, v in _SOURCE_AVAILABLE_NAMES.items()})
