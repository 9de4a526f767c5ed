"""Tests of the drift checker on real data (scikit-learn's bundled tables, the demo) with the
real libraries (alibi-detect, torch, scikit-learn). Nothing is mocked."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from riskaudit.checks.base import OptionError
from riskaudit.checks.drift import DriftChecker
from riskaudit.result import Status
from riskaudit.testing import check_checker, run_check

FAST = {"latency_batch_sizes": [1, 32], "latency_repeats": 3, "bootstrap": 200, "mmd_permutations": 50}


def _failed(res, kind):
    return sorted(f.subject for f in res.findings if f.kind == kind and f.status == Status.FAIL)


def _flagged(res, kind):
    return sorted(f.subject for f in res.findings if f.kind == kind and f.status != Status.PASS)


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory):
    from riskaudit.demo import CLASSES, FEATURES, prepare_demo

    d = tmp_path_factory.mktemp("demo")
    prepare_demo(d)
    return run_check(DriftChecker, data=d / "data/current.csv", reference=d / "data/validation.csv",
                     model=d / "model.pt", target="decision", features=FEATURES, classes=CLASSES,
                     task="classification", options={"drift": FAST})


# ------------------------------------------------------------------ demo
def test_demo_shows_data_drift_on_income_and_loan_and_concept_drift(demo_result):
    res = demo_result
    assert res.status == Status.FAIL
    assert _flagged(res, "data_drift") == ["income", "loan_amount"]
    assert _failed(res, "data_drift") == ["income", "loan_amount"]
    assert _failed(res, "concept_drift") == ["accuracy"]
    assert _failed(res, "label_drift") == ["decision"]
    assert _failed(res, "prediction_drift") == ["predicted class"]
    assert res.summary.startswith("2 of 6 inputs have shifted; the largest is income.")
    assert "concept drift" in res.summary
    # the table is sorted by effect size and carries p-values
    rows = res.metrics["features"]
    assert [r["feature"] for r in rows][:2] == ["income", "loan_amount"]
    assert all(rows[i]["effect"] >= rows[i + 1]["effect"] for i in range(len(rows) - 1))
    assert all("p_value" in r for r in rows)
    # overlaid histograms for the drifted features only
    charts = [c for f in res.findings if f.kind == "data_drift" for c in f.evidence.get("charts", [])]
    assert [c["title"].split(":")[0] for c in charts] == ["income", "loan_amount"]
    assert [s["name"] for s in charts[0]["series"]] == ["reference", "current"]
    assert abs(sum(charts[0]["series"][0]["values"]) - 1) < 1e-9
    concept = next(f for f in res.findings if f.kind == "concept_drift")
    lo, hi = concept.evidence["interval_95"]
    assert 0 < lo < concept.value < hi
    assert concept.evidence["p_value"] < 1e-6
    # model drift: figures recorded, no baseline
    md = [f for f in res.findings if f.kind == "model_drift"]
    assert len(md) == 1 and md[0].status == Status.PASS and "No baseline" in md[0].message
    perf = res.metrics["model_performance"]
    assert set(perf["latency_s"]) == {"1", "32"} and perf["throughput_per_s"] > 0
    assert set(perf["latency_s"]["1"]) == {"p50", "p95", "p99", "batches", "rows"}


# ------------------------------------------------------------------ false-positive control
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_random_split_of_real_table_gives_no_data_drift_fail(cancer, seed):
    """Tolerance: no data_drift fail (nor warn) on any of 5 random halves of breast_cancer
    (30 features each; Bonferroni keeps the family-wise false-alarm rate at 5% per split)."""
    perm = np.random.default_rng(seed).permutation(len(cancer))
    half = len(cancer) // 2
    ref, cur = cancer.iloc[perm[:half]], cancer.iloc[perm[half:]]
    res = run_check(DriftChecker, data=cur, reference=ref, target="target", seed=seed,
                    options={"drift": {"mmd_permutations": 50}})
    assert res.status != Status.ERROR
    assert _flagged(res, "data_drift") == []
    assert len([f for f in res.findings if f.kind == "data_drift"]) == 30
    assert res.summary.startswith("None of the 30 inputs has shifted measurably.")
    assert _failed(res, "label_drift") == []


def test_conformance_and_split_by_real_attribute():
    """Diabetes split by sex: the features whose means really differ between the sexes
    (standardized mean difference >= 0.3) drift, and bmi, whose mean barely moves (0.18 SD)
    but whose distribution's shape does (KS p=0.0006); s1 (0.07 SD) and s2 (KS p=0.07) do not."""
    d = load_diabetes(as_frame=True).frame
    men = d["sex"] > 0
    feats = [c for c in d.columns if c not in ("sex", "target")]
    res = check_checker(DriftChecker, data=d[men], reference=d[~men], features=feats, target="target",
                        options={"drift": {"mmd_permutations": 50}})
    smd = ((d[men][feats].mean() - d[~men][feats].mean()) / d[feats].std()).abs()
    flagged = _flagged(res, "data_drift")
    assert set(smd[smd >= 0.3].index) <= set(flagged)
    assert not set(smd[smd < 0.1].index) & set(flagged)
    assert flagged == ["age", "bmi", "bp", "s3", "s4", "s5", "s6"]
    assert res.summary.startswith("7 of 9 inputs have shifted; the largest is s3.")
    mv = next(f for f in res.findings if f.kind == "multivariate_drift")
    assert mv.status == Status.FAIL and mv.evidence["method"] == "mmd"
    # 50 permutations asked; 100 run, so that p = 1/101 can reach the policy's fail level 0.01
    assert mv.evidence["permutations"] == 100 and mv.value == pytest.approx(1 / 101)
    assert mv.evidence["sample_reference"] == int((~men).sum())
    # no model: the model kinds are skipped and say why
    assert res.metrics["skipped"]["concept_drift"] == "no model was given (--model)"


