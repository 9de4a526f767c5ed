"""Run in a fresh interpreter: does importing riskaudit, then a full scan of the demo,
leave the process as it found it? Prints one JSON object: what changed, per stage.

The libraries riskaudit uses are imported first, so that their own import-time effects
(loggers they create, their defaults) are not blamed on riskaudit.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import torch  # noqa: F401  (imported before the snapshot, see above)

for name in ("pandas", "sklearn", "scipy", "great_expectations", "great_expectations.execution_engine."
             "pandas_execution_engine", "tldextract.tldextract", "presidio_analyzer", "spacy", "fairlearn",
             "alibi_detect", "art", "jinja2"):
    __import__(name)

import tldextract.tldextract as tld  # noqa: E402
from great_expectations.execution_engine import pandas_execution_engine as gx_engine  # noqa: E402


def snapshot() -> dict:
    loggers = {"": logging.getLogger().level}
    for name, lg in logging.Logger.manager.loggerDict.items():
        if isinstance(lg, logging.Logger):
            loggers[name] = (lg.level, lg.propagate, len(lg.handlers), lg.disabled)
    return {
        "environ": dict(os.environ),
        "loggers": loggers,
        "root_handlers": [id(h) for h in logging.getLogger().handlers],
        "logging_disable": logging.root.manager.disable,
        "warnings_filters": [repr(f) for f in warnings.filters],
        "stdout": id(sys.stdout), "stderr": id(sys.stderr),
        "random": repr(random.getstate()),
        "numpy_random": repr(np.random.get_state()),
        "torch_random": torch.get_rng_state().tolist(),
        "torch_threads": torch.get_num_threads(),
        "torch_grad_enabled": torch.is_grad_enabled(),
        "gx_HASH_THRESHOLD": gx_engine.HASH_THRESHOLD,
        "tldextract_TLD_EXTRACTOR": id(tld.TLD_EXTRACTOR),
        "cwd": os.getcwd(),
    }


def changes(before: dict, after: dict) -> list[str]:
    out = []
    for key in before:
        a, b = before[key], after[key]
        if a == b:
            continue
        if isinstance(a, dict):  # only what existed before may not change
            diff = sorted({k for k in set(a) | set(b) if a.get(k) != b.get(k) and (k in a or key == "environ")})
            if diff:
                out.append(f"{key}: {diff[:10]}")
        else:
            out.append(key)
    return out


def main(folder: str) -> None:
    torch.manual_seed(1234)
    np.random.seed(1234)  # noqa: NPY002  (a user's own global seeding: riskaudit must keep it)
    random.seed(1234)
    start = snapshot()
    import riskaudit

    after_import = snapshot()
    from riskaudit.demo import prepare_demo
    from riskaudit.project import load_project

    values = load_project(prepare_demo(Path(folder))).values
    keys = ("model", "data", "reference", "target", "features", "sensitive", "ids", "classes", "task",
            "policy", "options", "eval_mode")
    report = riskaudit.scan(**{k: values[k] for k in keys if k in values}, seed=0)
    after_scan = snapshot()
    print(json.dumps({
        "statuses": {c.id: c.status.value for c in report.checks},
        "import": changes(start, after_import),
        "scan": changes(after_import, after_scan),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
