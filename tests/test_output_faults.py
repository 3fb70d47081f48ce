"""Output faults are one clear line and an exit code, never a traceback: a parent that is a file,
no permission, a read-only file system, a full disk, a file-size limit, a name too long. Each
test checks the exit code, stderr, the previous report byte-identical and no temporary left.

Real faults where the machine allows: ``RLIMIT_FSIZE`` in the child (``ulimit -f``), a small or
read-only tmpfs when the tests may mount (root); otherwise the OS call inside the writer is
replaced by one raising the same ``OSError`` (the in-process variants always run)."""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import shutil
import subprocess
from pathlib import Path

import pytest

import bayesmeta._output as output
from bayesmeta.cli import EXIT_BAD_OUTPUT, EXIT_WRITE_FAILED, main
from bayesmeta.errors import OutputError
from tests.output_support import (
    assert_clean_failure,
    leftovers,
    previous_report,
    run_cli,
    snapshot,
)

REPRODUCE = ["reproduce", "--data", "small.csv", "--quiet", "--out", "report"]


def _tiny_report(path: Path) -> Path:
    with output.output_folder(path) as tmp:
        (tmp / "index.html").write_text("previous")
    return path


def test_parent_is_a_file(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    for out in ("/dev/full/r", str(tmp_path / "notes.txt" / "r")):
        assert main(["reproduce", "--out", out]) == EXIT_BAD_OUTPUT
        err = capsys.readouterr().err
        assert out in err and "a parent of the path is a file" in err and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_name_too_long(tmp_path, capsys):
    out = str(tmp_path / ("x" * 300))
    assert main(["reproduce", "--out", out]) == EXIT_BAD_OUTPUT
    err = capsys.readouterr().err
    assert "too long" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only file system")],
)
def test_no_permission_or_read_only_before_any_work(tmp_path, monkeypatch, code, words):
    """Simulated (root ignores permissions): making the temporary folder fails."""
    rep = _tiny_report(tmp_path / "report")
    before = snapshot(rep)

    def refuse(*a, **k):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(output.tempfile, "mkdtemp", refuse)
    with pytest.raises(OutputError, match=words) as info:
        with output.output_folder(rep):
            raise AssertionError("no work may start")  # pragma: no cover
    assert info.value.exit_code == EXIT_BAD_OUTPUT
    assert snapshot(rep) == before and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "disk full"),
        (OSError(errno.EFBIG, "File too large"), "file-size limit"),
        # HDF5 puts the C errno in its message only
        (OSError("Can't write data (file write failed: errno = 28, error message = 'x')"), "disk"),
    ],
)
def test_write_faults_while_writing(tmp_path, exc, words):
    rep = _tiny_report(tmp_path / "report")
    before = snapshot(rep)
    with pytest.raises(OutputError, match=words) as info:
        with output.output_folder(rep) as tmp:
            (tmp / "half.png").write_bytes(b"half")
            raise exc
    assert info.value.exit_code == EXIT_WRITE_FAILED and str(tmp_path) in info.value.path
    assert snapshot(rep) == before and leftovers(tmp_path) == []


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (100 * 1024, resource.RLIM_INFINITY))


@pytest.mark.slow
def test_file_size_limit_exits_3(tmp_path):
    """``ulimit -f 100``: the NetCDF posteriors exceed it (HDF5 writes to memory first, so the
    fault is Python's own EFBIG, not a crash inside HDF5)."""
    rep = previous_report(tmp_path)
    before = snapshot(rep)
    done = run_cli(REPRODUCE, tmp_path, preexec_fn=_limit_file_size)
    assert_clean_failure(done, done.stderr, EXIT_WRITE_FAILED)
    assert "file too large" in done.stderr and "report" in done.stderr
    assert snapshot(rep) == before and leftovers(tmp_path) == []


@contextlib.contextmanager
def _tmpfs(path: Path, size: str):
    path.mkdir()
    ok = os.geteuid() == 0 and shutil.which("mount") is not None
    if ok:
        ok = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
        ).returncode == 0  # fmt: skip
    if not ok:
        pytest.skip("cannot mount a tmpfs here (needs root); the in-process variants ran")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.slow
def test_disk_full_exits_3_on_a_small_tmpfs(tmp_path):
    with _tmpfs(tmp_path / "disk", "3m") as disk:
        rep = previous_report(disk)  # about 2.3 MB: the new report does not fit beside it
        before = snapshot(rep)
        done = run_cli(REPRODUCE, disk)
        assert_clean_failure(done, done.stderr, EXIT_WRITE_FAILED)
        assert "no space left" in done.stderr
        assert snapshot(rep) == before and leftovers(disk) == []


def test_read_only_file_system_exits_2(tmp_path):
    with _tmpfs(tmp_path / "ro", "4m") as disk:
        rep = _tiny_report(disk / "report")
        before = snapshot(rep)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        # refused before any work: a sheet that does not exist is not even read
        done = run_cli(["reproduce", "--data", "none.csv", "--out", "report"], disk)
        assert_clean_failure(done, done.stderr, EXIT_BAD_OUTPUT)
        assert "read-only file system" in done.stderr
        assert snapshot(rep) == before and leftovers(disk) == []
