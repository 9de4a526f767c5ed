"""The fairness checker on real data with real protected attributes.

Real data: the Titanic passenger list (1,309 rows; protected attributes sex, passenger class,
age) that scikit-learn ships offline in its OpenML test fixtures (dataset 40945). fairlearn
is the oracle: every per-group figure and every disparity must equal fairlearn's MetricFrame
and disparity functions to 1e-9, and the reported ratios must equal an independent pandas
groupby.
"""

from __future__ import annotations

import gzip
import io
import math
import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (MetricFrame, demographic_parity_difference,
                               demographic_parity_ratio, equalized_odds_difference,
                               false_negative_rate, false_positive_rate, selection_rate,
                               true_positive_rate)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_score

from riskaudit import fmt
from riskaudit.checks.fairness import FairnessChecker
from riskaudit.checks.fairness import _counts
from riskaudit.result import Status
from riskaudit.testing import check_checker, run_check

FEATURES = ["pclass", "is_male", "age_filled", "sibsp", "parch", "fare_filled"]
TOL = 1e-9


def load_titanic() -> pd.DataFrame:
    pkg = resources.files("sklearn.datasets.tests.data.openml.id_40945")
    raw = gzip.decompress((pkg / "data-v1-dl-16826755.arff.gz").read_bytes()).decode("utf-8")
    head, body = raw.split("@data", 1)
    cols = [line.split()[1].strip("'") for line in head.splitlines()
            if line.lower().startswith("@attribute")]
    df = pd.read_csv(io.StringIO(body.strip()), header=None, names=cols, na_values=["?"],
                     quotechar='"', skipinitialspace=True)
    df["sex"] = df["sex"].str.strip("'")
    df["is_male"] = (df["sex"] == "male").astype(float)
    df["age_filled"] = df["age"].fillna(df["age"].median())
    df["fare_filled"] = df["fare"].fillna(df["fare"].median())
    df["age_band"] = pd.cut(df["age"], [0, 17, 40, 120], labels=["0-17", "18-40", "41+"]).astype(object)
    df["passenger_class"] = df["pclass"].map({1: "first", 2: "second", 3: "third"})
    return df[["passenger_class", "pclass", "sex", "is_male", "age", "age_band", "age_filled",
               "sibsp", "parch", "fare_filled", "survived"]]


class GroupQuota:
    """A 'balanced' model: a logistic score without sex, thresholded per sex so that the same
    share of each group is predicted to survive (demographic parity by construction)."""

    riskaudit_accepts_dataframe = True

    def __init__(self, df: pd.DataFrame, share: float = 0.4):
        x = df[["pclass", "age_filled", "sibsp", "parch", "fare_filled"]].to_numpy(float)
        self.lr = LogisticRegression(max_iter=1000).fit(x, df["survived"])
        score = self.lr.predict_proba(x)[:, 1]
        self.cut = {s: np.quantile(score[(df["is_male"] == s).to_numpy()], 1 - share) for s in (0.0, 1.0)}

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame[["pclass", "age_filled", "sibsp", "parch", "fare_filled"]].to_numpy(float)
        score = self.lr.predict_proba(x)[:, 1]
        cut = np.where(frame["is_male"].to_numpy() == 1.0, self.cut[1.0], self.cut[0.0])
        p = np.where(score >= cut, 0.9, 0.1)
        return np.stack([1 - p, p], axis=1)

    __call__ = predict_proba


@pytest.fixture(scope="module")
def titanic():
    return load_titanic()


@pytest.fixture(scope="module")
def biased_model(titanic):
    """Logistic regression on features that include sex: it learned 'women and children first'."""
    return LogisticRegression(max_iter=2000).fit(titanic[FEATURES].to_numpy(np.float32),
                                                 titanic["survived"])


def scan_titanic(df, model, sensitive=("sex", "passenger_class"), policy=None, **options):
    model = getattr(model, "predict_proba", None) if isinstance(model, LogisticRegression) else model
    return run_check(FairnessChecker, data=df, model=model, target="survived", features=FEATURES,
                     sensitive=list(sensitive), classes=[0, 1],
                     policy=policy or {"name": "test"}, options={"fairness": options} if options else None)


def by(result, kind, subject):
    hits = [f for f in result.findings if f.kind == kind and f.subject == subject]
    assert len(hits) == 1, [(f.kind, f.subject) for f in result.findings]
    return hits[0]


