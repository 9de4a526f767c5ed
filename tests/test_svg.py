"""Honest charts: round ticks, plain numbers, labels that fit, the policy's threshold drawn."""

import re

from riskaudit.reports import chartnotes, svg
from riskaudit.reports.plain import KindText


def _ticks(doc):
    return re.findall(r'class="tick">([^<]*)</text>', doc)


def test_ticks_are_round_numbers_without_scientific_notation():
    doc = svg.bar({"type": "bar", "labels": ["a", "b"], "values": [0.27, 0.81]})
    ticks = _ticks(doc)
    assert ticks[:5] == ["0", "0.25", "0.5", "0.75", "1"]  # not 0.27, 0.54, 0.81
    doc = svg.bar({"type": "bar", "labels": ["a"], "values": [123456.0]})
    assert all("e" not in t for t in _ticks(doc)) and "100,000" in _ticks(doc)
    for lo_hi in ([0.0, 0.0123], [3.0, 17.0], [0.0, 1.0], [-2.5, 7.1]):
        lo, hi = svg._nice_range(lo_hi)
        steps = {round(b - a, 12) for a, b in zip(svg._ticks(lo, hi), svg._ticks(lo, hi)[1:])}
        assert len(steps) == 1
        step = steps.pop()
        mant = step / 10 ** __import__("math").floor(__import__("math").log10(step))
        assert round(mant, 6) in (1, 2, 2.5, 5), (lo_hi, step)
        assert lo <= min(lo_hi) and hi >= max(lo_hi)


def test_long_labels_wrap_or_abbreviate_with_the_full_text_in_a_title():
    label = "a very long group name that cannot possibly fit under one bar"
    doc = svg.bar({"type": "bar", "labels": [label, "b", "c", "d", "e", "f", "g", "h"], "values": [1] * 8})
    assert f"<title>{label}</title>" in doc
    assert "…" in doc
    for t in re.findall(r"<tspan[^>]*>([^<]*)</tspan>", doc):
        assert len(t) <= (svg.W - svg.PAD_L - svg.PAD_R) / 8 / 5.6 + 1, t


def test_tiny_values_against_the_limit_get_a_log_scale_with_the_limit_drawn():
    spec = {"type": "bar", "title": "Largest relative output difference against batch size 1",
            "labels": ["2", "7"], "values": [6.3e-08, 7.8e-08], "y_label": "relative difference"}
    finding = {"id": "consistency.batch_size_inconsistency", "status": "pass", "threshold": 1e-4,
               "value": 7.8e-8, "subject": "batch_size=2"}
    texts = {finding["id"]: KindText(unit="relative")}
    doc = svg.bar(chartnotes.for_check(spec, "consistency", [finding], texts))
    assert "log scale" in doc and 'class="ref"' in doc and "policy limit 0.01 %" in doc
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', doc)]
    plot_h = svg.H - svg.PAD_T - svg.PAD_B
    assert max(heights) < plot_h * 0.5  # far below the limit, not full-height bars


def test_every_judged_chart_gets_its_threshold():
    pii = {"type": "bar", "title": "Share of rows holding personal data", "labels": ["email"], "values": [1.0]}
    f = {"id": "pii.pii_detected", "status": "fail", "threshold": 0.01, "value": 1.0, "subject": "email"}
    doc = svg.bar(chartnotes.for_check(pii, "pii", [f], {f["id"]: KindText(unit="share")}))
    assert "policy limit 1 %" in doc
    kanon = {"type": "bar", "title": "Records by equivalence-class size", "labels": ["1", "2", "3", "4", ">=5"],
             "values": [10.0, 4.0, 0, 0, 80.0]}
    f = {"id": "pii.reidentification_risk", "status": "fail", "threshold": 0.05, "value": 0.15,
         "evidence": {"k": 3}}
    doc = svg.bar(chartnotes.for_finding(kanon, f, KindText(unit="share")))
    assert "below k = 3" in doc and "policy limit 5 %" in doc and doc.count("#b3261e") == 2
    hist = {"type": "histogram", "title": "income", "series": [{"name": "reference", "values": [0.5, 0.5]}],
            "labels": ["a", "b"]}
    f = {"id": "drift.data_drift", "status": "fail", "threshold": 0.1, "value": 0.54,
         "evidence": {"effect_unit": "reference SDs (Wasserstein)"}}
    doc = svg.histogram(chartnotes.for_finding(hist, f, KindText(unit="shift")))
    assert "0.54 standard deviations · policy limit 0.1 standard deviations" in doc
    from riskaudit.checks.drift import _UNIT_WORDS

    f2 = dict(f, evidence={"effect_unit": _UNIT_WORDS["numeric"]})
    assert "0.54 standard deviations · policy limit 0.1 standard deviations" in svg.histogram(
        chartnotes.for_finding(hist, f2, KindText(unit="shift")))
    own = {"type": "bar", "labels": ["a"], "values": [0.5], "reference_lines": [{"value": 0.4, "label": "own"}]}
    assert chartnotes.for_finding(own, dict(f, id="fairness.disparate_impact"), KindText(unit="ratio")) == own


