"""End-to-end speed: whole CLI processes from a cold start, interleaved with their peers.

What a CI job pays: every figure is the wall time of a fresh ``riskaudit ...`` process
(interpreter start, imports, reading the files, the checks, writing the reports), the
median of ``--repeats`` runs, with its peak resident memory (``os.wait4``). The jobs of
one round run one after the other (riskaudit, then its peer, then the next job), and the
rounds repeat, so a peer and riskaudit see the same machine load. On a shared machine the
absolute seconds are noisy; the ratios of one run are the figures to compare.

Jobs (``--only`` picks some):

- ``startup``: ``riskaudit --help``, ``--version``, ``checks``, ``gate REPORT`` beside
  ``python -c pass`` (the interpreter's own floor); plus ``python -X importtime`` of
  ``import riskaudit`` (target: each command under 0.25 s).
- ``demo``: ``riskaudit demo`` with the trained demo model already cached (target < 8 s).
- ``scan``: ``riskaudit scan`` with every checker on generated tables of ``--rows`` rows x
  20 columns (16 numeric model inputs, sex, age band, region, label; reference of the same
  size, a TorchScript MLP). Targets: 100k rows < 6 s; 1M rows < 20 s and < 2 GB; the
  growth exponent (slope of log time over log rows) at most 1.
- ``drift``: ``riskaudit scan --check drift`` on bench_drift.py's 100k x 25 tables beside a
  Python process running Evidently's DataDriftPreset on the same files (Evidently from
  ``--peer-python``, a separate virtual environment: it is not a riskaudit dependency).
  riskaudit runs with ``multivariate_method: none`` (Evidently runs per-column tests only),
  and once more with the default multivariate test, labelled. Both must flag the same
  columns. Target: riskaudit <= 0.25 x Evidently.
- ``fairness``: ``riskaudit scan --check fairness`` on 1M rows (labels, two sensitive
  attributes, no model) beside a pandas process reading the same file and computing the
  same per-group counts. Target: <= 1.2 x pandas.

    python -m venv .peer-venv && .peer-venv/bin/pip install evidently 'pandas<2.3'
    .venv/bin/python benchmarks/bench_e2e.py [--rows 10000,100000,1000000] [--repeats 3]
        [--only startup,demo,scan,drift,fairness] [--peer-python .peer-venv/bin/python]

Inputs and reports go to ``benchmarks/out/e2e`` (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

TIME = shutil.which("time", path="/usr/bin:/bin") or "/usr/bin/time"  # GNU time (apt: time)
N_NUMERIC = 16
FEATURES = [f"f{i:02d}" for i in range(N_NUMERIC)]


# ----------------------------------------------------------------------------- running

def _user_env() -> dict[str, str]:
    """The environment of a user's install: Python's bytecode cache on (pip compiles it for
    installed packages, and an editable install writes it on first import). A shell that
    sets PYTHONDONTWRITEBYTECODE would make every riskaudit process compile its own
    modules again (about 0.1 s) while the peers' installed packages keep their cache."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_process(cmd: list[str], *, cwd: Path | None = None, env: dict | None = None) -> dict:
    """Exit code and output of one child process (setup steps, not timed)."""
    proc = subprocess.run(cmd, cwd=cwd, env={**_user_env(), **(env or {})}, capture_output=True, text=True)
    return {"code": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}


