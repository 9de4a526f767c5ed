"""report.html's structure, on the real demo report: decide first, details closed, one click away."""

import re
from html.parser import HTMLParser

import pytest

from riskaudit.reports import html


@pytest.fixture(scope="module")
def demo_report(demo_scan):
    return demo_scan


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(page):
    p = _Tags()
    p.feed(page)
    return p.tags


def test_decide_section_comes_first_and_details_are_closed(demo_report):
    page = html.render(demo_report)
    order = [page.index(f'id="{s}"') for s in ("verdict", "drivers", "changes", "approvals", "details",
                                                "regulation", "appendix")]
    assert order == sorted(order)
    decide = page[page.index('<section id="decide">'):page.index('<section id="details">')]
    assert "<details" not in decide
    for tag, attrs in _tags(page):
        if tag == "details":
            assert "open" not in attrs, attrs
    # the few driving findings, each in plain words, with the threshold's source
    drivers = re.findall(r'<div class="driver s-(fail|warn)">', decide)
    assert 1 <= len(drivers) <= html.MAX_DRIVERS
    for part in ("What was found", "Affected", "Why it matters", "What to do", "Threshold"):
        assert decide.count(part) >= len(drivers), part
    assert "checks.fairness.thresholds.disparate_impact" in decide
    assert "<script" not in page
    assert ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            'style-src \'unsafe-inline\'; img-src data:">') in page  # the strict CSP stays


def test_header_has_no_absolute_machine_path(demo_report):
    page = html.render(demo_report)
    uri = demo_report["subject"]["model"]["uri"]
    assert uri.startswith("/")
    header = page[page.index("<header>"):page.index("</header>")]
    assert uri not in header and "model.pt" in header


def test_each_group_table_shown_once_and_passed_findings_in_the_appendix(demo_report):
    page = html.render(demo_report)
    details = page[page.index('<section id="details">'):page.index('<section id="regulation">')]
    fairness = details[details.index('id="check-fairness"'):]
    fairness = fairness[:fairness.index("</details>\n  <details class=\"check\"") if "</details>\n  <details class=\"check\"" in fairness else len(fairness)]
    tables = re.findall(r"<table>.*?</table>", fairness, flags=re.S)
    assert len(tables) == len(set(tables))
    appendix = page[page.index('<section id="appendix">'):]
    n_pass = sum(f["status"] == "pass" for c in demo_report["checks"] for f in c["findings"])
    assert f"Passed findings ({n_pass})" in appendix
    components = next(c for c in demo_report["checks"] if c["id"] == "licenses")["metrics"]["components"]
    assert f"Software, data and model components ({len(components)})" in appendix
    # a component without a finding of its own (an environment's unlicensed packages, such as
    # CUDA wheels, are also listed in the unknown_license finding)
    software = next(c["component"] for c in components if c["type"] == "software" and c["verdict"] == "pass")
    assert page.count(f"<td>{software}</td>") == 1  # listed once, in the appendix
    # no snake_case headers anywhere
    for th in re.findall(r"<th>([^<]*)</th>", page):
        assert not re.search(r"[a-z]_[a-z]", th), th


def test_figures_shown_agree_with_an_independent_count(demo_out, demo_scan):
    """The leakage share in the verdict's drivers, recomputed with pandas from the demo's files."""
    import pandas as pd

    cur = pd.read_csv(demo_out / "inputs" / "data" / "current.csv")
    ref = pd.read_csv(demo_out / "inputs" / "data" / "train.csv")  # leakage: against the training data
    leak = next(f for c in demo_scan["checks"] for f in c["findings"] if f["id"] == "data_validity.train_test_leakage")
    cols = leak["evidence"]["columns_compared"]
    seen = set(map(tuple, ref[cols].astype(str).itertuples(index=False)))
    share = sum(tuple(r) in seen for r in cur[cols].astype(str).itertuples(index=False)) / len(cur)
    assert abs(share - leak["value"]) < 1e-12
    page = html.render(demo_scan)
    decide = page[page.index('<section id="drivers">'):page.index('<section id="changes">')]
    assert f"worst {share * 100:.3g} % against the fail level 1 %" in decide


def test_hostile_report_fields_never_break_or_inject(demo_scan):
    evil = "<script>alert(1)</script>"
    bad = dict(demo_scan)
    bad["changes"] = {"baseline": {"created_at": evil, "digest": 5}, "new": [{"title": evil}, 7], "worse": "x",
                      "metrics": [None, {"title": evil, "before": [1], "after": {}}]}
    bad["manifest"] = dict(demo_scan["manifest"], regulations={"frameworks": [{"id": "eu", "title": evil,
                                                               "provisions": [{"id": evil, "title": 3}, "x"]}],
                                                               "kinds": {"pii.pii_detected": {"eu": 5}, "x": 3}})
    page = html.render(bad, approvals=[{"role": evil, "approver": evil, "public_key": evil, "decision": "approve"}])
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_each_threshold_names_its_source_exactly(demo_scan):
    """"threshold and where it comes from": the policy key with its value, or the checker's
    default, never "policy key …, else the checker's default"."""
    from riskaudit.policy import load_policy
    from riskaudit.registry import Registry

    page = html.render(demo_scan)
    assert "else the checker" not in page
    decide = page[page.index('<section id="drivers">'):page.index('<section id="changes">')]
    # the demo runs the built-in default policy, which sets the four-fifths rule explicitly
    pol = load_policy("default")
    fairness = next(c for c in Registry.from_entry_points() if c.id == "fairness")
    assert pol.threshold_sources(fairness)["disparate_impact"]["fail"]["source"] in decide
    assert "policy “default” key checks.fairness.thresholds.disparate_impact.fail = 0.8" in decide
    assert demo_scan["manifest"]["thresholds"]["fairness.disparate_impact"]["fail"]["value"] == 0.8
