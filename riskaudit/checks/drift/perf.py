"""Operational figures of the model (model drift): latency, throughput, error rate.

``metrics["model_performance"]`` of the drift check has this shape (version 1), so a later
scan given this report as ``--baseline`` compares like with like::

    {
      "version": 1,
      "device": "cpu",
      "model_sha256": "..." | null,
      "latency_s": {"<batch size>": {"p50": s, "p95": s, "p99": s, "batches": n, "rows": r}, ...},
      (seconds per batch as timed by Model.forward around the model call; "rows" is the
      batch size actually used, smaller when the data has fewer rows)
      "throughput_per_s": samples per second at the largest measured batch size,
      "exception_rate": batches that raised / batches run (whole scan so far),
      "nonfinite_rate": non-finite output values / output values (whole scan so far),
      "error_rate": exception_rate + nonfinite_rate
    }
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from riskaudit._lazy import lazy_module
if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

VERSION = 1


def measure(model, x: Any, batch_sizes: Sequence[int], repeats: int, seed: int) -> dict[str, Any]:
    """Time ``repeats`` batches of every size on the first rows of ``x``.

    Exceptions raised by the model are counted, not propagated.
    """
    n = len(x)
    latency: dict[str, Any] = {}
    thr_size, throughput = None, None
    outputs, nonfinite0 = 0, model.nonfinite
    for bs in sorted({int(b) for b in batch_sizes if int(b) > 0}):
        bs_eff = min(bs, n)
        chunk = x[:bs_eff] if not hasattr(x, "iloc") else x.iloc[:bs_eff]
        times = []
        for _ in range(repeats):
            start = len(model.latencies)
            t0 = time.perf_counter()
            try:
                out = model.forward(chunk, batch_size=bs_eff, seed=seed, record=True)
                outputs += int(np.size(out))
            except Exception:  # counted in model.errors by Model.forward
                pass
            # the model's own per-batch timing (excludes RNG forking and copies around it)
            own = [sec for _, sec in model.latencies[start:]]
            times.append(float(sum(own)) if own else time.perf_counter() - t0)
        t = np.asarray(times)
        latency[str(bs)] = {"p50": float(np.percentile(t, 50)), "p95": float(np.percentile(t, 95)),
                            "p99": float(np.percentile(t, 99)), "batches": len(t), "rows": bs_eff}
        thr_size = bs
        throughput = bs_eff * len(t) / float(t.sum()) if t.sum() > 0 else None
    batches = max(len(model.latencies), 1)
    total_values = max(outputs, 1)
    exc = model.errors / batches
    nonfin = (model.nonfinite - nonfinite0) / total_values if outputs else 0.0
    return {"version": VERSION, "device": getattr(model, "device", "cpu"),
            "model_sha256": getattr(model, "sha256", None), "latency_s": latency,
            "throughput_per_s": throughput, "throughput_batch_size": thr_size,
            "exception_rate": float(exc), "nonfinite_rate": float(nonfin),
            "error_rate": float(exc + nonfin)}


def baseline_figures(baseline: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``metrics.model_performance`` of the drift check in an earlier report.json."""
    if not isinstance(baseline, Mapping):
        return None
    for check in baseline.get("checks") or []:
        if isinstance(check, Mapping) and check.get("id") == "drift":
            perf = (check.get("metrics") or {}).get("model_performance")
            if isinstance(perf, Mapping) and isinstance(perf.get("latency_s"), Mapping):
                return dict(perf)
    return None


def comparisons(cur: Mapping[str, Any], base: Mapping[str, Any], floor_s: float = 0.0) -> list[dict[str, Any]]:
    """Relative degradations (positive = worse) of the figures both reports hold: latency
    current / baseline - 1, throughput baseline / current - 1 (both: how much longer the
    same work takes, so 1.0 means twice as slow).

    A difference in batch time smaller than ``floor_s`` seconds is timer and scheduler noise
    (a 0.1 ms batch that takes 0.3 ms is "200% slower") and counts as no change.
    """
    rows = []
    for bs, figs in (cur.get("latency_s") or {}).items():
        old = (base.get("latency_s") or {}).get(bs)
        if not isinstance(old, Mapping):
            continue
        for q in ("p50", "p95", "p99"):
            a, b = figs.get(q), old.get(q)
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0:
                change = a / b - 1.0 if abs(a - b) >= floor_s else 0.0
                rows.append({"figure": f"latency {q} @ batch {bs}", "baseline": b, "current": a,
                             "change": change, "unit": "s"})
    a, b = cur.get("throughput_per_s"), base.get("throughput_per_s")
    bs = cur.get("throughput_batch_size")
    # compared only at the same, known batch size (a baseline report is untrusted input: its
    # batch size may be missing, null or text)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > 0 and b > 0 \
            and isinstance(bs, int) and not isinstance(bs, bool) and bs > 0 and bs == base.get("throughput_batch_size"):
        noise = abs(bs / a - bs / b) < floor_s  # per-batch time difference
        rows.append({"figure": f"throughput @ batch {bs}", "baseline": b, "current": a,
                     "change": 0.0 if noise else b / a - 1.0, "unit": "samples/s"})
    return rows
