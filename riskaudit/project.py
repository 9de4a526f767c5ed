"""The project file (``riskaudit.yaml``): the scan's inputs, so a command line stays short.

Keys mirror the ``scan`` options; relative paths are relative to the file's own folder;
command-line options override the file. A top-level key that is the id of an installed
checker (a plugin's own configuration, e.g. ``loan_cost: {amount_column: loan_amount}``) holds
that checker's options, exactly like ``options.<id>``. The rest of the file is validated
against the project JSON Schema of :mod:`riskaudit.schema` (checker options: when the scan
merges them with the policy's, before any checker runs); an unknown key or a wrong type is exit 2 naming the
file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


from riskaudit import untrusted
from riskaudit.errors import PolicyError

DEFAULT_PROJECT_FILE = "riskaudit.yaml"

_STR, _INT, _BOOL, _LIST, _MAP = "a string", "an integer", "true or false", "a list", "a mapping"
PROJECT_KEYS: dict[str, tuple[str, str]] = {
    "model": (_STR, "model file or package.module:attr entry point"),
    "weights": (_STR, "a state dict for the entry point's module (loaded with weights_only=True)"),
    "data": (_STR, "the evaluation dataset"),
    "reference": (_STR, "held-out data the model was validated on (the baseline of drift)"),
    "train": (_STR, "the data the model was fitted on (leakage, generalization gap)"),
    "predictions": (_STR, "column of stored predicted labels or values (instead of a model)"),
    "scores": (_LIST, "columns of stored class scores, in class order (instead of a model)"),
    "target": (_STR, "label column"),
    "features": (_LIST, "model input columns in model order"),
    "sensitive": (_LIST, "protected attributes"),
    "ids": (_LIST, "identifier columns (never features)"),
    "classes": (_LIST, "class labels in the order of the model's outputs"),
    "task": (_STR, "classification or regression"),
    "policy": (_STR, "built-in policy name or YAML file"),
    "check": (_LIST, "run only these checkers"),
    "skip": (_LIST, "skip these checkers"),
    "out": (_STR, "report folder"),
    "format": (_LIST, "report formats"),
    "seed": (_INT, "seed of every random choice"),
    "engine": (_STR, "pandas (default) or spark: where the data is read and aggregated"),
    "spark_sample_rows": (_INT, "spark engine: rows collected to the driver for the checks run on a sample"),
    "device": (_STR, "auto, cpu or cuda"),
    "trust_model": (_BOOL, "allow unpickling the model file (only for files you trust)"),
    "eval_mode": (_BOOL, "call model.eval() after loading"),
    "risk_tier": (_STR, "low, medium or high (overrides the policy's)"),
    "baseline": (_STR, "an earlier report.json of the same model (model drift)"),
    "ledger": (_STR, "the audit ledger database"),
    "options": (_MAP, "per checker id: options overriding the policy's"),
    "licenses": (_MAP, "declared licenses, e.g. {data: CC-BY-4.0, model: Apache-2.0}"),
    "train_entry_point": (_STR, "package.module:function(seed) -> model, for training reproducibility"),
    "expectation_suite": (_STR, "a great-expectations suite JSON file for data_validity"),
    "spacy_model": (_STR, "path or name of a spaCy pipeline for the pii checker"),
    # Descriptive fields for the technical documentation (--format evidence) and the report.
    "intended_purpose": (_STR, "what the model is for, for whom, and what it must not be used for"),
    "owner": (_STR, "the person or team accountable for the model"),
    "version": (_STR, "the model's version as your organisation names it"),
}
DESCRIPTIVE_KEYS = ("intended_purpose", "owner", "version")
PATH_KEYS = ("model", "weights", "data", "reference", "train", "policy", "out", "baseline", "ledger", "expectation_suite",
             "spacy_model")


@dataclass
class Project:
    """A parsed project file: values with paths already made absolute."""

    path: Path | None
    values: dict[str, Any] = field(default_factory=dict)
    implicit: bool = False
    """Found as ./riskaudit.yaml rather than named on the command line."""

    @property
    def folder(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def code_it_runs(self) -> list[str]:
        """The settings that would import code or unpickle a file, as ``key: value``."""
        out = []
        if self.values.get("train_entry_point"):
            out.append(f"train_entry_point: {self.values['train_entry_point']!r}")
        model = self.values.get("model")
        if isinstance(model, str) and ":" in model and not Path(model).exists():
            out.append(f"model: {model!r} (a module:attr entry point)")
        if self.values.get("trust_model"):
            out.append("trust_model: true (unpickles the model file)")
        return out

    def refuse_code(self) -> None:
        """Raise :class:`PolicyError` when this file would run code. A project file, found
        implicitly or named, belongs to the checkout under audit (a pull request can change
        it): naming it says what to scan, not that its code may run in the scanning job,
        beside that job's signing key. Code named on the command line (``--model
        module:attr``) is the caller's own choice."""
        found = self.code_it_runs()
        if found:
            how = "was found implicitly in the working folder and" if self.implicit else ""
            raise PolicyError(
                f"project file {str(self.path)!r} {how} would run code from it ({'; '.join(found)}); "
                "a checkout being audited must not run code just by being scanned. If you trust this "
                "folder, pass --allow-project-code (or remove those keys and give --model FILE on the "
                "command line)".replace("  ", " "))


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def load_project(path: str | Path | None) -> Project:
    """Read ``path``; with None, ``riskaudit.yaml`` in the working folder when it exists."""
    if path is None:
        default = Path(DEFAULT_PROJECT_FILE)
        if not default.exists():
            return Project(path=None)
        return _read(default, implicit=True)
    return _read(Path(path), implicit=False)


