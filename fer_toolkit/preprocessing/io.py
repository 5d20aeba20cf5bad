"""Reading image files into RGB arrays."""

from __future__ import annotations

import os
import re
import warnings
from numbers import Integral

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..utils.pixels import to_uint8
from ..utils.validation import InputError, check_paths
from ._base import ImageTransformer

__all__ = ["ImageReader", "read_image"]

#: Environment variable that sets the largest image (width x height, in pixels) decoded;
#: ``0`` lifts the limit.
MAX_IMAGE_PIXELS_ENV = "FER_TOOLKIT_MAX_IMAGE_PIXELS"
#: The default limit: 16384 x 16384 pixels (805 MB as 8-bit RGB), far above photos and
#: video frames, and the largest side OpenCV's decoders are tested with.
DEFAULT_MAX_IMAGE_PIXELS = 16384 * 16384

_JPEG_START = b"\xff\xd8"
# A marker inside entropy-coded data: 0xFF followed by anything but a stuffed zero,
# a restart marker (RST0-7) or another fill byte.
_JPEG_SCAN_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def _jpeg_is_complete(raw: bytes) -> bool:
    """Whether a JPEG stream reaches its end-of-image marker.

    Walks the marker segments (skipping APPn payloads, so an EXIF thumbnail's
    own end marker does not count) and the entropy-coded scans. Data after the
    end marker (e.g. the video of a "motion photo") is allowed.
    """
    i, n = 2, len(raw)
    while i + 1 < n:
        if raw[i] != 0xFF:
            return False
        marker = raw[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0xD9:  # EOI
            return True
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        if i + 4 > n:
            return False
        i += 2 + int.from_bytes(raw[i + 2 : i + 4], "big")
        if marker == 0xDA:  # SOS: entropy-coded data runs up to the next marker
            found = _JPEG_SCAN_MARKER.search(raw, i)
            if found is None:
                return False
            i = found.start()
    return False


def _u16(raw: bytes, at: int, order: str = "big") -> int:
    return int.from_bytes(raw[at : at + 2], order)


def _u32(raw: bytes, at: int, order: str = "big") -> int:
    return int.from_bytes(raw[at : at + 4], order)


def _jpeg_size(raw: bytes):
    i, n = 2, len(raw)
    while i + 9 <= n and raw[i] == 0xFF:
        marker = raw[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn
            return _u16(raw, i + 7), _u16(raw, i + 5)
        i += 2 + _u16(raw, i + 2)
    return None


def _tiff_size(raw: bytes):
    order = "little" if raw[:2] == b"II" else "big"
    ifd = _u32(raw, 4, order)
    if ifd + 2 > len(raw):
        return None
    found = {}
    for k in range(_u16(raw, ifd, order)):
        entry = ifd + 2 + 12 * k
        if entry + 12 > len(raw):
            break
        tag, kind = _u16(raw, entry, order), _u16(raw, entry + 2, order)
        if tag in (256, 257):
            found[tag] = _u16(raw, entry + 8, order) if kind == 3 else _u32(raw, entry + 8, order)
    return (found[256], found[257]) if len(found) == 2 else None


def _webp_size(raw: bytes):
    chunk = raw[12:16]
    if chunk == b"VP8 " and len(raw) >= 30:
        return _u16(raw, 26, "little") & 0x3FFF, _u16(raw, 28, "little") & 0x3FFF
    if chunk == b"VP8L" and len(raw) >= 25:
        bits = _u32(raw, 21, "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(raw) >= 30:
        width = int.from_bytes(raw[24:27], "little") + 1
        return width, int.from_bytes(raw[27:30], "little") + 1
    return None


def image_header_size(raw: bytes) -> tuple[int, int] | None:
    """``(width, height)`` announced by an image file's header, without decoding it.

    Reads PNG, JPEG, BMP, TIFF, WebP, GIF and PNM (PGM/PPM) headers; ``None``
    for other formats and for headers too short to say.

    Examples
    --------
    >>> import cv2, numpy as np
    >>> from fer_toolkit.preprocessing.io import image_header_size
    >>> image_header_size(cv2.imencode(".png", np.zeros((30, 40), np.uint8))[1].tobytes())
    (40, 30)
    """
    if raw.startswith(b"\x89PNG\r\n\x1a\n") and len(raw) >= 24:
        return _u32(raw, 16), _u32(raw, 20)
    if raw.startswith(_JPEG_START):
        return _jpeg_size(raw)
    if raw.startswith(b"BM") and len(raw) >= 26:
        width = int.from_bytes(raw[18:22], "little", signed=True)
        return abs(width), abs(int.from_bytes(raw[22:26], "little", signed=True))
    if raw[:4] in (b"II*\x00", b"MM\x00*") and len(raw) >= 8:
        return _tiff_size(raw)
    if raw.startswith(b"RIFF") and raw[8:12] == b"WEBP":
        return _webp_size(raw)
    if raw[:6] in (b"GIF87a", b"GIF89a") and len(raw) >= 10:
        return _u16(raw, 6, "little"), _u16(raw, 8, "little")
    match = re.match(rb"P[1-6]\s+(?:#[^\n]*\s+)*(\d+)\s+(?:#[^\n]*\s+)*(\d+)", raw[:256])
    if match:
        return int(match[1]), int(match[2])
    return None


def max_image_pixels() -> int | None:
    """The largest image decoded, from :data:`MAX_IMAGE_PIXELS_ENV`; ``None``: no limit."""
    text = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(text)
    except ValueError:
        raise InputError(
            f"{MAX_IMAGE_PIXELS_ENV}={text!r} is not a whole number of pixels (0: no limit)."
        ) from None
    return None if value <= 0 else value


def check_image_size(raw: bytes, path: str) -> None:
    """Refuse, before decoding, a file whose header announces more pixels than allowed.

    Raises
    ------
    ValueError
        Naming ``path``, its size and the limit, and how to raise it.
    """
    limit = max_image_pixels()
    size = image_header_size(raw)
    if limit is not None and size is not None and size[0] * size[1] > limit:
        raise InputError(
            f"image file {path!r} announces {size[0]}x{size[1]} pixels, more than the limit of "
            f"{limit} ({limit // 1_000_000} megapixels); set the environment variable "
            f"{MAX_IMAGE_PIXELS_ENV} to a larger number (0: no limit) to read it anyway."
        )


def decode_image_file(path: str, flags: int | None = None) -> np.ndarray:
    """Decode a file with OpenCV, raising errors that name ``path``.

    The one place where fer_toolkit reads an image file: :func:`read_image` and the
    cascade tools (``flags=cv2.IMREAD_GRAYSCALE``, as OpenCV's own tools read) call it.
    ``flags=None`` keeps depth and channels (``IMREAD_UNCHANGED``; for JPEG, the EXIF
    orientation applied). Missing, unreadable, empty, oversized (see
    :func:`check_image_size`), truncated-JPEG and undecodable files raise
    ``FileNotFoundError``, ``IsADirectoryError``, ``OSError`` or :class:`InputError`.
    """
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not an image file.")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f"image file {path!r} does not exist.") from None
    except OSError as exc:
        raise OSError(f"cannot read image file {path!r}: {exc.strerror or exc}.") from None
    if data.size == 0:
        raise InputError(f"image file {path!r} is empty (0 bytes).")
    raw = data.tobytes()
    check_image_size(raw, path)
    if raw.startswith(_JPEG_START):
        # libjpeg can decode a truncated file with a grey bottom and only a warning on
        # stderr (OpenCV 4.14 still does when just the end marker is missing).
        if not _jpeg_is_complete(raw):
            raise InputError(
                f"image file {path!r} is a truncated or corrupt JPEG (no end-of-image marker)."
            )
        # JPEG has no alpha channel; these flags keep depth and channel count like
        # IMREAD_UNCHANGED but apply the EXIF orientation, as image viewers do.
        if flags is None:
            flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
    if flags is None:
        flags = cv2.IMREAD_UNCHANGED
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error as exc:  # e.g. OpenCV's own size limit (OPENCV_IO_MAX_IMAGE_PIXELS)
        message = str(exc).strip().splitlines()[-1]
        raise InputError(f"cannot decode image file {path!r}: OpenCV says {message}") from None
    if image is None or image.size == 0:
        raise InputError(
            f"cannot decode image file {path!r}: not a supported image format, or corrupt."
        )
    return image


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
