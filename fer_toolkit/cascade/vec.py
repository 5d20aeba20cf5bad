"""OpenCV ``.vec`` sample files, byte-compatible with ``opencv_createsamples``.

Layout (little-endian): a 12-byte header -- int32 sample count, int32 pixels
per sample (``w*h``; width and height themselves are not stored), two int16
written as 0 and ignored by OpenCV -- then, per sample, one padding byte (0)
and ``w*h`` int16 pixels (0-255) row by row.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ..utils.fileio import atomic_write
from ..utils.pixels import to_gray, to_uint8
from ..utils.validation import InputError, check_images, check_size

__all__ = ["read_vec", "vec_count", "write_vec"]

_HEADER = np.dtype([("count", "<i4"), ("vecsize", "<i4"), ("min", "<i2"), ("max", "<i2")])
HEADER_SIZE = _HEADER.itemsize
# Samples are converted in blocks so that a large file never needs a second
# full-size temporary (the int16 records are twice the size of the pixels).
_BLOCK = 1 << 14


def _sample_dtype(vecsize: int) -> np.dtype:
    """One packed record: the padding byte, then ``vecsize`` int16 pixels."""
    return np.dtype([("pad", "u1"), ("pixels", "<i2", (vecsize,))])


def _factor_pairs(product: int, limit: int = 6) -> list[str]:
    """``"WxH"`` pairs whose product is ``product``, nearest to square first."""
    pairs = [(w, product // w) for w in range(2, product // 2 + 1) if product % w == 0] or [
        (product, 1)
    ]
    pairs.sort(key=lambda p: (abs(np.log(p[0] / p[1])), -p[0]))
    return [f"{w}x{h}" for w, h in pairs[:limit]]


def _not_vec(path: str, raw: bytes) -> ValueError | None:
    """The error for a file that is no .vec at all (text, an image...), else None.

    ``opencv_createsamples`` writes the header's last four bytes as zeros (and a
    sample count below 2**24 has a zero byte too); a file whose header disagrees
    with its size and has other bytes there is something else.
    """
    text = len(raw) > 0 and all(32 <= b < 127 or b in (9, 10, 13) for b in raw)
    if not text and (len(raw) < HEADER_SIZE or raw[8:12] == bytes(4)):
        return None
    looks = (
        f"it starts with text {raw.decode('ascii')!r}"
        if text
        else "its header does not describe its size"
    )
    return InputError(
        f"{path!r} is not a .vec file: {looks} (a .vec file holds binary samples written "
        "by opencv_createsamples or fer-toolkit cascade createsamples)."
    )


def _read_header(path: str) -> tuple[int, int]:
    """Validate a .vec file's header against its size; return ``(count, vecsize)``."""
    try:
        return _check_header(path)
    except ValueError:
        with open(path, "rb") as f:
            foreign = _not_vec(path, f.read(HEADER_SIZE))
        if foreign is not None:
            raise foreign from None
        raise


def _check_header(path: str) -> tuple[int, int]:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            raw = f.read(HEADER_SIZE)
    except FileNotFoundError:
        raise FileNotFoundError(f".vec file {path!r} does not exist.") from None
    except IsADirectoryError:
        raise IsADirectoryError(f".vec file {path!r} is a directory.") from None
    if size == 0:
        raise InputError(f".vec file {path!r} is empty (0 bytes).")
    if size < HEADER_SIZE:
        raise InputError(
            f".vec file {path!r} is truncated: {size} bytes, shorter than the "
            f"{HEADER_SIZE}-byte header."
        )
    header = np.frombuffer(raw, dtype=_HEADER)[0]
    count, vecsize = int(header["count"]), int(header["vecsize"])
    if vecsize <= 0:
        raise InputError(
            f".vec file {path!r} has a corrupt header: {vecsize} pixels per sample "
            "(w*h must be positive)."
        )
    if count == 0:
        raise InputError(f".vec file {path!r} holds 0 samples (its header count is 0).")
    if count < 0:
        raise InputError(
            f".vec file {path!r} has a corrupt header: sample count {count} is negative."
        )
    item = 1 + 2 * vecsize  # padding byte + int16 pixels
    expected = HEADER_SIZE + count * item
    if size < expected:
        complete, partial = divmod(size - HEADER_SIZE, item)
        where = (
            f"sample {complete} is cut after {partial} of its {item} bytes"
            if partial
            else f"it ends after sample {complete - 1}"
            if complete
            else "it has no sample data"
        )
        raise InputError(
            f".vec file {path!r} is truncated: its header announces {count} samples of "
            f"{vecsize} pixels ({expected} bytes) but the file has {size} bytes; {where} "
            f"({complete} complete samples). opencv_createsamples writes the requested -num "
            "into the header even when the description file has fewer boxes."
        )
    if size > expected:
        raise InputError(
            f".vec file {path!r} has {size - expected} bytes after its last sample: the "
            f"header ({count} samples of {vecsize} pixels, {expected} bytes) does not match "
            f"the file size ({size} bytes)."
        )
    return count, vecsize


