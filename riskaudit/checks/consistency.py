"""Consistency: the same input gives the same prediction, whatever the batch, the run, the
thread count or the device.

Sub-checks, on a seeded subset of ``sample_size`` evaluation rows:

- batch size: the subset predicted with every configured batch size (and the whole subset
  as one batch) against batch size 1 -> ``batch_size_inconsistency`` (one finding per batch
  size, subject ``batch_size=B``);
- batch composition: the subset shuffled, so every sample sits among other companions, at
  one batch size, against the unshuffled pass at that size -> ``batch_composition_inconsistency``
  (BatchNorm in training mode, attention across the batch);
- run to run: the whole-subset batch again ``repeats - 1`` times, each with a different
  torch random state -> ``nondeterministic_predictions`` (Dropout left active);
- layers (torch modules, TorchScript included): every mode-dependent submodule left in
  training mode -> ``train_mode_layers``;
- threads: one torch thread against the default count -> ``thread_inconsistency``;
  CPU against CUDA when a GPU is present -> ``device_inconsistency`` (skipped otherwise);
- training (optional): the project's ``train_entry_point`` (``package.module:function``
  taking ``seed``) run twice with the same seed -> ``training_nondeterminism``.

Cost: one inference pass per batch size, ``repeats - 1`` more (the whole-subset pass is the
first repeat), one composition pass, one thread pass and one device pass at most, so at
most ``len(batch sizes) + repeats + 2`` passes over the subset.

Outputs are compared as raw model outputs: the largest absolute difference and the
relative one (absolute difference divided by the largest output magnitude of the pass it is
compared with), plus the number of samples whose predicted label changes. When the model
is not deterministic, batch-size and composition differences cannot be told apart from run
noise: those findings then warn as inconclusive instead of failing.

The model is never left in a changed mode, thread count or device.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
import time
from typing import TYPE_CHECKING, Any

from riskaudit import fmt
from riskaudit._lazy import lazy_module

from riskaudit._scope import torch_threads
from riskaudit.checks.base import CheckContext, Checker, CheckOutput, Kind, Need, Option
from riskaudit.data import Dataset
from riskaudit.model import Model, to_proba
from riskaudit.result import Finding, Severity, Status

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

_DROPOUT = {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"}
_BATCHNORM = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LazyBatchNorm1d",
              "LazyBatchNorm2d", "LazyBatchNorm3d"}
_INSTANCENORM = {"InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyInstanceNorm1d",
                 "LazyInstanceNorm2d", "LazyInstanceNorm3d"}
_OTHER = {"RReLU", "MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
          "TransformerEncoder", "TransformerDecoder", "Transformer"}

ADVICE = {
    "batch_size_inconsistency": (
        "Predictions change with the batch size. Call model.eval() before saving or serving the "
        "model (BatchNorm in training mode normalizes with the batch's own statistics), and "
        "remove any computation that mixes samples of a batch (batch means, sorting, padding "
        "to the longest sample)."),
    "batch_composition_inconsistency": (
        "A sample's prediction depends on the other samples in its batch. Call model.eval() "
        "(BatchNorm in training mode) and make sure no layer attends or normalizes across the "
        "batch dimension."),
    "nondeterministic_predictions": (
        "The same inputs give different outputs from run to run. Call model.eval() so Dropout "
        "and other random layers are off, seed every random generator the model uses, and "
        "set torch.use_deterministic_algorithms(True) for bit-exact GPU results."),
    "train_mode_layers": (
        "These layers behave differently in training mode. Call model.eval() before exporting "
        "(torch.jit.save / torch.export / ONNX) and before serving."),
    "thread_inconsistency": (
        "Outputs change with the number of CPU threads. Usually float32 rounding from a "
        "different summation order; if the difference is large, look for thread-dependent "
        "custom code, and pin torch.set_num_threads in serving."),
    "device_inconsistency": (
        "Outputs differ between CPU and GPU beyond float32 rounding. Check for TF32 "
        "(torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32), "
        "device-specific code, and serve on the device the model was validated on."),
    "training_nondeterminism": (
        "Training twice with the same seed gives different weights. Seed torch, numpy and "
        "random in the training function, set torch.use_deterministic_algorithms(True), "
        "use DataLoader(generator=..., worker_init_fn=...) and a fixed data order."),
}


def _diff_kind(doc: str, fail: float, warn: float | None, severity=Severity.HIGH, **texts) -> Kind:
    return Kind(doc=doc, direction="above", fail=fail, warn=warn, severity=severity, unit="relative", **texts)


# What the summary says per failing kind, in this order.
SUMMARY_PHRASES = {
    "nondeterministic_predictions": "predictions change from run to run",
    "train_mode_layers": "layers were left in training mode (call model.eval())",
    "batch_size_inconsistency": "predictions depend on the batch size",
    "batch_composition_inconsistency": "predictions depend on the other samples in the batch",
    "thread_inconsistency": "outputs change with the CPU thread count",
    "device_inconsistency": "outputs differ between CPU and GPU",
    "training_nondeterminism": "training is not reproducible",
}

@dataclasses.dataclass
class _Run:
    """The state of one consistency run: the seeded subset, the passes made so far and what
    they found. It lives for one ``run`` call, never on the checker instance."""

    ctx: CheckContext
    model: Model
    x: Any
    """The subset's model inputs."""
    rows: np.ndarray
    """The subset's row numbers in the evaluation data."""
    n: int
    sizes: list[int]
    seed0: int
    """The forward seed of every pass that is not a repeat."""
    repeats: int
    findings: list[Finding] = dataclasses.field(default_factory=list)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    """Sub-check -> why it was not run."""
    outs: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    """Batch size -> outputs of the subset."""
    errors: dict[int, str] = dataclasses.field(default_factory=dict)
    """Batch size -> the error the model raised."""
    bs_diffs: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    rep_outs: list[np.ndarray] = dataclasses.field(default_factory=list)
    rep_err: str | None = None
    nondet: bool = False
    passes: int = 0

    def predict(self, xx: Any, bs: int, seed: int) -> tuple[np.ndarray | None, str | None]:
        """One pass over ``xx`` at batch size ``bs``; an error comes back as text (a batch size
        the model cannot take is itself a finding)."""
        self.passes += 1
        try:
            out = self.model.forward(xx, batch_size=bs, seed=seed, record=False)
            return _as_2d(out, len(xx)), None
        except Exception as exc:
            return None, f"{type(exc).__name__}: {_first_line(exc)}"