# ------------------------------------------------------------------ concept drift
def test_relabelling_part_of_current_triggers_concept_drift_not_data_drift(cancer):
    perm = np.random.default_rng(11).permutation(len(cancer))
    half = len(cancer) // 2
    ref, cur = cancer.iloc[perm[:half]].copy(), cancer.iloc[perm[half:]].copy()
    feats = [c for c in cancer.columns if c != "target"]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(ref[feats], ref["target"])
    # a different rule for 40% of the current rows: benign exactly when texture is low
    rule = (cur["mean texture"] < cur["mean texture"].median()).astype(int).to_numpy()
    pick = np.random.default_rng(12).random(len(cur)) < 0.4
    cur.loc[cur.index[pick], "target"] = rule[pick]
    res = run_check(DriftChecker, data=cur, reference=ref, target="target", features=feats,
                    model=lambda x: clf.predict_proba(pd.DataFrame(x, columns=feats)), classes=(0, 1),
                    task="classification", options={"drift": FAST})
    assert res.status != Status.ERROR, res.summary
    assert _failed(res, "concept_drift") == ["accuracy"]
    assert _flagged(res, "data_drift") == []
    assert _flagged(res, "prediction_drift") == []
    c = next(f for f in res.findings if f.kind == "concept_drift")
    assert c.evidence["reference"] > 0.95 and c.evidence["current"] < 0.9 and c.value > 0.1
    assert c.evidence["test"] == "one-sided Fisher exact test on errors"
    assert c.message.startswith("Accuracy fell by ")
    # the other way round (the model does better on the current data): it rose, and passes
    back = run_check(DriftChecker, data=ref, reference=cur, target="target", features=feats,
                     model=lambda x: clf.predict_proba(pd.DataFrame(x, columns=feats)), classes=(0, 1),
                     task="classification", options={"drift": FAST})
    r = next(f for f in back.findings if f.kind == "concept_drift")
    assert r.value < -0.1 and r.status == Status.PASS and r.message.startswith("Accuracy rose by "), r.message
    assert "by -" not in r.message and "interval -" not in r.message, r.message


