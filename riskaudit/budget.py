"""Time budgets: stop a checker (and the model code it calls) that runs past its budget.

Mechanism (see ARCHITECTURE.md, "Hostile runtime"): on the main thread, an interval timer
(``setitimer(ITIMER_REAL)``) delivers SIGALRM when the budget is spent and every 0.25 s
after; the handler raises :class:`BudgetExceeded` in the code that is running, a model's
``forward`` included. It derives from ``BaseException`` so ``except Exception`` in user
code does not swallow it, and it is raised again every 0.25 s until the checker has
unwound, so even a bare ``except:`` only delays the stop. A blocking call (``time.sleep``,
a lock, a socket read) is interrupted by the signal; a single C call that never returns to
the interpreter is the one case this cannot stop (a subprocess per checker could, at the
cost of copying the model and data into it).

Off the main thread (riskaudit used as a library from a worker thread) signals are not
available; a watchdog thread then raises the same exception asynchronously in the checker's
thread (``PyThreadState_SetAsyncExc``), which stops Python code but not a blocking call.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
from typing import Iterator

REPEAT_S = 0.25


class BudgetExceeded(BaseException):
    """Raised inside a checker that ran past its time budget."""


class _Limit:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.armed = True
        self.fired = False


def _disarm_signal(limit: _Limit, old_handler) -> None:
    while True:  # the alarm may fire while we disarm it: retry until it is off
        try:
            limit.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
            return
        except BudgetExceeded:
            continue


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[_Limit]:
    """Raise :class:`BudgetExceeded` in this thread's code once ``seconds`` have passed.

    ``None`` means no limit. A budget already spent (``<= 0``) raises at once.
    """
    limit = _Limit(float(seconds) if seconds is not None else float("inf"))
    if seconds is None:
        yield limit
        return
    if seconds <= 0:
        limit.fired = True
        raise BudgetExceeded(seconds)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        def handler(signum, frame):
            if limit.armed:
                limit.fired = True
                raise BudgetExceeded(limit.seconds)

        old = signal.signal(signal.SIGALRM, handler)
        try:
            signal.setitimer(signal.ITIMER_REAL, float(seconds), REPEAT_S)
            yield limit
        finally:
            _disarm_signal(limit, old)
        return
    done = threading.Event()
    target = threading.get_ident()

    def watchdog():
        if done.wait(float(seconds)):
            return
        while not done.is_set():
            limit.fired = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target),
                                                       ctypes.py_object(BudgetExceeded))
            done.wait(REPEAT_S)

    dog = threading.Thread(target=watchdog, name="riskaudit-budget", daemon=True)
    dog.start()
    try:
        yield limit
    finally:
        while True:
            try:
                done.set()
                dog.join()
                break
            except BudgetExceeded:
                continue
        # an exception queued after the checker finished but before the watchdog saw `done`
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)


class _Interrupt:
    """Tells a real Ctrl-C (SIGINT) apart from a KeyboardInterrupt that user code raises."""

    def __init__(self):
        self.received = False


@contextlib.contextmanager
def interrupt_watch() -> Iterator[_Interrupt]:
    state = _Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if previous == signal.SIG_IGN:
            return
        state.received = True
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signum, frame)
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main interpreter
        yield state
        return
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


def hard_grace(scan_s: float) -> float:
    """Seconds past the scan's budget before the last-resort stop (25%, at least 30 s). The
    last-resort clock starts with the command, before the inputs and the model are loaded,
    while the scan's budget counts from the first checker: on a loaded CI machine loading
    alone can take several seconds, which must not end a scan that is within its budget."""
    return max(30.0, 0.25 * scan_s)


@contextlib.contextmanager
def hard_deadline(seconds: float | None, on_expiry) -> Iterator[None]:
    """Last resort for the command line: call ``on_expiry()`` from a watchdog thread once
    ``seconds`` have passed (it should print and ``os._exit``).

    For what the per-checker stop cannot end: model code that catches ``BaseException`` in
    a loop, or a blocking call off the main thread. It needs the interpreter lock, so a C
    loop that never releases it is still out of reach.
    """
    if seconds is None:
        yield
        return
    done = threading.Event()

    def watch():
        if not done.wait(seconds):
            on_expiry()

    dog = threading.Thread(target=watch, name="riskaudit-hard-deadline", daemon=True)
    dog.start()
    try:
        yield
    finally:
        done.set()
