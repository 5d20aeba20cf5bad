"""Box geometry shared by the detectors, the face croppers and the cascade evaluation.

Two box layouts occur in fer_toolkit:

* ``(x, y, w, h)`` in whole pixels, the layout of
  :class:`~fer_toolkit.detection.Detections` and of OpenCV's detectors:
  :func:`box_iou`, :func:`crop_box`, :func:`centre_square`, :func:`square_box`;
* ``(x1, y1, x2, y2, ...)`` float corners, the layout MTCNN's cascade works in
  (extra columns, such as a score, ride along): :func:`nms`,
  :func:`square_corners`.
"""

from __future__ import annotations

import math

import numpy as np

from .validation import InputError

__all__ = ["box_iou", "centre_square", "crop_box", "nms", "square_box", "square_corners"]

#: Entries of one block of the pairwise-overlap matrix computed by :func:`nms`.
_NMS_BLOCK = 1 << 22


def box_iou(a, b) -> np.ndarray:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Parameters
    ----------
    a : array-like of shape (n, 4)
    b : array-like of shape (m, 4)
        Boxes ``(x, y, w, h)``.

    Returns
    -------
    iou : ndarray of shape (n, m), dtype float64
        0 where a union is empty (boxes of zero area).

    Examples
    --------
    >>> from fer_toolkit.utils.boxes import box_iou
    >>> box_iou([[0, 0, 10, 10]], [[5, 0, 10, 10], [20, 20, 5, 5]])
    array([[0.33333333, 0.        ]])
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def crop_box(image: np.ndarray, box, margin: float = 0.0) -> np.ndarray:
    """Crop ``box = (x, y, w, h)`` grown by ``margin`` on every side, zero-padding outside.

    The crop keeps the box centred even when the enlarged box leaves the
    image: the missing part is filled with zeros rather than shifted in.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        Source image.
    box : sequence of 4 int
        ``(x, y, w, h)`` in pixels.
    margin : float, default=0.0
        Fraction of the box's width (height) added on the left and right (top
        and bottom).

    Returns
    -------
    crop : ndarray of shape (h', w'[, C])

    Raises
    ------
    ValueError
        If ``box`` is not 4 numbers with a positive width and height, or
        ``margin`` is negative.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing import crop_box
    >>> image = np.ones((10, 10), dtype=np.uint8)
    >>> crop_box(image, (0, 0, 4, 4), margin=0.5)
    array([[0, 0, 0, 0, 0, 0, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0],
           [0, 0, 1, 1, 1, 1, 1, 1],
           [0, 0, 1, 1, 1, 1, 1, 1],
           [0, 0, 1, 1, 1, 1, 1, 1],
           [0, 0, 1, 1, 1, 1, 1, 1],
           [0, 0, 1, 1, 1, 1, 1, 1],
           [0, 0, 1, 1, 1, 1, 1, 1]], dtype=uint8)
    """
    values = np.asarray(box).ravel()
    if values.size != 4:
        raise InputError(f"box must be (x, y, w, h); got {box!r}.")
    x, y, w, h = (int(v) for v in values)
    if w <= 0 or h <= 0:
        raise InputError(f"box {(x, y, w, h)} must have a positive width and height.")
    if margin < 0:
        raise InputError(f"margin must be >= 0; got {margin!r}.")
    dx, dy = round(w * margin), round(h * margin)
    x0, y0, x1, y1 = x - dx, y - dy, x + w + dx, y + h + dy
    height, width = image.shape[:2]
    inside = image[max(y0, 0) : max(min(y1, height), 0), max(x0, 0) : max(min(x1, width), 0)]
    pads = (max(-y0, 0), max(y1 - height, 0), max(-x0, 0), max(x1 - width, 0))
    if not any(pads) and inside.size:
        return inside
    out = np.zeros((y1 - y0, x1 - x0, *image.shape[2:]), dtype=image.dtype)
    top, _, left, _ = pads
    out[top : top + inside.shape[0], left : left + inside.shape[1]] = inside
    return out