class ConsistencyChecker(Checker):
    id = "consistency"
    description = "Same input, same prediction: batch size, batch companions, repeated runs, train-mode layers, threads, device."
    needs = frozenset({Need.DATA, Need.MODEL})
    priority = 30
    options = {
        "sample_size": Option(512, "Rows of the evaluation data (a seeded subset) predicted in every pass.",
                              type=int, minimum=2, maximum=100000),
        "batch_sizes": Option([1, 2, 7, 32, 256], "Batch sizes compared with batch size 1; the whole "
                              "subset as one batch is always added.", type=list, item_type=int,
                              schema={"items": {"type": "integer", "minimum": 1}}),
        "repeats": Option(3, "Runs of the whole-subset batch, each with a different torch random state.",
                          type=int, minimum=2, maximum=20),
        "composition_batch_size": Option(None, "Batch size of the shuffled-companions pass (default: "
                                         "the largest configured size from 2 to 32 below the subset size; "
                                         "another size is added to the batch sizes compared).",
                                         type=int, minimum=2, nullable=True),
        "threads": Option(True, "Compare one torch CPU thread against the default thread count.", type=bool),
        "device": Option(True, "Compare CPU against CUDA when a GPU is available.", type=bool),
        "training": Option(True, "Train twice through the project's train_entry_point when it names one.",
                           type=bool),
    }
    kinds = {
        "batch_size_inconsistency": _diff_kind(
            "largest relative output difference against batch size 1 (any label flip fails)", 1e-4, 1e-5,
            why="A person's decision depends on how many other requests were processed with theirs, "
                "so the same application can get a different answer on a busy day.",
            advice=ADVICE["batch_size_inconsistency"]),
        "batch_composition_inconsistency": _diff_kind(
            "largest relative output difference when a sample's batch companions change "
            "(any label flip fails)", 1e-4, 1e-5,
            why="A person's decision depends on whose requests happen to be processed with theirs.",
            advice=ADVICE["batch_composition_inconsistency"]),
        "nondeterministic_predictions": _diff_kind(
            "largest relative output difference between repeated runs of the same batch", 0.0, None,
            why="Asking twice gives different answers: decisions cannot be reproduced, explained or "
                "contested.",
            advice=ADVICE["nondeterministic_predictions"]),
        "train_mode_layers": Kind(doc="mode-dependent layers left in training mode", direction="above",
                                  fail=0.5, warn=None, severity=Severity.HIGH, unit="flag",
                                  why="The model was saved in training mode, so its answers are random or "
                                      "depend on other requests; this is almost always a mistake.",
                                  advice=ADVICE["train_mode_layers"]),
        "thread_inconsistency": _diff_kind(
            "largest relative output difference, one CPU thread against the default count "
            "(any label flip fails)", 1e-4, 1e-5, Severity.MEDIUM,
            why="Results change with the server's CPU settings, so production may not match the audit.",
            advice=ADVICE["thread_inconsistency"]),
        "device_inconsistency": _diff_kind(
            "largest relative output difference, CPU against CUDA (any label flip fails)", 1e-2, 1e-3,
            Severity.MEDIUM,
            why="Results differ between CPU and GPU, so what was audited may not be what runs in production.",
            advice=ADVICE["device_inconsistency"]),
        "training_nondeterminism": Kind(doc="parameter tensors that differ between two trainings "
                                        "with the same seed", direction="above", fail=0.5, warn=None,
                                        severity=Severity.MEDIUM, unit="flag",
                                        why="The model cannot be rebuilt exactly from its code and data, so "
                                            "an audit or an incident cannot be reproduced.",
                                        advice=ADVICE["training_nondeterminism"]),
    }

    # ------------------------------------------------------------------ run
    def run(self, ctx: CheckContext) -> CheckOutput:
        assert ctx.data is not None and ctx.model is not None  # needs = {DATA, MODEL}
        ds = ctx.data
        n_all = len(ds.frame) if ds.array is None else len(ds.array)
        if n_all == 0:
            return CheckOutput([], "No evaluation rows to predict, so consistency was not measured.",
                               {"skipped": {"all": "the evaluation data has no rows"}})
        t_start = time.perf_counter()
        run = self._start(ctx, ctx.model, ds, n_all)
        # layers first: no inference needed
        if run.model.module is not None:
            run.findings.append(self._layers(ctx, run.model.module))
        else:
            run.skipped["train_mode_layers"] = "the model is not a torch module (no layers to inspect)"
        self._predict_batch_sizes(run)
        self._predict_repeats(run)
        run.nondet = self._repeats(run)
        self._batch_sizes(run)  # graded now that run noise is known
        self._composition(run)
        self._threads(run)
        self._device(run)
        self._training_step(run)
        return self._output(run, time.perf_counter() - t_start)

    # ------------------------------------------------------------------ passes
    def _start(self, ctx: CheckContext, model: Model, ds: Dataset, n_all: int) -> _Run:
        """The seeded subset of ``sample_size`` rows, its model inputs and the batch sizes to compare."""
        n = min(int(self.config["sample_size"]), n_all)
        rows = np.sort(ctx.rng("subset").choice(n_all, size=n, replace=False))
        # only the subset's model inputs are built (not a float32 copy of every row)
        sub = dataclasses.replace(ds, frame=ds.frame.iloc[rows].reset_index(drop=True),
                                  array=None if ds.array is None else ds.array[rows])
        x = ctx.model_inputs(sub)
        x = x if hasattr(x, "iloc") else np.asarray(x)
        comp_cfg = self.config["composition_batch_size"]
        extra = {min(int(comp_cfg), n)} if comp_cfg else set()
        sizes = sorted({min(int(b), n) for b in self.config["batch_sizes"]} | {1, n} | extra)
        return _Run(ctx=ctx, model=model, x=x, rows=rows, n=n, sizes=sizes, seed0=ctx.seed_for("forward"),
                    repeats=int(self.config["repeats"]))

    @staticmethod
    def _predict_batch_sizes(run: _Run) -> None:
        """1. The subset at every batch size (outputs, or the error the model raised)."""
        for i, bs in enumerate(run.sizes):
            run.ctx.progress(0.7 * i / (len(run.sizes) + 3), f"batch size {bs}")
            out, err = run.predict(run.x, bs, run.seed0)
            if out is None:
                run.errors[bs] = err or "unknown error"
            else:
                run.outs[bs] = out

    @staticmethod
    def _predict_repeats(run: _Run) -> None:
        """2. The whole-subset batch again ``repeats - 1`` times, each with a different torch random state."""
        n = run.n
        run.rep_outs = [run.outs[n]] if n in run.outs else []
        run.rep_err = run.errors.get(n)
        for r in range(1, run.repeats):
            run.ctx.progress(0.7, f"repeat {r + 1} of {run.repeats}")
            out, err = run.predict(run.x, n, run.ctx.seed_for(f"repeat{r}"))
            if out is None:
                run.rep_err = run.rep_err or err
            else:
                run.rep_outs.append(out)

    def _composition(self, run: _Run) -> None:
        """3. The subset shuffled, so every sample gets other companions, at one batch size."""
        comp_cfg, n = self.config["composition_batch_size"], run.n
        cbs = self._composition_size(run.sizes, n) if not comp_cfg else (min(int(comp_cfg), n) if comp_cfg < n
                                                                          else None)
        if cbs is None:
            run.skipped["batch_composition"] = f"the subset has {n} rows: too few to change a sample's companions"
            return
        if cbs not in run.outs:
            run.skipped["batch_composition"] = f"batch size {cbs} could not be predicted ({run.errors.get(cbs)})"
            return
        run.ctx.progress(0.8, "shuffled companions")
        perm = run.ctx.rng("composition").permutation(n)
        x = run.x
        xp = x.iloc[perm].reset_index(drop=True) if hasattr(x, "iloc") else x[perm]
        out, err = run.predict(xp, cbs, run.seed0)
        if out is not None:
            back = np.empty_like(out)
            back[perm] = out
            out = back
        run.findings.append(self._compare(
            run.ctx, "batch_composition_inconsistency", f"shuffled companions@batch_size={cbs}",
            run.outs[cbs], out, err, run.rows, run.nondet,
            what=f"with other companions in batches of {cbs}", ref_name=f"batch_size={cbs}",
            cmp_name="shuffled"))

    def _threads(self, run: _Run) -> None:
        """4. One torch CPU thread against the default count."""
        ref_n, n = run.outs.get(run.n), run.n
        if not self.config["threads"]:
            run.skipped["threads"] = "disabled by the policy (threads: false)"
        elif run.model.module is None:
            run.skipped["threads"] = ("the model is not a torch module; its runtime's thread count is not "
                                      "controlled here")
        elif ref_n is None:
            run.skipped["threads"] = f"the whole-subset batch could not be predicted ({run.errors.get(n)})"
        else:
            import torch

            default = torch.get_num_threads()
            if default <= 1:
                run.skipped["threads"] = "torch already runs on 1 CPU thread; nothing to compare"
            elif run.model.device != "cpu":
                run.skipped["threads"] = f"the model runs on {run.model.device}; CPU thread counts do not apply"
            else:
                run.ctx.progress(0.85, "one CPU thread")
                with torch_threads(1):
                    out, err = run.predict(run.x, n, run.seed0)
                run.findings.append(self._compare(
                    run.ctx, "thread_inconsistency", f"threads=1 vs {default}", ref_n, out, err, run.rows,
                    run.nondet, what=f"on 1 CPU thread instead of {default}", ref_name=f"threads={default}",
                    cmp_name="threads=1"))

    def _device(self, run: _Run) -> None:
        """5. CPU against CUDA when a GPU is present; the model is moved back in any case."""
        ref_n, model = run.outs.get(run.n), run.model
        if not self.config["device"]:
            run.skipped["device"] = "disabled by the policy (device: false)"
            return
        if model.module is None:
            run.skipped["device"] = "the model is not a torch module; it runs where its runtime puts it"
            return
        import torch

        if not torch.cuda.is_available():
            run.skipped["device"] = "no CUDA device is available on this machine: CPU vs CUDA not compared"
        elif ref_n is None:
            run.skipped["device"] = f"the whole-subset batch could not be predicted ({run.errors.get(run.n)})"
        else:
            run.ctx.progress(0.9, "CPU vs CUDA")
            here = model.device
            other = "cpu" if here.startswith("cuda") else "cuda"
            try:
                model.module.to(other)
                model.device = other
                out, err = run.predict(run.x, run.n, run.seed0)
            finally:
                model.module.to(here)
                model.device = here
            cpu_out, cuda_out = (ref_n, out) if other.startswith("cuda") else (out, ref_n)
            run.findings.append(self._compare(
                run.ctx, "device_inconsistency", "cpu vs cuda", cpu_out, cuda_out, err, run.rows, run.nondet,
                what="on CUDA instead of the CPU", ref_name="cpu", cmp_name="cuda"))

    def _training_step(self, run: _Run) -> None:
        """6. Training reproducibility, when the project names a train_entry_point."""
        entry = (run.ctx.project or {}).get("train_entry_point")
        if not entry:
            run.skipped["training"] = "the project names no train_entry_point"
        elif not self.config["training"]:
            run.skipped["training"] = "disabled by the policy (training: false)"
        else:
            run.ctx.progress(0.95, "training twice")
            run.findings.append(self._training(run.ctx, str(entry)))

    def _output(self, run: _Run, elapsed: float) -> CheckOutput:
        """The findings (the always-present run-to-run one carrying what was not checked),
        summary and metrics of the run."""
        findings = [dataclasses.replace(f, evidence={**f.evidence, "skipped_sub_checks": dict(run.skipped)})
                    if f.kind == "nondeterministic_predictions" and run.skipped else f for f in run.findings]
        n, sizes = run.n, run.sizes
        metrics = {
            "sample_size": n, "rows": [int(r) for r in run.rows[:50]], "batch_sizes": sizes,
            "repeats": run.repeats, "passes": run.passes, "pass_budget": len(sizes) + run.repeats + 2,
            "seconds": round(elapsed, 4), "skipped": run.skipped,
            "charts": [self._chart(sizes, run.bs_diffs)] if run.bs_diffs and 1 in run.outs else [],
        }
        never = None if (run.outs or len(run.rep_outs) > 0) else next(iter(run.errors.values()), run.rep_err)
        return CheckOutput(findings, self._summary(findings, n, never), metrics)

    # ------------------------------------------------------------------ parts
    @staticmethod
    def _composition_size(sizes, n):
        chosen = [b for b in sizes if 2 <= b < n]
        small = [b for b in chosen if b <= 32]
        return max(small) if small else (max(chosen) if chosen else None)

    def _repeats(self, run: _Run) -> bool:
        """Grade the repeated runs; True when the model is not deterministic."""
        ctx, rep_outs, rep_err, n, repeats = run.ctx, run.rep_outs, run.rep_err, run.n, run.repeats
        kind = "nondeterministic_predictions"
        how = ("each with a different torch random state" if run.model.module is not None
               else "(a plain callable: riskaudit cannot reseed it)")
        if rep_err is not None and len(rep_outs) < 2:
            run.findings.append(ctx.finding(kind, f"{repeats} runs", f"Repeated runs could not be compared: "
                                            f"the model raised {rep_err}.", status=Status.WARN,
                                            evidence={"error": rep_err, "advice": ADVICE[kind]}))
            return True
        base = rep_outs[0]
        worst: dict[str, Any] | None = None
        table = []
        for r, out in enumerate(rep_outs[1:], start=2):
            d = _diff(base, out)
            table.append({"run": r, "max_abs_diff": d["max_abs"], "max_rel_diff": d["max_rel"],
                          "label_flips": d["flips"], "changed_samples": d["changed"]})
            if worst is None or d["max_rel"] > worst["max_rel"]:
                worst = d
        assert worst is not None  # repeats >= 2 and not every repeat raised
        value = worst["max_rel"]
        ev = {"table": table, "repeats": len(rep_outs), "batch_size": n,
              **_worst_evidence(worst, run.rows, base, "run 1", "other run")}
        nondet = value > 0 or worst["flips"] > 0
        if nondet:
            ev["advice"] = ADVICE[kind]
        msg = (f"{len(rep_outs):,} runs of the same {n:,} inputs ({how}) differ by {_upto(value)} "
               f"({_flips(worst['flips'])}; policy maximum {{threshold_text}})."
               if nondet else
               f"{len(rep_outs):,} runs of the same {n:,} inputs ({how}) gave identical outputs.")
        run.findings.append(self._graded(ctx, kind, f"{len(rep_outs):,} runs", msg, value, worst["flips"], ev))
        return nondet

    def _batch_sizes(self, run: _Run) -> None:
        """Grade every batch size against the smallest one that could be predicted."""
        ctx, sizes, outs, errors, findings = run.ctx, run.sizes, run.outs, run.errors, run.findings
        kind = "batch_size_inconsistency"
        ref_bs = next((b for b in sizes if b in outs), None)
        if ref_bs is None:
            first = next(iter(errors.values()), "unknown error")
            findings.append(ctx.finding(kind, "all batch sizes", f"The model raised on every batch size: {first}.",
                                        status=Status.FAIL, evidence={"errors": {str(k): v for k, v in errors.items()},
                                                                      "advice": ADVICE[kind]}))
            return
        table: list[dict[str, Any]] = []
        for bs in sizes:
            if bs == ref_bs:
                continue
            row: dict[str, Any] = {"batch_size": bs}
            if bs in errors:
                row.update(error=errors[bs])
            else:
                d = _diff(outs[ref_bs], outs[bs])
                run.bs_diffs[bs] = d
                row.update(max_abs_diff=d["max_abs"], max_rel_diff=d["max_rel"], label_flips=d["flips"],
                           changed_samples=d["changed"])
            table.append(row)
        for bs in sizes:
            if bs == ref_bs:
                continue
            if bs in errors:
                ev = {"table": table, "error": errors[bs], "advice": ADVICE[kind]}
                findings.append(ctx.finding(kind, f"batch_size={bs}", f"The model raised an error at batch "
                                            f"size {bs} but not at {ref_bs}: {errors[bs]}.",
                                            status=Status.FAIL, evidence=ev))
                continue
            findings.append(self._compare(ctx, kind, f"batch_size={bs}", outs[ref_bs], outs[bs], None, run.rows,
                                          run.nondet, what=f"in batches of {bs} instead of {ref_bs}",
                                          ref_name=f"batch_size={ref_bs}", cmp_name=f"batch_size={bs}",
                                          table=table, diff=run.bs_diffs[bs]))

    def _compare(self, ctx, kind, subject, ref, out, err, rows, nondet, *, what, ref_name, cmp_name, table=None,
                 diff=None):
        if out is None:
            return ctx.finding(kind, subject, f"The model raised an error {what}: {err}.", status=Status.FAIL,
                               evidence={"error": err, "advice": ADVICE[kind]})
        d = diff if diff is not None else _diff(ref, out)
        ev = {"max_abs_diff": d["max_abs"], "max_rel_diff": d["max_rel"], "label_flips": d["flips"],
              "changed_samples": d["changed"], **_worst_evidence(d, rows, ref, ref_name, cmp_name)}
        if table is not None:
            ev["table"] = table
        lv = ctx.levels[kind]
        status, level = lv.grade(d["max_rel"])
        bad = status != Status.PASS or d["flips"] > 0
        if bad:
            ev["advice"] = ADVICE[kind]
        if bad and nondet and kind in ("batch_size_inconsistency", "batch_composition_inconsistency"):
            ev["inconclusive"] = True
            return ctx.finding(kind, subject, f"Outputs {what} differ by {_upto(d['max_rel'])} "
                               f"({_flips(d['flips'])}), but the model is not deterministic, so this "
                               "cannot be told apart from run-to-run noise (see the run-to-run finding).",
                               value=d["max_rel"], status=Status.WARN, threshold=level, evidence=ev)
        msg = (f"Outputs {what} differ by {_upto(d['max_rel'])}, {d['flips']} of {d['n']} predicted labels "
               f"change (policy maximum {{threshold_text}}, no label flip)." if bad else
               f"Outputs {what} differ by {_upto(d['max_rel'])} and no label changes "
               f"(policy maximum {{threshold_text}}).")
        return self._graded(ctx, kind, subject, msg, d["max_rel"], d["flips"], ev)

    @staticmethod
    def _graded(ctx, kind, subject, msg, value, flips, ev):
        status, level = ctx.levels[kind].grade(value)
        if flips > 0:
            status = Status.FAIL
        return ctx.finding(kind, subject, msg, value=value, status=status, threshold=level, evidence=ev)

    def _layers(self, ctx, module):
        kind = "train_mode_layers"
        rows = []
        for name, sub in module.named_modules():
            if not name:
                continue
            tname = _type_name(sub)
            why = _mode_dependent(sub, tname)
            if why and bool(getattr(sub, "training", False)):
                rows.append({"layer": name, "type": tname, "why": why})
        names = [r["layer"] for r in rows]
        ev: dict[str, Any] = {"table": rows[:50], "layers": names}
        if not rows:
            return ctx.finding(kind, "model", "No mode-dependent layer is in training mode.", value=0,
                               status=ctx.levels[kind].grade(0)[0], evidence=ev)
        ev["advice"] = ADVICE[kind]
        shown = ", ".join(f"{r['layer']} ({r['type']})" for r in rows[:10])
        more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
        subject = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
        are = "layer is" if len(rows) == 1 else "layers are"
        return ctx.finding(kind, subject, f"{len(rows):,} mode-dependent {are} in training mode: {shown}{more} "
                           "(under the policy any such layer is a {status}).", value=len(rows), evidence=ev)

    def _training(self, ctx, entry):
        kind = "training_nondeterminism"
        seed = ctx.seed_for("training")
        try:
            fn = _import(entry, (ctx.project or {}).get("project_dir"))
            first = _state(fn(seed=seed))
            second = _state(fn(seed=seed))
        except Exception as exc:
            return ctx.finding(kind, entry, f"Training through {entry} could not be repeated: "
                               f"{type(exc).__name__}: {_first_line(exc)}.", status=Status.WARN,
                               evidence={"error": f"{type(exc).__name__}: {_first_line(exc)}",
                                         "advice": ADVICE[kind]})
        differing: list[str] = []
        table: list[dict[str, Any]] = []
        for name in first:
            a, b = first[name], second.get(name)
            if b is None or a.shape != b.shape:
                differing.append(name)
                table.append({"tensor": name, "max_abs_diff": None, "note": "missing or reshaped"})
                continue
            diff = float(np.max(np.abs(a - b))) if a.size else 0.0
            if not np.array_equal(a, b, equal_nan=True):
                differing.append(name)
                table.append({"tensor": name, "max_abs_diff": diff})
        differing += [k for k in second if k not in first]
        ev: dict[str, Any] = {"tensors": len(first), "differing": len(differing), "table": table[:50], "seed": seed}
        if differing:
            ev["first_differing_tensor"] = differing[0]
            ev["advice"] = ADVICE[kind]
            msg = (f"Two trainings with seed {seed} differ in {len(differing):,} of {len(first):,} parameter tensors, "
                   f"first {differing[0]} (under the policy any difference is a {{status}}).")
        else:
            msg = f"Two trainings with seed {seed} gave identical parameters ({len(first):,} tensors)."
        return ctx.finding(kind, entry, msg, value=len(differing), evidence=ev)

    @staticmethod
    def _chart(sizes, diffs):
        labels, values = [], []
        for bs in sizes:
            if bs in diffs:
                labels.append(str(bs))
                values.append(diffs[bs]["max_rel"])
        return {"type": "bar", "title": "Largest relative output difference against batch size 1",
                "labels": labels, "values": values, "y_label": "relative difference"}

    @staticmethod
    def _summary(findings, n, never: str | None = None):
        if never is not None:  # not one prediction: nothing was compared
            return (f"The model could not predict the {n} inputs at any batch size (it raised "
                    f"{never}), so consistency could not be measured.")
        bad = [f for f in findings if f.status != Status.PASS and not f.evidence.get("inconclusive")]
        if not bad:
            if any(f.status != Status.PASS for f in findings):
                return (f"On {n} inputs, batch-size and companion differences could not be judged "
                        "because the model is not deterministic.")
            return f"The model gave the same predictions for {n} inputs whatever the batch size, companions and run."
        kinds = {f.kind for f in bad}
        parts = [phrase for kind, phrase in SUMMARY_PHRASES.items() if kind in kinds]
        text = "; ".join(parts)
        return f"On {n} inputs, {text}."


