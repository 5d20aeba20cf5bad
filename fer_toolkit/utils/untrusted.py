"""Reading files that may come from anyone: nothing in them is ever executed.

PyTorch files are read with ``torch.load(weights_only=True)``, whose restricted
unpickler builds tensors and plain containers only; any other pickled object
(a payload that would run code) is refused, and every failure becomes one
:class:`~fer_toolkit.utils.validation.InputError` line naming the file.
"""

from __future__ import annotations

import os
import pickle
import re

from .validation import InputError

__all__ = ["torch_load_plain"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def torch_load_plain(path, what: str = "PyTorch file"):
    """``torch.load(path, weights_only=True, map_location="cpu")`` with one-line errors.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.
    what : str, default="PyTorch file"
        What the file should be, for the messages (``"weights file"``...).

    Returns
    -------
    object
        Tensors, numbers, strings and containers of them.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        As :func:`open`.
    InputError
        The file is empty, not a PyTorch file, or holds pickled objects other
        than tensors and plain values (never unpickled); the message names it.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from fer_toolkit.utils.untrusted import torch_load_plain
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
    >>> torch.save({"w": torch.ones(2)}, path)
    >>> torch_load_plain(path)["w"].tolist()
    [1.0, 1.0]
    >>> _ = open(path, "w").write("not weights")
    >>> torch_load_plain(path, "weights file")
    Traceback (most recent call last):
    ...
    fer_toolkit.utils.validation.InputError: ...w.pt: not a weights file: not a PyTorch save file...
    """
    import torch

    path = os.fspath(path)
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise InputError(f"{path}: the {what} is empty.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found:
            raise InputError(
                f"{path}: not a plain {what}: it holds pickled objects ({found[1]}), which are "
                "not loaded since loading them could run code."
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(exc))
        reason = f" ({detail[1].strip()})" if detail else ""
        raise InputError(f"{path}: not a {what}: not a PyTorch save file{reason}.") from None
    except Exception as exc:  # whatever torch makes of a foreign file
        raise InputError(
            f"{path}: not a {what} ({type(exc).__name__}: {_first_line(exc)})."
        ) from None