def test_titanic_loads_real_data(titanic):
    assert len(titanic) == 1309
    assert titanic["sex"].value_counts().to_dict() == {"male": 843, "female": 466}
    assert int(titanic["age_band"].isna().sum()) == 263


def test_every_figure_equals_fairlearn(titanic, biased_model):
    res = scan_titanic(titanic, biased_model, bootstrap=0)
    assert res.status != Status.ERROR, res.summary
    y_true = titanic["survived"].to_numpy()
    y_pred = biased_model.predict(titanic[FEATURES].to_numpy(np.float32))
    metrics = {
        "selection_rate": selection_rate, "accuracy": accuracy_score,
        "true_positive_rate": true_positive_rate, "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
        "precision": lambda t, p: precision_score(t, p, zero_division=np.nan),
    }
    checked = 0
    for label, sf in (("sex", titanic["sex"]), ("passenger_class", titanic["passenger_class"]),
                      ("sex x passenger_class", titanic[["sex", "passenger_class"]])):
        mf = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=sf)
        table = {row["group"]: row for row in res.metrics["groups"][label]}
        for key, expected in mf.by_group.iterrows():
            name = " & ".join(key) if isinstance(key, tuple) else key
            row = table[name]
            assert row["size"] == int((sf == key).all(axis=1).sum() if isinstance(key, tuple) else (sf == key).sum())
            for m in metrics:
                if math.isnan(expected[m]):
                    assert row[m] is None
                else:
                    assert abs(row[m] - expected[m]) < TOL, (label, name, m)
                    checked += 1
        for m in metrics:
            assert abs(table["(overall)"][m] - mf.overall[m]) < TOL
        assert abs(by(res, "disparate_impact", label).value
                   - demographic_parity_ratio(y_true, y_pred, sensitive_features=sf)) < TOL
        assert abs(by(res, "demographic_parity", label).value
                   - demographic_parity_difference(y_true, y_pred, sensitive_features=sf)) < TOL
        assert abs(by(res, "equalized_odds", label).value
                   - equalized_odds_difference(y_true, y_pred, sensitive_features=sf)) < TOL
        assert abs(by(res, "disparate_impact", label).value - mf.ratio()["selection_rate"]) < TOL
    assert checked >= 6 * (2 + 3 + 6) - 2


def test_ratios_equal_independent_pandas_and_biased_model_fails(titanic, biased_model):
    res = scan_titanic(titanic, biased_model)
    df = titanic.assign(pred=biased_model.predict(titanic[FEATURES].to_numpy(np.float32)))
    for col in ("sex", "passenger_class"):
        rates = df.groupby(col)["pred"].mean()
        assert by(res, "disparate_impact", col).value == pytest.approx(rates.min() / rates.max(), abs=TOL)
        assert by(res, "demographic_parity", col).value == pytest.approx(rates.max() - rates.min(), abs=TOL)
    di = by(res, "disparate_impact", "sex")
    assert di.status == Status.FAIL and di.threshold == 0.8
    assert di.evidence["low_group"] == "male" and di.evidence["high_group"] == "female"
    lo, hi = di.evidence["ci"]
    assert lo <= di.value <= hi < 0.8
    rates = df.groupby("sex")["pred"].mean()
    assert di.evidence["sentence"] == (f"People in group male get the outcome '1' "
                                       f"{fmt.number(rates['male'] / rates['female'], 2)} times as often as group female.")
    chart = di.evidence["charts"][0]
    assert chart["type"] == "bar" and chart["labels"] == ["female", "male"]
    assert chart["reference_lines"][0]["value"] == pytest.approx(0.8 * rates.max())
    assert all(a <= v <= b for v, (a, b) in zip(chart["values"], chart["errors"]))
    assert res.metrics["settings"]["positive_label"] == 1
    assert "second class" in res.metrics["settings"]["positive_label_source"]
    assert "pclass" not in res.metrics["notes"]  # passenger_class is not itself a feature


def test_balanced_model_passes_false_positive_control(titanic):
    model = GroupQuota(titanic)
    res = scan_titanic(titanic, model, sensitive=("sex",))
    di = by(res, "disparate_impact", "sex")
    rates = titanic.assign(p=model.predict_proba(titanic)[:, 1] > 0.5).groupby("sex")["p"].mean()
    assert di.value == pytest.approx(rates.min() / rates.max(), abs=TOL)
    assert di.value > 0.95 and di.status == Status.PASS
    assert by(res, "demographic_parity", "sex").status == Status.PASS
    # equal selection rates by quota cost equal error rates: the checker says so
    assert by(res, "equalized_odds", "sex").status != Status.PASS


