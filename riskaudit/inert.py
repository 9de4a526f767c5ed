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


_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u2064\u2066-\u2069\ufeff\ud800-\udfff\ufffe\uffff]")
"""Characters a reader cannot see or that change what is shown around them: C0 and C1
controls (not tab and line breaks), zero-width characters, the bidirectional overrides and
isolates (a column name ``rtl\u202eevil`` is shown reversed: "Trojan Source"), lone
surrogates and the two non-characters (which XML refuses)."""


def visible(text: Any) -> str:
    """``text`` for a report a person reads (HTML, Markdown, JUnit): every character of
    :data:`_INVISIBLE` written as a visible escape (``\x1b``, ``\u202e``), the rest
    unchanged; the format's own escaping (HTML entities, table pipes) comes after."""
    return _INVISIBLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                          else f"\\u{ord(m.group()):04x}", str(text))


def shell_command(*parts: Any) -> str:
    """A command line with every part quoted for a POSIX shell (``shlex.quote``)."""
    return " ".join(shlex.quote(str(p)) for p in parts)


__all__ = ["terminal", "shell_command", "visible"]
