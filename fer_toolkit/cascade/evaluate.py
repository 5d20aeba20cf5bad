"""Measuring a cascade on annotated images: hit rate, false positives per image, precision-recall.

The ``fer-toolkit cascade evaluate`` command. Ground truth is a positive
description file (``path count x y w h ...``, the ``-info`` format of
``opencv_createsamples``), optionally with a background list of images
known to hold no object. A ground-truth box is *hit* when a detection overlaps
it with an intersection over union of at least ``iou_threshold`` (0.5 by
default, the PASCAL VOC rule); each detection can hit one box, so duplicates
count as false positives.

The precision-recall curve is traced by ``minNeighbors``, the knob a cascade
user actually turns: raw windows are found once per image and grouped with
``cv2.groupRectangles`` at every threshold, exactly as ``detectMultiScale``
groups them.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from numbers import Integral

import cv2
import numpy as np
from matplotlib.figure import Figure

from ..detection import HaarCascadeDetector
from ..preprocessing.io import read_image
from ..utils.boxes import box_iou
from ..utils.threads import map_images
from ..utils.validation import InputError
from .description import Positive, read_bg, read_info
from .model import MIN_NEIGHBORS

__all__ = [
    "CascadeEvaluation",
    "OperatingPoint",
    "evaluate_cascade",
    "match_detections",
]

#: ``detectMultiScale``'s grouping tolerance (``GROUP_EPS`` in cascadedetect.cpp).
GROUP_EPS = 0.2


def match_detections(truth, boxes, scores=None, iou_threshold: float = 0.5):
    """Match detections to ground-truth boxes, strongest detection first.

    Each detection, in order of decreasing score, takes the not yet matched
    ground-truth box it overlaps most, if their IoU is at least
    ``iou_threshold``.

    Parameters
    ----------
    truth : array-like of shape (n, 4)
        Ground-truth boxes ``(x, y, w, h)``.
    boxes : array-like of shape (m, 4)
        Detected boxes.
    scores : array-like of shape (m,) or None, default=None
        Detection scores; ``None`` keeps the given order.
    iou_threshold : float, default=0.5
        Minimum IoU for a match.

    Returns
    -------
    hit : ndarray of shape (n,), dtype bool
        Whether each ground-truth box was found.
    true_positive : ndarray of shape (m,), dtype bool
        Whether each detection matched a box (the rest are false positives).

    Examples
    --------
    >>> from fer_toolkit.cascade import match_detections
    >>> hit, tp = match_detections([[0, 0, 10, 10]], [[1, 0, 10, 10], [0, 1, 10, 10]],
    ...                            scores=[2, 5])
    >>> hit.tolist(), tp.tolist()
    ([True], [False, True])
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise InputError(f"iou_threshold must be in (0, 1]; got {iou_threshold!r}.")
    iou = box_iou(truth, boxes)
    n, m = iou.shape
    order = np.arange(m) if scores is None else np.argsort(-np.asarray(scores), kind="stable")
    hit = np.zeros(n, dtype=bool)
    true_positive = np.zeros(m, dtype=bool)
    for j in order:
        overlaps = np.where(hit, -1.0, iou[:, j])
        if n and overlaps.max() >= iou_threshold:
            hit[int(np.argmax(overlaps))] = True
            true_positive[j] = True
    return hit, true_positive


