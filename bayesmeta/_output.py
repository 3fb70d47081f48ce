"""The one output protocol of every bayesmeta writer: never lose a user's data.

A writer asks :func:`output_folder` (a report folder) or :func:`replace_file` (one file) for a
temporary sibling of its target, writes there, and the protocol moves the result into place:

* **May I write here?** (:func:`check_target`) A folder target may be a new path, an empty folder
  or a folder holding an unedited previous bayesmeta output (its :data:`MANIFEST` lists every
  file with size and SHA-256, and the package version). A regular file, a folder with other
  files, or an output whose files were edited is refused (:class:`~bayesmeta.errors.OutputError`,
  exit code 2) before any work starts. ``force=True`` replaces an edited output, but files the
  manifest does not list are carried over into the new folder, never deleted.
* **Atomic swap.** The new folder is complete (manifest included) before it replaces the old
  one, by one ``renameat2(RENAME_EXCHANGE)`` where the system has it, two renames otherwise.
* **Lock.** The check and the swap run under an exclusive ``flock`` on a sibling lock file, so
  two writers of one target end with one complete output (the later one) or a clear refusal.
* **Cleanup** of the temporary folder on every exit path (errors, SIGINT, SIGTERM); signals that
  arrive during the swap or the cleanup are held until it is done.
* **OS errors** (parent is a file, no permission, read-only file system, disk full, file-size
  limit, name too long) become an :class:`~bayesmeta.errors.OutputError` naming the path and the
  cause: exit code 2 while preparing, 3 while writing.

The command line installs :func:`signal_guard`; :func:`stage` marks the stages of a run (and is
the test hook: ``BAYESMETA_PAUSE_AT=<stage>[:seconds]`` announces the stage on stderr and sleeps).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from glob import escape as glob_escape
from pathlib import Path
from types import FrameType
from typing import Any

from bayesmeta.errors import OutputError

__all__ = [
    "MANIFEST",
    "Interrupted",
    "check_target",
    "output_folder",
    "replace_file",
    "signal_guard",
    "spreadsheet_safe",
    "stage",
    "write_csv",
]

#: Name of the manifest every bayesmeta output folder holds.
MANIFEST = ".bayesmeta-manifest.json"
_TMP_TAG = ".bayesmeta-tmp-"
_LOCK_TAG = ".bayesmeta-lock"

# --------------------------------------------------------------------------- OS errors

_CAUSES = {
    errno.ENOTDIR: "a parent of the path is a file, not a folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device (disk full)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (a file-size limit such as 'ulimit -f' is in force)",
    errno.ENAMETOOLONG: "the path or a name in it is too long",
    errno.ENOENT: "a folder on the path does not exist",
}
_WRITE_FAULTS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _cause(exc: BaseException) -> tuple[str, int | None]:
    code = getattr(exc, "errno", None)
    if code is None:  # HDF5 reports the C errno inside its message
        m = re.search(r"errno = (\d+)", str(exc))
        code = int(m.group(1)) if m else None
    if code in _CAUSES:
        return _CAUSES[code], code
    if code is not None:
        return os.strerror(code).lower(), code
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":"), None


def os_error(exc: BaseException, path: str | os.PathLike[str], *, writing: bool) -> OutputError:
    """Map an ``OSError`` (or an HDF5 write error) to an :class:`OutputError` naming ``path``.

    Faults of the device (disk full, file-size limit, I/O error) and every fault while
    ``writing`` get exit code 3; faults of the path itself while preparing get exit code 2.

    Examples
    --------
    >>> err = os_error(OSError(errno.EFBIG, "File too large"), "r/x.png", writing=True)
    >>> err.exit_code, err.cause.split(" (")[0]
    (3, 'file too large')
    >>> os_error(NotADirectoryError(errno.ENOTDIR, "x"), "/dev/full/r", writing=False).exit_code
    2
    """
    cause, code = _cause(exc)
    code3 = writing or code in _WRITE_FAULTS
    what = "could not finish writing" if code3 else "cannot write here"
    hint = (
        "free some space or lift the limit, then run again; nothing was replaced"
        if code in _WRITE_FAULTS
        else "choose another output path"
    )
    return OutputError(
        f"{what}: {cause}; {hint}", path=os.fspath(path), cause=cause, exit_code=3 if code3 else 2
    )


# --------------------------------------------------------------------------- signals


class Interrupted(KeyboardInterrupt):
    """Raised by :func:`signal_guard`'s handler: SIGINT or SIGTERM arrived (``signum``).

    Examples
    --------
    >>> Interrupted(signal.SIGTERM).exit_code
    143
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        """The conventional exit status, 128 + the signal number (130 SIGINT, 143 SIGTERM)."""
        return 128 + self.signum


