"""One checker run ahead, in a forked process, on the second core.

The pii checker needs only the data, and most of its time is its own (Presidio, spaCy and
the analysis of free text). :func:`start` forks a child process once the datasets are
loaded, before the model is: the child runs the checker (its time budget armed in the
child, as in the scan's own process) and sends its :class:`~riskaudit.result.CheckResult`
and what it wrote into ``ctx.shared`` back through a pipe; meanwhile the scan's process
loads the model and runs the checkers that read nothing the pii checker writes
(:data:`INDEPENDENT`), then those that read its columns only to mask what they show
(:data:`PROVISIONAL`: drift), against a view that remembers the columns they looked up; one
that looked up a column the pii checker marked runs again once the result is in. The scan
collects the result before the first other checker and masks every result only then, so
the report is the one a serial scan writes. A checker that times the model (drift's model
latency) waits for the child first (``ctx.quiet``): the figures are not the scan's own
contention.

Safety: the child ignores SIGINT (a Ctrl-C stops the scan's process, which kills the child),
dies with the scan's process (``PR_SET_PDEATHSIG``), leaves by ``os._exit`` (no atexit
handler, no buffered output flushed twice) and never touches files or the ledger. A child
stuck in C code past its budget is killed by the waiting parent, and a child that dies
(killed, out of memory) is that checker's ``error``. Only on Linux, with the pandas engine,
from the main thread; ``RISKAUDIT_FORK=0`` turns it off.

A second child runs the robustness checker, and the performance and consistency checkers
with it (:data:`SECOND`), when the pii checker will be
quick (no free text) and no other process uses more than half a core (measured while the
inputs load: /proc/stat less this process's own time). It loads the model itself, which
costs CPU time (torch is imported twice), so not on a busy machine; ``RISKAUDIT_FORK=2``
forks it whatever the load.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import threading
import time
import warnings
from typing import Any, Callable, Iterator, Mapping, MutableMapping

from riskaudit.result import CheckResult, Status
from riskaudit.supervise import die_with_parent

AHEAD = "pii"
"""The checker run ahead (the built-in one only)."""
INDEPENDENT = frozenset({"licenses", "consistency", "fairness", "performance", "robustness"})
"""Built-in checkers that neither read nor write ``ctx.shared``: they may run before the
result of the checker run ahead is in (data_validity and drift read ``pii_columns``;
a plugin may read anything, so plugins wait)."""
PROVISIONAL = frozenset({"drift"})
"""Built-in checkers that read ``shared`` only to mask what they show of a column the pii
checker marked: they run before its result is in, against a :class:`SharedView` that
remembers what they looked up, and run again once it is in if they looked up a column it
marked (or read anything else), so the report is the one a serial scan writes."""
GRACE_S = 5.0
"""Seconds past the checker's budget before the parent kills a child that did not stop."""
MODEL_LOAD_S = 120.0
"""Seconds a child that loads the model itself may take for that, beyond its checkers' budgets."""


def wanted(reg: Any, selected: Any, engine: Any) -> bool:
    """Whether running :data:`AHEAD` in a child can save time in this scan."""
    if os.environ.get("RISKAUDIT_FORK", "1") == "0" or engine is not None:
        return False
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    if AHEAD not in selected or AHEAD not in reg or not _builtin(reg[AHEAD]):
        return False
    return any(cid in selected and cid in reg and _builtin(reg[cid]) for cid in INDEPENDENT | PROVISIONAL)


SECOND = ("robustness", "performance", "consistency")
"""The checkers run in a second child when the pii checker will be quick (the first, whose
attacks and ART import are the heaviest, must be selected; the others go with it when they
are): the child loads the model itself (the scan's process cannot fork once torch has run:
OpenMP's threads do not survive a fork) and runs them on the core the pii checker leaves
idle, while the scan's process runs the rest. None of them reads or writes ``shared``."""