def test_clean_labels_give_no_fail(titanic):
    """False-positive control: labels shuffled independently of every attribute."""
    df = titanic.assign(survived=np.random.default_rng(7).permutation(titanic["survived"].to_numpy()))
    res = scan_titanic(df, None, sensitive=("sex", "passenger_class"))
    assert not [f for f in res.findings if f.status == Status.FAIL], res.summary
    rates = df.groupby("sex")["survived"].mean()
    assert by(res, "disparate_impact", "sex").value == pytest.approx(rates.min() / rates.max(), abs=TOL)


def test_data_level_fairness_without_model(titanic):
    res = scan_titanic(titanic, None, sensitive=("sex", "age_band"))
    rates = titanic.groupby("sex")["survived"].mean()
    di = by(res, "disparate_impact", "sex")
    assert di.value == pytest.approx(rates["male"] / rates["female"], abs=TOL)
    assert di.status == Status.FAIL
    assert "labels" in res.summary and res.metrics["settings"]["mode"].startswith("data-level")
    assert not [f for f in res.findings if f.kind in ("equalized_odds", "group_performance")]
    # nulls in the sensitive column are their own group, and the report says so
    table = {r["group"]: r for r in res.metrics["groups"]["age_band"]}
    assert table["(missing)"]["size"] == 263
    assert table["(missing)"]["selection_rate"] == pytest.approx(
        titanic.loc[titanic["age_band"].isna(), "survived"].mean(), abs=TOL)
    assert any("263 rows without a value form their own group" in n for n in res.metrics["notes"])


def test_no_model_no_target_is_skipped_with_reason(titanic):
    res = run_check(FairnessChecker, data=titanic.drop(columns=["survived"]), sensitive=["sex"],
                    features=FEATURES)
    assert res.status == Status.SKIPPED
    assert "no model" in res.summary and "no target" in res.summary


def test_check_checker_conformance_and_sensitive_feature_note(titanic, biased_model):
    res = check_checker(FairnessChecker, data=titanic, model=biased_model.predict_proba, target="survived",
                        features=FEATURES, sensitive=["sex", "pclass"], classes=[0, 1])
    assert res.status == Status.FAIL
    assert "pclass is also a model input: the model can use it directly." in res.metrics["notes"]


def test_underrepresented_group_is_left_out_and_one_member_group(titanic, biased_model):
    df = titanic.copy()
    df.loc[0, "sex"] = "<script>alert(1)</script>"  # one member, hostile name
    df.loc[1:10, "sex"] = "ünïcødé"  # ten members
    res = scan_titanic(df, biased_model, sensitive=("sex",))
    assert res.status != Status.ERROR
    small = [f for f in res.findings if f.kind == "underrepresented_group" and f.status == Status.WARN]
    assert sorted(f.value for f in small) == [1, 10]
    assert all("insufficient data" in f.message for f in small)
    di = by(res, "disparate_impact", "sex")
    assert set(di.evidence["groups_left_out"]) == {"<script>alert(1)</script>", "ünïcødé"}
    big = df[df["sex"].isin(["male", "female"])]
    rates = big.assign(p=biased_model.predict(big[FEATURES].to_numpy(np.float32))).groupby("sex")["p"].mean()
    assert di.value == pytest.approx(rates.min() / rates.max(), abs=TOL)
    one = {r["group"]: r for r in res.metrics["groups"]["sex"]}["<script>alert(1)</script>"]
    assert one["size"] == 1 and one["note"] == "insufficient data"


def test_only_small_groups_gives_insufficient_data_not_a_verdict(titanic, biased_model):
    df = titanic.head(40).copy()
    df["tiny"] = ["a"] * 20 + ["b"] * 20
    res = scan_titanic(df, biased_model, sensitive=("tiny",))
    assert not [f for f in res.findings if f.kind == "disparate_impact"]
    assert any("insufficient data" in f.message for f in res.findings)


