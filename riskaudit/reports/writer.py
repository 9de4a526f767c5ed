"""The one place that writes report files: atomic (temp file + rename), no partial file."""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from riskaudit.errors import InputError
from riskaudit.reports import FORMATS


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On any error (or interrupt) the temporary file is removed and ``path`` is untouched. The
    temporary file is created with mode 0666 less the umask, like any file the user writes
    (``tempfile.mkstemp`` would leave 0600 and a report others cannot read).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` via a temporary file in the same folder and os.replace."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def parse_formats(text: str | Iterable[str]) -> list[str]:
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    for fmt in items:
        if fmt not in FORMATS:
            raise InputError(f"--format {fmt!r}: unknown format (known: {', '.join(FORMATS)})")
    if not items:
        raise InputError("--format: give at least one of " + ", ".join(FORMATS))
    return list(dict.fromkeys(items))


def write_reports(report: Mapping[str, Any], out_dir: str | os.PathLike, formats: Iterable[str],
                  extra: Mapping[str, str | bytes] | None = None) -> dict[str, Path]:
    """Render ``report`` (a dict from ``Report.to_dict()``) in each format into ``out_dir``.

    Everything is rendered before anything is written, so a renderer's failure leaves no
    half-written report folder. ``extra`` adds files (name -> content), e.g. an SBOM.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} exists and is not a folder")
    rendered: dict[str, tuple[Path, str | bytes]] = {}
    for fmt in formats:
        name, module = FORMATS[fmt]
        rendered[fmt] = (out / name, importlib.import_module(module).render(report))
    for name, content in (extra or {}).items():
        rendered[name] = (out / name, content)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {str(out)!r}: cannot create the folder: {exc.strerror}") from None
    written = {}
    for key, (path, content) in rendered.items():
        atomic_write(path, content)
        written[key] = path
    return written
