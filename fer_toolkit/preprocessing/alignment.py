"""Face alignment: a canonical five-point template and similarity warps (a functional core).

Coordinates are ``(x, y)`` pixel positions with pixel centres at integers (the
top-left pixel's centre is ``(0, 0)``), the convention of OpenCV's warps and of
the landmarks of :func:`fer_toolkit.datasets.make_synthetic_faces`.

The canonical template
----------------------
:data:`FACE_TEMPLATE` places the five landmarks (left eye, right eye, nose tip,
mouth left, mouth right; "left" is image-left) in a unit face square, ``x``
right and ``y`` down, 0 and 1 being the square's edges:

===========  ===============  ================================================
landmark     (x, y)           why
===========  ===============  ================================================
eyes         (0.325, 0.43),   level and symmetric about the midline; 0.35
             (0.675, 0.43)    apart, so the face spans most of the width
nose tip     (0.5, 0.62)      on the midline, a little above half-way from the
                              eyes to the mouth, as in adult faces
mouth        (0.355, 0.79),   0.29 apart (about 0.8 of the eye distance), and
             (0.645, 0.79)    0.36 below the eyes (about one eye distance)
===========  ===============  ================================================

The framing is that of FER2013's 48x48 crops, which
:func:`~fer_toolkit.datasets.make_synthetic_faces` imitates: the mean synthetic
landmarks lie within 0.01 of the template. Compared with the ArcFace/insightface
recognition template (eyes at 46% of the height, mouth at 82%), these faces sit
higher and a little smaller: 0.2 of the side stays above the eyes for the
eyebrows and the forehead, which expressions move (the upper block of prior attention), and
0.2 below the mouth for the chin and a wide-open mouth.
"""

from __future__ import annotations

import math
from numbers import Real

import cv2
import numpy as np

from ..utils.validation import InputError, check_size
from .geometry import resize_image

__all__ = ["FACE_TEMPLATE", "align_face", "face_template", "similarity_transform"]

#: Canonical landmark positions in a unit face square (see the module docstring).
FACE_TEMPLATE = np.array(
    [
        [0.325, 0.43],  # left eye
        [0.675, 0.43],  # right eye
        [0.5, 0.62],  # nose tip
        [0.355, 0.79],  # mouth left
        [0.645, 0.79],  # mouth right
    ]
)
FACE_TEMPLATE.flags.writeable = False


