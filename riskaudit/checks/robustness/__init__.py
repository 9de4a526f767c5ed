"""robustness: how far accuracy falls under adversarial attack (ART runs every attack).

White-box, when the model is a torch module (TorchScript, ``.pt2``, ``nn.Module``): ART's
``PyTorchClassifier`` with the Fast Gradient Method and Projected Gradient Descent over the
policy's epsilon sweep (L-infinity by default, L2 with ``norm: "2"``). Black-box, when only
a predict callable or an ONNX model is given: ART's Square attack (score-based, uses the
predicted probabilities) and HopSkipJump (decision-based, uses only the predicted class),
each with a per-sample query budget.

The model is attacked in evaluation mode (``model.eval()``: Dropout off, batch-norm
statistics frozen), which is how it is meant to be deployed; every submodule's own
train/eval flag is restored afterwards, so a model saved in training mode still looks so to
the checkers that run later.

Perturbations are realistic (see :mod:`._space`): image epsilons are in the input's scale
and results are clipped to the valid range; tabular epsilons are in units of each feature's
reference standard deviation, values stay inside the reference min/max, integer features
stay integer, and categorical / one-hot / immutable features (by default the sensitive
attributes and ids that are model inputs) are never changed.

ART draws from numpy's and Python's global generators (random restarts of Square,
HopSkipJump's initialisation). Every attack call runs inside :func:`._attacks.seeded`,
which saves those global states, seeds them from the scan's seed and restores them on exit,
so two scans give the same numbers and no caller sees its global random state changed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Mapping

from riskaudit import fmt
from riskaudit._lazy import lazy_module

from riskaudit._scope import torch_threads
from riskaudit.checks.base import CheckContext, Checker, CheckOutput, CheckSkipped, Kind, Need, Option
from riskaudit.result import Finding, Severity, Status

if TYPE_CHECKING:
    import numpy as np

    import riskaudit.checks.robustness._attacks as A
    import riskaudit.checks.robustness._space as S
    from riskaudit.checks.robustness._attacks import AttackRun
    from riskaudit.checks.robustness._space import Space
else:  # loaded when the checker runs, not when the scan lists the checkers
    np = lazy_module("numpy")
    A = lazy_module("riskaudit.checks.robustness._attacks")
    S = lazy_module("riskaudit.checks.robustness._space")

__all__ = ["RobustnessChecker"]

ADVICE = ("Harden the model with adversarial training using the attacks that succeeded ({attacks}) "
          "at the policy's epsilon (for example ART's AdversarialTrainerMadryPGD), check that clean "
          "accuracy holds, then run riskaudit again with the same attacks and seed to confirm the "
          "adversarial accuracy recovered. Input validation that rejects out-of-distribution "
          "inputs helps only against careless attackers.")


@dataclasses.dataclass(frozen=True)
class Attacked:
    """What the attacks of one run produced, handed to the reporting step (and to tests that
    inspect the attacks, by overriding ``_report``); never kept on the checker instance."""

    ctx: CheckContext
    cfg: Mapping[str, Any]
    space: Space
    runs: list[AttackRun]
    classes: Any
    clean_acc: float
    judged: float
    """The policy's epsilon: findings up to it are graded."""
    eps_list: list[float]
    subset: np.ndarray
    """Evaluation rows attacked (indices into ``space.x_raw``)."""
    white: bool


