"""Software components: the installed Python distributions, or a requirements / lock file.

A distribution's license is read, in this order, from its ``License-Expression`` (PEP 639),
its ``License`` field (a name, or a whole license text compared with the SPDX texts), its
``License ::`` trove classifiers, and last the license files it ships (``License-File``).
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from riskaudit.checks.licenses.sources import Component, Evidence, Problem
from riskaudit.checks.licenses.spdx import normalize, normalize_classifier
from riskaudit.checks.licenses.texts import identify_text, looks_like_license_text

__all__ = ["environment_components", "requirement_components", "canonical", "is_requirements_file",
           "find_project_requirements", "riskaudit_closure"]

# Where a project declares its runtime, in the order they are looked for: locks first (exact
# versions), then requirements, then the pyproject's dependencies.
PROJECT_FILES = ("pylock.toml", "uv.lock", "poetry.lock", "requirements.lock", "requirements.txt",
                 "requirements.in", "pyproject.toml")


def _tomllib():
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # Python 3.10: the same parser, as the tomli package
        import tomli as tomllib
    return tomllib


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def field(dist: metadata.Distribution, key: str) -> str | None:
    """One field of a distribution's metadata, None when absent (``PackageMetadata`` has no
    ``get``; a missing key reads as None on 3.10-3.11 and raises KeyError later)."""
    meta = dist.metadata
    return meta[key] if key in meta else None


def _resolve(dist: metadata.Distribution, minimum: float) -> list[Evidence]:
    meta = dist.metadata
    name = field(dist, "Name") or "?"
    where = f"{name} {field(dist, 'Version') or ''}".strip() + " METADATA"
    expr = field(dist, "License-Expression")
    if expr:
        n = normalize(expr)
        return [Evidence(n.expression, "License-Expression (PEP 639)", f"{where}: License-Expression",
                         note=n.note or expr)]
    notes = []
    lic = (field(dist, "License") or "").strip()
    long_text = "\n" in lic or len(lic) > 200
    if lic and not long_text:
        n = normalize(lic)
        if n.expression:
            return [Evidence(n.expression, "License field", f"{where}: License", note=n.note or lic)]
        notes.append(n.note)
    classifiers = [c for c in (meta.get_all("Classifier") or []) if c.startswith("License ::")]
    found = []
    for c in classifiers:
        n = normalize_classifier(c)
        if n.expression and n.expression not in found:
            found.append(n.expression)
    if found:
        # Trove classifiers cannot say whether several licenses are a choice or apply to
        # different parts; they are read as a choice, and the note says so.
        expr = " OR ".join(f"({e})" if " " in e else e for e in found) if len(found) > 1 else found[0]
        note = "; ".join(classifiers)
        if len(found) > 1:
            note = "several license classifiers, read as a choice: " + note
        return [Evidence(normalize(expr).expression or expr, "trove classifier", f"{where}: Classifier", note=note)]
    if long_text:
        if looks_like_license_text(lic):
            m = identify_text(lic, minimum)
            if m.spdx_id:
                return [Evidence(m.spdx_id, "License field (full text)", f"{where}: License",
                                 score=m.score, note=f"text matches SPDX {m.spdx_id} ({m.score:.2f})")]
        first = lic.splitlines()[0].strip()
        n = normalize(first)
        if n.expression:
            return [Evidence(n.expression, "License field", f"{where}: License", note=f"first line {first!r}")]
        notes.append("License field holds a text that matches no SPDX license")
    for lf in meta.get_all("License-File") or []:
        for cand in (f"licenses/{lf}", lf):
            try:
                text = dist.read_text(cand)
            except Exception:  # noqa: BLE001 - broken installs must not stop the audit
                text = None
            if text:
                m = identify_text(text, minimum)
                if m.spdx_id:
                    return [Evidence(m.spdx_id, "license file", f"{name}: {lf}", score=m.score,
                                     note=f"text matches SPDX {m.spdx_id} ({m.score:.2f})")]
                notes.append(f"license file {lf} matches no SPDX text well (best {m.best_candidate} {m.score:.2f})")
                break
    return [Evidence(None, "package metadata", where, note="; ".join(n for n in notes if n) or "no license metadata")]


def riskaudit_closure() -> frozenset[str]:
    """Canonical names of riskaudit and every distribution it requires, transitively, its own
    extras included (onnx, ner, test: tools installed to audit); environment markers
    evaluated here. These are the auditor's tools, not the model's."""
    from packaging.requirements import InvalidRequirement, Requirement

    seen: set[str] = set()
    todo = ["riskaudit"]
    while todo:
        name = canonical(todo.pop())
        if name in seen:
            continue
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for raw in reqs:
            try:
                req = Requirement(raw)
            except InvalidRequirement:
                continue
            if req.marker is not None:
                extras = [""]
                if name == "riskaudit":
                    extras += metadata.metadata(name).get_all("Provides-Extra") or []
                try:
                    if not any(req.marker.evaluate({"extra": e}) for e in extras):
                        continue
                except Exception:  # noqa: BLE001 - an odd marker: not part of the closure
                    continue
            todo.append(req.name)
    return frozenset(seen)


def find_project_requirements(folder: Path) -> Path | None:
    """The project's own runtime declaration in ``folder`` (see PROJECT_FILES), if any."""
    for name in PROJECT_FILES:
        p = folder / name
        if p.is_file():
            return p
    return None


