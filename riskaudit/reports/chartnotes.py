"""Put the policy's threshold on every chart that judges against one.

Checkers draw their charts from their own evidence; the threshold a finding was judged
against is in the finding. This module adds it to the chart spec before rendering: a
reference line where the chart's values are on the threshold's scale (shares, rates,
relative differences, sample counts), a boundary between the bars below and above the
level (k-anonymity class sizes), or, where the chart shows distributions while the finding
judges a statistic of them (drift), a subtitle with the value and the policy's level.
A check-level chart of a plugin gets the threshold of the kind it names (``"kind"`` in the
spec) or, when the check judges one kind only, of that kind, provided the chart plots the
judged values (a bar's value equals a finding's value). The subtitle states where the
threshold comes from exactly (``policy “default” key checks.….fail = 0.1`` or ``checker
default 0.1``). A chart that brings its own reference lines keeps them.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

from riskaudit.reports.plain import KindText, threshold_source, with_unit


def _limit_label(thr: float, unit: str, evidence: Mapping[str, Any] | None = None) -> str:
    return f"policy limit {with_unit(thr, unit, evidence)}"


SUBTITLE_MAX = 95  # what svg's subtitle line holds


def _with_source(spec: dict[str, Any], source: str) -> dict[str, Any]:
    """The threshold's source as the chart's subtitle, whole or not at all (a cut-off value
    would mislead): the policy's name is dropped first when the line is too long."""
    if not source or spec.get("subtitle"):
        return spec
    for text in (f"threshold: {source}", "threshold: " + re.sub(r"^policy “[^”]*” key ", "policy key ", source),
                 "threshold: " + re.sub(r"^policy “[^”]*” key ", "", source)):
        if len(text) <= SUBTITLE_MAX:
            spec["subtitle"] = text
            break
    return spec


def _first(findings: Sequence[Mapping[str, Any]], fid: str) -> Mapping[str, Any] | None:
    for f in findings:
        if f.get("id") == fid and isinstance(f.get("threshold"), (int, float)):
            return f
    return None


def for_finding(spec: Mapping[str, Any], f: Mapping[str, Any], text: KindText | None,
                source: str = "") -> dict[str, Any]:
    """A finding's own chart, annotated with the finding's threshold and where it comes from."""
    spec = dict(spec)
    thr = f.get("threshold")
    unit = text.unit if text else ""
    if not isinstance(thr, (int, float)) or isinstance(thr, bool):
        return spec
    if spec.get("reference_lines"):
        return _with_source(spec, source)
    ev = f.get("evidence") or {}
    fid = f.get("id")
    if fid == "pii.reidentification_risk":
        k = ev.get("k")
        labels = [str(x) for x in spec.get("labels") or []]
        if isinstance(k, int):
            below = [i for i, lab in enumerate(labels) if lab.isdigit() and int(lab) < k]
            if below:
                spec.update(split_before=max(below) + 1, split_label=f"below k = {k}: at risk", highlight=below)
        spec["subtitle"] = (f"{with_unit(f.get('value'), unit)} of records in classes below k; "
                            f"{_limit_label(thr, unit)}")
        return spec
    if fid == "drift.concept_drift":
        ref = ev.get("reference")
        if isinstance(ref, (int, float)) and spec.get("type") == "bar":
            spec["reference_lines"] = [{"value": ref - thr, "label": f"policy limit: reference − "
                                        f"{with_unit(thr, unit)}"}]
        return _with_source(spec, source)
    if spec.get("type") == "bar" and unit in ("share", "ratio", "relative", "rows", "samples"):
        spec["reference_lines"] = [{"value": thr, "label": _limit_label(thr, unit)}]
        return _with_source(spec, source)
    spec["subtitle"] = f"{with_unit(f.get('value'), unit, ev)} · {_limit_label(thr, unit, ev)}"
    if source and len(spec["subtitle"]) + len(source) + 3 <= SUBTITLE_MAX:
        spec["subtitle"] += f" ({source})"
    return spec


def for_check(spec: Mapping[str, Any], check_id: str, findings: Sequence[Mapping[str, Any]],
              texts: Mapping[str, KindText], report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A check-level chart (metrics), annotated with the threshold of the kind it plots."""
    spec = dict(spec)
    if spec.get("reference_lines") or spec.get("type") != "bar":
        return spec
    title = str(spec.get("title", "")).lower()
    rules = {
        "pii": ("personal data", "pii.pii_detected"),
        "consistency": ("batch size", "consistency.batch_size_inconsistency"),
        "data_validity": ("samples per class", "data_validity.rare_class"),
    }
    rule = rules.get(check_id)
    if rule is not None:
        f = _first(findings, rule[1]) if rule[0] in title else None
    else:
        f = _plotted_finding(spec, check_id, findings)
    if f is None:
        return spec
    text = texts.get(str(f["id"]))
    unit = text.unit if text else ""
    spec["reference_lines"] = [{"value": f["threshold"], "label": _limit_label(f["threshold"], unit)}]
    return _with_source(spec, threshold_source(report or {}, f))


def _plotted_finding(spec: Mapping[str, Any], check_id: str,
                     findings: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """For a plugin's chart: the graded finding whose threshold applies — of the kind the spec
    names, or of the check's only graded kind — if the chart plots that kind's values."""
    graded = [f for f in findings if isinstance(f.get("threshold"), (int, float))
              and not isinstance(f.get("threshold"), bool)]
    named = spec.get("kind")
    if isinstance(named, str) and named:
        graded = [f for f in graded if f.get("id") in (named, f"{check_id}.{named}")]
    elif len({f.get("id") for f in graded}) != 1:
        return None
    values = [v for v in spec.get("values") or [] if isinstance(v, (int, float))]
    plotted = [f for f in graded if isinstance(f.get("value"), (int, float))
               and any(math.isclose(v, f["value"], rel_tol=1e-9, abs_tol=1e-12) for v in values)]
    if not plotted:
        return None
    worst = [f for f in plotted if f.get("status") == "fail"] or [f for f in plotted if f.get("status") == "warn"]
    return (worst or plotted)[0]


__all__ = ["for_finding", "for_check"]