def test_high_cardinality_attribute_stays_readable(titanic, biased_model):
    df = titanic.assign(ticket_id=[f"t{i % 400}" for i in range(len(titanic))])
    res = scan_titanic(df, biased_model, sensitive=("ticket_id", "sex"))
    assert res.status != Status.ERROR, res.summary
    assert len(res.metrics["groups"]["ticket_id"]) == 50  # 49 largest groups + overall
    small = [f for f in res.findings if f.kind == "underrepresented_group" and f.subject == "ticket_id"]
    assert [f.value for f in small if "400 groups of ticket_id have fewer than 30 rows" in f.message] == [3]
    assert any("no disparity can be judged (insufficient data)" in f.message for f in small)
    assert not [f for f in res.findings if f.kind == "disparate_impact" and f.subject == "ticket_id"]
    assert any("ticket_id x sex: 691 intersection groups" in n for n in res.metrics["notes"])


def test_reference_group_threshold_and_positive_label(titanic, biased_model):
    res = scan_titanic(titanic, biased_model, sensitive=("passenger_class",),
                       reference_groups={"passenger_class": "first"}, threshold=0.3, positive_label=1)
    proba = biased_model.predict_proba(titanic[FEATURES].to_numpy(np.float32))[:, 1]
    rates = titanic.assign(p=proba >= 0.3).groupby("passenger_class")["p"].mean()
    di = by(res, "disparate_impact", "passenger_class")
    assert di.value == pytest.approx(min(rates["second"], rates["third"]) / rates["first"], abs=TOL)
    assert di.evidence["reference_group"] == "first" and di.evidence["high_group"] == "first"
    assert "0.3" in res.metrics["settings"]["prediction"]


def test_require_ci_for_fail_downgrades_uncertain_fail(titanic, biased_model):
    # 60 rows: the point estimate of passenger_class is past 0.8 but the interval is wide
    df = titanic.sample(120, random_state=3)
    policy = {"name": "t", "checks": {"fairness": {"thresholds": {
        "disparate_impact": {"fail": 0.8, "warn": None}, "underrepresented_group": {"warn": 5}}}}}
    plain = scan_titanic(df, biased_model, sensitive=("passenger_class",), policy=policy)
    strict = scan_titanic(df, biased_model, sensitive=("passenger_class",), policy=policy,
                          require_ci_for_fail=True)
    a, b = by(plain, "disparate_impact", "passenger_class"), by(strict, "disparate_impact", "passenger_class")
    assert a.value == b.value and a.status == Status.FAIL
    lo, hi = a.evidence["ci"]
    assert (b.status == Status.FAIL) == (hi < 0.8)
    if hi >= 0.8:
        assert b.status == Status.WARN and "require_ci_for_fail" in b.evidence["advice"]


def test_extra_metric_goes_through_metricframe(titanic, biased_model):
    res = scan_titanic(titanic, biased_model, sensitive=("sex",), extra_metrics=["f1_score"])
    from sklearn.metrics import f1_score
    y_pred = biased_model.predict(titanic[FEATURES].to_numpy(np.float32))
    mf = MetricFrame(metrics=f1_score, y_true=titanic["survived"], y_pred=y_pred,
                     sensitive_features=titanic["sex"])
    table = {r["group"]: r for r in res.metrics["groups"]["sex"]}
    for g in ("female", "male"):
        assert table[g]["f1_score"] == pytest.approx(mf.by_group[g], abs=TOL)
    with pytest.raises(ValueError, match="no metric function named 'nope'"):
        FairnessChecker.validate_options({"extra_metrics": ["nope"]})


def test_bootstrap_is_seeded_and_vectorized():
    table = np.array([[50, 0, 10, 0, 5, 0, 30, 0, 0, 0, 5, 0], [10, 0, 60, 0, 5, 0, 30, 0, 0, 0, 5, 0]])
    a = _counts.bootstrap_tables(table, 500, np.random.default_rng(1))
    b = _counts.bootstrap_tables(table, 500, np.random.default_rng(1))
    assert np.array_equal(a, b) and a.shape == (500, 2, 12)
    assert (a.reshape(500, -1).sum(1) == table.sum()).all()
    assert (a[:, table == 0] == 0).all()
    mean_rate = _counts.classification_metrics(a)["selection_rate"].mean(0)
    assert mean_rate == pytest.approx(_counts.classification_metrics(table)["selection_rate"], abs=0.01)


