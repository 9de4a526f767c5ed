"""The one place that writes report files: a consistent set swapped in at once, no partial file."""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import shutil
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


STAGING_TAG, OLD_TAG = ".staging-", ".old-"
REPORT_FILES = frozenset({name for name, _ in FORMATS.values()} | {"sbom.cdx.json"})
"""Files a scan writes: never carried over from the previous scan's folder."""


def write_reports(report: Mapping[str, Any], out_dir: str | os.PathLike, formats: Iterable[str],
                  extra: Mapping[str, str | bytes] | None = None) -> dict[str, Path]:
    """Render ``report`` (a dict from ``Report.to_dict()``) in each format into ``out_dir``.

    A consistent set or nothing: every format is rendered first; the files are written to
    a staging folder beside ``out_dir`` (``.<name>.staging-<pid>-<random>``), and the
    staging folder is then swapped with ``out_dir`` in one step (``renameat2`` with
    ``RENAME_EXCHANGE`` on Linux; elsewhere two renames, between which ``out_dir`` briefly
    does not exist). A reader therefore sees the previous scan's files or this scan's,
    never a mix. Other files in ``out_dir`` (approvals, the demo's inputs) are hard-linked
    into the staging folder first, so they stay; report files of a format this scan did
    not write are dropped (they belong to the previous scan). On any failure (full disk, read-only
    target) the staging folder is removed, ``out_dir`` is untouched and InputError names
    the folder. ``extra`` adds files (name -> content), e.g. an SBOM.

    ``--out .`` (the working folder or one above it), a git repository or a folder whose
    parent is not writable is not swapped: each file is replaced atomically, report.json
    last (a reader may then see a mix while the files are replaced).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} exists and is not a folder")
    rendered: dict[str, tuple[str, bytes]] = {}
    for fmt in formats:
        name, module = FORMATS[fmt]
        rendered[fmt] = (name, _bytes(importlib.import_module(module).render(report)))
    for name, content in (extra or {}).items():
        rendered[name] = (name, _bytes(content))
    target = out.resolve() if out.is_symlink() else out.absolute()  # swap the folder, not a link
    if not _swappable(target):
        return _write_in_place(target, out, rendered)
    parent = target.parent
    _remove_stale(parent, target.name)
    staging = parent / f".{target.name}{STAGING_TAG}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        try:
            parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(staging, 0o777)
            # every report file of an earlier scan is left behind, whichever formats it had
            names = {name for name, _ in rendered.values()} | REPORT_FILES
            if target.is_dir():
                _carry_over(target, staging, skip=names)
            for name, content in rendered.values():
                _write_file(staging / name, content)
            _fsync_dir(staging)
        except OSError as exc:
            raise InputError(f"--out {str(out)!r}: cannot write the reports "
                             f"({exc.strerror or exc}); "
                             "the previous reports in that folder were left as they were") from None
        try:
            _swap_in(staging, target)
        except OSError as exc:
            raise InputError(f"--out {str(out)!r}: cannot put the new reports in place "
                             f"({exc.strerror or exc}); the previous reports were left as they were") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return {key: out / name for key, (name, _) in rendered.items()}


def _swappable(target: Path) -> bool:
    """A folder that may be swapped whole: not the working folder or one above it, not a
    repository, and its parent takes a new folder."""
    try:
        cwd = Path.cwd().resolve()
        real = target.resolve()
    except OSError:
        return False
    if real == cwd or real in cwd.parents or real.parent == real:
        return False
    if (real / ".git").exists():
        return False
    parent = real.parent
    return parent.is_dir() and os.access(parent, os.W_OK | os.X_OK) if parent.exists() else True


def _write_in_place(target: Path, out: Path, rendered) -> dict[str, Path]:
    """Fallback for a folder that is not swapped (``--out .``): each file atomically,
    report.json last, so a reader that finds the new report.json finds the new set."""
    try:
        target.mkdir(parents=True, exist_ok=True)
        items = sorted(rendered.values(), key=lambda item: item[0] == "report.json")
        for name, content in items:
            atomic_write(target / name, content)
    except OSError as exc:
        raise InputError(f"--out {str(out)!r}: cannot write the reports ({exc.strerror or exc}); "
                         "the previous reports in that folder were left as they were") from None
    return {key: out / name for key, (name, _) in rendered.items()}


def _bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8", errors="backslashreplace") if isinstance(content, str) else bytes(content)


def _write_file(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _carry_over(out: Path, staging: Path, skip: set[str]) -> None:
    """Hard-link every entry of ``out`` but the new report files into ``staging``."""
    for entry in os.scandir(out):
        if entry.name in skip:
            continue
        src, dst = Path(entry.path), staging / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif entry.is_dir():
            shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(src, dst)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


_RENAME_EXCHANGE, _AT_FDCWD = 2, -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the system cannot."""
    import ctypes
    import errno

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(staging: Path, out: Path) -> None:
    """Make ``staging`` be ``out``; the previous ``out`` (if any) is deleted afterwards."""
    if not out.exists():
        os.rename(staging, out)
        return
    if _exchange(staging, out):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the previous reports
        return
    old = staging.with_name(staging.name.replace(STAGING_TAG, OLD_TAG))
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale(parent: Path, name: str) -> None:
    """Staging / old folders a killed scan left beside ``out`` (its process is gone)."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    prefix = f".{name}"
    for entry in entries:
        rest = entry.name[len(prefix):] if entry.name.startswith(prefix) else ""
        for tag in (STAGING_TAG, OLD_TAG):
            if rest.startswith(tag) and entry.is_dir(follow_symlinks=False):
                pid = rest[len(tag):].split("-")[0]
                if pid.isdigit() and not _alive(int(pid)):
                    if tag == OLD_TAG and not (parent / name).exists():
                        os.rename(entry.path, parent / name)  # killed between the two renames
                    else:
                        shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