VENDOR_FOLDERS = frozenset({"_vendor", "vendor", "_vendored", "vendored", "_extern", "extern"})
"""Folders inside a package that hold copies of other distributions it ships (setuptools'
``_vendor``): those copies are part of that package. Importing ``pkg_resources`` puts
setuptools' ``_vendor`` on ``sys.path``, and the same environment then listed 11 more
distributions (one under the LGPL) in a process that had imported it than in one that had not."""


def environment_components(minimum: float = 0.8, exclude=()) -> list[Component]:
    """One component per installed distribution (first on ``sys.path`` wins), but those
    whose canonical name is in ``exclude`` and the copies vendored inside another package
    (:data:`VENDOR_FOLDERS`)."""
    exclude = frozenset(exclude)
    seen: dict[str, Component] = {}
    for dist in metadata.distributions():
        if Path(str(getattr(dist, "_path", ""))).parent.name in VENDOR_FOLDERS:
            continue
        try:
            name = field(dist, "Name")
        except Exception:  # noqa: BLE001
            continue
        if not name or canonical(name) in seen or canonical(name) in exclude:
            continue
        comp = Component("software", name, field(dist, "Version") or "")
        try:
            comp.evidence = _resolve(dist, minimum)
        except Exception as exc:  # noqa: BLE001 - broken metadata is a finding, not a crash
            comp.problems.append(Problem(f"{name} METADATA", f"cannot be read: {exc}"))
        seen[canonical(name)] = comp
    return sorted(seen.values(), key=lambda c: canonical(c.name))


def is_requirements_file(path: Path) -> bool:
    n = path.name.lower()
    return (n.endswith(".txt") and "requirement" in n) or n.endswith(".lock") or \
        (n.startswith("pylock") and n.endswith(".toml")) or n in ("requirements.in", "constraints.txt",
                                                                  "pyproject.toml")


def _requirement_names(path: Path) -> tuple[list[tuple[str, str]], list[Problem]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() in (".lock", ".toml"):
        tomllib = _tomllib()
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            return [], [Problem(str(path), f"malformed TOML: {exc}")]
        if path.name.lower() == "pyproject.toml":
            return _pyproject_names(doc), []
        pkgs = doc.get("package") or doc.get("packages") or []
        return [(str(p.get("name")), str(p.get("version") or "")) for p in pkgs
                if isinstance(p, dict) and p.get("name")], []
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(("-", "git+", "http:", "https:", "file:")):
            continue
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(?:===?\s*([^\s;,]+))?", line)
        if m:
            out.append((m.group(1), m.group(3) or ""))
    return out, []


def _pyproject_names(doc: dict) -> list[tuple[str, str]]:
    """Runtime dependencies of a pyproject.toml: PEP 621 ``[project] dependencies`` or
    Poetry's ``[tool.poetry.dependencies]`` (python itself left out)."""
    raw = list((doc.get("project") or {}).get("dependencies") or [])
    poetry = ((doc.get("tool") or {}).get("poetry") or {}).get("dependencies") or {}
    raw += [str(k) for k in poetry if str(k).lower() != "python"]
    out = []
    for item in raw:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:===?\s*([^\s;,]+))?", str(item))
        if m:
            out.append((m.group(1), m.group(2) or ""))
    return out


def requirement_components(path: Path, minimum: float = 0.8) -> tuple[list[Component], list[Problem]]:
    """Components named by a requirements or lock file; licenses from the installed metadata."""
    names, problems = _requirement_names(path)
    comps = []
    seen = set()
    for name, version in names:
        if canonical(name) in seen:
            continue
        seen.add(canonical(name))
        comp = Component("software", name, version)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            comp.evidence = [Evidence(None, "requirements file", str(path),
                                      note="not installed here, so its license metadata cannot be read")]
        else:
            comp.version = comp.version or field(dist, "Version") or ""
            comp.evidence = _resolve(dist, minimum)
        comps.append(comp)
    return comps, problems
