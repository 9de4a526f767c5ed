"""The performance checker against scikit-learn's metric functions (the oracle), on
scikit-learn's bundled data sets, with edge cases; properties instead of pinned figures."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from riskaudit.checks.performance import PerformanceChecker
from riskaudit.checks.performance import _metrics as M
from riskaudit.result import Status
from riskaudit.testing import check_checker, run_check

TOL = 1e-9  # the same arithmetic in float64: agreement to rounding


def _frame(bunch, target_names=True):
    df = bunch.data.copy()
    df.columns = [str(c) for c in df.columns]
    y = bunch.target.to_numpy()
    df["label"] = np.asarray(bunch.target_names)[y] if target_names else y
    return df


def _proba(seed, n, k):
    p = np.random.default_rng(seed).dirichlet(np.ones(k), n)
    return p


@pytest.mark.parametrize("loader,k", [(load_breast_cancer, 2), (load_iris, 3), (load_wine, 3)])
def test_classification_metrics_equal_sklearn(loader, k):
    x, y = loader(return_X_y=True)
    proba = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x[::2], y[::2]).predict_proba(x)
    got = M.classification(y, proba)
    pred = proba.argmax(1)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=TOL)
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred), abs=TOL)
    assert got["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0), abs=TOL)
    auc = skm.roc_auc_score(y, proba[:, 1]) if k == 2 else skm.roc_auc_score(y, proba, multi_class="ovr")
    assert got["roc_auc"] == pytest.approx(auc, abs=TOL)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=list(range(k))), abs=1e-9)
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=list(range(k)), zero_division=0)
    pc = M.per_class(M.confusion(y, pred, k))
    np.testing.assert_allclose(pc["precision"], p, atol=TOL)
    np.testing.assert_allclose(pc["recall"], r, atol=TOL)
    np.testing.assert_allclose(pc["f1"], f, atol=TOL)
    np.testing.assert_array_equal(pc["support"], s)


def test_edge_cases_match_sklearn():
    rng = np.random.default_rng(3)
    # ties everywhere: scores rounded to one decimal
    y = rng.integers(0, 2, 300)
    score = np.round(rng.random(300), 1)
    proba = np.stack([1 - score, score], 1)
    assert M.roc_auc(y, proba) == pytest.approx(skm.roc_auc_score(y, score), abs=TOL)
    # a class never predicted, and one absent from the true labels (zero_division=0)
    y3 = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    p3 = np.array([0, 0, 0, 1, 2, 1, 0, 0])
    cm = M.confusion(y3, p3, 3)
    assert M.balanced_accuracy(cm) == pytest.approx(skm.balanced_accuracy_score(y3, p3), abs=TOL)
    pr, rc, f1, _ = skm.precision_recall_fscore_support(y3, p3, labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose(M.per_class(cm)["f1"], f1, atol=TOL)
    # multiclass AUC over the classes present when one class is absent from y
    proba3 = _proba(4, 200, 3)
    y_missing = rng.integers(0, 2, 200)  # class 2 never occurs
    present = [skm.roc_auc_score(y_missing == c, proba3[:, c]) for c in (0, 1)]
    assert M.roc_auc(y_missing, proba3) == pytest.approx(np.mean(present), abs=TOL)
    # a single class present: AUC is undefined, not a crash
    assert np.isnan(M.roc_auc(np.zeros(10, int), _proba(5, 10, 2)))
    # probabilities of exactly 0 and 1: clipped like sklearn
    hard = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    yh = np.array([0, 1, 1])
    assert M.log_loss(yh, hard) == pytest.approx(skm.log_loss(yh, hard), rel=1e-12)


def test_regression_metrics_equal_sklearn():
    x, y = load_diabetes(return_X_y=True)
    pred = LinearRegression().fit(x[::2], y[::2]).predict(x)
    got = M.regression(y, pred)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), abs=1e-9)
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred), abs=1e-9)
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred), abs=1e-12)
    const = np.full(5, 2.0)
    assert M.regression(const, const)["r2"] == skm.r2_score(const, const)  # constant target, exact fit
    assert M.regression(const, const + 1)["r2"] == skm.r2_score(const, const + 1)


@pytest.mark.parametrize("bins", [5, 10, 15])
def test_ece_agrees_with_sklearn_calibration_curve(bins):
    x, y = load_breast_cancer(return_X_y=True)
    proba = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x[::2], y[::2]).predict_proba(x)
    b = M.calibration_bins(y, proba, bins)
    conf = proba.max(1)
    correct = (proba.argmax(1) == y).astype(int)
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=bins, strategy="uniform")
    np.testing.assert_allclose(b["accuracy"], prob_true, atol=1e-12)
    np.testing.assert_allclose(b["confidence"], prob_pred, atol=1e-12)
    counts = np.histogram(conf, bins=np.linspace(0, 1, bins + 1))[0]
    # np.histogram closes the last bin on the right like searchsorted on the inner edges
    assert b["count"].sum() == len(y) and sorted(b["count"]) == sorted(counts[counts > 0])
    assert M.ece(y, proba, bins) == pytest.approx(np.sum(b["count"] / len(y) * np.abs(prob_true - prob_pred)))


def _split(df, seed=0):
    idx = np.random.default_rng(seed).permutation(len(df))
    a = len(df) // 2
    return df.iloc[idx[:a]].reset_index(drop=True), df.iloc[idx[a:]].reset_index(drop=True)


def test_checker_figures_are_sklearn_figures_and_inside_their_intervals():
    df = _frame(load_wine(as_frame=True))
    train, data = _split(df)
    feats = [c for c in df.columns if c != "label"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[feats].to_numpy(np.float32), train["label"])
    res = check_checker(PerformanceChecker, model=model.predict_proba, data=data, train=train, target="label",
                        classes=list(model.classes_))
    proba = model.predict_proba(data[feats].to_numpy(np.float32))
    y = data["label"].map({c: i for i, c in enumerate(model.classes_)}).to_numpy()
    m = res.metrics["data"]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, proba.argmax(1)), abs=1e-5)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, proba.argmax(1)), abs=1e-5)
    # model outputs pass through float32: compare at float32 precision
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"), abs=1e-4)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=1e-4)
    for name, (lo, hi) in res.metrics["intervals"].items():
        if m.get(name) is not None:
            assert lo - 1e-9 <= m[name] <= hi + 1e-9 or name == "ece", (name, lo, m[name], hi)
    per_class = {r["class"]: r for r in res.metrics["per_class"]}
    _, rc, _, s = skm.precision_recall_fscore_support(y, proba.argmax(1), labels=[0, 1, 2], zero_division=0)
    assert [per_class[c]["recall"] for c in model.classes_] == pytest.approx(rc, abs=1e-4)
    assert [per_class[c]["support"] for c in model.classes_] == list(s)
    for row in per_class.values():
        lo, hi = map(float, row["recall interval"].split(" to "))
        assert lo - 1e-3 <= row["recall"] <= hi + 1e-3
    kinds = {f.kind for f in res.findings}
    assert {"model_performance", "baseline_comparison", "calibration", "generalization_gap"} <= kinds
    calib = next(f for f in res.findings if f.kind == "calibration")
    assert calib.evidence["charts"][0]["type"] == "line" and calib.evidence["table"]


def test_overfitted_model_fails_the_generalization_gap():
    # a full-depth tree on noisy labels memorizes its training data: train accuracy 1.0
    df = _frame(load_breast_cancer(as_frame=True))
    flip = np.random.default_rng(1).random(len(df)) < 0.2
    df.loc[flip, "label"] = np.where(df.loc[flip, "label"] == "malignant", "benign", "malignant")
    train, data = _split(df)
    feats = [c for c in df.columns if c != "label"]
    tree = DecisionTreeClassifier(random_state=0).fit(train[feats].to_numpy(np.float32), train["label"])
    res = run_check(PerformanceChecker, model=tree.predict_proba, data=data, train=train, target="label")
    gap = next(f for f in res.findings if f.kind == "generalization_gap")
    assert res.metrics["train"]["balanced_accuracy"] == pytest.approx(1.0)
    # the property: a drop past the default fail level (0.10), whose interval excludes zero
    assert gap.status == Status.FAIL and gap.value > 0.1 and gap.evidence["significant"]
    assert gap.evidence["interval"][0] > 0
    assert "memorized" in PerformanceChecker.kinds["generalization_gap"].why


def test_trivial_model_fails_the_baseline_and_the_minimum():
    df = _frame(load_breast_cancer(as_frame=True))
    train, data = _split(df)
    feats = [c for c in df.columns if c != "label"]
    dummy = DummyClassifier(strategy="prior").fit(train[feats].to_numpy(np.float32), train["label"])
    res = run_check(PerformanceChecker, model=dummy.predict_proba, data=data, train=train, target="label")
    base = next(f for f in res.findings if f.kind == "baseline_comparison")
    assert base.status == Status.FAIL and base.value == pytest.approx(0.0, abs=1e-9)
    assert "is 0 percentage points above always predicting" in base.message  # in the threshold's unit
    bal = next(f for f in res.findings if f.kind == "model_performance" and f.subject == "balanced_accuracy")
    assert bal.status == Status.FAIL and bal.value == pytest.approx(0.5)
    assert "trivial" in res.summary


def test_minimum_follows_the_risk_tier_and_a_policy_level_overrides_it():
    df = _frame(load_breast_cancer(as_frame=True))
    train, data = _split(df)
    feats = [c for c in df.columns if c != "label"]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(train[feats].to_numpy(np.float32), train["label"])
    mins = {}
    for tier in ("low", "high"):
        res = run_check(PerformanceChecker, model=model.predict_proba, data=data, target="label", risk_tier=tier)
        mins[tier] = next(f.threshold for f in res.findings if f.subject == "balanced_accuracy")
    assert mins["low"] < mins["high"]
    pol = {"name": "t", "checks": {"performance": {"thresholds": {"model_performance": {"fail": 0.999}}}}}
    res = run_check(PerformanceChecker, model=model.predict_proba, data=data, target="label", policy=pol)
    bal = next(f for f in res.findings if f.subject == "balanced_accuracy")
    assert bal.threshold == 0.999 and bal.status == Status.FAIL


def test_regression_checker_equals_sklearn():
    df = load_diabetes(as_frame=True).frame
    train, data = _split(df)
    feats = [c for c in df.columns if c != "target"]
    lr = LinearRegression().fit(train[feats].to_numpy(np.float32), train["target"])
    res = check_checker(PerformanceChecker, model=lr.predict, data=data, train=train, target="target",
                        task="regression")
    pred = lr.predict(data[feats].to_numpy(np.float32))
    assert res.metrics["data"]["r2"] == pytest.approx(skm.r2_score(data["target"], pred), abs=1e-4)
    assert res.metrics["data"]["mae"] == pytest.approx(skm.mean_absolute_error(data["target"], pred), rel=1e-5)
    base = next(f for f in res.findings if f.kind == "baseline_comparison")
    rmse_mean = skm.root_mean_squared_error(data["target"], np.full(len(data), train["target"].mean()))
    assert base.value == pytest.approx(1 - skm.root_mean_squared_error(data["target"], pred) / rmse_mean, abs=1e-4)


def test_skipped_without_a_model_and_gap_skipped_without_train():
    df = _frame(load_iris(as_frame=True))
    res = run_check(PerformanceChecker, data=df, target="label")
    assert res.status == Status.SKIPPED and "--predictions" in res.summary
    feats = [c for c in df.columns if c != "label"]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(df[feats].to_numpy(np.float32), df["label"])
    res = run_check(PerformanceChecker, model=model.predict_proba, data=df, target="label")
    assert res.metrics["skipped"]["generalization_gap"] == "no training data was given (--train)"
    assert "not measured" in res.summary


def test_rows_with_labels_the_model_does_not_know_are_left_out_and_said():
    df = _frame(load_iris(as_frame=True))
    feats = [c for c in df.columns if c != "label"]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(df[feats].to_numpy(np.float32), df["label"])
    data = df.copy()
    data.loc[:4, "label"] = "Setosa "  # a misspelt label: not one of the model's classes
    res = run_check(PerformanceChecker, model=model.predict_proba, data=data, target="label",
                    classes=list(model.classes_))
    assert res.metrics["rows_without_known_label"] == 5 and "5 rows without a label" in res.summary
    kept = data.iloc[5:]
    pred = model.predict(kept[feats].to_numpy(np.float32))
    assert res.metrics["data"]["accuracy"] == pytest.approx(skm.accuracy_score(kept["label"], pred), abs=1e-6)


def test_the_minimum_names_the_option_it_comes_from():
    df = _frame(load_breast_cancer(as_frame=True))
    train, data = _split(df)
    feats = [c for c in df.columns if c != "label"]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(train[feats].to_numpy(np.float32), train["label"])
    res = run_check(PerformanceChecker, model=model.predict_proba, data=data, target="label", risk_tier="high")
    f = next(f for f in res.findings if f.kind == "model_performance")
    assert f.evidence["threshold_source"] == (f"option checks.performance.options.minimums.high.{f.subject} = "
                                              f"{f.threshold:g} (the checker's default value)")
    pol = {"name": "t", "checks": {"performance": {"options": {"minimums": {"high": {f.subject: 0.5}}}}}}
    res = run_check(PerformanceChecker, model=model.predict_proba, data=data, target="label", risk_tier="high",
                    policy=pol)
    f = next(f for f in res.findings if f.kind == "model_performance")
    assert f.evidence["threshold_source"] == f"option checks.performance.options.minimums.high.{f.subject} = 0.5"
@pytest.mark.parametrize("loader,k,model", [(load_breast_cancer, 2, "tree"), (load_breast_cancer, 2, "logistic"),
                                            (load_iris, 3, "tree"), (load_wine, 3, "logistic")])
def test_bootstrap_draws_without_sorting_equal_the_sorting_path(loader, k, model):
    """classification_draws (AUC from tie groups of the full scores) gives the very draws of
    bootstrap(classification) on the same seeded resamples: a shallow tree's scores are
    mostly ties, a logistic model's nearly all distinct; the AUC agrees with scikit-learn."""
    x, y = loader(return_X_y=True)
    est = DecisionTreeClassifier(max_depth=3, random_state=0) if model == "tree" else \
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    proba = est.fit(x[::2], y[::2]).predict_proba(x)
    if model == "tree":
        assert len(np.unique(proba[:, 1])) < len(y) / 20
    fast = M.classification_draws(y, proba, 10, True, 60, np.random.default_rng(3))
    slow = M.bootstrap(lambda i: M.classification(y[i], proba[i], 10), len(y), 60, np.random.default_rng(3))
    assert list(fast) == list(slow)
    for name in slow:  # counts are exact; the log loss and ECE add the same terms in another order
        if name in ("log_loss", "ece"):
            np.testing.assert_allclose(fast[name], slow[name], rtol=1e-12, atol=1e-15, err_msg=name)
        else:
            np.testing.assert_array_equal(fast[name], slow[name], err_msg=name)
    assert np.ptp(fast["roc_auc"]) > 0  # the resamples differ
    i = np.random.default_rng(3).integers(0, len(y), len(y))  # the first resample, by scikit-learn
    auc = skm.roc_auc_score(y[i], proba[i][:, 1]) if k == 2 else skm.roc_auc_score(y[i], proba[i], multi_class="ovr")
    assert fast["roc_auc"][0] == pytest.approx(auc, abs=TOL)
    # NaN scores take the sorting path; labels only skip the scores
    bad = proba.copy()
    bad[0, :] = np.nan
    nan_draws = M.classification_draws(y, bad, 10, True, 5, np.random.default_rng(3))
    assert nan_draws["roc_auc"].shape == (5,)
    assert list(M.classification_draws(y, proba, 10, False, 5, np.random.default_rng(3))) == \
        ["accuracy", "balanced_accuracy", "macro_f1"]