def run_measured(cmd: list[str], *, cwd: Path | None = None, env: dict | None = None) -> dict:
    """Wall seconds, CPU seconds (user + system, the process and its children: on a shared
    machine a steadier figure than wall time), exit code and the child's own peak RSS (MB, GNU
    time's %M: read after exec, so the forked copy of this benchmark's memory is not counted)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        t0 = time.perf_counter()
        proc = subprocess.run([TIME, "-f", "%M %U %S", "-o", rss_file.name, *cmd], cwd=cwd,
                              env={**_user_env(), **(env or {})}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        lines = [ln.split() for ln in Path(rss_file.name).read_text().splitlines()
                 if len(ln.split()) == 3 and ln.split()[0].isdigit()]
    return {"seconds": wall, "code": proc.returncode, "rss_mb": int(lines[-1][0]) / 1024 if lines else float("nan"),
            "cpu": float(lines[-1][1]) + float(lines[-1][2]) if lines else float("nan"),
            "stderr": proc.stderr.decode(errors="replace")}


def riskaudit_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "riskaudit", *args]


# ----------------------------------------------------------------------------- workloads

def scan_tables(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def table(n: int, shift: float) -> pd.DataFrame:
        x = rng.normal(0, 1, (n, N_NUMERIC))
        x[:, 1] = np.round(np.exp(x[:, 1] * 0.4 + 10), 2)  # income-like
        x[:, 2] = np.clip(np.round(40 + 12 * x[:, 2]), 18, 90)  # age-like integers
        x[:, 3] += shift
        sex = rng.choice(["female", "male"], n)
        band = np.select([x[:, 2] <= 25, x[:, 2] <= 40, x[:, 2] <= 65], ["18-25", "26-40", "41-65"], "65+")
        region = rng.choice(["north", "south", "east", "west", "centre"], n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
        score = (0.8 * x[:, 0] + 0.5 * np.log(x[:, 1] / 22000) - 0.4 * x[:, 3] + 0.3 * x[:, 4]
                 - 0.5 * (band == "18-25") + rng.normal(0, 0.8, n))
        frame = pd.DataFrame(x, columns=FEATURES)
        frame["sex"], frame["age_band"], frame["region"] = sex, band, region
        frame["label"] = np.where(score > 0, "approved", "denied")
        return frame

    return table(rows, 0.0), table(rows, 0.15)


def train_model(ref: pd.DataFrame, path: Path) -> None:
    import torch
    from torch import nn

    x = torch.tensor(ref[FEATURES].to_numpy(np.float32)[:20000])
    y = torch.tensor((ref["label"].to_numpy()[:20000] == "denied").astype(np.int64))
    mean, std = x.mean(0), x.std(0)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.net = nn.Sequential(nn.Linear(N_NUMERIC, 32), nn.ReLU(), nn.Linear(32, 2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net((x - self.mean) / self.std)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MLP()
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        for _ in range(150):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    torch.jit.save(torch.jit.script(model), str(path))


def write_scan_workload(folder: Path, rows: int, model_from: Path | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    project = folder / "riskaudit.yaml"
    if project.exists():
        return project
    ref, cur = scan_tables(rows, seed=rows)
    ref.to_parquet(folder / "reference.parquet", index=False)
    cur.to_parquet(folder / "data.parquet", index=False)
    if model_from is not None and model_from.exists():
        shutil.copyfile(model_from, folder / "model.pt")
    else:
        train_model(ref, folder / "model.pt")
    project.write_text(
        "model: model.pt\ndata: data.parquet\nreference: reference.parquet\ntarget: label\n"
        f"features: [{', '.join(FEATURES)}]\nsensitive: [sex, age_band]\n"
        "classes: [approved, denied]\ntask: classification\npolicy: default\n"
        "licenses: {data: CC-BY-4.0, model: Apache-2.0}\n", encoding="utf-8")
    return project


def write_drift_workload(folder: Path, rows: int) -> None:
    from bench_drift import make_data

    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "riskaudit.yaml").exists():
        return
    ref, cur = make_data(rows)
    ref.to_parquet(folder / "reference.parquet", index=False)
    cur.to_parquet(folder / "current.parquet", index=False)
    for name, method in (("riskaudit.yaml", "none"), ("riskaudit-mv.yaml", "auto")):
        (folder / name).write_text(
            "data: current.parquet\nreference: reference.parquet\npolicy: default\n"
            f"options:\n  drift: {{multivariate_method: {method}}}\n", encoding="utf-8")
    (folder / "evidently_job.py").write_text(EVIDENTLY_JOB, encoding="utf-8")


EVIDENTLY_JOB = '''\
import json, sys
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet("reference.parquet")
cur = pd.read_parquet("current.parquet")
snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
flagged = []
for m in snap.dict().get("metrics", []):
    name = str(m.get("metric_name", ""))
    if name.startswith("ValueDrift("):
        col = name.split("column=")[1].split(",")[0].rstrip(")")
        thr = float(name.split("threshold=")[1].split(")")[0]) if "threshold=" in name else None
        val = m.get("value")
        method = name.split("method=")[1].split(",")[0] if "method=" in name else ""
        is_p = "p_value" in method or "test" in method.lower() or "chi" in method.lower()
        if thr is not None and val is not None and ((val < thr) if is_p else (val >= thr)):
            flagged.append(col)
json.dump(sorted(flagged), open("evidently_flagged.json", "w"))
'''

PANDAS_FAIRNESS_JOB = '''\
import json, sys
import pandas as pd
df = pd.read_csv(sys.argv[1])
pos = (df["y"] == 1)
ind = pd.DataFrame({"a": df["a"], "b": df["b"], "n": 1, "positive": pos.astype("int64")})
out = {}
for key in (["a"], ["b"], ["a", "b"]):
    g = ind.groupby(key)[["n", "positive"]].sum()
    out["x".join(key)] = {"x".join(map(str, k if isinstance(k, tuple) else (k,))): [int(r.n), int(r.positive)]
                          for k, r in g.iterrows()}
json.dump(out, open(sys.argv[2], "w"))
'''


def write_fairness_workload(folder: Path, rows: int) -> Path:
    from bench_fairness import make_data

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "groups.csv"
    if not path.exists():
        make_data(rows)[["a", "b", "y"]].to_csv(path, index=False)
        (folder / "pandas_job.py").write_text(PANDAS_FAIRNESS_JOB, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- report helpers

def median(xs):
    return statistics.median(xs) if xs else float("nan")


def drift_flagged(report_json: Path) -> list[str]:
    body = json.loads(report_json.read_text())
    check = next(c for c in body["checks"] if c["id"] == "drift")
    return sorted(f["subject"] for f in check["findings"]
                  if f["id"] == "drift.data_drift" and f["status"] != "pass")


def check_durations(report_json: Path) -> dict[str, float]:
    body = json.loads(report_json.read_text())
    return {c["id"]: round(c["duration_s"], 2) for c in body["checks"] if c["status"] != "skipped"}


def importtime_ms() -> float:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import riskaudit.cli"],
                          capture_output=True, text=True)
    for line in proc.stderr.splitlines():
        if line.rstrip().endswith("| riskaudit.cli"):
            return int(line.split("|")[1]) / 1000
    return float("nan")


# ----------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="10000,100000", help="scan sizes, comma-separated (add 1000000)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="startup,demo,scan,drift,fairness")
    ap.add_argument("--peer-python", default=str(ROOT / ".peer-venv/bin/python"))
    ap.add_argument("--out", default=str(HERE / "out/e2e"))
    args = ap.parse_args()
    only = set(args.only.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {"RISKAUDIT_LEDGER": str(out / "ledger.sqlite3")}
    sizes = [int(s) for s in args.rows.split(",") if s]

    # -------- setup (not timed)
    jobs: list[tuple[str, list[str], Path | None]] = []  # (name, command, cwd)
    scan_dirs = {}
    if "scan" in only or "startup" in only:
        model = None
        for n in sizes if "scan" in only else sizes[:1]:
            d = out / f"scan-{n}"
            write_scan_workload(d, n, model)
            model = d / "model.pt"
            scan_dirs[n] = d
    if "startup" in only:
        first = scan_dirs[sizes[0]]
        proc = run_process(riskaudit_cmd("scan", str(first / "riskaudit.yaml"), "--out", str(first / "report"),
                                         "-q", "--check", "data_validity"), env=env)
        gate_report = first / "report" / "report.json"
        jobs += [("python -c pass (floor)", [sys.executable, "-c", "pass"], None),
                 ("riskaudit --help", riskaudit_cmd("--help"), None),
                 ("riskaudit --version", riskaudit_cmd("--version"), None),
                 ("riskaudit checks", riskaudit_cmd("checks"), None),
                 ("riskaudit gate REPORT", riskaudit_cmd("gate", str(gate_report), "--model",
                                                         str(first / "model.pt")), None)]
    if "demo" in only:
        run_process(riskaudit_cmd("demo", "--out", str(out / "demo"), "-q"), env=env)  # warms the model cache
        jobs.append(("riskaudit demo (model cached)", riskaudit_cmd("demo", "--out", str(out / "demo"), "-q"), None))
    if "scan" in only:
        for n, d in scan_dirs.items():
            jobs.append((f"riskaudit scan, all checkers, {n:,} x 20",
                         riskaudit_cmd("scan", "riskaudit.yaml", "--out", "report", "-q"), d))
    drift_dir = out / "drift-100000"
    peer = Path(args.peer_python)
    if "drift" in only:
        write_drift_workload(drift_dir, 100_000)
        if peer.exists():
            jobs.append(("evidently DataDriftPreset (peer)", [str(peer), "evidently_job.py"], drift_dir))
        else:
            print(f"drift peer not run: {peer} does not exist (see the docstring)")
        jobs.append(("riskaudit drift, per-feature (100k x 25)",
                     riskaudit_cmd("scan", "riskaudit.yaml", "--check", "drift", "--out", "report", "-q"), drift_dir))
        jobs.append(("riskaudit drift + multivariate test",
                     riskaudit_cmd("scan", "riskaudit-mv.yaml", "--check", "drift", "--out", "report-mv", "-q"),
                     drift_dir))
    fair_dir = out / "fairness-1000000"
    if "fairness" in only:
        path = write_fairness_workload(fair_dir, 1_000_000)
        jobs.append(("pandas groupby counts (peer)", [sys.executable, "pandas_job.py", str(path), "pandas_counts.json"],
                     fair_dir))
        jobs.append(("riskaudit fairness (1M rows, labels)",
                     riskaudit_cmd("scan", "--data", str(path), "--target", "y", "--sensitive", "a",
                                   "--sensitive", "b", "--check", "fairness", "--out", "report", "-q",
                                   "--format", "json"), fair_dir))

    # -------- timed rounds, interleaved
    times: dict[str, list[float]] = {name: [] for name, _, _ in jobs}
    rss: dict[str, float] = {name: 0.0 for name, _, _ in jobs}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in jobs}
    codes: dict[str, int] = {}
    for r in range(args.repeats):
        for name, cmd, cwd in jobs:
            res = run_measured(cmd, cwd=cwd, env=env)
            if res["code"] not in (0, 1):
                print(f"!! {name} exited {res['code']}: {res['stderr'][-800:]}")
            times[name].append(res["seconds"])
            cpu[name].append(res["cpu"])
            rss[name] = max(rss[name], res["rss_mb"])
            codes[name] = res["code"]
        print(f"round {r + 1}/{args.repeats} done", file=sys.stderr)

    # -------- report
    load = os.getloadavg()
    print(f"\nwhole processes, cold, median of {args.repeats} (interleaved); cores: {os.cpu_count()}, "
          f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (a shared machine: "
          "absolute seconds are noisy, compare the ratios)")
    print(f"{'job':48s} {'median s':>9s} {'min s':>7s} {'CPU s':>6s} {'peak MB':>8s} {'exit':>5s}")
    for name, _, _ in jobs:
        print(f"{name:48s} {median(times[name]):9.2f} {min(times[name]):7.2f} {median(cpu[name]):6.2f} "
              f"{rss[name]:8.0f} {codes[name]:5d}")
    print()
    if "startup" in only:
        print(f"python -X importtime: import riskaudit.cli takes {importtime_ms():.0f} ms cumulative "
              "(target for each command: < 250 ms)")
    if "scan" in only:
        for n, d in scan_dirs.items():
            rep = d / "report" / "report.json"
            if rep.exists():
                print(f"inner step (checker durations in report.json), {n:,} rows: {check_durations(rep)}")
        if len(scan_dirs) >= 2:
            ns = sorted(scan_dirs)
            ts = [median(times[f"riskaudit scan, all checkers, {n:,} x 20"]) for n in ns]
            slope = np.polyfit(np.log(ns), np.log(ts), 1)[0]
            print(f"growth exponent (slope of log time on log rows, {ns[0]:,}..{ns[-1]:,}): {slope:.2f} "
                  "(linear or better: <= 1)")
            for a, b, ta, tb in zip(ns, ns[1:], ts, ts[1:]):
                print(f"  {a:,} -> {b:,}: exponent {math.log(tb / ta) / math.log(b / a):.2f}")
    if "drift" in only and peer.exists():
        ev = median(times["evidently DataDriftPreset (peer)"])
        ra = median(times["riskaudit drift, per-feature (100k x 25)"])
        mv = median(times["riskaudit drift + multivariate test"])
        ours = drift_flagged(drift_dir / "report" / "report.json")
        theirs = json.loads((drift_dir / "evidently_flagged.json").read_text())
        from bench_drift import SHIFTED

        print(f"drift: riskaudit / Evidently = {ra / ev:.2f} (target <= 0.25); with the multivariate "
              f"test {mv / ev:.2f}")
        print(f"  flagged columns: riskaudit {ours}, Evidently {theirs} "
              f"({'the same' if ours == theirs else 'different'}); shifted on purpose: {sorted(SHIFTED)}")
    if "fairness" in only:
        pdt = median(times["pandas groupby counts (peer)"])
        ft = median(times["riskaudit fairness (1M rows, labels)"])
        print(f"fairness: riskaudit / pandas = {ft / pdt:.2f} (target <= 1.2); CPU time "
              f"{median(cpu['riskaudit fairness (1M rows, labels)']) / median(cpu['pandas groupby counts (peer)']):.2f}")
        print(f"inner step (checker durations in report.json): {check_durations(fair_dir / 'report' / 'report.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
