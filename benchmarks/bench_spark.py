"""Benchmark of the Spark engine beside the pandas engine: whole `riskaudit scan` processes.

    .venv/bin/python benchmarks/bench_spark.py --sizes 1000000 10000000 --pandas-max 1000000

For each size, Parquet is generated on disk in chunks of ``--chunk`` rows (never the whole
table in memory): ``N`` rows x 30 columns (24 numeric features, 2 integer features, ``sex``,
``age_band``, ``region``, ``label``) as a folder of part files (the Spark engine's input) and,
up to ``--pandas-max`` rows, the same rows as one Parquet file (the pandas engine's input);
a reference of ``N // 10`` rows drawn with shifted incomes. The model is a small MLP (26 -> 32
-> 2, seeded, TorchScript). Each scan runs data_validity, fairness (sensitive ``sex`` and
``age_band``) and drift in its own process: ``riskaudit scan --engine spark`` in ``local[2]``
and ``riskaudit scan`` (pandas). Reported: wall time of the whole process, peak resident
memory of the Python driver and of its whole process tree (Spark: the driver JVM and the
Python workers, sampled every 0.5 s from /proc), the exit code,
and the growth exponent of time in rows (log-log slope between consecutive sizes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

N_FLOAT, N_INT = 24, 2
FEATURES = [f"f{i}" for i in range(N_FLOAT)] + [f"n{i}" for i in range(N_INT)]


def chunk_table(n: int, seed: int, shift: float) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for i in range(N_FLOAT):
        cols[f"f{i}"] = np.round(rng.normal(shift if i == 0 else 0.0, 1.0 + i / 24, n), 4)
    for i in range(N_INT):
        cols[f"n{i}"] = rng.integers(0, 50, n)
    cols["sex"] = np.array(["female", "male"])[rng.integers(0, 2, n)]
    cols["age_band"] = np.array(["18-25", "26-40", "41-60", "60+"])[rng.integers(0, 4, n)]
    cols["region"] = np.array([f"region {k}" for k in range(12)])[rng.integers(0, 12, n)]
    logit = cols["f1"] - 0.5 * cols["f2"] + 0.3 * (cols["sex"] == "male")  # type: ignore[operator]
    cols["label"] = np.where(logit + rng.normal(0, 1, n) > 0, "yes", "no")
    return pa.table(cols)


def write(folder: Path, n: int, seed: int, chunk: int, shift: float, single: Path | None) -> None:
    done = folder / ".complete"  # written last: a --work folder of an earlier run is reused
    if done.exists() and done.read_text() == f"{n} {seed} {chunk} {shift}" and (single is None or single.exists()):
        return
    folder.mkdir(parents=True, exist_ok=True)
    writer = None
    for i, start in enumerate(range(0, n, chunk)):
        t = chunk_table(min(chunk, n - start), seed * 100_003 + i, shift)
        pq.write_table(t, folder / f"part-{i:05d}.parquet")
        if single is not None:
            writer = writer or pq.ParquetWriter(single, t.schema)
            writer.write_table(t)
    if writer is not None:
        writer.close()
    done.write_text(f"{n} {seed} {chunk} {shift}")


def make_model(path: Path) -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(len(FEATURES), 32), nn.ReLU(), nn.Linear(32, 2), nn.Softmax(dim=1)).eval()
    torch.jit.script(net).save(str(path))


DRIVER_PEAK = r"""
import resource, runpy, sys, atexit, json, os
def report():
    with open(os.environ["BENCH_PEAK"], "w") as fh:
        json.dump({"driver_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}, fh)
atexit.register(report)
sys.argv = ["riskaudit"] + sys.argv[1:]
from riskaudit.cli import main
main(sys.argv[1:])
"""


def tree_rss(root: int) -> int:
    """Bytes resident in ``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(d))
        rss[int(d)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def scan(engine: str, data: Path, ref: Path, model: Path, out: Path, work: Path, mem_limit_mb: int) -> dict:
    peak = work / f"peak-{engine}-{data.name}.json"
    cmd = [sys.executable, "-c", DRIVER_PEAK, "scan", "--engine", engine, "--data", str(data),
           "--reference", str(ref), "--model", str(model), "--target", "label", "--sensitive", "sex",
           "--sensitive", "age_band", "--features", ",".join(FEATURES),
           "--check", "data_validity", "--check", "fairness", "--check", "drift",
           "--format", "json", "--out", str(out), "-q", "--ledger", str(work / "ledger.sqlite3")]
    env = {**os.environ, "BENCH_PEAK": str(peak)}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True, env=env,
                                start_new_session=True)
        tree_peak, killed = 0, False
        while proc.poll() is None:  # the process tree's resident memory (driver + JVM + workers)
            tree_peak = max(tree_peak, tree_rss(proc.pid))
            if tree_peak > mem_limit_mb * 2**20 and not killed:  # a shared machine: stop before it swaps
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
            time.sleep(0.5)
        err.seek(0)
        stderr = err.read()
    wall = time.perf_counter() - t0
    row = {"engine": engine, "code": proc.returncode, "wall_s": round(wall, 1)}
    if killed:
        row["error"] = f"stopped: the process tree passed --mem-limit-mb {mem_limit_mb} MiB"
    if peak.exists():
        row["driver_peak_mb"] = round(json.loads(peak.read_text())["driver_mb"])
    row["tree_peak_mb"] = round(tree_peak / 2**20)
    if proc.returncode not in (0, 1) and not killed:
        row["error"] = stderr[-400:]
    report = out / "report.json"
    if report.exists():
        body = json.loads(report.read_text())
        row["statuses"] = {c["id"]: c["status"] for c in body["checks"] if c["status"] != "skipped"}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--pandas-max", type=int, default=1_000_000, help="largest size the pandas engine is run at")
    ap.add_argument("--chunk", type=int, default=500_000)
    ap.add_argument("--engines", nargs="+", default=["spark", "pandas"], choices=["spark", "pandas"])
    ap.add_argument("--mem-limit-mb", type=int, default=14_000,
                    help="stop a scan whose process tree holds more (reported as out of memory)")
    ap.add_argument("--work", default=None, help="folder for the data (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-spark-"))
    work.mkdir(parents=True, exist_ok=True)
    model = work / "mlp.pt"
    make_model(model)
    rows = []
    for n in args.sizes:
        t0 = time.perf_counter()
        folder, single = work / f"cur-{n}", work / f"cur-{n}.parquet"
        ref = work / f"ref-{n}"
        write(folder, n, 1, args.chunk, 0.0, single if n <= args.pandas_max else None)
        write(ref, max(n // 10, 1000), 2, args.chunk, 0.3, work / f"ref-{n}.parquet" if n <= args.pandas_max else None)
        gen = time.perf_counter() - t0
        print(f"# {n:,} rows x 30 columns written in {gen:.0f} s "
              f"({sum(f.stat().st_size for f in folder.iterdir()) / 2**20:.0f} MiB Parquet)", flush=True)
        if "spark" in args.engines:
            r = scan("spark", folder, ref, model, work / f"out-spark-{n}", work, args.mem_limit_mb)
            rows.append({"rows": n, **r})
            print(json.dumps(rows[-1]), flush=True)
        if n <= args.pandas_max and "pandas" in args.engines:
            r = scan("pandas", single, work / f"ref-{n}.parquet", model, work / f"out-pandas-{n}", work,
                     args.mem_limit_mb)
            rows.append({"rows": n, **r})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| rows | engine | exit | wall s | Python driver peak MiB | process tree peak MiB | growth exponent |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    last: dict[str, tuple[int, float]] = {}
    for r in rows:
        prev = last.get(r["engine"])
        expo = (f"{math.log(r['wall_s'] / prev[1]) / math.log(r['rows'] / prev[0]):.2f}"
                if prev and r["code"] in (0, 1) else "")
        if r["code"] in (0, 1):
            last[r["engine"]] = (r["rows"], r["wall_s"])
        print(f"| {r['rows']:,} | {r['engine']} | {r['code']} | {r['wall_s']} | {r.get('driver_peak_mb', '')} | "
              f"{r.get('tree_peak_mb', '')} | {expo} |")


if __name__ == "__main__":
    main()
