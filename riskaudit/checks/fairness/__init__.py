"""The ``fairness`` checker: are predictions and errors fair across groups?

The metrics and disparities are fairlearn's (``fairlearn.metrics``: ``MetricFrame``'s
per-group metrics, ``demographic_parity_ratio`` / ``_difference``,
``equalized_odds_difference``). They are computed from per-group confusion counts in one
vectorized pass (see :mod:`._counts`); the tests hold every figure to fairlearn's to 1e-9.
Extra metrics named in the policy go through ``MetricFrame`` itself.

Without a model but with a target, the same metrics are computed on the labels themselves
(base rates per group): data-level fairness, before any training.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Callable

from riskaudit import fmt
from riskaudit._lazy import lazy_module

from riskaudit.checks.fairness._rows import _group_codes, decide, row_types
from riskaudit.checks.base import (Checker, CheckContext, CheckOutput, CheckSkipped, Kind, Need,
                                   Option, OptionError)
from riskaudit.errors import CheckerError
from riskaudit.result import Finding, Severity, Status

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import riskaudit.checks.fairness._counts as C
else:
    np = lazy_module("numpy")
    pd = lazy_module("pandas")
    C = lazy_module("riskaudit.checks.fairness._counts")

MAX_GROUPS = 50


def _extra_metric(name: str):
    import fairlearn.metrics as flm
    import sklearn.metrics as skm

    fn = getattr(flm, name, None)
    if fn is None or name.startswith("_") or not callable(fn) or isinstance(fn, type):
        fn = getattr(skm, name, None)
    if fn is None or name.startswith("_") or not callable(fn) or isinstance(fn, type):
        return None
    return fn


class FairnessChecker(Checker):
    id = "fairness"
    description = ("Are predictions (or, without a model, the labels) and errors fair across "
                   "the groups of each sensitive attribute and pair of attributes?")
    needs = frozenset({Need.DATA, Need.SENSITIVE})
    priority = 40
    options = {
        "positive_label": Option(None, "the favourable outcome (a class label); default: the "
                                 "second class in the model's class order", type=(str, int, float),
                                 nullable=True),
        "threshold": Option(None, "score threshold on the positive class's probability; default: "
                            "the most probable class is the prediction", type=float,
                            minimum=0.0, maximum=1.0, nullable=True),
        "reference_groups": Option({}, "privileged group per attribute ({attribute: group}); "
                                   "ratios are then taken against it instead of the highest "
                                   "rate", type=dict,
                                   schema={"propertyNames": {"type": "string", "x-message": "keys must be attribute names"},
                                           "additionalProperties": {"type": ["string", "number", "boolean"],
                                                                    "x-message": "must be a group (a value of the attribute)"}}),
        "intersections": Option(True, "also audit every pair of sensitive attributes", type=bool),
        "extra_metrics": Option([], "more per-group metrics by name (fairlearn.metrics or "
                                "sklearn.metrics functions of y_true, y_pred), computed with "
                                "fairlearn's MetricFrame", type=list, item_type=str),
        "bootstrap": Option(200, "bootstrap resamples for confidence intervals (0: none)",
                            type=int, minimum=0, maximum=10000),
        "confidence": Option(0.95, "confidence level of the intervals", type=float,
                             minimum=0.5, maximum=0.999),
        "require_ci_for_fail": Option(False, "fail only when the whole confidence interval is "
                                      "past the fail level (else warn)", type=bool),
        "population": Option("People", "what the rows are, for the plain-language sentence "
                             "(e.g. Applicants)", type=str),
    }
    kinds = {
        "disparate_impact": Kind("lowest / highest group selection rate (four-fifths rule)",
                                 direction="below", fail=0.8, warn=0.9, severity=Severity.HIGH, unit="ratio",
                                 why="One group receives the favourable outcome far less often than another; "
                                     "under the four-fifths rule this is evidence of discrimination against "
                                     "the people in that group.",
                                 advice="Check whether a legitimate, documented factor explains the gap; if "
                                        "not, mitigate (rebalance or reweight the training data, adjust "
                                        "thresholds per group where lawful) and re-run the audit."),
        "demographic_parity": Kind("highest minus lowest group selection rate",
                                   direction="above", fail=0.2, warn=0.1, severity=Severity.MEDIUM,
                                   unit="points",
                                   why="Groups are selected at clearly different rates; people in the "
                                       "least-selected group are less likely to get the favourable outcome.",
                                   advice="Find the features that drive the gap (often proxies of the group), "
                                          "decide with the business owner whether it is justified, and "
                                          "mitigate if it is not."),
        "equalized_odds": Kind("larger of the TPR and FPR differences between groups",
                               direction="above", fail=0.2, warn=0.1, severity=Severity.MEDIUM, unit="points",
                               why="The model makes more mistakes of one kind for one group: deserving people "
                                   "in it are wrongly refused, or others wrongly accepted, more often.",
                               advice="Review the errors per group, add training data for the groups with "
                                      "high error rates, or use a fairness-aware threshold, then re-audit."),
        "group_performance": Kind("overall accuracy minus the worst group's (classification); "
                                  "worst group's MAE over overall MAE, minus 1 (regression)",
                                  direction="above", fail=0.1, warn=0.05, severity=Severity.MEDIUM,
                                  unit="points",
                                  why="The model is less accurate for one group than overall; people in that "
                                      "group get more wrong decisions.",
                                  advice="Collect more representative data for the worst group and check its "
                                         "labels; re-train and re-audit."),
        "underrepresented_group": Kind("group size; below the level the group has insufficient "
                                       "data and is left out of pass/fail on disparities",
                                       direction="below", fail=None, warn=30, severity=Severity.LOW,
                                       unit="rows",
                                       why="Too few rows to measure how the model treats this group, so any "
                                           "unfairness towards it would go unnoticed.",
                                       advice="Collect more evaluation data for this group, or have a person "
                                              "review its decisions until there is enough."),
    }

    @classmethod
    def validate_options(cls, options):
        out = super().validate_options(options)
        for name in out["extra_metrics"]:
            if _extra_metric(name) is None:
                raise OptionError("extra_metrics", f"no metric function named {name!r} in "
                                  "fairlearn.metrics or sklearn.metrics")
        out["reference_groups"] = {k: str(v) for k, v in out["reference_groups"].items()}
        return out

    # ------------------------------------------------------------------ run
    def run(self, ctx: CheckContext) -> CheckOutput:
        cfg = self.config
        assert ctx.data is not None  # Need.DATA
        frame = ctx.data.frame
        if ctx.model is None and ctx.target is None:
            raise CheckSkipped("no model was given (--model) and no target column was named "
                               "(--target), so there are neither predictions nor labels to compare "
                               "across groups")
        if len(frame) == 0:
            raise CheckSkipped("the evaluation data has no rows")
        regression = ctx.task == "regression"
        mode = "model" if ctx.model is not None else "data"
        notes: list[str] = []
        ctx.progress(0.05, "predicting")
        pred = self._regression_inputs(ctx, mode) if regression else None
        prep = None if regression else self._classification_inputs(ctx, mode, notes)
        full = (self._spark_counts(ctx, prep, notes) if prep is not None and not cfg["extra_metrics"]
                and getattr(ctx.data, "spark_frame", None) is not None else None)
        rfull = (self._spark_sums(ctx, mode, notes) if regression and getattr(ctx.data, "sampled", False)
                 and getattr(ctx.data, "spark_frame", None) is not None else None)
        attrs, codes, names = self._attributes(ctx, frame, notes, group_notes=full is None and rfull is None)
        if rfull is not None:  # --engine spark, regression: every row's group sums from Spark
            names, rtable, group_notes, codes = rfull
            notes += group_notes
        if full is not None and prep is not None:  # --engine spark: every row's counts, from Spark
            names, table, group_notes, unknown = full
            notes += group_notes
            _recount_unknown(notes, prep, unknown)
            prep = dict(prep, overall=table.reshape(-1, C.N_TYPES).sum(0))
        units: list[tuple[tuple[int, ...], str]] = [((i,), attrs[i]) for i in range(len(attrs))]
        if cfg["intersections"]:
            units += [((i, j), f"{attrs[i]} x {attrs[j]}")
                      for i in range(len(attrs)) for j in range(i + 1, len(attrs))]
        min_size = self._min_size(ctx)
        findings: list[Finding] = []
        tables: dict[str, list[dict[str, Any]]] = {}
        charts: list[dict[str, Any]] = []
        sentences: list[str] = []
        boot_rng = ctx.rng("bootstrap")
        sizes = [len(g) for g in names]
        get = None if prep is None else (self._count_getter(prep, codes, sizes, boot_rng) if full is None
                                         else _table_getter(table, cfg["bootstrap"], boot_rng))
        for u, (axes, label) in enumerate(units):
            ctx.progress(0.1 + 0.8 * u / max(1, len(units)), f"groups of {label}")
            met, bmet, overall = (self._classification_unit(get, axes, prep) if prep is not None and get
                                  else self._regression_unit(pred, codes, sizes, axes, boot_rng,
                                                             None if rfull is None else rtable))
            idx = np.flatnonzero(met["count"] > 0)
            if len(idx) > MAX_GROUPS and len(axes) > 1:
                notes.append(f"{label}: {len(idx):,} intersection groups; only the attributes on "
                             "their own are audited.")
                continue
            gnames = _unit_names([names[a] for a in axes])
            unit_names = [gnames[i] for i in idx]
            met = {k: v[idx] for k, v in met.items()}
            if bmet is not None:
                bmet = {k: v[:, idx] for k, v in bmet.items()}
            extra = self._extra(ctx, prep, [codes[a] for a in axes], [names[a] for a in axes],
                                unit_names) if (prep is not None and cfg["extra_metrics"]) else {}
            out = self._unit_findings(ctx, _Unit(label, [_glabel(g) for g in unit_names], met, bmet, overall,
                                                 extra, min_size, regression, mode, prep))
            findings += out["findings"]
            tables[label] = out["table"]
            charts += out["charts"]
            if out["sentence"]:
                sentences.append(out["sentence"])
        ctx.progress(1.0, "done")
        return self._output(ctx, findings, tables, charts, sentences, notes, regression, mode,
                            prep, min_size)

    def _attributes(self, ctx: CheckContext, frame: pd.DataFrame, notes: list[str],
                    group_notes: bool = True) -> tuple[list[str], list[np.ndarray], list[list[str]]]:
        """Each sensitive attribute's name, group codes per row and group names."""
        attrs, codes, names = [], [], []
        for col in ctx.sensitive:
            c, g, note = _group_codes(frame[col])
            attrs.append(col)
            codes.append(c)
            names.append(g)
            if note and group_notes:
                notes.append(f"{col}: {note}")
            if col in ctx.features and ctx.model is not None:
                notes.append(f"{col} is also a model input: the model can use it directly.")
        return attrs, codes, names

    def _count_getter(self, prep: dict, codes: list[np.ndarray], sizes: list[int],
                      boot_rng: np.random.Generator) -> Callable[[tuple[int, ...]], tuple[Any, Any]]:
        """``get(axes) -> (counts per group, bootstrap counts or None)`` for a unit of attributes:
        margins of one joint table when it is small enough, else one table per unit."""
        n_boot = self.config["bootstrap"]
        types, keep = prep["types"], prep["keep"]
        kcodes = [c[keep] for c in codes]
        if int(np.prod(sizes)) * C.N_TYPES <= 4_000_000:
            return _table_getter(C.joint_table(kcodes, sizes, types), n_boot, boot_rng)

        def get(axes: tuple[int, ...]) -> tuple[Any, Any]:  # too many joint cells: each unit on its own
            t = C.joint_table([kcodes[a] for a in axes], [sizes[a] for a in axes], types)
            b = C.bootstrap_tables(t, n_boot, boot_rng) if n_boot else None
            return t.reshape(-1, C.N_TYPES), None if b is None else b.reshape(n_boot, -1, C.N_TYPES)
        return get

    def _spark_counts(self, ctx: CheckContext, prep: dict, notes: list[str]):
        """(group names, joint counts table, notes) over every row of the Spark table, or
        None with a note when the counts stay on the driver sample."""
        from riskaudit.checks.fairness import spark as fs

        try:
            return fs.full_counts(ctx, prep, self.config["threshold"])
        except CheckerError as exc:
            notes.append(f"Spark engine: group counts on the driver sample: {exc}")
            return None

    def _spark_sums(self, ctx: CheckContext, mode: str, notes: list[str]):
        """Regression on a sampled Spark table: (group names, joint sums table, notes, the
        driver sample's codes in those groups), or None with a note when the sums stay on the
        driver sample."""
        from riskaudit.checks.fairness import spark as fs

        ds: Any = ctx.data  # a SparkDataset (the caller checked)
        try:
            names, table, group_notes, driver_codes = fs.full_regression_sums(ctx, mode)
            codes = driver_codes(ds.frame)
        except Exception as exc:  # CheckerError: a stated reason; anything else: the sample still serves
            ds.distributed.discard("fairness")
            why = str(exc) if isinstance(exc, CheckerError) else f"{type(exc).__name__}: {str(exc)[:300]}"
            notes.append(f"Spark engine: group sums on the driver sample: {why.splitlines()[0] if why else ''}")
            return None
        return names, table, group_notes, codes

    def _classification_unit(self, get, axes: tuple[int, ...], prep: dict) -> tuple[dict, dict | None, dict]:
        cnt, bcnt = get(axes)
        met = C.classification_metrics(cnt)
        bmet = C.classification_metrics(bcnt) if bcnt is not None else None
        overall = prep["overall"] if "overall" in prep else _overall_counts(prep["types"])
        return met, bmet, C.classification_metrics(overall)

    def _regression_unit(self, pred, codes, sizes, axes: tuple[int, ...],
                         boot_rng: np.random.Generator, table: np.ndarray | None = None) -> tuple[dict, dict | None, dict]:
        """A unit's regression metrics, their bootstrap and the overall figures; with
        ``table`` (the joint sums of every row on the Spark engine) the point figures are
        its margins, the bootstrap the driver sample's rows (``codes``) in the same groups."""
        n_boot = self.config["bootstrap"]
        p, err, labelled = pred
        ucode = _unit_code([codes[a] for a in axes], [sizes[a] for a in axes])
        usize = int(np.prod([sizes[a] for a in axes]))
        if table is not None:
            drop = tuple(a for a in range(table.ndim - 1) if a not in axes)
            sums = (table.sum(axis=drop) if drop else table).reshape(-1, 5)
        else:
            sums = C.regression_sums(ucode, usize, p, err, labelled)
        bmet = (C.regression_metrics(C.regression_bootstrap(ucode, usize, p, err, labelled, n_boot, boot_rng))
                if n_boot else None)
        return C.regression_metrics(sums), bmet, C.regression_metrics(sums.sum(0))

    # ------------------------------------------------------------ inputs
    def _min_size(self, ctx) -> int:
        lv = ctx.levels.get("underrepresented_group")
        level = None if lv is None else (lv.warn if lv.warn is not None else lv.fail)
        return int(level) if level is not None else 0

    def _classification_inputs(self, ctx: CheckContext, mode: str, notes: list[str]) -> dict:
        cfg = self.config
        ds = ctx.data
        assert ds is not None  # Need.DATA
        n = len(ds.frame)
        if mode == "model":
            assert ctx.model is not None
            proba = np.asarray(ctx.model.predict_proba(ctx.model_inputs(ds)), dtype=np.float64)
            bad = int((~np.isfinite(proba)).any(axis=1).sum()) if proba.ndim == 2 else 0
            if bad:
                notes.append(f"{fmt.count(bad, 'rows')} got non-finite scores from the model; they count as "
                             "the first class.")
            proba = np.nan_to_num(proba, nan=0.0, posinf=1.0, neginf=0.0)
            n_cls = proba.shape[1]
            classes = tuple(ctx.classes) if ctx.classes else tuple(range(n_cls))
            if len(classes) != n_cls:
                raise CheckerError(f"the model gives {n_cls} class scores but {len(classes):,} "
                                   "classes were declared")
        else:
            classes = tuple(ctx.classes or ())
        if len(classes) < 2:
            raise CheckSkipped("fewer than two classes: selection rates cannot be compared")
        pos, how = self._positive(classes)
        y_true = ctx.label_indices(ds) if ctx.target is not None else np.full(n, -1)
        unknown = int(((y_true < 0) & _has_value(ds.frame, ctx.target)).sum()) if ctx.target else 0
        if mode == "model":
            pred_pos, y_pred = decide(proba, pos, cfg["threshold"])
            thr = ("the most probable class" if cfg["threshold"] is None else
                   f"a score of at least {fmt.number(cfg['threshold'])} for {classes[pos]!r}")
            keep = np.ones(n, dtype=bool)
        else:
            keep = y_true >= 0
            y_pred = y_true
            pred_pos = y_true == pos
            thr = "the labels themselves (no model)"
        if unknown:
            notes.append(_unknown_note(unknown, classes, mode))
        types = row_types(pred_pos, y_true, y_pred, pos)[keep]
        return {"types": types, "keep": keep, "classes": classes, "pos": pos,
                "positive_label": classes[pos], "positive_how": how, "decision": thr,
                "y_true": y_true, "y_pred": y_pred, "has_target": ctx.target is not None,
                "unknown": unknown, "mode": mode}

    def _positive(self, classes) -> tuple[int, str]:
        want = self.config["positive_label"]
        if want is None:
            return 1, "default: the second class in the model's class order"
        for i, c in enumerate(classes):
            if c == want or str(c) == str(want):
                return i, "set by the policy"
        raise CheckerError(f"positive_label {want!r} is not one of the classes "
                           f"({', '.join(map(repr, classes))})")

    def _regression_inputs(self, ctx: CheckContext, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert ctx.data is not None  # Need.DATA
        frame = ctx.data.frame
        y = (pd.to_numeric(frame[ctx.target], errors="coerce").to_numpy(dtype=np.float64)
             if ctx.target is not None else np.full(len(frame), np.nan))
        if mode == "model":
            assert ctx.model is not None
            p = np.asarray(ctx.model.predict_values(ctx.model_inputs(ctx.data)), dtype=np.float64)
        else:
            p = y.copy()
        labelled = np.isfinite(y) & np.isfinite(p)
        p = np.where(np.isfinite(p), p, 0.0)
        return p, np.where(labelled, p - y, 0.0), labelled

    def _extra(self, ctx, prep, codes, names, unit_names) -> dict[str, np.ndarray]:
        """Metrics with no count form, through fairlearn's MetricFrame (labelled rows)."""
        from fairlearn.metrics import MetricFrame

        mask = prep["keep"] & (prep["y_true"] >= 0)
        if not mask.any():
            return {}
        pos = prep["pos"]
        sf = pd.DataFrame({f"a{i}": np.asarray(n_, dtype=object)[c[mask]]
                           for i, (c, n_) in enumerate(zip(codes, names))})
        metrics = {m: _extra_metric(m) for m in self.config["extra_metrics"]}
        mf = MetricFrame(metrics=metrics, y_true=(prep["y_true"][mask] == pos).astype(int),
                         y_pred=(prep["y_pred"][mask] == pos).astype(int), sensitive_features=sf)
        by = mf.by_group
        out = {}
        for m in metrics:
            vals = []
            for g in unit_names:
                key = g if len(codes) > 1 else (g[0] if isinstance(g, tuple) else g)
                key = tuple(key) if isinstance(key, tuple) else key
                try:
                    v = by[m].loc[key]
                    vals.append(float(v) if isinstance(v, (int, float, np.number)) else float("nan"))
                except (KeyError, TypeError, ValueError):
                    vals.append(float("nan"))
            out[m] = np.array(vals)
        return out

    # ----------------------------------------------------------- findings
    def _unit_findings(self, ctx: CheckContext, u: _Unit) -> dict[str, Any]:
        """Findings, group table, charts and the plain sentence of one unit (an attribute or a
        pair of attributes)."""
        cfg = self.config
        q = (1 - cfg["confidence"]) / 2
        gl = u.groups
        sizes = u.met["count"].astype(int)
        small = sizes < u.min_size
        ref_name = cfg["reference_groups"].get(u.label)
        ref = gl.index(ref_name) if ref_name in gl else None
        evidence_notes = []
        if ref_name is not None and ref is None:
            evidence_notes.append(f"reference group {ref_name!r} has no rows; the highest rate "
                                  "is used instead")
        if ref is not None and small[ref]:
            evidence_notes.append(f"reference group {ref_name!r} has only {sizes[ref]} rows")
        table, shown = self._group_table(u, sizes, small, q, evidence_notes)
        base_ev: dict[str, Any] = {"table": table, "groups_left_out": [gl[i] for i in np.flatnonzero(small)],
                                   "reference_group": gl[ref] if ref is not None else None}
        if evidence_notes:
            base_ev["notes"] = evidence_notes
        findings = self._size_findings(ctx, u, sizes, small)
        usable = np.flatnonzero(~small)
        out: dict[str, Any] = {"findings": findings, "table": table, "charts": [], "sentence": None}
        if len(usable) < 2:
            findings.append(ctx.finding(
                "underrepresented_group", u.label,
                f"{u.label}: fewer than two groups have at least {u.min_size} rows, so no disparity "
                "can be judged (insufficient data).", status=Status.WARN,
                value=int(len(usable)), threshold=2, evidence=base_ev))
            return out
        d = _Disparity(usable, ref if (ref is not None and not small[ref]) else None)
        if u.regression:
            f, chart = self._regression_findings(ctx, u, d, base_ev, shown, q)
            findings += f
            out["charts"].append(chart)
            return out
        f, out["sentence"] = self._selection_findings(ctx, u, d, base_ev, shown, q)
        findings += f
        if u.mode == "model" and u.prep["has_target"]:
            findings.append(self._error_rate_finding(ctx, u, d, base_ev, q))
            acc = self._accuracy_finding(ctx, u, usable, base_ev, q)
            if acc is not None:
                findings.append(acc)
        return out

    def _group_table(self, u: _Unit, sizes: np.ndarray, small: np.ndarray, q: float,
                     evidence_notes: list[str]) -> tuple[list[dict[str, Any]], list[int]]:
        """The per-group table (largest groups when there are many, then the overall row) and
        the indices of the groups shown."""
        gl, met, bmet = u.groups, u.met, u.bmet
        metric_names: tuple[str, ...] = C.REGRESSION_METRICS if u.regression else C.CLASSIFICATION_METRICS
        if u.mode == "data":  # predictions are the labels: only the base rates say anything
            metric_names = ("mean_prediction",) if u.regression else ("selection_rate",)
        table = []
        for i, g in enumerate(gl):
            row: dict[str, Any] = {"group": g, "size": int(sizes[i])}
            for m in metric_names:
                row[m] = _num(met[m][i])
            for m, v in u.extra.items():
                row[m] = _num(v[i])
            if bmet is not None and not u.regression:
                lo, hi = _ci(bmet["selection_rate"][:, i], q)
                row["selection_rate_ci"] = [lo, hi]
            row["note"] = "insufficient data" if small[i] else ""
            if not u.regression and u.mode == "model" and u.prep["has_target"] and not small[i]:
                gaps = [(m, why) for m, why in (("true_positive_rate", "no positive labels"),
                                                ("false_positive_rate", "no negative labels"))
                        if not math.isfinite(met[m][i])]
                if gaps:
                    row["note"] = "; ".join(f"{m.replace('_', ' ')} undefined: {why}" for m, why in gaps)
            table.append(row)
        overall_row: dict[str, Any] = {"group": "(overall)", "size": int(np.sum(sizes))}
        for m in metric_names:
            overall_row[m] = _num(u.overall[m])
        if len(table) > MAX_GROUPS - 1:  # keep the report readable: the largest groups
            order = np.argsort(-sizes, kind="stable")[: MAX_GROUPS - 1]
            evidence_notes.append(f"{len(table):,} groups; the table and chart show the "
                                  f"{MAX_GROUPS - 1} largest")
            table = [table[i] for i in sorted(order)]
        shown = [gl.index(str(r["group"])) for r in table]
        table.append(overall_row)
        return table, shown

    def _size_findings(self, ctx: CheckContext, u: _Unit, sizes: np.ndarray, small: np.ndarray) -> list[Finding]:
        """``underrepresented_group``: one finding per small group (or one for many), or one
        saying every group is large enough."""
        gl, label, min_size = u.groups, u.label, u.min_size
        small_idx = np.flatnonzero(small)
        findings = []
        if len(small_idx) > 10:
            findings.append(ctx.finding(
                "underrepresented_group", label,
                f"{len(small_idx):,} groups of {label} have fewer than {min_size} rows (smallest: "
                f"{int(sizes[small_idx].min())}): insufficient data, so they are left out of the "
                "disparity verdicts.", value=int(sizes[small_idx].min()),
                evidence={"attribute": label, "groups": [gl[i] for i in small_idx[:50]]}))
            small_idx = small_idx[:0]
        for i in small_idx:
            findings.append(ctx.finding(
                "underrepresented_group", f"{label}={gl[i]}",
                f"Group {gl[i]!r} of {label} has {sizes[i]} rows, below the policy minimum of "
                f"{min_size}: insufficient data, so it is left out of the disparity verdicts.",
                value=int(sizes[i]), evidence={"attribute": label, "group": gl[i]}))
        if not small.any():
            findings.append(ctx.finding(
                "underrepresented_group", label,
                f"Every group of {label} has at least {min_size} rows (smallest: "
                f"{int(sizes.min())}).", value=int(sizes.min()),
                evidence={"attribute": label}))
        return findings

    def _selection_findings(self, ctx: CheckContext, u: _Unit, d: _Disparity, base_ev: dict[str, Any],
                            shown: list[int], q: float) -> tuple[list[Finding], str | None]:
        """``disparate_impact`` (with the selection-rate chart) and ``demographic_parity``."""
        cfg, gl, label, usable, ref_u = self.config, u.groups, u.label, d.usable, d.ref
        pos_label = u.prep["positive_label"]
        sr = u.met["selection_rate"]
        bsr = u.bmet["selection_rate"] if u.bmet is not None else None
        pt, bs, (li, hi) = d(sr, bsr, "ratio")
        ci = _ci(bs, q) if bs is not None else None
        lo_g, hi_g = gl[usable[li]], gl[usable[hi]]
        sentence = _ratio_sentence(cfg["population"], lo_g, hi_g, pos_label, pt, sr[usable[hi]])
        lv = ctx.levels["disparate_impact"]
        minimum = lv.fail if lv.fail is not None else (lv.warn if lv.warn is not None else 0.8)
        chart: dict[str, Any] = {
            "type": "bar", "title": f"Selection rate ('{pos_label}') by {label}",
            "labels": [gl[i] for i in shown], "values": [_num(sr[i]) for i in shown],
            "y_label": "selection rate",
            "reference_lines": [{"value": _num(minimum * (sr[ref_u] if ref_u is not None else np.nanmax(sr[usable]))),
                                 "label": f"policy minimum: {fmt.number(minimum, 2)} × the "
                                 + ("reference group" if ref_u is not None else "highest rate")}]}
        if bsr is not None:
            chart["errors"] = [_ci(bsr[:, i], q) for i in shown]
        ev = dict(base_ev, ci=ci, low_group=lo_g, high_group=hi_g, sentence=sentence, charts=[chart])
        as_often = "never selected" if pt == 0 else f"selected {_fmt(pt)} times as often as group {hi_g!r}"
        findings = [self._graded(
            ctx, "disparate_impact", label, pt, ci,
            f"Group {lo_g!r} of {label} is {as_often} "
            f"(selection rates {fmt.percent(sr[usable[li]])} and {fmt.percent(sr[usable[hi]])}; "
            f"policy minimum ratio {{threshold}}){_ci_text(ci)}.", ev)]
        pt, bs, (li, hi) = d(sr, bsr, "diff")
        ci = _ci(bs, q) if bs is not None else None
        findings.append(self._graded(
            ctx, "demographic_parity", label, pt, ci,
            f"Selection rates of {label} differ by up to {_pts(pt)} between groups "
            f"{gl[usable[li]]!r} and {gl[usable[hi]]!r} (policy maximum {{threshold_text}})"
            f"{_ci_text(ci, 'points')}.", dict(base_ev, ci=ci)))
        return findings, sentence

    def _error_rate_finding(self, ctx: CheckContext, u: _Unit, d: _Disparity, base_ev: dict[str, Any],
                            q: float) -> Finding:
        """``equalized_odds``: the larger of the true and false positive rate differences."""
        met, bmet, usable, gl, label = u.met, u.bmet, d.usable, u.groups, u.label
        tpr, fpr = met["true_positive_rate"], met["false_positive_rate"]
        p1, b1, _ = d(tpr, None if bmet is None else bmet["true_positive_rate"], "diff")
        p2, b2, _ = d(fpr, None if bmet is None else bmet["false_positive_rate"], "diff")
        # a difference needs two groups where the rate is defined
        if np.isfinite(tpr[usable]).sum() < 2:
            p1, b1 = float("nan"), None if b1 is None else np.full_like(b1, np.nan)
        if np.isfinite(fpr[usable]).sum() < 2:
            p2, b2 = float("nan"), None if b2 is None else np.full_like(b2, np.nan)
        pt = float(np.nanmax([p1, p2])) if np.isfinite([p1, p2]).any() else float("nan")
        bs = None if b1 is None else np.fmax(b1, b2)
        ci = _ci(bs, q) if bs is not None else None
        # a rate without a denominator (a group with no positive / no negative labels) is
        # undefined: it is left out and the finding says so; fairlearn (through scikit-learn's
        # normalized confusion matrix) counts it as 0 instead
        undefined = [{"group": gl[i], "rate": name, "reason": why}
                     for i in usable
                     for name, vals, why in (
                         ("true positive rate", tpr, "it has no rows with the positive label"),
                         ("false positive rate", fpr, "it has no rows with a negative label"))
                     if not math.isfinite(vals[i])]
        eo_ev = dict(base_ev, ci=ci, tpr_difference=_num(p1), fpr_difference=_num(p2))
        note = ""
        if undefined:
            f1, _, _ = d(np.nan_to_num(tpr, nan=0.0), None, "diff")
            f2, _, _ = d(np.nan_to_num(fpr, nan=0.0), None, "diff")
            as_zero = max(f1, f2)
            eo_ev.update(undefined_rates=undefined, difference_with_undefined_as_zero=_num(as_zero))
            note = (" " + "; ".join(f"Group {x['group']!r} is left out of the {x['rate']} difference: "
                                     f"{x['reason']}, so its {x['rate']} is undefined" for x in undefined[:5])
                    + (f" (and {len(undefined) - 5} more)" if len(undefined) > 5 else "")
                    + f". Counting an undefined rate as 0, as fairlearn does, gives {_pts(as_zero)}.")
        return self._graded(
            ctx, "equalized_odds", label, pt, ci,
            f"Error rates of {label} differ by up to {_pts(pt)} between groups ({_by('true', p1)}, "
            f"{_by('false', p2)}; policy maximum {{threshold_text}}){_ci_text(ci, 'points')}.{note}", eo_ev)

    def _accuracy_finding(self, ctx: CheckContext, u: _Unit, usable: np.ndarray, base_ev: dict[str, Any],
                          q: float) -> Finding | None:
        """``group_performance`` (classification): overall accuracy minus the worst group's."""
        acc = u.met["accuracy"][usable]
        if not np.isfinite(acc).any():
            return None
        w = int(np.nanargmin(acc))
        pt = float(u.overall["accuracy"] - acc[w])
        bs = None
        if u.bmet is not None:
            bs = _overall_boot(u.bmet, "accuracy") - _nanmin(u.bmet["accuracy"][:, usable])
        ci = _ci(bs, q) if bs is not None else None
        worst = u.groups[usable[w]]
        return self._graded(
            ctx, "group_performance", u.label, pt, ci,
            f"Accuracy of the worst {u.label} group {worst!r} is {fmt.percent(float(acc[w]))}, "
            f"{_pts(pt)} below the overall {fmt.percent(float(u.overall['accuracy']))} (policy "
            f"maximum gap {{threshold_text}}){_ci_text(ci, 'points')}.", dict(base_ev, ci=ci, worst_group=worst))

    def _regression_findings(self, ctx: CheckContext, u: _Unit, d: _Disparity, base_ev: dict[str, Any],
                             shown: list[int], q: float) -> tuple[list[Finding], dict[str, Any]]:
        """``group_performance`` (regression: the worst group's MAE against the overall) and
        the mean prediction chart."""
        met, bmet, usable, gl = u.met, u.bmet, d.usable, u.groups
        findings = []
        mae = met["mean_absolute_error"][usable]
        if u.mode == "model" and np.isfinite(mae).any() and u.overall["mean_absolute_error"] > 0:
            w = int(np.nanargmax(mae))
            ov = float(u.overall["mean_absolute_error"])
            pt = float(mae[w] / ov - 1)
            bs = None
            if bmet is not None:
                bs = (_nanmax(bmet["mean_absolute_error"][:, usable])
                      / _overall_boot(bmet, "mean_absolute_error") - 1)
            ci = _ci(bs, q) if bs is not None else None
            findings.append(self._graded(
                ctx, "group_performance", u.label, pt, ci,
                f"Mean absolute error of the worst {u.label} group {gl[usable[w]]!r} is "
                f"{fmt.number(float(mae[w]))}, {fmt.percent(pt)} above the overall "
                f"{fmt.number(ov)} (policy maximum excess {{threshold_percent}}){_ci_text(ci, 'relative')}.",
                dict(base_ev, ci=ci, worst_group=gl[usable[w]])))
        mp = met["mean_prediction"]
        chart: dict[str, Any] = {"type": "bar", "title": f"Mean {'prediction' if u.mode == 'model' else 'target'}"
                                 f" by {u.label}", "labels": [gl[i] for i in shown],
                                 "values": [_num(mp[i]) for i in shown]}
        if bmet is not None:
            chart["errors"] = [_ci(bmet["mean_prediction"][:, i], q) for i in shown]
        return findings, chart

    def _graded(self, ctx, kind, subject, value, ci, message, evidence):
        lv = ctx.levels[kind]
        value = None if value is None or not math.isfinite(value) else float(value)
        if value is None:
            text = message
            for key in ("{threshold}", "{threshold_text}", "{threshold_percent}"):
                text = text.replace(key, "n/a")
            return ctx.finding(kind, subject, text + " (not computable: a group has no rows for it)",
                               status=Status.PASS, value=None, threshold=lv.fail, evidence=evidence)
        status, level = lv.grade(value)
        if status == Status.FAIL and self.config["require_ci_for_fail"] and ci is not None:
            bound = ci[1] if lv.direction == "below" else ci[0]
            if bound is not None and not lv.grade(bound)[0] == Status.FAIL:
                status = Status.WARN
                level = lv.fail
                evidence = dict(evidence, advice="The point estimate is past the fail level but "
                                "its confidence interval is not (require_ci_for_fail): more data "
                                "would settle it.")
        return ctx.finding(kind, subject, message, value=value, status=status, threshold=level,
                           evidence=evidence)

    def _output(self, ctx, findings, tables, charts, sentences, notes, regression, mode, prep,
                min_size) -> CheckOutput:
        cfg = self.config
        fails = list(dict.fromkeys(f.subject for f in findings if f.status == Status.FAIL))
        what = "labels" if mode == "data" else "predictions"
        n_attr = len(ctx.sensitive)
        worst = sorted((f for f in findings if f.kind == "disparate_impact" and f.value is not None),
                       key=lambda f: f.value)
        reading = f" {worst[0].evidence.get('sentence')}" if worst and worst[0].evidence.get("sentence") else ""
        if fails:
            summary = (f"The {what} fail the fairness policy for {', '.join(fails[:4])}"
                       + (", ..." if len(fails) > 4 else "") + "." + reading)
        elif any(f.status == Status.WARN for f in findings):
            summary = (f"No fairness failure in the {what} across {fmt.count(n_attr, 'sensitive attributes')}, "
                       "but some figures are near the limits or some groups are too small.")
        else:
            summary = f"The {what} are fair across the groups of {fmt.count(n_attr, 'sensitive attributes')}."
        if mode == "data":
            summary += " (No model given: audited the labels' base rates per group.)"
        settings = {"mode": "data-level (labels, no model)" if mode == "data" else "model",
                    "task": "regression" if regression else "classification",
                    "minimum_group_size": min_size, "bootstrap_resamples": cfg["bootstrap"],
                    "confidence": cfg["confidence"],
                    "reference_groups": dict(cfg["reference_groups"]) or
                    "none: ratios are lowest over highest group rate"}
        if prep is not None:
            settings.update(positive_label=prep["positive_label"],
                            positive_label_source=prep["positive_how"],
                            prediction=prep["decision"])
        return CheckOutput(findings=findings, summary=summary,
                           metrics={"settings": settings, "groups": tables, "charts": charts,
                                    "readings": sentences, "notes": notes})


# ---------------------------------------------------------------- helpers

@dataclasses.dataclass(frozen=True)
class _Unit:
    """The per-group metrics of one unit: an attribute or a pair of attributes."""

    label: str
    groups: list[str]
    met: dict[str, np.ndarray]
    bmet: dict[str, np.ndarray] | None
    overall: dict[str, Any]
    extra: dict[str, np.ndarray]
    min_size: int
    regression: bool
    mode: str
    prep: Any


class _Disparity:
    """One disparity over the usable groups: ``(point, bootstrap samples, (low, high))``,
    taken against the reference group when one is set and usable, else lowest vs highest."""

    def __init__(self, usable: np.ndarray, ref: int | None):
        self.usable, self.ref = usable, ref

    def __call__(self, values, bvalues, kind: str) -> tuple[float, Any, tuple[int, int]]:
        usable, ref_u = self.usable, self.ref
        v = values[usable]
        bv = bvalues[:, usable] if bvalues is not None else None
        if kind == "ratio":
            if ref_u is not None:
                pt, lo_i = _nanmin_ratio(v, values[ref_u])
                hi_i = int(np.where(usable == ref_u)[0][0])
                bs = None if bv is None else _ratio_boot(bv, bvalues[:, ref_u])
            else:
                pt, lo_i, hi_i = _minmax_ratio(v)
                bs = None if bv is None else _ratio_boot(bv, None)
            return pt, bs, (lo_i, hi_i)
        if ref_u is not None:
            d = np.abs(v - values[ref_u])
            i = int(np.nanargmax(d)) if np.isfinite(d).any() else 0
            pt = float(np.nanmax(d)) if np.isfinite(d).any() else float("nan")
            bs = None if bv is None else _nanmax(np.abs(bv - bvalues[:, [ref_u]]))
            return pt, bs, (i, int(np.where(usable == ref_u)[0][0]))
        pt = _nanrange(v)
        bs = None if bv is None else _nanrange_rows(bv)
        lo_i = int(np.nanargmin(v)) if np.isfinite(v).any() else 0
        hi_i = int(np.nanargmax(v)) if np.isfinite(v).any() else 0
        return pt, bs, (lo_i, hi_i)


def _unknown_note(unknown: int, classes, mode: str) -> str:
    verb = 'has' if unknown == 1 else 'have'
    return (f"{fmt.count(unknown, 'rows')} {verb} a label outside the classes ({', '.join(map(str, classes))}); "
            + ("they count for selection rates only." if mode == "model" else "they are left out."))


def _recount_unknown(notes: list[str], prep: dict, unknown: int) -> None:
    """The driver sample's note on labels outside the classes, with the whole table's count."""
    old = _unknown_note(prep["unknown"], prep["classes"], prep["mode"]) if prep["unknown"] else None
    new = _unknown_note(unknown, prep["classes"], prep["mode"]) if unknown else None
    at = notes.index(old) if old in notes else len(notes)
    notes[at:at + (old in notes)] = [new] if new else []


def _table_getter(table: np.ndarray, n_boot: int, boot_rng: np.random.Generator):
    """``get(axes)`` over the margins of one joint table and of its bootstrap stack."""
    boot = C.bootstrap_tables(table, n_boot, boot_rng) if n_boot else None
    return lambda axes: (C.margin(table, axes), None if boot is None else C.margin_boot(boot, axes))


def _has_value(frame, col):
    return frame[col].notna().to_numpy() if col is not None else np.zeros(len(frame), bool)


def _overall_counts(types):
    return np.bincount(types, minlength=C.N_TYPES)


def _overall_boot(bmet, key):
    # overall metric per resample from the group stacks: recompute from group counts
    cnt = bmet["labelled"] if key in ("accuracy", "mean_absolute_error") else bmet["count"]
    v = np.nan_to_num(bmet[key]) * cnt
    with np.errstate(invalid="ignore", divide="ignore"):
        return v.sum(1) / cnt.sum(1)


def _unit_names(name_lists: list[list[str]]) -> list[Any]:
    if len(name_lists) == 1:
        return list(name_lists[0])
    out: list[tuple[str, ...]] = [()]
    for names in name_lists:
        out = [o + (n,) for o in out for n in names]
    return out


def _unit_code(codes, sizes):
    j = np.zeros(len(codes[0]), dtype=np.int64)
    for c, s in zip(codes, sizes):
        j = j * s + c
    return j


def _glabel(g) -> str:
    return " & ".join(g) if isinstance(g, tuple) else str(g)


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def _fmt(x) -> str:
    """A ratio, two significant digits (riskaudit.fmt)."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return fmt.number(float(x), 2)


def _pts(x) -> str:
    """A difference of two rates in percentage points (riskaudit.fmt)."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return fmt.points(float(x))


def _ratio_sentence(population: str, lo_g: Any, hi_g: Any, pos_label: Any, ratio: float, hi_rate: float) -> str | None:
    """The summary's plain sentence on the lowest selection ratio ("... 0.6 times as often as
    group X"); a group never selected is said so, with the other group's rate."""
    if not math.isfinite(ratio):
        return None
    if ratio == 0:
        return (f"{population} in group {lo_g} {_verb(pos_label, never=True)}, against "
                f"{fmt.percent(hi_rate)} in group {hi_g}.")
    return f"{population} in group {lo_g} {_verb(pos_label)} {_fmt(ratio)} times as often as group {hi_g}."


def _verb(label, never: bool = False) -> str:
    """``are approved`` / ``get the outcome 'x'`` (``never``: ``are never approved`` /
    ``never get the outcome 'x'``)."""
    s = str(label)
    if s.isalpha() and s.lower().endswith("ed"):
        return f"are never {s}" if never else f"are {s}"
    return f"{'never ' if never else ''}get the outcome {s!r}"


def _by(which: str, diff) -> str:
    """One rate's part of the equalized-odds sentence."""
    if diff is None or not math.isfinite(diff):
        return f"{which} positive rates not comparable"
    return f"{which} positive rates by {_pts(diff)}"


def _ci_text(ci, unit: str = "ratio") -> str:
    if ci is None or ci[0] is None:
        return ""
    if unit == "points":
        return f"; bootstrap interval {fmt.number(ci[0] * 100)} to {_pts(ci[1])}"
    if unit == "relative":
        return f"; bootstrap interval {fmt.percent(ci[0])} to {fmt.percent(ci[1])}"
    return f"; bootstrap interval {_fmt(ci[0])} to {_fmt(ci[1])}"


def _ci(samples, q):
    if samples is None:
        return None
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return [None, None]
    lo, hi = np.quantile(s, [q, 1 - q])
    return [float(lo), float(hi)]


def _minmax_ratio(v):
    if not np.isfinite(v).any():
        return float("nan"), 0, 0
    lo, hi = int(np.nanargmin(v)), int(np.nanargmax(v))
    mx = v[hi]
    return (float(v[lo] / mx) if mx > 0 else (1.0 if v[lo] == 0 else float("nan"))), lo, hi


def _nanmin_ratio(v, r):
    if not np.isfinite(v).any() or not np.isfinite(r) or r <= 0:
        return float("nan"), 0
    ratios = v / r
    i = int(np.nanargmin(ratios))
    return float(ratios[i]), i


def _ratio_boot(bv, bref):
    with np.errstate(invalid="ignore", divide="ignore"):
        if bref is None:
            mx = _nanmax(bv)
            return np.where(mx > 0, _nanmin(bv) / np.where(mx > 0, mx, 1), np.nan)
        return np.where(bref > 0, _nanmin(bv) / np.where(bref > 0, bref, 1), np.nan)


def _nanmax(a):
    a = np.where(np.isfinite(a), a, -np.inf).max(axis=1)
    return np.where(np.isfinite(a), a, np.nan)


def _nanmin(a):
    a = np.where(np.isfinite(a), a, np.inf).min(axis=1)
    return np.where(np.isfinite(a), a, np.nan)



def _nanrange(v):
    return float(np.nanmax(v) - np.nanmin(v)) if np.isfinite(v).any() else float("nan")


def _nanrange_rows(a):
    return _nanmax(a) - _nanmin(a)