def test_regression_concept_drift_uses_cvm_on_losses():
    d = load_diabetes(as_frame=True).frame
    perm = np.random.default_rng(3).permutation(len(d))
    ref, cur = d.iloc[perm[:221]].copy(), d.iloc[perm[221:]].copy()
    feats = [c for c in d.columns if c != "target"]
    from sklearn.linear_model import Ridge

    reg = Ridge(alpha=0.1).fit(ref[feats], ref["target"])
    cur["target"] = cur["target"] + 80 * np.sign(cur["bmi"].to_numpy())  # a new rule
    res = run_check(DriftChecker, data=cur, reference=ref, target="target", features=feats, task="regression",
                    model=lambda x: reg.predict(pd.DataFrame(x, columns=feats)), options={"drift": FAST})
    c = next(f for f in res.findings if f.kind == "concept_drift")
    assert c.subject == "mean absolute error" and c.status == Status.FAIL
    assert c.evidence["test"] == "CVM on absolute errors" and c.value > 0.3
    assert _flagged(res, "data_drift") == []


# ------------------------------------------------------------------ model drift
class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(30, 2)

    def forward(self, x):
        return self.lin(x)


def test_slower_model_than_its_baseline_triggers_model_drift(cancer):
    feats = [c for c in cancer.columns if c != "target"]
    with torch.random.fork_rng():
        torch.manual_seed(0)  # local: fork_rng restores the global state
        net = _Net().eval()

    def fast(x):
        with torch.no_grad():
            return net(torch.as_tensor(np.asarray(x, np.float32))).numpy()

    def slow(x):
        time.sleep(0.1)
        return fast(x)

    kw = dict(data=cancer.iloc[:200], reference=cancer.iloc[200:], target="target", features=feats,
              classes=(0, 1), task="classification",
              options={"drift": {**FAST, "multivariate_method": "none"}})
    from riskaudit.checks.drift import DriftChecker as C
    from riskaudit.registry import Registry
    from riskaudit.scan import scan

    base = scan(registry=Registry.from_classes([C]), policy={"name": "test"}, model=fast, **kw).to_dict()
    again = run_check(C, model=fast, baseline=base, **kw)
    slower = run_check(C, model=slow, baseline=base, **kw)
    # the same model against its own baseline is compared figure by figure (timings on a
    # shared machine are noisy, so no verdict is asserted for it)
    assert {f.subject for f in again.findings if f.kind == "model_drift"} >= {"latency p50 @ batch 1",
                                                                                "throughput @ batch 32"}
    failed = _failed(slower, "model_drift")
    assert "latency p50 @ batch 1" in failed and "throughput @ batch 32" in failed
    assert "slower than in its baseline report" in slower.summary
    shape = slower.metrics["model_performance"]
    assert shape["version"] == 1 and shape["latency_s"]["1"]["p50"] >= 0.02


def test_nonfinite_outputs_are_model_errors(cancer):
    feats = [c for c in cancer.columns if c != "target"]

    def broken(x):
        out = np.tile([0.3, 0.7], (len(x), 1))
        out[::4] = np.nan
        return out

    res = run_check(DriftChecker, data=cancer.iloc[:100], reference=cancer.iloc[100:], target="target",
                    features=feats, classes=(0, 1), task="classification", model=broken,
                    options={"drift": {**FAST, "multivariate_method": "none"}})
    err = next(f for f in res.findings if f.kind == "model_error_rate")
    assert err.status == Status.FAIL and err.value > 0.1