def second_wanted(reg: Any, selected: Any, engine: Any, model: Any, *, trust_model: bool, device: str,
                  free_text: Callable[[], bool]) -> bool:
    """Whether running :data:`SECOND` in its own child can save time in this scan: a model
    file that loads without running code (no unpickling), on the CPU, torch not yet imported
    here, and no free text for the pii checker (which then keeps the second core busy)."""
    mode = os.environ.get("RISKAUDIT_FORK", "1")
    if mode == "0" or engine is not None or trust_model:
        return False
    if not sys.platform.startswith("linux") or not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
        return False
    if not spare_core():
        return False  # it loads torch and the model again: worth it only on a core nobody uses
    if threading.current_thread() is not threading.main_thread() or "torch" in sys.modules:
        return False
    if SECOND[0] not in selected or SECOND[0] not in reg or not _builtin(reg[SECOND[0]]):
        return False
    if not isinstance(model, (str, os.PathLike)) or not os.path.isfile(model):
        return False
    if device not in ("cpu", "auto") or (device == "auto" and os.path.exists("/dev/nvidia0")):
        return False  # a GPU would hold the model twice
    return not (AHEAD in selected and free_text())


_SNAPSHOT: tuple[float, tuple[int, int] | None, float] | None = None
"""(wall clock, the machine's (busy, total) CPU ticks, this process's CPU seconds) at :func:`snapshot`."""
MIN_WINDOW_S = 0.2
"""The shortest window from which :func:`idle_core` judges the other processes' load."""


