"""Validation of image batches shared by every estimator in fer_toolkit.

A *batch* ``X`` is one of

* an ndarray ``(n, H, W)`` (grayscale) or ``(n, H, W, C)`` with ``C`` in {1, 3};
* a sequence (list, tuple or object ndarray) of ``(H, W)`` / ``(H, W, C)`` arrays
  whose sizes may differ.

Pixels are ``uint8`` in 0-255 or floating point in [0, 1] (scikit-image's
convention). Colour images are RGB. Anything else is rejected with a message
that names the offending image by its position in the batch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np

__all__ = [
    "InputError",
    "check_image",
    "check_images",
    "check_int",
    "check_paths",
    "check_real",
    "check_size",
    "stack_images",
]

_FLOAT_KINDS = "f"


class InputError(ValueError):
    """A file or value given to fer_toolkit is wrong; the message names it.

    Raised wherever fer_toolkit rejects its input: a malformed file (CSV, model
    folder, weights, cascade XML, ``.vec``), an image batch of the wrong shape,
    a parameter out of range. The command line prints it as one ``Error: ...``
    line; other exceptions are bugs and keep their traceback. A ``ValueError``,
    so code that catches those keeps working.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.utils.validation import InputError, check_image
    >>> try:
    ...     check_image(np.zeros((4, 5, 2), dtype=np.uint8))
    ... except InputError as exc:
    ...     print(isinstance(exc, ValueError), str(exc).split(";")[0])
    True X has shape (4, 5, 2) with 2 channels
    """


def _describe(index: int | None, name: str) -> str:
    return name if index is None else f"{name}[{index}]"


def check_image(image, *, index: int | None = None, name: str = "X") -> np.ndarray:
    """Validate one image and return it as an ndarray (no copy when possible).

    Parameters
    ----------
    image : array-like of shape (H, W) or (H, W, C)
        The image. ``C`` must be 1 or 3 (RGB).
    index : int or None, default=None
        Position of the image in its batch, used in error messages.
    name : str, default="X"
        Name of the batch, used in error messages.

    Returns
    -------
    image : ndarray
        ``uint8`` or floating point, 2-D or 3-D.

    Raises
    ------
    TypeError
        If the image is a path, or of an unsupported dtype.
    ValueError
        If its shape, channel count or value range is not supported.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.utils.validation import check_image
    >>> check_image(np.zeros((4, 5), dtype=np.uint8)).shape
    (4, 5)
    """
    where = _describe(index, name)
    if isinstance(image, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{where} is a file path ({image!r}), not an image array; "
            "put an ImageReader step first to read paths."
        )
    image = np.asarray(image)
    if image.dtype == object:
        raise TypeError(f"{where} has dtype object; expected uint8 or float pixels.")
    if image.ndim not in (2, 3):
        raise InputError(f"{where} has shape {image.shape}; an image must be (H, W) or (H, W, C).")
    if image.ndim == 3 and image.shape[2] not in (1, 3):
        if image.shape[2] == 4:
            hint = " (RGBA: read it with ImageReader, which composites or drops alpha)"
        elif image.shape[0] in (1, 3, 4):
            hint = " (channels first? use np.moveaxis(image, 0, -1))"
        else:
            hint = ""
        raise InputError(
            f"{where} has shape {image.shape} with {image.shape[2]} channels; "
            f"expected 1 (grayscale) or 3 (RGB){hint}."
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"{where} has shape {image.shape}: an image cannot be empty.")
    if image.dtype == np.uint8:
        return image
    if image.dtype.kind == _FLOAT_KINDS:
        lo, hi = float(np.min(image)), float(np.max(image))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise InputError(f"{where} contains NaN or infinite values.")
        if lo < 0.0 or hi > 1.0:
            raise InputError(
                f"{where} is a float image with values in [{lo:g}, {hi:g}]; float images "
                "must lie in [0, 1] (divide uint8 pixels by 255, or use Rescale)."
            )
        return image
    if image.dtype == np.uint16:
        raise TypeError(
            f"{where} is a 16-bit image; convert it to uint8 (ImageReader scales 16-bit files "
            "by 255/65535) or to float in [0, 1]."
        )
    raise TypeError(
        f"{where} has dtype {image.dtype}; expected uint8 (0-255) or float (0-1) pixels."
    )


def check_images(X, *, name: str = "X") -> list[np.ndarray]:
    """Validate a batch of images and return it as a list of per-image arrays.

    Parameters
    ----------
    X : ndarray of shape (n, H, W) or (n, H, W, C), or sequence of arrays
        The batch. Sequences may hold images of different sizes.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    images : list of ndarray
        Views into ``X`` where possible; never copies of the pixel data.

    Raises
    ------
    ValueError
        If the batch is empty, a bare single image, or any image is invalid
        (the message names the image's index).

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.utils.validation import check_images
    >>> len(check_images(np.zeros((3, 48, 48), dtype=np.uint8)))
    3
    >>> [im.shape for im in check_images([np.zeros((2, 3)), np.zeros((4, 5, 3))])]
    [(2, 3), (4, 5, 3)]
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{name} is a single file path ({X!r}); pass a list of images, or a list of "
            "paths to an ImageReader step."
        )
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim not in (3, 4):
            hint = " (a single image? use X[np.newaxis])" if X.ndim == 2 else ""
            raise InputError(
                f"{name} has shape {X.shape}; expected a batch of shape (n, H, W) or "
                f"(n, H, W, C){hint}."
            )
        if X.shape[0] == 0:
            raise InputError(f"{name} is empty: got a batch of shape {X.shape}.")
        # One image checks dtype and channels for all; the range check is vectorised.
        check_image(X[0], index=0, name=name)
        _check_batch_range(X, name)
        return list(X)
    if not isinstance(X, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be an ndarray or a list of images; got {type(X).__name__}.")
    if len(X) == 0:
        raise InputError(f"{name} is empty: got 0 images.")
    return [check_image(image, index=i, name=name) for i, image in enumerate(X)]


def _check_batch_range(X: np.ndarray, name: str) -> None:
    """Range-check a float batch and name the first image out of range."""
    if X.dtype.kind != _FLOAT_KINDS:
        return
    axes = tuple(range(1, X.ndim))
    lo = X.min(axis=axes)
    hi = X.max(axis=axes)
    bad = np.flatnonzero(~np.isfinite(lo) | ~np.isfinite(hi) | (lo < 0) | (hi > 1))
    if bad.size:
        check_image(X[bad[0]], index=int(bad[0]), name=name)


def check_paths(X, *, name: str = "X") -> list[str]:
    """Validate a batch of image file paths.

    Parameters
    ----------
    X : sequence of str or os.PathLike
        Paths to image files.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    paths : list of str

    Examples
    --------
    >>> from fer_toolkit.utils.validation import check_paths
    >>> check_paths(["a.png", "b.jpg"])
    ['a.png', 'b.jpg']
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} is a single path ({X!r}); pass a list of paths.")
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise InputError(f"{name} has shape {X.shape}; expected a 1-D list of paths.")
    try:
        n = len(X)
    except TypeError:
        raise TypeError(f"{name} must be a list of file paths; got {type(X).__name__}.") from None
    if n == 0:
        raise InputError(f"{name} is empty: got 0 paths.")
    paths = []
    for i, path in enumerate(X):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"{name}[{i}] is a {type(path).__name__}, not a file path; ImageReader reads "
                "paths (pass arrays straight to the next step)."
            )
        paths.append(os.fspath(path))
    return paths


def stack_images(images: Sequence[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """Stack images into one ndarray when they share shape and dtype, else keep a list.

    Raises
    ------
    ValueError
        If ``images`` is empty.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.utils.validation import stack_images
    >>> stack_images([np.zeros((2, 2)), np.ones((2, 2))]).shape
    (2, 2, 2)
    >>> type(stack_images([np.zeros((2, 2)), np.ones((3, 2))])).__name__
    'list'
    """
    if len(images) == 0:
        raise InputError("stack_images needs at least one image; got 0.")
    first = images[0]
    if all(im.shape == first.shape and im.dtype == first.dtype for im in images):
        return np.stack(images)
    return list(images)


def check_size(size, name: str = "size", order: str = "(height, width)") -> tuple[int, int]:
    """Return a size as a pair of positive ints; a single int means a square.

    Parameters
    ----------
    size : int or pair of int
        The size to check.
    name : str, default="size"
        Parameter name used in the error message.
    order : str, default="(height, width)"
        How the pair is read, for the error message (OpenCV's window sizes are
        ``(width, height)``).

    Examples
    --------
    >>> from fer_toolkit.utils.validation import check_size
    >>> check_size(48), check_size((64, 32))
    ((48, 48), (64, 32))
    """
    if isinstance(size, Integral) and not isinstance(size, bool):
        size = (size, size)
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        raise InputError(f"{name} must be a positive int or a {order} pair; got {size!r}.")
    return int(size[0]), int(size[1])


def check_int(value, name: str, low: int = 1, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]``; errors name the parameter.

    Parameters
    ----------
    value : int
        The value to check; ``bool`` and floats are refused, even ``2.0``.
    name : str
        Parameter name used in the error message.
    low : int, default=1
        Smallest allowed value.
    high : int or None, default=None
        Largest allowed value; None for no upper bound.

    Returns
    -------
    value : int

    Raises
    ------
    TypeError
        If ``value`` is not an int.
    InputError
        If it lies outside ``[low, high]`` (a ``ValueError``).

    Examples
    --------
    >>> from fer_toolkit.utils.validation import check_int
    >>> check_int(3, "num_stages")
    3
    >>> check_int(300, "bg_color", 0, 255)
    Traceback (most recent call last):
        ...
    fer_toolkit.utils.validation.InputError: bg_color must be an int in [0, 255]; got 300.
    """
    bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int {bounds}; got {value!r}.")
    if value < low or (high is not None and value > high):
        raise InputError(f"{name} must be an int {bounds}; got {value!r}.")
    return int(value)


def check_real(
    value, name: str, low: float = -math.inf, high: float = math.inf, *, high_inclusive=True
) -> float:
    """Return ``value`` as a finite float in ``[low, high]``; errors name the parameter.

    Parameters
    ----------
    value : float
        The value to check; ``bool`` and strings are refused.
    name : str
        Parameter name used in the error message.
    low : float, default=-inf
        Smallest allowed value (inclusive).
    high : float, default=inf
        Largest allowed value.
    high_inclusive : bool, default=True
        Whether ``high`` itself is allowed.

    Returns
    -------
    value : float

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    InputError
        If it is not finite or lies outside the bounds (a ``ValueError``).

    Examples
    --------
    >>> from fer_toolkit.utils.validation import check_real
    >>> check_real(30, "rotation", 0, 180)
    30.0
    >>> check_real(1.0, "zoom", 0, 1, high_inclusive=False)
    Traceback (most recent call last):
        ...
    fer_toolkit.utils.validation.InputError: zoom must be a finite number in [0, 1); got 1.0.
    """
    if math.isinf(low) and math.isinf(high):
        bounds = ""
    elif math.isinf(high):
        bounds = f" >= {low:g}"
    else:
        bounds = f" in [{low:g}, {high:g}{']' if high_inclusive else ')'}"
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a finite number{bounds}; got {value!r}.")
    number = float(value)
    inside = low <= number <= high if high_inclusive else low <= number < high
    if not (math.isfinite(number) and inside):
        raise InputError(f"{name} must be a finite number{bounds}; got {value!r}.")
    return number
