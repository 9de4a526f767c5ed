"""Hostile runtime: models that hang or end the program, endless inputs, bad files.

Every scan must end, with a report, and turn what user code does into that checker's error.
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
import threading
import time
import xml.etree.ElementTree as ET

import jsonschema
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from helpers import assert_usage_error, run_cli
from riskaudit.budget import BudgetExceeded, time_limit
from riskaudit.checks.base import CheckContext, CheckOutput, Checker
from riskaudit.policy import load_policy
from riskaudit.errors import PolicyError
from riskaudit.reports.json_report import load_schema
from riskaudit.result import Status
from riskaudit.scan import run_checker

HOSTILE_MODELS = textwrap.dedent('''
    import sys
    import time

    import torch


    class _Base(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)


    class Sleeps(_Base):
        def forward(self, x):
            time.sleep(10_000)
            return self.lin(x)


    class SleepsMarked(_Base):
        def forward(self, x):
            open("forward-started", "w").close()
            time.sleep(10_000)
            return self.lin(x)


    class Spins(_Base):
        """Busy Python loop that swallows ordinary exceptions."""
        def forward(self, x):
            while True:
                try:
                    sum(range(1000))
                except Exception:
                    pass


    class Exits(_Base):
        def forward(self, x):
            sys.exit(0)


    class Quits(_Base):
        """Ends the process itself, with the exit code of a passed scan."""
        def forward(self, x):
            import os
            os._exit(0)


    class Kills(_Base):
        def forward(self, x):
            import os, signal
            os.kill(os.getpid(), signal.SIGKILL)


    class Interrupts(_Base):
        def forward(self, x):
            raise KeyboardInterrupt


    class Stubborn(_Base):
        """Swallows every exception, the budget's included."""
        def forward(self, x):
            while True:
                try:
                    time.sleep(0.05)
                except BaseException:
                    pass


    class Base(_Base):
        def forward(self, x):
            raise BaseException("user code raised a BaseException")
