"""Haar / LBP cascade face detection with OpenCV's ``CascadeClassifier``."""

from __future__ import annotations

import os
import queue
from numbers import Integral, Real
from pathlib import Path

import cv2
import numpy as np

from ..utils.pixels import to_gray, to_uint8
from ..utils.validation import InputError, check_image, check_size
from .results import Detections

__all__ = ["HaarCascadeDetector", "available_cascades", "resolve_cascade"]

_STOCK_PREFIX = "haarcascade_"
WINDOW = "(width, height)"  # OpenCV's order for minSize / maxSize


def _cascade_folders() -> list[Path]:
    """Folders searched for cascades by name: ours first, then OpenCV's stock set."""
    from .. import cascades

    folders = [Path(cascades.__file__).parent]
    stock = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if stock:
        folders.append(Path(stock))
    return folders


def available_cascades() -> list[str]:
    """Names accepted by :func:`resolve_cascade` (OpenCV's stock cascades and ours).

    Examples
    --------
    >>> from fer_toolkit.detection import available_cascades
    >>> "frontalface_default" in available_cascades()
    True
    """
    names = set()
    for folder in _cascade_folders():
        for path in folder.glob("*.xml"):
            names.add(path.stem.removeprefix(_STOCK_PREFIX))
    return sorted(names)


def resolve_cascade(cascade: str | os.PathLike) -> str:
    """Return the path of a cascade given by file path or by name.

    Parameters
    ----------
    cascade : str or os.PathLike
        A path to any cascade XML (OpenCV's format, including files written by
        ``fer-toolkit cascade train``), or a name such as
        ``"frontalface_default"``, ``"frontalface_alt2"`` or
        ``"haarcascade_eye.xml"`` looked up among :func:`available_cascades`.

    Returns
    -------
    path : str

    Raises
    ------
    ValueError
        If ``cascade`` is neither an existing file nor a known name; the
        message lists the known names.

    Examples
    --------
    >>> from fer_toolkit.detection import resolve_cascade
    >>> resolve_cascade("frontalface_alt2").endswith("haarcascade_frontalface_alt2.xml")
    True
    """
    text = os.fspath(cascade)
    if os.path.isfile(text):
        return text
    if os.path.isdir(text):
        raise InputError(f"cascade {text!r} is a directory; give a cascade XML file.")
    stem = Path(text).name.removesuffix(".xml").removeprefix(_STOCK_PREFIX)
    for folder in _cascade_folders():
        for candidate in (folder / f"{stem}.xml", folder / f"{_STOCK_PREFIX}{stem}.xml"):
            if candidate.is_file():
                return str(candidate)
    raise InputError(
        f"unknown cascade {text!r}: not an existing file and not one of the known names "
        f"{available_cascades()}."
    )


#: ``(real path, size, mtime)`` of user cascade files already checked in this process.
_CHECKED: set = set()


def check_cascade_file(path: str) -> None:
    """Validate a cascade file fully before OpenCV sees it (OpenCV trusts its input).

    OpenCV's own cascades and fer_toolkit's are trusted; any other file is read with
    :func:`fer_toolkit.cascade.read_cascade`, which checks the XML (no DTD or entity),
    the counts, the numbers, the feature indices and that every rectangle lies inside
    the window, and raises a ``ValueError`` naming the file, line and element at fault.
    A file OpenCV would crash on (a node naming feature 99999, say) never reaches it.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.detection.haar import check_cascade_file
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.xml")
    >>> _ = open(path, "w").write("<opencv_storage><cascade/></opencv_storage>")
    >>> check_cascade_file(path)
    Traceback (most recent call last):
    ...
    fer_toolkit.utils.validation.InputError: ...bad.xml, line 1: <cascade> has no <stageType>...
    """
    real = os.path.realpath(path)
    if any(os.path.dirname(real) == os.path.realpath(folder) for folder in _cascade_folders()):
        return
    status = os.stat(real)
    key = (real, status.st_size, status.st_mtime_ns)
    if key in _CHECKED:
        return
    from ..cascade.xml import read_cascade

    read_cascade(real)
    _CHECKED.add(key)


