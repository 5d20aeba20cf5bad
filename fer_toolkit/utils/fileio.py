"""Atomic file output and output-folder locks: a crash never leaves a half-written file."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "folder_lock", "remove_stale_temporaries"]

# The names atomic_path gives its temporary files: .<name>.<8 hex digits>.tmp<suffix>
_TEMPORARY_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp(\.[^.]*)?", re.DOTALL)


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
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
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


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete the temporary files :func:`atomic_path` left in ``folder`` (recursively).

    A process killed while writing (SIGKILL, power loss) cannot remove its
    temporary file. Call this only while no other process writes into
    ``folder``, e.g. under :func:`folder_lock`.

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
    for root, _, files in os.walk(folder):
        for name in files:
            if _TEMPORARY_NAME.fullmatch(name):
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
    path = folder / ".lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        if not _try_lock(fd):
            os.close(fd)
            raise BlockingIOError(
                f"{str(folder)!r} is in use by {what} (it holds {path.name}); wait for it to "
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
