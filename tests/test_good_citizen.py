"""riskaudit is a library: importing it or running a scan leaves the host process as found."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from riskaudit import _scope

PROBE = Path(__file__).parent / "probes" / "good_citizen.py"


def test_import_and_demo_scan_leave_the_process_as_found(tmp_path):
    proc = subprocess.run([sys.executable, str(PROBE), str(tmp_path / "demo")], capture_output=True,
                          text=True, timeout=600, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # the scan really ran every checker (none skipped or broken), so the snapshot means something
    assert set(result["statuses"]) >= {"pii", "data_validity", "licenses", "consistency", "fairness", "drift",
                                       "robustness"}
    assert not {"error", "skipped"} & set(result["statuses"].values()), result["statuses"]
    assert result["import"] == [], f"importing riskaudit changed: {result['import']}"
    assert result["scan"] == [], f"riskaudit.scan() on the demo changed: {result['scan']}"


def test_the_probe_sees_changes():
    sys.path.insert(0, str(PROBE.parent))
    try:
        import good_citizen as probe  # noqa: PLC0415
    finally:
        sys.path.remove(str(PROBE.parent))
    lg = logging.getLogger("riskaudit_probe_self_test")
    old = lg.level
    before = probe.snapshot()
    os.environ["RISKAUDIT_PROBE_SELF_TEST"] = "1"
    lg.setLevel(old + 7)
    try:
        after = probe.snapshot()
    finally:
        lg.setLevel(old)
        del os.environ["RISKAUDIT_PROBE_SELF_TEST"]
    found = probe.changes(before, after)
    assert any(c.startswith("environ") and "RISKAUDIT_PROBE_SELF_TEST" in c for c in found), found
    assert any(c.startswith("loggers") and "riskaudit_probe_self_test" in c for c in found), found


def test_scopes_restore_even_when_the_block_raises(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TQDM_DISABLE", "0")  # the user's own setting wins
    threads = torch.get_num_threads()
    np_state, py_state, t_state = np.random.get_state()[1].copy(), random.getstate(), torch.get_rng_state()
    lg = logging.getLogger("alibi_detect")
    level = lg.level

    class Holder:
        value = "mine"

    with pytest.raises(RuntimeError):
        with _scope.offline(), _scope.torch_threads(max(1, threads - 1) if threads > 1 else 2), \
                _scope.global_rngs(7), _scope.quiet(["alibi_detect"]), _scope.patched(Holder, "value", "ours"):
            assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TQDM_DISABLE"] == "0"
            assert Holder.value == "ours" and lg.level == logging.ERROR
            assert torch.get_num_threads() != threads
            a = np.random.random()  # noqa: NPY002
            raise RuntimeError("boom")
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["TQDM_DISABLE"] == "0"
    assert Holder.value == "mine" and lg.level == level and torch.get_num_threads() == threads
    assert np.array_equal(np.random.get_state()[1], np_state) and random.getstate() == py_state
    assert torch.equal(torch.get_rng_state(), t_state)
    with _scope.global_rngs(7):
        assert np.random.random() == a  # noqa: NPY002  (seeded inside: reproducible)


def test_one_copy_of_each_scoping_helper():
    """fork_rng, thread and quiet scoping live in riskaudit/_scope.py only. (testing.py is the
    conformance suite: it sets distinctive global states and captures output on purpose, to
    see what a checker changes or prints, and puts everything back.)"""
    root = Path(__file__).resolve().parents[1] / "riskaudit"
    offenders = []
    for path in root.rglob("*.py"):
        if path.name in ("_scope.py", "testing.py"):
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("fork_rng(", "set_num_threads(", "np.random.seed(", "random.seed(", "os.environ.setdefault(",
                       ".setLevel(", "redirect_stdout("):
            if needle in text:
                offenders.append(f"{path.relative_to(root)}: {needle}")
    assert offenders == []