# ---------------------------------------------------------------------- helpers
def _first_line(exc: BaseException) -> str:
    s = str(exc).strip()
    return s.splitlines()[0][:300] if s else type(exc).__name__


def _upto(rel: float) -> str:
    """A relative difference in words (riskaudit.fmt): "up to 33.1 %", "less than 0.0001 %"."""
    if rel == 0:
        return "nothing (identical)"
    text = fmt.with_unit(rel, "relative")
    return text.replace("<", "less than") if text.startswith("<") else f"up to {text}"


def _flips(n: int) -> str:
    return f"{fmt.number(n)} predicted label{'' if n == 1 else 's'} changed"


def _as_2d(out, n) -> np.ndarray:
    out = np.asarray(out)
    return out.reshape(n, -1) if out.size else out.reshape(n, 0)


def _labels(out: np.ndarray) -> np.ndarray:
    if out.shape[1] == 0:
        return np.zeros(len(out), dtype=np.int64)
    if np.issubdtype(out.dtype, np.integer) or out.dtype == bool:
        return out[:, 0].astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)
    finite = np.isfinite(out).all(axis=1)
    lab = np.full(len(out), -1, dtype=np.int64)
    if finite.any():
        with np.errstate(all="ignore"):
            lab[finite] = to_proba(out[finite]).argmax(axis=1)
    return lab


