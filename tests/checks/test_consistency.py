"""The consistency checker on real models trained briefly on real data (scikit-learn's
breast-cancer table and 8x8 digits) and on the demo's TorchScript model."""

from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from torch import nn

from riskaudit.checks.consistency import ConsistencyChecker
from riskaudit.checks.base import OptionError
from riskaudit.result import Status
from riskaudit.testing import check_checker, run_check

SIZES = [2, 7, 32, 256, 512]  # compared with batch size 1 (512 = the whole subset)
FAST = {"consistency": {"sample_size": 256, "batch_sizes": [1, 2, 7, 32]}}


def _seeded(fn, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fn()


def _train(model, x, y, steps=40):
    def go():
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        xt, yt = torch.tensor(x), torch.tensor(y, dtype=torch.long)
        model.train()
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt), yt).backward()
            opt.step()
        return model
    return _seeded(go)


@pytest.fixture(scope="module")
def cancer():
    x, y = load_breast_cancer(return_X_y=True)
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32), y


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), y


def _mlp(dropout=0.0, batchnorm=False):
    layers = [("fc1", nn.Linear(30, 32))]
    if batchnorm:
        layers.append(("bn", nn.BatchNorm1d(32)))
    layers += [("relu", nn.ReLU()), ("drop", nn.Dropout(dropout)), ("fc2", nn.Linear(32, 2))]
    return _seeded(lambda: nn.Sequential(OrderedDict(layers)), 1)


@pytest.fixture(scope="module")
def mlp_dropout(cancer):
    return _train(_mlp(0.3), *cancer)


@pytest.fixture(scope="module")
def mlp_bn(cancer):
    return _train(_mlp(batchnorm=True), *cancer)


@pytest.fixture(scope="module")
def cnn(digits):
    net = _seeded(lambda: nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(1, 8, 3, padding=1)), ("bn", nn.BatchNorm2d(8)), ("relu", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)), ("flat", nn.Flatten()), ("drop", nn.Dropout(0.25)),
        ("fc", nn.Linear(8 * 4 * 4, 10))])), 2)
    x, y = digits
    return _train(net, x[:600], y[:600], steps=25)


def _by_kind(res, status=None):
    out = {}
    for f in res.findings:
        if status is None or f.status == status:
            out.setdefault(f.kind, []).append(f)
    return out


def _failing_kinds(res):
    return set(_by_kind(res, Status.FAIL))


def _modes(module):
    return [m.training for m in module.modules()]


def test_eval_mlp_passes_conformance_and_reports_every_batch_size(cancer, mlp_dropout):
    mlp_dropout.eval()
    threads = torch.get_num_threads()
    try:
        res = check_checker(ConsistencyChecker, data=cancer, model=mlp_dropout)
    finally:
        mlp_dropout.train()
    assert res.status == Status.PASS
    kinds = _by_kind(res)
    assert sorted(f.subject for f in kinds["batch_size_inconsistency"]) == sorted(f"batch_size={b}" for b in SIZES)
    assert [f.subject for f in kinds["batch_composition_inconsistency"]] == ["shuffled companions@batch_size=32"]
    assert [f.value for f in kinds["nondeterministic_predictions"]] == [0.0]
    assert [f.value for f in kinds["train_mode_layers"]] == [0]
    assert all(f.value <= 1e-5 for f in kinds["batch_size_inconsistency"])
    table = kinds["batch_size_inconsistency"][0].evidence["table"]
    assert [r["batch_size"] for r in table] == SIZES and all(r["label_flips"] == 0 for r in table)
    assert ("thread_inconsistency" in kinds) == (threads > 1)
    assert res.metrics["sample_size"] == 512 and res.metrics["passes"] <= res.metrics["pass_budget"] == 11
    assert "no CUDA" in res.metrics["skipped"]["device"] or torch.cuda.is_available()
    assert torch.get_num_threads() == threads


def test_eval_cnn_on_digits_passes(digits, cnn):
    cnn.eval()
    try:
        res = run_check(ConsistencyChecker, data=digits, model=cnn, options=FAST)
    finally:
        cnn.train()
    assert res.status == Status.PASS, [f.message for f in res.findings if f.status != Status.PASS]
    assert len(_by_kind(res)["batch_size_inconsistency"]) == 4  # 2, 7, 32, 256 against 1


def test_dropout_left_in_train_mode_is_nondeterministic(cancer, mlp_dropout):
    mlp_dropout.train()
    res = run_check(ConsistencyChecker, data=cancer, model=mlp_dropout)
    assert _failing_kinds(res) == {"nondeterministic_predictions", "train_mode_layers"}
    layers = _by_kind(res)["train_mode_layers"][0]
    assert layers.subject == "drop" and layers.value == 1
    assert layers.evidence["table"] == [{"layer": "drop", "type": "Dropout", "why": "dropout"}]
    nd = _by_kind(res)["nondeterministic_predictions"][0]
    assert nd.value > 0.01 and "model.eval()" in nd.evidence["advice"]
    assert len(nd.evidence["table"]) == 2 and "row" in nd.evidence["worst_sample"]
    # batch-size differences of a stochastic model are inconclusive, never a false fail
    assert all(f.status != Status.FAIL for f in _by_kind(res)["batch_composition_inconsistency"])
    assert all(_modes(mlp_dropout)), "the checker must leave the model in train mode"