def test_threshold_sources_name_the_policy_key_or_the_checker_default():
    from riskaudit.checks.drift import DriftChecker
    from riskaudit.policy import load_policy
    from riskaudit.reports.plain import threshold_source

    pol = load_policy({"name": "mine", "checks": {"drift": {"thresholds": {"data_drift": {"fail": 0.25}}}}})
    levels = pol.threshold_sources(DriftChecker)
    assert levels["data_drift"]["fail"] == {
        "value": 0.25, "source": "policy “mine” key checks.drift.thresholds.data_drift.fail = 0.25"}
    assert levels["data_drift"]["warn"]["source"] == "checker default 0.05"
    assert levels["concept_drift"]["fail"]["source"] == "checker default 5 percentage points"
    report = {"manifest": {"thresholds": {f"drift.{k}": v for k, v in levels.items()}}}
    f = {"id": "drift.data_drift", "status": "fail", "threshold": 0.25, "value": 0.5}
    assert threshold_source(report, f) == levels["data_drift"]["fail"]["source"]
    assert threshold_source(report, dict(f, status="warn", threshold=0.05)) == "checker default 0.05"
    # a threshold the checker set for this finding alone is not passed off as the policy's
    assert threshold_source(report, dict(f, threshold=2)) == "set by the checker for this finding"
    assert threshold_source(report, dict(f, id="performance.model_performance")) == "set by the checker for this finding"
    own = dict(f, evidence={"threshold_source": "option checks.performance.options.minimums.medium.roc_auc = 0.75"})
    assert threshold_source(report, own) == own["evidence"]["threshold_source"]
    assert "else" not in threshold_source({"subject": {"policy": {"name": "old"}}}, f)


def test_a_plugin_check_chart_gets_the_threshold_of_the_kind_it_plots():
    report = {"manifest": {"thresholds": {"loan_cost.error_cost": {"fail": {"value": 0.05, "source": "checker default 5 %"}}}}}
    texts = {"loan_cost.error_cost": KindText(unit="share")}
    findings = [{"id": "loan_cost.error_cost", "status": "fail", "threshold": 0.05, "value": 0.031, "subject": "a"},
                {"id": "loan_cost.error_cost", "status": "pass", "threshold": 0.05, "value": 0.01, "subject": "b"}]
    chart = {"type": "bar", "title": "Cost of wrong decisions by branch", "labels": ["a", "b"], "values": [0.031, 0.01]}
    spec = chartnotes.for_check(chart, "loan_cost", findings, texts, report)
    assert spec["reference_lines"] == [{"value": 0.05, "label": "policy limit 5 %"}]
    assert spec["subtitle"] == "threshold: checker default 5 %"
    doc = svg.bar(spec)
    assert "policy limit 5 %" in doc and "checker default 5 %" in doc
    # a chart of other figures (not the judged values) gets no line it would be wrong about
    other = dict(chart, values=[120.0, 80.0])
    assert "reference_lines" not in chartnotes.for_check(other, "loan_cost", findings, texts, report)
    # the kind named in the spec picks among several graded kinds
    two = findings + [{"id": "loan_cost.other", "status": "pass", "threshold": 0.5, "value": 0.031, "subject": "a"}]
    assert "reference_lines" not in chartnotes.for_check(chart, "loan_cost", two, texts, report)
    named = chartnotes.for_check(dict(chart, kind="error_cost"), "loan_cost", two, texts, report)
    assert named["reference_lines"][0]["value"] == 0.05


def test_a_long_threshold_source_is_shortened_whole_never_cut_mid_value():
    f = {"id": "consistency.batch_size_inconsistency", "status": "pass", "threshold": 0.0001, "value": 1e-7}
    src = "policy “default” key checks.consistency.thresholds.batch_size_inconsistency.fail = 0.01 %"
    spec = chartnotes.for_finding({"type": "bar", "title": "t", "labels": ["2"], "values": [1e-7]}, f,
                                  KindText(unit="relative"), src)
    assert spec["subtitle"].endswith("batch_size_inconsistency.fail = 0.01 %") and len(spec["subtitle"]) <= 95
    huge = chartnotes.for_finding({"type": "bar", "title": "t", "labels": ["2"], "values": [1e-7]}, f,
                                  KindText(unit="relative"), "policy “p” key " + "x" * 120)
    assert "subtitle" not in huge
    assert "…" in svg.bar({"type": "bar", "title": "t", "labels": ["a"], "values": [1], "subtitle": "y" * 120})
