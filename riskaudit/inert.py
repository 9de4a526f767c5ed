"""Making attacker-controlled text inert where people and shells read it.

Role names, approver names, comments and paths come from reports, policies and approval
files that the audited side can write. Shown on a terminal they must not move the cursor,
recolour or hide text, or start a new line that looks like a verdict; pasted into a shell
they must stay one argument each.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

# CSI (ESC [ … final), OSC (ESC ] … BEL or ST), and two-byte ESC sequences.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]|\x9b[0-?]*[ -/]*[@-~]")
_NEWLINES = re.compile(r"\r\n|[\r\n\x0b\x0c\x85\u2028\u2029]")
# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what is shown.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal(text: Any) -> str:
    """``text`` safe to print as (part of) one terminal line: escape sequences and control
    characters removed, line breaks shown as `` ⏎ `` so a value cannot start a line."""
    s = _ANSI.sub("", str(text))
    s = _NEWLINES.sub(" ⏎ ", s)
    return _CONTROL.sub("", s)


def shell_command(*parts: Any) -> str:
    """A command line with every part quoted for a POSIX shell (``shlex.quote``)."""
    return " ".join(shlex.quote(str(p)) for p in parts)


__all__ = ["terminal", "shell_command"]
