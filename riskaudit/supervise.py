"""The console command's scan under a supervisor: the exit code CI reads is never chosen by
code the scan ran.

A trusted model, the project's code or a plugin runs in the scan's process. If it ends that
process itself (``os._exit(0)``, a signal, ``abort()``), the exit code would be its choice
(0: "passed") and no report would exist. So ``riskaudit scan`` and ``riskaudit demo`` run in
a forked child: the parent waits, and exits with the child's code only when the child said
it ended by itself (one byte on a pipe, written just before it exits: :func:`finished`);
otherwise it exits 2 with one message. The fork is the first thing the command does (one
thread, nothing heavy imported yet) and costs milliseconds.

Signals: the child runs in a process group of its own, so a terminal's Ctrl-C reaches the
parent only, which passes SIGINT (and SIGTERM, SIGHUP) on to the child: the child handles
it once, as an unsupervised scan would (exit 130 after "interrupted"). The child dies with
the parent (``PR_SET_PDEATHSIG``). ``RISKAUDIT_SUPERVISE=0`` runs the command unsupervised.
"""

from __future__ import annotations

import os
import signal
import sys

COMMANDS = ("scan", "demo")
"""The commands that run code from the audited project (a model, the project's code, plugins)."""
EXIT_USAGE = 2
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_done_fd: int | None = None


def wanted(argv: list[str]) -> bool:
    """Whether the command ``argv`` (without the program name) runs under a supervisor."""
    if os.environ.get("RISKAUDIT_SUPERVISE", "1") == "0" or not hasattr(os, "fork"):
        return False
    command = next((a for a in argv if not a.startswith("-")), None)
    return command in COMMANDS and not any(a in ("-h", "--help", "--version") for a in argv)


def start() -> int | None:
    """Fork. In the child: None (go on with the command). In the parent: wait for the child
    and return the exit code the command should end with."""
    global _done_fd
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    r, w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _done_fd = w
        os.setpgid(0, 0)  # a terminal's Ctrl-C goes to the parent only, which passes it on once
        die_with_parent(parent, EXIT_USAGE)
        return None
    os.close(w)
    try:
        os.setpgid(pid, pid)  # also here: whichever runs first
    except OSError:
        pass
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, frame: _forward(pid, signum))
    status = _wait(pid)
    said = b""
    while chunk := os.read(r, 64):
        said += chunk
    os.close(r)
    return outcome(status, said == b"\x01")


def outcome(status: int, finished_by_itself: bool) -> int:
    """The exit code for a child that ended with wait ``status``, and one message on stderr
    when it did not end by itself."""
    if os.WIFEXITED(status) and finished_by_itself:
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT:
        sys.stderr.write("riskaudit: interrupted\n")
        return 130
    how = (f"exit status {os.WEXITSTATUS(status)}" if os.WIFEXITED(status)
           else f"signal {signal.Signals(os.WTERMSIG(status)).name}")
    sys.stderr.write(f"riskaudit: error: the scan's process ended without finishing ({how}): code it ran "
                     "(a trusted model, the project's code or a plugin) ended it, or the system did "
                     "(out of memory?); the reports may be missing or incomplete\n")
    return EXIT_USAGE


def finished() -> None:
    """Tell the supervisor that the command ended by itself (call right before exiting)."""
    global _done_fd
    if _done_fd is not None:
        try:
            os.write(_done_fd, b"\x01")
            os.close(_done_fd)
        except OSError:
            pass
        _done_fd = None


def _wait(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def _forward(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def die_with_parent(parent: int, code: int = 1) -> None:
    """Call in a forked child: it is killed when ``parent`` (its pid before the fork) ends
    (Linux ``PR_SET_PDEATHSIG``), and leaves with ``code`` now if that already happened."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent ended before prctl
        os._exit(code)
