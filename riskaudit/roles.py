"""Column and data roles: which columns the model takes, and whether the inputs fit it.

Three data roles, named for what they are:

- ``data`` (``--data``): the data under audit now;
- ``reference`` (``--reference``): held-out data the model was validated on at approval
  time, the baseline of drift and concept drift (never the training data);
- ``train`` (``--train``): the data the model was fitted on: leakage, the generalization
  gap, training-data licenses and personal data.

Column roles: the target, ids, sensitive attributes, stored prediction columns
(``--predictions`` / ``--scores``) and the model's features. Unless ``features`` is given,
the features are every other column; a sensitive attribute is a feature only when listed.

Every input problem found here is an :class:`~riskaudit.errors.InputError` (exit 2),
raised before any checker runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from riskaudit import fmt
from riskaudit._lazy import lazy_module
from riskaudit.budget import BudgetExceeded, interrupt_watch, time_limit
from riskaudit.data import ARRAY_FEATURE, Dataset
from riskaudit.errors import InputError
from riskaudit.model import Model

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_module("numpy")
    pd = lazy_module("pandas")

ID_NAME = re.compile(r"(^|[_\-\s])(id|uuid|guid|key|number|no)$|^(id|uuid|index)$|_id$", re.I)
ID_SUFFIX = re.compile(r"(?:[a-z]Id|[a-z]ID|[a-z]id)$")
"""A name that runs into "id" (``caseid``, ``caseId``, ``caseID``): an id when the column is
text with mostly distinct values (``paid``, ``valid``, ``covid`` are numbers or few values)."""
SENSITIVE_NAMES = ("sex", "gender", "race", "ethnicity", "ethnic", "religion", "age_band", "age_group",
                   "nationality", "disability", "marital", "sexual_orientation", "pregnan", "citizenship")
SHAPE_ERROR = re.compile(r"shape|size|dimension|mat1|mat2|features|columns|must match|"
                         r"expected\b.*\b(inputs?|features?|columns?|channels?)\b", re.I)
"""A probe call's error about the inputs' shape (torch, scikit-learn, onnxruntime wording)."""
TARGET_NAMES = ("label", "target", "y", "class", "outcome", "decision", "default", "churn")


def _shown(cols: Sequence[Any], limit: int = 12) -> str:
    cols = list(cols)
    text = ", ".join(repr(str(c)[:60]) for c in cols[:limit])
    return text + (f" and {len(cols) - limit} more" if len(cols) > limit else "")


def likely_ids(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Columns that look like identifiers: an id-like name, a name that runs into "id" on a
    text column of mostly distinct values, or integer/text values that are all distinct (in a
    table of at least 20 rows)."""
    out = []
    for col in frame.columns:
        if col in exclude:
            continue
        s = frame[col]
        if ID_NAME.search(str(col)):
            out.append(col)
            continue
        if (ID_SUFFIX.search(str(col)) and len(s) >= 20 and s.nunique() > len(s) // 2
                and (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s))):
            out.append(col)  # one case may hold several rows: an id need not be unique
            continue
        if len(s) >= 20 and s.notna().all() and s.nunique() == len(s) and (
                pd.api.types.is_integer_dtype(s) or pd.api.types.is_object_dtype(s)
                or pd.api.types.is_string_dtype(s)):
            out.append(col)
    return out


def likely_sensitive(frame: pd.DataFrame) -> list[str]:
    """Columns whose name names a protected attribute (sex, race, age band ...)."""
    return [c for c in frame.columns
            if any(re.search(rf"(^|_){n}", str(c).lower()) for n in SENSITIVE_NAMES)]


def stored_prediction_columns(predictions: str | None, scores: Sequence[str] | None,
                              model: Any) -> tuple[str, ...]:
    """The columns of stored predictions that stand in for a model (empty without)."""
    scores = tuple(scores or ())
    if not predictions and not scores:
        return ()
    if model is not None:
        raise InputError("give either --model or stored predictions (--predictions/--scores), not both")
    return scores + ((str(predictions),) if predictions and str(predictions) not in scores else ())