''')


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    (root / "hostile_models.py").write_text(HOSTILE_MODELS)
    frame = load_iris(as_frame=True).frame
    frame.columns = ["a", "b", "c", "d", "y"]
    frame.to_csv(root / "iris.csv", index=False)
    (root / "budget.yaml").write_text("extends: default\nmax_runtime: {check_s: 2, scan_s: 200}\n"
                                      "checks: {data_validity: {max_runtime_s: 150}}\n")
    return root


def _scan(project, model, out, *extra):
    return run_cli("scan", "--data", "iris.csv", "--target", "y", "--model", f"hostile_models:{model}",
                   "--check", "consistency", "--check", "data_validity", "--policy", "budget.yaml",
                   "--out", str(out), "--format", "json,junit", *extra, cwd=project, timeout=120)


@pytest.mark.parametrize("model", ["Sleeps", "Spins"])
def test_a_model_that_never_returns_is_stopped_at_its_budget(project, tmp_path, model):
    t0 = time.monotonic()
    proc = _scan(project, model, tmp_path / "out")
    took = time.monotonic() - t0
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    jsonschema.validate(report, load_schema())
    ET.parse(tmp_path / "out" / "junit.xml")  # the error is a well-formed test case
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["consistency"]["status"] == "error"
    assert "time budget of 2 s" in checks["consistency"]["summary"]
    assert "max_runtime.check_s" in checks["consistency"]["summary"]
    assert checks["data_validity"]["status"] not in ("error", "skipped")  # the others go on
    assert 2 <= checks["consistency"]["duration_s"] < 10
    assert took < 90


@pytest.mark.parametrize("model, needle", [("Exits", "SystemExit(0)"), ("Interrupts", "KeyboardInterrupt"),
                                           ("Base", "BaseException: user code raised")])
def test_exit_and_interrupt_from_user_code_are_that_checkers_error(project, tmp_path, model, needle):
    proc = _scan(project, model, tmp_path / "out")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["consistency"]["status"] == "error"
    assert needle in checks["consistency"]["summary"]
    assert checks["data_validity"]["status"] not in ("error", "skipped")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("model, how", [("Quits", "exit status 0"), ("Kills", "signal SIGKILL")])
def test_a_model_that_ends_the_process_itself_never_passes(project, tmp_path, model, how):
    """os._exit(0) or a signal from the model's own code: the console command runs the scan
    under a supervisor, which exits 2 with one message instead of the code the model chose."""
    proc = _scan(project, model, tmp_path / "out")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "ended without finishing" in proc.stderr and how in proc.stderr
    assert proc.stderr.count("riskaudit: error") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "report.json").exists()


def test_the_supervisor_keeps_the_scans_own_exit_codes(project, tmp_path):
    ok = run_cli("scan", "--data", "iris.csv", "--target", "y", "--check", "data_validity", "--out",
                 str(tmp_path / "o"), "-q", cwd=project, timeout=120)
    assert ok.returncode in (0, 1) and "ended without finishing" not in ok.stderr, ok.stderr
    bad = run_cli("scan", "--data", "missing.csv", "--target", "y", cwd=project, timeout=120)
    assert_usage_error(bad, "missing.csv")
    assert "ended without finishing" not in bad.stderr


def test_the_scan_budget_caps_each_checker(project, tmp_path):
    (project / "scan_budget.yaml").write_text("extends: default\nmax_runtime: {check_s: 100, scan_s: 3}\n")
    proc = run_cli("scan", "--data", "iris.csv", "--target", "y", "--model", "hostile_models:Sleeps",
                   "--check", "consistency", "--policy", "scan_budget.yaml", "--out", str(tmp_path / "o"),
                   "--format", "json", cwd=project, timeout=120)
    assert proc.returncode == 1, proc.stderr
    check = json.loads((tmp_path / "o" / "report.json").read_text())["checks"]
    cons = next(c for c in check if c["id"] == "consistency")
    assert cons["status"] == "error" and "max_runtime.scan_s" in cons["summary"]


def test_a_checker_that_cannot_be_stopped_still_ends_the_process(project, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "report.json").write_text("previous")
    (project / "stubborn.yaml").write_text("extends: default\nmax_runtime: {check_s: 2, scan_s: 4}\n")
    t0 = time.monotonic()
    proc = run_cli("scan", "--data", "iris.csv", "--target", "y", "--model", "hostile_models:Stubborn",
                   "--check", "consistency", "--policy", "stubborn.yaml", "--out", str(out),
                   "--format", "json", "-q", cwd=project, timeout=120)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert time.monotonic() - t0 < 60
    assert "could not be stopped" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "report.json").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_a_real_ctrl_c_still_stops_the_scan(project, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    marker = project / "forward-started"
    marker.unlink(missing_ok=True)
    out_f, err_f = tmp_path / "stdout", tmp_path / "stderr"
    # files, not pipes: the test waits for the riskaudit process itself to end; faulthandler
    # dumps every thread's stack on SIGABRT if it does not
    with open(out_f, "w") as out_h, open(err_f, "w") as err_h:
        proc = subprocess.Popen([sys.executable, "-m", "riskaudit", "scan", "--data", "iris.csv", "--target", "y",
                                 "--model", "hostile_models:SleepsMarked", "--check", "consistency",
                                 "--out", str(tmp_path / "o"), "-q"], cwd=project, stdout=out_h, stderr=err_h,
                                env={**os.environ, "PYTHONFAULTHANDLER": "1"},
                                # a process started with SIGINT ignored (nohup, `cmd &` in a script,
                                # or a parent that ignores it: some test runners' workers) keeps it
                                # ignored, and riskaudit respects that; a real Ctrl-C reaches a
                                # process whose SIGINT is enabled
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), err_f.read_text()
        proc.send_signal(signal.SIGINT)  # inside the model's forward (the probe call before the checkers)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            proc.wait(timeout=30)
            raise AssertionError("one Ctrl-C did not end the scan; its threads:\n" + err_f.read_text()[-6000:]) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out, err = out_f.read_text(), err_f.read_text()
    # the scan stops as on any Ctrl-C (click turns it into "aborted", exit 2); it is not
    # recorded as the checker's error (exit 1 with a report)
    assert proc.returncode == 2, (out, err)
    assert "aborted" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


class _Sleeper(Checker):
    id = "sleeper"
    description = "sleeps or spins"
    needs = frozenset()
    mode = "sleep"

    def run(self, ctx):
        if self.mode == "sleep":
            time.sleep(10_000)
        while True:  # a Python loop
            try:
                sum(range(1000))
            except Exception:
                pass
        return CheckOutput([], summary="never")


def _ctx():
    return CheckContext(checker_id="sleeper", data=None, reference=None, target=None, features=(),
                        sensitive=(), ids=(), task=None, model=None, classes=None, seed=0,
                        device="cpu", levels={})


def test_run_checker_budget_on_the_main_thread():
    t0 = time.monotonic()
    res = run_checker(_Sleeper, {}, _ctx(), budget_s=0.5, budget_note=" (test)")
    assert res.status == Status.ERROR and "time budget of 0.5 s (test)" in res.summary
    assert time.monotonic() - t0 < 5
    # the alarm is off afterwards: nothing fires in later code
    time.sleep(0.8)


def test_run_checker_budget_off_the_main_thread():
    class Spinner(_Sleeper):
        mode = "spin"

    box = {}
    t = threading.Thread(target=lambda: box.setdefault("res", run_checker(Spinner, {}, _ctx(), budget_s=0.5)))
    t0 = time.monotonic()
    t.start()
    t.join(20)
    assert not t.is_alive()
    assert box["res"].status == Status.ERROR and "time budget" in box["res"].summary
    assert time.monotonic() - t0 < 10


def test_time_limit_does_not_fire_after_a_quick_block():
    with time_limit(0.3):
        pass
    time.sleep(0.6)  # a stray BudgetExceeded would fail this test
    with pytest.raises(BudgetExceeded):
        with time_limit(0.2):
            time.sleep(5)


def test_policy_validates_max_runtime():
    pol = load_policy({"max_runtime": {"check_s": 5}, "checks": {"pii": {"max_runtime_s": None}}})
    assert pol.check_budget("fairness")[0] == 5 and pol.check_budget("pii")[0] is None
    assert pol.scan_budget == 3600  # the default stays
    assert load_policy("default").check_budget("drift")[0] == 900
    for bad, where in (({"max_runtime": {"check_s": 0}}, "max_runtime.check_s"),
                       ({"max_runtime": {"scan": 5}}, "max_runtime.scan"),
                       ({"checks": {"pii": {"max_runtime_s": "1h"}}}, "checks.pii.max_runtime_s")):
        with pytest.raises(PolicyError, match=where):
            load_policy(bad)


def _special_files(tmp_path):
    """A symlink to /dev/zero, a FIFO and a Unix socket, each named like a data file."""
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.csv")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "sock.parquet"))
    return sock, {"zero.csv": "character device", "fifo.csv": "named pipe", "sock.parquet": "socket"}


@pytest.mark.parametrize("option", ["--data", "--reference"])
def test_devices_fifos_and_sockets_are_refused_before_reading(tmp_path, option):
    sock, files = _special_files(tmp_path)
    try:
        for name, kind in [("/dev/zero", "character device"), *files.items()]:
            proc = run_cli("scan", option, name, "--out", str(tmp_path / "out"), cwd=tmp_path, timeout=60)
            assert_usage_error(proc, option, kind, "not a regular file")
        assert not (tmp_path / "out").exists()
    finally:
        sock.close()


def test_a_model_path_to_a_device_or_fifo_is_refused(tmp_path):
    sock, _ = _special_files(tmp_path)
    sock.close()
    (tmp_path / "model.pt").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "model.onnx")
    pd.DataFrame({"a": [1, 2, 3], "y": [0, 1, 0]}).to_csv(tmp_path / "d.csv", index=False)
    for model, kind in (("model.pt", "character device"), ("model.onnx", "named pipe"), ("/dev/zero", "character")):
        proc = run_cli("scan", "--data", "d.csv", "--model", model, cwd=tmp_path, timeout=60)
        assert_usage_error(proc, "--model", kind)


def test_sha256_file_refuses_what_is_not_a_regular_file(tmp_path):
    from riskaudit.data import sha256_file
    from riskaudit.errors import InputError

    os.mkfifo(tmp_path / "p")
    for path in ("/dev/zero", tmp_path / "p", tmp_path):
        with pytest.raises(InputError, match="not a regular file"):
            sha256_file(path)


def _bomb_png(path, side=40_000):
    """A real PNG made with Pillow whose header then claims side x side pixels (a bomb)."""
    import struct
    import zlib

    from PIL import Image

    Image.new("L", (8, 8)).save(path)
    raw = bytearray(path.read_bytes())
    assert raw[12:16] == b"IHDR"
    raw[16:24] = struct.pack(">II", side, side)
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(raw))


def test_decompression_bombs_and_truncated_images_are_unreadable_file_findings(tmp_path):
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path / "imgs"
    for i in range(40):
        cls = root / str(digits.target[i] % 2)
        cls.mkdir(parents=True, exist_ok=True)
        Image.fromarray((digits.images[i] * 16).astype(np.uint8), mode="L").save(cls / f"{i}.png")
    _bomb_png(root / "0" / "bomb.png")
    with pytest.raises(Image.DecompressionBombError):  # Pillow's limit is kept
        Image.open(root / "0" / "bomb.png")
    good = (root / "1" / "1.png").read_bytes()
    big = root / "1" / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(big)
    (root / "1" / "truncated.png").write_bytes(big.read_bytes()[:400])
    assert good
    proc = run_cli("scan", "--data", str(root), "--check", "data_validity", "--out", str(tmp_path / "out"),
                   "--format", "json", cwd=tmp_path, timeout=180)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    dv = next(c for c in report["checks"] if c["id"] == "data_validity")
    assert dv["status"] != "error", dv["summary"]
    finding = next(f for f in dv["findings"] if f["id"] == "data_validity.unreadable_file")
    listed = json.dumps(finding["evidence"])
    assert "0/bomb.png" in listed and "DecompressionBombError" in listed
    assert "1/truncated.png" in listed
    assert finding["value"] == pytest.approx(2 / 43)


def test_nested_parquet_columns_are_reported_as_unsupported_and_skipped(tmp_path):
    import numpy as np
    import pyarrow.parquet as pq

    from riskaudit.data import load_dataset

    n = 300
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=n), "tags": [[i % 3, i % 5] for i in range(n)],
                          "info": [{"k": i % 4, "s": "v"} for i in range(n)],
                          "words": [["x", "y"][: 1 + i % 2] for i in range(n)], "y": [0, 1] * (n // 2)})
    frame.to_parquet(tmp_path / "nested.parquet")
    ref = frame.assign(a=rng.normal(size=n))
    ref.to_parquet(tmp_path / "nested_ref.parquet")
    kinds = {f.name: str(f.type) for f in pq.read_schema(tmp_path / "nested.parquet")}
    assert kinds["tags"].startswith("list") and kinds["info"].startswith("struct")
    ds = load_dataset(tmp_path / "nested.parquet")
    assert set(ds.unsupported) == {"tags", "info", "words"} and ds.unsupported["info"] == "struct/map"
    proc = run_cli("scan", "--data", "nested.parquet", "--reference", "nested_ref.parquet", "--target", "y",
                   "--check", "data_validity", "--check", "pii", "--check", "drift", "--out", "out",
                   "--format", "json", cwd=tmp_path, timeout=180)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    jsonschema.validate(report, load_schema())
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["pii"]["status"] != "error", checks["pii"]["summary"]
    assert checks["drift"]["status"] != "error", checks["drift"]["summary"]
    assert set(checks["drift"]["metrics"]["skipped_features"]) == {"tags", "info", "words"}
    dv = checks["data_validity"]
    assert dv["status"] == "warn", dv["summary"]
    (finding, in_ref) = [f for f in dv["findings"] if f["id"] == "data_validity.unsupported_column"]
    assert in_ref["subject"] == "columns (reference)"
    assert finding["value"] == 3
    assert {r["column"] for r in finding["evidence"]["table"]} == {"tags", "info", "words"}
    # the in-memory frame with lists is hashed too (no 'unhashable type')
    assert len(load_dataset(frame).sha256) == 64


def test_checkers_after_a_spent_scan_budget_are_errors_that_say_so():
    from riskaudit.registry import Registry
    from riskaudit.scan import scan

    from riskaudit.checks.base import Kind

    class Slow(_Sleeper):
        id = "slow"
        priority = 1
        kinds = {"x": Kind("x")}

    class After(Checker):
        id = "after"
        description = "runs after"
        needs = frozenset()
        priority = 2
        kinds = {"x": Kind("x")}

        def run(self, ctx):
            return CheckOutput([], summary="ran")

    report = scan(registry=Registry.from_classes([Slow, After]),
                  policy={"name": "t", "max_runtime": {"scan_s": 1, "check_s": 100}})
    slow, after = report.check("slow"), report.check("after")
    assert slow.status == Status.ERROR and "max_runtime.scan_s" in slow.summary
    assert after.status == Status.ERROR and "did not run" in after.summary and "1 s" in after.summary
    assert report.exit_code == 1


# ---------------------------------------------------------------- YAML that expands without end
_LAUGHS = "\n".join(['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'] +
                    [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)])
_YAML_BOMBS = {
    "billion laughs (9^10 values in 700 bytes)": _LAUGHS,
    "an alias inside its own anchor": "a: &a [1, *a]",
    "nesting 5,000 levels deep": "a: " + "[" * 5000 + "]" * 5000,
}
_LOADERS = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    from riskaudit.errors import InputError, PolicyError
    from riskaudit.project import load_project
    from riskaudit.policy import load_policy
    from riskaudit.trust import load_trust_policy
    from riskaudit.checks.licenses.sources import read_card
    d = Path(sys.argv[1])
    out = {}
    for name, call in [("project", lambda: load_project(d / "riskaudit.yaml")),
                       ("policy", lambda: load_policy(str(d / "policy.yaml"))),
                       ("trust", lambda: load_trust_policy(d / "trust.yaml"))]:
        try:
            call()
            out[name] = "loaded"
        except (InputError, PolicyError) as exc:
            out[name] = str(exc)
    evidence, problems = read_card(d / "README.md", d)
    out["card"] = [p.error for p in problems]
    print(json.dumps(out))
''')


