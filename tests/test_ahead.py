"""The pii checker run ahead in a forked process (riskaudit/ahead.py): the same report as a
serial scan, and every way the child can fail ends as that checker's error or stops it."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

import riskaudit
from riskaudit import ahead
from riskaudit.checks.pii import PiiChecker

ROLES = dict(target="y", sensitive=["sex"], predictions="pred")
CHECKS = ["pii", "data_validity", "fairness", "performance"]


@pytest.fixture(scope="module")
def tables():
    from faker import Faker

    fake = Faker(["en_US", "de_DE"])
    fake.seed_instance(5)
    rng = np.random.default_rng(5)

    def frame(n):
        notes = [f"Called {fake.name()} on {fake['en_US'].phone_number()} about the loan." if i % 4 == 0
                 else "No remarks." for i in range(n)]
        y = rng.integers(0, 2, n)
        return pd.DataFrame({"name": [fake.name() for _ in range(n)], "email": [fake.email() for _ in range(n)],
                             "notes": notes, "income": rng.normal(40_000, 9_000, n).round(2),
                             "sex": rng.choice(["female", "male"], n), "y": y,
                             "pred": np.where(rng.random(n) < 0.8, y, 1 - y)})

    return frame(300), frame(300)


def _scan(tables, monkeypatch, fork: bool, **kw):
    monkeypatch.setenv("RISKAUDIT_FORK", "1" if fork else "0")
    cur, ref = tables
    return riskaudit.scan(data=cur, reference=ref, checks=kw.pop("checks", CHECKS), **ROLES, **kw)


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items()
                if k not in ("duration_s", "created_at", "digest", "worker_pid")}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def _pid_recorded(monkeypatch):
    """PiiChecker.run as it is, plus the process it ran in (in its metrics)."""
    real = PiiChecker.run

    def run(self, ctx):
        out = real(self, ctx)
        out.metrics["worker_pid"] = os.getpid()
        return out

    monkeypatch.setattr(PiiChecker, "run", run)


def test_the_forked_scan_writes_the_serial_scans_report(tables, monkeypatch):
    _pid_recorded(monkeypatch)
    serial = _scan(tables, monkeypatch, fork=False)
    forked = _scan(tables, monkeypatch, fork=True)
    checks = {c.id: c for c in forked.checks}
    assert [c.id for c in forked.checks] == [c.id for c in serial.checks]  # the registry's order
    assert {c.id: c.metrics["worker_pid"] for c in serial.checks if c.id == "pii"} == {"pii": os.getpid()}
    assert checks["pii"].metrics["worker_pid"] != os.getpid()  # it did run in another process
    assert checks["pii"].status.value == "fail" and checks["pii"].findings  # names, e-mails, phones found
    assert _without_timings(forked.to_dict()) == _without_timings(serial.to_dict())
    # what pii found masks the other checkers' examples exactly as in the serial scan
    assert "pii_columns" in checks["pii"].metrics and checks["data_validity"].status.value != "error"


def test_no_fork_without_an_independent_checker_or_when_turned_off(tables, monkeypatch):
    from riskaudit.registry import Registry

    reg = Registry.from_entry_points()
    monkeypatch.setenv("RISKAUDIT_FORK", "1")
    assert ahead.wanted(reg, {"pii", "fairness"}, None)
    assert not ahead.wanted(reg, {"pii", "data_validity"}, None)  # it reads pii's columns
    assert ahead.wanted(reg, {"pii", "drift"}, None)  # it runs provisionally beside the child
    assert not ahead.wanted(reg, {"fairness", "performance"}, None)
    assert not ahead.wanted(reg, {"pii", "fairness"}, object())  # the Spark engine
    monkeypatch.setenv("RISKAUDIT_FORK", "0")
    assert not ahead.wanted(reg, {"pii", "fairness"}, None)


def test_a_child_that_dies_is_the_checkers_error_and_the_scan_goes_on(tables, monkeypatch):
    monkeypatch.setattr(PiiChecker, "run", lambda self, ctx: os.kill(os.getpid(), signal.SIGKILL))
    rep = _scan(tables, monkeypatch, fork=True)
    checks = {c.id: c for c in rep.checks}
    assert checks["pii"].status.value == "error"
    assert "worker process ended without a result" in checks["pii"].summary
    assert checks["fairness"].status.value != "error" and checks["performance"].status.value != "error"


def _pii_under_a_1_s_budget(tables, monkeypatch, tmp_path, run):
    """The pii result of a forked scan whose pii checker runs ``run``, and the seconds taken."""
    policy = tmp_path / "budget.yaml"
    policy.write_text("extends: default\nmax_runtime: {check_s: 1, scan_s: 200}\n")
    monkeypatch.setattr(PiiChecker, "run", run)
    t0 = time.monotonic()
    rep = _scan(tables, monkeypatch, fork=True, policy=str(policy))
    return next(c for c in rep.checks if c.id == "pii"), time.monotonic() - t0


def test_the_budget_stops_the_child(tables, monkeypatch, tmp_path):
    pii, took = _pii_under_a_1_s_budget(tables, monkeypatch, tmp_path, lambda self, ctx: time.sleep(60))
    assert pii.status.value == "error" and "time budget of 1 s" in pii.summary, pii.summary
    assert took < 30


def test_a_child_deaf_to_its_budget_is_killed(tables, monkeypatch, tmp_path):
    """SIGALRM blocked (as a C loop that never returns would be): the parent kills the child."""

    def deaf(self, ctx):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(60)

    monkeypatch.setattr(ahead, "GRACE_S", 0.5)
    pii, took = _pii_under_a_1_s_budget(tables, monkeypatch, tmp_path, deaf)
    assert pii.status.value == "error" and "stopped after" in pii.summary, pii.summary
    assert took < 30


def test_an_input_error_after_the_fork_ends_the_child(tables, monkeypatch, tmp_path):
    started = []
    real_start = ahead.start

    def start(*args, **kw):
        started.append(real_start(*args, **kw))
        return started[-1]

    monkeypatch.setattr(ahead, "start", start)
    monkeypatch.setattr(PiiChecker, "run", lambda self, ctx: time.sleep(60))
    monkeypatch.setenv("RISKAUDIT_FORK", "1")
    cur, ref = tables
    with pytest.raises(riskaudit.RiskauditError, match="missing.pt"):
        riskaudit.scan(data=cur, reference=ref, target="y", sensitive=["sex"], checks=CHECKS,
                       model=str(tmp_path / "missing.pt"))
    assert len(started) == 1 and started[0].collected
    with pytest.raises(ProcessLookupError):  # killed and reaped: no such process
        os.kill(started[0].pid, 0)


def test_the_scans_process_never_loads_the_pii_engine(tables, tmp_path):
    """Masking asks the pii checker's process, which has Presidio and spaCy loaded already."""
    import json
    import subprocess
    import sys

    cur, ref = tables
    cur.to_csv(tmp_path / "cur.csv", index=False)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    code = ("import json, sys, riskaudit\n"
            "rep = riskaudit.scan(data='cur.csv', reference='ref.csv', target='y', sensitive=['sex'],"
            " predictions='pred', checks=%r)\n"
            "pii = next(c for c in rep.checks if c.id == 'pii')\n"
            "print(json.dumps({'loaded': sorted(m for m in ('presidio_analyzer', 'spacy') if m in sys.modules),"
            " 'pii': pii.status.value, 'masked': [f.message for c in rep.checks for f in c.findings]}))" % CHECKS)
    outs = {}
    for fork in ("1", "0"):
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, env={**os.environ, "RISKAUDIT_FORK": fork})
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs[fork] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outs["1"]["loaded"] == [] and outs["0"]["loaded"] == ["presidio_analyzer", "spacy"]
    assert outs["1"]["pii"] == "fail" and outs["1"]["masked"] == outs["0"]["masked"]