def _read(p: Path, implicit: bool) -> Project:
    if not p.exists():
        raise PolicyError(f"project file {str(p)!r} does not exist")
    if p.is_dir():
        cand = p / DEFAULT_PROJECT_FILE
        if not cand.exists():
            raise PolicyError(f"project folder {str(p)!r} has no {DEFAULT_PROJECT_FILE}")
        p = cand
    try:
        data = untrusted.read_yaml(p.read_bytes())
    except untrusted.YamlError as exc:
        raise PolicyError(f"project file {str(p)!r}: {exc}") from None
    data = data or {}
    if not isinstance(data, Mapping):
        raise PolicyError(f"project file {str(p)!r} must be a mapping of keys")
    values: dict[str, Any] = {}
    sections: dict[str, Mapping[str, Any]] = {}
    folder = p.resolve().parent
    from riskaudit.schema import first_error, project_schema

    checker_ids = installed_checker_ids()
    for key, value in data.items():
        if key not in PROJECT_KEYS and isinstance(key, str) and key in checker_ids:
            if value is not None and not isinstance(value, Mapping):
                raise PolicyError(f"project file {str(p)!r}: key {key!r} (the options of the {key} checker) "
                                  f"must be a mapping, got {value!r}")
            sections[key] = value or {}
    rest = {k: v for k, v in data.items() if k not in sections}
    err = first_error(rest, project_schema(PROJECT_KEYS))
    if err is not None:
        key, msg = err
        if key in rest and key not in PROJECT_KEYS:
            raise PolicyError(f"project file {str(p)!r}: unknown key {key!r} (known: {', '.join(PROJECT_KEYS)}, "
                              f"or the id of an installed checker: {', '.join(sorted(checker_ids)) or 'none'})")
        raise PolicyError(f"project file {str(p)!r}: key {key!r}: {msg}")
    for key, value in rest.items():
        kind = PROJECT_KEYS[key][0]
        if value is None:
            continue
        if kind == _STR:
            value = str(value)
        if kind == _LIST:
            value = _as_list(value)
        if key in PATH_KEYS and isinstance(value, str):
            value = _resolve(folder, key, value)
        values[key] = value
    for cid, section in sections.items():
        options = dict(values.get("options") or {})
        both = sorted(set(section) & set(options.get(cid) or {}))
        if both:
            raise PolicyError(f"project file {str(p)!r}: {cid}.{both[0]} is also set under options.{cid}; "
                              "give it once")
        options[cid] = {**dict(section), **dict(options.get(cid) or {})}
        values["options"] = options
    return Project(path=p.resolve(), values=values, implicit=implicit)


def installed_checker_ids() -> frozenset[str]:
    """Ids of the checkers registered in the ``riskaudit.checks`` entry-point group (names
    only: nothing is imported)."""
    from importlib import metadata

    return frozenset(ep.name for ep in metadata.entry_points(group="riskaudit.checks"))


def _resolve(folder: Path, key: str, value: str) -> str:
    if key == "policy" and "/" not in value and not value.endswith((".yaml", ".yml")):
        return value  # a built-in policy name
    if key == "model" and not (folder / value).exists() and ":" in value and "/" not in value:
        return value  # an entry point
    if key in ("data", "reference", "train") and value.startswith("spark:"):
        return value  # a Spark table
    if key == "spacy_model" and "/" not in value:
        return value  # a spaCy pipeline name
    return str(folder / value) if not Path(value).is_absolute() else value