class RobustnessChecker(Checker):
    id = "robustness"
    description = "Accuracy under adversarial attack (ART): FGM/PGD with the weights, Square/HopSkipJump without."
    needs = frozenset({Need.DATA, Need.TARGET, Need.MODEL})
    priority = 120
    options = {
        "samples": Option(200, "attacked samples: a seeded, class-stratified subset of the correctly "
                               "classified evaluation rows (white-box)", type=int, minimum=1, maximum=100000),
        "black_box_samples": Option(50, "attacked samples for the black-box attacks (they cost many queries)",
                                    type=int, minimum=1, maximum=100000),
        "norm": Option("inf", "perturbation norm: 'inf' (each input moves at most epsilon) or '2' (Euclidean)",
                       type=str, choices=("inf", "2")),
        "image_epsilons": Option((2 / 255, 4 / 255, 8 / 255), "epsilon sweep for images, in the input's scale "
                                 "(2/255, 4/255, 8/255 for [0, 1] images)", type=list, item_type=(int, float)),
        "image_epsilon": Option(2 / 255, "the image epsilon the policy judges (accuracy at it must stay above the "
                                "fail level as a fraction of clean accuracy)", type=float, minimum=0),
        "tabular_epsilons": Option((0.05, 0.1, 0.2, 0.5), "epsilon sweep for tables, in units of each feature's "
                                   "reference standard deviation", type=list, item_type=(int, float)),
        "tabular_epsilon": Option(0.2, "the tabular epsilon the policy judges (standard deviations)",
                                  type=float, minimum=0),
        "white_box_attacks": Option(("fgm", "pgd"), "attacks run when the weights are available",
                                    type=list, item_type=str),
        "black_box_attacks": Option(("square", "hopskipjump"), "attacks run on a predict callable / ONNX model",
                                    type=list, item_type=str),
        "pgd_iterations": Option(20, "PGD steps (step size 2.5 * epsilon / steps)", type=int, minimum=1, maximum=10000),
        "query_budget": Option(1000, "black-box model queries per attacked sample", type=int, minimum=10,
                               maximum=1000000),
        "time_budget_s": Option(60.0, "seconds per attack; when spent, the attack stops and its results are "
                                "marked partial", type=float, minimum=0.01),
        "batch_size": Option(256, "samples per ART batch", type=int, minimum=1, maximum=65536),
        "immutable": Option(None, "features never perturbed; null: the sensitive attributes and ids that are "
                            "model inputs (a list replaces that default)", type=list, item_type=str, nullable=True),
        "categorical": Option((), "numeric features that encode categories (never perturbed); binary and "
                              "boolean features are detected as one-hot / categorical", type=list, item_type=str),
        "threads": Option(0, "torch CPU threads during the attacks; 0: one thread for tabular models (their tiny "
                             "matrix products only lose time to thread start-up on a shared machine), torch's "
                             "own setting for images. The previous setting is restored.", type=int, minimum=0,
                          maximum=1024),
        "examples": Option(3, "adversarial image examples shown in the report", type=int, minimum=0, maximum=20),
        "evaluation_rows": Option(20000, "clean accuracy is measured, and the attacked samples drawn, on a seeded "
                                         "sample of at most this many evaluation rows (0: every row); the report "
                                         "says when it sampled", type=int, minimum=0),
        "reference_rows": Option(100000, "feature statistics (mean, standard deviation, valid range) from a seeded "
                                         "sample of at most this many reference rows (0: every row)",
                                 type=int, minimum=0),
    }
    kinds = {
        "adversarial_accuracy": Kind(
            "accuracy under attack at the policy's epsilon, as a fraction of clean accuracy",
            direction="below", fail=0.8, warn=0.9, severity=Severity.HIGH, unit="share",
            why="Small, deliberate changes to an input change the model's answer; someone could game "
                "the decision, and ordinary noise may flip it too.",
            advice="Train with adversarial examples or input constraints, check that the attacked "
                   "features are ones a user can really change, and re-audit."),
    }

    def run(self, ctx: CheckContext) -> CheckOutput:
        cfg = self.config
        if ctx.task != "classification":
            raise CheckSkipped(
                f"adversarial accuracy is measured for classification models; this is a {ctx.task or 'unknown'} "
                "task (no class to flip), so the robustness check does not apply.")
        classes = tuple(ctx.classes or ())
        if len(classes) < 2:
            raise CheckSkipped("the model has fewer than two classes, so no prediction can be flipped.")
        ds = ctx.data
        assert ds is not None and ctx.model is not None  # needs = {DATA, TARGET, MODEL}
        n_all = len(ds.array) if ds.array is not None and list(ctx.features) == ["x"] else len(ds.frame)
        rows = S.sample_rows(ctx.rng("evaluation"), n_all, cfg["evaluation_rows"])
        space = S.build_space(ctx, immutable=cfg["immutable"], categorical=cfg["categorical"], rows=rows,
                            reference_rows=cfg["reference_rows"])
        white = ctx.model.module is not None
        attacks = [a.lower() for a in cfg["white_box_attacks" if white else "black_box_attacks"]]
        allowed = A.WHITE_BOX if white else A.BLACK_BOX
        bad = [a for a in attacks if a not in allowed]
        if bad:
            raise CheckSkipped(f"option {'white' if white else 'black'}_box_attacks names unknown attack "
                               f"{bad[0]!r} (known: {', '.join(allowed)}).")
        if not attacks:
            raise CheckSkipped("the policy lists no attack to run.")
        eps_list = sorted({float(e) for e in cfg["image_epsilons" if space.images else "tabular_epsilons"] if e > 0})
        judged = float(cfg["image_epsilon" if space.images else "tabular_epsilon"])
        if judged > 0 and not any(math.isclose(judged, e, rel_tol=1e-9) for e in eps_list):
            eps_list = sorted(eps_list + [judged])
        if not eps_list:
            raise CheckSkipped("the policy's epsilon sweep holds no positive epsilon.")

        y_all = ctx.label_indices(ds)
        if rows is not None:
            y_all = y_all[rows]
        usable = (y_all >= 0) & space.finite_rows
        if not usable.any():
            raise CheckSkipped("no evaluation row has a known label and finite feature values.")
        threads = cfg["threads"] or (1 if not space.images else 0)
        with _torch_threads(threads if white else 0):
            return self._attack(ctx, cfg, space, white, attacks, eps_list, judged, usable, y_all, classes)

    def _attack(self, ctx, cfg, space, white, attacks, eps_list, judged, usable, y_all, classes):
        norm = np.inf if cfg["norm"] == "inf" else 2
        target = (A.WhiteBoxTarget(ctx, space, len(classes), norm, cfg["batch_size"]) if white
                  else A.BlackBoxTarget(ctx, space, len(classes), cfg["batch_size"]))
        try:
            idx_usable = np.flatnonzero(usable)
            pred = target.predict_labels(space.x_raw[idx_usable])
            correct_mask = pred == y_all[idx_usable]
            clean_acc = float(correct_mask.mean())
            cand = idx_usable[correct_mask]
            n_wanted = cfg["samples"] if white else cfg["black_box_samples"]
            subset = stratified_subset(ctx.rng("subset"), y_all, cand, n_wanted)
            if len(subset) == 0:
                raise CheckSkipped(f"the model classifies none of the {len(idx_usable):,} usable evaluation rows "
                                   "correctly, so there is nothing to attack.")
            y0 = y_all[subset]
            runs: list[AttackRun] = []
            for i, name in enumerate(attacks):
                ctx.progress(i / len(attacks), f"{name} on {len(subset):,} samples")
                runs.append(A.run_attack(name, target, space, subset, y0, eps_list, norm=norm, cfg=cfg, ctx=ctx))
            ctx.progress(1.0, "done")
        finally:
            target.close()
        return self._report(Attacked(ctx=ctx, cfg=cfg, space=space, runs=runs, classes=classes, clean_acc=clean_acc,
                                     judged=judged, eps_list=eps_list, subset=subset, white=white))

    # ------------------------------------------------------------------ reporting
    def _report(self, a: Attacked) -> CheckOutput:
        """Findings (one per attack and epsilon), the accuracy curve, metrics and summary."""
        ctx, space, runs = a.ctx, a.space, a.runs
        lv = ctx.levels["adversarial_accuracy"]
        findings = []
        worst = None  # (share, run, eps)
        failed_attacks: list[str] = []
        for run in runs:
            for eps in a.eps_list:
                f = self._eps_finding(a, run, eps)
                findings.append(f)
                if f.value is None or eps > a.judged * (1 + 1e-9):
                    continue  # not evaluated, or beyond the policy's epsilon (shown for the curve only)
                if f.status != Status.PASS and run.name not in failed_attacks:
                    failed_attacks.append(run.name)
                if eps == a.judged and (worst is None or f.value <= worst[0]):
                    worst = (f.value, run, eps)
        out = self._with_advice(a, findings, worst, failed_attacks)
        partial = any(r.partial for r in runs)
        summary = self._summary(runs, worst, a.clean_acc, lv, space, a.judged, partial)
        if space.rows is not None:
            summary += (f" Clean accuracy was measured, and the attacked samples drawn, on a seeded sample of "
                        f"{len(space.x_raw):,} of the {space.evaluation_total:,} evaluation rows.")
        if space.reference_sample:
            summary += (f" Feature scales and ranges come from a seeded sample of {space.reference_sample[0]:,} "
                        f"of {space.reference_sample[1]:,} reference rows.")
        return CheckOutput(findings=out, summary=summary, metrics=self._metrics(a, partial))

    @staticmethod
    def _eps_finding(a: Attacked, run: AttackRun, eps: float) -> Finding:
        """The finding of one attack at one epsilon: graded up to the policy's epsilon, a pass
        beyond it (shown for the curve), a warning when the time budget ran out first."""
        ctx, space, cfg, clean_acc = a.ctx, a.space, a.cfg, a.clean_acc
        res = run.results.get(eps)
        subject = f"{run.name}@{space.eps_label(eps)}"
        is_judged = eps <= a.judged * (1 + 1e-9)
        base_ev = {"attack": run.name, "epsilon": eps, "epsilon_unit": space.eps_unit,
                   "norm": cfg["norm"], "judged_epsilon": a.judged, "mode": "white-box" if a.white else "black-box",
                   "clean_accuracy": round(clean_acc, 4), "partial": run.partial}
        if run.queries_per_sample is not None:
            base_ev["queries_per_sample"] = round(run.queries_per_sample, 1)
        if res is None or res.n == 0:
            return ctx.finding(
                "adversarial_accuracy", subject,
                f"{run.label} at epsilon {space.eps_label(eps)} was not evaluated: the attack's time "
                f"budget of {cfg['time_budget_s']:g} s ran out first.",
                value=None, status=Status.WARN if is_judged else Status.PASS,
                evidence={**base_ev, "samples_attacked": 0})
        share = res.robust / res.n  # graded unrounded; rounded only where shown
        adv_acc = clean_acc * share
        ev = {**base_ev, "samples_attacked": res.n, "samples_planned": len(a.subset),
              "adversarial_accuracy": round(adv_acc, 4), "robust_share": round(share, 4),
              "attack_success_rate": round(1 - share, 4),
              "mean_perturbation_norm": None if res.mean_norm is None else round(res.mean_norm, 6)}
        partial_note = (f" (partial: {res.n} of {len(a.subset):,} samples within the time budget)"
                        if run.partial and res.n < len(a.subset) else "")
        text = (f"{run.label} at epsilon {space.eps_label(eps)} keeps {fmt.percent(share)} of clean accuracy "
                f"({clean_acc:.1%} -> {adv_acc:.1%}; attack success rate {fmt.percent(1 - share)})")
        if not space.images and eps == a.judged and res.examples is not None:
            ev["table"] = feature_table(space, res)
        if is_judged:
            lv = ctx.levels["adversarial_accuracy"]
            return ctx.finding("adversarial_accuracy", subject,
                               text + f"; policy minimum {_lvl(lv.fail)} of clean accuracy{partial_note}.",
                               value=share, evidence=ev)
        return ctx.finding("adversarial_accuracy", subject,
                           text + f"; beyond the policy's epsilon {space.eps_label(a.judged)}, shown for "
                           f"the curve only{partial_note}.", value=share, status=Status.PASS, evidence=ev)

    @staticmethod
    def _with_advice(a: Attacked, findings: list[Finding], worst, failed_attacks: list[str]) -> list[Finding]:
        """The findings with advice on every one that is not a pass, and the image examples on the
        judged finding of the strongest attack."""
        space, cfg = a.space, a.cfg
        advice = ADVICE.format(attacks=", ".join(x.upper() if x in ("fgm", "pgd") else x for x in failed_attacks))
        out = []
        for f in findings:
            ev = dict(f.evidence)
            if f.status != Status.PASS:
                ev["advice"] = advice
            if (space.images and worst is not None and f.subject == f"{worst[1].name}@{space.eps_label(worst[2])}"
                    and cfg["examples"] > 0):
                chart = image_examples(space, worst[1], worst[2], a.subset, a.classes, cfg["examples"])
                if chart is not None:
                    ev["charts"] = [chart]
            out.append(dataclasses.replace(f, evidence=ev))
        return out

    @staticmethod
    def _metrics(a: Attacked, partial: bool) -> dict[str, Any]:
        """The check's metrics, with the accuracy-against-epsilon curve."""
        space, runs, clean_acc, eps_list = a.space, a.runs, a.clean_acc, a.eps_list
        lv = a.ctx.levels["adversarial_accuracy"]
        curve = {"type": "line", "title": "Accuracy under attack vs. epsilon",
                 "x": [float(e) for e in eps_list],
                 "series": [{"name": r.label + (" (partial)" if r.partial else ""),
                             "y": [None if r.results.get(e) is None or r.results[e].n == 0
                                   else round(clean_acc * r.results[e].robust / r.results[e].n, 4)
                                   for e in eps_list]} for r in runs],
                 "x_label": f"epsilon ({space.eps_unit})", "y_label": "accuracy",
                 "reference_lines": [{"value": round(clean_acc, 4), "label": "clean accuracy"}]
                 + ([{"value": round(clean_acc * lv.fail, 4),
                      "label": f"policy minimum at epsilon {space.eps_label(a.judged)}"}]
                    if lv.fail is not None else [])}
        return {"mode": "white-box" if a.white else "black-box", "clean_accuracy": round(clean_acc, 4),
                "samples": int(len(a.subset)), "epsilons": [float(e) for e in eps_list], "judged_epsilon": a.judged,
                "epsilon_unit": space.eps_unit, "norm": a.cfg["norm"], "partial": partial,
                "attacks": [r.name for r in runs], "immutable_features": list(space.frozen_names),
                "integer_features": list(space.integer_names), "charts": [curve],
                "evaluation_rows": {"used": int(len(space.x_raw)), "of": int(space.evaluation_total),
                                    "sampled": space.rows is not None},
                "reference_rows_for_statistics": (
                    {"used": space.reference_sample[0], "of": space.reference_sample[1], "sampled": True}
                    if space.reference_sample else {"sampled": False}),
                "seconds": {r.name: round(r.seconds, 3) for r in runs}}

    @staticmethod
    def _summary(runs, worst, clean_acc, lv, space, judged, partial):
        tail = " Some attacks ran out of time and report partial results." if partial else ""
        if worst is None:
            return (f"No attack finished at the policy's epsilon {space.eps_label(judged)} within its time budget; "
                    f"clean accuracy is {clean_acc:.1%}." + tail)
        share, run, eps = worst
        adv = clean_acc * share
        status, _ = lv.grade(share)
        if status == Status.PASS:
            return (f"Under the strongest attack ({run.label}) at epsilon {space.eps_label(eps)}, accuracy "
                    f"holds at {adv:.1%} (clean {clean_acc:.1%}), within the policy." + tail)
        return (f"Under {run.label} perturbations of epsilon {space.eps_label(eps)}, accuracy falls from "
                f"{clean_acc:.1%} to {adv:.1%}, below the policy's {status.value} level of "
                f"{_lvl(lv.fail if status == Status.FAIL else lv.warn)} of clean accuracy." + tail)


