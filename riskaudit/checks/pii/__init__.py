"""Checker ``pii``: where personal data sits in the datasets, and how re-identifiable they are.

- Every column is considered whatever its dtype (integers and integral floats as their
  digits, dates in ISO form). Structured columns get a verdict from a seeded sample of
  their values (option ``sample_size``; ``full`` scans every row, on the Spark engine on the
  executors: :mod:`.spark`): Presidio's recognizers
  on each value (national ids of ES, IT, UK, DE, FR, NL, IN, AU, SG with their check
  digits, street addresses), a name lexicon for person names, and what the column's name
  announces (``email``, ``first_name``, ``geburtsdatum``...). Each entity type any value
  holds is reported with the share of values holding it (a precise type, e-mail or IBAN,
  from one value; a type a value passes by chance from ``min_share`` or from ``min_count``
  distinct validated values); the policy judges the share.
- Free-text columns (sentences): their language is detected (lingua, offline); Presidio
  runs with that language's spaCy pipeline when installed, else with patterns and a name
  lexicon, and the finding says name detection was limited for that language.
- Quasi-identifiers (declared in the policy or suggested from names: postcode, birth date
  or age, sex...) are checked for k-anonymity, optionally with l-diversity.

It runs first (priority 10) and leaves ``ctx.shared["pii_columns"] = {column: ENTITY}``
for the other checkers, which mask example values of those columns.
"""

from __future__ import annotations

from typing import Any

from riskaudit import fmt
from riskaudit.checks.base import Checker, CheckContext, CheckOutput, Kind, Need, Option
from riskaudit.result import Finding, Severity

FREE_TEXT = "FREE_TEXT"
ROLE_NAMES = {"current": "Evaluation data", "reference": "Reference data", "train": "Training data"}


