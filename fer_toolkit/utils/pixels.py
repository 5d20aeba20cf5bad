"""Pixel conversions shared by transformers and detectors (a functional core, no state)."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["to_gray", "to_uint8"]

#: ITU-R BT.601 luma weights, as OpenCV's ``COLOR_RGB2GRAY`` and FER2013 use.
_LUMA = (0.299, 0.587, 0.114)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Return a uint8 image unchanged, or a [0, 1] float image scaled by 255 and rounded.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.utils.pixels import to_uint8
    >>> to_uint8(np.array([[0.0, 0.5, 1.0]]))
    array([[  0, 128, 255]], dtype=uint8)
    """
    if image.dtype == np.uint8:
        return image
    return np.rint(image * 255.0).astype(np.uint8)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Return a ``(H, W)`` grayscale image with the input's dtype (BT.601 weights).

    ``(H, W)`` passes through and ``(H, W, 1)`` loses its channel axis.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.utils.pixels import to_gray
    >>> int(to_gray(np.full((1, 1, 3), (255, 0, 0), dtype=np.uint8))[0, 0])
    76
    """
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    if image.dtype.kind == "f" and image.dtype.itemsize != 4:
        # OpenCV converts float32 only; keep the caller's precision.
        return image @ image.dtype.type(_LUMA)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