@dataclass
class StoredPredictions(Model):
    """A table of stored predictions used in place of a model (``--predictions``/``--scores``).

    ``model_inputs`` of a dataset are its prediction columns; ``forward`` turns them into
    what a model would have returned: class scores (one-hot of a predicted label, or the
    stored scores) or regression values. Checks that need the model itself are skipped.
    """

    stored_columns: tuple[str, ...] = ()
    label_column: str | None = None
    classes: tuple[Any, ...] | None = None
    regression: bool = False

    def describe(self) -> dict[str, Any]:
        return {"uri": self.uri, "format": self.format, "columns": list(self.stored_columns)}

    def _outputs(self, frame: pd.DataFrame) -> np.ndarray:
        if self.label_column is None:
            return frame[list(self.stored_columns)].to_numpy(dtype=np.float64, na_value=np.nan)
        col = frame[self.label_column]
        if self.regression:
            return pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        from riskaudit.data import labels_to_index

        idx = labels_to_index(col, self.classes or ())
        if (idx < 0).any():
            bad = col[idx < 0].astype(str).unique()[:5]
            raise InputError(f"prediction column {self.label_column!r} holds labels that are not classes "
                             f"({_shown(bad)}; classes: {_shown(self.classes or ())})")
        out = np.zeros((len(idx), len(self.classes or ())), dtype=np.float64)
        out[np.arange(len(idx)), idx] = 1.0
        return out


def stored_predictions_model(predictions: str | None, scores: Sequence[str] | None, task: str | None,
                             classes: Sequence[Any] | None) -> StoredPredictions:
    scores = tuple(scores or ())
    cols = scores if scores else (str(predictions),)
    regression = task == "regression"
    if scores and regression:
        raise InputError("--scores holds class scores; for a regression target give --predictions COL")
    if not scores and not regression and not classes:
        raise InputError("--predictions needs a target (--target) to know the classes")
    m = StoredPredictions(uri=f"stored predictions ({', '.join(cols)})", format="predictions",
                          accepts_frame=True, stored_columns=cols,
                          label_column=None if scores else str(predictions),
                          classes=tuple(classes) if classes else None, regression=regression)
    m.predict_fn = m._outputs
    return m


def resolve_features(ds: Dataset | None, features: Sequence[str] | None, target: str | None,
                     ids: Sequence[str], sensitive: Sequence[str], stored: Sequence[str]) -> tuple[str, ...]:
    """The model's input columns: ``features`` when given, else every column of ``ds`` but
    the target, ids, sensitive attributes and stored prediction columns."""
    if ds is None:
        return tuple(features or ())
    if features:
        return tuple(features)
    if ds.array is not None and ds.array.ndim > 2:
        return (ARRAY_FEATURE,)
    drop = {target, *ids, *sensitive, *stored} | ({"path"} if ds.kind == "images" else set())
    return tuple(c for c in ds.frame.columns if c not in drop)


def check_columns(ds, ref, trn, target, feats, sensitive, ids, stored=()) -> None:
    """Every named column exists where it must (exit 2 naming the option, column and file)."""
    first = ds if ds is not None else ref if ref is not None else trn
    for d, role in ((ds, "--data"), (ref, "--reference"), (trn, "--train")):
        if d is None:
            continue
        cols = set(d.frame.columns)
        need = [("--target", target)] if target is not None and (d is first or target in cols) else []
        need += [("--features", f) for f in feats if f != ARRAY_FEATURE]
        if d is first:
            need += [("--sensitive", s) for s in sensitive] + [("--ids", i) for i in ids]
            need += [("--predictions/--scores", c) for c in stored]
        for opt, col in need:
            if col not in cols:
                raise InputError(f"{opt} column {col!r} is not in {role} file {d.uri} "
                                 f"(columns: {_shown(d.frame.columns)})")
    if target is not None and target in feats:
        raise InputError(f"--target column {target!r} is also listed in --features")
    for c in stored:
        if c in feats:
            raise InputError(f"prediction column {c!r} is also listed in --features")


