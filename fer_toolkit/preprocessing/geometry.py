"""Resizing images to a fixed size."""

from __future__ import annotations

from numbers import Integral

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..utils.validation import check_size
from ._base import ImageTransformer

__all__ = ["Resize", "resize_image"]

#: OpenCV interpolation flags by name.
INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}

_BORDERS = {
    "constant": cv2.BORDER_CONSTANT,
    "edge": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT_101,
}


def resize_image(image, size, interpolation="area"):
    """Resize one image to ``size = (height, width)`` keeping its dtype.

    Float results are clipped to [0, 1]: cubic and Lanczos kernels overshoot
    at sharp edges, and weights summing to 1 can round just past it (uint8
    results saturate the same way inside OpenCV).

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing.geometry import resize_image
    >>> resize_image(np.zeros((10, 20), dtype=np.uint8), (5, 4)).shape
    (5, 4)
    """
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    source = image.astype(np.float32) if image.dtype == np.float16 else image
    resized = cv2.resize(source, (width, height), interpolation=INTERPOLATIONS[interpolation])
    if image.ndim == 3 and resized.ndim == 2:  # OpenCV drops a single channel axis
        resized = resized[..., np.newaxis]
    if resized.dtype.kind == "f":
        np.clip(resized, 0.0, 1.0, out=resized)
    return resized.astype(image.dtype, copy=False)


class Resize(ImageTransformer):
    """Resize every image to one fixed size.

    Parameters
    ----------
    size : int or tuple of (height, width), default=48
        Output size in pixels. NumPy order: rows first.
    interpolation : {"area", "linear", "cubic", "nearest", "lanczos"}, default="area"
        OpenCV interpolation. ``"area"`` is the right choice for shrinking.
    keep_aspect : bool, default=False
        If True, scale the image to fit inside ``size`` without distortion and
        pad the remaining border symmetrically.
    pad_mode : {"constant", "edge", "reflect"}, default="constant"
        How to fill the padding when ``keep_aspect=True``.
    pad_value : int, default=0
        Grey level (0-255) of constant padding; float images get
        ``pad_value / 255``.

    Notes
    -----
    The output dtype equals the input dtype (``uint8`` stays ``uint8``, float
    stays float), and the output is one ndarray ``(n, height, width[, C])``
    whenever the inputs share their channel layout. Float output stays in
    [0, 1]: the overshoot of ``"cubic"`` and ``"lanczos"`` at sharp edges is
    clipped, as OpenCV saturates it for ``uint8``.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing import Resize
    >>> X = [np.zeros((100, 80), dtype=np.uint8), np.zeros((30, 60), dtype=np.uint8)]
    >>> Resize(size=48).fit_transform(X).shape
    (2, 48, 48)
    >>> Xt = Resize(size=(48, 48), keep_aspect=True, pad_value=255).fit_transform(X)
    >>> int(Xt[1, 0, 0]), int(Xt[1, 24, 24])  # padding, then image content
    (255, 0)
    """

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "interpolation": [StrOptions(set(INTERPOLATIONS))],
        "keep_aspect": ["boolean"],
        "pad_mode": [StrOptions(set(_BORDERS))],
        "pad_value": [Interval(Integral, 0, 255, closed="both")],
    }

    def __init__(
        self, size=48, interpolation="area", keep_aspect=False, pad_mode="constant", pad_value=0
    ):
        self.size = size
        self.interpolation = interpolation
        self.keep_aspect = keep_aspect
        self.pad_mode = pad_mode
        self.pad_value = pad_value

    def _prepare(self):
        return check_size(self.size)

    def _transform_image(self, image, size):
        if not self.keep_aspect:
            return resize_image(image, size, self.interpolation)
        height, width = size
        scale = min(height / image.shape[0], width / image.shape[1])
        inner = (max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale)))
        resized = resize_image(image, inner, self.interpolation)
        top = (height - inner[0]) // 2
        left = (width - inner[1]) // 2
        value = self.pad_value if image.dtype == np.uint8 else self.pad_value / 255.0
        padded = cv2.copyMakeBorder(
            resized,
            top,
            height - inner[0] - top,
            left,
            width - inner[1] - left,
            _BORDERS[self.pad_mode],
            value=(value,) * 4,
        )
        if resized.ndim == 3 and padded.ndim == 2:
            padded = padded[..., np.newaxis]
        return padded
