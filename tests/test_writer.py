"""The report writer: a consistent set or nothing, whatever fails and whenever a reader looks."""

from __future__ import annotations

import errno
import json
import os
import re
import threading

import pandas as pd
import pytest

import riskaudit
from helpers import Hostile
from riskaudit import cli
from riskaudit.errors import InputError
from riskaudit.registry import Registry
from riskaudit.reports import writer
from riskaudit.reports.writer import write_reports

FORMATS = ["json", "html", "md", "junit", "sarif"]


def _report(i: int) -> dict:
    frame = pd.DataFrame({f"col{i}": ["a", "b", "c"], "y": [0, 1, 0]})
    return riskaudit.scan(data=frame, target="y", registry=Registry.from_classes([Hostile]),
                          policy={"name": f"p{i}"}).to_dict()


def _snapshot(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _leftovers(parent) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")]


def _digests_in(texts: dict[str, str]) -> set[str]:
    return {m for t in texts.values() for m in re.findall(r"sha256:[0-9a-f]{64}", t)}


def test_other_files_in_the_folder_stay_and_nothing_is_left_beside_it(tmp_path):
    out = tmp_path / "out"
    write_reports(_report(0), out, FORMATS)
    (out / "approvals").mkdir()
    (out / "approvals" / "a.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    write_reports(_report(1), out, ["json", "html"])
    assert (out / "approvals" / "a.json").read_text() == "{}" and (out / "notes.txt").read_text() == "mine"
    # the previous scan's junit/md/sarif are gone: they would contradict the new report.json
    assert sorted(p.name for p in out.iterdir()) == ["approvals", "notes.txt", "report.html", "report.json"]
    assert json.loads((out / "report.json").read_text())["subject"]["policy"]["name"] == "p1"
    assert _leftovers(tmp_path) == [] and not [p for p in out.rglob("*.tmp")]


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS])
def test_a_full_disk_or_read_only_target_is_exit_2_and_the_previous_reports_stay(tmp_path, monkeypatch, capsys, err):
    out = tmp_path / "out"
    data = tmp_path / "d.csv"
    pd.DataFrame({"a": range(40), "y": [0, 1] * 20}).to_csv(data, index=False)
    args = ["scan", "--data", str(data), "--target", "y", "--check", "data_validity", "--out", str(out),
            "--format", ",".join(FORMATS), "-q"]
    with pytest.raises(SystemExit) as first:
        cli.main(args)
    assert first.value.code in (0, 1)
    before = _snapshot(out)
    real = writer._write_file
    calls = []

    def failing(path, content):  # the file-system fault itself is simulated: half a file, then ENOSPC/EROFS
        calls.append(path)
        if len(calls) == 3:
            with open(path, "wb") as fh:
                fh.write(content[: len(content) // 2])
            raise OSError(err, os.strerror(err), str(path))
        real(path, content)

    monkeypatch.setattr(writer, "_write_file", failing)
    capsys.readouterr()
    with pytest.raises(SystemExit) as second:
        cli.main(args)
    assert second.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert repr(str(out)) in stderr and os.strerror(err) in stderr and "left as they were" in stderr
    assert _snapshot(out) == before
    assert _leftovers(tmp_path) == []


def test_a_failed_swap_leaves_the_previous_reports(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_reports(_report(0), out, FORMATS)
    before = _snapshot(out)
    monkeypatch.setattr(writer, "_exchange", lambda a, b: False)  # the two-rename path
    real_rename = os.rename

    def rename(src, dst):
        if str(src).find(".staging-") >= 0:
            raise OSError(errno.EIO, "I/O error", str(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(writer.os, "rename", rename)
    with pytest.raises(InputError, match="left as they were"):
        write_reports(_report(1), out, FORMATS)
    monkeypatch.undo()
    assert _snapshot(out) == before and _leftovers(tmp_path) == []


def test_a_scan_killed_between_the_renames_is_recovered(tmp_path):
    out = tmp_path / "out"
    write_reports(_report(0), out, FORMATS)
    before = _snapshot(out)
    # what a scan killed after `out -> .out.old-PID-x` and before `staging -> out` leaves
    os.rename(out, tmp_path / ".out.old-999999999-dead")
    (tmp_path / ".out.staging-999999999-dead").mkdir()
    (tmp_path / ".out.staging-999999999-dead" / "report.html").write_text("half")
    writer._remove_stale(tmp_path, "out")
    assert _snapshot(out) == before and _leftovers(tmp_path) == []


def test_a_reader_never_sees_files_from_two_scans(tmp_path):
    out = tmp_path / "out"
    reports = [_report(i) for i in range(2)]
    write_reports(reports[0], out, FORMATS)
    stop, seen, mixed = threading.Event(), [], []

    def reader():
        while not stop.is_set():
            try:  # a reader that holds the folder sees one scan's files, whatever happens
                fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue
            try:
                texts = {}
                for name in ("report.json", "report.html", "summary.md", "report.sarif"):
                    with open(os.open(name, os.O_RDONLY, dir_fd=fd), encoding="utf-8") as fh:
                        texts[name] = fh.read()
            except FileNotFoundError:
                continue  # the folder was swapped out and removed: look again
            finally:
                os.close(fd)
            digests = _digests_in(texts)
            seen.append(digests)
            if len(digests) != 1:
                mixed.append(digests)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(30):
            write_reports(reports[i % 2], out, FORMATS)
    finally:
        stop.set()
        t.join()
    assert seen and not mixed
    assert _leftovers(tmp_path) == []


def test_the_working_folder_is_not_swapped_but_written_file_by_file(tmp_path, monkeypatch):
    (tmp_path / "data.csv").write_text("a\n1\n")
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    inode = os.stat(tmp_path).st_ino
    written = write_reports(_report(0), ".", ["json", "html"])
    assert os.stat(tmp_path).st_ino == inode  # the same folder, not a copy swapped in
    assert (tmp_path / "data.csv").read_text() == "a\n1\n" and (tmp_path / ".git").is_dir()
    assert json.loads(written["json"].read_text())["digest"]
    sub = tmp_path / "repo"
    (sub / ".git").mkdir(parents=True)
    write_reports(_report(1), sub, ["json"])
    assert (sub / ".git").is_dir() and (sub / "report.json").exists()
    assert _leftovers(tmp_path) == [".git"]