def _group(windows: np.ndarray, min_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Group raw windows as ``detectMultiScale(minNeighbors=...)`` does; boxes and counts."""
    if min_neighbors == 0 or len(windows) == 0:
        return windows, np.ones(len(windows), dtype=np.int64)
    boxes, counts = cv2.groupRectangles(windows.tolist(), min_neighbors, GROUP_EPS)
    return np.asarray(boxes, np.int64).reshape(-1, 4), np.asarray(counts, np.int64).reshape(-1)


@dataclass(frozen=True)
class OperatingPoint:
    """Detection quality at one ``min_neighbors`` over the whole image set.

    Attributes
    ----------
    min_neighbors : int
        The detector's ``min_neighbors`` at this point.
    detections : int
        Boxes returned.
    hits : int
        Ground-truth boxes found.
    false_positives : int
        Boxes that matched no ground truth.
    hit_rate : float
        ``hits / objects`` (recall); NaN without ground-truth boxes.
    precision : float
        ``(detections - false_positives) / detections``; NaN without detections.
    false_positives_per_image : float
        ``false_positives`` divided by the number of images.

    Examples
    --------
    The ``curve`` of a :class:`CascadeEvaluation` holds one per ``min_neighbors``:

    >>> from fer_toolkit.cascade import OperatingPoint
    >>> point = OperatingPoint(min_neighbors=3, detections=5, hits=4, false_positives=1,
    ...                        hit_rate=0.8, precision=0.8, false_positives_per_image=0.25)
    >>> point.hits / point.hit_rate  # ground-truth boxes
    5.0
    """

    min_neighbors: int
    detections: int
    hits: int
    false_positives: int
    hit_rate: float
    precision: float
    false_positives_per_image: float


@dataclass(frozen=True)
class _ImageCounts:
    """Per ``min_neighbors`` (index): detections, hits and false positives in one image."""

    path: str
    objects: int
    detections: np.ndarray
    hits: np.ndarray
    false_positives: np.ndarray

    def at(self, k: int) -> tuple[int, int, int]:
        if k >= len(self.detections):
            return 0, 0, 0
        return int(self.detections[k]), int(self.hits[k]), int(self.false_positives[k])


@dataclass(frozen=True)
class CascadeEvaluation:
    """What :func:`evaluate_cascade` measured.

    Attributes
    ----------
    cascade : str
        Path of the cascade.
    parameters : dict
        Detection and matching parameters used.
    n_images, n_objects : int
        Images evaluated (annotated + negatives) and ground-truth boxes.
    min_neighbors : int
        The operating point reported by ``hit_rate``, ``precision``...
    curve : list of OperatingPoint
        One per ``min_neighbors`` from 0 up to the first that returns no box
        (or up to ``min_neighbors``, if larger).
    images : list of dict
        Per image at ``min_neighbors``: ``path``, ``objects``, ``hits``,
        ``false_positives``.

    Examples
    --------
    :func:`evaluate_cascade` measures one (its example runs a real cascade);
    the properties read the point at ``min_neighbors`` off the curve:

    >>> from fer_toolkit.cascade import CascadeEvaluation, OperatingPoint
    >>> curve = [OperatingPoint(k, 4 - k, 2, 2 - k, 1.0, (2 - k) / (4 - k) + 0.5, 0.5)
    ...          for k in range(3)]
    >>> result = CascadeEvaluation("cascade.xml", {"iou_threshold": 0.5}, n_images=4,
    ...                            n_objects=2, min_neighbors=2, curve=curve, images=[])
    >>> result.hit_rate, result.precision, result.false_positives_per_image
    (1.0, 0.5, 0.5)
    >>> [(first, last) for first, last, _ in result.runs()]
    [(0, 0), (1, 1), (2, 2)]
    """

    cascade: str
    parameters: dict
    n_images: int
    n_objects: int
    min_neighbors: int
    curve: list[OperatingPoint]
    images: list[dict] = field(repr=False)

    @property
    def point(self) -> OperatingPoint:
        """The operating point at ``min_neighbors``."""
        return self.curve[self.min_neighbors]

    @property
    def hit_rate(self) -> float:
        """Fraction of ground-truth boxes found at ``min_neighbors``."""
        return self.point.hit_rate

    @property
    def false_positives_per_image(self) -> float:
        """Boxes matching no ground truth, per image, at ``min_neighbors``."""
        return self.point.false_positives_per_image

    @property
    def precision(self) -> float:
        """Fraction of boxes that hit a ground-truth box at ``min_neighbors``."""
        return self.point.precision

    def to_dict(self) -> dict:
        """A JSON-ready summary (NaN written as ``None``)."""

        def clean(value):
            return None if isinstance(value, float) and math.isnan(value) else value

        point = {key: clean(value) for key, value in asdict(self.point).items()}
        return {
            "cascade": self.cascade,
            "parameters": self.parameters,
            "n_images": self.n_images,
            "n_objects": self.n_objects,
            **point,
            "curve": [{key: clean(value) for key, value in asdict(p).items()} for p in self.curve],
            "images": self.images,
        }

    def runs(self) -> list[tuple[int, int, OperatingPoint]]:
        """The distinct operating points of ``curve``.

        Returns
        -------
        runs : list of (first, last, OperatingPoint)
            Each stretch of consecutive ``min_neighbors`` values with the same
            detections, hits and false positives, as its first and last value
            and the point at ``first``.
        """
        runs = []
        for point in self.curve:
            counts = (point.detections, point.hits, point.false_positives)
            if runs and runs[-1][3] == counts:
                runs[-1][1] = point.min_neighbors
            else:
                runs.append([point.min_neighbors, point.min_neighbors, point, counts])
        return [(first, last, point) for first, last, point, _ in runs]

    def plot(self, title: str | None = None) -> Figure:
        """Precision against hit rate, and hit rate against false positives per image.

        Each point is one ``min_neighbors`` (labelled with its value, or the
        range of values giving the same result); the evaluated one is circled.

        Returns
        -------
        fig : matplotlib Figure
        """
        fig = Figure(figsize=(10, 4.2), layout="constrained")
        pr, froc = fig.subplots(1, 2)
        runs = self.runs()
        recall = np.array([p.hit_rate for _, _, p in runs])
        precision = np.array([p.precision for _, _, p in runs])
        fppi = np.array([p.false_positives_per_image for _, _, p in runs])
        pr.plot(recall, precision, marker=".", color="tab:blue")
        froc.plot(fppi, recall, marker=".", color="tab:blue")
        chosen = self.point
        pr.plot(chosen.hit_rate, chosen.precision, "o", mfc="none", mec="red", ms=12)
        froc.plot(
            chosen.false_positives_per_image, chosen.hit_rate, "o", mfc="none", mec="red", ms=12
        )
        step = max(1, len(runs) // 8)
        for i, (first, last, point) in enumerate(runs):
            labelled = i % step == 0 or first <= chosen.min_neighbors <= last
            if labelled and np.isfinite(point.precision):
                pr.annotate(
                    str(first) if first == last else f"{first}-{last}",
                    (point.hit_rate, point.precision),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=8,
                )
        pr.set_xlabel("hit rate (recall)")
        pr.set_ylabel("precision")
        pr.set_xlim(-0.02, 1.02)
        pr.set_ylim(-0.02, 1.02)
        pr.set_title(f"labels: minNeighbors; IoU >= {self.parameters['iou_threshold']:g}")
        froc.set_xscale("symlog", linthresh=0.1)
        froc.set_xlabel("false positives per image")
        froc.set_ylabel("hit rate")
        froc.set_ylim(-0.02, 1.02)
        froc.set_title(f"{self.n_images} images, {self.n_objects} objects")
        fig.suptitle(
            title
            or f"{os.path.basename(self.cascade)}: hit rate {chosen.hit_rate:.3f}, "
            f"{chosen.false_positives_per_image:.2f} FP/image at minNeighbors "
            f"{chosen.min_neighbors}"
        )
        return fig


def _count_image(path, truth, detector, iou_threshold) -> _ImageCounts:
    """Detections, hits and false positives in one image for every ``min_neighbors``."""
    windows = detector.detect(read_image(path, color="gray")).boxes
    _, counts = _group(windows, 1)
    # Groups keep their members whatever the threshold, so none survives past the largest.
    largest = int(counts.max()) if len(counts) else int(len(windows) > 0)
    detections, hits, false_positives = (np.zeros(largest, dtype=np.int64) for _ in range(3))
    for k in range(largest):
        boxes, scores = _group(windows, k)
        hit, true_positive = match_detections(truth, boxes, scores, iou_threshold)
        detections[k], hits[k] = len(boxes), hit.sum()
        false_positives[k] = len(boxes) - true_positive.sum()
    return _ImageCounts(os.fspath(path), len(truth), detections, hits, false_positives)


def _load_ground_truth(info, negatives) -> list[Positive]:
    entries = []
    if info is not None:
        entries = (
            read_info(info)
            if isinstance(info, (str, os.PathLike))
            else [e if isinstance(e, Positive) else Positive(*e) for e in info]
        )
    if negatives is not None:
        paths = read_bg(negatives) if isinstance(negatives, (str, os.PathLike)) else negatives
        entries += [Positive(path, np.zeros((0, 4), dtype=np.int64)) for path in paths]
    if not entries:
        raise InputError("nothing to evaluate: give a description file (info) or negatives.")
    return entries


def evaluate_cascade(
    info,
    cascade="frontalface_default",
    *,
    negatives=None,
    iou_threshold: float = 0.5,
    scale_factor: float = 1.1,
    min_neighbors: int = MIN_NEIGHBORS,
    min_size=None,
    max_size=None,
    n_jobs=None,
) -> CascadeEvaluation:
    """Measure a cascade on annotated images.

    Parameters
    ----------
    info : str, os.PathLike, sequence of Positive / (path, boxes) pairs, or None
        Ground truth: a positive description file (read with
        :func:`~fer_toolkit.cascade.read_info`, which checks every image and
        box), or its entries.
    cascade : str or os.PathLike, default="frontalface_default"
        Cascade XML path or stock name.
    negatives : str, os.PathLike, sequence of paths or None, default=None
        Images without any object (a background list file, or paths): every
        box found there is a false positive.
    iou_threshold : float, default=0.5
        Minimum intersection over union for a detection to hit a box.
    scale_factor : float, default=1.1
        Pyramid step, as ``detectMultiScale``'s ``scaleFactor``.
    min_neighbors : int, default=3
        The operating point reported (the curve covers every value).
    min_size, max_size : tuple of (width, height) or None, default=None
        Box size limits, as ``detectMultiScale``'s.
    n_jobs : int or None, default=None
        Images processed in parallel threads.

    Returns
    -------
    evaluation : CascadeEvaluation
        ``hit_rate``, ``false_positives_per_image``, ``precision`` at
        ``min_neighbors``, the curve over all ``min_neighbors``, per-image
        counts, ``to_dict()`` for JSON and ``plot()`` for the figure.

    Raises
    ------
    FileNotFoundError, ValueError
        For a missing or malformed list file or image (named with its line),
        an unknown cascade or an invalid parameter.

    Examples
    --------
    >>> import os, tempfile, cv2
    >>> from skimage import data
    >>> from fer_toolkit.cascade import evaluate_cascade
    >>> folder = tempfile.mkdtemp()
    >>> _ = cv2.imwrite(os.path.join(folder, "astronaut.png"), data.astronaut()[..., ::-1])
    >>> with open(os.path.join(folder, "faces.lst"), "w") as f:
    ...     _ = f.write("astronaut.png 1 180 70 90 92\\n")
    >>> result = evaluate_cascade(os.path.join(folder, "faces.lst"))
    >>> result.hit_rate, result.false_positives_per_image
    (1.0, 0.0)
    """
    if (
        not isinstance(min_neighbors, Integral)
        or isinstance(min_neighbors, bool)
        or min_neighbors < 0
    ):
        raise InputError(f"min_neighbors must be an int >= 0; got {min_neighbors!r}.")
    if not 0.0 < iou_threshold <= 1.0:
        raise InputError(f"iou_threshold must be in (0, 1]; got {iou_threshold!r}.")
    detector = HaarCascadeDetector(cascade, scale_factor, 0, min_size=min_size, max_size=max_size)
    entries = _load_ground_truth(info, negatives)
    counted = map_images(
        lambda e: _count_image(e.path, e.boxes, detector, iou_threshold), entries, n_jobs
    )
    n_images, n_objects = len(counted), sum(c.objects for c in counted)
    last = max(min_neighbors, *(len(c.detections) for c in counted))
    curve = []
    for k in range(last + 1):
        totals = np.sum([c.at(k) for c in counted], axis=0)
        detections, hits, false_positives = (int(v) for v in totals)
        curve.append(
            OperatingPoint(
                min_neighbors=k,
                detections=detections,
                hits=hits,
                false_positives=false_positives,
                hit_rate=hits / n_objects if n_objects else math.nan,
                precision=(detections - false_positives) / detections if detections else math.nan,
                false_positives_per_image=false_positives / n_images,
            )
        )
    per_image = []
    for c in counted:
        _, hits, false_positives = c.at(min_neighbors)
        per_image.append(
            {"path": c.path, "objects": c.objects, "hits": hits, "false_positives": false_positives}
        )
    parameters = {
        "iou_threshold": iou_threshold,
        "scale_factor": scale_factor,
        "min_neighbors": min_neighbors,
        "min_size": None if detector.min_size is None else list(detector.min_size),
        "max_size": None if detector.max_size is None else list(detector.max_size),
    }
    return CascadeEvaluation(
        cascade=detector.path,
        parameters=parameters,
        n_images=n_images,
        n_objects=n_objects,
        min_neighbors=min_neighbors,
        curve=curve,
        images=per_image,
    )
