"""Integral images (sum, squared sum and 45-degree tilted sum) as OpenCV defines them.

For an image ``I`` of shape ``(H, W)`` every table has shape ``(H + 1, W + 1)``:

* ``sum[Y, X]`` is the sum of ``I[y, x]`` over ``y < Y, x < X``;
* ``sqsum[Y, X]`` is the same sum over ``I[y, x] ** 2``;
* ``tilted[Y, X]`` is the sum of ``I[y, x]`` over ``y < Y, |x - X + 1| <= Y - y - 1``: a
  triangle with its apex at pixel ``(X - 1, Y - 1)`` opening upwards (``cv2.integral3``).

The axis-aligned sum of rectangle ``(x, y, w, h)`` is then
``sum[y, x] - sum[y, x+w] - sum[y+h, x] + sum[y+h, x+w]``, and a 45-degree rectangle of
sides ``w`` and ``h`` anchored at ``(x, y)`` sums to
``tilted[y, x] - tilted[y+h, x-h] - tilted[y+w, x+w] + tilted[y+w+h, x+w-h]``.

:func:`integral_image` returns OpenCV's tables of one image in ``int64`` (exact for 8-bit
images of any practical size); :func:`integral_batch` builds the tables of a training
batch with the training normalisation (numpy; PyTorch tensors on a CUDA device).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import cv2
import numpy as np

from ..utils.validation import InputError

__all__ = ["IntegralBatch", "integral_batch", "integral_image"]


def _check_uint8_stack(samples, name: str) -> None:
    if samples.ndim != 3:
        raise InputError(f"{name} has shape {tuple(samples.shape)}; expected (n, height, width).")
    if samples.shape[0] == 0:
        raise InputError(f"{name} is empty: got shape {tuple(samples.shape)}.")
    if samples.dtype != np.uint8:
        raise TypeError(f"{name} has dtype {samples.dtype}; expected 8-bit pixels (uint8).")


def _tilted_rows(image: np.ndarray) -> np.ndarray:
    """The tilted tables of a ``(n, H, W)`` int32 batch, row by row (OpenCV's recurrence).

    ``T[Y, X] = T[Y-1, X-1] + T[Y-1, X+1] - T[Y-2, X] + I[Y-1, X-1] + I[Y-2, X-1]``; the
    image is padded with ``H + 1`` zero columns on both sides so that the neighbours at
    ``X - 1`` and ``X + 1`` always exist and clipping at the borders comes for free.
    """
    n, height, width = image.shape
    pad = height + 1
    padded = np.pad(image, ((0, 0), (0, 0), (pad, pad)))
    cols = width + 2 * pad
    # Table column j holds X = j - pad + 1, whose apex pixel is padded column j. The
    # outermost columns stay 0: their triangles never reach the image.
    rows = np.zeros((n, height + 1, cols), dtype=image.dtype)
    rows[:, 1] = padded[:, 0]
    for y in range(2, height + 1):
        prev, prev2 = rows[:, y - 1], rows[:, y - 2]
        rows[:, y, 1:-1] = (
            prev[:, :-2]
            + prev[:, 2:]
            - prev2[:, 1:-1]
            + padded[:, y - 1, 1:-1]
            + padded[:, y - 2, 1:-1]
        )
    return rows[:, :, pad - 1 : pad + width]


def opencv_tables(image: np.ndarray, tilted: bool) -> tuple[np.ndarray, ...]:
    """``cv2.integral2`` / ``integral3`` of a uint8 image as float64 (exact below 2**53)."""
    if tilted:
        return cv2.integral3(image, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
    return (*cv2.integral2(image, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F), None)


def integral_image(image: np.ndarray, *, tilted: bool = False):
    """Return the sum, squared-sum and (optionally) tilted integral images of one image.

    Parameters
    ----------
    image : ndarray of shape (H, W), dtype uint8
        A grayscale 8-bit image.
    tilted : bool, default=False
        Also compute the 45-degree tilted table.

    Returns
    -------
    sum, sqsum : ndarray of shape (H + 1, W + 1), dtype int64
    tilted : ndarray of shape (H + 1, W + 1), dtype int64, or None

    Raises
    ------
    TypeError, ValueError
        If ``image`` is not a 2-D uint8 array.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade.integral import integral_image
    >>> s, sq, t = integral_image(np.full((2, 3), 3, dtype=np.uint8), tilted=True)
    >>> s
    array([[ 0,  0,  0,  0],
           [ 0,  3,  6,  9],
           [ 0,  6, 12, 18]])
    >>> int(sq[-1, -1]), t[-1].tolist()
    (54, [3, 9, 12, 9])
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise InputError(f"image has shape {image.shape}; expected a 2-D grayscale image.")
    _check_uint8_stack(image[np.newaxis], "image")
    tables = opencv_tables(np.ascontiguousarray(image), tilted)
    return tuple(None if t is None else t.astype(np.int64) for t in tables)


def _on_cpu(device) -> bool:
    """Whether ``device`` (None, a name such as ``"cuda:0"``, or a ``torch.device``) is the CPU."""
    return device is None or str(device).split(":")[0] == "cpu"


@dataclass(frozen=True)
class IntegralBatch:
    """Integral images of a batch of equally sized training samples.

    :func:`integral_batch` builds one from the samples. On the CPU the tables are
    numpy arrays; on another device (``device="cuda"``) they are PyTorch tensors there.

    Attributes
    ----------
    sum : ndarray or Tensor of shape (n, h + 1, w + 1), dtype int32
        The integral image of each sample (a zero first row and column).
    tilted : ndarray or Tensor of shape (n, h + 1, w + 1), dtype int32, or None
        The 45-degree rotated integral images, for tilted Haar features; None
        when they were not computed.
    norm : ndarray or Tensor of shape (n,), dtype float32
        OpenCV's training normalisation ``sqrt(area * sqsum - sum ** 2)`` over the inner
        rectangle ``(1, 1, w - 2, h - 2)``, ``area = (w - 2) * (h - 2)``. It is 0 for a
        flat inner rectangle; Haar feature values of such a sample are 0 (as in
        ``opencv_traincascade``).

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade import integral_batch
    >>> samples = np.arange(2 * 4 * 5, dtype=np.uint8).reshape(2, 4, 5)
    >>> batch = integral_batch(samples)
    >>> len(batch), batch.window, batch.sum.shape, batch.tilted is None
    (2, (5, 4), (2, 5, 6), True)
    >>> int(batch.sum[0, -1, -1]) == int(samples[0].sum())
    True
    """

    sum: np.ndarray
    tilted: np.ndarray | None
    norm: np.ndarray

    def __len__(self) -> int:
        return int(self.sum.shape[0])

    @property
    def window(self) -> tuple[int, int]:
        """``(width, height)`` of the samples."""
        return int(self.sum.shape[2]) - 1, int(self.sum.shape[1]) - 1


def integral_batch(samples, *, tilted: bool = False, device=None) -> IntegralBatch:
    """Compute the integral images and training normalisation of a batch of samples.

    The tables are computed with numpy; PyTorch is imported only to place them on
    another device than the CPU.

    Parameters
    ----------
    samples : ndarray or Tensor of shape (n, h, w), dtype uint8
        Training windows (``h, w >= 3``).
    tilted : bool, default=False
        Also compute the tilted tables (needed by Haar ``mode="ALL"``).
    device : str, torch.device or None, default=None
        Where to keep the tables: None or ``"cpu"``: numpy arrays; another device
        (``"cuda"``): PyTorch tensors there. None keeps a tensor's own device.

    Returns
    -------
    IntegralBatch

    Raises
    ------
    TypeError, ValueError
        If ``samples`` is not a non-empty ``(n, h, w)`` uint8 stack with ``h, w >= 3``.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade.integral import integral_batch
    >>> batch = integral_batch(np.arange(32, dtype=np.uint8).reshape(2, 4, 4))
    >>> batch.sum.shape, int(batch.sum[0, -1, -1])
    ((2, 5, 5), 120)
    >>> batch.norm  # sqrt(4 * 242 - 30 ** 2): pixels 5, 6, 9, 10 inside the border
    array([8.246211, 8.246211], dtype=float32)
    """
    torch = sys.modules.get("torch")  # a tensor can only come from an imported torch
    if torch is not None and isinstance(samples, torch.Tensor):
        if device is None:
            device = samples.device
        if samples.dtype != torch.uint8:
            raise TypeError(f"samples has dtype {samples.dtype}; expected 8-bit pixels (uint8).")
        samples = samples.cpu().numpy()
    samples = np.asarray(samples)
    _check_uint8_stack(samples, "samples")
    n, height, width = samples.shape
    if height < 3 or width < 3:
        raise InputError(
            f"samples have shape {tuple(samples.shape)}; windows must be at least 3x3 pixels."
        )
    if 255 * 255 * height * width >= 2**31:
        raise InputError(
            f"samples of {width}x{height} pixels are too large for training windows "
            "(their integral tables would overflow int32)."
        )
    table = np.zeros((n, height + 1, width + 1), dtype=np.int32)
    body = table[:, 1:, 1:]
    np.cumsum(samples, axis=1, dtype=np.int32, out=body)
    np.cumsum(body, axis=2, out=body)  # in place: each sum reads its own cell first
    # Sum and squared sum of the inner rectangle (1, 1, w-2, h-2), exactly in int64 (the
    # squared-sum table would serve only these four corners).
    inner = samples[:, 1:-1, 1:-1].reshape(n, -1).astype(np.int64)
    total, squares = inner.sum(axis=1), np.einsum("ij,ij->i", inner, inner)
    area = (height - 2) * (width - 2)
    norm = np.sqrt((area * squares - total * total).astype(np.float64))
    tables = {
        "sum": table,
        "tilted": _tilted_rows(samples.astype(np.int32)) if tilted else None,
        "norm": norm.astype(np.float32),
    }
    if not _on_cpu(device):
        import torch  # only for tables on another device (CUDA)

        tables = {
            key: None
            if value is None
            else torch.as_tensor(np.ascontiguousarray(value), device=device)
            for key, value in tables.items()
        }
    return IntegralBatch(**tables)