def test_batchnorm_left_in_train_mode_fails_batch_checks(cancer, mlp_bn):
    mlp_bn.train()
    res = run_check(ConsistencyChecker, data=cancer, model=mlp_bn, options=FAST)
    assert _failing_kinds(res) == {"batch_size_inconsistency", "batch_composition_inconsistency",
                                   "train_mode_layers"}
    kinds = _by_kind(res)
    assert kinds["nondeterministic_predictions"][0].status == Status.PASS
    assert kinds["train_mode_layers"][0].subject == "bn"
    comp = kinds["batch_composition_inconsistency"][0]
    assert comp.evidence["label_flips"] > 0 and "model.eval()" in comp.evidence["advice"]
    # BatchNorm1d cannot normalize a batch of one in training mode: that is reported, not a crash
    errs = [f for f in kinds["batch_size_inconsistency"] if "error" in f.evidence]
    assert errs and "Expected more than 1 value per channel" in errs[0].evidence["error"]
    assert all(_modes(mlp_bn))
    mlp_bn.eval()
    try:
        fixed = run_check(ConsistencyChecker, data=cancer, model=mlp_bn, options=FAST)
    finally:
        mlp_bn.train()
    assert fixed.status == Status.PASS


class BatchMeanBug(nn.Module):
    """A deliberate bug: centres each batch's logits on the batch mean."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        out = self.inner(x)
        return out - out.mean(dim=0, keepdim=True)


def test_batch_size_dependent_bug_is_caught(cancer, mlp_dropout):
    mlp_dropout.eval()
    try:
        res = run_check(ConsistencyChecker, data=cancer, model=BatchMeanBug(mlp_dropout), options=FAST)
        comp = run_check(ConsistencyChecker, data=cancer, model=BatchMeanBug(mlp_dropout),
                         options={"consistency": {**FAST["consistency"], "composition_batch_size": 64}})
    finally:
        mlp_dropout.train()
    assert _failing_kinds(res) == {"batch_size_inconsistency", "batch_composition_inconsistency"}
    worst = max(_by_kind(res)["batch_size_inconsistency"], key=lambda f: f.value)
    assert worst.value > 0.1 and worst.evidence["label_flips"] > 0
    sample = worst.evidence["worst_sample"]
    assert set(sample) == {"row", "batch_size=1", worst.subject} and len(sample["batch_size=1"]) == 2
    assert [f.subject for f in _by_kind(comp)["batch_composition_inconsistency"]] == [
        "shuffled companions@batch_size=64"]
    assert comp.metrics["batch_sizes"] == [1, 2, 7, 32, 64, 256]


def test_plain_callable_gets_batch_and_repeat_checks(cancer):
    x, y = cancer
    clf = LogisticRegression(max_iter=500).fit(x, y)
    res = check_checker(ConsistencyChecker, data=cancer, model=clf.predict_proba, options=FAST)
    assert res.status == Status.PASS
    kinds = _by_kind(res)
    assert len(kinds["batch_size_inconsistency"]) == 4 and len(kinds["nondeterministic_predictions"]) == 1
    assert "train_mode_layers" not in kinds
    assert set(res.metrics["skipped"]) == {"train_mode_layers", "threads", "device", "training"}
    assert "not a torch module" in res.metrics["skipped"]["train_mode_layers"]
    assert kinds["nondeterministic_predictions"][0].evidence["skipped_sub_checks"] == res.metrics["skipped"]

    def noisy(batch):  # unseeded noise, like a sampling model
        return clf.predict_proba(batch + np.random.default_rng().normal(0, 0.5, batch.shape))

    res = run_check(ConsistencyChecker, data=cancer, model=noisy, options=FAST)
    assert "nondeterministic_predictions" in _failing_kinds(res)

    def centred(batch):  # batch-dependent preprocessing bug
        return clf.predict_proba(batch - batch.mean(axis=0))

    res = run_check(ConsistencyChecker, data=cancer, model=centred, options=FAST)
    assert _failing_kinds(res) == {"batch_size_inconsistency", "batch_composition_inconsistency"}


def test_demo_model_dropout_found_and_fixed_by_eval(tmp_path):
    from riskaudit.demo import FEATURES, prepare_demo

    prepare_demo(tmp_path)
    kw = dict(data=tmp_path / "data" / "current.csv", model=str(tmp_path / "model.pt"),
              features=FEATURES, options=FAST)
    res = run_check(ConsistencyChecker, **kw)
    assert _failing_kinds(res) == {"nondeterministic_predictions", "train_mode_layers"}
    layers = _by_kind(res)["train_mode_layers"][0]
    assert layers.subject == "net.2" and layers.evidence["table"][0]["type"] == "Dropout"
    fixed = run_check(ConsistencyChecker, eval_mode=True, **kw)
    assert fixed.status == Status.PASS


def test_training_reproducibility(tmp_path, cancer):
    (tmp_path / "trainmod.py").write_text(
        "import torch\n"
        "def good(seed):\n"
        "    g = torch.Generator().manual_seed(seed)\n"
        "    m = torch.nn.Linear(3, 2)\n"
        "    with torch.no_grad():\n"
        "        m.weight.copy_(torch.randn(2, 3, generator=g)); m.bias.copy_(torch.randn(2, generator=g))\n"
        "    return m\n"
        "def bad(seed):\n"
        "    m = good(seed)\n"
        "    with torch.no_grad():\n"
        "        m.bias.add_(torch.rand(2))  # unseeded\n"
        "    return m\n", encoding="utf-8")
    clf = LogisticRegression(max_iter=300).fit(*cancer)
    base = dict(data=cancer, model=clf.predict_proba, options=FAST)
    ok = run_check(ConsistencyChecker, project={"train_entry_point": "trainmod:good",
                                                "project_dir": str(tmp_path)}, **base)
    f = _by_kind(ok)["training_nondeterminism"][0]
    assert f.status == Status.PASS and f.value == 0 and f.evidence["tensors"] == 2
    bad = run_check(ConsistencyChecker, project={"train_entry_point": "trainmod:bad",
                                                 "project_dir": str(tmp_path)}, **base)
    f = _by_kind(bad)["training_nondeterminism"][0]
    assert f.status == Status.FAIL and f.value == 1 and f.evidence["first_differing_tensor"] == "bias"
    broken = run_check(ConsistencyChecker, project={"train_entry_point": "no_such_mod:fn"}, **base)
    f = _by_kind(broken)["training_nondeterminism"][0]
    assert f.status == Status.WARN and "ModuleNotFoundError" in f.message


def test_hostile_inputs_never_crash(cancer):
    x, y = cancer
    frame = pd.DataFrame(x[:40, :3].copy(), columns=["<script>alert(1)</script>", "größe 📈", ""])
    frame.iloc[5, 1] = np.nan
    model = _seeded(lambda: nn.Linear(3, 2)).eval()
    res = run_check(ConsistencyChecker, data=frame, model=model)
    assert res.status == Status.PASS and res.metrics["sample_size"] == 40
    one = run_check(ConsistencyChecker, data=frame.iloc[:1], model=model)
    assert one.status == Status.PASS and "batch_composition" in one.metrics["skipped"]

    def raises(batch):
        raise RuntimeError("model server down")

    res = run_check(ConsistencyChecker, data=frame, model=raises, options=FAST)
    assert res.status == Status.FAIL and "model server down" in res.findings[0].message


def test_options_are_validated():
    with pytest.raises(OptionError):
        ConsistencyChecker(batch_sizes=[0, 4])
    with pytest.raises(OptionError):
        ConsistencyChecker(repeats=1)
    with pytest.raises(OptionError):
        ConsistencyChecker(sample_sizes=4)


@pytest.mark.parametrize("policy", ["default", "strict"])
def test_policies_configure_the_checker(cancer, policy):
    clf = LogisticRegression(max_iter=300).fit(*cancer)
    res = run_check(ConsistencyChecker, data=cancer, model=clf.predict_proba, policy=policy)
    assert res.status == Status.PASS
    nd = _by_kind(res)["nondeterministic_predictions"][0]
    assert nd.threshold == 0.0
    bs = _by_kind(res)["batch_size_inconsistency"][0]
    assert bs.threshold == {"default": 1e-4, "strict": 1e-5}[policy]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CPU against CUDA needs a GPU")
def test_cpu_against_cuda(cancer):
    model = _train(_mlp(), *cancer).eval()
    res = run_check(ConsistencyChecker, data=cancer, model=model, device="cpu", options=FAST)
    dev = _by_kind(res)["device_inconsistency"][0]
    assert dev.status == Status.PASS and dev.subject == "cpu vs cuda"
    assert next(model.parameters()).device.type == "cpu", "the model must go back to the CPU"
    res = run_check(ConsistencyChecker, data=cancer, model=model.cuda(), device="cuda", options=FAST)
    assert _by_kind(res)["device_inconsistency"][0].status == Status.PASS
    assert next(model.parameters()).device.type == "cuda"


def test_onnx_model_gets_batch_and_repeat_checks(tmp_path, cancer, mlp_dropout):
    import warnings

    path = tmp_path / "mlp.onnx"
    mlp_dropout.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(mlp_dropout, (torch.zeros(1, 30),), str(path), dynamo=False,
                              input_names=["x"], dynamic_axes={"x": {0: "n"}})
    finally:
        mlp_dropout.train()
    res = run_check(ConsistencyChecker, data=cancer, model=str(path), options=FAST)
    assert res.status == Status.PASS
    kinds = _by_kind(res)
    assert len(kinds["batch_size_inconsistency"]) == 4 and kinds["nondeterministic_predictions"][0].value == 0.0
    assert set(res.metrics["skipped"]) == {"train_mode_layers", "threads", "device", "training"}
