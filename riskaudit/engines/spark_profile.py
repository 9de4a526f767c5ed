"""``RISKAUDIT_SPARK_PROFILE=1``: where a Spark-engine scan spends its time, on stderr.

With the switch set, a local session that riskaudit starts writes Spark's own event log (the
listener bus's record of every job, stage and task) to a temporary folder, and at exit one
line per Spark job is printed: when it started, its wall time, its tasks' run and garbage
collection time, the rows its tasks read from files and wrote to a shuffle, and the line of
riskaudit that started it. The engine's own phases (:func:`phase`: the load's count, driver
sample and fingerprint, the files' SHA-256) print their wall time as they end. Nothing is
recorded without the switch; a session from the environment (a notebook, ``spark-submit``)
keeps its own event log settings, so only the phases are printed there.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ENV = "RISKAUDIT_SPARK_PROFILE"
_T0 = time.perf_counter()


def enabled() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Print ``name``'s wall time on stderr when profiling (else nothing)."""
    if not enabled():
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        print(f"[spark profile] {time.perf_counter() - _T0:7.1f}s  phase {name}: "
              f"{time.perf_counter() - t0:.2f}s", file=sys.stderr, flush=True)


def configure(builder: Any) -> Any:
    """The session builder with Spark's event log on (a new temporary folder) and a summary
    of it registered for exit, when profiling."""
    if not enabled():
        return builder
    folder = Path(tempfile.mkdtemp(prefix="riskaudit-spark-events-"))
    atexit.register(summarize, folder)
    return builder.config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", folder.as_uri())


def summarize(folder: Path, out: Any = None) -> None:
    """One line per job of the event log(s) in ``folder``, then the totals."""
    out = out or sys.stderr
    for log in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        for line in job_lines(log):
            print(f"[spark profile] {line}", file=out, flush=True)


def job_lines(log: Path) -> list[str]:
    jobs: dict[int, dict] = {}
    stages: dict[int, dict[str, float]] = {}
    start = None
    with open(log, encoding="utf-8") as fh:
        for raw in fh:
            try:
                e = json.loads(raw)
            except ValueError:  # the last line of a log still being written
                continue
            kind = e.get("Event")
            if kind == "SparkListenerApplicationStart":
                start = e.get("Timestamp")
            elif kind == "SparkListenerJobStart":
                props = e.get("Properties") or {}
                jobs[e["Job ID"]] = {"start": e["Submission Time"], "site": props.get("callSite.short", ""),
                                     "stages": [s["Stage ID"] for s in e.get("Stage Infos", [])]}
            elif kind == "SparkListenerJobEnd" and e["Job ID"] in jobs:
                jobs[e["Job ID"]]["end"] = e["Completion Time"]
            elif kind == "SparkListenerTaskEnd":
                m = e.get("Task Metrics") or {}
                s = stages.setdefault(e["Stage ID"], {"tasks": 0, "run": 0, "gc": 0, "read": 0, "shuffled": 0})
                s["tasks"] += 1
                s["run"] += m.get("Executor Run Time", 0)
                s["gc"] += m.get("JVM GC Time", 0)
                s["read"] += (m.get("Input Metrics") or {}).get("Records Read", 0)
                s["shuffled"] += (m.get("Shuffle Write Metrics") or {}).get("Shuffle Records Written", 0)
    lines, total = [], 0.0
    for j, job in sorted(jobs.items()):
        wall = (job.get("end", job["start"]) - job["start"]) / 1000
        total += wall
        agg = {k: sum(stages.get(s, {}).get(k, 0) for s in job["stages"]) for k in ("tasks", "run", "gc", "read", "shuffled")}
        at = (job["start"] - (start or job["start"])) / 1000
        lines.append(f"job {j:3d} at {at:7.1f}s wall {wall:7.2f}s  tasks {agg['tasks']:4d} run {agg['run'] / 1000:7.1f}s "
                     f"gc {agg['gc'] / 1000:5.1f}s  rows read {agg['read']:>12,} shuffled {agg['shuffled']:>12,}  "
                     f"{job['site']}")
    lines.append(f"{len(jobs)} Spark jobs, {total:.1f}s of job wall time")
    return lines