def test_the_view_remembers_lookups_and_knows_when_the_run_is_stale():
    from riskaudit.masking import safe_example

    view = ahead.SharedView()
    pii = view.get("pii_columns")
    assert safe_example("a@b.org", "contact", pii) == "a@b.org"  # nothing marked yet: asked, shown
    assert not view.stale({})  # pii marked nothing
    assert not view.stale({"pii_columns": {"email": "EMAIL_ADDRESS"}})  # not a column it looked up
    assert view.stale({"pii_columns": {"contact": "EMAIL_ADDRESS"}})
    listed = ahead.SharedView()
    dict(listed["pii_columns"])  # copied whole: every column counts as looked up
    assert listed.stale({"pii_columns": {"email": "EMAIL_ADDRESS"}}) and not listed.stale({})
    other = ahead.SharedView()
    other.get("something_else")  # any other key: it must run again with the real one
    assert other.stale({})
    wrote = ahead.SharedView()
    wrote["drift_columns"] = ["x"]
    assert wrote.stale({})


def _drift_tables(pii_feature: bool):
    """Reference and current data whose categorical feature ``contact`` drifts; its values
    are e-mail addresses (marked by pii) or plain codes."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(11)
    rng = np.random.default_rng(11)
    values = [fake.email() for _ in range(4)] if pii_feature else ["alpha", "beta", "gamma", "delta"]

    def frame(n, p):
        y = rng.integers(0, 2, n)
        return pd.DataFrame({"contact": rng.choice(values, n, p=p), "income": rng.normal(40_000, 9_000, n).round(2),
                             "sex": rng.choice(["female", "male"], n), "y": y,
                             "pred": np.where(rng.random(n) < 0.8, y, 1 - y)})

    return frame(400, [0.7, 0.1, 0.1, 0.1]), frame(400, [0.1, 0.1, 0.1, 0.7])


@pytest.mark.parametrize("pii_feature", [True, False])
def test_drift_runs_beside_the_child_and_again_only_when_it_showed_a_marked_column(pii_feature, monkeypatch):
    from riskaudit.checks.drift import DriftChecker

    runs = []
    real = DriftChecker.run

    def run(self, ctx):
        runs.append(isinstance(ctx.shared, ahead.SharedView))
        return real(self, ctx)

    monkeypatch.setattr(DriftChecker, "run", run)
    cur, ref = _drift_tables(pii_feature)
    reports = {}
    for fork in (False, True):
        monkeypatch.setenv("RISKAUDIT_FORK", "1" if fork else "0")
        reports[fork] = riskaudit.scan(data=cur, reference=ref, checks=["pii", "drift", "fairness"], **ROLES)
    assert _without_timings(reports[True].to_dict()) == _without_timings(reports[False].to_dict())
    # serial once; forked: early against the view, and again with the real columns when needed
    assert runs == ([False, True, False] if pii_feature else [False, True])
    drift = next(c for c in reports[True].checks if c.id == "drift")
    chart = next(f for f in drift.findings if f.subject == "contact").evidence["charts"][0]
    raw = set(cur["contact"])
    assert len(chart["labels"]) == len(raw)
    assert (set(chart["labels"]) == raw) != pii_feature  # e-mails masked, codes shown


def test_drift_times_the_model_only_once_the_child_is_done(tables, monkeypatch, tmp_path):
    """Model latency measured beside the pii checker's process would be the scan's own
    contention: drift waits for the child (ctx.quiet) before it times the model."""
    from riskaudit.checks.drift import perf

    timed = []
    real_measure, real_run = perf.measure, PiiChecker.run

    def measure(*a, **kw):
        timed.append(time.time())
        return real_measure(*a, **kw)

    def slow_pii(self, ctx):
        time.sleep(3)
        out = real_run(self, ctx)
        out.metrics["done_at"] = time.time()
        return out

    monkeypatch.setattr(perf, "measure", measure)
    monkeypatch.setattr(PiiChecker, "run", slow_pii)
    monkeypatch.setenv("RISKAUDIT_FORK", "1")
    cur, ref = tables
    import torch

    model = str(tmp_path / "m.pt")
    torch.jit.save(torch.jit.script(torch.nn.Linear(1, 2)), model)
    rep = riskaudit.scan(data=cur, reference=ref, target="y", sensitive=["sex"], features=["income"],
                         model=model, checks=["pii", "drift"])
    pii_done = next(c for c in rep.checks if c.id == "pii").metrics["done_at"]
    assert timed and min(timed) >= pii_done


SECOND_PROBE = """
import json, os, sys, time
import riskaudit
from riskaudit.checks.drift import perf
from riskaudit.checks.consistency import ConsistencyChecker
from riskaudit.checks.performance import PerformanceChecker
from riskaudit.checks.robustness import RobustnessChecker

