"""Running ART's attacks on a subset, chunk by chunk, within a time budget.

White-box: :class:`WhiteBoxTarget` wraps the torch module in ART's ``PyTorchClassifier``
(in eval mode; every submodule's train flag is restored by :meth:`WhiteBoxTarget.close`).
Black-box: :class:`BlackBoxTarget` wraps the predict callable in ART's
``BlackBoxClassifier``. Tabular black-box attacks run per group of samples that share
their frozen feature values, in the space of the mutable features only, so the attack never
queries the model with an altered immutable or categorical feature.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from riskaudit._lazy import lazy_module

from riskaudit._scope import global_rngs
from riskaudit.errors import CheckerError

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

WHITE_BOX = ("fgm", "pgd")
BLACK_BOX = ("square", "hopskipjump")
LABELS = {"fgm": "FGM", "pgd": "PGD", "square": "Square attack", "hopskipjump": "HopSkipJump"}


# ART draws from numpy's, Python's and torch's global generators: each ART call runs
# seeded inside this scope, which puts back the states they had.
seeded = global_rngs


@dataclass
class EpsResult:
    n: int
    robust: int
    mean_norm: float | None
    examples: tuple | None = None
    """(original inputs, adversarial inputs, labels, adversarial predictions) in model scale."""
    indices: np.ndarray | None = None
    """Positions in the attacked subset of the rows in ``examples``."""


@dataclass
class AttackRun:
    name: str
    results: dict[float, EpsResult] = field(default_factory=dict)
    partial: bool = False
    seconds: float = 0.0
    queries_per_sample: float | None = None

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)


def _logits(out, torch):
    if isinstance(out, (tuple, list)):
        out = out[0]
    out = out.reshape(out.shape[0], -1)
    if out.shape[1] == 1:  # one logit: binary classifier
        out = torch.cat([torch.zeros_like(out), out], dim=1)
    return out


def _make_wrapper(module, shift, scale, device):
    import torch
    from torch import nn

    class Scaled(nn.Module):
        """The model seen from the attack's scale: z -> model(z * scale + shift)."""

        def __init__(self):
            super().__init__()
            self.inner = module
            self.affine = shift is not None
            if self.affine:
                self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32, device=device))
                self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32, device=device))

        def forward(self, z):
            x = z * self.scale + self.shift if self.affine else z
            return _logits(self.inner(x), torch)

    return Scaled()


