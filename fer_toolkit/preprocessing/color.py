"""Colour conversion."""

from __future__ import annotations

from ..utils.pixels import to_gray
from ._base import ImageTransformer

__all__ = ["Grayscale"]


class Grayscale(ImageTransformer):
    """Convert RGB images to single-channel grayscale.

    Uses the ITU-R BT.601 luma weights (0.299 R + 0.587 G + 0.114 B), as
    OpenCV's ``COLOR_RGB2GRAY`` and FER2013's images do. Images that are
    already grayscale, ``(H, W)`` or ``(H, W, 1)``, pass through.

    Output is ``(n, H, W)`` (or a list of ``(H, W)`` arrays when sizes differ)
    with the input's dtype: ``uint8`` stays ``uint8``, ``float32`` in [0, 1]
    stays ``float32``, ``float64`` stays ``float64``.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing import Grayscale
    >>> X = np.zeros((2, 48, 48, 3), dtype=np.uint8)
    >>> X[..., 0] = 255  # pure red
    >>> Xt = Grayscale().fit_transform(X)
    >>> Xt.shape, Xt.dtype, int(Xt[0, 0, 0])
    ((2, 48, 48), dtype('uint8'), 76)
    """

    def __init__(self):
        pass

    def _transform_image(self, image, context):
        return to_gray(image)