@pytest.mark.parametrize("bomb", list(_YAML_BOMBS), ids=lambda b: b.split(" (")[0])
def test_yaml_that_expands_without_end_is_one_message_not_a_hang(tmp_path, bomb):
    """Project, policy and trust files, and a model card's front matter, are YAML from
    people riskaudit does not trust. Aliases let a few hundred bytes stand for billions of
    values; a loader that builds them as shared references returns at once, and the next
    walk over them never ends. Each ends in one message within seconds (checked in a fresh
    interpreter with a timeout, so a regression fails instead of hanging the suite)."""
    import subprocess
    import sys

    text = _YAML_BOMBS[bomb]
    for name in ("riskaudit.yaml", "policy.yaml", "trust.yaml"):
        (tmp_path / name).write_text(text + "\n")
    (tmp_path / "README.md").write_text(f"---\nlicense: mit\n{text}\n---\n# A model\n")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _LOADERS, str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.monotonic() - started < 60
    got = json.loads(proc.stdout)
    for name in ("project", "policy", "trust"):
        assert "invalid YAML" in got[name] or "not valid YAML" in got[name], (name, got[name])
        assert any(w in got[name] for w in ("expand to more than", "refers to a value that contains it",
                                            "nested deeper than", "maximum nesting depth")), (name, got[name])
    assert len(got["card"]) == 1 and "malformed YAML front matter" in got["card"][0], got["card"]
    # and on the command line: exit 2, one line, no traceback
    (tmp_path / "riskaudit.yaml").write_text(f"model: m.pt\ndata: d.csv\n{text}\n")
    assert_usage_error(run_cli("scan", str(tmp_path / "riskaudit.yaml"), "--out", str(tmp_path / "o"),
                               timeout=120), "invalid YAML")


