"""The ``drift`` checker: data drift, concept drift and model drift.

Compares the current dataset (``--data``) with the reference (``--reference``) and, for
model drift, the current scan's operational figures with an earlier report
(``--baseline``). The MMD test is alibi-detect's MMDDrift computed with torch, the per-feature
tests the scipy functions alibi-detect wraps (see :mod:`.stats`; alibi-detect is their oracle).

A feature (or the prediction / label distribution) is graded on its *effect size* — the
Wasserstein distance in reference standard deviations for numbers, sqrt(PSI) for
categories (about the same scale: PSI of a normal shifted by d SDs is about d**2) — and
only when its test is significant after the policy's multiple-testing correction: on large
samples every p-value is tiny, on small ones every effect is noisy; both must agree.

The figures of model drift are stored under ``metrics["model_performance"]`` (shape in
:mod:`.perf`) so that a later scan given this report as its baseline can compare them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from riskaudit import fmt
from riskaudit._lazy import lazy_module

from riskaudit.checks.base import Checker, CheckContext, CheckOutput, Kind, Need, Option
from riskaudit.coercion import coerce_frame
from riskaudit.masking import safe_example
from riskaudit.result import Severity, Status

from . import perf, stats

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_module("numpy")
    pd = lazy_module("pandas")

_NOTE_NO_MODEL = "no model was given (--model)"


def _coerced(ctx: CheckContext) -> CheckContext:
    """The context with both tables' stray values ("unknown" among numbers) read as missing,
    so a typo does not turn a numeric column into categories (data_validity reports them)."""
    keep = set(ctx.ids) | ({ctx.target} if ctx.target else set())
    out = {}
    for name in ("data", "reference"):
        ds = getattr(ctx, name)
        if ds is not None and ds.array is None:
            frame, _ = coerce_frame(ds.frame, keep)
            if frame is not ds.frame:
                out[name] = dataclasses.replace(ds, frame=frame)
    return dataclasses.replace(ctx, **out) if out else ctx


# What a shift is measured in, as the report's "effect unit" says it (the HTML's charts read
# "standard deviations"/"Wasserstein" in it to name the unit of the threshold).
_UNIT_WORDS = {"numeric": "standard deviations of the reference data (Wasserstein distance)",
               "categorical": "shift score (square root of the PSI)"}


def _pct(change: float, worse: str, better: str) -> str:
    if abs(change) < 0.005:
        return "no change"
    return f"{change:.0%} {worse}" if change > 0 else f"{-change:.0%} {better}"


class DriftChecker(Checker):
    id = "drift"
    description = ("Data drift (per feature and multivariate), prediction and label drift, concept "
                   "drift and model drift (latency, throughput, errors) against a baseline.")
    needs = frozenset({Need.DATA, Need.REFERENCE})
    priority = 80
    options = {
        "alpha": Option(0.05, "significance level of every test, before the correction", float,
                        minimum=1e-12, maximum=0.5),
        "correction": Option("bonferroni", "multiple-testing correction over the per-feature tests",
                             str, choices=("bonferroni", "fdr")),
        "max_rows": Option(200_000, "rows per dataset used by the per-feature tests (seeded subsample above)",
                           int, minimum=10),
        "max_categories": Option(50, "a text column with more distinct values than this is treated as an "
                                 "identifier or free text and not tested", int, minimum=2),
        "multivariate_method": Option("auto", "auto: MMD for numeric features, the classifier detector "
                                      "when categorical features are present", str,
                                      choices=("auto", "mmd", "classifier", "none")),
        "multivariate_sample": Option(600, "rows per dataset in the multivariate test on CPU (the MMD "
                                      "permutation test costs (2n)**2 per permutation)", int, minimum=20),
        "multivariate_sample_cuda": Option(5000, "rows per dataset in the multivariate test on CUDA", int,
                                           minimum=20),
        "classifier_sample": Option(2000, "rows per dataset in the classifier two-sample test (mixed "
                                    "types); it costs far less per row than MMD", int, minimum=20),
        "mmd_permutations": Option(100, "permutations of the MMD test (raised to what the policy's lowest "
                                   "multivariate_drift level needs: its p-value is at least 1/(permutations+1))",
                                   int, minimum=10),
        "mmd_sigma": Option(None, "RBF kernel bandwidth on standardized features (default sqrt(dimensions), "
                            "the median heuristic for standardized data)", float, minimum=1e-6, nullable=True),
        "image_size": Option(8, "images are average-pooled to this side length before the MMD test",
                             int, minimum=1, maximum=64),
        "model_rows": Option(5000, "rows per dataset used for prediction and concept drift", int, minimum=10),
        "bootstrap": Option(500, "bootstrap resamples of the performance change", int, minimum=50),
        "latency_batch_sizes": Option((1, 64, 512), "batch sizes timed for model drift", list, item_type=int),
        "latency_repeats": Option(20, "timed batches per batch size", int, minimum=3),
        "latency_noise_s": Option(0.005, "batch-time differences below this many seconds are timer and "
                                  "scheduler noise"
                                  " and count as no change", float, minimum=0.0),
        "max_charts": Option(8, "drifted features shown as overlaid histograms", int, minimum=0),
    }
    kinds = {
        "data_drift": Kind("Per-feature shift: Wasserstein distance in reference SDs (numeric) or "
                           "sqrt(PSI) (categorical); graded only when significant", "above",
                           fail=0.1, warn=0.05, severity=Severity.MEDIUM, unit="shift",
                           why="The people or cases the model sees now differ from those it was validated "
                               "on, so its validated accuracy and fairness may no longer hold.",
                           advice="Find out why this input changed (new population, new source, a bug); "
                                  "re-validate on recent data and retrain if performance dropped."),
        "multivariate_drift": Kind("p-value of the joint test (MMD or classifier)", "below",
                                   fail=0.01, warn=0.05, severity=Severity.MEDIUM, unit="p_value",
                                   why="Taken together, the inputs now differ from the validation data, "
                                       "even where no single column changed much.",
                                   advice="Compare recent data with the validation data feature by feature "
                                          "and re-validate the model on recent data."),
        "prediction_drift": Kind("shift of the model's outputs (same scale as data_drift), graded only "
                                 "when significant", "above", fail=0.2, warn=0.1, severity=Severity.MEDIUM,
                                 unit="shift",
                                 why="The model now gives a different mix of decisions than at validation; "
                                     "people may be approved or refused at a different rate.",
                                 advice="Check whether the change is explained by the inputs; if not, "
                                        "re-validate and recalibrate the model before deploying."),
        "label_drift": Kind("shift of the target (same scale as data_drift), graded only when significant",
                            "above", fail=0.2, warn=0.1, severity=Severity.MEDIUM, unit="shift",
                            why="The real outcomes are distributed differently than at validation, so the "
                                "model's error rates and thresholds may no longer fit.",
                            advice="Re-validate on recent labelled data and review the decision threshold."),
        "concept_drift": Kind("performance lost from reference to current (accuracy points; regression: "
                              "relative MAE increase), graded only when the error test is significant",
                              "above", fail=0.05, warn=0.02, severity=Severity.HIGH, unit="points",
                              why="The model is measurably less accurate on current data than at "
                                  "validation: more people get a wrong decision.",
                              advice="Retrain or recalibrate on recent data and re-run the audit before "
                                     "deploying."),
        "model_drift": Kind("relative degradation of latency or throughput against the baseline report",
                            "above", fail=1.0, warn=0.5, severity=Severity.MEDIUM, unit="relative", timed=True,
                            why="The model is slower than the approved version; service levels and "
                                "time-outs may be missed in production.",
                            advice="Profile the model against the approved version and check the hardware "
                                   "and batch settings it runs with."),
        "model_error_rate": Kind("share of failed batches plus non-finite outputs during the scan",
                                 "above", fail=0.01, warn=0.0, severity=Severity.HIGH, unit="share",
                                 why="Some inputs crash the model or give no usable answer; those cases get "
                                     "no decision or a wrong one.",
                                 advice="Reproduce the failing batches, fix the model or the input handling, "
                                        "and decide what production does when the model fails."),
    }

    # ------------------------------------------------------------------ entry
    def run(self, ctx: CheckContext) -> CheckOutput:
        ctx = _coerced(ctx)
        cfg = self.config
        findings: list = []
        metrics: dict[str, Any] = {}
        notes: list[str] = []
        cur, ref = ctx.data, ctx.reference
        assert cur is not None and ref is not None  # needs = {DATA, REFERENCE}
        is_images = (cur.array is not None and cur.array.ndim > 2) or (ref.array is not None and ref.array.ndim > 2)

        ctx.progress(0.05, "per-feature drift")
        drifted: list[str] = []
        n_tested = 0
        if is_images:
            findings += self._images(ctx, metrics)
            notes.append("images were compared as a whole (multivariate drift)")
        else:
            rows, charts, drifted, n_tested = self._features(ctx, findings, metrics)
            metrics["features"] = rows[:50]  # sorted by effect size; the charts sit on the findings
            ctx.progress(0.35, "multivariate drift")
            if cfg["multivariate_method"] != "none":
                mv = self._multivariate(ctx, metrics)
                if mv is not None:
                    findings.append(mv)
        ctx.progress(0.5, "label drift")
        lab = self._label_drift(ctx)
        if lab is not None:
            findings.append(lab)
        ctx.progress(0.6, "prediction and concept drift")
        if ctx.model is None:
            notes.append(f"prediction, concept and model drift were skipped: {_NOTE_NO_MODEL}")
            metrics["skipped"] = {k: _NOTE_NO_MODEL for k in
                                  ("prediction_drift", "concept_drift", "model_drift")}
        else:
            findings += self._model_kinds(ctx, metrics, notes)
        summary = self._summary(ctx, findings, drifted, n_tested, is_images, notes)
        if notes:
            metrics["notes"] = notes
        return CheckOutput(findings=findings, summary=summary, metrics=metrics)

    # ------------------------------------------------------------------ helpers
    def _graded(self, ctx, kind, subject, message, value, significant, evidence):
        lv = ctx.levels[kind]
        if significant:
            return ctx.finding(kind, subject, message, value=value, evidence=evidence)
        return ctx.finding(kind, subject, message, value=value, status=Status.PASS,
                           threshold=lv.fail if lv.fail is not None else lv.warn, evidence=evidence)

    def _sample(self, ctx, frame: pd.DataFrame, n: int, name: str) -> pd.DataFrame:
        if len(frame) <= n:
            return frame
        idx = np.sort(ctx.rng(name).choice(len(frame), n, replace=False))
        return frame.iloc[idx]

    def _split_features(self, ctx):
        cur, ref = ctx.data.frame, ctx.reference.frame
        numeric, categorical, skipped = [], [], {}
        for f in ctx.features:
            if f not in cur.columns or f not in ref.columns:
                skipped[f] = "missing from " + ("the current data" if f not in cur.columns else "the reference")
                continue
            if f in ctx.data.unsupported or f in ctx.reference.unsupported:
                skipped[f] = "nested values (lists, structs or maps) are not supported"
                continue
            a, b = ref[f], cur[f]
            num = all(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in (a, b))
            if num:
                if a.notna().sum() < 2 or b.notna().sum() < 2:
                    skipped[f] = "fewer than 2 values in one dataset"
                    continue
                numeric.append(f)
            else:
                if a.nunique(dropna=False) > self.config["max_categories"]:
                    skipped[f] = (f"more than {self.config['max_categories']} distinct values "
                                  "(identifier or free text)")
                    continue
                categorical.append(f)
        return numeric, categorical, skipped

    # ------------------------------------------------------------------ per feature
    def _features(self, ctx, findings, metrics):
        cfg = self.config
        numeric, categorical, skipped = self._split_features(ctx)
        if skipped:
            metrics["skipped_features"] = skipped
        ref = self._sample(ctx, ctx.reference.frame, cfg["max_rows"], "rows-reference")
        cur = self._sample(ctx, ctx.data.frame, cfg["max_rows"], "rows-current")
        res: dict[str, dict[str, Any]] = {}
        num_values = self._numeric_tests(ref, cur, numeric, skipped, res)
        cat_codes = self._categorical_tests(ref, cur, categorical, res)
        if res and _on_spark(ctx):  # --engine spark, tables larger than the sample: effects of every row
            from riskaudit.checks.drift import spark as on_spark

            for f, eff in on_spark.numeric_effects(ctx.data.spark_frame, ctx.reference.spark_frame, ref,
                                                   [f for f in res if f in num_values]).items():
                res[f].update(eff)
            counts = [on_spark.category_counts(d.spark_frame, [f for f in res if f in cat_codes])
                      for d in (ctx.reference, ctx.data)]
            for f in counts[0]:
                res[f].update(on_spark.categorical_effects(counts[0][f], counts[1][f]))
            metrics["effect_sizes"] = on_spark.METHOD
            ctx.data.distributed.add("drift")
        if not res:
            metrics["features_tested"] = 0
            return [], [], [], 0
        thr = stats.corrected_threshold(np.array([v["p_value"] for v in res.values()]),
                                        cfg["alpha"], cfg["correction"])
        rows, charts, drifted = self._feature_findings(ctx, findings, res, thr, num_values, cat_codes)
        metrics["features_tested"] = len(res)
        metrics["p_value_threshold"] = thr
        return rows, charts, drifted, len(res)

    def _numeric_tests(self, ref, cur, numeric, skipped, res) -> dict[str, tuple[Any, Any]]:
        """KS test and effect sizes per numeric feature into ``res``; the finite values kept."""
        num_values = {}
        for f in numeric:
            r = pd.to_numeric(ref[f], errors="coerce").to_numpy(dtype=np.float64)
            c = pd.to_numeric(cur[f], errors="coerce").to_numpy(dtype=np.float64)
            r, c = r[np.isfinite(r)], c[np.isfinite(c)]
            if len(r) < 2 or len(c) < 2:
                skipped[f] = "fewer than 2 finite values in one dataset"
                continue
            num_values[f] = (r, c)
        if num_values:
            # KSDrift tests columns of one matrix: equal lengths per column are not needed by
            # the statistic, so columns with NaN are tested one by one.
            full = [f for f, (r, c) in num_values.items() if len(r) == len(ref) and len(c) == len(cur)]
            if full:
                p, d = stats.ks_pvalues(np.column_stack([num_values[f][0] for f in full]),
                                        np.column_stack([num_values[f][1] for f in full]))
                for i, f in enumerate(full):
                    res[f] = {"type": "numeric", "test": "KS", "statistic": d[i], "p_value": p[i]}
            for f in num_values:
                if f not in res:
                    p, d = stats.ks_pvalues(num_values[f][0][:, None], num_values[f][1][:, None])
                    res[f] = {"type": "numeric", "test": "KS", "statistic": d[0], "p_value": p[0]}
            for f, (r, c) in num_values.items():
                res[f].update(stats.numeric_effects(r, c))
        return num_values

    def _categorical_tests(self, ref, cur, categorical, res) -> dict[str, tuple[Any, Any, Any]]:
        """Chi-squared test and effect sizes per categorical feature into ``res``; the codes."""
        cat_codes = {}
        for f in categorical:
            rc, cc, cats = stats.encode_categories(ref[f], cur[f])
            cat_codes[f] = (rc, cc, cats)
        if cat_codes:
            fs = list(cat_codes)
            p, d = stats.chi2_pvalues(np.column_stack([cat_codes[f][0] for f in fs]),
                                      np.column_stack([cat_codes[f][1] for f in fs]),
                                      [len(cat_codes[f][2]) for f in fs])
            for i, f in enumerate(fs):
                rc, cc, cats = cat_codes[f]
                res[f] = {"type": "categorical", "test": "chi-squared", "statistic": d[i], "p_value": p[i],
                          **stats.categorical_effects(rc, cc, len(cats))}
        return cat_codes

    def _feature_findings(self, ctx, findings, res, thr, num_values, cat_codes):
        """One ``data_drift`` finding per tested feature, largest shift first; a chart for each
        drifted one (up to ``max_charts``)."""
        cfg = self.config
        pii = ctx.shared.get("pii_columns")
        rows, drifted = [], []
        charts: list[dict[str, Any]] = []
        for f in sorted(res, key=lambda f: -res[f]["effect"]):
            v = res[f]
            sig = bool(v["p_value"] < thr)
            unit = _UNIT_WORDS[v["type"]]
            ev = {"test": v["test"], "statistic": v["statistic"], "p_value": v["p_value"],
                  "p_value_threshold": thr, "correction": cfg["correction"], "significant": sig,
                  "psi": v["psi"], "effect_unit": unit}
            if v["type"] == "numeric":
                ev["wasserstein_sd"] = v["wasserstein_sd"]
            else:
                ev["js_distance"] = v["js_distance"]
            msg = (f"Feature {f!r} shifted by {_shift(v['effect'], v['type'])} ({fmt.p_value(v['p_value'])}, "
                   f"significance level {fmt.number(thr, 2)}; policy {{status}} level {{threshold}}).")
            fnd = self._graded(ctx, "data_drift", f, msg, float(v["effect"]), sig, ev)
            if fnd.status != Status.PASS:
                drifted.append(f)
                if len(charts) < cfg["max_charts"]:
                    if v["type"] == "numeric":
                        chart = stats.numeric_histogram(str(f), *num_values[f])
                    else:
                        rc, cc, cats = cat_codes[f]
                        k = len(cats)
                        labels = [str(safe_example(c, f, pii)) for c in cats]
                        chart = stats.categorical_histogram(str(f), labels, np.bincount(rc, minlength=k) / len(rc),
                                                            np.bincount(cc, minlength=k) / len(cc))
                    charts.append(chart)
                    fnd = dataclasses.replace(fnd, evidence={**fnd.evidence, "charts": [chart]})
            findings.append(fnd)
            rows.append({"feature": f, "type": v["type"], "test": v["test"], "effect": round(v["effect"], 4),
                         "psi": round(v["psi"], 4), "p_value": float(f"{v['p_value']:.3g}"),
                         "significant": sig, "status": fnd.status.value})
        return rows, charts, drifted

    # ------------------------------------------------------------------ multivariate
    def _permutations(self, ctx) -> int:
        """The MMD test's permutations: the option, raised so that the smallest p-value the
        test can give, 1 / (permutations + 1), is below the policy's lowest level for
        ``multivariate_drift`` (50 permutations could never reach p < 0.01: every drift
        would stop at warn)."""
        lv = ctx.levels.get("multivariate_drift")
        levels = [x for x in ((lv.fail, lv.warn) if lv else ()) if x is not None and x > 0]
        need = math.ceil(1 / min(levels)) if levels else 0
        return int(max(self.config["mmd_permutations"], min(need, 10_000)))

    def _standardized(self, ctx, numeric, categorical, n):
        ref = self._sample(ctx, ctx.reference.frame, n, "mv-reference")
        cur = self._sample(ctx, ctx.data.frame, n, "mv-current")
        parts_r, parts_c, mask = [], [], []
        for f in numeric:
            r = pd.to_numeric(ref[f], errors="coerce").to_numpy(np.float64)
            c = pd.to_numeric(cur[f], errors="coerce").to_numpy(np.float64)
            full = ctx.reference.frame[f]
            mu, sd = float(np.nanmean(full.to_numpy(np.float64))), float(np.nanstd(full.to_numpy(np.float64)))
            sd = sd if sd > 0 else 1.0
            r, c = (np.nan_to_num((r - mu) / sd, nan=0.0, posinf=0, neginf=0),
                    np.nan_to_num((c - mu) / sd, nan=0.0, posinf=0, neginf=0))
            parts_r.append(r)
            parts_c.append(c)
            mask.append(False)
        for f in categorical:
            rc, cc, _ = stats.encode_categories(ref[f], cur[f])
            parts_r.append(rc.astype(np.float64))
            parts_c.append(cc.astype(np.float64))
            mask.append(True)
        return np.column_stack(parts_r), np.column_stack(parts_c), np.array(mask, bool)

    def _multivariate(self, ctx, metrics):
        cfg = self.config
        numeric, categorical, _ = self._split_features(ctx)
        if not numeric and not categorical:
            return None
        method = cfg["multivariate_method"]
        if method == "auto":
            method = "classifier" if categorical else "mmd"
        cuda = ctx.device.startswith("cuda")
        if method == "classifier":
            n = cfg["classifier_sample"]
        else:
            n = cfg["multivariate_sample_cuda"] if cuda else cfg["multivariate_sample"]
        xr, xc, mask = self._standardized(ctx, numeric, categorical if method == "classifier" else [], n)
        if len(xr) < 10 or len(xc) < 10:
            return None
        seed = ctx.seed_for("multivariate")
        if method == "mmd":
            out = stats.mmd_test(xr, xc, seed=seed, device="cuda" if cuda else "cpu",
                                 n_permutations=self._permutations(ctx), sigma=cfg["mmd_sigma"])
        else:
            out = stats.classifier_test(xr, xc, mask, seed=seed)
        out.update({"features": len(mask), "sample_reference": len(xr), "sample_current": len(xc)})
        metrics["multivariate"] = out
        name = "MMD" if method == "mmd" else "classifier two-sample"
        msg = (f"Test of all {len(mask):,} features together on {fmt.number(len(xr))} + {fmt.number(len(xc))} "
               f"sampled rows ({name}): {{value_text}} (policy {{status}} level {{threshold}}).")
        return ctx.finding("multivariate_drift", "all features", msg, value=out["p_value"], evidence=out)

    # ------------------------------------------------------------------ images
    def _image_repr(self, ctx, ds, n, name):
        arr = ds.array
        if arr is None or arr.ndim < 3:
            return None, ""
        idx = np.arange(len(arr)) if len(arr) <= n else np.sort(ctx.rng(name).choice(len(arr), n, replace=False))
        x = np.asarray(arr[idx], dtype=np.float32)
        if x.ndim == 3:
            x = x[:, None]
        rep, why_not = self._penultimate(ctx, x)
        if rep is not None:
            return rep, "penultimate layer of the model"
        s = self.config["image_size"]
        import torch

        with torch.no_grad():
            t = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(np.ascontiguousarray(x.reshape(
                len(x), -1, x.shape[-2], x.shape[-1]))), (min(s, x.shape[-2]), min(s, x.shape[-1])))
        return t.reshape(len(x), -1).numpy(), f"{s}x{s} average-pooled pixels" + (f" ({why_not})" if why_not else "")

    def _penultimate(self, ctx, x):
        """The inputs of the model's last linear layer for ``x``, or None and why not."""
        m = ctx.model
        if m is None or m.module is None:
            return None, ""
        import torch

        if isinstance(m.module, torch.jit.ScriptModule):
            return None, "the penultimate layer of a TorchScript model cannot be hooked"
        linears = [mod for mod in m.module.modules() if isinstance(mod, torch.nn.Linear)]
        if not linears:
            return None, "the model has no linear layer to read a representation from"
        got = []
        handle = linears[-1].register_forward_pre_hook(lambda mod, inp: got.append(inp[0].detach().float().cpu()))
        was_training = m.module.training
        try:
            m.module.eval()
            m.forward(x, batch_size=256, seed=ctx.seed_for("penultimate"), record=False)
        except Exception as exc:  # the model rejects these inputs: fall back, and say why
            return None, f"reading the penultimate layer failed: {type(exc).__name__}: {str(exc)[:160]}"
        finally:
            handle.remove()
            m.module.train(was_training)
        if not got:
            return None, "the last linear layer was never called"
        return torch.cat([g.reshape(len(g), -1) for g in got]).numpy(), ""

    def _images(self, ctx, metrics):
        cfg = self.config
        n = cfg["multivariate_sample_cuda"] if ctx.device.startswith("cuda") else cfg["multivariate_sample"]
        xr, how = self._image_repr(ctx, ctx.reference, n, "img-reference")
        xc, how_c = self._image_repr(ctx, ctx.data, n, "img-current")
        if xr is None or xc is None or xr.shape[1] != xc.shape[1]:
            return [ctx.finding("multivariate_drift", "images", "The reference and current samples are not "
                                "images of the same shape, so image drift could not be tested.",
                                status=Status.WARN, evidence={"representation": how or how_c})]
        mu, sd = xr.mean(0), xr.std(0)
        sd[sd == 0] = 1.0
        out = stats.mmd_test((xr - mu) / sd, (xc - mu) / sd, seed=ctx.seed_for("images"),
                             device="cuda" if ctx.device.startswith("cuda") else "cpu",
                             n_permutations=self._permutations(ctx), sigma=cfg["mmd_sigma"])
        out.update({"representation": how, "dimensions": int(xr.shape[1]),
                    "sample_reference": len(xr), "sample_current": len(xc)})
        metrics["multivariate"] = out
        msg = (f"Test of the images on {fmt.number(len(xr))} + {fmt.number(len(xc))} samples (MMD on {how}): "
               "{value_text} (policy {status} level {threshold}).")
        return [ctx.finding("multivariate_drift", "images", msg, value=out["p_value"], evidence=out)]

    # ------------------------------------------------------------------ labels
    def _distribution_shift(self, ctx, kind, subject, what, r, c, categorical, effects=None):
        cfg = self.config
        if categorical:
            rc, cc, cats = stats.encode_categories(pd.Series(r), pd.Series(c))
            p, d = stats.chi2_pvalues(rc[:, None], cc[:, None], [len(cats)])
            eff = effects or stats.categorical_effects(rc, cc, len(cats))
            k = len(cats)
            rs, cs = np.bincount(rc, minlength=k) / len(rc), np.bincount(cc, minlength=k) / len(cc)
            chart = stats.categorical_histogram(subject, [str(x) for x in cats], rs, cs)
            test, unit, kind_ = "chi-squared", _UNIT_WORDS["categorical"], "categorical"
        else:
            r = np.asarray(r, np.float64)
            c = np.asarray(c, np.float64)
            r, c = r[np.isfinite(r)], c[np.isfinite(c)]
            if len(r) < 2 or len(c) < 2:
                return None
            p, d = stats.ks_pvalues(r[:, None], c[:, None])
            eff = stats.numeric_effects(r, c)
            chart = stats.numeric_histogram(subject, r, c)
            test, unit, kind_ = "KS", _UNIT_WORDS["numeric"], "numeric"
        sig = bool(p[0] < cfg["alpha"])
        ev = {"test": test, "statistic": d[0], "p_value": p[0], "significant": sig, "psi": eff["psi"],
              "effect_unit": unit, "charts": [chart]}
        msg = (f"{what} shifted by {_shift(eff['effect'], kind_)} ({fmt.p_value(p[0])}; policy {{status}} "
               f"level {{threshold}}).")
        return self._graded(ctx, kind, subject, msg, float(eff["effect"]), sig, ev)

    def _label_drift(self, ctx):
        t = ctx.target
        if not t or not ctx.data.has_column(t) or not ctx.reference.has_column(t):
            return None
        r, c = ctx.reference.frame[t], ctx.data.frame[t]
        categorical = ctx.task == "classification" or not (
            pd.api.types.is_numeric_dtype(r) and pd.api.types.is_numeric_dtype(c))
        if categorical and r.nunique(dropna=False) > max(self.config["max_categories"], 2 * len(ctx.classes or ())):
            return None
        effects = None
        if categorical and _on_spark(ctx):  # the labels of every row
            from riskaudit.checks.drift import spark as on_spark

            ref, cur = (on_spark.value_counts(d, t) for d in (ctx.reference, ctx.data))
            effects = on_spark.categorical_effects(ref, cur)
        return self._distribution_shift(ctx, "label_drift", t, f"The distribution of the target {t!r}",
                                        r.to_numpy(), c.to_numpy(), categorical, effects=effects)

    # ------------------------------------------------------------------ model
    def _model_kinds(self, ctx, metrics, notes):
        cfg = self.config
        out = []
        ref = self._sample(ctx, ctx.reference.frame, cfg["model_rows"], "model-reference")
        cur = self._sample(ctx, ctx.data.frame, cfg["model_rows"], "model-current")
        from riskaudit.data import Dataset

        def subset(ds, frame):
            arr = ds.array[frame.index.to_numpy()] if ds.array is not None else None
            return Dataset(frame=frame, uri=ds.uri, sha256=ds.sha256, kind=ds.kind, array=arr)

        dref, dcur = subset(ctx.reference, ref), subset(ctx.data, cur)
        pred_ref = pred_cur = None
        try:
            xr, xc = ctx.model_inputs(dref), ctx.model_inputs(dcur)
            seed = ctx.seed_for("predictions")
            raw_r = ctx.model.forward(xr, seed=seed)
            raw_c = ctx.model.forward(xc, seed=seed)
            pred_ref, pred_cur = raw_r, raw_c
        except Exception as exc:  # the model or its inputs failed: say so, keep going
            notes.append(f"the model could not predict ({type(exc).__name__}: {exc})")
            metrics["skipped"] = {"prediction_drift": str(exc), "concept_drift": str(exc)}
            xc = None
        if pred_ref is not None and pred_cur is not None:  # set together
            from riskaudit.model import to_proba

            if ctx.task == "regression":
                vr = pred_ref.reshape(len(pred_ref), -1)[:, 0]
                vc = pred_cur.reshape(len(pred_cur), -1)[:, 0]
                f = self._distribution_shift(ctx, "prediction_drift", "predictions", "The model's predictions",
                                             vr, vc, False)
            else:
                lr, lc = to_proba(pred_ref).argmax(1), to_proba(pred_cur).argmax(1)
                names = list(ctx.classes) if ctx.classes else None
                if names and len(names) > max(lr.max(), lc.max()):
                    lr = np.array([str(names[i]) for i in lr], dtype=object)
                    lc = np.array([str(names[i]) for i in lc], dtype=object)
                f = self._distribution_shift(ctx, "prediction_drift", "predicted class",
                                             "The distribution of predicted classes", lr, lc, True,
                                             effects=self._full_predictions(ctx, metrics, notes))
            if f is not None:
                out.append(f)
            c = self._concept(ctx, dref, dcur, pred_ref, pred_cur, metrics, notes)
            if c is not None:
                out.append(c)
        ctx.progress(0.85, "model drift")
        out += self._model_drift(ctx, xc, metrics)
        return out

    def _full_predictions(self, ctx, metrics, notes) -> dict[str, float] | None:
        """On the Spark engine with a table larger than its sample: the shift of the predicted
        classes of every row of both tables (the chi-squared test stays on the sample)."""
        if not _on_spark(ctx):
            return None
        from riskaudit.checks.drift import spark as on_spark

        try:
            ref, cur = (on_spark.predicted_counts(d, ctx.model, list(ctx.features)) for d in (ctx.reference, ctx.data))
        except Exception as exc:  # a model that cannot travel to the executors: the sample's figures
            notes.append(f"Spark engine: predicted classes on the driver sample ({type(exc).__name__}: "
                         f"{str(exc)[:200]})")
            return None
        names = [str(c) for c in ctx.classes or ()]
        metrics["predicted_classes"] = {role: {names[k] if k < len(names) else str(k): n for k, n in sorted(got.items())}
                                        for role, got in (("reference", ref), ("current", cur))}
        return on_spark.categorical_effects(ref, cur)

    def _concept(self, ctx, dref, dcur, pred_ref, pred_cur, metrics, notes):
        cfg = self.config
        t = ctx.target
        if not t or not dcur.has_column(t) or not dref.has_column(t):
            notes.append("concept drift needs the target in both datasets")
            return None
        rng = ctx.rng("bootstrap")
        if ctx.task == "regression":
            yr = pd.to_numeric(dref.frame[t], errors="coerce").to_numpy(np.float64)
            yc = pd.to_numeric(dcur.frame[t], errors="coerce").to_numpy(np.float64)
            er = np.abs(pred_ref.reshape(len(pred_ref), -1)[:, 0] - yr)
            ec = np.abs(pred_cur.reshape(len(pred_cur), -1)[:, 0] - yc)
            er, ec = er[np.isfinite(er)], ec[np.isfinite(ec)]
            if len(er) < 5 or len(ec) < 5:
                return None
            base = max(er.mean(), 1e-12)
            value = ec.mean() / base - 1.0
            br = er[rng.integers(0, len(er), (cfg["bootstrap"], len(er)))].mean(1)
            bc = ec[rng.integers(0, len(ec), (cfg["bootstrap"], len(ec)))].mean(1)
            boot = bc / np.maximum(br, 1e-12) - 1.0
            p = stats.cvm_losses(er, ec)
            perf_ref, perf_cur, label, test = float(er.mean()), float(ec.mean()), "mean absolute error", "CVM on absolute errors"
            what = (f"Mean absolute error {'rose' if value >= 0 else 'fell'} by {fmt.percent(abs(value))} "
                    "from reference to current data")
        else:
            if not ctx.classes:
                return None
            from riskaudit.model import to_proba

            yr, yc = ctx.label_indices(dref), ctx.label_indices(dcur)
            kr, kc = yr >= 0, yc >= 0
            if kr.sum() < 5 or kc.sum() < 5:
                return None
            cr = (to_proba(pred_ref).argmax(1) == yr)[kr].astype(np.int64)
            cc = (to_proba(pred_cur).argmax(1) == yc)[kc].astype(np.int64)
            value = float(cr.mean() - cc.mean())
            br = cr[rng.integers(0, len(cr), (cfg["bootstrap"], len(cr)))].mean(1)
            bc = cc[rng.integers(0, len(cc), (cfg["bootstrap"], len(cc)))].mean(1)
            boot = br - bc
            p = stats.fet_errors(1 - cr, 1 - cc)
            perf_ref, perf_cur, label = float(cr.mean()), float(cc.mean()), "accuracy"
            test = "one-sided Fisher exact test on errors"
            what = (f"Accuracy {'fell' if value >= 0 else 'rose'} by {fmt.points(abs(value))} "
                    f"({fmt.percent(perf_ref)} -> {fmt.percent(perf_cur)}) from reference to current data")
            if (~kc).any():
                notes.append(f"{int((~kc).sum())} current labels are not classes of the model and were left out")
        lo, hi = np.percentile(boot, [2.5, 97.5])
        sig = bool(p < cfg["alpha"])
        ev = {"metric": label, "reference": perf_ref, "current": perf_cur, "change": value,
              "interval_95": [float(lo), float(hi)], "bootstrap": cfg["bootstrap"], "test": test,
              "p_value": p, "significant": sig, "rows_reference": int(len(dref.frame)),
              "rows_current": int(len(dcur.frame)),
              "charts": [{"type": "bar", "title": f"{label}: reference vs current",
                          "labels": ["reference", "current"], "values": [perf_ref, perf_cur]}]}
        metrics["concept"] = {k: ev[k] for k in ("metric", "reference", "current", "change", "interval_95", "p_value")}
        shown = (lo, hi) if value >= 0 else (-hi, -lo)  # the interval of the change the message names
        if label == "accuracy":
            span, level = f"{fmt.number(shown[0] * 100)} to {fmt.points(shown[1])}", "{threshold_text}"
        else:  # a relative change of the error
            span, level = f"{fmt.percent(shown[0])} to {fmt.percent(shown[1])}", "{threshold_percent}"
        msg = f"{what} (95 % interval {span}; {fmt.p_value(p)}, {test}; policy {{status}} level {level})."
        return self._graded(ctx, "concept_drift", label, msg, value, sig, ev)

    def _model_drift(self, ctx, xc, metrics):
        cfg = self.config
        if xc is None:
            return []
        if getattr(ctx.model, "stored_columns", None):  # a table of predictions has no latency
            metrics.setdefault("skipped", {})["model_drift"] = ("only stored predictions were given "
                                                                "(--predictions/--scores)")
            return []
        ctx.quiet()  # timings with the machine to the scan alone
        figs = perf.measure(ctx.model, xc, cfg["latency_batch_sizes"], cfg["latency_repeats"],
                            ctx.seed_for("latency"))
        metrics["model_performance"] = figs
        out = []
        err = figs["error_rate"]
        base = perf.baseline_figures(ctx.baseline)
        if base is not None and isinstance(base.get("error_rate"), (int, float)):
            err_value = max(err - float(base["error_rate"]), 0.0)
            err_msg = (f"Error rate {fmt.percent(err)} during the scan against {fmt.percent(float(base['error_rate']))} "
                       "in the baseline (increase {value_text}; policy {status} level {threshold_text}).")
        else:
            err_value = err
            err_msg = ("Error rate during the scan (failed batches plus non-finite outputs) is {value_text} "
                       "(policy {status} level {threshold_text}).")
        out.append(ctx.finding("model_error_rate", "model", err_msg, value=float(err_value),
                               evidence={"exception_rate": figs["exception_rate"],
                                         "nonfinite_rate": figs["nonfinite_rate"],
                                         "exceptions": ctx.model.errors, "nonfinite_outputs": ctx.model.nonfinite}))
        lat_table = [{"batch_size": bs, **v} for bs, v in figs["latency_s"].items()]
        if base is None:
            out.append(ctx.finding(
                "model_drift", "model",
                "No baseline report exists for this model, so latency and throughput could not be compared; "
                f"they were recorded (throughput {fmt.number(figs['throughput_per_s'] or 0)} samples per second) "
                "for later scans.",
                status=Status.PASS, evidence={"table": lat_table, "baseline": None,
                                              "advice": "Scan again with --baseline PATH/report.json of this run."}))
            return out
        rows = perf.comparisons(figs, base, cfg["latency_noise_s"])
        if not rows:
            out.append(ctx.finding("model_drift", "model", "The baseline report holds no figures for the batch "
                                   "sizes measured now, so nothing could be compared.", status=Status.PASS,
                                   evidence={"table": lat_table}))
            return out
        for r in rows:
            if r["figure"].startswith("latency"):
                msg = (f"{r['figure'].capitalize()} is {_seconds(r['current'])} against {_seconds(r['baseline'])} in the "
                       f"baseline: {_pct(r['change'], 'slower', 'faster')} (policy {{status}} level {{threshold_text}}).")
            else:
                msg = (f"{r['figure'].capitalize()} is {fmt.number(r['current'])} samples per second against "
                       f"{fmt.number(r['baseline'])} "
                       f"in the baseline: the same work takes {_pct(r['change'], 'longer', 'less time')} (policy {{status}} "
                       "level {threshold_text}).")
            out.append(ctx.finding("model_drift", r["figure"], msg, value=float(r["change"]), evidence=r))
        metrics["model_performance_change"] = rows
        return out

    # ------------------------------------------------------------------ summary
    def _summary(self, ctx, findings, drifted, n_tested, is_images, notes):
        parts = []
        if is_images:
            mv = [f for f in findings if f.kind == "multivariate_drift"]
            parts.append("The images have shifted." if mv and mv[0].status != Status.PASS
                         else "The images have not shifted measurably.")
        elif n_tested:
            if drifted:
                parts.append(f"{len(drifted):,} of {n_tested:,} inputs {'has' if len(drifted) == 1 else 'have'} shifted; "
                             f"the largest is {drifted[0]}.")
            else:
                parts.append(f"None of the {n_tested} inputs has shifted measurably.")
        else:
            parts.append("No input could be compared.")
        for kind, text in (("label_drift", "the labels have shifted"),
                           ("prediction_drift", "the model's predictions have shifted"),
                           ("concept_drift", "the model performs worse on current data (concept drift)"),
                           ("model_drift", "the model is slower than in its baseline report"),
                           ("model_error_rate", "the model produced errors")):
            if any(f.kind == kind and f.status != Status.PASS for f in findings):
                parts.append(text[0].upper() + text[1:] + ".")
        if ctx.train is None and any(f.kind == "concept_drift" and f.status != Status.PASS for f in findings):
            parts.append("No training data was given (--train): if the reference is the training data, this "
                         "concept drift is the train/test gap, not a change since validation; give held-out "
                         "data as --reference and the training data as --train.")
        if any(f.kind == "model_drift" and f.evidence.get("baseline", 0) is None for f in findings):
            parts.append("No baseline report exists for model drift.")
        if ctx.model is None:
            parts.append("Prediction, concept and model drift were not checked: no model was given.")
        return " ".join(parts)


def _on_spark(ctx) -> bool:
    """The Spark engine with a table larger than its driver sample (else the driver frames
    are the whole tables and drift runs as on the pandas engine)."""
    return all(getattr(d, "spark_frame", None) is not None for d in (ctx.data, ctx.reference)) and \
        bool(ctx.data.sampled or ctx.reference.sampled)


def _shift(effect: float, kind: str) -> str:
    """A distribution shift in words: standard deviations of the reference (numeric) or a
    shift score (categorical, the square root of the PSI)."""
    if kind == "numeric":
        return f"{fmt.sd(effect)} of the reference data (Wasserstein)"
    return f"{fmt.number(effect, 2)} on the shift scale (square root of the PSI)"


def _seconds(s: float) -> str:
    return f"{fmt.number(s * 1000)} ms" if s < 1 else f"{fmt.number(s)} s"
