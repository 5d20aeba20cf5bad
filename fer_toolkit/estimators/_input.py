"""Turning image batches into the (n, C, H, W) arrays a CNN consumes."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from ..utils.validation import InputError

__all__ = ["as_model_input", "as_nchw"]

_CHANNELS = (1, 3)


def _stack(X) -> np.ndarray:
    first = np.asarray(X[0]).shape
    for i, image in enumerate(X):
        if isinstance(image, (str, bytes, os.PathLike)):
            raise TypeError(f"X[{i}] is a file path; put an ImageReader step before the CNN.")
        shape = np.asarray(image).shape
        if shape != first:
            raise InputError(
                f"X[{i}] has shape {shape} but X[0] has shape {first}: a CNN needs images of "
                "one size; put a Resize step before it."
            )
    return np.stack([np.asarray(image) for image in X])


def as_nchw(X, name: str = "X") -> np.ndarray:
    """Return a batch of images as a C-contiguous ``(n, C, H, W)`` array.

    Parameters
    ----------
    X : array-like
        ``(n, H, W)``, ``(n, H, W, C)`` or ``(n, C, H, W)`` with ``C`` in {1, 3}
        (channels-last is recognised first), or a list of equally sized images.
        ``uint8`` pixels are kept as ``uint8`` (the estimator scales them by
        1/255 on the device, batch by batch, so host memory and transfers stay
        small); any float input is kept as ``float32`` values, standardised or
        not.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    X : ndarray of uint8 or float32, shape (n, C, H, W)

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.estimators._input import as_nchw
    >>> as_nchw(np.zeros((5, 48, 48), dtype=np.uint8)).shape
    (5, 1, 48, 48)
    >>> as_nchw(np.zeros((5, 48, 40, 3), dtype=np.float64)).dtype
    dtype('float32')
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} is a file path; put an ImageReader step before the CNN.")
    if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype == object):
        if len(X) == 0:
            raise InputError(f"{name} is empty: got 0 images.")
        X = _stack(X)
    X = np.asarray(X)
    if X.ndim == 3:
        X = X[:, np.newaxis]
    elif X.ndim == 4 and X.shape[-1] in _CHANNELS:
        X = X.transpose(0, 3, 1, 2)
    elif not (X.ndim == 4 and X.shape[1] in _CHANNELS):
        raise InputError(
            f"{name} has shape {X.shape}; expected images (n, H, W), (n, H, W, C) or "
            "(n, C, H, W) with C = 1 or 3."
        )
    if X.shape[0] == 0:
        raise InputError(f"{name} is empty: got a batch of shape {X.shape}.")
    if X.dtype == np.uint8:
        return np.ascontiguousarray(X)
    if X.dtype.kind != "f":
        raise TypeError(
            f"{name} has dtype {X.dtype}; expected uint8 pixels or floating point values."
        )
    X = np.ascontiguousarray(X, dtype=np.float32)
    finite = np.isfinite(X).reshape(len(X), -1).all(axis=1)
    if not finite.all():
        raise InputError(f"{name}[{int(np.argmin(finite))}] contains NaN or infinite values.")
    return X


def as_model_input(X, name: str = "X"):
    """:func:`as_nchw` for one batch; per key for a dict of batches (several images per sample).

    A network with several image inputs, such as the prior-attention
    network (face, eye block, mouth block), takes a dict (or a
    :class:`skorch.helper.SliceDict`) of batches, one image per sample under
    every key; skorch passes the keys as keyword arguments of ``forward``.

    Parameters
    ----------
    X : array-like or mapping of str to array-like
        One batch of images (see :func:`as_nchw`), or a non-empty mapping of
        such batches, all with the same number of images. Sizes and dtypes
        may differ between keys.
    name : str, default="X"
        Name used in error messages; a key's batch is named ``X['eyes']``.

    Returns
    -------
    X : ndarray of shape (n, C, H, W), or dict of str to such ndarrays
        A dict keeps the keys' order.

    Raises
    ------
    TypeError
        A key is not a string, or a batch has an unsupported type or dtype.
    ValueError
        The mapping is empty, a batch has the wrong shape, or the batches hold
        different numbers of images; the message names the key.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.estimators._input import as_model_input
    >>> X = {"face": np.zeros((5, 48, 48), np.uint8), "eyes": np.zeros((5, 16, 40), np.uint8)}
    >>> {key: batch.shape for key, batch in as_model_input(X).items()}
    {'face': (5, 1, 48, 48), 'eyes': (5, 1, 16, 40)}
    >>> as_model_input({"face": np.zeros((5, 48, 48)), "eyes": np.zeros((4, 16, 40))})
    Traceback (most recent call last):
        ...
    fer_toolkit.utils.validation.InputError: X['eyes'] holds 4 images but X['face'] holds 5: ...
    """
    if not isinstance(X, Mapping):
        return as_nchw(X, name)
    if not X:
        raise InputError(
            f"{name} is an empty dict; expected image batches by name, such as "
            "'face', 'eyes' and 'mouth'."
        )
    batches = {}
    for key, value in X.items():
        if not isinstance(key, str):
            raise TypeError(
                f"{name} has the key {key!r}; keys must be strings (they name the "
                "network's inputs)."
            )
        batches[key] = as_nchw(value, f"{name}[{key!r}]")
    first, *others = batches
    for key in others:
        if len(batches[key]) != len(batches[first]):
            raise InputError(
                f"{name}[{key!r}] holds {len(batches[key])} images but {name}[{first!r}] "
                f"holds {len(batches[first])}: one image per sample and key."
            )
    return batches
