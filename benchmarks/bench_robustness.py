"""Benchmark of the robustness checker (issue 7).

1. PGD, 20 iterations, L-infinity epsilon 8/255, on 500 images of scikit-learn's digits
   (8x8, scaled to [0, 1]) against a small CNN: ART's ProjectedGradientDescentPyTorch as the
   checker configures it (its PyTorchClassifier, batch size 256, mask-free, seeded) and the
   checker's whole attack step (ART + realistic projection + evaluation), side by side with
   a plain hand-written torch PGD loop (same step size, projection and clipping), in the
   same process, interleaved, median of several repeats. Target: ART within 1.5x.
2. The whole default robustness check on the demo (data, reference and TorchScript model
   loaded from files, default policy). Target: under 20 s on 2 cores.

Run: .venv/bin/python benchmarks/bench_robustness.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits


def small_cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def train(model, x, y, epochs=40):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # local to this block
        opt = torch.optim.Adam(model.parameters(), lr=0.005)
        xt, yt = torch.as_tensor(x), torch.as_tensor(y)
        for _ in range(epochs):
            for s in range(0, len(xt), 128):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xt[s:s + 128]), yt[s:s + 128]).backward()
                opt.step()
    return model.eval()


def hand_pgd(model, x, y, eps, steps):
    """The reference: a plain torch PGD loop (Madry et al.), no library."""
    x0 = torch.as_tensor(x)
    yt = torch.as_tensor(y)
    step = 2.5 * eps / steps
    xa = x0.clone()
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(xa), yt)
        (grad,) = torch.autograd.grad(loss, xa)
        xa = xa.detach() + step * grad.sign()
        xa = torch.min(torch.max(xa, x0 - eps), x0 + eps).clamp(0.0, 1.0)
    with torch.no_grad():
        return xa.numpy(), float((model(xa).argmax(1) == yt).float().mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads for every method (default 1: on 2 cores shared with other "
                         "jobs, more threads measure contention, not the attack)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from art.attacks.evasion import ProjectedGradientDescentPyTorch

    from riskaudit.checks.base import CheckContext
    from riskaudit.checks.robustness import RobustnessChecker
    from riskaudit.checks.robustness._attacks import WhiteBoxTarget, run_attack
    from riskaudit.checks.robustness._space import build_space
    from riskaudit.data import load_dataset
    from riskaudit.model import load_model
    from riskaudit.policy import load_policy

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    model = train(small_cnn(), x[:1000], y[:1000])
    xa_, ya_ = x[1000:], y[1000:]
    with torch.no_grad():
        ok = model(torch.as_tensor(xa_)).argmax(1).numpy() == ya_
    xb, yb = xa_[ok][:500], ya_[ok][:500]
    eps, steps = 8 / 255, 20
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {len(xb)} images, "
          f"PGD {steps} iterations, eps 8/255 (L-inf)")

    # the checker's own ART configuration
    cfg = RobustnessChecker.validate_options({"samples": 500, "pgd_iterations": steps,
                                              "image_epsilons": [eps], "image_epsilon": eps})
    ds = load_dataset((xb, yb))
    pol = load_policy({"name": "bench"})
    ctx = CheckContext(checker_id="robustness", data=ds, reference=None, target="y", features=("x",),
                       sensitive=(), ids=(), task="classification", model=load_model(model, device="cpu"),
                       classes=tuple(range(10)), seed=0, device="cpu", levels=pol.levels(RobustnessChecker))
    space = build_space(ctx, immutable=None, categorical=())
    target = WhiteBoxTarget(ctx, space, 10, np.inf, cfg["batch_size"])
    attack = ProjectedGradientDescentPyTorch(target.classifier, norm=np.inf, eps=eps, eps_step=2.5 * eps / steps,
                                             max_iter=steps, num_random_init=0, batch_size=cfg["batch_size"],
                                             verbose=False)
    onehot = np.eye(10, dtype=np.float32)[yb]
    rows = np.arange(len(xb))

    t_hand, t_art, t_chk = [], [], []
    for _ in range(args.repeats):
        t = time.perf_counter(); _, acc_hand = hand_pgd(model, xb, yb, eps, steps); t_hand.append(time.perf_counter() - t)
        t = time.perf_counter(); adv = attack.generate(x=xb, y=onehot); t_art.append(time.perf_counter() - t)
        t = time.perf_counter()
        run = run_attack("pgd", target, space, rows, yb, [eps], norm=np.inf, cfg=cfg, ctx=ctx)
        t_chk.append(time.perf_counter() - t)
    with torch.no_grad():
        acc_art = float((model(torch.as_tensor(adv)).argmax(1).numpy() == yb).mean())
    r = run.results[eps]
    acc_chk = r.robust / r.n
    target.close()
    med = statistics.median
    print()
    print("| method (500 digits, PGD-20)                | median s | vs hand loop | adv. accuracy |")
    print("|--------------------------------------------|---------:|-------------:|--------------:|")
    print(f"| hand-written torch PGD loop (peer)         | {med(t_hand):8.3f} | {1:11.2f}x | {acc_hand:13.3f} |")
    print(f"| ART ProjectedGradientDescentPyTorch        | {med(t_art):8.3f} | {med(t_art) / med(t_hand):11.2f}x | {acc_art:13.3f} |")
    print(f"| checker attack step (ART + projection/eval)| {med(t_chk):8.3f} | {med(t_chk) / med(t_hand):11.2f}x | {acc_chk:13.3f} |")
    print(f"target: ART within 1.5x of the hand loop -> {'MET' if med(t_art) <= 1.5 * med(t_hand) else 'NOT MET'}")

    # 2. the whole default check on the demo
    from riskaudit.demo import CLASSES, FEATURES, prepare_demo
    from riskaudit.testing import run_check

    import yaml

    from riskaudit.policy import builtin_policy_dir

    policy = yaml.safe_load((builtin_policy_dir() / "default.yaml").read_text(encoding="utf-8"))
    policy["checks"] = {"robustness": policy["checks"]["robustness"]}  # only this checker is installed here
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prepare_demo(folder)  # trains the demo model once, then it is cached
        t = time.perf_counter()
        res = run_check(RobustnessChecker, data=str(folder / "data" / "current.csv"),
                        reference=str(folder / "data" / "validation.csv"), model=str(folder / "model.pt"),
                        target="decision", features=FEATURES, classes=CLASSES, sensitive=["sex", "age_band"],
                        ids=["applicant_id"], task="classification", device="cpu", policy=policy)
        total = time.perf_counter() - t
    print()
    print(f"demo, default policy: {total:.2f} s (target < 20 s), status {res.status.value}: {res.summary}")
    print(f"  per attack: {res.metrics['seconds']}, check duration {res.duration_s:.2f} s")


if __name__ == "__main__":
    main()