def centre_square(shape) -> tuple[int, int, int, int]:
    """The largest centred square ``(x, y, w, h)`` inside an image of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        The image's shape, ``(H, W)`` or ``(H, W, C)``.

    Returns
    -------
    box : tuple of 4 int
        Side ``min(H, W)``; an odd leftover puts the extra pixel after the square.

    Examples
    --------
    >>> from fer_toolkit.utils.boxes import centre_square
    >>> centre_square((48, 64, 3))
    (8, 0, 48, 48)
    """
    height, width = shape[:2]
    side = min(height, width)
    return ((width - side) // 2, (height - side) // 2, side, side)


def square_corners(boxes: np.ndarray) -> np.ndarray:
    """Grow the shorter side of each corner box to the longer one, keeping its centre.

    The squaring step of MTCNN's cascade, computed as the ``mtcnn`` package
    does (``x1 + w / 2 - side / 2`` in floating point), so that its boxes come
    out bit for bit.

    Parameters
    ----------
    boxes : ndarray of shape (n, k), k >= 4
        Rows ``x1, y1, x2, y2, ...``; the columns after the fourth are copied.

    Returns
    -------
    squares : ndarray of shape (n, k)
        A new array, same dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.utils.boxes import square_corners
    >>> square_corners(np.array([[10.0, 20.0, 20.0, 24.0, 0.9]]))
    array([[10. , 17. , 20. , 27. ,  0.9]])
    """
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def square_box(box) -> tuple[int, int, int, int]:
    """The square of side ``max(w, h)`` centred on the pixel box ``(x, y, w, h)``.

    :func:`square_corners` on whole pixels: where centring needs half a pixel,
    the square starts on the pixel before (the corner is rounded down). A face
    verifier sees undistorted faces this way, whatever the detector's box shape
    (MTCNN's are taller than wide).

    Parameters
    ----------
    box : sequence of 4 int
        ``(x, y, w, h)``.

    Returns
    -------
    square : tuple of 4 int

    Examples
    --------
    >>> from fer_toolkit.utils.boxes import square_box
    >>> square_box((10, 20, 10, 15))
    (7, 20, 15, 15)
    """
    x, y, w, h = (int(v) for v in box)
    x1, y1 = square_corners(np.array([[x, y, x + w, y + h]], dtype=np.float64))[0, :2]
    side = max(w, h)
    return (math.floor(x1), math.floor(y1), side, side)


def nms(boxes: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Drop every box that overlaps a higher-scoring box by more than ``threshold``.

    The non-maximum suppression of the ``mtcnn`` package, which MTCNN
    reproduces exactly: unlike greedy NMS, a box that is itself suppressed
    still suppresses the boxes ranked below it. The overlap matrix is
    computed in blocks of rows, so memory stays bounded for thousands of
    candidates.

    Parameters
    ----------
    boxes : ndarray of shape (n, k), k >= 4
        Rows ``x1, y1, x2, y2, ...`` ranked best first (sorted by decreasing
        score); areas are ``(x2 - x1) * (y2 - y1)``.
    threshold : float
        A box goes when its overlap with a box ranked before it is above this.
    method : {"union", "min"}, default="union"
        The overlap: intersection over the union of the two boxes, or over
        the smaller one.

    Returns
    -------
    kept : ndarray of shape (n_kept, k)
        The rows kept, in their order.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.utils.boxes import nms

    Three boxes in a row, each overlapping the next (IoU 0.43) but the first
    and the third hardly (IoU 0.11): the second goes, and takes the third with it.

    >>> boxes = np.array([[0, 0, 10, 10, 0.9], [4, 0, 14, 10, 0.8], [8, 0, 18, 10, 0.7]])
    >>> nms(boxes, 0.3)[:, 4]
    array([0.9])
    >>> nms(boxes, 0.5)[:, 4]
    array([0.9, 0.8, 0.7])
    """
    if method not in ("union", "min"):
        raise InputError(f"method must be 'union' or 'min'; got {method!r}.")
    n = len(boxes)
    if n < 2:
        return boxes
    x1, y1, x2, y2 = boxes[:, :4].T
    area = (x2 - x1) * (y2 - y1)
    keep = np.ones(n, dtype=bool)
    rows = max(1, _NMS_BLOCK // n)
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, n - 1, rows):
            top = slice(start, min(start + rows, n - 1))
            # Only boxes ranked below `start` can be suppressed by this block.
            rest = slice(start + 1, n)
            inter = np.maximum(
                0.0,
                np.minimum(x2[top, None], x2[None, rest])
                - np.maximum(x1[top, None], x1[None, rest]),
            ) * np.maximum(
                0.0,
                np.minimum(y2[top, None], y2[None, rest])
                - np.maximum(y1[top, None], y1[None, rest]),
            )
            if method == "union":
                overlap = inter / (area[top, None] + area[None, rest] - inter)
            else:
                overlap = inter / np.minimum(area[top, None], area[None, rest])
            ranks = np.arange(top.start, top.stop)[:, None] < np.arange(rest.start, n)[None, :]
            keep[rest] &= ~((overlap > threshold) & ranks).any(axis=0)
    return boxes[keep]
