"""Decoding image files with OpenCV, with errors that name the file (no scikit-learn).

:func:`decode_image_file` is the one place where fer_toolkit reads an image file;
:func:`fer_toolkit.preprocessing.read_image` and the cascade tools call it. It lives
here, apart from :mod:`fer_toolkit.preprocessing`, so that the cascade trainer and
detector read images without importing scikit-learn.
"""

from __future__ import annotations

import os
import re

import cv2
import numpy as np

from .validation import InputError

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
    >>> from fer_toolkit.utils._imagefile import image_header_size
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

    The one place where fer_toolkit reads an image file:
    :func:`~fer_toolkit.preprocessing.read_image` and the
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