class PiiChecker(Checker):
    id = "pii"
    description = "Personal data in the datasets (Presidio) and re-identification risk (k-anonymity)."
    needs = frozenset({Need.DATA})
    priority = 10
    options = {
        "sample_size": Option(2000, "values sampled per column (seeded) unless `full`", int, minimum=10),
        "full": Option(False, "scan every row instead of a sample (CLI --full)", bool),
        "score_threshold": Option(0.5, "minimum Presidio score of an entity in free text", float,
                                  minimum=0.0, maximum=1.0),
        "min_share": Option(0.3, "share of a structured column's values from which a type a value can "
                                 "pass by chance (a phone, a name...) or the type the column's name "
                                 "announces is reported on its share alone; below it, such a type "
                                 "needs `min_count` distinct validated values (precise types: e-mail, "
                                 "IBAN... count from one value)", float, minimum=0.0, maximum=1.0),
        "min_count": Option(5, "distinct values a type a value can pass by chance (phone, name, address...) "
                               "needs in a structured column below `min_share`", int, minimum=1),
        "min_confidence": Option(0.6, "confidence needed to mark a structured column as personal data",
                                 float, minimum=0.0, maximum=1.0),
        "spacy_model": Option(None, "spaCy pipeline for names in English free text: a package name, a "
                                    "path, or 'none' (no pipeline for any language); default the first "
                                    "installed English pipeline; other languages use their installed "
                                    "<lang>_core_news_* pipeline", str),
        "n_process": Option(1, "worker processes for spaCy on large free-text columns (1 = in process)",
                            int, minimum=1, maximum=64),
        "ignore_entities": Option(["ORGANIZATION"], "entity types never reported", list, item_type=str),
        "ignore_columns": Option([], "columns not scanned", list, item_type=str),
        "phone_regions": Option(["US", "GB", "DE", "FR", "ES", "IT", "NL"],
                                "regions whose phone formats are recognized",
                                list, item_type=str),
        "quasi_identifiers": Option(None, "quasi-identifier columns; default: suggested from names",
                                    list, item_type=str),
        "k": Option(5, "k of k-anonymity: every combination of quasi-identifiers is shared by k records",
                    int, minimum=2),
        "l_diversity_column": Option(None, "sensitive column whose l-diversity is reported", str),
        "operators": Option({"DEFAULT": "replace"}, "anonymize: operator per entity type "
                            "(redact, mask, replace, hash, keep; DEFAULT for the rest)", dict),
        "salt_file": Option(None, "anonymize: file holding the hash salt (else env RISKAUDIT_SALT)", str),
        "generalize": Option(True, "anonymize: generalize quasi-identifiers until k-anonymity holds", bool),
        "suppress": Option(True, "anonymize: blank the quasi-identifiers of records still below k "
                                 "after the last generalization step", bool),
        "max_suppression": Option(0.05, "anonymize: share of records that may be suppressed instead "
                                        "of generalizing further", float, minimum=0.0, maximum=1.0),
    }
    kinds = {
        "pii_detected": Kind("share of a column's rows holding personal data", direction="above",
                             fail=0.01, warn=0.0, severity=Severity.HIGH, unit="share",
                             why="Personal data of real people is in the dataset; keeping or sharing it "
                                 "without a legal basis breaches data-protection law (GDPR) and their privacy.",
                             advice="Remove or pseudonymise the column (riskaudit anonymize), or document "
                                    "the legal basis and the access controls that protect it."),
        "reidentification_risk": Kind("share of records in a quasi-identifier class smaller than k",
                                      direction="above", fail=0.05, warn=0.0, severity=Severity.HIGH,
                                      unit="share",
                                      why="These people can be singled out by a few ordinary attributes "
                                          "(age, sex, postcode) even without their name.",
                                      advice="Generalise or suppress the quasi-identifiers until every "
                                             "combination is shared by at least k people (riskaudit anonymize)."),
    }

    def run(self, ctx: CheckContext) -> CheckOutput:
        from riskaudit.checks.pii.scanner import pct, scan_dataset

        cfg = self.config
        model_spec = cfg["spacy_model"] or (ctx.project or {}).get("spacy_model")
        assert ctx.data is not None  # needs = {DATA}
        datasets = [("current", ctx.data)]
        if ctx.reference is not None and ctx.reference.kind == "table":
            datasets.append(("reference", ctx.reference))
        if ctx.train is not None and ctx.train.kind == "table":
            datasets.append(("train", ctx.train))  # personal data the model was fitted on
        findings: list[Finding] = []
        pii_columns: dict[str, str] = {}
        metrics: dict[str, Any] = {"datasets": {}}
        charts: list[dict[str, Any]] = []
        note = None
        spark_notes: list[str] = []
        for i, (role, ds) in enumerate(datasets):
            ctx.progress(i / len(datasets), f"scanning {role} data for personal data")
            kw: dict[str, Any] = dict(model_spec=model_spec, sensitive=ctx.sensitive,
                                      exclude=tuple(ctx.ids or ()) + ((ctx.target,) if ctx.target else ()))
            res = _spark_scan(ctx, role, ds, cfg, kw, spark_notes)
            if res is None:
                res = scan_dataset(ds.frame, cfg, rng=ctx.rng(f"sample:{role}"), **kw)
            note = res["ner_note"]
            metrics["datasets"][role] = {k: v for k, v in res.items() if k not in ("columns", "kanon", "chart")}
            where = f"{ROLE_NAMES[role]}: " if len(datasets) > 1 else ""
            for col in res["columns"]:
                pii_columns.setdefault(col["column"], col["entity"])
                status, level, graded = _graded(ctx, "pii_detected", col["share"])
                findings.append(ctx.finding(
                    "pii_detected", col["column"], where + col["message"] + f" ({graded}).",
                    value=col["share"], status=status, threshold=level,
                    evidence={**col["evidence"], "dataset": role}))
            kan = res["kanon"]
            if kan is not None:
                qis = kan["quasi_identifiers"]
                how = kan.get("treatment", {})
                used = ", ".join(q if how.get(q, "exact values") == "exact values" else f"{q} ({how[q]})"
                                 for q in qis)
                status, level, graded = _graded(ctx, "reidentification_risk", kan["share_below_k"])
                msg = (f"{kan['records_below_k']:,} of {kan['rows']:,} {ROLE_NAMES[role].split()[0].lower()} records "
                       f"({pct(kan['share_below_k'])}) share their {used} with fewer than "
                       f"{kan['k'] - 1} others (k={kan['k']}; smallest class {fmt.count(kan['smallest_class'], 'records')}; "
                       f"{graded}).")
                ev = dict(kan)
                ev["charts"] = [res["chart"]]
                ev["advice"] = ("Generalize or suppress the quasi-identifiers (riskaudit anonymize "
                                "coarsens dates, postcodes and ages until k-anonymity holds).")
                findings.append(ctx.finding("reidentification_risk", ", ".join(qis), msg,
                                            value=kan["share_below_k"], status=status, threshold=level,
                                            evidence=ev))
        ctx.shared["pii_columns"] = dict(pii_columns)
        metrics["pii_columns"] = dict(pii_columns)
        metrics["name_detection"] = note
        if findings:
            flagged = [f for f in findings if f.kind == "pii_detected"]
            if flagged:
                charts.append({"type": "bar", "title": "Share of rows holding personal data",
                               "labels": [f.subject if len(datasets) == 1 else
                                          f"{f.subject} ({f.evidence['dataset']})" for f in flagged],
                               "values": [float(f.value) for f in flagged], "y_label": "share"})
        metrics["charts"] = charts
        summary = _summary(findings, pii_columns, note) + "".join(" " + n for n in spark_notes)
        return CheckOutput(findings=findings, summary=summary, metrics=metrics)