class _SignalState:
    def __init__(self) -> None:
        self.installed = False
        self.received: int | None = None
        self.done = False  # the interrupt reached its handler (the CLI): stop re-raising
        self.hold = 0  # > 0 inside a swap or a cleanup: record, do not raise
        self.kill_lock = threading.Lock()  # no re-delivery while the handlers are restored

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            threading.Thread(target=self._redeliver, daemon=True).start()
        if not self.done and not self.hold:
            raise Interrupted(self.received)

    def _redeliver(self) -> None:
        # A handler's exception raised inside a C callback (llvmlite/numba during a model's
        # compilation, a ctypes callback, a __del__) is printed and dropped by Python ("Exception
        # ignored ..."), and some libraries catch KeyboardInterrupt. Deliver the signal again
        # until the command line has acknowledged it.
        while self.installed and not self.done and self.received is not None:
            time.sleep(0.25)
            with self.kill_lock:
                if self.installed and not self.done and not self.hold:
                    with contextlib.suppress(OSError):
                        os.kill(os.getpid(), self.received)

    def check(self) -> None:
        if self.received is not None and not self.done and not self.hold:
            raise Interrupted(self.received)


_SIGNALS = _SignalState()


def pending_signal() -> int | None:
    """Return the signal received under :func:`signal_guard`, if any.

    Examples
    --------
    >>> pending_signal() is None
    True
    """
    return _SIGNALS.received


@contextlib.contextmanager
def _held() -> Iterator[None]:
    """Record, but do not raise, signals inside this block (a swap, a cleanup)."""
    _SIGNALS.hold += 1
    try:
        yield
    finally:
        _SIGNALS.hold -= 1


def _unraisable(hook: Callable[[Any], None]) -> Callable[[Any], None]:
    def quiet(arg: Any) -> None:
        if isinstance(arg.exc_value, KeyboardInterrupt):
            return  # our interrupt swallowed by a C callback: re-delivered, not printed
        hook(arg)

    return quiet


