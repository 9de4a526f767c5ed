"""``riskaudit init``: write a commented ``riskaudit.yaml`` from a model and data files.

Like ``pre-commit sample-config`` or ``great_expectations init``: a start, not magic. It
inspects the columns (types, likely ids, likely sensitive attributes by name, likely
target), the model's input width and output count, proposes ``features`` / ``classes`` /
roles, writes the file with a comment on every guess, and runs a dry validation: the
scan's input checks (columns, the model called on two rows) without any checker.

Comments hold counts, never column values or names: data is attacker-controlled, and a
newline in a column name must not become a YAML line. Every value is written as JSON,
which is valid YAML.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
import pandas as pd

from riskaudit import fmt
from riskaudit.errors import InputError


def _rel(path: str | None, folder: Path) -> str | None:
    if not path:
        return None
    p = Path(path).resolve()
    try:
        return os.path.relpath(p, folder)
    except ValueError:  # another drive (Windows)
        return str(p)


def _guess_target(frame: pd.DataFrame, exclude: set[str]) -> str | None:
    from riskaudit.roles import TARGET_NAMES

    for name in TARGET_NAMES:
        for col in frame.columns:
            if str(col).lower() == name and col not in exclude:
                return col
    return None


def propose(*, model: str | None, data: str | None, train: str | None, reference: str | None,
            target: str | None, folder: Path) -> dict[str, Any]:
    """The proposed project settings and one comment per key (counts only)."""
    from riskaudit.data import load_dataset
    from riskaudit.roles import likely_ids, likely_sensitive

    loaded = {role: load_dataset(path, role) for role, path in
              (("data", data), ("train", train), ("reference", reference)) if path}
    if not loaded:
        raise InputError("riskaudit init needs at least one dataset: --data, --train or --reference")
    main = next(loaded[r] for r in ("data", "train", "reference") if r in loaded)
    frame = main.frame
    settings: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for role in ("model", "data", "train", "reference"):
        path = {"model": model, "data": data, "train": train, "reference": reference}[role]
        if path:
            settings[role] = _rel(path, folder) if Path(path).exists() else path
    for role, ds in loaded.items():
        what = {"data": "the data under audit now", "train": "the data the model was fitted on",
                "reference": "held-out data the model was validated on (drift's baseline)"}[role]
        notes[role] = f"{what}: {ds.rows:,} rows, {ds.columns} columns"
    target = _propose_target(main, target, settings, notes)
    ids = [c for c in likely_ids(frame, exclude=[target] if target else []) if main.kind == "table"]
    sensitive = [c for c in likely_sensitive(frame) if c not in ids and c != target]
    if target is None:  # no label-like name: the columns that could be the label
        listed, best = _target_candidates(frame, set(ids) | set(sensitive))
        notes["target"] += listed
        if best is not None:
            notes["target_example"] = best
    if ids:
        settings["ids"] = ids
        notes["ids"] = f"{len(ids)} guessed: id-like name or one distinct value per row; never model inputs"
    if sensitive:
        settings["sensitive"] = sensitive
        notes["sensitive"] = (f"{len(sensitive)} guessed from the names: audited for fairness, not model inputs "
                              "(list one in features if the model takes it)")
    if main.array is not None and main.array.ndim > 2:
        feats: list[str] = []
    else:
        feats = [c for c in frame.columns if c not in {target, *ids, *sensitive, "path"}]
    numeric = [c for c in feats if pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]
    text = [c for c in feats if c not in numeric]
    mdl = _propose_model(model, folder, numeric, text, notes) if model else None
    if feats:
        settings["features"] = numeric if mdl is not None and not mdl.accepts_frame else feats
        notes["features"] = (f"{len(settings['features'])} columns: every other column in file order"
                             + (f"; {fmt.count(len(text), 'text columns')} left out (a tensor model takes numbers)"
                                if text and settings["features"] is numeric else ""))
    if settings.get("task") == "classification" and target:
        _propose_classes(loaded, target, mdl, settings, notes)
    settings["policy"] = "default"
    notes["policy"] = "or strict, or a YAML file; risk_tier: low | medium | high overrides its tier"
    return {"settings": settings, "notes": notes}


def _propose_target(main: Any, target: str | None, settings: dict[str, Any], notes: dict[str, str]) -> str | None:
    """The target (given, else named like a label) and the task it implies, into ``settings``."""
    from riskaudit.data import infer_task

    frame = main.frame
    if target is not None and target not in frame.columns:
        raise InputError(f"--target column {target!r} is not in {main.uri}")
    given = target is not None
    target = target or main.default_target or _guess_target(frame, set())
    if target:
        settings["target"] = target
        notes["target"] = "named on the command line" if given else "the label column, guessed from its name"
        n_values = frame[target].nunique()
        settings["task"] = infer_task(frame[target])
        notes["task"] = f"inferred from the target's {n_values:,} distinct values"
    else:
        notes["target"] = "no column is named like a label: set `target:` yourself"
    return target


OUTCOME_VALUES = frozenset({
    "yes", "no", "y", "n", "true", "false", "t", "f", "pass", "fail", "passed", "failed", "positive", "negative",
    "pos", "neg", "approved", "denied", "rejected", "accepted", "paid", "unpaid", "default", "defaulted",
    "alive", "dead", "survived", "died", "success", "failure", "good", "bad", "won", "lost", "spam", "ham",
    "fraud", "legit", "genuine", "churn", "churned", "retained", "stayed", "left", "event", "censored",
    "ja", "nein", "oui", "non", "si", "sí"})
"""Values of an outcome ("YES"/"NO", "alive"/"dead"): a text column holding only these is a
likelier label than one of categories ("suspicious"/"traffic")."""


def _target_candidates(frame: pd.DataFrame, others: set, limit: int = 5) -> tuple[str, str | None]:
    """Columns that could be the label, and the likeliest: 2 to 20 distinct values, none of
    ``others`` (the guessed ids and sensitive attributes); text before numbers (a tensor model
    takes no text column, so a text column beside it is rarely an input), outcome values
    (:data:`OUTCOME_VALUES`) before other text, two values before more (counts only: the
    values themselves stay out of the file)."""
    found = []
    for col in frame.columns:
        if col in others:
            continue
        n = int(frame[col].nunique(dropna=True))
        if 2 <= n <= 20:
            numeric = pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col])
            outcome = not numeric and all(str(v).strip().lower() in OUTCOME_VALUES
                                          for v in frame[col].dropna().unique())
            found.append(((numeric, not outcome, n != 2), str(col), n))
    if not found:
        return "", None
    found.sort(key=lambda t: t[0])  # stable: file order within each kind
    shown = ", ".join(f"{name!r} ({n} values)" for _, name, n in found[:limit])
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return f" (columns with few values that could be it: {shown}{more})", found[0][1]


def _propose_model(model: str, folder: Path, numeric: list[str], text: list[str], notes: dict[str, str]) -> Any:
    """The loaded model, with a note on its format and a warning when its declared input width
    does not match the numeric columns."""
    from riskaudit.model import load_model
    from riskaudit.roles import declared_input_width

    mdl = load_model(model, search_paths=[str(folder), "."])
    width = declared_input_width(mdl)
    notes["model"] = f"{mdl.format}" + (f", {width} inputs declared" if width else "")
    if width is not None and width != len(numeric) and text:
        notes["features_warning"] = (f"the model takes {width} inputs but {len(numeric)} numeric columns "
                                     f"remain ({fmt.count(len(text), 'text columns')} left out)")
    elif width is not None and width != len(numeric):
        notes["features_warning"] = (f"the model takes {width} inputs but {len(numeric)} columns remain: "
                                     "remove ids or other non-inputs from this list")
    return mdl


def _propose_classes(loaded: dict[str, Any], target: str, mdl: Any, settings: dict[str, Any],
                     notes: dict[str, str]) -> None:
    """The sorted classes from the training data (else the given data) into ``settings``, and a
    warning when the model's output count differs."""
    base = next(loaded[r] for r in ("train", "reference", "data") if r in loaded
                and target in loaded[r].frame.columns)
    vals = base.frame[target].dropna().unique().tolist()
    try:
        classes = sorted(vals)
    except TypeError:
        classes = sorted(vals, key=str)
    settings["classes"] = [c.item() if hasattr(c, "item") else c for c in classes]
    notes["classes"] = (f"{len(classes)} classes, sorted, from the {'training' if base is loaded.get('train') else 'given'} "
                        "data: the model's output order; check it against your training code")
    if mdl is not None and settings.get("features"):
        import numpy as np

        x = base.frame[settings["features"]].iloc[:2] if mdl.accepts_frame else \
            base.feature_matrix(settings["features"])[:2]
        try:
            out = np.asarray(mdl.forward(x, batch_size=2, record=False))
            k = out.shape[1] if out.ndim == 2 else 1
            notes["model"] += f", {k} output(s)"
            if k not in (1, len(classes)):
                notes["classes_warning"] = f"the model gives {k} outputs but {len(classes)} classes were found"
        except Exception:  # the dry validation below reports it in full
            pass