def _check_points(points, name: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 2:
        raise InputError(
            f"{name} must be an array of shape (k, 2) with k >= 2; got shape {points.shape}."
        )
    if not np.isfinite(points).all():
        raise InputError(f"{name} contains NaN or infinite coordinates.")
    return points


def _check_margin(margin) -> float:
    if not isinstance(margin, Real) or isinstance(margin, bool) or not margin >= 0:
        raise InputError(f"margin must be a number >= 0; got {margin!r}.")
    return float(margin)


def face_template(output_size, margin: float = 0.0, template=None) -> np.ndarray:
    """The template's landmarks in pixels of an output image of ``output_size``.

    The unit face square is centred in the output and its side is
    ``min(height, width) / (1 + 2 * margin)``: a margin adds that fraction of
    the face on every side, as the croppers' ``margin`` does. Non-square outputs
    show more context along their longer side.

    Parameters
    ----------
    output_size : int or tuple of (height, width)
        Size of the aligned image.
    margin : float, default=0.0
        Fraction of the face square added on each side.
    template : array-like of shape (k, 2) or None, default=None
        Landmarks in unit-square coordinates; :data:`FACE_TEMPLATE` if None.

    Returns
    -------
    points : ndarray of shape (k, 2), dtype float64
        ``(x, y)`` pixel coordinates.

    Examples
    --------
    >>> from fer_toolkit.preprocessing.alignment import face_template
    >>> face_template(100)[:2]  # the eyes
    array([[32. , 42.5],
           [67. , 42.5]])
    """
    height, width = check_size(output_size, "output_size")
    unit = _check_points(FACE_TEMPLATE if template is None else template, "template")
    side = min(height, width) / (1.0 + 2.0 * _check_margin(margin))
    centre = np.array([width, height]) / 2.0
    return (unit - 0.5) * side + centre - 0.5


def similarity_transform(src, dst) -> np.ndarray:
    """Least-squares similarity mapping ``src`` points onto ``dst`` (Umeyama, 1991).

    Finds the rotation ``R``, uniform scale ``c`` and translation ``t``
    minimising ``sum ||dst_i - (c R src_i + t)||^2``. Reflections are excluded,
    so a mirrored face is not flipped back.

    Parameters
    ----------
    src, dst : array-like of shape (k, 2)
        Corresponding ``(x, y)`` points, ``k >= 2``.

    Returns
    -------
    matrix : ndarray of shape (2, 3), dtype float64
        ``[c R | t]``, the forward map as ``cv2.warpAffine`` expects it.

    Raises
    ------
    ValueError
        If the shapes differ or are not ``(k, 2)``, a coordinate is not
        finite, or either point set has all its points at one place.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing.alignment import similarity_transform
    >>> src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> dst = 2 * src[:, ::-1] * [1, -1] + [5, 5]  # rotated by -90 degrees, scaled by 2
    >>> np.round(similarity_transform(src, dst), 6) + 0.0
    array([[ 0.,  2.,  5.],
           [-2.,  0.,  5.]])
    """
    src = _check_points(src, "src")
    dst = _check_points(dst, "dst")
    if src.shape != dst.shape:
        raise InputError(f"src and dst must have the same shape; got {src.shape} and {dst.shape}.")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    dst_var = (dst_c**2).sum() / len(dst)
    for name, var, points in (("src", src_var, src), ("dst", dst_var, dst)):
        if var <= 1e-12 * max(1.0, float(np.abs(points).max()) ** 2):
            raise InputError(f"{name} points all coincide; a similarity needs distinct points.")
    u, s, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    signs = np.array([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = (u * signs) @ vt
    scale = float((s * signs).sum() / src_var)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def warp_affine(image: np.ndarray, matrix, output_size) -> np.ndarray:
    """Warp ``image`` by the forward affine ``matrix`` into ``output_size``, without aliasing.

    Pixels from outside the image are zero, as :func:`crop_box` pads. A warp
    that shrinks (by ``c < 1`` along some direction) first renders the output
    ``k = ceil(1/c)`` times larger and then averages ``k x k`` blocks (``INTER_AREA`` by an
    integer factor, which keeps the geometry exact): plain bilinear sampling
    would skip pixels and alias.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        uint8 or float.
    matrix : array-like of shape (2, 3)
        Maps input ``(x, y)`` to output ``(x, y)`` (pixel centres at integers).
    output_size : int or tuple of (height, width)
        Size of the result.

    Returns
    -------
    warped : ndarray of shape (height, width[, C])
        Same dtype and channel layout as ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing.alignment import warp_affine
    >>> image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> warp_affine(image, [[0.5, 0, -0.25], [0, 0.5, -0.25]], 2)  # 2x2 block means, rounded
    array([[ 3,  5],
           [11, 13]], dtype=uint8)
    """
    height, width = check_size(output_size, "output_size")
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (2, 3) or not np.isfinite(matrix).all():
        raise InputError(f"matrix must be a finite (2, 3) affine map; got shape {matrix.shape}.")
    # The smallest singular value is the strongest shrink along any direction.
    scale = float(np.linalg.svd(matrix[:, :2], compute_uv=False)[-1])
    if scale <= 1e-12:
        raise InputError("matrix is singular: it maps the image onto a line or a point.")
    factor = max(1, math.ceil(1.0 / scale - 1e-9))
    # Output pixel j covers pixels [k j, k j + k) of the k-times larger render, whose
    # centre is at k j + (k - 1) / 2 there.
    render = matrix * factor
    render[:, 2] += (factor - 1) / 2.0
    source = image.astype(np.float32) if image.dtype == np.float16 else image
    warped = cv2.warpAffine(
        source,
        render,
        (width * factor, height * factor),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    if image.ndim == 3 and warped.ndim == 2:  # OpenCV drops a single channel axis
        warped = warped[..., np.newaxis]
    warped = resize_image(warped, (height, width), "area")
    return warped.astype(image.dtype, copy=False)


def align_face(image, landmarks, output_size=None, *, margin=0.0, template=None) -> np.ndarray:
    """Rotate, scale and shift a face so its landmarks fall on the canonical template.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        The image the landmarks refer to, uint8 or float.
    landmarks : array-like of shape (5, 2)
        ``(x, y)`` of left eye, right eye, nose, mouth left, mouth right in
        pixels of ``image`` (as :class:`~fer_toolkit.detection.Detections`
        gives them), or ``k`` points matching a custom ``template``.
    output_size : int, tuple of (height, width) or None, default=None
        Size of the aligned face. ``None`` keeps the face's own resolution: a
        square whose side makes the warp's scale 1.
    margin : float, default=0.0
        Fraction of the face square added on each side (see
        :func:`face_template`).
    template : array-like of shape (k, 2) or None, default=None
        Target landmarks in unit-square coordinates; :data:`FACE_TEMPLATE` if
        None.

    Returns
    -------
    face : ndarray of shape (height, width[, C])
        Same dtype and channels as ``image``; zero where the face square
        leaves the image.

    Raises
    ------
    ValueError
        If the landmarks do not match the template's shape, are not finite or
        coincide, or ``output_size`` or ``margin`` is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing.alignment import align_face, face_template
    >>> image = np.zeros((200, 200), dtype=np.uint8)
    >>> eyes_tilted = [[60, 80], [120, 100], [85, 120], [60, 150], [105, 165]]
    >>> align_face(image, eyes_tilted, 48).shape
    (48, 48)
    >>> align_face(image, eyes_tilted, margin=0.25).shape  # native resolution
    (276, 276)
    """
    landmarks = _check_points(landmarks, "landmarks")
    # A 1x1 output's template is the unit square (with margin), shifted by half a pixel.
    unit = face_template(1, margin, template) + 0.5
    if unit.shape != landmarks.shape:
        raise InputError(
            f"landmarks have shape {landmarks.shape} but the template has {unit.shape}."
        )
    if output_size is None:
        scale = math.sqrt(abs(np.linalg.det(similarity_transform(landmarks, unit)[:, :2])))
        output_size = max(1, round(1.0 / scale))
    target = face_template(output_size, margin, template)
    return warp_affine(image, similarity_transform(landmarks, target), output_size)