def check_roles(ds: Dataset | None, ref: Dataset | None, trn: Dataset | None) -> None:
    """The reference must not be the training data: drift would measure the train/test gap."""
    if ref is not None and trn is not None and ref.sha256 == trn.sha256:
        raise InputError(f"--reference {ref.uri} and --train {trn.uri} hold the same data; the reference must "
                         "be held-out data the model was validated on (drift against training data measures "
                         "the train/test gap). Give held-out data as --reference, or leave it out")


def declared_input_width(model: Model) -> int | None:
    """The input width a model declares: an ONNX signature, or the first layer of a torch
    module when it is a Linear layer (``in_features``). None when it declares none."""
    width = getattr(model, "input_width", None)
    if width:
        return int(width)
    if model.module is None:
        return None
    try:
        for m in model.module.modules():
            if any(True for _ in m.children()):
                continue
            w = getattr(m, "in_features", None)
            if isinstance(w, int):
                return w
            if any(True for _ in m.parameters()):
                return None  # the first layer with weights is not a Linear one
    except Exception:  # an exotic module: no declared width
        return None
    return None


def _error_line(exc: BaseException) -> str:
    """The informative line of an exception (TorchScript puts its cause on the last line)."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    line = lines[-1] if len(lines) > 1 and "TorchScript interpreter" in lines[0] else lines[0]
    return line.removeprefix("RuntimeError: ")[:300].rstrip(".")


def _suggest(d: Dataset, feats: Sequence[str], ids: Sequence[str], sensitive: Sequence[str]) -> str:
    idc = [c for c in likely_ids(d.frame[list(feats)]) if c not in ids]
    sens = [c for c in likely_sensitive(d.frame[list(feats)]) if c not in sensitive]
    text = ("Name the model's inputs, in the order it takes them, with --features COL,COL "
            "(or `features:` in riskaudit.yaml)")
    if idc:
        text += (f"; mark identifier columns with --ids ({_shown(idc, 4)} "
                 f"{'looks like an id' if len(idc) == 1 else 'look like ids'})")
    if sens:
        text += f"; name protected attributes with --sensitive ({_shown(sens, 4)})"
    return text + "."


def check_model_inputs(model: Model | None, feats: Sequence[str], ids: Sequence[str],
                       sensitive: Sequence[str], task: str | None, classes: Sequence[Any] | None,
                       datasets: Sequence[tuple[str, Dataset | None]], probe_s: float | None = 60.0) -> None:
    """Exit 2 before any checker when the features cannot be the model's inputs.

    Non-numeric feature columns (for a tensor model), a width that differs from the one the
    model declares, a probe call on two rows that raises, or a number of output scores that
    does not match the classes: one message naming the counts and the columns.
    """
    if model is None:
        return
    present = [(opt, d) for opt, d in datasets if d is not None]
    if isinstance(model, StoredPredictions):
        _check_stored_predictions(model, classes, present)
        return
    for opt, d in present:
        if d.array is not None and d.array.ndim > 2:
            x = d.array[:2]
        else:
            if not all(f in d.frame.columns for f in feats):
                continue  # only --data must hold the features (checked before)
            x = _probe_rows(model, feats, ids, sensitive, opt, d)
        if opt != "--data" and present[0][0] == "--data":
            continue  # one probe call (on the data under audit) is enough
        out = _probe(model, x, feats, ids, sensitive, opt, d, probe_s)
        if out is not None and task == "classification" and classes and out.ndim == 2 \
                and out.shape[1] not in (1, len(classes)):
            raise InputError(f"the model gives {out.shape[1]} scores per row, but there are {len(classes)} "
                             f"classes ({_shown(classes)}); name the classes in the model's output order "
                             "with `classes:` in riskaudit.yaml")
        return


def _check_stored_predictions(model: StoredPredictions, classes: Sequence[Any] | None,
                              present: Sequence[tuple[str, Dataset]]) -> None:
    """Stored scores are numeric, one column per class (or one for a binary positive class);
    stored labels are all known classes."""
    for opt, d in present:
        if all(c in d.frame.columns for c in model.stored_columns):
            if model.label_column is None or model.regression:
                bad = [c for c in model.stored_columns if not pd.api.types.is_numeric_dtype(d.frame[c])]
                if bad:
                    one = len(bad) == 1
                    raise InputError(f"{opt} file {d.uri}: prediction {'column' if one else 'columns'} "
                                     f"{_shown(bad)} {'is' if one else 'are'} not numeric; --scores takes class "
                                     "scores (one column per class, in the order of classes) and "
                                     "--predictions for regression numbers")
                if model.label_column is None and len(model.stored_columns) not in (1, len(classes or ())):
                    raise InputError(f"--scores names {len(model.stored_columns)} columns but there are "
                                     f"{len(classes or ())} classes ({_shown(classes or ())}): give one "
                                     "column per class in that order, or one column for a binary positive class")
            else:
                model.forward(d.frame, record=False, batch_size=len(d.frame))  # unknown labels


def _probe_rows(model: Model, feats: Sequence[str], ids: Sequence[str], sensitive: Sequence[str], opt: str,
                d: Dataset) -> Any:
    """Two rows of the features of ``d`` as the model takes them; exit 2 when a tensor model
    is given text columns or a width it does not declare."""
    if model.accepts_frame:
        return d.frame[list(feats)].iloc[:2]
    bad = [f for f in feats if not (pd.api.types.is_numeric_dtype(d.frame[f])
                                    or pd.api.types.is_bool_dtype(d.frame[f]))]
    if bad:
        raise InputError(
            f"{len(bad)} of the {len(feats)} feature columns of {opt} file {d.uri} are not "
            f"numeric ({_shown(bad)}); a tensor model takes numbers. {_suggest(d, feats, ids, sensitive)} "
            "Encode other text columns before the audit, or give a predict callable that takes a "
            "DataFrame.")
    width = declared_input_width(model)
    if width is not None and width != len(feats):
        raise InputError(
            f"the model takes {width} inputs, but {opt} file {d.uri} has {len(feats)} feature "
            f"columns ({_shown(feats)}). {_suggest(d, feats, ids, sensitive)}")
    return d.feature_matrix(feats)[:2]


def _probe(model: Model, x: Any, feats: Sequence[str], ids: Sequence[str], sensitive: Sequence[str], opt: str,
           d: Dataset, probe_s: float | None) -> Any:
    """The model's outputs on the probe rows ``x`` (None when the call did not answer in time or
    failed for a reason the checkers report); exit 2 when it failed on the inputs' shape. The
    model's error counters are left as they were: the probe is not part of the audit's figures."""
    counts = (model.errors, model.nonfinite)
    with interrupt_watch() as interrupt:
        try:
            with time_limit(probe_s):
                return np.asarray(model.forward(x, batch_size=2, record=False))
        except BudgetExceeded:  # no answer in time: each checker meets it under its own budget
            return None
        except Exception as exc:
            if not SHAPE_ERROR.search(str(exc)):
                return None  # not about the inputs' shape (a server down ...): the checkers report it
            width = declared_input_width(model)
            takes = f"the model (first layer: {width} inputs)" if width else "the model"
            msg = _error_line(exc)
            hint = _suggest(d, feats, ids, sensitive) if feats and feats != (ARRAY_FEATURE,) else ""
            raise InputError(f"{takes} could not be called on the {fmt.count(len(feats), 'feature columns')} of {opt} "
                             f"file {d.uri} ({_shown(feats)}): {msg}. {hint}".rstrip()) from None
        except BaseException as exc:  # SystemExit & co. from user code, not the user: the checkers report it
            if isinstance(exc, KeyboardInterrupt) and interrupt.received:
                raise
            return None
        finally:
            model.errors, model.nonfinite = counts