def test_baseline_interval_is_the_bootstrap_of_sklearn_balanced_accuracy():
    """The baseline's interval (resamples taken as row multiplicities) equals the percentile
    interval of scikit-learn's balanced accuracy, model minus majority class, on the very
    resamples the checker draws (its seeded "baseline" stream)."""
    import hashlib

    df = _frame(load_wine(as_frame=True))
    train, data = _split(df)
    feats = [c for c in df.columns if c != "label"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        train[feats].to_numpy(np.float32), train["label"])
    res = run_check(PerformanceChecker, model=model.predict_proba, data=data, train=train, target="label",
                    seed=5, classes=list(model.classes_))
    base = next(f for f in res.findings if f.kind == "baseline_comparison")
    y = np.searchsorted(model.classes_, data["label"].to_numpy())
    pred = model.predict_proba(data[feats].to_numpy(np.float32)).argmax(axis=1)
    majority = int(np.bincount(np.searchsorted(model.classes_, train["label"].to_numpy())).argmax())
    digest = hashlib.sha256(b"5:performance:baseline").digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    lifts = []
    for _ in range(PerformanceChecker.options["bootstrap"].default):
        i = rng.integers(0, len(y), len(y))
        lifts.append(skm.balanced_accuracy_score(y[i], pred[i])
                     - skm.balanced_accuracy_score(y[i], np.full(len(i), majority)))
    lo, hi = np.quantile(lifts, [0.025, 0.975])
    assert base.evidence["interval"][0] == pytest.approx(lo, abs=1e-6)
    assert base.evidence["interval"][1] == pytest.approx(hi, abs=1e-6)
    assert base.evidence["majority_class"] == str(model.classes_[majority])


def test_average_ranks_equal_scipy_rankdata():
    """The performance checker ranks scores with NumPy; scipy.stats.rankdata is the oracle:
    distinct scores, heavy ties (a shallow tree's), integers, one value, NaN."""
    from scipy.stats import rankdata

    x, y = load_breast_cancer(return_X_y=True)
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y).predict_proba(x)[:, 1]
    cases = [x[:, 0], tree, np.random.default_rng(0).integers(0, 5, 300).astype(float), np.ones(7),
             np.array([0.3, np.nan, 0.1]), np.array([], dtype=float)]
    for score in cases:
        np.testing.assert_array_equal(M.average_ranks(score), rankdata(score))
