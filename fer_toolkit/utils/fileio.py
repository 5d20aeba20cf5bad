"""Atomic file output and output-folder locks: a crash never leaves a half-written file."""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path

__all__ = [
    "atomic_path",
    "atomic_write",
    "file_lock",
    "folder_lock",
    "printable_path",
    "remove_stale_temporaries",
    "replaced_folder",
]

# The names atomic_path gives its temporary files: .<name>.<8 hex digits>.tmp<suffix>
_TEMPORARY_NAME = re.compile(r"\.(.+)\.[0-9a-f]{8}\.tmp(?:\.[^.]*)?", re.DOTALL)


def printable_path(path: str | os.PathLike) -> str:
    """``path`` as text that any UTF-8 file can hold: undecodable bytes become ``\\xNN``.

    A file name that is not valid UTF-8 reaches Python with "surrogate escapes"
    (PEP 383), which a UTF-8 file refuses. This keeps every valid name as it is
    and writes each byte that is not UTF-8 as a four-character escape, the way
    Python's ``backslashreplace`` does, so two different names stay different.

    Examples
    --------
    >>> import os
    >>> from fer_toolkit.utils.fileio import printable_path
    >>> printable_path("photos/été.png"), printable_path(os.fsdecode(b"caf\\xe9.png"))
    ('photos/été.png', 'caf\\\\xe9.png')
    """
    text = os.fspath(path)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success.

    Use it with writers that want a file name (``np.save``, ``fig.savefig``,
    ``joblib.dump``). The temporary file keeps the final suffix so writers that
    pick a format from the extension still work. If the body raises (or is
    interrupted), the temporary file is removed and ``path`` is left untouched.

    On success the data is flushed to disk before the rename, and the file gets
    the permissions of the file it replaces, or the usual ones for a new file
    (``0o666`` less the umask), like a file written with :func:`open`.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.utils.fileio import atomic_path
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_path(target) as tmp:
    ...     _ = open(tmp, "w").write("done")
    >>> open(target).read()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = str(path.parent / f".{path.name}.{os.urandom(4).hex()}.tmp{path.suffix}")
        try:
            # Not tempfile.mkstemp: its 0o600 mode would end up on the final file.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        break
    try:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _fsync(path: str) -> None:
    """Flush a file's data to disk, so a crash after the rename cannot leave it empty."""
    # Windows flushes only handles opened for writing.
    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs):
    """Open a temporary file beside ``path`` for writing; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.
    mode : {"w", "wb"}, default="w"
        Text or binary mode.
    **kwargs
        Passed to :func:`open` (``encoding``, ``newline``...).

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.utils.fileio import atomic_write
    >>> target = os.path.join(tempfile.mkdtemp(), "table.csv")
    >>> with atomic_write(target, newline="") as f:
    ...     _ = f.write("a,b\\n")
    >>> open(target).read()
    'a,b\\n'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}.")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def remove_stale_temporaries(folder: str | os.PathLike, names=None) -> int:
    """Delete the temporary files :func:`atomic_path` left in ``folder`` (recursively).

    A process killed while writing (SIGKILL, power loss) cannot remove its
    temporary file. Call this only while no other process writes into
    ``folder`` (or, with ``names``, into those files), e.g. under
    :func:`folder_lock` or :func:`file_lock`.

    Parameters
    ----------
    folder : str or os.PathLike
        Where to look.
    names : collection of str or None, default=None
        Only the temporaries of these file names, directly in ``folder``
        (``None``: every temporary, in sub-folders too).

    Returns
    -------
    n_removed : int
        How many files were deleted.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.utils.fileio import remove_stale_temporaries
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, ".a.png.0123abcd.tmp.png"), "w")
    >>> _ = open(os.path.join(folder, "a.png"), "w")
    >>> remove_stale_temporaries(folder), os.listdir(folder)
    (1, ['a.png'])
    """
    removed = 0
    for root, dirs, files in os.walk(folder):
        if names is not None:
            dirs.clear()
        for name in files:
            match = _TEMPORARY_NAME.fullmatch(name)
            if match and (names is None or match[1] in names):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(root, name))
                    removed += 1
    return removed


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on open file ``fd`` without waiting; False if another holds it."""
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "another process"):
    """Hold an exclusive lock on ``folder`` (its file ``.lock``) for the duration of the block.

    The lock belongs to the open file, so the operating system releases it
    when the process dies, however it dies: a crash never leaves a folder
    locked. The lock file is removed on leaving the block.

    Parameters
    ----------
    folder : str or os.PathLike
        Created if needed.
    what : str, default="another process"
        Names the likely holder in the error message.

    Raises
    ------
    BlockingIOError
        At once (no waiting) when another process or another open of the
        same folder holds the lock.
    NotADirectoryError
        When ``folder`` is a file.

    Examples
    --------
    >>> import tempfile
    >>> from fer_toolkit.utils.fileio import folder_lock
    >>> folder = tempfile.mkdtemp()
    >>> with folder_lock(folder):
    ...     with folder_lock(folder):
    ...         pass
    Traceback (most recent call last):
    ...
    BlockingIOError: ... is in use by another process ...
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"output folder {str(folder)!r} exists and is a file.")
    folder.mkdir(parents=True, exist_ok=True)
    with _held(folder / ".lock", folder, what):
        yield


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, what: str = "another process"):
    """Hold an exclusive lock on output ``path`` (a file or folder) for the block.

    The lock is the sibling file ``.<name>.lock``, so ``path`` itself may be
    created, renamed or replaced while it is held (see :func:`replaced_folder`).
    Same guarantees as :func:`folder_lock`: released by the operating system
    when the process dies, removed on leaving the block.

    Raises
    ------
    BlockingIOError
        At once when another process holds the lock.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.utils.fileio import file_lock
    >>> target = os.path.join(tempfile.mkdtemp(), "backbone.pt")
    >>> with file_lock(target):
    ...     with file_lock(target, "a test"):
    ...         pass
    Traceback (most recent call last):
    ...
    BlockingIOError: ... is in use by a test ...
    """
    path = Path(os.path.abspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    with _held(path.parent / f".{path.name}.lock", path, what):
        yield


@contextlib.contextmanager
def _held(path: Path, target: Path, what: str):
    """Lock file ``path`` (created, removed at the end) standing for ``target``."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        if not _try_lock(fd):
            os.close(fd)
            raise BlockingIOError(
                f"{str(target)!r} is in use by {what} (it holds {path.name}); wait for it to "
                "finish or use another output folder."
            )
        try:  # the file may have been unlinked by a holder that just finished
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(current, os.fstat(fd)):
            break
        os.close(fd)
    try:
        yield
    finally:
        # Removed while still locked, so that an opener racing with us sees it gone and
        # retries. Windows cannot remove an open file: there the file stays, harmlessly.
        with contextlib.suppress(OSError):
            os.remove(path)
        os.close(fd)