# ------------------------------------------------------------------ images
def test_images_drift_on_pooled_pixels():
    x = load_digits().images.astype(np.float32)[:, None] / 16.0
    y = load_digits().target
    perm = np.random.default_rng(0).permutation(len(x))
    a, b = perm[:300], perm[300:600]
    same = run_check(DriftChecker, data=(x[b], y[b]), reference=(x[a], y[a]), options={"drift": FAST})
    brighter = run_check(DriftChecker, data=(np.clip(x[b] * 1.3 + 0.1, 0, 1), y[b]), reference=(x[a], y[a]),
                         options={"drift": FAST})
    mv0 = next(f for f in same.findings if f.kind == "multivariate_drift")
    mv1 = next(f for f in brighter.findings if f.kind == "multivariate_drift")
    assert mv0.status == Status.PASS and mv1.status == Status.FAIL
    assert mv1.evidence["representation"] == "8x8 average-pooled pixels"
    assert brighter.summary.startswith("The images have shifted.")
    assert not [f for f in brighter.findings if f.kind == "data_drift"]


def test_images_fall_back_to_pooled_pixels_and_say_why():
    x = load_digits().images.astype(np.float32)[:, None] / 16.0
    y = load_digits().target
    # a working model without a linear layer: no penultimate layer to read (a model that cannot
    # take the inputs at all is an input error before any checker runs)
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 10, 8), torch.nn.Flatten())
    res = run_check(DriftChecker, data=(x[300:500], y[300:500]), reference=(x[:200], y[:200]), model=conv,
                    task="classification", options={"drift": FAST})
    assert res.status != Status.ERROR, res.summary
    mv = next(f for f in res.findings if f.kind == "multivariate_drift")
    how = mv.evidence["representation"]
    assert how.startswith("8x8 average-pooled pixels (the model has no linear layer"), how


# ------------------------------------------------------------------ robustness
def test_hostile_inputs_do_not_crash():
    rng = np.random.default_rng(0)
    n = 300

    def frame(shift):
        return pd.DataFrame({
            "<script>alert(1)</script>": rng.normal(shift, 1, n),
            "café ✓ ünïcode": rng.choice(["ja", "nein", "<b>x</b>", None], n),
            "all_nan": np.full(n, np.nan),
            "constant": np.ones(n),
            "ident": [f"id-{shift}-{i}" for i in range(n)],
            "flag": rng.random(n) < 0.5,
            "with_inf": np.where(rng.random(n) < 0.1, np.inf, rng.normal(0, 1, n)),
        })

    res = check_checker(DriftChecker, data=frame(1.0), reference=frame(0.0),
                        options={"drift": {"mmd_permutations": 50}})
    assert _failed(res, "data_drift") == ["<script>alert(1)</script>"]
    assert set(res.metrics["skipped_features"]) == {"all_nan", "ident"}
    tiny = run_check(DriftChecker, data=frame(0.0).iloc[:3], reference=frame(0.0).iloc[:2])
    assert tiny.status != Status.ERROR, tiny.summary


def test_global_random_state_is_left_alone(cancer):
    torch_state, np_state = torch.get_rng_state().clone(), np.random.get_state()
    threads = torch.get_num_threads()
    run_check(DriftChecker, data=cancer.iloc[:250], reference=cancer.iloc[250:],
              options={"drift": {"mmd_permutations": 20}})
    run_check(DriftChecker, data=cancer.iloc[:250], reference=cancer.iloc[250:],
              options={"drift": {"multivariate_method": "classifier", "correction": "fdr"}})
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert torch.get_num_threads() == threads
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]


def test_options_are_validated():
    with pytest.raises(OptionError):
        DriftChecker(correction="holm")
    with pytest.raises(OptionError):
        DriftChecker(alpha=2.0)
    assert DriftChecker(latency_batch_sizes=[1, 8]).config["latency_batch_sizes"] == (1, 8)