def render(proposal: dict[str, Any]) -> str:
    s, n = proposal["settings"], proposal["notes"]
    lines = ["# riskaudit project file written by `riskaudit init`. A start, not magic: check every",
             "# guess below (the comments say how each was made), then run `riskaudit scan` here.",
             "# Paths are relative to this file; command-line options override these keys.", ""]
    for key in ("model", "data", "train", "reference", "target", "task", "ids", "sensitive"):
        if key in s:
            if n.get(key):
                lines.append(f"# {n[key]}")
            lines.append(f"{key}: {json.dumps(s[key], ensure_ascii=False)}")
    if "target" not in s:
        lines += [f"# {n['target']}", f"# target: {json.dumps(n.get('target_example', 'label'), ensure_ascii=True)}"]
    if "features" in s:
        lines.append("# The model's inputs, in the order it takes them: " + n["features"] + ".")
        if n.get("features_warning"):
            lines.append("# CHECK: " + n["features_warning"] + ".")
        lines.append("features: " + json.dumps(s["features"], ensure_ascii=False))
    if "classes" in s:
        lines.append("# " + n["classes"] + ".")
        if n.get("classes_warning"):
            lines.append("# CHECK: " + n["classes_warning"] + ".")
        lines.append("classes: " + json.dumps(s["classes"], ensure_ascii=False))
    lines += [f"# {n['policy']}", f"policy: {json.dumps(s['policy'])}", ""]
    return "\n".join(lines)


