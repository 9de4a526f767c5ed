"""Benchmark: the licenses checker on this Python environment, beside pip-licenses.

    .venv/bin/pip install pip-licenses     # benchmark-only peer, never a dependency
    .venv/bin/python benchmarks/bench_licenses.py [--repeat 3]

Both tools run over the same installed distributions (the venv plus the system site
packages it sees), each in a fresh Python process so start-up and imports count, and
in-process (warm). "clear SPDX id" counts components whose license is a valid SPDX
expression with no LicenseRef: for riskaudit its normalized license; for pip-licenses
its reported ``License`` string as printed (it does not normalize), checked with the
same ``license-expression`` parser. Target: under 3 s for about 150 distributions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from importlib import metadata

OURS = r"""
import json, time
t = time.perf_counter()
from riskaudit.checks.licenses import LicensesChecker
from riskaudit.testing import run_check
r = run_check(LicensesChecker, options={"licenses": {"software": "environment"}})
rows = [x for x in r.metrics["components"] if x["type"] == "software"]
print(json.dumps({"seconds": time.perf_counter() - t, "licenses": [x["license"] for x in rows]}))
"""

PEER = r"""
import json, sys, time
t = time.perf_counter()
import piplicenses
args = piplicenses.create_parser().parse_args(["--with-system", "--from", "mixed"])
pkgs = list(piplicenses.get_packages(args))
print(json.dumps({"seconds": time.perf_counter() - t, "licenses": [p["license"] for p in pkgs]}))
"""


def clear_spdx(values) -> int:
    from license_expression import get_spdx_licensing

    lic = get_spdx_licensing()
    n = 0
    for v in values:
        if not v or "LicenseRef" in v:
            continue
        try:
            expr = lic.parse(v, validate=False)
        except Exception:  # noqa: BLE001 - anything unparsable is not a clear id
            continue
        if expr is not None and not lic.unknown_license_keys(expr):
            n += 1
    return n


def run_fresh(code: str) -> tuple[float, dict]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n_dists = len({(d.metadata.get("Name") or "").lower() for d in metadata.distributions()} - {""})
    rows = []
    for name, code in (("riskaudit licenses", OURS), ("pip-licenses 5.x", PEER)):
        walls, inner = [], []
        result = None
        for _ in range(args.repeat):
            wall, result = run_fresh(code)
            walls.append(wall)
            inner.append(result["seconds"])
        lic = result["licenses"]
        rows.append((name, len(lic), min(walls), min(inner), clear_spdx(lic)))
    print(f"distributions visible: {n_dists}; best of {args.repeat} fresh processes\n")
    print(f"{'tool':<20} {'components':>10} {'process s':>10} {'in-proc s':>10} {'clear SPDX':>11} {'share':>7}")
    for name, n, wall, inner, clear in rows:
        print(f"{name:<20} {n:>10} {wall:>10.2f} {inner:>10.2f} {clear:>11} {clear / max(n, 1):>7.1%}")
    ours = rows[0]
    print(f"\ntarget: riskaudit under 3 s for ~150 distributions -> "
          f"{'met' if ours[2] < 3 else 'NOT met'} ({ours[2]:.2f} s for {ours[1]})")


if __name__ == "__main__":
    main()