@contextlib.contextmanager
def signal_guard() -> Iterator[_SignalState]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` for the duration of the block.

    The handler raises at the next Python instruction; if that exception is swallowed (a C
    callback, a library catching ``KeyboardInterrupt``), the signal is delivered again every
    0.25 s until the caller acknowledges it with :func:`acknowledge`. Outside the main thread
    this does nothing. Handlers and ``sys.unraisablehook`` are restored on exit.

    Examples
    --------
    >>> with signal_guard() as state:
    ...     state.received is None
    True
    """
    if threading.current_thread() is not threading.main_thread() or _SIGNALS.installed:
        yield _SIGNALS
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    old_hook = sys.unraisablehook
    _SIGNALS.__init__()  # type: ignore[misc]
    _SIGNALS.installed = True
    for s in old:
        signal.signal(s, _SIGNALS.handler)
    sys.unraisablehook = _unraisable(old_hook)
    try:
        yield _SIGNALS
    finally:
        with _SIGNALS.kill_lock:
            _SIGNALS.done = True
            _SIGNALS.installed = False
        for s, h in old.items():
            signal.signal(s, h)
        sys.unraisablehook = old_hook


def acknowledge() -> int | None:
    """Stop re-delivering a received signal (the caller is exiting); return its number."""
    _SIGNALS.done = True
    return _SIGNALS.received


def stage(name: str) -> None:
    """Mark a stage of a run: a safe point for a held signal, and the tests' pause hook.

    With ``BAYESMETA_PAUSE_AT=<name>[:seconds]`` in the environment, print
    ``bayesmeta: stage <name>`` on stderr and sleep (default 60 s), so a test can send a signal
    at that stage. Stages: ``read``, ``fit``, ``figures``, ``move``.

    Examples
    --------
    >>> stage("read")  # without the environment variable: nothing visible
    """
    _SIGNALS.check()
    spec = os.environ.get("BAYESMETA_PAUSE_AT", "")
    want, _, secs = spec.partition(":")
    if want == name:
        print(f"bayesmeta: stage {name}", file=sys.stderr, flush=True)
        time.sleep(float(secs or 60))


# --------------------------------------------------------------------------- manifest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(root: Path) -> list[str]:
    """Every file (and symlink) under ``root`` as a relative POSIX path, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in list(dirnames):
            if (here / d).is_symlink():
                dirnames.remove(d)
                filenames.append(d)
        out += [(here / f).relative_to(root).as_posix() for f in filenames]
    return sorted(out)


def _write_manifest(root: Path) -> None:
    from bayesmeta._version import __version__

    files = {
        rel: {"size": (root / rel).stat().st_size, "sha256": _sha256(root / rel)}
        for rel in _files(root)
        if rel != MANIFEST
    }
    doc = {"bayesmeta_manifest": 1, "bayesmeta": __version__, "files": files}
    (root / MANIFEST).write_text(json.dumps(doc, indent=1), encoding="utf-8")


def _read_manifest(root: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        return None
    return doc


def _inspect(target: Path) -> tuple[str, list[str], list[str]]:
    """Classify ``target``: (state, edited listed files, unlisted files).

    state is ``new``, ``empty``, ``report`` (unedited), ``edited``, ``foreign`` or ``file``.
    """
    if not target.exists() and not target.is_symlink():
        return "new", [], []
    if not target.is_dir():
        return "file", [], []
    present = _files(target)
    if not present:
        return "empty", [], []
    doc = _read_manifest(target)
    if doc is None:
        return "foreign", [], [p for p in present if p != MANIFEST]
    listed: dict[str, Any] = doc["files"]
    extra = [p for p in present if p != MANIFEST and p not in listed]
    edited = []
    for rel, info in listed.items():
        p = target / rel
        if (
            not p.is_file()
            or p.stat().st_size != info.get("size")
            or _sha256(p) != info.get("sha256")
        ):
            edited.append(rel)
    return ("report" if not edited and not extra else "edited"), edited, extra


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_target(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Check that an output folder may be written at ``path``; return it resolved.

    Allowed: a new path, an empty folder, a folder holding an unedited bayesmeta output, and with
    ``force=True`` an output whose listed files were edited or which holds added files (those are
    kept). Refused, with :class:`~bayesmeta.errors.OutputError` (exit code 2): a regular file, a
    folder with files bayesmeta did not write, an edited output without ``force``, a parent that
    is a file, a path too long, a folder where no file can be made (permission, read-only file
    system: probed by making and removing an empty temporary folder).

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, "thesis.docx"), "w").write("keep me")
    >>> try:
    ...     check_target(d)
    ... except OutputError as err:
    ...     print(err.exit_code, "thesis.docx" in str(err))
    2 True
    >>> check_target(os.path.join(d, "report")).name
    'report'
    """
    p = Path(path)
    try:
        target = p.resolve()
        state, edited, extra = _inspect(target)
        for parent in target.parents:  # the nearest existing ancestor must be a writable folder
            if parent.exists() or parent.is_symlink():
                if not parent.is_dir():
                    raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(parent))
                os.rmdir(tempfile.mkdtemp(prefix=f".{target.name}{_TMP_TAG}probe-", dir=parent))
                break
    except OSError as exc:
        raise os_error(exc, p, writing=False) from None
    if state == "file":
        raise OutputError(
            "is a file, not a report folder; it is left untouched. Choose a folder path, "
            "e.g. a new name",
            path=str(p),
            cause="is a file",
            exit_code=2,
        )
    if state == "foreign":
        raise OutputError(
            f"is a folder holding files bayesmeta did not write ({_few(extra)}); they are left "
            "untouched. Choose a new or empty folder",
            path=str(p),
            cause="folder with other files",
            exit_code=2,
        )
    if state == "edited" and not force:
        what = []
        if edited:
            what.append(f"changed or missing: {_few(edited)}")
        if extra:
            what.append(f"added: {_few(extra)}")
        raise OutputError(
            f"holds a previous bayesmeta report whose files were edited ({'; '.join(what)}); "
            "nothing was changed. Choose another folder, or pass --force (force=True) to replace "
            "the report; files the report did not write are kept",
            path=str(p),
            cause="edited report",
            exit_code=2,
        )
    return target


# --------------------------------------------------------------------------- lock and swap


@contextlib.contextmanager
def _lock(target: Path, timeout: float) -> Iterator[None]:
    """Exclusive lock on ``<parent>/.<name>.bayesmeta-lock`` (flock; removed on release)."""
    lock = target.with_name(f".{target.name}{_LOCK_TAG}")
    t0 = time.monotonic()
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() - t0 > timeout:
                raise OutputError(
                    f"another bayesmeta run is writing here (lock {lock.name}); nothing was "
                    "replaced. Wait for it to finish or choose another folder",
                    path=str(target),
                    cause="locked by another run",
                    exit_code=2,
                ) from None
            time.sleep(0.02)
            continue
        try:  # the file may have been removed by the previous holder after we opened it
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _renameat2() -> Callable[[bytes, bytes], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, exchange = -100, 2

    def call(a: bytes, b: bytes) -> int:
        if fn(at_fdcwd, a, at_fdcwd, b, exchange) == 0:
            return 0
        return ctypes.get_errno()

    return call


def _exchange(a: Path, b: Path) -> None:
    """Swap two existing paths: atomically with RENAME_EXCHANGE, else by three renames."""
    fn = _renameat2()
    if fn is not None and fn(os.fsencode(a), os.fsencode(b)) == 0:
        return
    side = a.with_name(a.name + ".swap")
    os.rename(a, side)
    os.rename(b, a)
    os.rename(side, b)


def _tmpdir(target: Path) -> Path:
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{target.name}{_TMP_TAG}{os.getpid()}-", dir=target.parent)
    )
    tmp.chmod(0o777 & ~_umask())
    return tmp


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _rmtree(path: Path) -> None:
    with _held():
        shutil.rmtree(path, ignore_errors=True)
        if path.exists() or path.is_symlink():
            with contextlib.suppress(OSError):
                path.unlink()


@contextlib.contextmanager
def output_folder(
    path: str | os.PathLike[str], *, force: bool = False, lock_timeout: float = 60.0
) -> Iterator[Path]:
    """Yield a temporary folder; when the block ends normally, move it into place at ``path``.

    The target is checked first (:func:`check_target`), again under the lock before the swap.
    The new folder gets a :data:`MANIFEST`. On any exception (including an interrupt) the
    temporary folder is removed, the target is untouched, and OS errors are raised as
    :class:`~bayesmeta.errors.OutputError` (exit code 2 while preparing, 3 while writing).

    Examples
    --------
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "report")
    >>> with output_folder(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("hello")
    >>> sorted(os.listdir(out))
    ['.bayesmeta-manifest.json', 'a.txt']
    >>> with output_folder(out) as tmp:  # an unedited report is replaced
    ...     _ = (tmp / "b.txt").write_text("again")
    >>> sorted(os.listdir(out))
    ['.bayesmeta-manifest.json', 'b.txt']
    """
    target = check_target(path, force=force)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmpdir(target)
    except OSError as exc:
        raise os_error(exc, path, writing=False) from None
    try:
        try:
            yield tmp
            _write_manifest(tmp)
        except OSError as exc:
            if isinstance(exc, OutputError):  # name the user's path, not the temporary one
                msg = str(exc).replace(str(tmp), os.fspath(target))
                err = OutputError("", path=os.fspath(path), cause=exc.cause, exit_code=3)
                err.args = (msg,)
                raise err from None
            raise os_error(exc, path, writing=True) from None
        stage("move")
        _commit(tmp, target, path, force=force, lock_timeout=lock_timeout)
    finally:  # the unused new folder, or the previous output after the swap
        _rmtree(tmp)


def _commit(
    tmp: Path, target: Path, shown: str | os.PathLike[str], *, force: bool, lock_timeout: float
) -> None:
    try:
        with _lock(target, lock_timeout):
            check_target(shown, force=force)  # again: another run may have written meanwhile
            _remove_stale(target)
            state, _, extra = _inspect(target)
            with _held():
                if state == "edited":  # force: carry the files the report did not write over
                    for rel in extra:
                        dst = tmp / rel
                        if dst.exists() or dst.is_symlink():
                            raise OutputError(
                                f"{rel} was added to the previous report and the new report "
                                "writes a file of that name; move it away and run again",
                                path=str(shown),
                                cause="name clash",
                                exit_code=2,
                            )
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        os.rename(target / rel, dst)
                if state in ("report", "empty", "edited"):
                    _exchange(tmp, target)  # tmp now holds the previous output
                else:
                    os.rename(tmp, target)
                if _SIGNALS.received is not None and not _SIGNALS.done:
                    # interrupted while moving into place: put the previous output back
                    if state in ("report", "empty", "edited"):
                        _exchange(tmp, target)
                        if state == "edited":
                            for rel in extra:
                                os.rename(tmp / rel, target / rel)
                    else:
                        os.rename(target, tmp)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise os_error(exc, shown, writing=True) from None
    _SIGNALS.check()


#: Age (seconds) after which a temporary folder of a process that no longer exists is removed.
_STALE_AFTER = 3600.0


def _remove_stale(target: Path) -> None:
    """Remove temporary folders of this target left by runs that were killed (SIGKILL)."""
    for p in target.parent.glob(f".{glob_escape(target.name)}{_TMP_TAG}*"):
        m = re.fullmatch(rf"\.{re.escape(target.name)}{re.escape(_TMP_TAG)}(\d+)-\w+", p.name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if time.time() - p.lstat().st_mtime < _STALE_AFTER:
                continue  # recent: perhaps a live run on another machine sharing the folder
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            _rmtree(p)
        except OSError:
            continue


def replace_file(
    path: str | os.PathLike[str],
    write: Callable[[Path], object],
    *,
    may_replace: Callable[[Path], bool],
    what: str,
) -> Path:
    """Write one file atomically: ``write(tmp)`` to a temporary sibling, then rename it to ``path``.

    An existing ``path`` is replaced only if ``may_replace(path)`` is true (e.g. it is a bayesmeta
    result); otherwise :class:`~bayesmeta.errors.OutputError` (exit code 2) and the file is left
    untouched. OS errors are mapped as in :func:`output_folder`.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> _ = replace_file(p, lambda t: t.write_text("v1"), may_replace=lambda q: False, what="x")
    >>> try:
    ...     replace_file(p, lambda t: t.write_text("v2"), may_replace=lambda q: False, what="x")
    ... except OutputError as err:
    ...     print(err.exit_code, open(p).read())
    2 v1
    """
    p = Path(path)
    try:
        if p.exists() or p.is_symlink():
            if p.is_dir() or not may_replace(p):
                raise OutputError(
                    f"exists and is not {what}; it is left untouched. Choose another file name",
                    path=str(p),
                    cause="exists",
                    exit_code=2,
                )
        fd, name = tempfile.mkstemp(prefix=f".{p.name}{_TMP_TAG}", dir=p.parent or ".")
        os.close(fd)
    except OutputError:
        raise
    except OSError as exc:
        raise os_error(exc, p, writing=False) from None
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, p.stat().st_mode & 0o7777 if p.exists() else 0o666 & ~_umask())
        with _held():
            os.replace(tmp, p)
    except OSError as exc:
        with _held():
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OutputError):
            raise
        raise os_error(exc, p, writing=True) from None
    except BaseException:
        with _held():
            tmp.unlink(missing_ok=True)
        raise
    return p


# --------------------------------------------------------------------------- CSV


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Prefix a text cell a spreadsheet would run as a formula with ``'``; leave the rest.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    apostrophe (the usual rule against CSV formula injection), unless the whole text is a plain
    number such as ``-0.5``. Numbers and other values are returned unchanged.

    Examples
    --------
    >>> spreadsheet_safe("=HYPERLINK(1)"), spreadsheet_safe("-0.5"), spreadsheet_safe(-0.5)
    ("'=HYPERLINK(1)", '-0.5', -0.5)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            if math.isfinite(float(value)):
                return value
        except ValueError:
            pass
        return "'" + value
    return value


def write_csv(frame: Any, path: str | os.PathLike[str]) -> None:
    """Write a DataFrame as CSV (no index) with text cells made :func:`spreadsheet_safe`.

    Column names are treated like text cells; numeric columns are written as pandas writes them.

    Examples
    --------
    >>> import io, pandas as pd
    >>> buf = io.StringIO()
    >>> write_csv(pd.DataFrame({"study": ["=1+1", "Smith"], "yi": [-0.2, 0.1]}), buf)
    >>> print(buf.getvalue().strip())
    study,yi
    '=1+1,-0.2
    Smith,0.1
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) in ("string", "str"):
            out[col] = out[col].map(spreadsheet_safe)
    out.columns = [spreadsheet_safe(str(c)) for c in out.columns]
    out.to_csv(path, index=False)
