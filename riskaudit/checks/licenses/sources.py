"""Where licenses are read from: metadata files and license texts beside data and models.

Each reader returns :class:`Evidence` items (an SPDX expression, or None when the source
names no license it can be sure of) and :class:`Problem` items for files that cannot be
parsed (malformed JSON, malformed YAML front matter). Nothing here raises on bad input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from riskaudit import untrusted
from riskaudit.checks.licenses.spdx import find_in_prose, normalize
from riskaudit.checks.licenses.texts import identify_text, looks_like_license_text

__all__ = ["Evidence", "Problem", "Component", "read_folder", "MODEL_SUFFIXES"]

MAX_BYTES = 2_000_000
MODEL_SUFFIXES = {".pt", ".pth", ".pt2", ".onnx", ".safetensors", ".ckpt", ".bin", ".gguf", ".h5",
                  ".keras", ".pb", ".tflite", ".joblib", ".pkl"}
LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|UNLICENSE)([-._].*)?$", re.I)
CARD_FILE = re.compile(r"^(README|MODEL_?CARD|DATASET_?CARD|DATA_?CARD)(\.(md|markdown|txt|rst))?$", re.I)


@dataclass
class Evidence:
    """One statement of a license: where it is and what it says."""

    license: str | None
    """SPDX expression, None when the source names no license this checker can be sure of"""
    source: str
    """the form: datapackage.json, model card, Croissant, license file, README text, ..."""
    location: str
    """file (with line) or metadata field the statement was read from"""
    score: float | None = None
    """match score of a full license text against the SPDX text (0..1)"""
    note: str = ""

    def to_dict(self) -> dict:
        return {"license": self.license, "source": self.source, "location": self.location,
                "score": self.score, "note": self.note}


@dataclass
class Problem:
    """A file that should hold license metadata but could not be read."""

    file: str
    error: str


@dataclass
class Component:
    """One entry of the bill of materials."""

    kind: str  # data | model | software
    name: str
    version: str = ""
    paths: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return f"{self.kind}:{self.name}"


def _line_of(text: str, needle: str) -> int | None:
    idx = text.find(needle)
    return text.count("\n", 0, idx) + 1 if idx >= 0 else None


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _loc(path: Path, base: Path | None, line: int | None = None) -> str:
    try:
        shown = str(path.relative_to(base)) if base else str(path)
    except ValueError:
        shown = str(path)
    return f"{shown}:{line}" if line else shown


def read_datapackage(path: Path, base: Path | None) -> tuple[list[Evidence], list[Problem]]:
    """Frictionless Data ``datapackage.json``: ``licenses`` (name, path, title)."""
    text = _read(path)
    if text is None:
        return [], [Problem(_loc(path, base), "cannot be read")]
    try:
        doc = untrusted.loads_json(text)
    except json.JSONDecodeError as exc:
        return [], [Problem(_loc(path, base), f"malformed JSON: {exc.msg} at line {exc.lineno}")]
    if not isinstance(doc, dict):
        return [], [Problem(_loc(path, base), "is not a JSON object")]
    lics = doc.get("licenses") or doc.get("license")
    if lics is None:
        return [], []
    if not isinstance(lics, list):
        lics = [lics]
    line = _line_of(text, '"licenses"') or _line_of(text, '"license"')
    out = []
    for i, item in enumerate(lics):
        names = [item] if isinstance(item, str) else [item.get(k) for k in ("name", "path", "title")] \
            if isinstance(item, dict) else []
        got = None
        for name in names:
            if isinstance(name, str) and name.strip():
                n = normalize(name)
                if n.expression:
                    got = n
                    break
        label = f"{_loc(path, base, line)} licenses[{i}]"
        out.append(Evidence(got.expression if got else None, "datapackage.json", label,
                            note=got.note if got else f"names no known license: {item!r}"[:160]))
    return out, []


def read_card(path: Path, base: Path | None) -> tuple[list[Evidence], list[Problem]]:
    """A Hugging Face card (``license:`` in YAML front matter) and license statements in its text."""

    from riskaudit import untrusted

    text = _read(path)
    if text is None:
        return [], []
    out: list[Evidence] = []
    problems: list[Problem] = []
    body, offset = text, 0
    if text.startswith("---"):
        end = re.search(r"^---\s*$", text[3:], re.M)
        if end is None:
            problems.append(Problem(_loc(path, base, 1), "malformed YAML front matter: no closing '---'"))
        else:
            front = text[3:3 + end.start()]
            body_start = 3 + end.end()
            offset = text.count("\n", 0, body_start)
            body = text[body_start:]
            try:
                meta = untrusted.read_yaml(front)
            except untrusted.YamlError as exc:  # its lines count from the file's second
                where = f" at line {exc.line + 1}" if exc.line is not None else ""
                problems.append(Problem(_loc(path, base), f"malformed YAML front matter{where}: {exc.problem}"))
                meta = None
            if meta is not None and not isinstance(meta, dict):
                problems.append(Problem(_loc(path, base), "YAML front matter is not a mapping"))
            elif isinstance(meta, dict) and meta.get("license") is not None:
                lic = meta["license"]
                line = next((i + 2 for i, ln in enumerate(front.splitlines()[1:] if front.startswith("\n")
                                                             else front.splitlines())
                             if ln.startswith("license")), None)
                for value in (lic if isinstance(lic, list) else [lic]):
                    value = str(value)
                    n = normalize(value)
                    note = n.note
                    if value.lower() == "other":
                        note = f"license 'other': {meta.get('license_name') or 'no license_name'} " \
                               f"{meta.get('license_link') or ''}".strip()
                    out.append(Evidence(n.expression, "model/dataset card front matter",
                                        f"{_loc(path, base, line)} license", note=note))
    for sid, lineno, snippet in _dedupe(find_in_prose(body)):
        out.append(Evidence(sid, "README text", _loc(path, base, lineno + offset), note=snippet))
    return out, problems


def _dedupe(found):
    seen = set()
    for item in found:
        if item[0] not in seen:
            seen.add(item[0])
            yield item


def read_croissant(path: Path, base: Path | None) -> tuple[list[Evidence], list[Problem]]:
    """Croissant / schema.org JSON-LD: ``license`` (URL, SPDX id, CreativeWork or a list)."""
    text = _read(path)
    if text is None or "@context" not in text:
        return [], []
    try:
        doc = untrusted.loads_json(text)
    except json.JSONDecodeError as exc:
        return [], [Problem(_loc(path, base), f"malformed JSON: {exc.msg} at line {exc.lineno}")]
    if not isinstance(doc, dict) or "@context" not in doc:
        return [], []
    lic = doc.get("license", doc.get("sc:license"))
    if lic is None:
        return [], []
    line = _line_of(text, '"license"')
    out = []
    for value in (lic if isinstance(lic, list) else [lic]):
        if isinstance(value, dict):
            value = value.get("@id") or value.get("url") or value.get("name") or ""
        n = normalize(str(value))
        out.append(Evidence(n.expression, "Croissant JSON-LD", f"{_loc(path, base, line)} license", note=n.note))
    return out, []


def read_license_file(path: Path, base: Path | None, minimum: float) -> tuple[list[Evidence], list[Problem]]:
    """A LICENSE / COPYING / LICENCE file: a full text compared with the SPDX texts, or a
    short statement naming a license."""
    text = _read(path)
    if text is None:
        return [], [Problem(_loc(path, base), "cannot be read (or larger than 2 MB)")]
    if looks_like_license_text(text):
        m = identify_text(text, minimum)
        if m.spdx_id:
            return [Evidence(m.spdx_id, "license text", _loc(path, base), score=m.score,
                             note=f"full text matches SPDX {m.spdx_id} (score {m.score:.2f}; next "
                                  f"{m.runner_up} {m.runner_up_score:.2f})")], []
    found = list(_dedupe(find_in_prose(text)))
    if found:
        return [Evidence(sid, "license file statement", _loc(path, base, line), note=snippet)
                for sid, line, snippet in found], []
    if looks_like_license_text(text):
        m = identify_text(text, 0.0)
        return [Evidence(None, "license text", _loc(path, base), score=m.score,
                         note=f"matches no SPDX license text well (best {m.best_candidate} "
                              f"{m.score:.2f}, below {minimum:.2f})")], []
    return [Evidence(None, "license file statement", _loc(path, base),
                     note="names no license this checker recognizes")], []


def read_folder(folder: Path, base: Path | None, minimum: float) -> tuple[list[Evidence], list[Problem]]:
    """Every license source directly inside ``folder`` (not its sub-folders)."""
    evidence: list[Evidence] = []
    problems: list[Problem] = []
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError as exc:
        return [], [Problem(str(folder), f"cannot be listed ({exc.strerror})")]
    for p in entries:
        name = p.name
        if name.lower() == "datapackage.json":
            got = read_datapackage(p, base)
        elif LICENSE_FILE.match(name):
            got = read_license_file(p, base, minimum)
        elif CARD_FILE.match(name):
            got = read_card(p, base)
        elif p.suffix.lower() in (".jsonld", ".json") and p.stat().st_size <= MAX_BYTES \
                and (p.suffix.lower() == ".jsonld" or "croissant" in name.lower() or name.lower() == "metadata.json"):
            got = read_croissant(p, base)
        else:
            continue
        evidence += got[0]
        problems += got[1]
    return evidence, problems
