"""Eye and mouth blocks beside the face: the inputs of a prior-attention network.

The prior-attention approach is that of iTerner/Facial-Emotion-Detection
(https://github.com/iTerner/Facial-Emotion-Detection).

One geometric rule, :func:`eye_mouth_regions`, turns five landmarks into two
rectangles in a frame that follows the eye line:

* the **eyes** block spans both eyes plus ``0.5 s`` to either side, from
  ``0.65 s`` above the eyes (the eyebrows, raised ones included) to ``0.4 s``
  below them (the lower lids and cheeks that a smile lifts);
* the **mouth** block spans both mouth corners plus ``0.65 s`` to either side,
  from ``0.5 s`` above the higher corner to ``0.55 s`` below the lower one (a
  wide-open mouth).

``s`` is the face scale: the mean of the eye distance and the distance from
the eyes' midpoint to the mouth's. The geometric priors for already-aligned
faces are the same rule applied to the canonical template of
:mod:`fer_toolkit.preprocessing.alignment` (:func:`prior_regions`), so the two
locators and :class:`~fer_toolkit.preprocessing.MTCNNFaceCropper` alignment
can never drift apart. On a
square face the priors are, as fractions of its side:

=====  ================  ================
block  x                 y
=====  ================  ================
eyes   0.1475 to 0.8525  0.199 to 0.572
mouth  0.124 to 0.876    0.6125 to 0.985
=====  ================  ================
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..utils.validation import InputError, check_size
from ._base import ImageTransformer
from .alignment import face_template, warp_affine
from .faces import NoFaceError
from .geometry import resize_image
from .mtcnn_faces import _MTCNN_CONSTRAINTS, _MTCNNUser

__all__ = ["EyeMouthBlocks", "eye_mouth_regions", "prior_regions"]

# Padding of each block around its landmarks, in face scales: (sideways, up, down).
_EYES_PAD = (0.5, 0.65, 0.4)
_MOUTH_PAD = (0.65, 0.5, 0.55)

_BLOCKS = ("eyes", "mouth")


def _check_landmarks(landmarks) -> np.ndarray:
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (5, 2) or not np.isfinite(landmarks).all():
        raise InputError(
            "landmarks must be a finite (5, 2) array (left eye, right eye, nose, mouth left, "
            f"mouth right); got shape {landmarks.shape}."
        )
    return landmarks


def eye_mouth_regions(landmarks) -> dict[str, tuple]:
    """Locate the eyes and mouth blocks from five face landmarks.

    Parameters
    ----------
    landmarks : array-like of shape (5, 2)
        ``(x, y)`` of left eye, right eye, nose, mouth left, mouth right
        ("left" is image-left), as in :class:`~fer_toolkit.detection.Detections`.

    Returns
    -------
    regions : dict
        ``{"eyes": rect, "mouth": rect}``, each a rotated rectangle
        ``((cx, cy), (width, height), angle)`` in OpenCV's ``RotatedRect``
        convention (angle in degrees, that of the eye line; ``cv2.boxPoints``
        gives its corners). Its width runs along the eye line.

    Raises
    ------
    ValueError
        If ``landmarks`` is not a finite ``(5, 2)`` array, or all five
        landmarks coincide.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing import eye_mouth_regions
    >>> landmarks = [[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]]
    >>> (cx, cy), (w, h), angle = eye_mouth_regions(landmarks)["eyes"]
    >>> cx, cy, w, h, angle
    (50.0, 35.0, 80.0, 42.0, 0.0)
    """
    landmarks = _check_landmarks(landmarks)
    left_eye, right_eye, _, mouth_left, mouth_right = landmarks
    eye_line = right_eye - left_eye
    eye_distance = float(np.hypot(*eye_line))
    eyes_mid = (left_eye + right_eye) / 2.0
    scale = (eye_distance + float(np.hypot(*((mouth_left + mouth_right) / 2.0 - eyes_mid)))) / 2
    if scale <= 0:
        raise InputError("landmarks all coincide; cannot locate the eye and mouth blocks.")
    angle = float(np.arctan2(eye_line[1], eye_line[0])) if eye_distance > 0 else 0.0
    # Frame axes: along the eye line, and perpendicular to it towards the mouth.
    axes = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    regions = {}
    for name, points, (side, up, down) in (
        ("eyes", landmarks[:2], _EYES_PAD),
        ("mouth", landmarks[3:], _MOUTH_PAD),
    ):
        local = (points - eyes_mid) @ axes.T
        low = local.min(axis=0) - scale * np.array([side, up])
        high = local.max(axis=0) + scale * np.array([side, down])
        centre = eyes_mid + ((low + high) / 2.0) @ axes
        width, height = high - low
        regions[name] = (
            (float(centre[0]), float(centre[1])),
            (float(width), float(height)),
            float(np.degrees(angle)),
        )
    return regions


def prior_regions(face_shape) -> dict[str, tuple]:
    """The blocks of an aligned face: :func:`eye_mouth_regions` of the canonical template.

    Parameters
    ----------
    face_shape : tuple of int
        ``(height, width[, channels])`` of the face image. The template sits in
        its centred square (see :func:`~fer_toolkit.preprocessing.face_template`).

    Returns
    -------
    regions : dict
        As :func:`eye_mouth_regions`; the angle is 0.

    Examples
    --------
    >>> from fer_toolkit.preprocessing import prior_regions
    >>> (cx, cy), (width, height), angle = prior_regions((48, 48))["mouth"]
    >>> round(cx, 2), round(cy, 2), round(width, 2), round(height, 2), angle
    (23.5, 37.85, 36.07, 17.89, 0.0)
    """
    return eye_mouth_regions(face_template(tuple(face_shape[:2])))


def _region_matrix(region, size) -> np.ndarray:
    """The affine map from image pixels onto a ``size = (height, width)`` view of ``region``."""
    (cx, cy), (width, height), angle = region
    out_height, out_width = size
    theta = np.radians(angle)
    axes = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    linear = np.diag([out_width / width, out_height / height]) @ axes
    offset = np.array([out_width / 2.0 - 0.5, out_height / 2.0 - 0.5]) - linear @ (cx, cy)
    return np.column_stack([linear, offset])


class EyeMouthBlocks(_MTCNNUser, ImageTransformer):
    """Cut the eyes block and the mouth block out of every face, beside the face itself.

    The prior attention of iTerner/Facial-Emotion-Detection: an upper block
    (eyes and eyebrows) and a lower block (mouth) carry most expression cues,
    and a network sees them at full resolution alongside the whole face. The
    blocks follow the rule of :func:`eye_mouth_regions`, from one of two
    locators.

    Parameters
    ----------
    locator : {"prior", "landmarks"}, default="prior"
        ``"prior"``: fixed positions for already-aligned faces (FER2013-style
        48x48 crops, or :class:`MTCNNFaceCropper` with ``align=True``), derived
        from the alignment template (:func:`prior_regions`). ``"landmarks"``:
        MTCNN finds the five landmarks on each face image (the largest face if
        several); the blocks then follow head tilt and face proportions.
    face_size : int or tuple of (height, width), default=48
        Size of the face output (the whole image, resized with INTER_AREA).
    eyes_size, mouth_size : int or tuple of (height, width), default=(24, 48)
        Sizes of the block outputs with ``output="dict"``. Their default aspect
        is close to the blocks' own (about 1:2), so they are barely stretched.
    output : {"dict", "stacked"}, default="dict"
        ``"dict"``: a :class:`skorch.helper.SliceDict` with keys ``"face"``,
        ``"eyes"`` and ``"mouth"``, which skorch feeds to a module's
        ``forward(face, eyes, mouth)`` and scikit-learn's cross-validation
        slices row-wise. ``"stacked"``: one ndarray ``(n, H, W, 3 C)`` with
        ``(H, W) = face_size`` and ``C`` the input's channels (1 for
        grayscale): face, eyes and mouth, each rendered at ``face_size``,
        concatenated along the channel axis in that order (``eyes_size`` and
        ``mouth_size`` are then unused).
    on_missing : {"prior", "raise"}, default="prior"
        With ``locator="landmarks"``, the policy for a face image in which
        MTCNN finds no face: use the geometric priors for that image, or raise
        :class:`NoFaceError` naming it. Ignored by ``locator="prior"``.
    min_face_size : int, default=20
        MTCNN's smallest face, in pixels (``locator="landmarks"`` only).
    thresholds : tuple of 3 float, default=(0.6, 0.7, 0.8)
        MTCNN's P-, R- and O-Net confidence thresholds (``locator="landmarks"``
        only).
    device : str or torch.device, default="auto"
        Where MTCNN runs: ``"auto"`` (CUDA when available), ``"cpu"``,
        ``"cuda"``...
    batch_size : int, default=512
        Largest number of face candidates per MTCNN R-Net or O-Net pass; all
        images go through :meth:`~fer_toolkit.detection.MTCNN.detect_batch` at once.

    See Also
    --------
    eye_mouth_regions : The block rule, from five landmarks.
    MTCNNFaceCropper : Aligned face crops on which the priors hold.

    Notes
    -----
    Blocks are sampled straight from the input image (one resampling, bilinear,
    area-averaged when shrinking) and are zero where they leave it. Output
    dtype and channels equal the input's; a batch must not mix grayscale and
    colour layouts.

    Examples
    --------
    >>> from fer_toolkit.datasets import make_synthetic_faces
    >>> from fer_toolkit.preprocessing import EyeMouthBlocks
    >>> faces = make_synthetic_faces(8, random_state=0).images
    >>> blocks = EyeMouthBlocks().fit_transform(faces)
    >>> blocks["face"].shape, blocks["eyes"].shape, blocks["mouth"].shape
    ((8, 48, 48), (8, 24, 48), (8, 24, 48))
    >>> EyeMouthBlocks(output="stacked").fit_transform(faces).shape
    (8, 48, 48, 3)
    """

    _parameter_constraints: dict = {
        **_MTCNN_CONSTRAINTS,
        "locator": [StrOptions({"prior", "landmarks"})],
        "face_size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "eyes_size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "mouth_size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "output": [StrOptions({"dict", "stacked"})],
        "on_missing": [StrOptions({"prior", "raise"})],
    }

    def __init__(
        self,
        locator="prior",
        face_size=48,
        eyes_size=(24, 48),
        mouth_size=(24, 48),
        output="dict",
        on_missing="prior",
        min_face_size=20,
        thresholds=(0.6, 0.7, 0.8),
        device="auto",
        batch_size=512,
    ):
        self.locator = locator
        self.face_size = face_size
        self.eyes_size = eyes_size
        self.mouth_size = mouth_size
        self.output = output
        self.on_missing = on_missing
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.device = device
        self.batch_size = batch_size

    def _prepare(self):
        """Check the sizes; build MTCNN for ``locator="landmarks"`` (at ``fit`` already)."""
        face_size = check_size(self.face_size, "face_size")
        sizes = {
            "eyes": check_size(self.eyes_size, "eyes_size"),
            "mouth": check_size(self.mouth_size, "mouth_size"),
        }
        if self.output == "stacked":
            sizes = dict.fromkeys(sizes, face_size)
        detector = self._mtcnn() if self.locator == "landmarks" else None
        return face_size, sizes, detector

    def locate(self, X) -> list[dict]:
        """The eyes and mouth regions of every image, as the blocks are cut.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of arrays
            Face images.

        Returns
        -------
        regions : list of dict
            Per image, ``{"eyes": rect, "mouth": rect, "source": str}``: rotated
            rectangles as :func:`eye_mouth_regions` gives them, and
            ``"landmarks"`` or ``"prior"`` telling where they came from.

        Raises
        ------
        NoFaceError
            With ``locator="landmarks"`` and ``on_missing="raise"``, naming the
            first image in which MTCNN finds no face.
        """
        self._validate_params()
        images = self._check_input(X)
        *_, detector = self._prepare()
        return self._locate(images, detector)

    def _locate(self, images, detector) -> list[dict]:
        if detector is None:
            return [{**prior_regions(image.shape), "source": "prior"} for image in images]
        found = detector.detect_batch(images)
        regions = []
        for index, (image, detections) in enumerate(zip(images, found, strict=True)):
            if len(detections):
                landmarks = detections.landmarks[detections.largest()]
                regions.append({**eye_mouth_regions(landmarks), "source": "landmarks"})
            elif self.on_missing == "raise":
                raise NoFaceError(
                    f"MTCNN found no face in X[{index}] (shape {image.shape}) to locate the "
                    "eyes and mouth on; use on_missing='prior' to fall back to the geometric "
                    "priors for such images."
                )
            else:
                regions.append({**prior_regions(image.shape), "source": "prior"})
        return regions

    def transform(self, X):
        """Cut the face, eyes and mouth out of every image.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of arrays
            Face images (one face filling each), RGB or grayscale, uint8 or
            float in [0, 1]; all grayscale or all colour.

        Returns
        -------
        blocks : skorch.helper.SliceDict or ndarray
            With ``output="dict"``: ``face`` ``(n, *face_size[, C])``, ``eyes``
            ``(n, *eyes_size[, C])`` and ``mouth`` ``(n, *mouth_size[, C])``.
            With ``output="stacked"``: ``(n, *face_size, 3 C)``.

        Raises
        ------
        ValueError
            If the images mix channel layouts (the message names two of them).
        NoFaceError
            See :meth:`locate`.
        """
        self._validate_params()
        images = self._check_input(X)
        face_size, sizes, detector = self._prepare()
        _check_one_layout(images)
        regions = self._locate(images, detector)
        parts = {
            "face": np.stack([resize_image(image, face_size, "area") for image in images]),
            **{
                name: np.stack(
                    [
                        warp_affine(image, _region_matrix(region[name], sizes[name]), sizes[name])
                        for image, region in zip(images, regions, strict=True)
                    ]
                )
                for name in _BLOCKS
            },
        }
        if self.output == "stacked":
            channels = [
                part if part.ndim == 4 else part[..., np.newaxis] for part in parts.values()
            ]
            return np.concatenate(channels, axis=-1)
        from skorch.helper import SliceDict  # skorch imports torch: only when needed

        return SliceDict(**parts)


def _check_one_layout(images) -> None:
    """Raise when the images mix channel layouts: their blocks could not be stacked."""
    layouts = [image.shape[2:] for image in images]
    for index, layout in enumerate(layouts):
        if layout != layouts[0]:
            raise InputError(
                f"X[0] has shape {images[0].shape} but X[{index}] has shape "
                f"{images[index].shape}: EyeMouthBlocks needs all images grayscale or all "
                "colour (put a Grayscale step first)."
            )
