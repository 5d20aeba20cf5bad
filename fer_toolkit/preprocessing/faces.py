"""Cropping one face per image: the shared cropper logic and the Haar cascade cropper."""

from __future__ import annotations

import os
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..detection import Detections, HaarCascadeDetector
from ..utils.boxes import centre_square, crop_box
from ..utils.threads import map_images
from ..utils.validation import InputError, check_size, stack_images
from ._base import ImageTransformer
from .alignment import align_face
from .geometry import resize_image

__all__ = ["FaceFallbackWarning", "HaarFaceCropper", "NoFaceError", "cut_face"]

#: Images detected at once by a face cropper's ``transform``.
_CHUNK = 64

_SELECTORS = {
    "largest": lambda detections, shape: detections.largest(),
    "central": lambda detections, shape: detections.most_central(shape),
    "best": lambda detections, shape: detections.best(),
}


class NoFaceError(InputError):
    """Raised by a face cropper with ``on_missing="raise"`` when an image has no face.

    An :class:`~fer_toolkit.utils.validation.InputError` (so a ``ValueError``);
    the message names the image by its position in the batch.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing import HaarFaceCropper, NoFaceError
    >>> blank = np.zeros((1, 64, 64), dtype=np.uint8)
    >>> try:
    ...     HaarFaceCropper(on_missing="raise").fit_transform(blank)
    ... except NoFaceError as exc:
    ...     print(str(exc).split(" with ")[0])
    no face found in X[0] (shape (64, 64))
    """


class FaceFallbackWarning(UserWarning):
    """A face cropper found no face in some images and kept its ``on_missing`` fallback.

    Silence it with :func:`warnings.filterwarnings` when whole images are wanted.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing import FaceFallbackWarning, HaarFaceCropper
    >>> blank = np.zeros((1, 64, 64), dtype=np.uint8)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     crops = HaarFaceCropper(on_missing="center").fit_transform(blank)
    >>> [warning.category.__name__ for warning in caught]
    ['FaceFallbackWarning']
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error")  # any warning would raise here
    ...     warnings.filterwarnings("ignore", category=FaceFallbackWarning)
    ...     crops = HaarFaceCropper(on_missing="center").fit_transform(blank)
    >>> len(crops), crops[0].shape  # the centred square of each faceless image
    (1, (64, 64))
    """


def cut_face(
    image: np.ndarray,
    detections: Detections,
    index: int,
    *,
    output_size=None,
    margin: float = 0.0,
    align: bool = False,
) -> np.ndarray:
    """Cut face ``index`` of ``detections`` out of ``image``, as the face croppers do.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        The image the detections refer to.
    detections : Detections
        Faces found in ``image`` (boxes, and landmarks for ``align``).
    index : int
        Which face.
    output_size : int, tuple of (height, width) or None, default=None
        Size of the result; None keeps the face's own resolution.
    margin : float, default=0.0
        Fraction of the face added on every side.
    align : bool, default=False
        Rotate, scale and shift the face so its five landmarks fall on
        :data:`~fer_toolkit.preprocessing.FACE_TEMPLATE` (eyes level, see
        :func:`~fer_toolkit.preprocessing.align_face`) instead of cropping its
        box (:func:`crop_box`, then resized with INTER_AREA).

    Returns
    -------
    face : ndarray of shape (h, w[, C])
        Same dtype and channels as ``image``.

    Raises
    ------
    ValueError
        For ``align=True`` with detections that have no landmarks (a Haar
        cascade's), or an invalid ``output_size`` or ``margin``.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.detection import Detections
    >>> from fer_toolkit.preprocessing import cut_face
    >>> image = np.zeros((100, 100, 3), dtype=np.uint8)
    >>> found = Detections(np.array([[20, 30, 40, 40]]), np.array([0.99]))
    >>> cut_face(image, found, 0, output_size=48, margin=0.1).shape
    (48, 48, 3)
    """
    if align:
        if detections.landmarks is None:
            raise InputError(
                "face alignment needs five landmarks per face, which this detector does not "
                "give (a Haar cascade's): use MTCNN, or align=False."
            )
        return align_face(image, detections.landmarks[index], output_size, margin=margin)
    crop = crop_box(image, detections.boxes[index], margin)
    if output_size is None:
        return crop
    return resize_image(crop, check_size(output_size, "output_size"), "area")


