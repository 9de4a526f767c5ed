"""Put the policy's threshold on every chart that judges against one.

Checkers draw their charts from their own evidence; the threshold a finding was judged
against is in the finding. This module adds it to the chart spec before rendering: a
reference line where the chart's values are on the threshold's scale (shares, rates,
relative differences, sample counts), a boundary between the bars below and above the
level (k-anonymity class sizes), or, where the chart shows distributions while the finding
judges a statistic of them (drift), a subtitle with the value and the policy's level.
A chart that brings its own reference lines is left as it is.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from riskaudit.reports.plain import KindText, with_unit


def _limit_label(thr: float, unit: str, evidence: Mapping[str, Any] | None = None) -> str:
    return f"policy limit {with_unit(thr, unit, evidence)}"


def _first(findings: Sequence[Mapping[str, Any]], fid: str) -> Mapping[str, Any] | None:
    for f in findings:
        if f.get("id") == fid and isinstance(f.get("threshold"), (int, float)):
            return f
    return None


def for_finding(spec: Mapping[str, Any], f: Mapping[str, Any], text: KindText | None) -> dict[str, Any]:
    """A finding's own chart, annotated with the finding's threshold."""
    spec = dict(spec)
    thr = f.get("threshold")
    unit = text.unit if text else ""
    if spec.get("reference_lines") or not isinstance(thr, (int, float)) or isinstance(thr, bool):
        return spec
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
        return spec
    if spec.get("type") == "bar" and unit in ("share", "ratio", "relative", "rows", "samples"):
        spec["reference_lines"] = [{"value": thr, "label": _limit_label(thr, unit)}]
        return spec
    spec["subtitle"] = f"{with_unit(f.get('value'), unit, ev)} · {_limit_label(thr, unit, ev)}"
    return spec


def for_check(spec: Mapping[str, Any], check_id: str, findings: Sequence[Mapping[str, Any]],
              texts: Mapping[str, KindText]) -> dict[str, Any]:
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
    if not rule or rule[0] not in title:
        return spec
    f = _first(findings, rule[1])
    if f is None:
        return spec
    text = texts.get(rule[1])
    unit = text.unit if text else ""
    spec["reference_lines"] = [{"value": f["threshold"], "label": _limit_label(f["threshold"], unit)}]
    return spec


__all__ = ["for_finding", "for_check"]