def test_yaml_aliases_of_ordinary_size_still_load():
    from riskaudit import untrusted

    doc = "base: &b {fail: 0.1, warn: 0.05}\nchecks:\n  a: *b\n  b: *b\nlist: &l [1, 2, 3]\nmore: [*l, *l]\n"
    assert untrusted.load_yaml(doc) == {"base": {"fail": 0.1, "warn": 0.05}, "checks": {"a": {"fail": 0.1, "warn": 0.05},
                                  "b": {"fail": 0.1, "warn": 0.05}}, "list": [1, 2, 3], "more": [[1, 2, 3], [1, 2, 3]]}
    assert untrusted.load_yaml("") is None and untrusted.load_yaml("x: !!binary aGk=") == {"x": b"hi"}


def test_json_nested_without_end_is_one_message(tmp_path):
    """Reports, approval records, attestations, baselines and license manifests are JSON
    from others; 200,000 nested lists overflow the decoder's recursion (and, just under its
    limit, any recursive walk after it). Each reader says so in one line: a gate stays
    closed, approve and diff exit 2, a scan's baseline is an input error, a manifest is a
    licenses problem."""
    import riskaudit
    from riskaudit.errors import InputError

    deep = '{"schema_version": "1", "a": ' + "[" * 200_000 + "]" * 200_000 + "}"
    shallow_but_deep = '{"a": ' + "[" * 150 + "]" * 150 + "}"  # parses, but deeper than any report
    for i, text in enumerate((deep, shallow_but_deep)):
        path = tmp_path / f"deep{i}.json"
        path.write_text(text)
        gate = run_cli("gate", str(path), "--insecure-no-trust-policy")
        assert gate.returncode == 1 and "nested deeper than 100 levels" in gate.stdout + gate.stderr, gate
        assert "Traceback" not in gate.stderr and "unexpected error" not in gate.stderr
        assert_usage_error(run_cli("approve", str(path), "--role", "r", "--approver", "x"), "nested deeper than")
        assert_usage_error(run_cli("diff", str(path), str(path)), "nested deeper than")
        with pytest.raises(InputError, match="not a report.json .*nested deeper than"):
            riskaudit.scan(data=pd.DataFrame({"a": [1, 2, 3]}), baseline=str(path), checks=["data_validity"])