mode = sys.argv[1]
real_run, real_measure = RobustnessChecker.run, perf.measure
timed = []

def recorded(real):
    def run(self, ctx):
        if mode == "die" and self.id == "robustness":
            os.kill(os.getpid(), 9)
        out = real(self, ctx)
        out.metrics["worker_pid"] = os.getpid()
        out.metrics["done_at"] = time.time()
        return out
    return run

def measure(*a, **kw):
    timed.append(time.time())
    return real_measure(*a, **kw)

for cls in (RobustnessChecker, PerformanceChecker, ConsistencyChecker):
    cls.run = recorded(cls.run)
perf.measure = measure
rep = riskaudit.scan(data="cur.csv", reference="ref.csv", target="y", sensitive=["sex"], features=["income", "age"],
                     model="m.pt", checks=sys.argv[2].split(","), seed=3)
body = rep.to_dict()
checks = {c["id"]: c for c in body["checks"]}
rob = checks["robustness"]
print(json.dumps({"pid": os.getpid(), "worker": rob["metrics"].get("worker_pid"), "status": rob["status"],
                  "summary": rob["summary"], "done_at": max(c["metrics"].get("done_at") or 0 for c in checks.values()),
                  "workers": {c: checks[c]["metrics"].get("worker_pid") for c in ("performance", "consistency")
                              if c in checks}, "timed": timed, "report": body}))
