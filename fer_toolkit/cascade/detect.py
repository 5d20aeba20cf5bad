"""Running a cascade over image files and folders: boxes as CSV / JSON, annotated copies.

The ``fer-toolkit cascade detect`` command. Any cascade ``cv2.CascadeClassifier``
loads works: one trained here, one from ``opencv_traincascade``, or a stock
OpenCV cascade given by name.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..datasets.image_folder import IMAGE_EXTENSIONS, list_files
from ..detection import Detections, HaarCascadeDetector
from ..plotting import annotate_faces
from ..preprocessing.io import read_image
from ..utils.fileio import atomic_path, atomic_write, printable_path
from ..utils.threads import map_images
from ..utils.validation import InputError
from .model import MIN_NEIGHBORS

__all__ = [
    "ImageDetections",
    "detect_files",
    "find_images",
    "write_detections_csv",
    "write_detections_json",
]


def find_images(inputs, *, recursive: bool = False, extensions=IMAGE_EXTENSIONS) -> list[Path]:
    """Expand image files and folders into the list of image files they hold.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        Image files (kept whatever their extension) and folders (their image
        files, sorted by name; hidden files skipped).
    recursive : bool, default=False
        Also list the images in sub-folders (hidden folders skipped).
    extensions : sequence of str, default=IMAGE_EXTENSIONS
        File name endings of images inside folders (case-insensitive).

    Returns
    -------
    paths : list of pathlib.Path
        In the order of ``inputs``; a file given twice is listed once.

    Raises
    ------
    FileNotFoundError
        If an input does not exist (the message names it).
    ValueError
        If no image is found.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.cascade import find_images
    >>> folder = tempfile.mkdtemp()
    >>> for name in ["b.png", "a.JPG", "notes.txt"]:
    ...     open(os.path.join(folder, name), "wb").close()
    >>> [p.name for p in find_images(folder)]
    ['a.JPG', 'b.png']
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found: dict[Path, None] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for file in list_files(path, extensions, recursive=recursive):
                found[Path(file)] = None
        elif path.is_file():
            found[path] = None
        else:
            raise FileNotFoundError(f"input {os.fspath(item)!r} does not exist.")
    if not found:
        where = ", ".join(repr(os.fspath(item)) for item in inputs) or "(no inputs)"
        raise InputError(
            f"no image files ({', '.join(extensions)}) found in {where}"
            + ("" if recursive else "; pass recursive=True (--recursive) to search sub-folders")
            + "."
        )
    return list(found)


@dataclass(frozen=True)
class ImageDetections:
    """The boxes a cascade found in one image file.

    Attributes
    ----------
    path : pathlib.Path
        The image file.
    shape : tuple of int
        ``(height, width)`` of the image.
    detections : Detections
        Boxes ``(x, y, w, h)`` and their scores (merged neighbouring windows).

    Examples
    --------
    :func:`detect_files` returns one per image; :meth:`to_dict` is its JSON record.

    >>> import numpy as np
    >>> from pathlib import Path
    >>> from fer_toolkit.cascade import ImageDetections
    >>> from fer_toolkit.detection import Detections
    >>> found = ImageDetections(Path("a.png"), (48, 64),
    ...                         Detections(np.array([[1, 2, 30, 30]]), np.array([4.0])))
    >>> found.to_dict()
    {'path': 'a.png', 'height': 48, 'width': 64, 'boxes': [[1, 2, 30, 30]], 'scores': [4.0]}
    """

    path: Path
    shape: tuple[int, int]
    detections: Detections

    def to_dict(self) -> dict:
        """A JSON-ready record: path, size, boxes and scores."""
        return {
            "path": os.fspath(self.path),
            "height": self.shape[0],
            "width": self.shape[1],
            "boxes": self.detections.boxes.tolist(),
            "scores": self.detections.scores.tolist(),
        }


def _save_image(path: Path, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"cannot encode an image as {path.suffix!r} for {os.fspath(path)!r}.")
    with atomic_path(path) as tmp:
        encoded.tofile(tmp)


def _annotated_names(paths: Sequence[Path]) -> list[Path]:
    """Output names that keep the images' folders apart: paths below their common folder."""
    folders = [os.path.abspath(path.parent) for path in paths]
    common = os.path.commonpath(folders)
    return [Path(os.path.relpath(os.path.abspath(path), common)) for path in paths]


