"""Atomic file output: a crash never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

__all__ = ["atomic_path", "atomic_write"]


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
