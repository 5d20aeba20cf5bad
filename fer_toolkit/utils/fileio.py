"""Atomic file output: a crash never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "atomic_write"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success.

    Use it with writers that want a file name (``np.save``, ``fig.savefig``,
    ``joblib.dump``). The temporary file keeps the final suffix so writers that
    pick a format from the extension still work.

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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