def dry_validation(project_file: Path) -> str:
    """The scan's input checks on the written file, with no checker: exit 2 on a problem."""
    from riskaudit.project import load_project
    from riskaudit.registry import Registry
    from riskaudit.scan import scan

    values = load_project(project_file).values
    report = scan(data=values.get("data"), train=values.get("train"), reference=values.get("reference"),
                  model=values.get("model"), target=values.get("target"), features=values.get("features"),
                  sensitive=values.get("sensitive") or (), ids=values.get("ids") or (), task=values.get("task"),
                  classes=values.get("classes"), policy=values.get("policy") or "default",
                  registry=Registry.from_classes([]), project={"project_dir": str(project_file.parent)})
    inputs = report.manifest["inputs"]
    parts = [f"{len(inputs['features'])} model inputs"]
    if inputs.get("classes"):
        parts.append(f"{len(inputs['classes'])} classes")
    return ", ".join(parts)


@click.command("init")
@click.option("--model", help="The model file or package.module:attr entry point.")
@click.option("--data", help="The data under audit now.")
@click.option("--train", help="The data the model was fitted on.")
@click.option("--reference", help="Held-out data the model was validated on.")
@click.option("--target", help="The label column (default: guessed from the names).")
@click.option("--out", default="riskaudit.yaml", show_default=True, help="The project file to write.")
@click.option("--force", is_flag=True, default=False, help="Replace --out if it exists.")
def command(model, data, train, reference, target, out, force):
    """Write a commented riskaudit.yaml from a model and data files, then check it."""
    path = Path(out)
    if path.exists() and not force:
        raise InputError(f"--out {out!r} exists; pass --force to replace it")
    folder = path.resolve().parent
    proposal = propose(model=model, data=data, train=train, reference=reference, target=target, folder=folder)
    from riskaudit.reports.writer import atomic_path

    text = render(proposal)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    try:
        summary = dry_validation(path)
    except InputError as exc:
        reason = str(exc).rstrip().rstrip(".")  # the reason's own full stop, not two
        raise InputError(f"wrote {out}, but it does not validate yet: {reason}. Edit it and run "
                         "`riskaudit scan`") from None
    click.echo(f"Wrote {out} ({summary}); it validates. Review the guesses, then run: riskaudit scan"
               + ("" if path.name == "riskaudit.yaml" and folder == Path.cwd().resolve() else f" {out}"))