class WhiteBoxTarget:
    def __init__(self, ctx, space, n_classes: int, norm, batch_size: int):
        import torch
        from art.estimators.classification import PyTorchClassifier

        self.torch = torch
        self.ctx = ctx
        self.space = space
        self.batch_size = batch_size
        self.n_classes = n_classes
        self.module = ctx.model.module
        self.device = ctx.model.device
        self._flags = [(m, m.training) for m in self.module.modules()]
        self.module.eval()  # attack the deployed behaviour; close() restores every flag
        # Gradients are needed for the input only: without this, every backward pass of the
        # attack also computes the weights' gradients (about twice the work). Restored by close().
        # ART zeroes the weights' .grad (to None): the caller's stale gradients are put back too.
        self._grads = [(p, p.requires_grad, p.grad) for p in self.module.parameters()]
        for p, _, _ in self._grads:
            p.requires_grad_(False)
        wrapper = _make_wrapper(self.module, None if space.images else space.shift,
                                None if space.images else space.scale, self.device)
        lo = space.lo if space.images else np.asarray(space.lo, dtype=np.float32)
        hi = space.hi if space.images else np.asarray(space.hi, dtype=np.float32)
        self.classifier = PyTorchClassifier(
            model=wrapper, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(space.x_scaled.shape[1:]),
            nb_classes=n_classes, clip_values=(lo, hi),
            device_type="gpu" if str(self.device).startswith("cuda") else "cpu")
        self.queries = 0

    def predict_labels(self, x_raw: np.ndarray) -> np.ndarray:
        """Predicted class of inputs in the model's scale (eval mode, no gradients)."""
        torch = self.torch
        out = []
        with torch.no_grad():
            for s in range(0, len(x_raw), self.batch_size):
                t = torch.as_tensor(np.ascontiguousarray(x_raw[s:s + self.batch_size], dtype=np.float32),
                                    device=self.device)
                logits = _logits(self.module(t), torch)
                if logits.shape[1] != self.n_classes:
                    raise CheckerError(f"the model gives {logits.shape[1]} outputs per sample but the data "
                                       f"has {self.n_classes} classes; name the classes in the model's "
                                       "output order (--classes / 'classes:' in the project file)")
                out.append(logits.float().argmax(dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def close(self):
        for m, training in self._flags:
            if m.training != training:
                m.train(training)
        for p, req, grad in self._grads:
            if p.requires_grad != req:
                p.requires_grad_(req)
            if p.grad is not grad:
                p.grad = grad


class BlackBoxTarget:
    def __init__(self, ctx, space, n_classes: int, batch_size: int):
        self.ctx = ctx
        self.space = space
        self.n_classes = n_classes
        self.batch_size = batch_size
        self.queries = 0
        self.device = "cpu"

    def proba(self, x_raw: np.ndarray) -> np.ndarray:
        self.queries += len(x_raw)
        m = self.ctx.model
        if m.accepts_frame and not self.space.images:
            import pandas as pd

            x_in = pd.DataFrame(x_raw, columns=list(self.space.names))
            for c, dt in self.space.frame_columns.items():
                if pd.api.types.is_integer_dtype(dt):
                    x_in[c] = x_in[c].round().astype(dt)
        else:
            x_in = np.asarray(x_raw, dtype=np.float32)
        p = m.predict_proba(x_in, batch_size=self.batch_size, seed=self.ctx.seed_for("predict"))
        if p.shape[1] != self.n_classes:
            raise CheckerError(f"the model gives {p.shape[1]} class scores per sample but the data has "
                               f"{self.n_classes} classes; name the classes in the model's output order")
        return p.astype(np.float32)

    def predict_labels(self, x_raw: np.ndarray) -> np.ndarray:
        return self.proba(x_raw).argmax(axis=1) if len(x_raw) else np.zeros(0, dtype=np.int64)

    def classifier(self, template: np.ndarray | None, shape: tuple[int, ...]):
        """ART BlackBoxClassifier over the attack space: the mutable features of a group
        (shaped ``shape``, padded), the frozen ones taken from ``template`` (a raw row)."""
        from art.estimators.classification import BlackBoxClassifierNeuralNetwork

        sp = self.space
        if sp.images:
            lo, hi = sp.lo, sp.hi

            def predict(z):
                return self.proba(np.asarray(z, dtype=np.float32))
        else:
            mut = np.flatnonzero(sp.mutable)
            k = len(mut)
            size = int(np.prod(shape))
            lo = np.full(size, -1.0, dtype=np.float32)
            hi = np.full(size, 1.0, dtype=np.float32)
            lo[:k], hi[:k] = sp.lo[mut], sp.hi[mut]
            lo, hi = lo.reshape(shape), hi.reshape(shape)
            assert template is not None  # tabular spaces pass a raw row (None only for images)

            def predict(z):
                z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)[:, :k]
                x = np.repeat(template[None, :], len(z), axis=0)
                x[:, mut] = z * sp.scale[mut] + sp.shift[mut]
                return self.proba(x)
        # the "neural network" flavour only declares what Square needs; it still only queries
        return BlackBoxClassifierNeuralNetwork(predict, input_shape=tuple(shape), nb_classes=self.n_classes,
                                               channels_first=True, clip_values=(lo, hi))

    def close(self):
        pass


def _onehot(y: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((len(y), n), dtype=np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out


def _evaluate(target, space, rows, positions, x_adv, y, norm) -> tuple:
    pred = target.predict_labels(x_adv)
    return pred, space.norms(x_adv, rows, norm)


def _collect(space, chunks, norm) -> EpsResult:
    if not chunks:
        return EpsResult(n=0, robust=0, mean_norm=None)
    rows = np.concatenate([c[0] for c in chunks])
    pos = np.concatenate([c[1] for c in chunks])
    xa = np.concatenate([c[2] for c in chunks])
    y = np.concatenate([c[3] for c in chunks])
    pred = np.concatenate([c[4] for c in chunks])
    nrm = np.concatenate([c[5] for c in chunks])
    order = np.argsort(pos, kind="stable")
    rows, pos, xa, y, pred, nrm = rows[order], pos[order], xa[order], y[order], pred[order], nrm[order]
    ok = pred == y
    return EpsResult(n=int(len(y)), robust=int(ok.sum()),
                     mean_norm=float(nrm[~ok].mean()) if (~ok).any() else None,
                     examples=(space.x_raw[rows], xa, y, pred), indices=pos)


def run_attack(name: str, target, space, rows: np.ndarray, y0: np.ndarray, eps_list, *, norm, cfg, ctx) -> AttackRun:
    run = AttackRun(name=name)
    t0 = time.perf_counter()
    budget = float(cfg["time_budget_s"])
    q0 = target.queries
    if name in WHITE_BOX:
        _white(run, name, target, space, rows, y0, eps_list, norm, cfg, ctx, t0, budget)
    else:
        _black(run, name, target, space, rows, y0, eps_list, norm, cfg, ctx, t0, budget)
        attacked = sum(r.n for r in run.results.values()) if name == "square" else \
            max((r.n for r in run.results.values()), default=0)
        run.queries_per_sample = (target.queries - q0) / attacked if attacked else None
    run.seconds = time.perf_counter() - t0
    return run


def _white(run, name, target, space, rows, y0, eps_list, norm, cfg, ctx, t0, budget):
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescentPyTorch

    clf = target.classifier
    bs = cfg["batch_size"]
    iters = cfg["pgd_iterations"]
    chunk = max(bs, 1)
    for eps in eps_list:
        if name == "fgm":
            attack = FastGradientMethod(clf, norm=norm, eps=eps, eps_step=eps, targeted=False,
                                        num_random_init=0, batch_size=bs)
        else:
            attack = ProjectedGradientDescentPyTorch(clf, norm=norm, eps=eps, eps_step=2.5 * eps / iters,
                                                     max_iter=iters, targeted=False, num_random_init=0,
                                                     batch_size=bs, verbose=False)
        chunks = []
        for start in range(0, len(rows), chunk):
            if time.perf_counter() - t0 > budget:
                run.partial = True
                break
            r = rows[start:start + chunk]
            pos = np.arange(start, start + len(r))
            kwargs = {} if space.mask is None else {"mask": space.mask}
            with seeded(ctx.seed_for(f"{name}@{eps!r}:{start}"), target.device):
                za = attack.generate(x=space.x_scaled[r], y=_onehot(y0[pos], clf.nb_classes), **kwargs)
            xa = space.realize(za, r, eps, norm)
            pred, nrm = _evaluate(target, space, r, pos, xa, y0[pos], norm)
            chunks.append((r, pos, xa, y0[pos], pred, nrm))
        run.results[eps] = _collect(space, chunks, norm)


def _groups(space, rows, limit):
    """Positions in ``rows`` grouped by their frozen feature values, in chunks of ``limit``."""
    if space.images or space.mutable.all():
        keys = [()] * len(rows)
    else:
        frozen = space.x_raw[rows][:, ~space.mutable]
        keys = [tuple(v) for v in frozen.tolist()]
    by: dict[Any, list[int]] = {}
    for i, k in enumerate(keys):
        by.setdefault(k, []).append(i)
    out: list[np.ndarray] = []
    for k in sorted(by, key=lambda k: by[k][0]):
        p = np.asarray(by[k])
        out.extend(p[s:s + limit] for s in range(0, len(p), limit))
    return out


def _black(run, name, target, space, rows, y0, eps_list, norm, cfg, ctx, t0, budget):
    """A black-box attack (Square or HopSkipJump) on ``rows``, in groups of ``batch_size``, until
    the time budget runs out; tables are attacked in the space of their mutable features."""
    if space.images:
        sq_shape = hsj_shape = tuple(space.x_scaled.shape[1:])
    else:
        m = int(space.mutable.sum())
        if m == 0:
            for eps in eps_list:
                run.results[eps] = EpsResult(n=0, robust=0, mean_norm=None)
            return
        side = max(math.ceil(math.sqrt(m)) + 1, 3) if norm == np.inf else max(math.ceil(math.sqrt(m)), 10)
        sq_shape, hsj_shape = (1, side, side), (m,)
    groups = _groups(space, rows, max(cfg["batch_size"], 1))
    if name == "square":
        _square(run, target, space, rows, y0, eps_list, norm, cfg, ctx, t0, budget, groups, sq_shape)
    else:
        _hopskipjump(run, target, space, rows, y0, eps_list, norm, cfg, ctx, t0, budget, groups, hsj_shape)


def _to_attack(space, r, shape):
    """Rows ``r`` in the shape the black-box attack works on (a table's mutable features,
    zero-padded to ``shape``)."""
    if space.images:
        return space.x_scaled[r]
    z = space.x_scaled[r][:, space.mutable]
    out = np.zeros((len(r), int(np.prod(shape))), dtype=np.float32)
    out[:, :z.shape[1]] = z
    return out.reshape((len(r),) + tuple(shape))


def _to_full(space, za, r):
    """The attack's output for rows ``r`` back in the full scaled space (frozen features as they were)."""
    if space.images:
        return za
    z = space.x_scaled[r].astype(np.float64).copy()
    z[:, space.mutable] = np.asarray(za).reshape(len(r), -1)[:, :int(space.mutable.sum())]
    return z


def _square(run, target, space, rows, y0, eps_list, norm, cfg, ctx, t0, budget, groups, shape):
    """ART's SquareAttack, one run per epsilon and group, seeded per group."""
    from art.attacks.evasion import SquareAttack

    bs, q = cfg["batch_size"], cfg["query_budget"]
    for eps in eps_list:
        chunks = []
        for pos in groups:
            if time.perf_counter() - t0 > budget:
                run.partial = True
                break
            r = rows[pos]
            clf = target.classifier(None if space.images else space.x_raw[r[0]], shape)
            p_init = 0.8 if space.images else 0.3  # a 3x3 "image" needs squares under its side
            # two queries per iteration and remaining sample: the prediction and the new loss
            attack = SquareAttack(clf, norm=norm, max_iter=max(1, q // 2 - 1), eps=eps, p_init=p_init,
                                  nb_restarts=1, batch_size=bs, verbose=False)
            with seeded(ctx.seed_for(f"square@{eps!r}:{int(pos[0])}")):
                za = attack.generate(x=_to_attack(space, r, shape), y=_onehot(y0[pos], target.n_classes))
            xa = space.realize(_to_full(space, za, r), r, eps, norm)
            pred, nrm = _evaluate(target, space, r, pos, xa, y0[pos], norm)
            chunks.append((r, pos, xa, y0[pos], pred, nrm))
        run.results[eps] = _collect(space, chunks, norm)


def _hsj_iterations(q: int) -> tuple[int, int]:
    """(starting points drawn, iterations) of HopSkipJump within ``q`` queries per sample:
    per iteration a gradient estimate plus ~20 search queries."""
    init_size = max(1, min(100, q // 10))
    max_iter, spent = 0, float(init_size)
    while spent + min(10 * math.sqrt(max_iter + 1), 50) + 20 <= q:
        spent += min(10 * math.sqrt(max_iter + 1), 50) + 20
        max_iter += 1
    return init_size, max(1, max_iter)


def _hopskipjump(run, target, space, rows, y0, eps_list, norm, cfg, ctx, t0, budget, groups, shape):
    """ART's HopSkipJump: one minimal-perturbation run per group, judged at every epsilon."""
    from art.attacks.evasion import HopSkipJump

    init_size, max_iter = _hsj_iterations(cfg["query_budget"])
    per_eps: dict[float, list] = {e: [] for e in eps_list}
    for pos in groups:
        if time.perf_counter() - t0 > budget:
            run.partial = True
            break
        r = rows[pos]
        clf = target.classifier(None if space.images else space.x_raw[r[0]], shape)
        xr = _to_attack(space, r, shape)
        # HopSkipJump draws its starting points from an unseeded np.random.RandomState();
        # draw them here from the scan's seed instead and hand them over as x_adv_init.
        lo, hi = clf.clip_values
        cand = ctx.rng(f"hopskipjump-init:{int(pos[0])}").uniform(
            np.broadcast_to(lo, xr.shape[1:]), np.broadcast_to(hi, xr.shape[1:]),
            size=(init_size,) + xr.shape).astype(np.float32)
        cls = clf.predict(cand.reshape((-1,) + xr.shape[1:])).argmax(axis=1).reshape(init_size, len(r))
        adv = cls != y0[pos][None, :]
        has = adv.any(axis=0)
        za = xr.copy()
        if has.any():
            init = cand[adv.argmax(axis=0), np.arange(len(r))][has]
            attack = HopSkipJump(clf, batch_size=cfg["batch_size"], targeted=False, norm=norm, max_iter=max_iter,
                                 max_eval=50, init_eval=10, init_size=1, verbose=False)
            with seeded(ctx.seed_for(f"hopskipjump:{int(pos[0])}")):
                za[has] = attack.generate(x=xr[has], y=_onehot(y0[pos][has], target.n_classes), x_adv_init=init)
        full = _to_full(space, za, r)
        for eps in eps_list:
            xa = space.realize(full, r, eps, norm)
            pred, nrm = _evaluate(target, space, r, pos, xa, y0[pos], norm)
            per_eps[eps].append((r, pos, xa, y0[pos], pred, nrm))
    for eps in eps_list:
        run.results[eps] = _collect(space, per_eps[eps], norm)
