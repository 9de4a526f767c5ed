"""The ``performance`` checker: is the model good enough, and did it learn or memorize?

Roles: ``data`` (with the target) is judged; ``train`` (optional) gives the generalization
gap (overfitting); the trivial baseline (majority class / mean) is fitted on ``train``,
else ``reference``, else ``data``. A model or stored predictions (``--predictions`` /
``--scores``) is needed; stored labels alone give no scores, so ROC AUC, log loss and
calibration are then skipped with that reason.

Classification: accuracy, balanced accuracy, per-class precision / recall / F1, ROC AUC
(binary or one-vs-rest), log loss and expected calibration error with a reliability
diagram. Regression: MAE, RMSE, R². Every figure has a seeded bootstrap interval.

On the Spark engine, a table larger than its driver sample (the data, and the training data
of the gap) gets its point figures over every row from :mod:`.spark` (one predicting pass in
Spark); the intervals stay the driver sample's bootstrap, and ``metrics.spark`` says which is which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from riskaudit import fmt
from riskaudit._lazy import lazy_module
from riskaudit.checks.base import Checker, CheckContext, CheckOutput, CheckSkipped, Kind, Need, Option
from riskaudit.result import Severity, Status

if TYPE_CHECKING:
    import numpy as np

    import riskaudit.checks.performance._metrics as M
else:  # imported on first use: listing the checkers loads no numerical library (scipy included)
    np = lazy_module("numpy")
    M = lazy_module("riskaudit.checks.performance._metrics")

NAMES = {"accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy", "macro_f1": "Macro F1",
         "roc_auc": "ROC AUC", "log_loss": "Log loss", "ece": "Calibration error (ECE)",
         "mae": "Mean absolute error", "rmse": "Root mean squared error", "r2": "R²"}
CLASSIFICATION_GRADED = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc")
REGRESSION_GRADED = ("r2",)
DEFAULT_MINIMUMS = {
    "low": {"balanced_accuracy": 0.6, "roc_auc": 0.6, "r2": 0.0},
    "medium": {"balanced_accuracy": 0.7, "roc_auc": 0.75, "r2": 0.25},
    "high": {"balanced_accuracy": 0.8, "roc_auc": 0.85, "r2": 0.5},
}


class PerformanceChecker(Checker):
    id = "performance"
    description = ("Model quality: accuracy, per-class precision/recall/F1, ROC AUC, log loss and "
                   "calibration (regression: MAE, RMSE, R²), the train/data gap (overfitting) and a "
                   "trivial baseline (underfitting), with bootstrap intervals.")
    needs = frozenset({Need.DATA, Need.TARGET})
    priority = 60
    options = {
        "minimums": Option(DEFAULT_MINIMUMS, "per risk tier (low/medium/high): the lowest acceptable value "
                           "of each graded metric (accuracy, balanced_accuracy, macro_f1, roc_auc; regression: "
                           "r2). A fail level set for model_performance in the policy overrides them.", dict,
                           schema={"propertyNames": {"enum": ["low", "medium", "high"], "x-unknown": "unknown risk tier"},
                                   "additionalProperties": {
                                       "type": "object", "x-message": "must be a mapping of metric to minimum",
                                       "propertyNames": {"enum": list(CLASSIFICATION_GRADED + REGRESSION_GRADED),
                                                         "x-unknown": "unknown metric"},
                                       "additionalProperties": {"type": "number"}}}),
        "warn_margin": Option(0.05, "a metric less than this above its minimum warns", float,
                              minimum=0.0, maximum=1.0),
        "bootstrap": Option(200, "bootstrap resamples of every interval (seeded by --seed)", int, minimum=20),
        "confidence": Option(0.95, "confidence level of the intervals", float, minimum=0.5, maximum=0.999),
        "calibration_bins": Option(10, "equal-width confidence bins of the calibration error", int,
                                   minimum=2, maximum=100),
        "max_rows": Option(50_000, "rows per dataset (a seeded subsample above; the bootstrap's cost grows "
                           "with it, its intervals hardly narrow past it)", int, minimum=50),
    }
    kinds = {
        "model_performance": Kind(
            "a metric below the minimum of the policy's risk tier (see the minimums option)", "below",
            fail=None, warn=None, severity=Severity.HIGH, unit="ratio",
            why="A model below the agreed minimum makes too many wrong decisions for the people "
                "and processes that rely on it.",
            advice="Improve the model (more or better data, features, tuning) or lower the risk it may "
                   "take (a lower tier, a human review of its decisions) before deployment."),
        "generalization_gap": Kind(
            "drop from the training data to the data under audit (balanced accuracy points; regression: "
            "relative RMSE increase), graded only when the bootstrap interval excludes no drop", "above",
            fail=0.1, warn=0.05, severity=Severity.MEDIUM, unit="points",
            why="A model much better on its training data than on new data has memorized its training "
                "examples (overfitting): its real-world performance is the lower figure, and it can "
                "degrade further on data that differs a little more.",
            advice="Regularize, simplify or stop training earlier, get more training data, and judge the "
                   "model only on held-out data."),
        "baseline_comparison": Kind(
            "improvement over a trivial model (balanced accuracy points over always predicting the "
            "majority class; regression: share of the RMSE of always predicting the mean removed)", "below",
            fail=0.02, warn=0.1, severity=Severity.HIGH, unit="points",
            why="A model hardly better than always giving the same answer has not learned the task "
                "(underfitting); its decisions are close to arbitrary for the minority cases.",
            advice="Check the labels and features for errors, give the model informative features, or "
                   "use a more capable model; do not deploy one that does not beat the trivial answer."),
        "calibration": Kind(
            "expected calibration error: mean gap between the model's confidence and its accuracy", "above",
            fail=0.15, warn=0.05, severity=Severity.MEDIUM, unit="share",
            why="When the model's stated confidence does not match how often it is right, thresholds "
                "and risk scores built on its probabilities mislead the people who use them.",
            advice="Recalibrate the scores on held-out data (Platt scaling, isotonic regression or "
                   "temperature scaling) and audit again."),
    }

    # ------------------------------------------------------------------ run
    def run(self, ctx: CheckContext) -> CheckOutput:
        if ctx.model is None:
            raise CheckSkipped("no model and no stored predictions were given (--model, --predictions or --scores)")
        if ctx.task not in ("classification", "regression"):
            raise CheckSkipped("the task is neither classification nor regression")
        assert ctx.target is not None  # needs = {DATA, TARGET}: the scan runs this checker only with a target
        cfg = self.config
        regression = ctx.task == "regression"
        labels_only = bool(getattr(ctx.model, "label_column", None)) and not regression
        skipped: dict[str, str] = {}
        if labels_only:
            skipped["roc_auc, log_loss, calibration"] = ("only predicted labels were given (--predictions); "
                                                         "pass the class scores with --scores")
        ctx.progress(0.05, "predicting the data under audit")
        cur = self._outcomes(ctx, ctx.data, "data", regression)
        notes: list[str] = []
        full = self._full(ctx, ctx.data, "data", regression, labels_only, cur, notes)
        trn = full_trn = None
        if ctx.train is None:
            skipped["generalization_gap"] = "no training data was given (--train)"
        elif not ctx.train.has_column(ctx.target):
            skipped["generalization_gap"] = f"the training data has no target column {ctx.target!r}"
        else:
            ctx.progress(0.3, "predicting the training data")
            try:
                trn = self._outcomes(ctx, ctx.train, "train", regression)
            except Exception as exc:  # e.g. stored predictions absent from the training table
                skipped["generalization_gap"] = f"the training data could not be predicted ({exc})"
            else:
                full_trn = self._full(ctx, ctx.train, "train", regression, labels_only, trn, notes)
        ctx.progress(0.5, "bootstrap intervals")
        fn = (lambda y, p: M.regression(y, p)) if regression else \
            (lambda y, p: M.classification(y, p, cfg["calibration_bins"], scores=not labels_only))
        point = full.point if full is not None else fn(cur[0], cur[1])
        if regression:
            draws = M.bootstrap(lambda i: fn(cur[0][i], cur[1][i]), len(cur[0]), cfg["bootstrap"], ctx.rng("bootstrap"))
        else:
            draws = M.classification_draws(cur[0], cur[1], cfg["calibration_bins"], not labels_only,
                                           cfg["bootstrap"], ctx.rng("bootstrap"))
        ci = {k: M.interval(v, cfg["confidence"]) for k, v in draws.items()}
        left_out = full.left_out if full is not None else cur[2]
        findings, metrics = [], {"rows": int(full.rows if full is not None else len(cur[0])),
                                 "confidence": cfg["confidence"],
                                 "data": _rounded(point), "intervals": {k: _round_pair(v) for k, v in ci.items()}}
        if left_out:
            metrics["rows_without_known_label"] = left_out
        findings += self._graded(ctx, point, ci, regression, full)
        if not regression:
            metrics["per_class"] = self._per_class(ctx, cur, full)
            if findings:
                findings[0] = _with_table(findings[0], metrics["per_class"])
        findings.append(self._baseline(ctx, cur, point, draws, regression, full, full_trn))
        if trn is not None:
            ctx.progress(0.75, "generalization gap")
            findings.append(self._gap(ctx, cur, trn, fn, regression, metrics, full, full_trn))
        if not regression and not labels_only:
            findings.append(self._calibration(ctx, cur, point, ci, full))
        if skipped:
            metrics["skipped"] = skipped
        summary = self._summary(point, ci, findings, regression, skipped)
        if left_out:
            summary += (f" {left_out:,} rows without a label the model knows (or with non-finite outputs) were "
                        "left out.")
        if full is not None or full_trn is not None:
            metrics["spark"] = _spark_metrics(full, full_trn, cur, trn)
            if full is not None and full.auc_method.startswith("histogram") and np.isfinite(point.get("roc_auc", np.nan)):
                summary += (f" ROC AUC over every row from a histogram of the scores: at most "
                            f"{fmt.number(full.auc_max_error)} from the exact figure.")
        if notes:
            metrics["notes"] = notes
        return CheckOutput(findings=findings, summary=summary, metrics=metrics)

    # ------------------------------------------------------------------ inputs
    def _outcomes(self, ctx, ds, name, regression):
        """(true values, predictions, rows left out): label indices and class probabilities, or
        numbers and predicted numbers; rows without a known label are left out."""
        frame = ds.frame
        if len(frame) > self.config["max_rows"]:
            idx = np.sort(ctx.rng(f"rows-{name}").choice(len(frame), self.config["max_rows"], replace=False))
            ds = _subset(ds, idx)
        x = ctx.model_inputs(ds)
        raw = ctx.model.forward(x, seed=ctx.seed_for("predictions"))
        if regression:
            y = np.asarray(ds.frame[ctx.target], dtype=np.float64)
            pred = raw.reshape(len(raw), -1)[:, 0].astype(np.float64)
            keep = np.isfinite(y) & np.isfinite(pred)
            return y[keep], pred[keep], int((~keep).sum())
        from riskaudit.model import to_proba

        proba = to_proba(raw)
        k = len(ctx.classes or ())
        if proba.shape[1] != k:
            if not (proba.shape[1] == 2 and k < 2):
                raise CheckSkipped(f"the model gives {proba.shape[1]} scores per row for {k} classes")
        y = ctx.label_indices(ds)
        keep = (y >= 0) & np.isfinite(proba).all(axis=1)
        return y[keep], proba[keep], int((~keep).sum())

    def _full(self, ctx, ds, name, regression, labels_only, outcomes, notes):
        """The point figures of a Spark table larger than its driver sample, over every row
        (:mod:`.spark`), or None: a pandas dataset, a table that fits the sample (the driver
        frame is the whole table), or a note and the sample when Spark cannot give them."""
        if getattr(ds, "spark_frame", None) is None or not getattr(ds, "sampled", False):
            return None
        from riskaudit.checks.performance import spark as ps
        from riskaudit.errors import CheckerError

        ds.distributed.discard(self.id)
        ctx.progress(0.1 if name == "data" else 0.35, f"predicting every row of the {name} table in Spark")
        try:
            if labels_only:
                raise CheckerError("only predicted labels were given: they are columns of the driver sample")
            k = 1 if regression else int(outcomes[1].shape[1])
            out = ps.figures(ctx, ds, regression, k, self.config["calibration_bins"])
        except CheckerError as exc:
            notes.append(f"Spark engine: the {name} figures are the driver sample's: {exc}")
            return None
        except Exception as exc:  # the figures over every row are a bonus: never worth the checker
            notes.append(f"Spark engine: the {name} figures are the driver sample's: "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")
            return None
        ds.distributed.add(self.id)
        return out

    # ------------------------------------------------------------------ findings
    def _minimums(self, ctx, regression) -> tuple[dict[str, float], str]:
        graded = REGRESSION_GRADED if regression else CLASSIFICATION_GRADED
        tier = str((ctx.project or {}).get("risk_tier") or "medium")
        table = {m: float(v) for m, v in ((self.config["minimums"] or {}).get(tier) or {}).items() if m in graded}
        lv = ctx.levels["model_performance"]
        if lv.fail is not None:  # the policy set one level for every graded metric
            return {m: float(lv.fail) for m in (table or graded[:1])}, "the policy's minimum"
        return table, f"the minimum for a {tier}-risk model"

    def _minimum_source(self, ctx, metric: str, minimum: float) -> str:
        """Where a metric's minimum comes from, for the report's "threshold and its source"."""
        tier = str((ctx.project or {}).get("risk_tier") or "medium")
        if ctx.levels["model_performance"].fail is not None:
            return f"policy key checks.performance.thresholds.model_performance.fail = {fmt.number(minimum)}"
        default = ((self.options["minimums"].default or {}).get(tier) or {}).get(metric)
        same = default is not None and float(default) == minimum
        return (f"option checks.performance.options.minimums.{tier}.{metric} = {fmt.number(minimum)}"
                + (" (the checker's default value)" if same else ""))

    def _graded(self, ctx, point, ci, regression, full=None):
        mins, source = self._minimums(ctx, regression)
        lv = ctx.levels["model_performance"]
        out = []
        for metric, minimum in mins.items():
            value = point.get(metric)
            if value is None or not np.isfinite(value):
                continue
            warn_at = float(lv.warn) if lv.warn is not None else minimum + self.config["warn_margin"]
            status = Status.FAIL if value < minimum else Status.WARN if value < warn_at else Status.PASS
            extra = {}
            if metric == "roc_auc" and full is not None:
                extra = {"method": full.auc_method, "max_error": round(full.auc_max_error, 9)}
            out.append(ctx.finding(
                "model_performance", metric,
                f"{NAMES[metric]} is {fmt.number(value)} on the data under audit ({self._ci(ci.get(metric))}); "
                f"{source} is {fmt.number(minimum)}.",
                value=round(value, 6), status=status, threshold=minimum,
                evidence={"interval": _round_pair(ci.get(metric)), "minimum": minimum, "warn_below": warn_at,
                          "threshold_source": self._minimum_source(ctx, metric, minimum), **extra}))
        return out

    def _per_class(self, ctx, cur, full=None):
        """Precision, recall and F1 per class, each with its bootstrap interval (the figures
        over every row of a Spark table when ``full`` has them; intervals: driver sample)."""
        y, proba, _ = cur
        k = proba.shape[1]
        pred = proba.argmax(axis=1)
        pc = M.per_class(full.confusion if full is not None else M.confusion(y, pred, k))

        def per_class(i):
            d = M.per_class(M.confusion(y[i], pred[i], k))
            return {f"{m}:{c}": float(d[m][c]) for m in ("precision", "recall", "f1") for c in range(k)}

        draws = M.bootstrap(per_class, len(y), self.config["bootstrap"], ctx.rng("per-class"))
        names = list(ctx.classes or range(k))
        rows = []
        for c in range(k):
            row: dict[str, Any] = {"class": str(names[c]) if c < len(names) else str(c),
                                   "support": int(pc["support"][c])}
            for m in ("precision", "recall", "f1"):
                ci = M.interval(draws[f"{m}:{c}"], self.config["confidence"])
                row[m] = round(float(pc[m][c]), 4)
                row[f"{m} interval"] = "" if ci is None else f"{fmt.number(ci[0])} to {fmt.number(ci[1])}"
            rows.append(row)
        return rows

    def _baseline_source(self, ctx):
        for name, ds in (("training", ctx.train), ("reference", ctx.reference), ("audited", ctx.data)):
            if ds is not None and ds.has_column(ctx.target):
                return name, ds
        return "audited", ctx.data

    def _baseline_figures(self, ctx, src_name, src, full, full_trn, k, regression):
        """(rows per known label, target mean) of the baseline's table over every row, or None
        for its driver frame (a pandas table, or one that fits the sample)."""
        got = {"audited": full, "training": full_trn}.get(src_name)
        if got is not None:
            return got.label_counts, got.target_mean
        if getattr(src, "spark_frame", None) is None or not getattr(src, "sampled", False) or \
                (full is None and full_trn is None):
            return None
        from riskaudit.checks.performance import spark as ps
        from riskaudit.errors import CheckerError

        try:
            return ps.target_summary(src, str(ctx.target), tuple(ctx.classes or ()), k, regression)
        except CheckerError:
            return None

    def _baseline(self, ctx, cur, point, draws, regression, full=None, full_trn=None):
        cfg = self.config
        src_name, src = self._baseline_source(ctx)
        y, pred, _ = cur
        rng = ctx.rng("baseline")
        whole = self._baseline_figures(ctx, src_name, src, full, full_trn, 1 if regression else cur[1].shape[1],
                                       regression)
        if regression:
            mean = float(whole[1]) if whole is not None else \
                float(np.nanmean(np.asarray(src.frame[ctx.target], dtype=np.float64)))
            base_rmse = (float(np.sqrt(full.sq_dev(mean) / full.rows)) if full is not None
                         else float(np.sqrt(np.mean((y - mean) ** 2))))

            def skill(i):
                b = float(np.sqrt(np.mean((y[i] - mean) ** 2)))
                return {"v": 1 - float(np.sqrt(np.mean((pred[i] - y[i]) ** 2))) / b if b > 0 else float("nan")}

            value = 1 - point["rmse"] / base_rmse if base_rmse > 0 else float("nan")
            ci = M.interval(M.bootstrap(skill, len(y), cfg["bootstrap"], rng)["v"], cfg["confidence"])
            text = (f"The model removes {fmt.percent(value)} of the error of always predicting the {src_name} data's "
                    f"mean {fmt.number(mean)} (RMSE {fmt.number(point['rmse'])} against {fmt.number(base_rmse)}; "
                    f"{_ci_text(ci, self.config['confidence'], percent=True)}).")
            ev = {"baseline": "mean", "baseline_value": mean, "baseline_rmse": base_rmse, "fitted_on": src_name}
        else:
            k = cur[1].shape[1]
            if whole is not None:
                majority = int(np.asarray(whole[0]).argmax()) if np.asarray(whole[0]).sum() else 0
            else:
                idx = ctx.label_indices(src)
                idx = idx[idx >= 0]
                majority = int(np.bincount(idx, minlength=k).argmax()) if len(idx) else 0
            base = np.full(len(y), majority)
            # each row's confusion cell under the model and under the baseline, once; a
            # resample is the rows' multiplicities (whole-number counts: exactly the confusion
            # matrices of the resampled rows)
            cells, base_cells = y * k + pred.argmax(axis=1), y * k + majority

            def lift(i):
                w = np.bincount(i, minlength=len(y)).astype(np.float64)
                m = M.balanced_accuracy(np.bincount(cells, weights=w, minlength=k * k).reshape(k, k))
                return {"v": m - M.balanced_accuracy(np.bincount(base_cells, weights=w, minlength=k * k).reshape(k, k))}

            if full is not None:  # always the majority class: its confusion matrix is the supports
                support = full.confusion.sum(axis=1)
                cm = np.zeros((k, k), dtype=np.int64)
                cm[:, majority] = support
                base_bal, base_acc = M.balanced_accuracy(cm), float(support[majority] / support.sum())
            else:
                base_bal = M.balanced_accuracy(M.confusion(y, base, k))
                base_acc = float(np.mean(y == majority))
            value = point["balanced_accuracy"] - base_bal
            ci = M.interval(M.bootstrap(lift, len(y), cfg["bootstrap"], rng)["v"], cfg["confidence"])
            label = (ctx.classes or range(k))[majority]
            text = (f"Balanced accuracy is {fmt.points(value)} above always predicting the {src_name} data's majority "
                    f"class {str(label)[:40]!r} ({fmt.number(point['balanced_accuracy'])} against {fmt.number(base_bal)}; "
                    f"{self._ci(ci)}); that trivial model's accuracy would be {fmt.number(base_acc)} against the "
                    f"model's {fmt.number(point['accuracy'])}.")
            ev = {"baseline": "majority class", "majority_class": str(label), "fitted_on": src_name,
                  "baseline_balanced_accuracy": base_bal, "baseline_accuracy": base_acc}
        return ctx.finding("baseline_comparison", "trivial baseline", text, value=round(float(value), 6),
                           evidence={**ev, "interval": _round_pair(ci)})

    def _gap(self, ctx, cur, trn, fn, regression, metrics, full=None, full_trn=None):
        cfg = self.config
        key = "rmse" if regression else "balanced_accuracy"
        pt = full_trn.point if full_trn is not None else fn(trn[0], trn[1])
        pc = full.point if full is not None else fn(cur[0], cur[1])

        def gap(a, b):
            if regression:
                return b[key] / a[key] - 1 if a[key] > 0 else float("nan")
            return a[key] - b[key]

        value = gap(pt, pc)
        rng_t, rng_c = ctx.rng("gap-train"), ctx.rng("gap-data")
        draws = np.array([gap(fn(trn[0][i], trn[1][i]), fn(cur[0][j], cur[1][j]))
                          for i, j in ((rng_t.integers(0, len(trn[0]), len(trn[0])),
                                        rng_c.integers(0, len(cur[0]), len(cur[0])))
                                       for _ in range(cfg["bootstrap"]))])
        ci = M.interval(draws, cfg["confidence"])
        significant = ci is not None and ci[0] > 0
        metrics["train"] = _rounded(pt)
        lv = ctx.levels["generalization_gap"]
        if regression:
            text = (f"The RMSE is {fmt.percent(value)} higher on the data under audit ({fmt.number(pc[key])}) than on "
                    f"the training data ({fmt.number(pt[key])}); {_ci_text(ci, self.config['confidence'], percent=True)}.")
        else:
            text = (f"Balanced accuracy drops by {fmt.number(value)} from the training data ({fmt.number(pt[key])}) to the data "
                    f"under audit ({fmt.number(pc[key])}); {self._ci(ci)}.")
        if not significant:
            text += " The interval includes zero (no drop), so the gap is not graded."
        chart_keys = [k for k in ("accuracy", "balanced_accuracy", "roc_auc", "macro_f1", "r2") if k in pc
                      and np.isfinite(pc[k]) and np.isfinite(pt.get(k, np.nan))]
        ev = {"interval": _round_pair(ci), "significant": significant,
              "train_rows": int(full_trn.rows if full_trn is not None else len(trn[0])),
              "train": _rounded(pt), "data": _rounded(pc),
              "charts": [{"type": "bar", "title": "Training data against the data under audit",
                          "labels": [f"{NAMES[k]} ({s})" for k in chart_keys for s in ("train", "data")],
                          "values": [round(float(d[k]), 4) for k in chart_keys for d in (pt, pc)],
                          "y_label": "score"}]}
        status = None if significant else Status.PASS
        return ctx.finding("generalization_gap", f"{key} (train → data)", text, value=round(float(value), 6),
                           status=status, threshold=None if significant else (lv.fail if lv.fail is not None else lv.warn),
                           evidence=ev)

    def _calibration(self, ctx, cur, point, ci, full=None):
        y, proba, _ = cur
        b = full.calibration if full is not None else M.calibration_bins(y, proba, self.config["calibration_bins"])
        chart = {"type": "line", "title": "Reliability diagram: accuracy per confidence bin",
                 "x": [round(float(v), 4) for v in b["confidence"]],
                 "series": [{"name": "model", "y": [round(float(v), 4) for v in b["accuracy"]]},
                            {"name": "perfect calibration", "y": [round(float(v), 4) for v in b["confidence"]]}],
                 "x_label": "mean confidence in the bin", "y_label": "accuracy in the bin"}
        table = [{"confidence from": round(float(lo), 2), "to": round(float(hi), 2), "rows": int(n),
                  "mean confidence": round(float(c), 4), "accuracy": round(float(a), 4)}
                 for lo, hi, n, c, a in zip(b["lower"], b["upper"], b["count"], b["confidence"], b["accuracy"])]
        return ctx.finding(
            "calibration", "predicted probabilities",
            f"On average the model's confidence is {fmt.number(point['ece'])} away from its accuracy "
            f"(expected calibration error over {self.config['calibration_bins']} bins; {self._ci(ci.get('ece'))}).",
            value=round(point["ece"], 6), evidence={"interval": _round_pair(ci.get("ece")), "table": table,
                                                    "charts": [chart]})

    def _ci(self, ci) -> str:
        return _ci_text(ci, self.config["confidence"])

    def _summary(self, point, ci, findings, regression, skipped) -> str:
        if regression:
            head = (f"R² {fmt.number(point['r2'])}, RMSE {fmt.number(point['rmse'])} and MAE "
                    f"{fmt.number(point['mae'])} on the data under audit")
        else:
            head = (f"Accuracy {fmt.number(point['accuracy'])}, balanced accuracy {fmt.number(point['balanced_accuracy'])} "
                    f"({self._ci(ci.get('balanced_accuracy'))})")
            if np.isfinite(point.get("roc_auc", np.nan)):
                head += f", ROC AUC {fmt.number(point['roc_auc'])}"
            head += " on the data under audit"
        bad = [f for f in findings if f.status != Status.PASS]
        words = {"model_performance": "below the minimum", "generalization_gap": "overfitting (train/data gap)",
                 "baseline_comparison": "little better than a trivial model", "calibration": "poorly calibrated"}
        tail = "; ".join(dict.fromkeys(f"{words[f.kind]} ({f.status.value})" for f in bad))
        text = head + (f"; {tail}" if tail else "; no quality problem at the policy's levels") + "."
        if "generalization_gap" in skipped:
            text += f" The train/data gap was not measured: {skipped['generalization_gap']}."
        return text


def _spark_metrics(full, full_trn, cur, trn) -> dict[str, Any]:
    """What the Spark engine computed over every row, and what stayed on the driver sample."""
    out: dict[str, Any] = {"point_figures": "every row (Spark)",
                           "intervals": "bootstrap on the driver sample"}
    for name, f, sample in (("data", full, cur), ("train", full_trn, trn)):
        if f is not None and sample is not None:
            out[name] = {"rows": int(f.rows), "driver_rows": int(len(sample[0]))}
            if f.auc_method:
                out[name]["roc_auc"] = {"method": f.auc_method, "max_error": round(f.auc_max_error, 9)}
    return out


def _subset(ds, idx):
    from riskaudit.data import Dataset

    arr = ds.array[idx] if ds.array is not None else None
    return Dataset(frame=ds.frame.iloc[idx].reset_index(drop=True), uri=ds.uri, sha256=ds.sha256,
                   kind=ds.kind, array=arr)


def _with_table(finding, table):
    from dataclasses import replace

    return replace(finding, evidence={**finding.evidence, "table": table})


def _ci_text(ci, confidence: float = 0.95, percent: bool = False) -> str:
    if ci is None:
        return "no interval"
    show = fmt.percent if percent else fmt.number
    return f"{confidence:.0%} interval {show(ci[0])} to {show(ci[1])}"


def _round_pair(ci) -> list[float] | None:
    return None if ci is None else [round(ci[0], 6), round(ci[1], 6)]


def _rounded(d: dict[str, Any]) -> dict[str, float | None]:
    return {k: (round(float(v), 6) if np.isfinite(v) else None) for k, v in d.items()}