def _spark_scan(ctx: CheckContext, role: str, ds: Any, cfg: dict[str, Any], kw: dict[str, Any],
                notes: list[str]) -> dict[str, Any] | None:
    """The scan of a Spark table larger than its driver sample: with ``full``, the structured
    columns' verdicts from every row (:mod:`.spark`); None for the driver sample's scan (a
    pandas dataset, a table the sample holds whole, no ``full``, or the full scan failed: a note
    says why). ``notes`` gets the sentence the summary ends with."""
    if getattr(ds, "spark_frame", None) is None or not getattr(ds, "sampled", False):
        return None
    name = ROLE_NAMES[role].lower()
    sample = (f"the column verdicts of the {name} come from a seeded sample of "
              f"{fmt.count(min(int(cfg['sample_size']), len(ds.frame)), 'rows')} of each column "
              f"(drawn from the driver sample)")
    ds.distributed.discard("pii")
    if not cfg["full"]:
        notes.append(f"On Spark, {sample}; --full scans every row on the executors.")
        return None
    from riskaudit.checks.pii import spark as pii_spark

    try:
        res = pii_spark.scan_table(ds, cfg, rng=lambda: ctx.rng(f"sample:{role}"), **kw)
    except Exception as exc:  # the full scan is a bonus: never worth the checker
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        notes.append(f"On Spark, the full scan of the {name} failed ({reason}), so {sample}.")
        return None
    ds.distributed.add("pii")
    free, nested = res["full_scan"]["sampled_free_text"], res["full_scan"]["sampled_nested"]
    notes.append(f"On Spark with --full, every row of the {name} ({fmt.count(ds.rows, 'rows')}) was scanned for "
                 "the structured columns' verdicts"
                 + (f"; free text ({', '.join(map(str, free))}) was analysed on a seeded sample of the driver "
                    "sample (spaCy on every row would take hours on large tables)" if free else "")
                 + (f"; nested columns ({', '.join(map(str, nested))}) were judged on the driver sample" if nested else "")
                 + ".")
    return res


def _graded(ctx: CheckContext, kind: str, share: float) -> tuple[Any, Any, str]:
    """The policy's status and level for a share, and the two in words."""
    from riskaudit.checks.pii.scanner import pct

    status, level = ctx.levels[kind].grade(share)
    return status, level, f"{status.value}; policy level {pct(level)} of rows"


def _summary(findings, pii_columns, note) -> str:
    parts = []
    if pii_columns:
        cols = sorted(pii_columns)
        shown = ", ".join(cols[:6]) + (" and more" if len(cols) > 6 else "")
        parts.append(f"{fmt.count(len(cols), 'columns')} {'holds' if len(cols) == 1 else 'hold'} personal data ({shown})")
    else:
        parts.append("No personal data was found")
    risk = [f for f in findings if f.kind == "reidentification_risk"]
    if risk:
        worst = max(risk, key=lambda f: f.value or 0)
        share = f"{fmt.percent(worst.value, 2)} of records" if worst.value else "no record"
        parts.append(f"{share} can be singled out by {worst.subject} (k={worst.evidence.get('k')})")
    text = "; ".join(parts) + "."
    if note and "limited" in note:
        text += " " + note
    return text
