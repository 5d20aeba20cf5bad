"""Reading image files into RGB arrays."""

from __future__ import annotations

import os
import warnings
from numbers import Integral

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..utils._imagefile import decode_image_file
from ..utils.pixels import to_uint8
from ..utils.validation import InputError, check_paths
from ._base import ImageTransformer

__all__ = ["ImageReader", "read_image"]


def _to_uint8(image: np.ndarray, path: str) -> np.ndarray:
    """Scale 16-bit and [0, 1] float data to uint8."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if image.dtype.kind == "f":
        lo, hi = float(np.nanmin(image)), float(np.nanmax(image))
        if np.isnan(image).any() or lo < 0.0 or hi > 1.0:
            raise InputError(
                f"image file {path!r} holds float pixels in [{lo:g}, {hi:g}]; "
                "only float images in [0, 1] can be read."
            )
        return to_uint8(image)
    raise InputError(f"image file {path!r} has unsupported pixel type {image.dtype}.")


def _drop_or_composite_alpha(bgra: np.ndarray, alpha: str, background: int) -> np.ndarray:
    bgr = bgra[..., :3]
    if alpha == "drop":
        return bgr
    weight = bgra[..., 3:4].astype(np.float32) / 255.0
    blended = bgr.astype(np.float32) * weight + float(background) * (1.0 - weight)
    return np.rint(blended).astype(np.uint8)


def read_image(path, *, color: str = "rgb", alpha: str = "composite", background: int = 255):
    """Read one image file as a uint8 array.

    Parameters
    ----------
    path : str or os.PathLike
        PNG, JPEG, BMP, TIFF or any format OpenCV decodes.
    color : {"rgb", "gray"}, default="rgb"
        ``"rgb"`` returns ``(H, W, 3)`` (grayscale files are repeated over three
        channels); ``"gray"`` returns ``(H, W)`` (colour files are converted
        with ITU-R BT.601 weights).
    alpha : {"composite", "drop"}, default="composite"
        Rule for files with an alpha channel: blend over a uniform
        ``background`` grey level, or ignore the alpha channel.
    background : int, default=255
        Grey level (0-255) behind transparent pixels when compositing.

    Returns
    -------
    image : ndarray of dtype uint8
        16-bit files are scaled by 255/65535 (rounded); float files in [0, 1]
        by 255. JPEG files are turned upright by their EXIF orientation tag,
        as image viewers (and ``cv2.imread``) do.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, ValueError
        With the path in the message, for a missing file, a directory, or a
        file that cannot be decoded (corrupt, truncated JPEG, not an image),
        or whose header announces more pixels than the limit (16384 x 16384
        by default; the environment variable ``FER_TOOLKIT_MAX_IMAGE_PIXELS``
        sets another, ``0`` none). The size is read from the header before
        any pixel is decoded.
        ``ValueError`` also for an invalid ``color``, ``alpha`` or
        ``background``.

    Examples
    --------
    >>> import os, tempfile, cv2, numpy as np
    >>> from fer_toolkit.preprocessing import read_image
    >>> path = os.path.join(tempfile.mkdtemp(), "red.png")
    >>> _ = cv2.imwrite(path, np.dstack([np.zeros((4, 6)), np.zeros((4, 6)), np.full((4, 6), 255)]))
    >>> read_image(path)[0, 0]
    array([255,   0,   0], dtype=uint8)
    """
    if color not in ("rgb", "gray"):
        raise InputError(f"color must be 'rgb' or 'gray'; got {color!r}.")
    if alpha not in ("composite", "drop"):
        raise InputError(f"alpha must be 'composite' or 'drop'; got {alpha!r}.")
    if (
        not isinstance(background, Integral)
        or isinstance(background, bool)
        or not 0 <= background <= 255
    ):
        raise InputError(f"background must be an int in [0, 255]; got {background!r}.")
    path = os.fspath(path)
    image = _to_uint8(decode_image_file(path), path)
    if image.ndim == 3 and image.shape[2] == 4:
        image = _drop_or_composite_alpha(image, alpha, background)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image if color == "gray" else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    code = cv2.COLOR_BGR2GRAY if color == "gray" else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(image, code)


class ImageReader(ImageTransformer):
    """Read image files into uint8 arrays (RGB by default).

    The first step of a pipeline that starts from file paths, such as the
    ``filenames`` of :func:`~fer_toolkit.datasets.load_image_folder`.

    Parameters
    ----------
    color : {"rgb", "gray"}, default="rgb"
        Output ``(H, W, 3)`` RGB images, or ``(H, W)`` grayscale ones.
    alpha : {"composite", "drop"}, default="composite"
        Files with transparency (RGBA PNG, TIFF): blend them over a uniform
        ``background``, or drop the alpha channel.
    background : int, default=255
        Grey level behind transparent pixels when ``alpha="composite"``.
    on_error : {"raise", "warn"}, default="raise"
        What to do with a file that cannot be read: raise an error naming it,
        or warn (naming it) and put a 1x1 black image in its place, so the
        batch keeps its length and stays aligned with ``y``.
    n_jobs : int or None, default=None
        Number of threads decoding files (``None`` means 1, ``-1`` all cores).

    See Also
    --------
    read_image : The function this transformer applies to each path.

    Notes
    -----
    16-bit files are scaled to 8 bits by 255/65535, and JPEG files are turned
    upright by their EXIF orientation tag. Output is a single ndarray when every
    image has the same shape, else a list of arrays.

    Examples
    --------
    >>> import os, tempfile, cv2, numpy as np
    >>> from fer_toolkit.preprocessing import ImageReader
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, f"{i}.png") for i in range(3)]
    >>> for p in paths:
    ...     _ = cv2.imwrite(p, np.zeros((48, 40), dtype=np.uint8))
    >>> ImageReader().fit_transform(paths).shape
    (3, 48, 40, 3)
    """

    _parameter_constraints: dict = {
        "color": [StrOptions({"rgb", "gray"})],
        "alpha": [StrOptions({"composite", "drop"})],
        "background": [Interval(Integral, 0, 255, closed="both")],
        "on_error": [StrOptions({"raise", "warn"})],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self, color="rgb", alpha="composite", background=255, on_error="raise", n_jobs=None
    ):
        self.color = color
        self.alpha = alpha
        self.background = background
        self.on_error = on_error
        self.n_jobs = n_jobs

    def _check_input(self, X):
        return check_paths(X)

    def _transform_image(self, path, context):
        try:
            return read_image(path, color=self.color, alpha=self.alpha, background=self.background)
        except (OSError, ValueError) as exc:
            if self.on_error == "raise":
                raise
            warnings.warn(f"{exc} Using a 1x1 black image instead.", UserWarning, stacklevel=2)
            return np.zeros((1, 1, 3) if self.color == "rgb" else (1, 1), dtype=np.uint8)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = False
        tags.input_tags.string = True
        return tags