"""


def _second(tmp_path, *, fork: bool, mode: str = "plain",
            checks: str = "pii,robustness,drift,fairness,performance,consistency",
            notes: bool = False):
    import json
    import subprocess
    import sys

    import torch

    if not (tmp_path / "m.pt").exists():
        rng = np.random.default_rng(9)
        for name in ("cur", "ref"):
            n = 300
            frame = pd.DataFrame({"income": rng.normal(0, 1, n).round(3), "age": rng.normal(0, 1, n).round(3),
                                  "sex": rng.choice(["female", "male"], n), "y": rng.integers(0, 2, n)})
            if notes:
                frame["notes"] = [f"Customer {i} asked about the loan and the rate." for i in range(n)]
            frame.to_csv(tmp_path / f"{name}.csv", index=False)
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(tmp_path / "m.pt"))
    proc = subprocess.run([sys.executable, "-c", SECOND_PROBE, mode, checks], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "RISKAUDIT_FORK": "2" if fork else "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _without_measured(report):
    """The report without what is measured in seconds (check durations, attack seconds, the
    model's latency and throughput, which drift records and says in one finding)."""
    body = _without_timings(report)
    for check in body["checks"]:
        check["metrics"].pop("seconds", None)
        check["metrics"].pop("done_at", None)
        check["metrics"].pop("model_performance", None)
        check["findings"] = [f for f in check["findings"] if f["id"] != "drift.model_drift"]
    return body


def test_robustness_runs_in_a_second_child_and_the_report_is_the_serial_ones(tmp_path):
    forked, serial = _second(tmp_path, fork=True), _second(tmp_path, fork=False)
    assert serial["worker"] == serial["pid"]
    assert forked["worker"] not in (None, forked["pid"])  # it ran in another process
    assert forked["workers"] == {"performance": forked["worker"], "consistency": forked["worker"]}  # the same
    assert serial["workers"] == {"performance": serial["pid"], "consistency": serial["pid"]}
    assert forked["status"] == serial["status"] != "error"
    assert _without_measured(forked["report"]) == _without_measured(serial["report"])
    # drift timed the model only once the robustness child was done
    assert forked["timed"] and min(forked["timed"]) >= forked["done_at"]


def test_no_second_child_when_the_pii_checker_has_free_text_to_read(tmp_path):
    forked = _second(tmp_path, fork=True, notes=True)
    assert forked["worker"] == forked["pid"]
    alone = _second(tmp_path, fork=True, checks="robustness,fairness")  # no pii checker: the core is free
    assert alone["worker"] not in (None, alone["pid"])


def test_a_second_child_that_dies_is_the_robustness_error_and_the_scan_goes_on(tmp_path):
    out = _second(tmp_path, fork=True, mode="die")
    assert out["status"] == "error" and "worker process ended without a result" in out["summary"]
    checks = {c["id"]: c for c in out["report"]["checks"]}
    for cid in ("performance", "consistency"):  # they shared its process: each says so
        assert checks[cid]["status"] == "error" and "worker process ended" in checks[cid]["summary"]
        assert checks[cid]["description"] != checks["robustness"]["description"]
    assert all(checks[c]["status"] != "error" for c in ("fairness", "drift", "pii"))


def test_the_second_child_only_where_it_can_save_time(tmp_path, monkeypatch):
    import sys

    from riskaudit.registry import Registry

    reg = Registry.from_entry_points()
    model = tmp_path / "m.pt"
    model.write_bytes(b"not read here")
    sel = {"pii", "robustness", "fairness"}
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # put back by monkeypatch at the end
    monkeypatch.setattr(ahead, "idle_core", lambda: True)
    monkeypatch.setenv("RISKAUDIT_FORK", "1")

    def wanted(**kw):
        args = {"selected": sel, "engine": None, "model": str(model), "trust_model": False, "device": "cpu",
                "free_text": lambda: False, **kw}
        return ahead.second_wanted(reg, args.pop("selected"), args.pop("engine"), args.pop("model"), **args)

    assert wanted()
    assert not wanted(free_text=lambda: True)  # pii keeps the second core busy
    assert wanted(free_text=lambda: True, selected={"robustness", "fairness"})  # ...unless it does not run
    assert not wanted(trust_model=True)  # unpickling twice would run the file's code twice
    assert not wanted(model=str(tmp_path / "missing.pt")) and not wanted(model="pkg.mod:attr")
    assert not wanted(device="cuda")
    assert not wanted(engine=object())
    assert not wanted(selected={"pii", "fairness"})
    monkeypatch.setattr(ahead, "idle_core", lambda: False)
    assert not wanted()  # no idle core: torch imported twice would cost more than it saves
    monkeypatch.setenv("RISKAUDIT_FORK", "2")
    assert wanted()
    monkeypatch.setenv("RISKAUDIT_FORK", "0")
    assert not wanted()
    monkeypatch.setitem(sys.modules, "torch", object())
    monkeypatch.setenv("RISKAUDIT_FORK", "2")
    assert not wanted()  # torch may have started OpenMP threads here, which a fork does not keep


def test_an_idle_core_is_judged_by_what_other_processes_use(monkeypatch):
    """The machine's busy time since the snapshot, less this process's own CPU time: another
    process using most of a core means no idle core; this process's own work does not count."""
    hz = os.sysconf("SC_CLK_TCK")
    monkeypatch.setattr(ahead, "_SNAPSHOT", (time.monotonic() - 1.0, (0, 0), time.process_time()))
    monkeypatch.setattr(ahead, "_ticks", lambda: (int(0.3 * hz), 2 * hz))  # others used 0.3 core
    assert ahead.idle_core()
    monkeypatch.setattr(ahead, "_ticks", lambda: (int(1.6 * hz), 2 * hz))  # others used 1.6 cores
    assert not ahead.idle_core()
    mine = time.process_time()
    while time.process_time() - mine < 0.4:  # this process busy: its own time is taken off
        pass
    monkeypatch.setattr(ahead, "_ticks", lambda: (int(0.7 * hz), 2 * hz))
    assert ahead.idle_core()
    monkeypatch.setattr(ahead, "_SNAPSHOT", (time.monotonic(), (0, 0), time.process_time()))  # no window yet
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    assert not ahead.idle_core()
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert ahead.idle_core() == ((os.cpu_count() or 1) >= 2)
    assert ahead._ticks() is None or ahead._ticks()[0] <= ahead._ticks()[1]
