"""One checker run ahead, in a forked process, on the second core.

The pii checker needs only the data, and most of its time is its own (Presidio, spaCy and
the analysis of free text). :func:`start` forks a child process once the datasets are
loaded, before the model is: the child runs the checker (its time budget armed in the
child, as in the scan's own process) and sends its :class:`~riskaudit.result.CheckResult`
and what it wrote into ``ctx.shared`` back through a pipe; meanwhile the scan's process
loads the model and runs the checkers that read nothing the pii checker writes
(:data:`INDEPENDENT`). The scan collects the result before the first checker that may read
``shared`` and masks every result only then, so the report is the one a serial scan writes.

Safety: the child ignores SIGINT (a Ctrl-C stops the scan's process, which kills the child),
dies with the scan's process (``PR_SET_PDEATHSIG``), leaves by ``os._exit`` (no atexit
handler, no buffered output flushed twice) and never touches files or the ledger. A child
stuck in C code past its budget is killed by the waiting parent, and a child that dies
(killed, out of memory) is that checker's ``error``. Only on Linux, with the pandas engine,
from the main thread; ``RISKAUDIT_FORK=0`` turns it off.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import threading
import time
from typing import Any, Callable, MutableMapping

from riskaudit.result import CheckResult, Status

AHEAD = "pii"
"""The checker run ahead (the built-in one only)."""
INDEPENDENT = frozenset({"licenses", "consistency", "fairness", "performance", "robustness"})
"""Built-in checkers that neither read nor write ``ctx.shared``: they may run before the
result of the checker run ahead is in (data_validity and drift read ``pii_columns``;
a plugin may read anything, so plugins wait)."""
GRACE_S = 5.0
"""Seconds past the checker's budget before the parent kills a child that did not stop."""


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
    return any(cid in selected and cid in reg and _builtin(reg[cid]) for cid in INDEPENDENT)


def runs_before(reg: Any, cid: str) -> bool:
    """Whether checker ``cid`` may run before the forked result is collected."""
    return cid in INDEPENDENT and _builtin(reg[cid])


def _builtin(cls: type) -> bool:
    return cls.__module__.startswith("riskaudit.checks.")


def _die_with_parent(parent: int) -> None:
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent ended before prctl
        os._exit(1)


class Ahead:
    """A checker running in a child process; :meth:`collect` waits for its result."""

    def __init__(self, cid: str, description: str, pid: int, fd: int, budget_s: float | None):
        self.id, self.description, self.pid, self.fd = cid, description, pid, fd
        self.budget_s = budget_s
        self.t0 = time.perf_counter()
        self.collected = False

    def collect(self, shared: MutableMapping[str, Any], idle: Callable[[], Any] | None = None) -> CheckResult:
        """The child's result (its ``shared`` entries merged into ``shared``); an ``error``
        result when the child died or had to be killed. ``idle`` is called first when the
        result is not in yet (work the scan needs next, done while it waits)."""
        self.collected = True
        data, killed = b"", False
        if idle is not None and not select.select([self.fd], [], [], 0)[0]:
            try:
                idle()
            except Exception:  # noqa: BLE001 (a head start only: the work is done again when needed)
                pass
        deadline = None if self.budget_s is None else self.t0 + self.budget_s + GRACE_S
        try:
            while True:
                wait = None if deadline is None else max(0.0, deadline - time.perf_counter())
                ready, _, _ = select.select([self.fd], [], [], wait)
                if not ready:
                    killed = True
                    break
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(self.fd)
            self._reap(kill=killed)
        took = time.perf_counter() - self.t0
        if killed:
            return self._error(f"The check was stopped after {took:.0f} s: it ran past its time budget "
                               f"of {self.budget_s:g} s. Raise the budget or find what hangs.", took)
        try:
            kind, payload = pickle.loads(data)
        except Exception:  # noqa: BLE001 (a child that died before writing: killed, out of memory)
            return self._error("The check could not complete: its worker process ended without a "
                               "result (killed, or out of memory?).", took)
        if kind != "ok":
            return self._error(f"The check could not complete: {payload}", took)
        result, child_shared = payload
        shared.update(child_shared)
        return result

    def cancel(self) -> None:
        """Kill the child if its result was never collected (an input error, Ctrl-C)."""
        if not self.collected:
            self.collected = True
            os.close(self.fd)
            self._reap(kill=True)

    def _reap(self, kill: bool) -> None:
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass

    def _error(self, summary: str, took: float) -> CheckResult:
        return CheckResult(id=self.id, status=Status.ERROR, summary=summary, duration_s=took,
                           description=self.description)


def start(cid: str, description: str, run: Callable[[], CheckResult], shared: MutableMapping[str, Any],
          budget_s: float | None) -> Ahead:
    """Fork; the child calls ``run()`` and sends back its result and ``shared``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    parent = os.getpid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(r)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            _die_with_parent(parent)
            try:
                out: tuple[str, Any] = ("ok", (run(), dict(shared)))
                data = pickle.dumps(out)
            except BaseException as exc:  # noqa: BLE001 (reported as the checker's error)
                data = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    return Ahead(cid, description, pid, r, budget_s)
