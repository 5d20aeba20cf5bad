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
from collections.abc import Mapping
from numbers import Integral, Real

from .validation import InputError

__all__ = ["plain_data", "torch_load_plain"]


def plain_data(value, what: str = "value"):
    """A copy of ``value`` made of JSON data only, for files read back without pickle.

    Numbers become ``int`` / ``float`` (numpy scalars too), tuples become
    lists; mappings need string keys. Arrays are refused: pass ``.tolist()``.

    Parameters
    ----------
    value : object
        Numbers, strings, booleans, None, and lists, tuples and mappings of them.
    what : str, default="value"
        Name of ``value`` in the error message.

    Returns
    -------
    data : object
        The same data as plain Python objects, ready for ``json.dump``.

    Raises
    ------
    TypeError
        If ``value`` holds anything else (an object that could carry behaviour).

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.utils.untrusted import plain_data
    >>> plain_data({"image_size": (48, 48), "width": np.int64(8), "mean": np.float32(0.5)})
    {'image_size': [48, 48], 'width': 8, 'mean': 0.5}
    >>> plain_data({"width": np.ones(2)}, "model_kwargs")
    Traceback (most recent call last):
        ...
    TypeError: model_kwargs must hold plain values (numbers, strings, lists, dicts) ...
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [plain_data(item, what) for item in value]
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return {key: plain_data(item, what) for key, item in value.items()}
    raise TypeError(
        f"{what} must hold plain values (numbers, strings, lists, dicts) to be saved "
        f"without pickle; got {value!r}."
    )


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