def _ticks() -> tuple[int, int] | None:
    """The machine's busy and total CPU ticks since boot (``/proc/stat``), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            parts = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(parts) < 4:
        return None
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)  # idle + iowait
    busy = sum(parts[:8]) - idle if len(parts) >= 8 else sum(parts) - idle  # guest time is inside user
    return busy, busy + idle


def end_children(*children: Ahead | Bundle | None) -> None:
    """End every child still running (the scan is over, or stopped)."""
    for child in children:
        if child is not None:
            child.cancel()


def snapshot() -> None:
    """Start the window in which :func:`idle_core` measures what other processes use (the
    scan calls it first thing; it then reads its inputs)."""
    global _SNAPSHOT
    _SNAPSHOT = (time.monotonic(), _ticks(), time.process_time())


def idle_core() -> bool:
    """Whether a core is left idle by every process but this one: the machine's busy CPU time
    since :func:`snapshot`, less this process's own, is under half a core. Without a window
    of :data:`MIN_WINDOW_S` (or ``/proc/stat``), the last minute's load average is a core
    below the number of cores."""
    snap, now = _SNAPSHOT, _ticks()
    if snap is not None and snap[1] is not None and now is not None and time.monotonic() - snap[0] >= MIN_WINDOW_S:
        wall = time.monotonic() - snap[0]
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        busy_s = (now[0] - snap[1][0]) / hz
        others = max(0.0, busy_s - (time.process_time() - snap[2])) / wall
        return others < 0.5
    try:
        return os.getloadavg()[0] <= (os.cpu_count() or 1) - 1
    except OSError:
        return False


def spare_core() -> bool:
    """Whether work that costs more CPU time to save wall time should (``RISKAUDIT_FORK=2``:
    always; else when :func:`idle_core`)."""
    return os.environ.get("RISKAUDIT_FORK", "1") == "2" or idle_core()


def second_ids(reg: Any, selected: Any) -> list[str]:
    """The checkers of :data:`SECOND` this scan runs (built-in ones only), in that order."""
    return [cid for cid in SECOND if cid in selected and cid in reg and _builtin(reg[cid])]


class Bundle:
    """One child's results for several checkers (``{checker id: CheckResult}``), collected
    once; a child that failed gives each checker its error."""

    def __init__(self, child: Ahead, ids: list[str], descriptions: Mapping[str, str]):
        self.child, self.ids, self.descriptions = child, ids, descriptions
        self._got: dict[str, CheckResult] | None = None

    def collect(self, cid: str) -> CheckResult:
        if self._got is None:
            got = self.child.collect({})
            if isinstance(got, dict):
                self._got = got
            else:  # the child's error, said for each of its checkers
                self._got = {c: CheckResult(id=c, status=got.status, summary=got.summary,
                                            duration_s=got.duration_s, description=self.descriptions[c])
                             for c in self.ids}
        return self._got[cid]

    def wait(self) -> None:
        self.child.wait()

    def cancel(self) -> None:
        self.child.cancel()


def runs_before(reg: Any, cid: str) -> bool:
    """Whether checker ``cid`` may run before the forked result is collected."""
    return cid in INDEPENDENT and _builtin(reg[cid])


def provisional(reg: Any, cid: str) -> bool:
    """Whether checker ``cid`` may run before the forked result, against a :class:`SharedView`."""
    return cid in PROVISIONAL and _builtin(reg[cid])


class _Lookups(Mapping[str, Any]):
    """An empty ``pii_columns`` that remembers each column looked up in it. Truthy, so that
    ``if pii_columns and column in pii_columns`` asks; iterating it marks every column."""

    def __init__(self) -> None:
        self.asked: set[Any] = set()
        self.everything = False

    def __getitem__(self, key: Any) -> Any:
        self.asked.add(key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(key)
        return False

    def get(self, key: Any, default: Any = None) -> Any:
        self.asked.add(key)
        return default

    def __iter__(self) -> Iterator[str]:
        self.everything = True
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return True


class SharedView(dict):
    """``ctx.shared`` of a provisional run (:data:`PROVISIONAL`): no column is marked yet.
    :meth:`stale` says whether the run must be repeated with the real ``shared``."""

    def __init__(self) -> None:
        super().__init__(pii_columns=_Lookups())
        self.other = False  # read or wrote another key

    def _key(self, key: Any) -> None:
        if key != "pii_columns":
            self.other = True

    def __getitem__(self, key: Any) -> Any:
        self._key(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._key(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._key(key)
        return super().__contains__(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.other = True
        super().__setitem__(key, value)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self.other = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.other = True
        super().update(*args, **kwargs)

    def stale(self, shared: Mapping[str, Any]) -> bool:
        """Whether the run could differ from one with ``shared`` (the pii result merged in)."""
        lookups = dict.__getitem__(self, "pii_columns")
        marked = set(shared.get("pii_columns") or {})
        return self.other or bool(marked and (lookups.everything or lookups.asked & marked))


def _builtin(cls: type) -> bool:
    return cls.__module__.startswith("riskaudit.checks.")



class Gone(Exception):
    """The child process is no longer there to answer."""


def _send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj)
    view = memoryview(len(data).to_bytes(8, "little") + data)
    while view:
        view = view[os.write(fd, view):]


def _recv(fd: int, deadline: float | None = None) -> Any:
    """One message from ``fd``; :class:`Gone` at end of file, TimeoutError past ``deadline``."""
    buf = b""
    need = 8
    size = None
    while len(buf) < need:
        wait = None if deadline is None else max(0.0, deadline - time.perf_counter())
        if not select.select([fd], [], [], wait)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(1 << 20, need - len(buf)))
        if not chunk:
            raise Gone
        buf += chunk
        if size is None and len(buf) == 8:
            size = int.from_bytes(buf, "little")
            buf, need = b"", size
    return pickle.loads(buf)


class Ahead:
    """A checker running in a child process; :meth:`collect` waits for its result, and
    :meth:`ask` sends the child later requests (the scan's masking uses its PII engine)."""

    def __init__(self, cid: str, description: str, pid: int, fd: int, req: int, budget_s: float | None):
        self.id, self.description, self.pid, self.fd, self.req = cid, description, pid, fd, req
        self.budget_s = budget_s
        self.t0 = time.perf_counter()
        self.collected = False
        self.alive = True

    @property
    def deadline(self) -> float | None:
        """When the parent stops waiting and kills the child (``perf_counter`` time), or None."""
        return None if self.budget_s is None else self.t0 + self.budget_s + GRACE_S

    def collect(self, shared: MutableMapping[str, Any]) -> Any:
        """The child's result, what its ``run`` returned (its ``shared`` entries merged into
        ``shared``); an ``error`` CheckResult when the child died or had to be killed."""
        self.collected = True
        try:
            kind, payload = _recv(self.fd, self.deadline)
        except TimeoutError:
            self.close()
            took = time.perf_counter() - self.t0
            return self._error(f"The check was stopped after {took:.0f} s: it ran past its time budget "
                               f"of {self.budget_s:g} s. Raise the budget or find what hangs.", took)
        except (Gone, pickle.UnpicklingError, EOFError):  # killed, out of memory
            self.close()
            return self._error("The check could not complete: its worker process ended without a "
                               "result (killed, or out of memory?).", time.perf_counter() - self.t0)
        if kind != "ok":
            self.close()
            return self._error(f"The check could not complete: {payload}", time.perf_counter() - self.t0)
        result, child_shared = payload
        shared.update(child_shared)
        return result

    def wait(self) -> None:
        """Return once the child's result is ready to collect, or its time is up: the
        scan's process then has the machine to itself (drift times the model after this)."""
        if self.collected:
            return
        deadline = self.deadline
        try:
            select.select([self.fd], [], [], None if deadline is None else max(0.0, deadline - time.perf_counter()))
        except (OSError, ValueError):  # closed: nothing to wait for
            pass

    def ask(self, request: Any) -> Any:
        """The child's answer to ``request``; :class:`Gone` when it cannot answer."""
        if not (self.collected and self.alive):
            raise Gone
        try:
            _send(self.req, request)
            kind, payload = _recv(self.fd)
        except (OSError, Gone, pickle.UnpicklingError, EOFError):
            self.close()
            raise Gone from None
        if kind != "ok":
            raise RuntimeError(payload)
        return payload

    def close(self) -> None:
        """End the child (at the end of the scan, on an input error or Ctrl-C)."""
        self.collected = True
        if self.alive:
            self.alive = False
            for fd in (self.fd, self.req):
                try:
                    os.close(fd)
                except OSError:
                    pass
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass

    cancel = close

    def _error(self, summary: str, took: float) -> CheckResult:
        return CheckResult(id=self.id, status=Status.ERROR, summary=summary, duration_s=took,
                           description=self.description)


def start(cid: str, description: str, run: Callable[[], Any], shared: MutableMapping[str, Any],
          budget_s: float | None, serve: Callable[[Any], Any] | None = None) -> Ahead:
    """Fork; the child calls ``run()``, sends back its result and ``shared``, then answers
    requests with ``serve(request)`` until the scan closes it."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    parent = os.getpid()
    r, w = os.pipe()
    req_r, req_w = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns of fork() beside other threads (the
        warnings.simplefilter("ignore", DeprecationWarning)  # CLI's watchdog): the child uses none
        pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(r)
            os.close(req_w)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            die_with_parent(parent)
            _child(w, req_r, run, shared, serve)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    os.close(req_r)
    return Ahead(cid, description, pid, r, req_w, budget_s)


def _child(w: int, req: int, run: Callable[[], Any], shared: MutableMapping[str, Any],
           serve: Callable[[Any], Any] | None) -> None:
    try:
        out: tuple[str, Any] = ("ok", (run(), dict(shared)))
        _send(w, out)
    except BaseException as exc:  # noqa: BLE001 (reported as the checker's error)
        _send(w, ("error", f"{type(exc).__name__}: {exc}"))
        return
    while serve is not None:
        try:
            request = _recv(req)
        except Gone:
            return
        try:
            answer: tuple[str, Any] = ("ok", serve(request))
        except Exception as exc:  # noqa: BLE001 (the scan's own call raises it)
            answer = ("error", f"{type(exc).__name__}: {exc}")
        _send(w, answer)