# Sibling folders of replaced_folder: being written / complete, not yet in place / replaced.
_STAGING, _READY, _OLD = "staging", "ready", "old"


def _siblings(folder: Path, kind: str) -> list[Path]:
    pattern = re.compile(re.escape(f".{folder.name}.") + r"[0-9a-f]{8}\." + kind, re.DOTALL)
    if not folder.parent.is_dir():
        return []
    return sorted(p for p in folder.parent.iterdir() if pattern.fullmatch(p.name))


def _install(ready: Path, folder: Path) -> None:
    """Put complete folder ``ready`` in place of ``folder``, keeping what only ``folder`` has.

    Every step is a rename on one file system; a crash between two steps is
    finished by the next :func:`_recover` (the state is always one of: ``ready``
    complete beside ``folder``; ``ready`` and ``old``; ``folder`` and ``old``).
    """
    if folder.is_dir():
        for entry in folder.iterdir():  # files the run does not write (e.g. model/test/)
            if entry.name != ".lock" and not (ready / entry.name).exists():
                os.replace(entry, ready / entry.name)
        old = folder.parent / ready.name.replace(f".{_READY}", f".{_OLD}")
        os.replace(folder, old)
    os.replace(ready, folder)
    for old in _siblings(folder, _OLD):
        _remove_tree(old)


def _remove_tree(path: Path) -> None:
    """Remove a folder and what it holds, ignoring errors."""
    import shutil  # here: it imports bz2 and lzma, which no command needs at start-up

    shutil.rmtree(path, ignore_errors=True)


def _recover(folder: Path) -> None:
    """Finish or undo what a run killed inside :func:`replaced_folder` left beside ``folder``."""
    for staging in _siblings(folder, _STAGING):
        _remove_tree(staging)
    ready = _siblings(folder, _READY)
    if ready:
        if not folder.exists():  # killed between the two renames: the previous is in .old
            for old in _siblings(folder, _OLD):
                for entry in old.iterdir():
                    if not (ready[-1] / entry.name).exists():
                        os.replace(entry, ready[-1] / entry.name)
        _install(ready[-1], folder)
    for old in _siblings(folder, _OLD):
        _remove_tree(old)


@contextlib.contextmanager
def replaced_folder(folder: str | os.PathLike, what: str = "another process"):
    """Lock output ``folder`` and yield an empty staging folder that replaces it on success.

    Everything the block writes goes to the staging folder (a hidden sibling,
    ``.<name>.<hex>.staging``). When the block ends normally, the staging
    folder takes the place of ``folder`` by renames; entries of the previous
    ``folder`` that the new one lacks (e.g. an evaluation written into a
    model folder) are moved across. When the block raises (an error, Ctrl-C)
    the staging folder is deleted and ``folder`` is untouched. A process
    killed at any point leaves either the previous complete folder or the new
    complete one (possibly still under its hidden name): the next
    ``replaced_folder`` on the same path finishes the swap or removes the
    leftovers before it starts.

    Parameters
    ----------
    folder : str or os.PathLike
        The output folder; its parent is created if needed.
    what : str, default="another process"
        Names the likely holder of the lock in the error message.

    Raises
    ------
    BlockingIOError
        At once when another process holds the lock (:func:`file_lock`).
    NotADirectoryError
        When ``folder`` is a file.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.utils.fileio import replaced_folder
    >>> folder = os.path.join(tempfile.mkdtemp(), "model")
    >>> with replaced_folder(folder) as staging:
    ...     _ = open(os.path.join(staging, "model.json"), "w").write("{}")
    >>> os.listdir(folder)
    ['model.json']
    """
    folder = Path(os.path.realpath(folder))  # a symbolic link: replace what it points to
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"output folder {str(folder)!r} exists and is a file.")
    with file_lock(folder, what):
        _recover(folder)
        token = os.urandom(4).hex()
        staging = folder.parent / f".{folder.name}.{token}.{_STAGING}"
        staging.mkdir()
        try:
            yield staging
        except BaseException:
            _remove_tree(staging)
            raise
        ready = staging.with_name(f".{folder.name}.{token}.{_READY}")
        os.replace(staging, ready)
        _install(ready, folder)