def _diff(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Largest absolute / relative difference, label flips and the worst sample of two passes."""
    n = len(a)
    if a.shape != b.shape:
        return {"n": n, "max_abs": float("1e300"), "max_rel": 1.0, "flips": n, "changed": n, "worst": 0,
                "shape": [list(a.shape), list(b.shape)]}
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    nan_a, nan_b = np.isnan(a64), np.isnan(b64)
    with np.errstate(all="ignore"):
        d = np.abs(a64 - b64)
    d = np.where(nan_a & nan_b, 0.0, d)
    d = np.where(nan_a ^ nan_b, np.inf, d)
    d = np.where(np.isinf(a64) & np.isinf(b64) & (a64 == b64), 0.0, d)
    per = d.max(axis=1) if d.shape[1] else np.zeros(n)
    mismatch = np.isinf(per)
    finite_per = np.where(mismatch, 0.0, per)
    max_abs = float(finite_per.max()) if n else 0.0
    scale = np.abs(a64[np.isfinite(a64)]).max() if np.isfinite(a64).any() else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else 1.0)
    if mismatch.any():
        max_rel = max(max_rel, 1.0)
    flips = int((_labels(a) != _labels(b)).sum()) if d.shape[1] else 0
    worst = int(np.argmax(np.where(mismatch, np.inf, per))) if n else 0
    return {"n": n, "max_abs": max_abs, "max_rel": float(max_rel), "flips": flips,
            "changed": int((per > 0).sum()), "worst": worst, "a": a, "b": b}


def _worst_evidence(d, rows, ref, ref_name, cmp_name) -> dict[str, Any]:
    if d.get("n", 0) == 0 or "a" not in d or d["changed"] == 0:
        return {}
    w = d["worst"]
    return {"worst_sample": {"row": int(rows[w]), ref_name: _round(d["a"][w]), cmp_name: _round(d["b"][w])}}


def _round(v) -> list:
    v = np.asarray(v, dtype=np.float64).reshape(-1)[:20]
    return [None if not np.isfinite(x) else float(f"{x:.7g}") for x in v]


def _type_name(mod) -> str:
    name = getattr(mod, "original_name", None)  # TorchScript RecursiveScriptModule
    return str(name) if name else type(mod).__name__


def _mode_dependent(mod, tname: str) -> str | None:
    if tname in _DROPOUT:
        p = getattr(mod, "p", None)
        return "dropout" if p is None or float(p) > 0 else None
    if tname in _BATCHNORM:
        return "batch normalization (batch statistics in training mode)"
    if tname in _INSTANCENORM:
        return "instance norm tracking running statistics" if getattr(mod, "track_running_stats", False) else None
    if tname in _OTHER:
        return "randomized or dropout-bearing layer"
    # any other module whose own forward reads self.training
    try:
        code = getattr(mod, "code", None) if hasattr(mod, "original_name") else None
        if code is None and not hasattr(mod, "original_name"):
            forward = type(mod).forward
            if getattr(forward, "__module__", "").startswith("torch.nn"):
                return None
            code = inspect.getsource(forward)
        if code and "self.training" in code:
            return "its forward reads self.training"
    except Exception:
        return None
    return None


def _import(entry: str, project_dir: Any):
    if ":" not in entry:
        raise ValueError(f"train_entry_point {entry!r} must be package.module:function")
    mod_name, attr = entry.split(":", 1)
    added = str(project_dir) if project_dir and str(project_dir) not in sys.path else None
    if added:
        sys.path.insert(0, added)
    try:
        obj = importlib.import_module(mod_name)
    finally:
        if added and added in sys.path:
            sys.path.remove(added)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _state(model) -> dict[str, np.ndarray]:
    if hasattr(model, "state_dict"):
        return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    if isinstance(model, dict):
        return {str(k): np.asarray(v) for k, v in model.items()}
    raise TypeError(f"the training function returned a {type(model).__name__}, not a torch module")