def load_cascade(path: str) -> cv2.CascadeClassifier:
    """Load a cascade XML, raising an error naming the file when OpenCV cannot read it.

    The file is checked first (see :func:`check_cascade_file`).
    """
    check_cascade_file(path)
    classifier = cv2.CascadeClassifier()
    try:
        loaded = classifier.load(path)
    except cv2.error as exc:
        raise InputError(
            f"cannot load cascade {path!r}: not an OpenCV cascade classifier XML "
            f"(OpenCV: {exc.err})."
        ) from None
    if not loaded or classifier.empty():
        raise InputError(f"cannot load cascade {path!r}: not an OpenCV cascade classifier XML.")
    return classifier


class HaarCascadeDetector:
    """Detect objects (faces by default) with an OpenCV cascade.

    A plain object, safe to share between threads: each concurrent call
    borrows its own ``cv2.CascadeClassifier`` from a small pool (OpenCV's
    classifier keeps per-image buffers and must not run twice at once).

    Parameters
    ----------
    cascade : str or os.PathLike, default="frontalface_default"
        Name or path, see :func:`resolve_cascade`.
    scale_factor : float, default=1.1
        Image pyramid step, as OpenCV's ``scaleFactor``.
    min_neighbors : int, default=5
        Overlapping detections needed to keep a box, as ``minNeighbors``.
    min_size, max_size : tuple of (width, height) or None
        Size limits of detected boxes in pixels, as ``minSize``/``maxSize``.

    Raises
    ------
    ValueError
        If a parameter is invalid, or the cascade is unknown or not a cascade
        XML file (the message names it).

    Examples
    --------
    >>> from skimage import data
    >>> from fer_toolkit.detection import HaarCascadeDetector
    >>> faces = HaarCascadeDetector().detect(data.astronaut())
    >>> len(faces)
    1
    """

    def __init__(
        self,
        cascade="frontalface_default",
        scale_factor=1.1,
        min_neighbors=5,
        min_size=None,
        max_size=None,
    ):
        if not isinstance(scale_factor, Real) or not scale_factor > 1.0:
            raise InputError(f"scale_factor must be a number > 1; got {scale_factor!r}.")
        if (
            not isinstance(min_neighbors, Integral)
            or isinstance(min_neighbors, bool)
            or min_neighbors < 0
        ):
            raise InputError(f"min_neighbors must be an int >= 0; got {min_neighbors!r}.")
        self.cascade = cascade
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = None if min_size is None else check_size(min_size, "min_size", WINDOW)
        self.max_size = None if max_size is None else check_size(max_size, "max_size", WINDOW)
        self.path = resolve_cascade(cascade)
        self._pool: queue.SimpleQueue = queue.SimpleQueue()
        self._pool.put(load_cascade(self.path))

    def _borrow(self) -> cv2.CascadeClassifier:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            return load_cascade(self.path)

    def detect(self, image: np.ndarray) -> Detections:
        """Detect in one RGB or grayscale image (uint8, or float in [0, 1]).

        Parameters
        ----------
        image : ndarray of shape (H, W), (H, W, 1) or (H, W, 3)
            RGB or grayscale, ``uint8`` or any float dtype in [0, 1].

        Returns
        -------
        detections : Detections
            Boxes ``(x, y, w, h)`` and, as scores, the number of neighbouring
            raw detections merged into each box. Boxes are sorted by decreasing
            score, then decreasing area, then top-to-bottom and left-to-right, so
            the result does not depend on OpenCV's thread count.

        Raises
        ------
        TypeError, ValueError
            If ``image`` is not a valid image (see
            :func:`~fer_toolkit.utils.validation.check_image`).
        """
        gray = to_gray(to_uint8(check_image(image, name="image")))
        classifier = self._borrow()
        try:
            boxes, neighbours = classifier.detectMultiScale2(
                np.ascontiguousarray(gray),
                scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors,
                minSize=tuple(self.min_size) if self.min_size else None,
                maxSize=tuple(self.max_size) if self.max_size else None,
            )
        finally:
            self._pool.put(classifier)
        boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
        scores = np.asarray(neighbours, dtype=np.float64).reshape(-1)
        # OpenCV's candidate order changes with its thread count; fix one order.
        order = np.lexsort((boxes[:, 0], boxes[:, 1], -boxes[:, 2] * boxes[:, 3], -scores))
        return Detections(boxes=boxes[order], scores=scores[order])

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_pool"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._pool = queue.SimpleQueue()
        self._pool.put(load_cascade(self.path))