class _DetectorCache:
    """Keeps the detector built for the current parameters; pickles without it."""

    def _cached_detector(self, key, build):
        """The detector for ``key``, built by ``build()`` when ``key`` changed."""
        cached = self.__dict__.get("_detector_cache")
        if cached is None or cached[0] != key:
            cached = (key, build())
            self._detector_cache = cached
        return cached[1]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_detector_cache", None)
        return state


class _FaceCropper(_DetectorCache, ImageTransformer):
    """One face per image: detect, keep one face, cut it out or fall back, resize.

    Subclasses build their detector (:meth:`_detector`), run it over the batch
    (:meth:`_detect_all`), name it in errors (:meth:`_detector_name`) and may
    change how a kept face is cut out (:meth:`_cut`). The parameters ``margin``,
    ``output_size``, ``keep`` and ``on_missing`` behave the same in every cropper.
    """

    _parameter_constraints: dict = {
        "margin": [Interval(Real, 0.0, None, closed="left")],
        "output_size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "keep": [StrOptions(set(_SELECTORS))],
        "on_missing": [StrOptions({"center", "full", "raise"})],
    }

    def _prepare(self):
        """Check the parameters and build the detector (at ``fit`` already)."""
        size = None if self.output_size is None else check_size(self.output_size, "output_size")
        return self._detector(), size

    def _cut(self, image, detections, index, size):
        """Face ``index`` of ``detections``, cut as :func:`cut_face` does with ``align=False``."""
        return cut_face(image, detections, index, output_size=size, margin=self.margin)

    def _crop(self, index, image, detections, size):
        if len(detections):
            return self._cut(
                image, detections, _SELECTORS[self.keep](detections, image.shape), size
            )
        if self.on_missing == "raise":
            raise NoFaceError(
                f"no face found in X[{index}] (shape {image.shape}) with {self._detector_name()}; "
                "use on_missing='center' or 'full' to keep such images."
            )
        crop = crop_box(image, centre_square(image.shape)) if self.on_missing == "center" else image
        return crop if size is None else resize_image(crop, size, "area")

    def transform(self, X):
        """Crop one face out of every image.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of arrays
            RGB or grayscale images, uint8 or float in [0, 1].

        Returns
        -------
        faces : ndarray of shape (n, h, w[, C]) or list of ndarray
            An ndarray when ``output_size`` is set (a list if the images mix
            grayscale and colour layouts), else a list of crops.

        Raises
        ------
        NoFaceError
            With ``on_missing="raise"``, naming the first image without a face.
        """
        self._validate_params()
        images = self._check_input(X)
        detector, size = self._prepare()
        crops, missing = [], []
        # In chunks: the detector's working memory (grey copies, MTCNN's image pyramids)
        # stays that of one chunk, however many images there are.
        for start in range(0, len(images), _CHUNK):
            chunk = images[start : start + _CHUNK]
            found = self._detect_all(detector, chunk)
            missing += [start + i for i, d in enumerate(found) if not len(d)]
            items = list(zip(range(start, start + len(chunk)), chunk, found, strict=True))
            crops += map_images(
                lambda item: self._crop(*item, size), items, getattr(self, "n_jobs", None)
            )
        if missing:
            fallback = "a centred square" if self.on_missing == "center" else "the whole image"
            shown = ", ".join(f"X[{i}]" for i in missing[:5]) + (", ..." * (len(missing) > 5))
            warnings.warn(
                f"{self._detector_name()} found no face in {len(missing)} of {len(images)} "
                f"images ({shown}); kept {fallback} in their place (on_missing="
                f"{self.on_missing!r}; 'raise' stops instead).",
                FaceFallbackWarning,
                stacklevel=3,  # past scikit-learn's set_output wrapper, at the caller
            )
        return stack_images(crops) if size is not None else crops

    def detect(self, X) -> list[Detections]:
        """Detect every face in every image.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of arrays
            Images.

        Returns
        -------
        detections : list of Detections
            One per image, in the input image's pixels (see the detector's
            ``detect``).
        """
        self._validate_params()
        images = self._check_input(X)
        detector, _ = self._prepare()
        return self._detect_all(detector, images)


