"""data_validity: is the data fit to judge and train a model on?

great-expectations validates the columns (see :mod:`.expectations`); the row-level checks
it lacks (duplicates, train/test leakage, conflicting and inconsistent labels, rare
classes, empty samples, outliers, representation) are in :mod:`.rows`; image and tensor
datasets in :mod:`.images`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Mapping

from riskaudit import fmt
from riskaudit._lazy import lazy_module

from riskaudit.checks.base import CheckContext, Checker, CheckOutput, Kind, Need, Option, OptionError
from riskaudit.checks.data_validity import expectations as gxs
from riskaudit.checks.data_validity import images as img
from riskaudit.data import ARRAY_FEATURE
from riskaudit.masking import safe_example
from riskaudit.result import Finding, Severity, Status

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import riskaudit.checks.data_validity.rows as rw
    import riskaudit.coercion as coercion
else:
    np = lazy_module("numpy")
    pd = lazy_module("pandas")
    rw = lazy_module("riskaudit.checks.data_validity.rows")
    coercion = lazy_module("riskaudit.coercion")

_PHRASES = {
    "expect_column_values_to_not_be_null": "are missing",
    "expect_column_values_to_be_in_set": "are not among the values seen in the reference data",
    "expect_column_values_to_be_unique": "repeat another row's value",
}


class DataValidityChecker(Checker):
    id = "data_validity"
    description = ("Is the data fit to judge and train a model on: column validation with "
                   "great-expectations, duplicates, leakage, label problems, rare classes.")
    needs = frozenset({Need.DATA})
    priority = 20  # after pii (10): example values of personal-data columns are masked
    options = {
        "range_margin": Option(0.5, "Inferred numeric ranges are the reference's [min, max] "
                               "widened by this fraction of its span on each side (a column "
                               "never negative in the reference stays at >= 0).", minimum=0.0),
        "null_margin": Option(0.05, "A column may have this much larger a share of missing "
                              "values than the reference before missing_values is reported.",
                              minimum=0.0, maximum=1.0),
        "max_categories": Option(50, "A text column with at most this many distinct values in "
                                 "the reference is categorical: new values are out_of_range.",
                                 minimum=1),
        "expectations": Option((), "Explicit great-expectations expectations: a list of "
                               "{type: expect_..., kwargs: {...}} (the names and arguments of "
                               "great-expectations 1.x). Any failure is a `fail` finding.",
                               type=(list, tuple), item_type=dict),
        "outlier_method": Option("robust_z", "Outliers per numeric column: robust z-score "
                                 "(median/MAD) or the IQR rule.", choices=("robust_z", "iqr")),
        "robust_z": Option(3.5, "Robust z-score beyond which a value is an outlier "
                           "(Iglewicz & Hoaglin's 3.5).", minimum=0.5),
        "iqr_k": Option(3.0, "IQR multiplier of the IQR rule (Tukey's 'far out' fence 3.0).",
                        minimum=0.1),
        "chance_ratio": Option(0.5, "Duplicates, leakage and conflicting labels are not failed "
                               "(at most warn) when the columns' values shuffled independently "
                               "give at least this share of the observed count by chance: the "
                               "feature space has too few distinct rows for identical rows to "
                               "be a defect. 0 turns the rule off.", minimum=0.0, maximum=1.0),
    }
    kinds = {
        "missing_values": Kind("Share of a column's values missing beyond what the reference "
                               "allows.", fail=0.1, warn=0.0, severity=Severity.MEDIUM, unit="share",
                               why="Rows with gaps are scored on guesses or dropped; if the gaps fall on "
                                   "some groups more than others, those people get worse decisions.",
                               advice="Find where the values are lost (form, export, join) and fix the "
                                      "source; if they are truly unknown, impute them the same way in "
                                      "training and in production and record how."),
        "out_of_range": Kind("Share of a column's values outside the expected range or set.",
                             fail=0.01, warn=0.0, severity=Severity.HIGH, unit="share",
                             why="Impossible values (a negative age, a ratio above 1) mean broken input "
                                 "data; the model's answers for those rows cannot be trusted.",
                             advice="Look at the example rows, correct or remove the impossible values at "
                                    "their source, and add a validation rule that rejects them on entry."),
        "type_mismatch": Kind("Share of a column's values of an unexpected type.", fail=0.01,
                              warn=0.0, severity=Severity.HIGH, unit="share",
                              why="Text where a number is expected is silently turned into a missing or "
                                  "wrong value, so the affected rows are scored on corrupted input.",
                              advice="Fix the export or parsing that produced the wrong type and re-run the "
                                     "audit on the corrected data."),
        "schema_mismatch": Kind("Columns missing from (fail) or added to (warn) the evaluation "
                                "data compared with the reference.", fail=0.0,
                                severity=Severity.HIGH, unit="columns",
                                why="A column the model was built with is missing or new, so the evaluation "
                                    "does not describe the data the model will really see.",
                                advice="Align the evaluation data with the training schema (same columns, "
                                       "same names), or retrain and re-validate on the new schema."),
        "duplicate_rows": Kind("Share of rows that repeat an earlier row (or an id).", fail=0.05,
                               warn=0.0, severity=Severity.MEDIUM, unit="share",
                               why="Repeated rows count some cases several times, so every figure in this "
                                   "report leans towards them.",
                               advice="Remove the duplicates (or explain why repeats are real) and re-run the "
                                      "audit."),
        "train_test_leakage": Kind("Share of evaluation rows that also occur in the reference "
                                   "(training) data.", fail=0.01, warn=0.0,
                                   severity=Severity.CRITICAL, unit="share",
                                   why="The model is tested on rows it has already seen, so its measured "
                                       "accuracy is flattering and real users will see worse results.",
                                   advice="Remove the overlapping rows from the evaluation data (split by "
                                          "person or time, not by row) and re-measure performance."),
        "conflicting_labels": Kind("Share of rows whose identical features carry different "
                                   "labels.", fail=0.01, warn=0.0, severity=Severity.HIGH, unit="share",
                                   why="The same case labelled two ways means the labels are unreliable; "
                                       "the model learns and is judged against noise.",
                                   advice="Have the conflicting rows relabelled by someone accountable and "
                                          "document the labelling rule."),
        "label_inconsistency": Kind("Share of rows whose label is another spelling of a class "
                                    "(case, whitespace, Unicode form).", fail=0.0,
                                    severity=Severity.HIGH, unit="share",
                                    why="One outcome spelled two ways is treated as two classes, so those "
                                        "rows are counted wrongly in training and evaluation.",
                                    advice="Normalise the label spellings to one form at the source and "
                                           "re-run the audit."),
        "rare_class": Kind("Samples of a class (below the level is bad; 0: absent from one "
                           "dataset).", direction="below", warn=100, severity=Severity.MEDIUM,
                           unit="samples",
                           why="With this few examples the model's behaviour on this outcome is barely "
                               "measured; cases of this kind may be handled badly without anyone noticing.",
                           advice="Collect more examples of this class, or route such cases to a person and "
                                  "say so in the model's documentation."),
        "empty_sample": Kind("Share of samples that are empty: blank text, constant images, "
                             "all-null rows.", fail=0.05, warn=0.0, severity=Severity.MEDIUM, unit="share",
                             why="Empty samples carry no information; the model's answers for them are "
                                 "arbitrary and they distort the measured performance.",
                             advice="Remove empty samples or fix the step that produced them, and decide how "
                                    "production should handle an empty input."),
        "outliers": Kind("Largest share of a numeric column's values that are outliers "
                         "(evidence; never fails by default).", warn=0.05, severity=Severity.LOW,
                         unit="share",
                         why="Many extreme values can be data errors or a population the model was not "
                             "built for.",
                         advice="Check a few of the extreme rows: correct errors, or confirm they are real "
                                "and covered by the training data."),
        "representation": Kind("Largest change in a sensitive group's share between reference "
                               "and evaluation data.", warn=0.1, severity=Severity.MEDIUM, unit="points",
                               why="A group whose share changed a lot is judged on a different mix of people "
                                   "than the model was built for; its results may not hold.",
                               advice="Confirm the evaluation data represents the people the model will "
                                      "serve; re-sample or collect data for the groups that changed."),
        "unreadable_file": Kind("Share of files in an image folder that could not be read.",
                               fail=0.01, warn=0.0, severity=Severity.MEDIUM, unit="share",
                               why="Unreadable files are left out, so the audit covers less data than it "
                                   "seems to.",
                               advice="Replace or remove the broken files and re-run the audit."),
        "unsupported_column": Kind("Columns of nested values (lists, structs, maps) that the "
                                   "checks cannot use and skip.", warn=0.0, severity=Severity.LOW,
                                   unit="columns",
                                   why="Columns of nested values are left out of every data check, so "
                                       "problems inside them go unseen.",
                                   advice="Flatten the nested columns into plain columns (one value per cell) "
                                          "if they matter for the model, and audit again."),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.policy_specs = gxs.parse_entries(self.config["expectations"], "the policy")

    @classmethod
    def validate_options(cls, options):
        """Also check that every explicit expectation is a great-expectations expectation
        with valid arguments, so a typo stops the scan before any check runs."""
        out = super().validate_options(options)
        if out["expectations"]:
            try:
                for spec in gxs.parse_entries(out["expectations"], "the policy"):
                    gxs.check_spec(spec)
            except ValueError as exc:
                raise OptionError("expectations", str(exc)) from None
        return out

    # ------------------------------------------------------------------ run
    def run(self, ctx: CheckContext) -> CheckOutput:
        return _Validation(self.config, self.policy_specs, ctx).run()


class _Validation:
    """One data_validity run: the checker's configuration plus the run's state (the context,
    the columns marked as personal data, the frames as read, the row hashers). It lives for
    one ``run`` call, so the checker instance holds no per-run state and the frames and
    hashes are freed with it."""

    def __init__(self, config: Mapping[str, Any], policy_specs: list, ctx: CheckContext) -> None:
        self.config, self.policy_specs, self._ctx = config, policy_specs, ctx
        self._pii: dict[str, Any] = {}
        self._raw: dict[str, pd.DataFrame] = {}
        self._hashers: dict[str, rw.FrameHasher] = {}

    def run(self) -> CheckOutput:
        ctx = self._ctx
        nested = [(name, ds) for name, ds in (("current", ctx.data), ("reference", ctx.reference),
                                              ("train", ctx.train))
                  if ds is not None and ds.unsupported]
        assert ctx.data is not None  # needs = {DATA}
        cur = ctx.data.without_unsupported()
        ref = ctx.reference.without_unsupported() if ctx.reference is not None else None
        train = ctx.train.without_unsupported() if ctx.train is not None else None
        self._pii = dict(ctx.shared.get("pii_columns") or {})
        findings: list[Finding] = []
        metrics: dict[str, Any] = {"charts": []}
        image = img.is_image_like(cur)
        # stray values ("unknown" among numbers) are reported cell by cell; every other check
        # compares the values coerced to the column's dominant type
        self._raw, strays = {}, {}
        if not image:
            keep = set(ctx.ids) | ({ctx.target} if ctx.target else set())
            self._raw["current"] = cur.frame
            frame, strays["current"] = coercion.coerce_frame(cur.frame, keep)
            cur = dataclasses.replace(cur, frame=frame)
            if ref is not None and not img.is_image_like(ref):
                self._raw["reference"] = ref.frame
                frame, strays["reference"] = coercion.coerce_frame(ref.frame, keep)
                ref = dataclasses.replace(ref, frame=frame)
            if train is not None and not img.is_image_like(train):
                self._raw["train"] = train.frame
                frame, strays["train"] = coercion.coerce_frame(train.frame, keep)
                train = dataclasses.replace(train, frame=frame)
        datasets = [("current", cur)] + ([("reference", ref)] if ref is not None else [])
        if train is not None and img.is_image_like(train) == image:
            datasets.append(("train", train))  # leakage is judged against the training data
        for name, found in strays.items():
            findings += self._stray_findings(name, found, len(self._raw[name]))

        self._hashers = {name: rw.FrameHasher(ds.frame) for name, ds in datasets}
        ctx.progress(0.05, "validating columns with great-expectations")
        if not image:
            # expectations (ranges, categories, missing shares) come from the held-out reference,
            # else from the training data, else from the data under audit itself
            base_name, base = next(((n, d) for n, d in (("reference", ref), ("train", train))
                                    if d is not None and not img.is_image_like(d)), ("", None))
            findings += self._expectations(ctx, cur.frame, None if base is None else base.frame,
                                           metrics, base_name or "reference")
        ctx.progress(0.6, "checking rows")
        if image:
            findings += self._image_checks(ctx, datasets, metrics)
        else:
            findings += self._row_checks(ctx, datasets)
        ctx.progress(0.85, "checking labels and groups")
        findings += self._label_checks(ctx, datasets, metrics)
        if ref is not None and not image:
            findings += self._representation(ctx, cur.frame, ref.frame)
        for name, ds in datasets:
            if ds.problems:
                n = len(ds.problems) + ds.rows
                findings.append(ctx.finding(
                    "unreadable_file", self._subject("files", name),
                    f"{len(ds.problems):,} of {n:,} files in the {name} image folder could not be read "
                    f"({{value_text}}; {self._levels('unreadable_file')}).",
                    value=len(ds.problems) / n,
                    evidence={"count": len(ds.problems), "dataset": name,
                              "table": [{"path": p["path"], "error": str(p["error"])[:200]}
                                        for p in ds.problems[:50]]}))
        for name, ds in nested:
            cols = ds.unsupported
            findings.append(ctx.finding(
                "unsupported_column", self._subject("columns", name),
                f"{len(cols):,} column{'s' if len(cols) != 1 else ''} of the {name} data hold nested "
                f"values and were skipped: " + ", ".join(f"{c!r} ({t})" for c, t in cols.items()) + ".",
                value=len(cols),
                evidence={"dataset": name, "table": [{"column": c, "type": t} for c, t in cols.items()],
                          "advice": "Flatten these columns (one scalar per column) to have them "
                                    "validated, or leave them out of the data given to the audit."}))
        if not metrics["charts"]:
            metrics.pop("charts")
        metrics.update({"rows": cur.rows, "columns": cur.columns,
                        "reference_rows": ref.rows if ref is not None else None})
        summary = self._summary(findings, cur) + self._roles_note(image, ref, train)
        return CheckOutput(findings=findings, summary=summary, metrics=metrics)

    # ------------------------------------------------------------------ helpers
    def _stray_findings(self, name: str, strays: dict[str, coercion.Stray], n: int) -> list[Finding]:
        """type_mismatch for the cells that are not of their column's dominant type."""
        out = []
        for col, st in strays.items():
            out.append(self._mask_finding(
                "type_mismatch", self._subject(col, name), st.mask,
                f"values of {col!r} in the {name} data are not numbers in a column of numbers; "
                "the other checks read them as missing", name,
                examples=[self._example(v, col) for v in st.examples], dominant_type=st.dominant,
                advice="Fix or remove the stray values at the source, or declare them as missing "
                       "values when the data is read."))
        return out

    def _mask_finding(self, kind: str, subject: str, mask: np.ndarray, what: str, dataset: str,
                      **evidence: Any):
        """A finding about the rows where ``mask`` is true: "<count> of <n> <what> (share ...)"."""
        count, n = int(mask.sum()), len(mask)
        return self._ctx.finding(
            kind, subject, f"{count:,} of {n:,} {what} ({{value_text}}; {self._levels(kind)}).",
            value=count / n,
            evidence={"count": count, "dataset": dataset, "rows": rw.first_rows(mask), **evidence})

    def _levels(self, kind: str) -> str:
        lv = self._ctx.levels[kind]
        word = "above" if lv.direction == "above" else "below"
        parts = [f"{name} {word} {fmt.with_unit(level, lv.unit)}" for name, level in (("fail", lv.fail), ("warn", lv.warn))
                 if level is not None]
        return "policy: " + (", ".join(parts) if parts else "no level set")

    @staticmethod
    def _subject(name: str, dataset: str) -> str:
        return name if dataset == "current" else f"{name} ({dataset})"

    def _example(self, value, column):
        if isinstance(value, float) and np.isnan(value):
            return None
        return safe_example(value, column, self._pii)

    @staticmethod
    def _roles_note(image: bool, ref, train) -> str:
        """Which comparisons the data roles given allowed, in a sentence (empty: all of them)."""
        if ref is None and train is None:
            return (" Leakage between training and evaluation data was not checked, and the expected "
                    "ranges and categories come from the evaluation data itself: no --train or "
                    "--reference was given.")
        if train is None:
            return " Leakage was judged against the reference data: no --train was given."
        if ref is None and not image:
            return (" The expected ranges and categories come from the training data: no held-out "
                    "--reference was given.")
        return ""

    @staticmethod
    def _summary(findings: list[Finding], cur) -> str:
        bad = [f for f in findings if f.status != Status.PASS]
        if not bad:
            return f"No data problems were found in the {cur.rows:,} evaluation rows."
        fails = [f for f in bad if f.status == Status.FAIL]
        worst = (fails or bad)[0]
        counts = [fmt.count(n, noun) for n, noun in ((len(fails), "failing"), (len(bad) - len(fails), "warning")) if n]
        worst_text = worst.message.rstrip(".")
        return (f"{' and '.join(counts)} data problem{'s' if len(bad) > 1 else ''} in the {cur.rows:,} evaluation "
                f"rows; the first: {worst_text[:1].lower() + worst_text[1:]}.")

    # ------------------------------------------------------------------ great-expectations
    def _expectations(self, ctx, frame: pd.DataFrame, reference: pd.DataFrame | None,
                      metrics: dict, reference_name: str = "reference") -> list[Finding]:
        cfg = self.config
        specs = gxs.infer_specs(frame, reference, ids=ctx.ids, target=ctx.target,
                                range_margin=cfg["range_margin"], null_margin=cfg["null_margin"],
                                max_categories=cfg["max_categories"],
                                reference_name="training" if reference_name == "train" else "reference",
                                distinct={"current": self._hashers["current"].factorized,
                                          "reference": (self._hashers.get(reference_name) or
                                                        self._hashers["current"]).factorized})
        suite_specs, suite_path = gxs.load_suite_file(ctx.project)
        specs = specs + list(self.policy_specs) + suite_specs
        raw = self._raw.get("current", frame)
        if getattr(ctx.data, "spark_frame", None) is not None:  # --engine spark: GX's Spark source
            from riskaudit.checks.data_validity import spark as on_spark

            outcomes = on_spark.validate(ctx.data, specs, frame)
        elif raw is frame:
            outcomes = gxs.validate(frame, specs)
        else:  # missing values as read (a stray value is not a missing one); the rest coerced
            null = [s.type == "expect_column_values_to_not_be_null" for s in specs]
            outcomes = (gxs.validate(raw, [s for s, n in zip(specs, null) if n])
                        + gxs.validate(frame, [s for s, n in zip(specs, null) if not n]))
        metrics["expectations"] = {"evaluated": len(outcomes),
                                   "failed": sum(not o.success for o in outcomes),
                                   "from_policy": len(self.policy_specs),
                                   "from_suite_file": len(suite_specs), "suite_file": suite_path}
        findings = []
        for o in outcomes:
            if not o.success:
                findings += self._outcome_findings(ctx, o)
        return findings

    def _outcome_findings(self, ctx, o: gxs.Outcome) -> list[Finding]:
        spec = o.spec
        column = ", ".join(spec.columns) or "table"
        base = {"expectation": {"type": spec.type, "kwargs": _json_kwargs(spec.kwargs)},
                "source": spec.source}
        explicit = not (spec.source.startswith("inferred from the ") or spec.source == "default")
        if o.details.get("missing_columns"):
            miss = o.details["missing_columns"]
            return [ctx.finding("schema_mismatch", c, f"Column {c!r}, named by {spec.type} "
                                f"({spec.source}), is not in the evaluation data.", value=1,
                                status=Status.FAIL, evidence=base) for c in miss]
        if spec.type == "expect_table_columns_to_match_set":
            mism = (o.details or {}).get("mismatched") or {}
            out = [ctx.finding("schema_mismatch", c, f"Column {c!r} of the reference data is "
                               "missing from the evaluation data.", value=1, status=Status.FAIL,
                               evidence=base) for c in mism.get("missing") or []]
            out += [ctx.finding("schema_mismatch", c, f"Column {c!r} of the evaluation data is "
                                "not in the reference data.", value=1, status=Status.WARN,
                                evidence=base) for c in mism.get("unexpected") or []]
            return out
        kind = gxs.kind_of(spec.type)
        if o.error:
            return [ctx.finding("type_mismatch", column, f"Column {column!r} could not be checked "
                                f"with {spec.type}: {o.error.splitlines()[0][:200]}",
                                status=Status.FAIL, evidence={**base, "error": o.error[:500]})]
        examples = [self._example(v, spec.columns[0] if spec.columns else None) for v in o.examples]
        if o.unexpected_count is None:
            observed = o.observed if isinstance(o.observed, (int, float, str, bool)) else None
            return [ctx.finding(kind if kind != "missing_values" else "out_of_range", column,
                                f"{column!r} fails {spec.type} ({spec.source})"
                                + (f": observed {_num(observed)}." if observed is not None else "."),
                                value=observed if isinstance(observed, (int, float)) else None,
                                status=Status.FAIL, evidence={**base, "observed": observed})]
        share = o.unexpected_count / max(o.rows, 1)
        phrase = _PHRASES.get(spec.type)
        if spec.type == "expect_column_values_to_be_between":
            phrase = (f"lie outside [{_num(spec.kwargs.get('min_value'))}, "
                      f"{_num(spec.kwargs.get('max_value'))}]")
        elif spec.type == "expect_column_values_to_be_in_type_list":
            phrase = f"are not of type {', '.join(map(str, spec.kwargs.get('type_list', [])[:4]))}"
        phrase = phrase or f"fail {spec.type}"
        level = f"{spec.source}: any failure fails" if explicit else self._levels(kind)
        evidence = {**base, "count": o.unexpected_count, "share": share, "rows_checked": o.rows,
                    "examples": examples}
        return [ctx.finding(kind, column,
                            f"{o.unexpected_count:,} of {o.rows:,} values of {column!r} {phrase} "
                            f"({{value_text}}; {level}).",
                            value=share, status=Status.FAIL if explicit else None, evidence=evidence)]

    # ------------------------------------------------------------------ row checks
    def _row_checks(self, ctx, datasets) -> list[Finding]:
        if getattr(datasets[0][1], "spark_frame", None) is not None:  # --engine spark: exact counts
            from riskaudit.checks.data_validity import spark as on_spark

            return on_spark.row_checks(self, ctx, datasets)
        findings: list[Finding] = []
        hashes_norm = {}
        hashers = self._hashers
        for name, ds in datasets:
            frame = ds.frame
            feats = self._features(ctx, frame)
            all_cols = [c for c in frame.columns if c not in ctx.ids]
            # duplicate rows: every column but ids, text compared after whitespace/case
            # normalization (the hashes leakage needs anyway: text is hashed once)
            dup = rw.duplicates(hashers[name].rows(all_cols, normalize=True))
            if dup.any():
                findings.append(self._by_chance(self._mask_finding(
                    "duplicate_rows", name, dup, f"rows of the {name} data repeat an earlier row", name,
                    columns_compared=len(all_cols)),
                    lambda rng, name=name, all_cols=all_cols: rw.chance_share(
                        "duplicate_rows", self._cols(name, all_cols), rng)))
            hashes_norm[name] = hashers[name].rows(feats, normalize=True) if feats else None
            # conflicting labels
            if ctx.target and ctx.target in frame.columns and feats and ctx.task != "regression":
                codes, _ = rw.label_codes(frame[ctx.target])
                norm = hashes_norm[name]
                assert norm is not None  # computed above when there are features
                mask, groups = rw.conflicts(norm, codes)
                if mask.any():
                    findings.append(self._by_chance(self._mask_finding(
                        "conflicting_labels", self._subject(ctx.target, name), mask,
                        f"rows of the {name} data ({groups:,} groups of identical features) carry "
                        "different labels", name, groups=groups),
                        lambda rng, name=name, feats=feats, codes=codes: rw.chance_share(
                            "conflicting_labels", self._cols(name, feats), rng, labels=codes)))
            findings += self._empty(ctx, name, frame, hashers[name])
            findings += self._outliers(ctx, name, frame, datasets)
        others = dict(datasets[1:])
        # leakage is judged against the training data when given, else the reference
        other = next((o for o in ("train", "reference") if o in others), None)
        if other is not None and hashes_norm["current"] is not None:
            cur, ref = datasets[0][1].frame, others[other].frame
            feats = self._features(ctx, cur)
            if all(f in ref.columns for f in feats):
                leak = rw.leaked(hashes_norm["current"], hashers[other].rows(feats, normalize=True))
                if leak.any():
                    what = "training" if other == "train" else "reference (training)"
                    findings.append(self._by_chance(self._mask_finding(
                        "train_test_leakage", "current", leak,
                        f"evaluation rows also occur in the {what} data", "current",
                        columns_compared=list(feats),
                        advice="Remove the leaked rows from the evaluation data, or split training "
                               "and evaluation data by entity."),
                        lambda rng: rw.chance_share("train_test_leakage", self._cols("current", feats),
                                                    rng, reference=self._cols(other, feats))))
        return findings

    def _cols(self, name: str, columns) -> list[np.ndarray]:
        return [self._hashers[name].column(c, True) for c in columns]

    def _by_chance(self, finding: Finding, chance) -> Finding:
        """Cap at warn a duplicate/leakage/conflict finding that the feature space explains
        (and say so): shuffling each column independently (``chance(rng)``) gives at least
        ``chance_ratio`` of the observed share. The chance share is in the evidence of every
        such finding that is not a pass."""
        ratio = self.config["chance_ratio"]
        if finding.status == Status.PASS or ratio <= 0:
            return finding
        expected = chance(self._ctx.rng(f"chance-{finding.kind}-{finding.subject}"))
        observed = float(finding.value)
        evidence = {**finding.evidence, "chance_share": round(expected, 6)}
        if expected < ratio * observed:
            return dataclasses.replace(finding, evidence=evidence)
        message = (finding.message.rstrip(".") +
                   f". Identical rows are expected by chance here: with each column's values "
                   f"shuffled independently {fmt.percent(expected)} of rows would count (the columns have "
                   f"few distinct combinations for this many rows), so this is at most a warning "
                   f"(policy option chance ratio {_num(ratio)}).")
        evidence["advice"] = ("Rows this coarse cannot tell individuals apart: identical rows are "
                              "different people sharing the same attributes. Add an id column "
                              "(--ids) to find real duplicates and leakage.")
        return dataclasses.replace(finding, status=Status.WARN, message=message, evidence=evidence)

    def _features(self, ctx, frame) -> list[str]:
        feats = [f for f in ctx.features if f != ARRAY_FEATURE and f in frame.columns]
        if not feats:
            feats = [c for c in frame.columns if c != ctx.target and c not in ctx.ids]
        return feats

    def _empty(self, ctx, name, frame, hasher) -> list[Finding]:
        out = []
        n = len(frame)
        for col in frame.columns:
            if frame[col].dtype != object:
                continue
            mask = hasher.blank_text(col)
            if mask.any():
                out.append(self._mask_finding(
                    "empty_sample", self._subject(col, name), mask,
                    f"values of {col!r} in the {name} data are empty or whitespace-only text", name))
        cols = [c for c in frame.columns if c not in ctx.ids]
        if cols:
            mask = np.ones(n, dtype=bool)
            for col in cols:
                mask &= hasher.missing(col)
                if not mask.any():
                    break
            if mask.any():
                out.append(self._mask_finding(
                    "empty_sample", self._subject("all columns", name), mask,
                    f"rows of the {name} data have no value at all", name))
        return out

    def _outliers(self, ctx, name, frame, datasets) -> list[Finding]:
        """One finding per dataset: the numeric columns with outliers, worst first."""
        ref = datasets[1][1].frame if len(datasets) > 1 else None
        cfg = self.config
        table, worst = [], None
        for col in self._features(ctx, frame):
            s = frame[col]
            if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                continue
            values = s.to_numpy(dtype="float64", na_value=np.nan)
            basis = values
            if ref is not None and col in ref.columns and pd.api.types.is_numeric_dtype(ref[col]) \
                    and not pd.api.types.is_bool_dtype(ref[col]):
                basis = ref[col].to_numpy(dtype="float64", na_value=np.nan)
            res = rw.outlier_mask(values, basis, cfg["outlier_method"], cfg["robust_z"], cfg["iqr_k"])
            if res is None or not res[0].any():
                continue
            mask, stats = res
            row = {"column": col, "count": int(mask.sum()), "share": round(float(mask.sum()) / len(s), 6),
                   "method": stats["method"], "low": round(stats["low"], 6), "high": round(stats["high"], 6),
                   "examples": rw.examples(s, mask, col, self._pii), "rows": rw.first_rows(mask, 10)}
            table.append(row)
        if not table:
            return []
        table.sort(key=lambda r: (-r["share"], r["column"]))
        worst = table[0]
        f = ctx.finding(
            "outliers", self._subject(worst["column"], name),
            f"{len(table):,} numeric columns of the {name} data have outliers by the "
            f"{worst['method']} rule; the most in {worst['column']!r}: {worst['count']:,} of "
            f"{len(frame):,} values ({{value_text}}; {self._levels('outliers')}).",
            value=worst["share"], evidence={"dataset": name, "table": table[:50],
                                            "rows": worst["rows"], "examples": worst["examples"]})
        return [f] if f.status != Status.PASS else []

    # ------------------------------------------------------------------ labels
    def _label_checks(self, ctx, datasets, metrics) -> list[Finding]:
        target = ctx.target
        if not target or ctx.task == "regression":
            return []
        series: dict[str, Any] = {name: ds.frame[target] for name, ds in datasets if target in ds.frame.columns}
        if getattr(datasets[0][1], "spark_frame", None) is not None:  # --engine spark: exact counts
            from riskaudit.checks.data_validity import spark as on_spark

            series = dict(on_spark.label_series(ctx, datasets))
        if not series:
            return []
        findings = []
        total_rows = sum(len(s) for s in series.values())
        for g in rw.label_variants(series):
            spellings = [{"label": self._example(v, target), **{f"{d}_count": g["counts"][v].get(d, 0)
                                                                for d in series}} for v in g["values"]]
            rows = {}
            for d, s in series.items():
                mask = (s.isin([v for v in g["values"] if v != g["canonical"]])).to_numpy()
                if mask.any():
                    rows[d] = rw.first_rows(mask)
            findings.append(ctx.finding(
                "label_inconsistency", g["label"],
                f"{g['rows']:,} rows label class {g['canonical']!r} as "
                f"{', '.join(repr(v) for v in g['values'] if v != g['canonical'])} "
                f"({{value_text}} of labelled rows; {self._levels('label_inconsistency')}).",
                value=g["rows"] / max(total_rows, 1),
                evidence={"count": g["rows"], "canonical": g["canonical"], "table": spellings,
                          "rows": rows.get("current", []),
                          "reference_rows": rows.get("reference", []),
                          "advice": "Normalize the label values (case, whitespace, Unicode form) "
                                    "before training and evaluating."}))
        counts = {d: rw.class_counts(s) for d, s in series.items()}
        labels = sorted(set().union(*[set(c.index) for c in counts.values()]))
        table = [{"class": self._example(c, target), **{f"{d}_count": int(counts[d].get(c, 0)) for d in counts}}
                 for c in labels]
        metrics["class_counts"] = table[:50]
        if labels:
            metrics["charts"].append({
                "type": "bar", "title": f"Samples per class of {target}",
                "labels": [str(c) for c in labels[:50]],
                "values": [float(counts[next(iter(counts))].get(c, 0)) for c in labels[:50]],
                "y_label": f"rows ({next(iter(counts))})"})
        for c in labels:
            present = {d: int(counts[d].get(c, 0)) for d in counts}
            value = min(present.values())
            where = min(present, key=lambda d: present[d])
            if value == 0:
                other = [d for d in present if present[d] > 0]
                msg = (f"Class {str(c)!r} is absent from the {where} data but has "
                       f"{present[other[0]]:,} rows in the {other[0]} data ({self._levels('rare_class')}).")
            else:
                msg = (f"Class {str(c)!r} has "
                       + " and ".join(f"{k:,} samples in the {d} data" for d, k in present.items())
                       + f" ({self._levels('rare_class')}).")
            f = ctx.finding("rare_class", str(c), msg, value=value, evidence={"counts": present})
            if f.status != Status.PASS:
                findings.append(f)
        return findings

    # ------------------------------------------------------------------ groups
    def _representation(self, ctx, cur: pd.DataFrame, ref: pd.DataFrame) -> list[Finding]:
        out = []
        for col in ctx.sensitive:
            if col not in cur.columns or col not in ref.columns:
                continue
            table = rw.representation(ref[col], cur[col])
            masked = [{**r, "group": self._example(r["group"], col)} for r in table]
            diffs = [abs(r["current_share"] - r["reference_share"]) for r in table]
            i = int(np.argmax(diffs))
            g = masked[i]
            out.append(ctx.finding(
                "representation", col,
                f"The share of group {str(g['group'])!r} of {col!r} is {fmt.percent(g['current_share'])} in "
                f"the evaluation data against {fmt.percent(g['reference_share'])} in the reference data "
                f"(change {{value_text}}; {self._levels('representation')}).",
                value=round(diffs[i], 6),
                evidence={"table": masked[:50], "charts": [{
                    "type": "histogram", "title": f"Share of each {col} group",
                    "labels": [str(r["group"]) for r in masked[:50]],
                    "series": [{"name": "reference", "values": [r["reference_share"] for r in masked[:50]]},
                               {"name": "current", "values": [r["current_share"] for r in masked[:50]]}]}]}))
        return out

    # ------------------------------------------------------------------ images
    def _image_checks(self, ctx, datasets, metrics) -> list[Finding]:
        findings = []
        arrays = [ds.array for _, ds in datasets if img.is_image_like(ds)]
        names = [name for name, ds in datasets if img.is_image_like(ds)]
        found = img.content_codes(*arrays)
        codes: list[np.ndarray | None] = list(found) if found else [None] * len(arrays)
        for name, arr, code, (_, ds) in zip(names, arrays, codes, datasets):
            n = len(arr)
            counts = img.per_class(ds.frame, ctx.target)
            if counts:
                metrics.setdefault("images", {})[name] = {"samples": n, "per_class": counts}
            if code is not None:
                dup = rw.duplicates(code)
                if dup.any():
                    findings.append(self._mask_finding(
                        "duplicate_rows", self._subject("images", name), dup,
                        f"images of the {name} data are byte-identical copies of an earlier image", name,
                        charts=[{"type": "images", "title": "Duplicated images",
                                 "images": img.thumbnails(arr, rw.first_rows(dup))}]))
                if ctx.target and ctx.target in ds.frame.columns:
                    lc, _ = rw.label_codes(ds.frame[ctx.target])
                    mask, groups = rw.conflicts(code.astype(np.uint64), lc)
                    if mask.any():
                        findings.append(self._mask_finding(
                            "conflicting_labels", self._subject(ctx.target, name), mask,
                            f"images of the {name} data ({groups:,} groups of identical images) carry "
                            "different labels", name, groups=groups))
            blank = img.blank(arr)
            if blank.any():
                findings.append(self._mask_finding(
                    "empty_sample", self._subject("images", name), blank,
                    f"images of the {name} data are blank (one constant value)", name))
        j = names.index("train") if "train" in names else 1
        if len(codes) >= 2 and codes[0] is not None and len(names) >= 2:
            other = codes[j]
            assert other is not None  # content_codes gives a code for every array or for none
            leak = np.isin(codes[0], other)
            if leak.any():
                findings.append(self._mask_finding(
                    "train_test_leakage", "images", leak,
                    f"evaluation images are byte-identical to a {names[j]} image", "current",
                    sha256=[img.sample_sha256(arrays[0], i) for i in rw.first_rows(leak, 5)]))
        return findings


def _num(x) -> str:
    return fmt.number(x) if isinstance(x, float) else str(x)


def _json_kwargs(kwargs: dict) -> dict:
    out = {}
    for k, v in kwargs.items():
        if isinstance(v, (list, tuple)) and len(v) > 20:
            out[k] = list(v[:20]) + [f"... {len(v) - 20} more"]
        else:
            out[k] = v
    return out