def vec_count(path: str | os.PathLike) -> tuple[int, int]:
    """Return a .vec file's sample count and pixels per sample, checking its size.

    Only the header is read; the file size must match it exactly.

    Parameters
    ----------
    path : str or os.PathLike
        The .vec file.

    Returns
    -------
    count : int
        Number of samples.
    vecsize : int
        Pixels per sample, ``width * height``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty, truncated, longer than its header says, or its
        header is corrupt; the message names the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fer_toolkit.cascade import vec_count, write_vec
    >>> path = os.path.join(tempfile.mkdtemp(), "pos.vec")
    >>> write_vec(path, np.zeros((5, 24, 20), dtype=np.uint8))
    >>> vec_count(path)
    (5, 480)
    """
    return _read_header(os.fspath(path))


def read_vec(path: str | os.PathLike, width: int = 24, height: int = 24) -> np.ndarray:
    """Read every sample of an OpenCV .vec file.

    Parameters
    ----------
    path : str or os.PathLike
        The .vec file.
    width, height : int, default=24
        Sample size (OpenCV's ``-w`` / ``-h``). The file stores only their
        product, which must match.

    Returns
    -------
    samples : ndarray of shape (count, height, width), dtype uint8

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty, truncated (the message says at which sample),
        has a corrupt header or trailing bytes, stores a different ``w*h``
        (the message lists the ``WxH`` pairs that give the stored product), or
        a sample has a non-zero padding byte or a pixel outside 0-255 (the
        message names the sample).

    Notes
    -----
    The file is read in blocks of samples, so peak memory stays close to the
    size of the returned array.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fer_toolkit.cascade import read_vec, write_vec
    >>> path = os.path.join(tempfile.mkdtemp(), "pos.vec")
    >>> samples = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    >>> write_vec(path, samples)
    >>> read_vec(path, width=3, height=2)[1]
    array([[ 6,  7,  8],
           [ 9, 10, 11]], dtype=uint8)
    """
    width, height = check_size((width, height), name="(width, height)", order="(width, height)")
    path = os.fspath(path)
    count, vecsize = _read_header(path)
    if vecsize != width * height:
        raise InputError(
            f".vec file {path!r} stores samples of {vecsize} pixels, but width x height = "
            f"{width}x{height} = {width * height}. The file does not record width and "
            f"height; sizes whose product is {vecsize}: {', '.join(_factor_pairs(vecsize))}."
        )
    samples = np.empty((count, height, width), dtype=np.uint8)
    flat = samples.reshape(count, vecsize)
    for start, block in _blocks(path, count, vecsize):
        bad = np.flatnonzero(block["pad"])
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f".vec file {path!r}: sample {start + i} starts with byte "
                f"{int(block['pad'][i])} instead of the 0 padding byte (corrupt file, or "
                "not written by opencv_createsamples)."
            )
        pixels = block["pixels"]
        outside = (pixels < 0) | (pixels > 255)
        if outside.any():
            i, j = (int(v) for v in np.argwhere(outside)[0])
            raise InputError(
                f".vec file {path!r}: sample {start + i} holds pixel value {int(pixels[i, j])} "
                f"at (row {j // width}, column {j % width}), outside 0-255."
            )
        flat[start : start + len(block)] = pixels
    return samples


def _blocks(path: str, count: int, vecsize: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first index, records)`` blocks of a validated .vec file."""
    dtype = _sample_dtype(vecsize)
    with open(path, "rb") as f:
        f.seek(HEADER_SIZE)
        for start in range(0, count, _BLOCK):
            yield start, np.fromfile(f, dtype=dtype, count=min(_BLOCK, count - start))


def write_vec(path: str | os.PathLike, samples) -> None:
    """Write samples to an OpenCV .vec file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; parent folders are created. A crash or error never
        leaves a partial file behind, and an existing file is replaced only
        once the new one is complete.
    samples : ndarray of shape (n, height, width) or (n, height, width, C), or list
        Samples sharing one size: uint8, or float in [0, 1] (scaled by 255);
        RGB samples are converted to grayscale (ITU-R BT.601).

    Raises
    ------
    ValueError
        If ``samples`` is empty, or its images differ in size (the message
        names the first one that differs from ``samples[0]``).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fer_toolkit.cascade import write_vec
    >>> path = os.path.join(tempfile.mkdtemp(), "pos.vec")
    >>> write_vec(path, np.full((1, 1, 2), 7, dtype=np.uint8))
    >>> open(path, "rb").read().hex(" ")
    '01 00 00 00 02 00 00 00 00 00 00 00 00 07 00 07 00'
    """
    images = [to_gray(to_uint8(image)) for image in check_images(samples, name="samples")]
    shape = images[0].shape
    for i, image in enumerate(images):
        if image.shape != shape:
            raise InputError(
                f"samples[{i}] has size {image.shape[1]}x{image.shape[0]} (width x height), "
                f"but samples[0] has {shape[1]}x{shape[0]}; a .vec holds one sample size."
            )
    count, vecsize = len(images), shape[0] * shape[1]
    header = np.array([(count, vecsize, 0, 0)], dtype=_HEADER)
    with atomic_write(path, "wb") as f:
        f.write(header.tobytes())
        for start in range(0, count, _BLOCK):
            chunk = images[start : start + _BLOCK]
            records = np.zeros(len(chunk), dtype=_sample_dtype(vecsize))
            records["pixels"] = np.stack(chunk).reshape(len(chunk), vecsize)
            f.write(records.tobytes())
