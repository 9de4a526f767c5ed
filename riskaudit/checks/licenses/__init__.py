"""The ``licenses`` checker: may this model, its data and its software be used as intended?

It builds a bill of materials of three kinds of component:

- **data**: license evidence beside each dataset file (``datapackage.json``, a dataset card's
  YAML front matter, Croissant JSON-LD, LICENSE/COPYING/LICENCE files, README text) and the
  project file's ``licenses.data``;
- **model**: the same forms beside the model file, and the project file's ``licenses.model``;
- **software**: every installed Python distribution (``License-Expression``, ``License``,
  trove classifiers, license files), or the packages of a requirements / lock file.

Every statement is normalized to SPDX (``license-expression``), full license texts are
compared with the SPDX list's texts (:mod:`.texts`), and the intended use in the policy
(``commercial``, ``distribution``) decides the verdicts. :func:`cyclonedx_json` writes the
components as a CycloneDX SBOM.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from typing import TYPE_CHECKING

from riskaudit._lazy import lazy_module
from riskaudit.checks.base import Checker, CheckContext, CheckOutput, Kind, Option
from riskaudit.result import Finding, Severity, Status

if TYPE_CHECKING:
    import riskaudit.checks.licenses.software as sw
    import riskaudit.checks.licenses.sources as src
    import riskaudit.checks.licenses.spdx as spdx
    from riskaudit.checks.licenses.sources import Component
else:  # loaded when the checker runs (or an SBOM is written), not when the scan lists the checkers
    src = lazy_module("riskaudit.checks.licenses.sources")
    sw = lazy_module("riskaudit.checks.licenses.software")
    spdx = lazy_module("riskaudit.checks.licenses.spdx")

__all__ = ["LicensesChecker", "cyclonedx_json", "build_components", "sbom_files", "COPYLEFT_WEIGHT"]

# How much of a license's copyleft a use triggers (the copyleft_license value): 1 = the
# terms bind the product as used, 0.5 = partly (weak copyleft, or not a distribution), 0 = not.
COPYLEFT_WEIGHT = {
    "distributed": {"network_copyleft": 1.0, "strong_copyleft": 1.0, "weak_copyleft": 0.5, "share_alike": 0.5},
    "saas": {"network_copyleft": 1.0, "strong_copyleft": 0.5, "weak_copyleft": 0.0, "share_alike": 0.0},
    "internal": {"network_copyleft": 0.5, "strong_copyleft": 0.0, "weak_copyleft": 0.0, "share_alike": 0.0},
}
MAX_TABLE_ROWS = 50


class LicensesChecker(Checker):
    id = "licenses"
    description = "Licenses of the data, the model and the software, judged against the intended use."
    needs = frozenset()
    priority = 20
    options = {
        "commercial": Option(True, "the model is used commercially (false: research / non-commercial only)", bool),
        "distribution": Option("distributed", "how the model reaches users: internal (never leaves the "
                               "organisation), saas (served over a network) or distributed (shipped)",
                               str, choices=("internal", "saas", "distributed")),
        "allow": Option([], "SPDX ids accepted whatever their category (legal has cleared them)", list, item_type=str),
        "deny": Option([], "SPDX ids that fail wherever they appear", list, item_type=str),
        "exceptions": Option([], "accepted components: {component, justification, expires: YYYY-MM-DD, "
                             "kind (optional), approved_by (optional)}", list, item_type=dict),
        "paths": Option([], "more files or folders to examine (data, model, or a requirements/lock file)",
                        list, item_type=str),
        "software": Option("auto", "software components: 'auto' (the project's requirements / lock / "
                           "pyproject file when one is found, else the installed distributions minus "
                           "riskaudit's own dependencies), 'environment' (every installed distribution) "
                           "or 'none'", str, choices=("auto", "environment", "none")),
        "requirements": Option(None, "a requirements or lock file read instead of the environment", str,
                               nullable=True),
        "text_match_minimum": Option(0.8, "Dice score on word bigrams a full license text needs to be "
                                     "identified as an SPDX license", float, minimum=0.3, maximum=1.0),
    }
    kinds = {
        "noncommercial_license": Kind(
            "1 when a license forbids commercial use (CC-BY-NC, ...) and the policy says commercial use",
            fail=0.5, severity=Severity.HIGH, unit="flag",
            why="The license forbids commercial use; using this component in a commercial product "
                "breaches it and exposes the business to legal claims.",
            advice="Obtain a commercial license, replace the component, or record a reviewed exception "
                   "in the policy if the use is in fact non-commercial."),
        "copyleft_license": Kind(
            "share of copyleft obligations the intended distribution triggers (1 full, 0.5 partial)",
            fail=0.75, warn=0.25, severity=Severity.MEDIUM, unit="obligation",
            why="Distributing the product may oblige the business to publish its own source code or "
                "changes under the same license.",
            advice="Have legal review how the component is distributed; replace it or record an approved "
                   "exception in the policy."),
        "unknown_license": Kind("1 when no license could be established for a component", warn=0.5,
                                severity=Severity.MEDIUM, unit="flag",
                                why="Without a known license there is no proven right to use the component.",
                                advice="Find the license from the component's source and declare it in the "
                                       "project file, or replace the component."),
        "denied_license": Kind("1 when a component carries a license on the policy's deny list", fail=0.5,
                               severity=Severity.HIGH, unit="flag",
                               why="The organisation's policy forbids this license, usually because its terms put the "
                                   "product or the business at legal risk.",
                               advice="Replace the component or obtain an approved exception."),
        "restricted_use_license": Kind(
            "1 when a source-available license restricts the intended use (BUSL-1.1: commercial "
            "production use; SSPL-1.0: offering it as a service), 0.5 when it may (SSPL-1.0 shipped, "
            "Elastic-2.0 in a SaaS product: legal review)", fail=0.75, warn=0.25, severity=Severity.HIGH,
            unit="flag",
            why="A source-available license (such as the Business Source License or SSPL) can forbid "
                "using the component in production or offering it as a service without a commercial "
                "license, so deploying the model may breach the license.",
            advice="Ask legal to review the license against how the model will be used; buy a commercial "
                   "license or replace the component before deployment."),
        "malformed_metadata": Kind("1 when a license metadata file cannot be parsed", warn=0.5,
                                   severity=Severity.LOW, unit="flag",
                                   why="A license file that cannot be read may hide a license that applies.",
                                   advice="Fix or replace the metadata file and re-run the audit."),
        "bill_of_materials": Kind("number of components in the bill of materials (informational)",
                                  unit="components"),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.exceptions = [_normalized_exception(e) for e in self.config["exceptions"]]

    def run(self, ctx: CheckContext) -> CheckOutput:
        cfg = self.config
        ctx.progress(0.0, "reading license evidence")
        scope: dict = {}
        components, problems = build_components(
            project=ctx.project, data=ctx.data, reference=ctx.reference, model=ctx.model,
            paths=cfg["paths"], software=cfg["software"], requirements=cfg["requirements"],
            minimum=cfg["text_match_minimum"], scope_out=scope)
        ctx.progress(0.8, "judging licenses")
        out = judge(ctx, components, problems, cfg, self.exceptions)
        findings = list(out.findings)
        bom = findings[0]
        if bom.kind == "bill_of_materials":
            findings[0] = dataclasses.replace(
                bom, message=bom.message.rstrip(".") + f"; software scope: {_scope_text(scope)}; "
                f"license categories from the SPDX license list "
                f"{spdx.license_list()['spdx_license_list_version'] or '(version unknown)'}, license texts "
                f"from ScanCode LicenseDB data {spdx.license_list()['texts_version'] or '(version unknown)'}.",
                evidence={**bom.evidence, "software_scope": scope, "license_list": spdx.license_list()})
        return dataclasses.replace(out, findings=findings,
                                   metrics={**out.metrics, "software_scope": scope, "license_list": spdx.license_list()})


def _exceptions_schema(kinds: Iterable[str]) -> dict[str, Any]:
    """The JSON Schema of the ``exceptions`` option's entries (checked with the policy, before
    any checker runs)."""
    return {"items": {
        "type": "object", "required": ["component", "justification", "expires"], "x-unknown": "unknown key",
        "properties": {
            "component": {"type": "string", "pattern": r"\S",
                          "x-message": "'component' (e.g. 'data:data' or 'software:foo') is required"},
            "justification": {"type": "string", "pattern": r"^\s*\S[\s\S]{8,}\S\s*$",
                              "x-message": "a written 'justification' (at least 10 characters) is required"},
            "expires": {"type": "string", "format": "date", "x-message": "'expires' must be a date YYYY-MM-DD"},
            "kind": {"enum": [*kinds, None], "x-message": "unknown finding kind of licenses"},
            "approved_by": {"type": ["string", "null"]},
            "license": {"type": ["string", "null"]}},
        "additionalProperties": False}}


LicensesChecker.options["exceptions"] = dataclasses.replace(
    LicensesChecker.options["exceptions"], schema=_exceptions_schema(LicensesChecker.kinds))


def _normalized_exception(e: dict) -> dict:
    """An exception entry (valid by the option's schema) with its date as YYYY-MM-DD."""
    exp = e["expires"]
    if isinstance(exp, _dt.datetime):
        exp = exp.date()
    exp = exp if isinstance(exp, _dt.date) else _dt.date.fromisoformat(str(exp).strip())
    return {"component": e["component"].strip(), "kind": e.get("kind"), "justification": e["justification"].strip(),
            "expires": exp.isoformat(), "approved_by": str(e.get("approved_by") or ""),
            "license": e.get("license")}


# --------------------------------------------------------------------------- collection

def _path_of(obj) -> Path | None:
    p = getattr(obj, "path", None)
    if p:
        return Path(p)
    uri = getattr(obj, "uri", None)
    if isinstance(uri, str) and not uri.startswith("<") and Path(uri).exists():
        return Path(uri)
    return None


def build_components(*, project: Mapping[str, Any] | None = None, data=None, reference=None, model=None,
                     paths: Sequence[str] = (), software: str = "environment",
                     requirements: str | None = None, minimum: float = 0.8,
                     scope_out: dict | None = None) -> tuple[list[Component], list]:
    """The bill of materials of a project: data and model components with their evidence,
    and the software components (see :func:`software_scope`; ``scope_out`` receives which
    scope was used). Returns ``(components, problems)``."""
    project = dict(project or {})
    base = Path(project["project_dir"]) if project.get("project_dir") else None
    data_paths, model_paths, req = _evidence_paths(project, base, data, reference, model, paths, requirements)
    components: list[Component] = []
    problems: list = []
    declared: dict = project["licenses"] if isinstance(project.get("licenses"), dict) else {}
    for kind, plist in (("data", data_paths), ("model", model_paths)):
        components += _folder_components(kind, plist, base, minimum)
        if declared.get(kind):
            components += _declare(components, kind, declared[kind])
    scope = software_scope(software, req, base, model_paths)
    if scope["file"] is not None:
        comps, probs = sw.requirement_components(Path(scope["file"]), minimum)
        components += comps
        problems += probs
    elif scope["kind"] in ("environment", "environment minus riskaudit"):
        components += sw.environment_components(minimum, exclude=scope.get("excluded", ()))
    if isinstance(scope_out, dict):
        scope_out.update({k: v for k, v in scope.items() if k != "excluded"},
                         excluded=len(scope.get("excluded", ())))
    return components, problems


def _evidence_paths(project: dict, base: Path | None, data, reference, model, paths: Sequence[str],
                    requirements: str | None) -> tuple[list[Path | None], list[Path | None], Path | None]:
    """Where the evidence is: the data files / folders, the model files and the requirements
    file, from the project file (relative to its folder), the loaded datasets and model, and
    the ``paths`` option sorted by what each path is."""
    from riskaudit.errors import InputError

    def resolve(p) -> Path | None:
        if not p or not isinstance(p, (str, Path)):
            return None
        path = Path(p)
        if not path.is_absolute() and base is not None:
            path = base / path
        return path if path.exists() else None

    data_paths = [resolve(project.get("data_path")), resolve(project.get("reference_path")),
                  resolve(project.get("train_path"))]
    if not any(data_paths):
        data_paths = [_path_of(data), _path_of(reference)]
    model_paths = [resolve(project.get("model_path")) or _path_of(model)]
    req = resolve(requirements) if requirements else None
    if requirements and req is None:
        raise InputError(f"licenses: requirements file {requirements!r} does not exist")
    for extra in paths:
        p = resolve(extra) or (Path(extra) if Path(extra).exists() else None)
        if p is None:
            raise InputError(f"licenses: path {extra!r} does not exist")
        if p.is_file() and sw.is_requirements_file(p):
            req = p
        elif p.suffix.lower() in src.MODEL_SUFFIXES or (p.is_dir() and any(
                c.suffix.lower() in src.MODEL_SUFFIXES for c in p.iterdir() if c.is_file())):
            model_paths.append(p)
        else:
            data_paths.append(p)
    return data_paths, model_paths, req


def _folder_components(kind: str, plist: Sequence[Path | None], base: Path | None,
                       minimum: float) -> list[Component]:
    """One component per folder of ``plist`` (a single model file names its component),
    with the license evidence read in that folder."""
    folders: dict[Path, list[Path]] = {}
    for p in plist:
        if p is not None:
            folders.setdefault((p if p.is_dir() else p.parent).resolve(), []).append(p)
    out = []
    for folder, files in folders.items():
        name = folder.name or str(folder)
        if kind == "model" and len(files) == 1 and files[0].is_file():
            name = files[0].name
        comp = src.Component(kind, name, paths=[str(f) for f in files])
        comp.evidence, comp.problems = src.read_folder(folder, base, minimum)
        out.append(comp)
    return out


def _declare(components: list[Component], kind: str, declared: object) -> list[Component]:
    """Add the project file's declared license of ``kind`` to that kind's components; returns
    the component to add when there is none yet."""
    targets = [c for c in components if c.kind == kind]
    added = [] if targets else [src.Component(kind, "declared")]
    n = spdx.normalize(str(declared))
    for c in targets or added:
        c.evidence.append(src.Evidence(n.expression, "project file", f"licenses.{kind}", note=n.note or str(declared)))
    return added


def software_scope(software: str, requirements: Path | None, base: Path | None,
                   model_paths: Sequence[Path | None]) -> dict:
    """Which software the bill of materials covers, and why.

    ``auto``: the model's runtime as the project declares it — a requirements / lock /
    pyproject file in the project folder (else the model's folder) — or, when there is none,
    the installed distributions minus riskaudit's own dependency closure (what the auditor
    brought, not what the model needs)."""
    if requirements is not None:
        return {"kind": "requirements file", "file": str(requirements)}
    if software in ("none", "environment"):
        return {"kind": software, "file": None}
    folders = [base] + [p if p.is_dir() else p.parent for p in model_paths if p is not None]
    for folder in folders:
        found = sw.find_project_requirements(folder) if folder is not None else None
        if found is not None:
            return {"kind": "project file", "file": str(found)}
    return {"kind": "environment minus riskaudit", "file": None, "excluded": sw.riskaudit_closure()}


# --------------------------------------------------------------------------- judging

def verdict_of(comp: Component, cfg: dict) -> dict:
    """Category, chosen license and the finding kind/value for one component."""
    lics = sorted({e.license for e in comp.evidence if e.license})
    if not lics:
        return {"license": None, "category": "unknown", "kind": "unknown_license", "value": 1.0,
                "note": "no license evidence" if not comp.evidence else "; ".join(e.note for e in comp.evidence if e.note)}
    judged = [(lic, *spdx.evaluate(lic)) for lic in lics]
    from riskaudit.checks.licenses.spdx import _RANK  # noqa: PLC0415

    lic, cat, chosen, note = max(judged, key=lambda j: _RANK[j[1]])
    notes = [j[3] for j in judged if j[3]]
    if len(lics) > 1:
        notes.append(f"the sources name {', '.join(lics)}; the most restrictive, {chosen}, is applied")
    ids = set(spdx.license_ids(chosen))  # WITH exceptions are not licenses
    out: dict[str, Any] = {"license": lic, "chosen": chosen, "category": cat, "note": "; ".join(notes),
                           "ids": sorted(ids)}
    deny = set(cfg["deny"])
    all_ids = {k for one in lics for k in spdx.license_ids(one)}
    if all_ids & deny:
        out.update(kind="denied_license", value=1.0, denied=sorted(all_ids & deny))
    elif ids and ids <= set(cfg["allow"]):
        out.update(kind=_kind_of(cat), value=0.0, allowed=True)
    elif cat == "noncommercial":
        out.update(kind="noncommercial_license", value=1.0 if cfg["commercial"] else 0.0)
        if not cfg["commercial"] and "-SA-" in chosen.upper():
            out.update(kind="copyleft_license", value=COPYLEFT_WEIGHT[cfg["distribution"]]["share_alike"])
    elif cat in ("strong_copyleft", "weak_copyleft", "network_copyleft"):
        key = "share_alike" if chosen.upper().startswith("CC-BY-SA") else cat
        out.update(kind="copyleft_license", value=COPYLEFT_WEIGHT[cfg["distribution"]][key])
    elif cat == "restricted_use":
        value, why = restricted_use(chosen, cfg)
        out.update(kind="restricted_use_license", value=value, restriction=why)
    elif cat in ("unknown", "proprietary"):
        out.update(kind="unknown_license", value=1.0)
    else:
        out.update(kind="noncommercial_license", value=0.0)
    return out


def restricted_use(chosen: str, cfg: dict) -> tuple[float, str]:
    """(value, what the license restricts) of a source-available license for the intended use."""
    up = chosen.upper()
    dist = cfg["distribution"]
    if up.startswith("SSPL"):
        return ({"saas": 1.0, "distributed": 0.5}.get(dist, 0.0),
                "offering the software, or a service built on it, to others requires releasing the "
                "source of the whole service stack under the SSPL")
    if up.startswith("ELASTIC"):
        return (0.5 if dist == "saas" else 0.0,
                "it may not be provided to others as a hosted or managed service")
    return (1.0 if cfg["commercial"] else 0.0,
            "production use needs the licensor's Additional Use Grant or a commercial license "
            "(until the Change Date)" if up.startswith("BUSL") else
            "commercial production use is restricted by the licensor")


def _scope_text(scope: dict) -> str:
    kind = scope.get("kind")
    if scope.get("file"):
        return f"the packages of {scope['file']} ({kind})"
    if kind == "environment minus riskaudit":
        return (f"the installed Python distributions minus riskaudit and its own "
                f"{scope.get('excluded', 0)} dependencies (no requirements, lock or pyproject file found)")
    if kind == "environment":
        return "every installed Python distribution"
    return "no software (software: none)"


def _kind_of(cat: str) -> str:
    return {"noncommercial": "noncommercial_license", "unknown": "unknown_license",
            "restricted_use": "restricted_use_license",
            "proprietary": "unknown_license"}.get(cat, "copyleft_license" if "copyleft" in cat else "noncommercial_license")


def _exception_for(comp: Component, kind: str, exceptions: Iterable[dict]) -> dict | None:
    for e in exceptions:
        if e["component"] in (comp.subject, comp.name, comp.kind) and e["kind"] in (None, kind):
            return e
    return None


_MESSAGES = {
    "noncommercial_license": "{what} is licensed {lic}, which forbids commercial use{use}.",
    "copyleft_license": "{what} is licensed {lic} ({cat}), whose terms bind a {dist} product{use}.",
    "unknown_license": "No license could be established for {what}{use}.",
    "denied_license": "{what} carries {lic}, which the policy denies.",
    "restricted_use_license": "{what} is licensed {lic} (source-available): {restriction}{use}.",
}


def _use_text(cfg) -> str:
    return f"{'commercial' if cfg['commercial'] else 'non-commercial'}, {cfg['distribution']}"


def _where(comp: Component) -> str:
    locs = [e.location for e in comp.evidence if e.license]
    return "; ".join(dict.fromkeys(locs)) or "; ".join(e.location for e in comp.evidence) or "no evidence found"


def judge(ctx: CheckContext, components: list[Component], problems: list, cfg: dict,
          exceptions: list[dict]) -> CheckOutput:
    findings: list[Finding] = []
    today = _dt.date.today().isoformat()
    rows = []
    unknown_software = []
    counts = {"noncommercial": 0, "copyleft": 0, "unknown": 0, "denied": 0, "restricted": 0}
    for comp in components:
        v = verdict_of(comp, cfg)
        kind, value = v["kind"], v["value"]
        status, _ = ctx.levels[kind].grade(value)
        exc = _exception_for(comp, kind, exceptions) if status != Status.PASS else None
        exc_info = None
        if exc is not None:
            exc_info = dict(exc, expired=exc["expires"] < today)
            if not exc_info["expired"]:
                status = Status.PASS
        rows.append(_row(comp, v, status, exc_info))
        if status != Status.PASS:
            counts[{"noncommercial_license": "noncommercial", "copyleft_license": "copyleft",
                    "unknown_license": "unknown", "denied_license": "denied",
                    "restricted_use_license": "restricted"}[kind]] += 1
        if comp.kind == "software" and kind == "unknown_license" and status != Status.PASS:
            unknown_software.append((comp, v))
            continue
        if comp.kind == "software" and status == Status.PASS and exc_info is None:
            continue
        findings.append(_finding(ctx, comp, v, status, exc_info, cfg))
        for prob in comp.problems:
            findings.append(ctx.finding("malformed_metadata", prob.file,
                                        f"{prob.file} could not be read as license metadata: {prob.error}.",
                                        value=1.0, evidence={"file": prob.file, "error": prob.error,
                                                             "component": comp.subject}))
    for prob in problems:
        findings.append(ctx.finding("malformed_metadata", prob.file,
                                    f"{prob.file} could not be read: {prob.error}.", value=1.0,
                                    evidence={"file": prob.file, "error": prob.error}))
    if unknown_software:
        n = len(unknown_software)
        findings.append(ctx.finding(
            "unknown_license", "software",
            f"{n} of {sum(c.kind == 'software' for c in components)} software distributions have no clear "
            f"license (none stated, or a proprietary one); the policy warns at any.", value=1.0,
            evidence={"table": [{"component": c.name, "version": c.version, "evidence": _where(c),
                                 "note": v.get("note", "")[:200]} for c, v in unknown_software[:MAX_TABLE_ROWS]],
                      "count": n,
                      "advice": "Check these packages' license files by hand, then list them under "
                                "checks.licenses.options.exceptions or allow their licenses."}))
    order = {"data": 0, "model": 1, "software": 2}
    rows.sort(key=lambda r: (order[r["type"]], r["verdict"] == "pass", r["component"].lower()))
    findings.insert(0, ctx.finding(
        "bill_of_materials", "bill of materials",
        f"{len(components):,} components examined: {sum(c.kind == 'data' for c in components)} data, "
        f"{sum(c.kind == 'model' for c in components)} model, {sum(c.kind == 'software' for c in components)} software.",
        value=len(components), status=Status.PASS,
        evidence={"table": rows[:MAX_TABLE_ROWS], "rows_total": len(rows),
                  "intended_use": {"commercial": cfg["commercial"], "distribution": cfg["distribution"]},
                  "exceptions": [dict(e, expired=e["expires"] < today) for e in exceptions]}))
    metrics = {"components": rows, "counts": dict(counts, total=len(components),
                                                  resolved=sum(1 for r in rows if r["license"]))}
    return CheckOutput(findings, _summary(components, rows, counts, cfg), metrics)


def _row(comp: Component, v: dict, status: Status, exc: dict | None) -> dict:
    best = next((e for e in comp.evidence if e.license), comp.evidence[0] if comp.evidence else None)
    return {"component": comp.name, "type": comp.kind, "version": comp.version,
            "license": v.get("chosen") or v.get("license"), "category": v["category"],
            "verdict": status.value, "evidence": _where(comp) if best else "none found",
            "score": best.score if best else None, "note": (v.get("note") or "")[:160],
            "exception": (f"until {exc['expires']}" + (" (expired)" if exc["expired"] else "")) if exc else ""}


def _finding(ctx, comp: Component, v: dict, status: Status, exc: dict | None, cfg: dict) -> Finding:
    kind = v["kind"]
    what = {"data": "the dataset", "model": "the model", "software": "the package"}[comp.kind] + f" '{comp.name}'"
    lic = v.get("chosen") or v.get("license") or "unknown"
    cap = lambda t: t[:1].upper() + t[1:]  # noqa: E731
    if v["value"] == 0.0 and kind != "unknown_license":
        msg = cap(f"{what} is licensed {lic} ({v['category'].replace('_', ' ')}), which allows the intended use "
                  f"({_use_text(cfg)}).")
        if v.get("allowed"):
            msg = cap(f"{what} is licensed {lic}, which the policy's allow list accepts.")
    else:
        msg = cap(_MESSAGES[kind].format(what=what, lic=lic, cat=v["category"].replace("_", " "),
                                     dist=cfg["distribution"], use=f" (intended use: {_use_text(cfg)})",
                                     restriction=v.get("restriction", "")))
    evidence: dict[str, Any] = {
        "component": comp.subject, "type": comp.kind, "license": lic, "category": v["category"],
        "sources": [e.to_dict() for e in comp.evidence], "paths": comp.paths,
    }
    if v.get("note"):
        evidence["note"] = v["note"]
    if exc is not None:
        evidence["exception"] = exc
        if exc["expired"]:
            msg += f" An exception for it expired on {exc['expires']} and no longer applies."
        else:
            msg += f" Accepted by exception until {exc['expires']}: {exc['justification']}"
    elif status != Status.PASS:
        evidence["exception_snippet"] = _snippet(comp, kind)
        evidence["how_to_record_an_exception"] = [{
            "policy key": "checks.licenses.options.exceptions", "component": comp.subject, "kind": kind,
            "justification": "<why this use is acceptable>", "approved_by": "<name, role>",
            "expires": "<YYYY-MM-DD>"}]
        evidence["advice"] = _advice(kind, comp)
    return ctx.finding(kind, comp.subject, msg, value=v["value"], status=status, evidence=evidence,
                       threshold=ctx.levels[kind].fail if ctx.levels[kind].fail is not None else ctx.levels[kind].warn)


def _advice(kind: str, comp: Component) -> str:
    if kind == "noncommercial_license":
        return (f"Replace the {comp.kind} with commercially licensed material, obtain a commercial license "
                "from the rights holder, or set checks.licenses.options.commercial: false if the use is "
                "non-commercial. If legal has accepted the risk, record an exception (see exception_snippet).")
    if kind == "copyleft_license":
        return ("Check that the product can meet the license's terms (source offer, same license for "
                "derived works) or replace the component; set the distribution option to the real use.")
    if kind == "restricted_use_license":
        return ("Read the license's use grant (BUSL: the Additional Use Grant and Change Date), buy a "
                "commercial license, or replace the component; set the commercial / distribution "
                "options to the real use.")
    if kind == "unknown_license":
        return (f"Add a LICENSE file or a datapackage.json / card 'license:' to the {comp.kind}, or declare "
                f"it in the project file (licenses: {{{comp.kind}: SPDX-ID}}).")
    return "Remove the component or ask legal to take its license off the deny list."


def _snippet(comp: Component, kind: str) -> str:
    expires = (_dt.date.today() + _dt.timedelta(days=90)).isoformat()
    return ("checks:\n  licenses:\n    options:\n      exceptions:\n"
            f"        - component: \"{comp.subject}\"\n          kind: {kind}\n"
            "          justification: \"<why this use is acceptable, e.g. a commercial license was bought>\"\n"
            f"          approved_by: \"<name, role>\"\n          expires: {expires}\n")


def _summary(components, rows, counts, cfg) -> str:
    if not components:
        return "No data, model or software was found to check licenses of."
    bad = [r for r in rows if r["verdict"] != "pass" and r["type"] in ("data", "model")]
    parts = []
    for r in bad[:2]:
        what = "dataset" if r["type"] == "data" else "model"
        reason = {"noncommercial": "which forbids commercial use", "unknown": "no license could be established"}
        lic = r["license"] or "unknown"
        parts.append(f"the {what} '{r['component']}' is licensed {lic}" if r["license"] else
                     f"no license could be established for the {what} '{r['component']}'")
        if r["license"] and r["category"] in reason:
            parts[-1] += f", {reason[r['category']]}"
    head = ("; ".join(parts) + ". ") if parts else ""
    head = head[:1].upper() + head[1:]
    sw = sum(r["type"] == "software" for r in rows)
    tail = (f"{len(rows):,} components checked for {'commercial' if cfg['commercial'] else 'non-commercial'}, "
            f"{cfg['distribution']} use ({sw} software): {counts['noncommercial']} non-commercial, "
            f"{counts['copyleft']} copyleft, {counts['unknown']} without a clear license"
            + (f", {counts['restricted']} source-available with use restrictions" if counts["restricted"] else "")
            + (f", {counts['denied']} denied" if counts["denied"] else "") + ".")
    return head + tail


# --------------------------------------------------------------------------- CycloneDX

def cyclonedx_json(result_or_components: Any) -> str:
    """A CycloneDX 1.6 JSON SBOM of the components of a licenses check.

    Accepts a :class:`~riskaudit.result.CheckResult` of this checker, its ``to_dict()``, a
    whole report (``Report.to_dict()`` / report.json: its ``licenses`` check is used; no
    components when it has none), the ``metrics["components"]`` rows, or :class:`Component`
    objects. The report writer can save the result as ``sbom.cdx.json``.
    """
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component as CdxComponent, ComponentType
    from cyclonedx.model.license import LicenseExpression
    from cyclonedx.model import Property
    from cyclonedx.output.json import JsonV1Dot6

    rows = _rows_of(result_or_components)
    bom = Bom()
    types = {"data": ComponentType.DATA, "model": ComponentType.MACHINE_LEARNING_MODEL,
             "software": ComponentType.LIBRARY}
    used_refs = set()
    for r in rows:
        ref = f"{r['type']}:{r['component']}@{r.get('version') or ''}"
        if ref in used_refs:
            continue
        used_refs.add(ref)
        lic = r.get("license")
        purl = None
        if r["type"] == "software":
            from packageurl import PackageURL

            purl = PackageURL(type="pypi", name=r["component"].lower(), version=r.get("version") or None)
        props = [Property(name="riskaudit:license_category", value=str(r.get("category"))),
                 Property(name="riskaudit:verdict", value=str(r.get("verdict"))),
                 Property(name="riskaudit:license_evidence", value=str(r.get("evidence"))[:500])]
        if r.get("exception"):
            props.append(Property(name="riskaudit:exception", value=str(r["exception"])))
        bom.components.add(CdxComponent(
            name=r["component"], type=types.get(r["type"], ComponentType.LIBRARY),
            version=r.get("version") or None, bom_ref=ref, purl=purl,
            licenses=[LicenseExpression(lic)] if lic else None, properties=props))
    return JsonV1Dot6(bom).output_as_string(indent=2)


def sbom_files(report: dict) -> dict[str, str]:
    """``{"sbom.cdx.json": ...}`` for a report whose licenses check ran, else ``{}``: what
    ``riskaudit scan`` writes beside the reports (library callers pass it to
    ``write_reports(..., extra=sbom_files(report))``)."""
    ran = [c for c in report.get("checks", []) if c.get("id") == LicensesChecker.id
           and c.get("status") not in ("skipped", "error")]
    return {"sbom.cdx.json": cyclonedx_json(report)} if ran else {}


def _rows_of(obj: Any) -> list[dict]:
    if hasattr(obj, "metrics") and not isinstance(obj, dict):
        return list(obj.metrics.get("components") or [])
    if isinstance(obj, dict) and "checks" in obj:  # a whole report.json
        obj = next((c for c in obj["checks"] if c.get("id") == LicensesChecker.id), {})
    if isinstance(obj, dict):
        return list((obj.get("metrics") or {}).get("components") or [])
    rows = []
    for item in obj:
        if isinstance(item, src.Component):
            v = verdict_of(item, LicensesChecker.validate_options({}))
            rows.append(_row(item, v, Status.PASS, None) | {"verdict": ""})
        else:
            rows.append(dict(item))
    return rows