_torch_threads = torch_threads  # n torch CPU threads (0: unchanged), the old count put back


def _lvl(v):
    return "n/a" if v is None else f"{v:.0%}"


def stratified_subset(rng: np.random.Generator, y: np.ndarray, cand: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` indices from ``cand``, each class represented in proportion (at least one
    per class when ``n`` allows), drawn with ``rng``; returned sorted."""
    cand = np.sort(np.asarray(cand, dtype=np.int64))
    if len(cand) <= n:
        return cand
    labels, counts = np.unique(y[cand], return_counts=True)
    raw = n * counts / counts.sum()
    alloc = np.minimum(np.floor(raw).astype(int), counts)
    if n >= len(labels):
        alloc = np.maximum(alloc, 1)
    while alloc.sum() > n:  # the minimum-one rule overshot: take from the largest
        alloc[np.argmax(alloc)] -= 1
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    i = 0
    while alloc.sum() < n and i < 10 * len(labels) + n:
        k = order[i % len(labels)]
        if alloc[k] < counts[k]:
            alloc[k] += 1
        i += 1
    picked = [rng.choice(cand[y[cand] == lab], size=int(a), replace=False) for lab, a in zip(labels, alloc) if a > 0]
    return np.sort(np.concatenate(picked)) if picked else cand[:0]


def feature_table(space: Space, res) -> list[dict]:
    """Per feature: its role and how far the attack moved it (reference standard deviations)."""
    x0, xa = res.examples[0], res.examples[1]
    moved = np.abs(xa - x0) / space.scale
    assert space.mutable is not None and space.integer is not None  # called for tabular spaces only
    rows = []
    for j, name in enumerate(space.names[:50]):
        role = "frozen" if not space.mutable[j] else "integer" if space.integer[j] else "continuous"
        rows.append({"feature": name, "role": role,
                     "mean_change_std": round(float(moved[:, j].mean()), 4),
                     "max_change_std": round(float(moved[:, j].max()), 4),
                     "share_changed": round(float((xa[:, j] != x0[:, j]).mean()), 4)})
    return rows


def _shrink(pix: np.ndarray, most: int = 32) -> np.ndarray:
    """Average-pool a large image to at most ``most`` pixels a side (the report stays small)."""
    f = int(math.ceil(max(pix.shape) / most))
    if f <= 1:
        return pix
    h, w = (pix.shape[0] // f) * f, (pix.shape[1] // f) * f
    return pix[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def image_examples(space: Space, run: AttackRun, eps: float, subset, classes, limit: int) -> dict | None:
    res = run.results.get(eps)
    if res is None or res.examples is None:
        return None
    x0, xa, y0, ya = res.examples
    flipped = np.flatnonzero(ya != y0)[:limit]
    if len(flipped) == 0:
        return None
    lo, hi = space.image_range
    images = []
    for i in flipped:
        orig = (x0[i].mean(axis=0) - lo) / (hi - lo)
        adv = (xa[i].mean(axis=0) - lo) / (hi - lo)
        pert = 0.5 + 0.5 * (xa[i] - x0[i]).mean(axis=0) / max(eps, 1e-12)
        row = space.row_number(int(subset[res.indices[i]]) if res.indices is not None else int(i))
        for caption, pix in ((f"row {row}: original, label {classes[y0[i]]}", orig),
                             (f"row {row}: perturbation (epsilon {space.eps_label(eps)}, scaled)", pert),
                             (f"row {row}: adversarial, predicted {classes[ya[i]]}", adv)):
            images.append({"caption": caption,
                           "pixels": np.round(np.clip(_shrink(pix), 0, 1), 4).tolist()})
    return {"type": "images", "title": f"Adversarial examples: {run.label} at epsilon {space.eps_label(eps)}",
            "images": images}
