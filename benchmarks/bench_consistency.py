"""Cost and detection of the consistency checker.

Cost target (issue 5): the checker's time is at most (number of batch sizes + repeats + 2)
single inference passes over its subset, plus under 10% overhead. The baseline is the
same passes done by hand with plain ``Model.forward`` (each batch size once, the extra
repeats, the shuffled-companions pass and the one-thread pass), timed in the same run;
"one pass" is also given as the plain whole-subset pass at batch size 256.

No peer library checks batch-size or run-to-run consistency (deepchecks and evidently do
not), so the hand-written loop is the side-by-side reference.

Run: .venv/bin/python benchmarks/bench_consistency.py
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from torch import nn

from riskaudit.checks.consistency import ConsistencyChecker
from riskaudit.model import load_model
from riskaudit.result import Status
from riskaudit.testing import run_check

N = 512
SIZES = [1, 2, 7, 32, 256, N]
REPEATS = 3
TRIALS = 5


def seeded(fn, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fn()


def train(model, x, y, steps=60):
    def go():
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        xt, yt = torch.tensor(x), torch.tensor(y, dtype=torch.long)
        model.train()
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt), yt).backward()
            opt.step()
        return model
    return seeded(go)


class BatchMeanBug(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        out = self.inner(x)
        return out - out.mean(dim=0, keepdim=True)


def plain_passes(mdl, x):
    """The checker's passes, done by hand with plain Model.forward: seconds."""
    n = len(x)
    perm = np.random.default_rng(0).permutation(n)
    t0 = time.perf_counter()
    for bs in SIZES:
        mdl.forward(x, batch_size=bs, seed=1, record=False)
    for r in range(REPEATS - 1):
        mdl.forward(x, batch_size=n, seed=2 + r, record=False)
    mdl.forward(x[perm], batch_size=32, seed=1, record=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        mdl.forward(x, batch_size=n, seed=1, record=False)
    finally:
        torch.set_num_threads(threads)
    return time.perf_counter() - t0


def one_pass(mdl, x):
    best = float("inf")
    for _ in range(10):
        t0 = time.perf_counter()
        mdl.forward(x, batch_size=256, seed=1, record=False)
        best = min(best, time.perf_counter() - t0)
    return best


def measure(model, data, xs):
    """Interleave hand-written passes and checker runs (the machine is shared): best of TRIALS.

    Checker time is the check's own duration as the scan records it; the scan's wrapper
    (policy, data loading, report object) is timed apart."""
    mdl = load_model(model, device="cpu")
    timed = load_model(model, device="cpu")
    inside = [0.0]
    plain_forward = timed.forward

    def forward(*a, **kw):  # time spent in inference during the checker's own run
        t0 = time.perf_counter()
        try:
            return plain_forward(*a, **kw)
        finally:
            inside[0] += time.perf_counter() - t0

    timed.forward = forward
    hand, chk, wrap, outside, res = [], [], [], [], None
    for _ in range(TRIALS):
        hand.append(plain_passes(mdl, xs))
        inside[0] = 0.0
        t0 = time.perf_counter()
        res = run_check(ConsistencyChecker, data=data, model=timed, device="cpu")
        total = time.perf_counter() - t0
        chk.append(res.duration_s)
        wrap.append(total - res.duration_s)
        outside.append((res.duration_s - inside[0]) / inside[0])
    return min(hand), min(chk), min(wrap), float(np.median(outside)), res


def main():
    xb, yb = load_breast_cancer(return_X_y=True)
    xb = ((xb - xb.mean(0)) / xb.std(0)).astype(np.float32)
    xd, yd = load_digits(return_X_y=True)
    xd = (xd / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)

    def mlp(drop=0.0, bn=False):
        layers = [("fc1", nn.Linear(30, 64))] + ([("bn", nn.BatchNorm1d(64))] if bn else [])
        layers += [("relu", nn.ReLU()), ("drop", nn.Dropout(drop)), ("fc2", nn.Linear(64, 2))]
        return train(seeded(lambda: nn.Sequential(OrderedDict(layers)), 1), xb, yb)

    cnn = train(seeded(lambda: nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dropout(0.25), nn.Linear(16 * 16, 10)), 2), xd, yd, steps=40)

    # the checker's subset, to time the plain passes on the same rows
    def subset(x):
        from riskaudit.checks.base import CheckContext
        ctx = CheckContext(checker_id="consistency", data=None, reference=None, target=None, features=(),
                           sensitive=(), ids=(), task=None, model=None, classes=None, seed=0, device="cpu",
                           levels={})
        rows = np.sort(ctx.rng("subset").choice(len(x), size=min(N, len(x)), replace=False))
        return x[rows]

    print(f"torch threads: {torch.get_num_threads()}; subset N={N}; batch sizes {SIZES}; repeats {REPEATS}; "
          f"best of {TRIALS}")
    print()
    print("| model | one pass @256 (ms) | hand-written passes (ms) | checker (ms) | checker / hand | "
          "checker time outside inference | scan wrapper (ms) | passes / budget |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, model, (x, y) in [("MLP 30-64-2 (breast cancer)", mlp().eval(), (xb, yb)),
                                ("CNN 1x8x8 (digits)", cnn.eval(), (xd, yd))]:
        xs = subset(x)
        t_one = one_pass(load_model(model, device="cpu"), xs)
        t_hand, t_chk, t_wrap, t_out, res = measure(model, (x, y), xs)
        assert res.status == Status.PASS, res.summary
        print(f"| {name} | {t_one * 1e3:.1f} | {t_hand * 1e3:.1f} | {t_chk * 1e3:.1f} | {t_chk / t_hand:.3f} | "
              f"{t_out:.1%} | {t_wrap * 1e3:.1f} | {res.metrics['passes']} / {res.metrics['pass_budget']} |")

    print()
    print("Detection (default policy):")
    print("| model | status | failing kinds |")
    print("|---|---|---|")
    base = mlp(0.3)
    cases = [("MLP, eval mode", base.eval(), "eval"), ("MLP, Dropout in train mode", mlp(0.3), "train"),
             ("MLP, BatchNorm in train mode", mlp(bn=True), "train"),
             ("MLP, output minus batch mean (eval)", BatchMeanBug(mlp()), "eval")]
    for name, model, mode in cases:
        model.train(mode == "train")
        res = run_check(ConsistencyChecker, data=(xb, yb), model=model, device="cpu")
        kinds = sorted({f.kind for f in res.findings if f.status == Status.FAIL})
        print(f"| {name} | {res.status.value} | {', '.join(kinds) or '-'} |")


if __name__ == "__main__":
    main()
