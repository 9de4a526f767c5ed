"""Plain-language texts: every fail/warn-capable kind of every installed checker explains itself,
and numbers reach the reader rounded with their unit."""

import re

import pytest

from riskaudit.checks.base import Kind
from riskaudit.registry import Registry
from riskaudit.reports.plain import humanize, kind_texts, number, percent, with_unit

UNITS = {"share", "points", "ratio", "relative", "sd", "shift", "p_value", "flag", "obligation"}


def _graded_kinds():
    reg = Registry.from_entry_points()
    return [(c.id, name, kind) for c in reg for name, kind in c.kinds.items()
            if kind.fail is not None or kind.warn is not None]


@pytest.mark.parametrize("cid, name, kind", _graded_kinds(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_graded_kind_has_why_advice_and_unit(cid, name, kind: Kind):
    assert len(kind.why.split()) >= 8, f"{cid}.{name}: Kind(why=...) must say why it matters in plain words"
    assert len(kind.advice.split()) >= 6, f"{cid}.{name}: Kind(advice=...) must say what to do"
    assert kind.unit, f"{cid}.{name}: Kind(unit=...) must name what the value measures"
    assert kind.unit in UNITS or kind.unit.isalpha() and kind.unit.endswith("s"), kind.unit
    assert "_" not in kind.why, f"{cid}.{name}: why has snake_case jargon"


def test_kind_texts_reach_the_renderer_for_plugins_too():
    from helpers import Hostile

    texts = kind_texts(Registry.from_classes([Hostile]))
    assert set(texts) == {f"{Hostile.id}.{k}" for k in Hostile.kinds}
    builtin = kind_texts()
    assert builtin["fairness.disparate_impact"].why and builtin["fairness.disparate_impact"].unit == "ratio"


@pytest.mark.parametrize("value, unit, text", [
    (0.03333333333333333, "share", "3.33 %"),
    (0.0016666666666666668, "share", "0.167 %"),
    (1.0, "share", "100 %"),
    (0.0, "share", "0 %"),
    (0.00001, "share", "< 0.01 %"),
    (0.6330935251798561, "points", "63.3 percentage points"),
    (0.5436574491355938, "sd", "0.54 standard deviations"),
    (6.264935606485862e-08, "relative", "< 0.0001 %"),
    (0.330626546851854, "relative", "33.1 %"),
    (8.8e-20, "p_value", "p < 0.001"),
    (0.04, "p_value", "p = 0.04"),
    (25, "samples", "25 samples"),
    (1, "rows", "1 row"),
    (1.0, "flag", "yes"),
    (0.5, "obligation", "partial"),
    (0.755, "ratio", "0.76"),
    (1234567.0, "", "1,234,567"),
])
def test_numbers_are_rounded_with_units(value, unit, text):
    assert with_unit(value, unit) == text


def test_number_never_uses_scientific_notation_for_ordinary_numbers():
    for v in (0.27, 0.54, 0.81, 1e-3, 0.00012, 12345.678, 2.5e6, 0.1 + 0.2):
        assert "e" not in number(v), v
    assert number(0.1 + 0.2) == "0.3"
    assert number(14061009.37) == "14,100,000" and number(123456.7) == "123,000" and number(-1234.5) == "-1,230"
    assert number(1200.0) == "1,200" and number(1200) == "1,200"  # counts stay whole
    assert percent(0.12345) == "12.3 %"


def test_headers_are_words():
    assert humanize("rows_checked") == "Rows checked"
    assert humanize("p_value") == "P value"
    assert humanize("wasserstein_sd") == "Wasserstein SD"
    assert humanize("tpr_difference") == "TPR difference"


def test_a_plugin_kinds_texts_reach_its_html_report_through_the_scan():
    """A plugin not installed here (registry passed in, as in a notebook) still gets its why,
    advice and unit into the report: the scan carries them in the manifest."""
    import pandas as pd

    import riskaudit
    from riskaudit.checks.base import CheckOutput, Checker, Need
    from riskaudit.reports import html

    class RowLimit(Checker):
        id = "rowlimit"
        description = "Fails when the data has more rows than allowed."
        needs = frozenset({Need.DATA})
        kinds = {"too_many_rows": Kind("rows above the limit", fail=2, unit="rows",
                                       why="Reviewers cannot check this many rows <by hand>.",
                                       advice="Split the data set into reviewable parts.")}

        def run(self, ctx):
            return CheckOutput([ctx.finding("too_many_rows", "data", "{value} rows", value=ctx.data.rows)], "rows")

    rep = riskaudit.scan(data=pd.DataFrame({"a": range(5)}), registry=Registry.from_classes([RowLimit]),
                         policy={"name": "t"}).to_dict()
    assert rep["manifest"]["kind_texts"]["rowlimit.too_many_rows"]["unit"] == "rows"
    page = html.render(rep)
    decide = page[page.index('<section id="drivers">'):page.index('<section id="changes">')]
    assert "Reviewers cannot check this many rows &lt;by hand&gt;." in decide
    assert "Split the data set into reviewable parts." in decide
    assert "worst 5 rows against the fail level 2 rows" in decide


# ---------------------------------------------------------------- plain messages in a real report
_SCI = re.compile(r"\d\.?\d*[eE][+-]?\d+")
_DECIMAL = re.compile(r"(?<![\w.])\d[\d,]*\.\d+(?![\w.])")
_SNAKE = re.compile(r"\b[A-Za-z]+(?:_[A-Za-z0-9]+)+\b")
_UNGROUPED = re.compile(r"(?<![\w.,-])\d{4,}(?![\w.,]\d|\w)")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\[[^\]]*\]")


def _significant(token: str) -> int:
    digits = token.replace(",", "").replace(".", "").lstrip("0")
    return len(digits.rstrip("0")) if "." not in token else len(digits)


def plain_problems(text: str, names: set[str]) -> list[str]:
    """What a compliance officer should not meet in a message: scientific notation, raw floats
    with more than 3 significant digits, counts of 1,000 or more without thousands separators,
    snake_case words and type codes (``PHONE_NUMBER``) that are not the data's own column
    names. Quoted values (data shown as it is) are left out."""
    bare = _QUOTED.sub("''", text)
    out = [f"scientific notation {m.group()!r}" for m in _SCI.finditer(bare)]
    out += [f"raw number {m.group()!r}" for m in _DECIMAL.finditer(bare) if _significant(m.group()) > 3]
    out += [f"count without thousands separators {m.group()!r}" for m in _UNGROUPED.finditer(bare)
            if not 1900 <= int(m.group()) <= 2100]  # a year is written as it is
    out += [f"snake_case {m.group()!r}" for m in _SNAKE.finditer(bare)
            if m.group() not in names and not any(p in names for p in m.group().split(" x "))]
    return out


def test_the_plain_language_scanner_catches_raw_figures_and_jargon():
    assert plain_problems("shifted by 0.544 reference SDs (p=8.8e-20)", set()) == ["scientific notation '8.8e-20'"]
    assert plain_problems("share 0.03333333", set()) == ["raw number '0.03333333'"]
    assert plain_problems("see nondeterministic_predictions", set()) == ["snake_case 'nondeterministic_predictions'"]
    assert plain_problems("group 'a_b' of age_band: 3.33 %, 1,200 rows, 0.0083", {"age_band"}) == []
    assert plain_problems("480 of 1200 rows in 2026, 12,000 in all, v2.13.0", set()) == [
        "count without thousands separators '1200'"]
    assert plain_problems("7 PHONE_NUMBER", set()) == ["snake_case 'PHONE_NUMBER'"]


def test_demo_report_messages_are_plain(demo_scan, demo_out):
    """Every message and summary of every built-in checker in the real demo report: rounded
    numbers with units, grouped counts, no scientific notation, no snake_case jargon or type
    codes beyond the data's own column names."""
    header = (demo_out / "inputs" / "data" / "current.csv").read_text(encoding="utf-8").splitlines()[0]
    names = set(header.split(","))
    problems = []
    for check in demo_scan["checks"]:
        texts = [("summary", check["summary"])] + [(f["id"], f["message"]) for f in check["findings"]]
        problems += [f"{where}: {p} in {text!r}" for where, text in texts for p in plain_problems(text, names)]
    assert not problems, "\n".join(problems)


def test_regression_scan_messages_are_plain_too():
    """The regression paths (fairness MAE excess, performance RMSE/R², drift of a numeric
    target) on scikit-learn's diabetes data: the same plain-language rules as the demo."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    import riskaudit

    df = load_diabetes(as_frame=True, scaled=False).frame
    df["sex"] = df["sex"].map({1.0: "a", 2.0: "b"})
    df["age_band"] = (df["age"] // 20 * 20).astype(int).astype(str)
    feats = ["age", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    trn, ref, cur = (df.iloc[:150].reset_index(drop=True), df.iloc[150:300].reset_index(drop=True),
                     df.iloc[300:].reset_index(drop=True))
    cur.loc[:, "bmi"] = cur["bmi"] * 1.15  # a real shift for drift to report
    lr = LinearRegression().fit(trn[feats].to_numpy(), trn["target"])
    report = riskaudit.scan(data=cur, reference=ref, train=trn, target="target", features=feats,
                            sensitive=["sex", "age_band"], model=lambda x: lr.predict(x), task="regression",
                            checks=["data_validity", "fairness", "performance", "drift"], policy="default").to_dict()
    names = set(df.columns)
    problems = []
    ran = [c for c in report["checks"] if c["id"] in ("data_validity", "fairness", "performance", "drift")]
    assert [c["status"] for c in ran if c["status"] in ("error", "skipped")] == [], [c["summary"] for c in ran]
    assert any(f["id"] == "fairness.group_performance" for c in ran for f in c["findings"])
    for check in ran:
        texts = [("summary", check["summary"])] + [(f["id"], f["message"]) for f in check["findings"]]
        problems += [f"{where}: {p} in {text!r}" for where, text in texts for p in plain_problems(text, names)]
    assert not problems, "\n".join(problems)


def test_summaries_do_not_round_a_small_share_to_a_whole_percent():
    """Seen on DAAG's nassCDS: 0.68 % of reference records could be singled out, and the pii
    summary said "1%" (the robustness finding's "keeps 99.6 % of clean accuracy" uses the
    same fmt.percent)."""
    from types import SimpleNamespace

    from riskaudit.checks.pii import _summary

    risk = SimpleNamespace(kind="reidentification_risk", value=30 / 4420, subject="sex, age", evidence={"k": 5})
    text = _summary([risk], set(), "")
    assert "0.68 % of records can be singled out by sex, age (k=5)" in text, text
    assert "1%" not in text


def test_summaries_say_no_record_and_one_attribute_in_words():
    """Seen in a quick start on AER's CPS1988 wages: "0 % of records can be singled out by
    ethnicity" and "fair across the groups of 1 sensitive attribute(s)"."""
    from types import SimpleNamespace

    import pandas as pd

    import riskaudit
    from riskaudit.checks.pii import _summary

    none = SimpleNamespace(kind="reidentification_risk", value=0.0, subject="ethnicity", evidence={"k": 5})
    assert "no record can be singled out by ethnicity (k=5)" in _summary([none], set(), "")
    frame = pd.DataFrame({"g": ["a", "b"] * 60, "y": [0, 1, 1, 0] * 30})
    res = riskaudit.scan(data=frame, target="y", sensitive=["g"], checks=["fairness"], policy="default")
    assert "(s)" not in res.check("fairness").summary
    assert "1 sensitive attribute" in res.check("fairness").summary, res.check("fairness").summary