def detect_files(
    inputs,
    cascade="frontalface_default",
    *,
    scale_factor: float = 1.1,
    min_neighbors: int = MIN_NEIGHBORS,
    min_size=None,
    max_size=None,
    recursive: bool = False,
    annotate_dir=None,
    n_jobs=None,
    on_image: Callable[[ImageDetections], None] | None = None,
) -> list[ImageDetections]:
    """Run a cascade over image files and folders.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        Image files and folders, see :func:`find_images`.
    cascade : str or os.PathLike, default="frontalface_default"
        A cascade XML path or a stock name, see
        :func:`~fer_toolkit.detection.resolve_cascade`.
    scale_factor : float, default=1.1
        Pyramid step, as ``detectMultiScale``'s ``scaleFactor``.
    min_neighbors : int, default=3
        ``minNeighbors`` (OpenCV's default): raw windows merged into a box,
        minus one.
    min_size, max_size : tuple of (width, height) or None, default=None
        Size limits of the boxes.
    recursive : bool, default=False
        Search sub-folders too.
    annotate_dir : str, os.PathLike or None, default=None
        Write a copy of each image with its boxes and scores drawn (see
        :func:`fer_toolkit.plotting.annotate_faces`) here, under its path relative to the images'
        common folder; ``None`` writes none. A copy that would land on one of
        the input images is refused (``ValueError``) before anything is read.
    n_jobs : int or None, default=None
        Images processed in parallel threads (``-1``: all cores).
    on_image : callable or None, default=None
        Called with each image's result as soon as it is done (from the
        worker threads, in completion order, when ``n_jobs`` > 1).

    Returns
    -------
    results : list of ImageDetections
        One per image, in the order of :func:`find_images`.

    Raises
    ------
    FileNotFoundError, ValueError
        For a missing input, no image found, an unreadable image file (named)
        or an invalid cascade or parameter.

    Examples
    --------
    >>> import os, tempfile, cv2
    >>> from skimage import data
    >>> from fer_toolkit.cascade import detect_files
    >>> folder = tempfile.mkdtemp()
    >>> _ = cv2.imwrite(os.path.join(folder, "astronaut.png"), data.astronaut()[..., ::-1])
    >>> result, = detect_files(folder, min_neighbors=5)
    >>> result.path.name, result.detections.boxes.tolist()
    ('astronaut.png', [[177, 66, 95, 95]])
    """
    detector = HaarCascadeDetector(
        cascade, scale_factor, min_neighbors, min_size=min_size, max_size=max_size
    )
    paths = find_images(inputs, recursive=recursive)
    outputs = _annotated_names(paths) if annotate_dir is not None else [None] * len(paths)
    if annotate_dir is not None:
        inputs_real = {os.path.realpath(path) for path in paths}
        for path, name in zip(paths, outputs, strict=True):
            if os.path.realpath(Path(annotate_dir) / name) in inputs_real:
                raise InputError(
                    f"the annotated copy of {os.fspath(path)!r} would overwrite the input "
                    f"{os.fspath(Path(annotate_dir) / name)!r}; choose another output folder "
                    "(inputs are never written to)."
                )

    def process(item) -> ImageDetections:
        path, name = item
        image = read_image(path)
        result = ImageDetections(path, image.shape[:2], detector.detect(image))
        if name is not None:
            scores = [f"{score:g}" for score in result.detections.scores]
            _save_image(Path(annotate_dir) / name, annotate_faces(image, result.detections, scores))
        if on_image is not None:
            on_image(result)
        return result

    return map_images(process, list(zip(paths, outputs, strict=True)), n_jobs)


def write_detections_csv(path, results: Sequence[ImageDetections]) -> None:
    """Write one CSV row per box: ``image, x, y, w, h, score`` (atomically).

    Images without a box have no row; :func:`write_detections_json` lists
    every image.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from fer_toolkit.cascade.detect import ImageDetections, write_detections_csv
    >>> from fer_toolkit.detection import Detections
    >>> found = ImageDetections(Path("a.png"), (64, 64),
    ...                         Detections(np.array([[1, 2, 30, 30]]), np.array([4.0])))
    >>> out = os.path.join(tempfile.mkdtemp(), "boxes.csv")
    >>> write_detections_csv(out, [found])
    >>> print(open(out).read().strip())
    image,x,y,w,h,score
    a.png,1,2,30,30,4
    """
    with atomic_write(path, newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "x", "y", "w", "h", "score"])
        for result in results:
            for box, score in zip(
                result.detections.boxes.tolist(), result.detections.scores, strict=True
            ):
                writer.writerow([printable_path(result.path), *box, f"{score:g}"])


def write_detections_json(path, results: Sequence[ImageDetections], **metadata) -> None:
    """Write every image's size, boxes and scores as JSON (atomically).

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    results : sequence of ImageDetections
        What :func:`detect_files` returned.
    **metadata
        Stored under ``"parameters"`` (cascade, scale factor...).

    Examples
    --------
    >>> import json, os, tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from fer_toolkit.cascade import ImageDetections, write_detections_json
    >>> from fer_toolkit.detection import Detections
    >>> found = ImageDetections(Path("a.png"), (64, 64),
    ...                         Detections(np.array([[1, 2, 30, 30]]), np.array([4.0])))
    >>> out = os.path.join(tempfile.mkdtemp(), "boxes.json")
    >>> write_detections_json(out, [found], min_neighbors=3)
    >>> document = json.load(open(out))
    >>> document["parameters"], document["images"][0]["boxes"]
    ({'min_neighbors': 3}, [[1, 2, 30, 30]])
    """
    document = {"parameters": metadata, "images": [result.to_dict() for result in results]}
    with atomic_write(path, encoding="utf-8") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