def test_regression_group_errors(titanic):
    df = titanic.assign(fare_pred=titanic["fare_filled"])

    def predict(x):  # fare predicted from class only: large errors for first class
        return np.where(x[:, 0] == 1, 60.0, np.where(x[:, 0] == 2, 20.0, 13.0))

    res = run_check(FairnessChecker, data=df, model=predict, target="fare_filled", task="regression",
                    features=["pclass"], sensitive=["sex"], policy={"name": "test"})
    assert res.status != Status.ERROR, res.summary
    pred = predict(df[["pclass"]].to_numpy(float))
    err = (df.assign(e=(pred - df["fare_filled"]).abs()).groupby("sex")["e"].mean())
    overall = np.abs(pred - df["fare_filled"]).mean()
    gp = by(res, "group_performance", "sex")
    assert gp.value == pytest.approx(err.max() / overall - 1, abs=TOL)
    table = {r["group"]: r for r in res.metrics["groups"]["sex"]}
    assert table["female"]["mean_absolute_error"] == pytest.approx(err["female"], abs=TOL)
    # data-level regression: mean target per group, no error figures
    res = run_check(FairnessChecker, data=df, target="fare_filled", task="regression",
                    features=["pclass"], sensitive=["sex"], policy={"name": "test"})
    table = {r["group"]: r for r in res.metrics["groups"]["sex"]}
    assert table["male"]["mean_prediction"] == pytest.approx(
        df.loc[df["sex"] == "male", "fare_filled"].mean(), abs=TOL)
    assert res.metrics["charts"][0]["type"] == "bar"


def test_hostile_inputs_never_crash(titanic, biased_model):
    df = titanic.head(60).copy()
    df["sex"] = [np.nan] * 60  # all missing
    res = scan_titanic(df, biased_model, sensitive=("sex",))
    assert res.status != Status.ERROR, res.summary
    df["sex"] = ["<b>x</b>", float("nan"), "ü"] * 20
    res = scan_titanic(df, biased_model, sensitive=("sex",))
    assert res.status != Status.ERROR, res.summary
    hostile = titanic.rename(columns={"sex": "<script>名前</script>"})
    res = scan_titanic(hostile, biased_model, sensitive=("<script>名前</script>", "age_band"))
    assert by(res, "disparate_impact", "<script>名前</script>").status == Status.FAIL
    assert "<script>名前</script> x age_band" in res.metrics["groups"]
    from riskaudit.errors import InputError
    with pytest.raises(InputError, match="no rows"):  # refused by the scan before any checker
        scan_titanic(titanic.head(0), biased_model, sensitive=("sex",))


def test_demo_age_band_fails_sex_passes(tmp_path):
    from riskaudit.demo import CLASSES, FEATURES as DEMO_FEATURES, prepare_demo, make_demo_data
    import riskaudit.demo as demo_mod

    project = prepare_demo(tmp_path)  # trained model comes from the cache when present
    _, cur = make_demo_data()
    res = run_check(FairnessChecker, data=cur, model=str(project.parent / "model.pt"),
                    target="decision", features=DEMO_FEATURES, sensitive=list(demo_mod.SENSITIVE),
                    classes=CLASSES, options={"fairness": {"positive_label": "approved",
                                                           "population": "Applicants"}})
    age, sex = by(res, "disparate_impact", "age_band"), by(res, "disparate_impact", "sex")
    assert age.status == Status.FAIL and age.value < 0.8
    assert sex.status == Status.PASS and sex.value >= 0.8
    assert age.evidence["low_group"] == "18-25"
    # "are approved 0.4 times as often as group ..." or, when the model approves none of them,
    # "are never approved, against ..." (the demo model's training decides which)
    assert re.match(r"Applicants in group 18-25 are (never )?approved", age.evidence["sentence"])
    assert res.metrics["settings"]["positive_label"] == "approved"
    assert res.summary.startswith("The predictions fail the fairness policy for age_band")
    assert age.evidence["sentence"] in res.summary


def test_a_group_never_selected_is_said_in_words():
    """Seen in the demo: "Applicants in group 18-25 are approved 0 times as often as group ..."."""
    frame = pd.DataFrame({"g": ["a"] * 50 + ["b"] * 50,
                          "y": ["approved" if i % 2 else "denied" for i in range(50)] + ["denied"] * 50})
    from riskaudit.scan import scan

    res = scan(data=frame, target="y", sensitive=["g"], checks=["fairness"],
               classes=["denied", "approved"]).check("fairness")
    assert "People in group b are never approved, against 50 % in group a." in res.summary, res.summary
    di = next(f for f in res.findings if f.kind == "disparate_impact")
    assert di.value == 0 and di.message.startswith("Group 'b' of g is never selected (selection rates 0 % and 50 %")
    assert "0 times" not in res.summary + di.message