def test_images_use_the_penultimate_layer_of_a_torch_model_and_restore_its_mode():
    digits = load_digits()
    x = digits.images.astype(np.float32)[:, None] / 16.0
    y = digits.target
    with torch.random.fork_rng():
        torch.manual_seed(0)  # local: fork_rng restores the global state
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(),
                                  torch.nn.Dropout(0.2), torch.nn.Linear(16, 10))
    net.train()  # left in training mode on purpose: the checker must give it back that way
    perm = np.random.default_rng(1).permutation(len(x))
    a, b = perm[:300], perm[300:600]
    res = run_check(DriftChecker, data=(np.clip(x[b] + 0.3, 0, 1), y[b]), reference=(x[a], y[a]), model=net,
                    classes=tuple(range(10)), task="classification",
                    options={"drift": {**FAST, "latency_batch_sizes": [8]}})
    mv = next(f for f in res.findings if f.kind == "multivariate_drift")
    assert mv.evidence["representation"] == "penultimate layer of the model"
    assert mv.evidence["dimensions"] == 16 and mv.status == Status.FAIL
    assert net.training is True
    assert [f.kind for f in res.findings if f.kind == "prediction_drift"] == ["prediction_drift"]


# ------------------------------------------------------------------ scipy directly, alibi-detect as the oracle
def _shifted_halves(cancer):
    """The breast-cancer table split in two random halves; three columns of the second moved."""
    x = cancer.drop(columns="target").to_numpy(np.float64)
    order = np.random.default_rng(0).permutation(len(x))
    ref, cur = x[order[:284]], x[order[284:]].copy()
    cur[:, [0, 5, 9]] += 0.3 * ref[:, [0, 5, 9]].std(axis=0)
    return ref, cur


def _codes(cancer):
    """Integer-coded categories from real columns: quartiles, a two-level column (Yates'
    correction), the diagnosis, and a level seen only in the current half."""
    x = cancer.drop(columns="target")
    cols = [pd.qcut(x[c], 4, labels=False).to_numpy() for c in ("mean radius", "mean texture", "worst area")]
    cols += [(x["mean smoothness"] > x["mean smoothness"].median()).to_numpy(int), cancer["target"].to_numpy()]
    codes = np.column_stack(cols).astype(np.int64)
    order = np.random.default_rng(1).permutation(len(codes))
    ref, cur = codes[order[:300]].copy(), codes[order[300:]].copy()
    ref[ref[:, 2] == 3, 2] = 2  # level 3 of 'worst area' only in the current half
    return ref, cur