class HaarFaceCropper(_FaceCropper):
    """Crop one face per image with an OpenCV Haar (or LBP) cascade.

    Parameters
    ----------
    cascade : str or os.PathLike, default="frontalface_default"
        A stock cascade name found in ``cv2.data.haarcascades``
        (``"frontalface_default"``, ``"frontalface_alt2"``, ``"profileface"``...),
        a cascade shipped in ``fer_toolkit.cascades``, or a path to any cascade
        XML file, including those written by ``fer-toolkit cascade train``.
    scale_factor : float, default=1.1
        Pyramid step between scanned scales (OpenCV's ``scaleFactor``).
    min_neighbors : int, default=5
        Overlapping raw detections required to keep a face (``minNeighbors``).
    min_size : tuple of (width, height) or None, default=None
        Smallest face to look for, in pixels (``minSize``); larger values are
        much faster on big photos.
    margin : float, default=0.0
        Fraction of the face box added on each side before cropping; parts of
        the enlarged box outside the image are zero-padded, keeping the face
        centred.
    output_size : int, tuple of (height, width) or None, default=None
        Resize crops to this size (INTER_AREA), giving one ndarray (when the
        images share one channel layout); ``None`` keeps each crop's own size
        and returns a list.
    keep : {"largest", "central", "best"}, default="largest"
        Which face to keep when several are found: the largest box, the one
        closest to the image centre, or the one with most merged neighbours.
    on_missing : {"center", "full", "raise"}, default="center"
        Policy for an image without a face: crop the largest centred square,
        keep the full frame, or raise :class:`NoFaceError` naming the image.
        The number of images never changes, so ``y`` stays aligned. Each
        ``transform`` that falls back warns (:class:`FaceFallbackWarning`)
        with the count and the first images concerned.
    n_jobs : int or None, default=None
        Threads detecting in parallel (``None`` means 1, ``-1`` all cores).
        While several threads run, OpenCV's own thread pool is paused to avoid
        oversubscription.

    See Also
    --------
    fer_toolkit.detection.HaarCascadeDetector : The detector used underneath.

    Notes
    -----
    Output dtype and channels equal the input's: faces are cut from the
    original image (colour kept); detection runs on a grayscale copy.

    Examples
    --------
    >>> from skimage import data
    >>> from fer_toolkit.preprocessing import HaarFaceCropper
    >>> cropper = HaarFaceCropper(output_size=48, margin=0.1)
    >>> cropper.fit_transform([data.astronaut()]).shape
    (1, 48, 48, 3)
    >>> cropper.detect([data.astronaut()])[0].boxes
    array([[177,  66,  95,  95]])
    """

    _parameter_constraints: dict = {
        **_FaceCropper._parameter_constraints,
        "cascade": [str, os.PathLike],
        "scale_factor": [Interval(Real, 1.0, None, closed="neither")],
        "min_neighbors": [Interval(Integral, 0, None, closed="left")],
        "min_size": [tuple, list, None],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        cascade="frontalface_default",
        scale_factor=1.1,
        min_neighbors=5,
        min_size=None,
        margin=0.0,
        output_size=None,
        keep="largest",
        on_missing="center",
        n_jobs=None,
    ):
        self.cascade = cascade
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.margin = margin
        self.output_size = output_size
        self.keep = keep
        self.on_missing = on_missing
        self.n_jobs = n_jobs

    def _detector(self) -> HaarCascadeDetector:
        """The detector for the current parameters, built once and reused."""
        min_size = None if self.min_size is None else tuple(self.min_size)
        return self._cached_detector(
            (os.fspath(self.cascade), self.scale_factor, self.min_neighbors, min_size),
            lambda: HaarCascadeDetector(
                self.cascade, self.scale_factor, self.min_neighbors, min_size=self.min_size
            ),
        )

    def _detector_name(self) -> str:
        return f"cascade {os.fspath(self.cascade)!r}"

    def _detect_all(self, detector, images) -> list[Detections]:
        return map_images(detector.detect, images, self.n_jobs)

    def detect(self, X) -> list[Detections]:
        """Detect every face in every image.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of arrays
            Images.

        Returns
        -------
        detections : list of Detections
            One per image: ``boxes`` ``(k, 4)`` as ``(x, y, w, h)``, ``scores``
            (merged neighbours), no landmarks; strongest box first (see
            :meth:`~fer_toolkit.detection.HaarCascadeDetector.detect`).
        """
        return super().detect(X)