def test_per_feature_ks_equals_alibi_detect_ksdrift(cancer):
    from alibi_detect.cd import KSDrift

    from riskaudit.checks.drift import stats

    ref, cur = _shifted_halves(cancer)
    p, d = stats.ks_pvalues(ref, cur)
    out = KSDrift(ref.astype(np.float32), p_val=0.05).predict(cur.astype(np.float32), drift_type="feature")["data"]
    np.testing.assert_allclose(p, out["p_val"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(d, out["distance"], rtol=1e-6, atol=0)
    assert (p[[0, 5, 9]] < 0.05).all() and p.min() < 1e-3 < p.max()  # the moved columns are among the small ones
    # one column each (how the checker calls it for a label or a prediction) gives the same figures
    p1, d1 = stats.ks_pvalues(ref[:, 3:4], cur[:, 3:4])
    assert p1[0] == p[3] and d1[0] == d[3]


def test_per_feature_chi2_equals_alibi_detect_chisquaredrift(cancer):
    from alibi_detect.cd import ChiSquareDrift

    from riskaudit.checks.drift import stats

    ref, cur = _codes(cancer)
    ks = [int(max(ref[:, f].max(), cur[:, f].max())) + 1 for f in range(ref.shape[1])]
    p, d = stats.chi2_pvalues(ref, cur, ks)
    det = ChiSquareDrift(ref, p_val=0.05, categories_per_feature={f: k for f, k in enumerate(ks)})
    out = det.predict(cur, drift_type="feature")["data"]
    np.testing.assert_allclose(p, out["p_val"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(d, out["distance"], rtol=1e-6, atol=0)
    assert p[2] < 1e-6  # the level only the current half has
    # edge cases alibi-detect cannot take: one category in all, an unused declared level
    one = np.zeros((50, 1), np.int64)
    assert stats.chi2_pvalues(one, one, [1])[0][0] == 1.0
    p_extra, d_extra = stats.chi2_pvalues(ref[:, :1], cur[:, :1], [ks[0] + 2])
    assert p_extra[0] == p[0] and d_extra[0] == d[0]


def test_fdr_fisher_and_cvm_equal_alibi_detect(cancer):
    from alibi_detect.cd import CVMDrift, FETDrift
    from alibi_detect.utils.statstest import fdr

    from riskaudit.checks.drift import stats

    ref, cur = _shifted_halves(cancer)
    p, _ = stats.ks_pvalues(ref, cur)
    for q in (0.05, 1e-12):  # some below their cut-off, then none
        below, thr = fdr(p, q_val=q)
        ours = stats.fdr_threshold(p, q)
        assert ours[0] == bool(below)
        assert ours[1] == pytest.approx(float(thr if below else thr[0]), rel=1e-12)
    assert stats.corrected_threshold(p, 0.05, "fdr") == pytest.approx(float(fdr(p, q_val=0.05)[1]), rel=1e-12)

    err_ref = (cancer["mean radius"].to_numpy()[:284] > 15).astype(np.int64)
    err_cur = (cancer["mean radius"].to_numpy()[284:] > 14).astype(np.int64)
    oracle = FETDrift(err_ref.reshape(-1, 1), p_val=0.05, alternative="greater").predict(err_cur.reshape(-1, 1))
    assert stats.fet_errors(err_ref, err_cur) == pytest.approx(float(oracle["data"]["p_val"][0]), rel=1e-9)

    loss_ref, loss_cur = ref[:, 0] ** 2 / 100, cur[:, 0] ** 2 / 100
    oracle = CVMDrift(loss_ref.astype(np.float32).reshape(-1, 1), p_val=0.05).predict(
        loss_cur.astype(np.float32).reshape(-1, 1))
    assert stats.cvm_losses(loss_ref, loss_cur) == pytest.approx(float(oracle["data"]["p_val"][0]), rel=1e-6)


def _fresh_drift_run(cancer, tmp_path, options: str, result_line: str, modules: tuple[str, str]):
    """Run the whole drift check in a fresh interpreter on breast-cancer halves, the second with
    'mean radius' shifted; return (the printed ``result_line``, which of ``modules`` got imported)."""
    import subprocess
    import sys

    x = cancer.drop(columns="target")
    x.iloc[:284].to_csv(tmp_path / "ref.csv", index=False)
    shifted = x.iloc[284:].copy()
    shifted["mean radius"] += 2.0
    shifted.to_csv(tmp_path / "cur.csv", index=False)
    code = (
        "import sys\n"
        "from riskaudit.checks.drift import DriftChecker\n"
        "from riskaudit.testing import run_check\n"
        f"res = run_check(DriftChecker, data={str(tmp_path / 'cur.csv')!r}, reference={str(tmp_path / 'ref.csv')!r},\n"
        f"                options={{'drift': {options}}})\n"
        f"print({result_line})\n"
        f"print({modules[0]!r} in sys.modules, {modules[1]!r} in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.strip().splitlines()[-2:]
    return first, second


def test_multivariate_none_never_imports_alibi_detect(cancer, tmp_path):
    """A fresh interpreter runs the whole drift check with the multivariate test off."""
    status_line, modules_line = _fresh_drift_run(
        cancer, tmp_path, "{'multivariate_method': 'none'}",
        "res.status.value, sorted(f.subject for f in res.findings if f.status.value != 'pass')",
        ("alibi_detect", "torch"))
    assert "mean radius" in status_line and not status_line.startswith("error"), status_line
    assert modules_line == "False False", modules_line


@pytest.mark.parametrize("batch_size", [None, "8", 0, True])
def test_throughput_of_an_unknown_batch_size_is_not_compared(batch_size):
    """A baseline report is untrusted: a throughput without a usable batch size (missing, null,
    text, zero) on both sides is left out instead of crashing on ``bs / a``."""
    from riskaudit.checks.drift import perf

    cur = {"latency_s": {}, "throughput_per_s": 100.0, "throughput_batch_size": batch_size}
    base = {"latency_s": {}, "throughput_per_s": 200.0, "throughput_batch_size": batch_size}
    assert perf.comparisons(cur, base, floor_s=1e-3) == []
    cur["throughput_batch_size"] = base["throughput_batch_size"] = 8
    rows = perf.comparisons(cur, base, floor_s=1e-3)  # a known batch size is compared: twice as slow
    assert [r["figure"] for r in rows] == ["throughput @ batch 8"] and rows[0]["change"] == pytest.approx(1.0)
@pytest.mark.parametrize("sigma, n_perm", [(None, 40), (1.5, 25)])
def test_mmd_with_torch_equals_alibi_detect_mmddrift(cancer, sigma, n_perm):
    """mmd_test calls torch directly; alibi-detect's MMDDrift (pytorch backend), run on the
    same standardized samples under the same seeded torch generator, is the oracle: the
    statistic, the count of permutations behind the p-value and the threshold are equal, on
    shifted and on unshifted halves."""
    from alibi_detect.cd import MMDDrift

    from riskaudit.checks.drift import stats

    ref, cur = _shifted_halves(cancer)
    mu, sd = ref.mean(0), ref.std(0)
    for xc in (cur, ref[::-1][:200]):
        xr_s, xc_s = (ref[:250] - mu) / sd, (xc[:200] - mu) / sd
        ours = stats.mmd_test(xr_s, xc_s, seed=11, device="cpu", n_permutations=n_perm, sigma=sigma)
        sig = np.array([ours["sigma"]], np.float32)
        with stats.torch_rng_scope(11, "cpu"), stats._torch_threads(1):
            det = MMDDrift(np.ascontiguousarray(xr_s, np.float32), backend="pytorch", p_val=0.05, sigma=sig,
                           n_permutations=n_perm, device="cpu")
            oracle = det.predict(np.ascontiguousarray(xc_s, np.float32))["data"]
        assert ours["statistic"] == float(oracle["distance"])
        # alibi-detect's p-value is k/m; ours the exact permutation p-value (k+1)/(m+1), same k
        assert ours["p_value"] == (round(float(oracle["p_val"]) * n_perm) + 1) / (n_perm + 1)
        assert ours["statistic_threshold"] == float(oracle["distance_threshold"])
    assert stats.mmd_test(xr_s, xc_s, seed=11, device="cpu", n_permutations=n_perm, sigma=sigma) == ours


def test_the_default_multivariate_test_never_imports_alibi_detect(cancer, tmp_path):
    """A fresh interpreter runs the whole drift check with the default MMD test: torch, not
    alibi-detect (nor transformers, which alibi-detect would load)."""
    method_line, modules_line = _fresh_drift_run(
        cancer, tmp_path, "{'mmd_permutations': 30}",
        "res.metrics['multivariate']['method'], res.metrics['multivariate']['p_value'] < 0.05",
        ("alibi_detect", "transformers"))
    assert method_line == "mmd True", method_line
    assert modules_line == "False False", modules_line


def test_one_shifted_input_is_said_in_the_singular():
    d = load_diabetes(as_frame=True).frame.drop(columns="target")
    perm = np.random.default_rng(8).permutation(len(d))
    ref, cur = d.iloc[perm[:221]].copy(), d.iloc[perm[221:]].copy()
    cur["bmi"] = cur["bmi"] + 3 * d["bmi"].std()
    res = run_check(DriftChecker, data=cur, reference=ref, options={"drift": FAST})
    assert _flagged(res, "data_drift") == ["bmi"]
    assert res.summary.startswith(f"1 of {d.shape[1]} inputs has shifted; the largest is bmi."), res.summary
