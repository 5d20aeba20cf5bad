"""Building face datasets from videos and image folders: detect, verify, crop, index.

The recipe of the Persian FER study of faezesarlakifar/face-emotion-recognition
(https://github.com/faezesarlakifar/face-emotion-recognition): sample frames
from videos, detect faces with MTCNN, and drop a crop when either the detector
(too low a confidence) or a second face/non-face model rejects it.
:func:`extract_faces` runs it over any mix of video files, image files and
folders, streaming frames and writing crops as it goes, and can be killed and
rerun at any point.
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..detection import Detections, HaarCascadeDetector
from ..preprocessing.faces import crop_box, cut_face
from ..preprocessing.geometry import resize_image
from ..preprocessing.io import read_image
from ..utils.fileio import atomic_write, folder_lock, printable_path, remove_stale_temporaries
from ..utils.pixels import to_gray
from ..utils.validation import InputError, check_size
from .image_folder import IMAGE_EXTENSIONS
from .video import VIDEO_EXTENSIONS, iter_video_frames, video_info

__all__ = ["ExtractionSummary", "HaarVerifier", "extract_faces"]

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

#: Columns of ``index.csv``, one row per detection.
INDEX_COLUMNS = (
    "source",
    "frame",
    "face",
    "x",
    "y",
    "w",
    "h",
    "confidence",
    *(f"{name}_{axis}" for name in LANDMARK_NAMES for axis in "xy"),
    "crop",
    "kept",
    "reason",
)

#: Margin of the crops handed to a verifier: the square around each box (side
#: ``max(w, h)``), grown by this fraction of its side on every side.
VERIFY_MARGIN = 0.25

IMAGE_FORMATS = ("png", "jpg", "bmp", "webp", "tiff")
INDEX_NAME = "index.csv"
SETTINGS_NAME = "extraction.json"
PROGRESS_NAME = "progress.jsonl"
FACES_DIR = "faces"
REJECTED_DIR = "rejected"

_START_OVER = (
    "start over with resume=False (--restart on the command line), or use another output folder"
)
# A checkpoint (index fsync + one progress line) after this many frames or seconds,
# whichever comes first: a kill loses at most that much work.
_CHECKPOINT_FRAMES = 100
_CHECKPOINT_SECONDS = 5.0
# Frames handed to the detector at once (its detect_batch, when it has one).
_BATCH_FRAMES = 8


@dataclass(frozen=True)
class ExtractionSummary:
    """What :func:`extract_faces` did.

    Attributes
    ----------
    out_dir : str
        The output folder.
    index_path : str
        Its ``index.csv``.
    n_sources : int
        Image and video files given to this run (folders expanded).
    n_skipped : int
        Of those, files already complete in ``out_dir`` from an earlier run.
    n_frames : int
        Images and video frames examined by this run.
    n_kept : int
        Face crops kept, over the whole index (earlier runs included).
    n_rejected : int
        Detections rejected, over the whole index.
    failed : tuple of (str, str)
        ``(path, reason)`` of the files this run could not read and left out
        (``on_error="skip"`` or ``"warn"``); a rerun tries them again.

    Examples
    --------
    :func:`extract_faces` returns one (its example runs an extraction). Here,
    that of a rerun that found one of three files done and one unreadable:

    >>> from fer_toolkit.datasets import ExtractionSummary
    >>> summary = ExtractionSummary(
    ...     out_dir="faces", index_path="faces/index.csv", n_sources=3, n_skipped=1,
    ...     n_frames=1, n_kept=2, n_rejected=0,
    ...     failed=(("clip.mp4", "cannot decode video file 'clip.mp4'"),))
    >>> summary.n_sources - summary.n_skipped - len(summary.failed)  # files read
    1
    """

    out_dir: str
    index_path: str
    n_sources: int
    n_skipped: int
    n_frames: int
    n_kept: int
    n_rejected: int
    failed: tuple = ()


class HaarVerifier:
    """Face/non-face check of crops: accept a crop when a Haar cascade finds a face in it.

    The second opinion of the rule "drop a crop when either model rejects it" of
    faezesarlakifar/face-emotion-recognition. Any callable with the same
    signature (a list of crops in, a boolean mask out), such as a learned
    face/non-face classifier, can take its place in :func:`extract_faces`.

    Parameters
    ----------
    cascade : str or os.PathLike, default="frontalface_default"
        Cascade name or path (see :func:`~fer_toolkit.detection.resolve_cascade`).
    min_neighbors : int, default=3
        As OpenCV's ``minNeighbors``; lower than the detector default because the
        crop is already centred on the candidate face.
    size : int, default=96
        Crops are resized to ``size`` x ``size`` before detection, so the test
        is the same for small and large faces.
    min_face : float, default=0.4
        Smallest face accepted, as a fraction of ``size``: a tiny "face" in
        the texture of a false detection does not count.

    Examples
    --------
    >>> from skimage import data
    >>> from fer_toolkit.datasets import HaarVerifier
    >>> image = data.astronaut()
    >>> face, sleeve = image[40:190, 150:300], image[300:450, 0:150]
    >>> HaarVerifier()([face, sleeve])
    array([ True, False])
    """

    def __init__(self, cascade="frontalface_default", min_neighbors=3, size=96, min_face=0.4):
        size = check_size(size, "size")
        if size[0] != size[1]:
            raise InputError(f"size must be a single int (a square); got {size!r}.")
        if not isinstance(min_face, Real) or not 0.0 < min_face <= 1.0:
            raise InputError(f"min_face must be a number in (0, 1]; got {min_face!r}.")
        self.cascade = cascade
        self.min_neighbors = min_neighbors
        self.size = size[0]
        self.min_face = min_face
        smallest = max(round(self.size * min_face), 1)
        self._detector = HaarCascadeDetector(
            cascade, min_neighbors=min_neighbors, min_size=(smallest, smallest)
        )

    def __call__(self, crops) -> np.ndarray:
        """Return a boolean mask: True where a crop holds a face."""
        return np.array(
            [
                len(self._detector.detect(resize_image(crop, (self.size, self.size), "area"))) > 0
                for crop in crops
            ],
            dtype=bool,
        )


@dataclass(frozen=True)
class _Source:
    """One image or video file to process."""

    path: str
    key: str  # where its crops go, relative to faces/ (POSIX separators, no suffix)
    is_video: bool


def extract_faces(
    sources,
    out_dir,
    *,
    detector="mtcnn",
    every=1,
    min_confidence=None,
    margin=0.0,
    output_size=None,
    align=False,
    grayscale=False,
    verify=None,
    keep="all",
    image_format="png",
    save_rejected=False,
    progress=True,
    resume=True,
    device="auto",
    on_error="raise",
) -> ExtractionSummary:
    """Detect faces in videos and images and write a folder of crops plus an index CSV.

    Every ``every``-th frame of each video and every image is run through the
    detector. A detection is dropped when its confidence is below
    ``min_confidence`` or when the verifier says its crop is not a face
    (as in faezesarlakifar/face-emotion-recognition: drop a crop when either
    model rejects it). Kept crops are
    written as they are found; every detection, kept or not, gets a row in
    ``index.csv``.

    Parameters
    ----------
    sources : str, os.PathLike or sequence of them
        Video files, image files, and folders, searched recursively for both
        (by extension: :data:`~fer_toolkit.datasets.IMAGE_EXTENSIONS` and
        :data:`~fer_toolkit.datasets.VIDEO_EXTENSIONS`; hidden files and
        folders are skipped). Files are processed in sorted order.
    out_dir : str or os.PathLike
        Output folder, created if needed. It must not lie inside a source
        folder, nor hold a source: inputs are never written to.
    detector : {"mtcnn", "haar"} or object, default="mtcnn"
        :class:`~fer_toolkit.detection.MTCNN`, the stock frontal-face Haar
        cascade, or any object whose ``detect(image)`` returns a
        :class:`~fer_toolkit.detection.Detections` (and optionally
        ``detect_batch(images)``, used for batches of frames).
    every : int, default=1
        Process video frames 0, ``every``, ``2 * every``, ...; other frames
        are only read past (OpenCV's ``grab()``), never converted to images.
    min_confidence : float or None, default=None
        Reject detections scoring below this. Its scale is the detector's:
        MTCNN's face probability (e.g. 0.95), a Haar cascade's number of merged
        neighbours. ``None`` keeps whatever the detector returns.
    margin : float, default=0.0
        Fraction of the box added on every side of the written crops (zero
        padded outside the frame, keeping the face centred).
    output_size : int, tuple of (height, width) or None, default=None
        Resize crops to this size (INTER_AREA); ``None`` keeps their own size.
    align : bool, default=False
        Write aligned faces: each is rotated, scaled and shifted so that its
        five landmarks fall on :data:`~fer_toolkit.preprocessing.FACE_TEMPLATE`
        (eyes level; :func:`~fer_toolkit.preprocessing.align_face`), with
        ``margin`` around the face square, instead of its box. Needs a
        detector that gives landmarks (MTCNN).
    grayscale : bool, default=False
        Write grayscale crops (BT.601 weights) instead of RGB.
    verify : None, "haar" or callable, default=None
        Second face/non-face check. ``"haar"`` is :class:`HaarVerifier`; a
        callable receives a list of RGB uint8 crops of the boxes that passed
        ``min_confidence``, and returns one boolean per crop, True for a face.
        Each crop is the square of side ``max(w, h)`` centred on the box,
        grown by ``VERIFY_MARGIN`` (25%) on every side (whatever ``margin`` is).
    keep : {"all", "largest"}, default="all"
        Keep every accepted face of a frame, or only the largest one (the
        others are indexed with reason ``not_largest``).
    image_format : {"png", "jpg", "bmp", "webp", "tiff"}, default="png"
        File format of the crops.
    save_rejected : bool, default=False
        Also write rejected crops, under ``rejected/`` instead of ``faces/``,
        to inspect what the filters removed. By default they are only indexed
        (their boxes are in the index).
    progress : bool, default=True
        Show tqdm progress bars on stderr: frames of a video, files of a
        folder (or both).
    resume : bool, default=True
        Continue an extraction that ``out_dir`` already holds: finished files
        are skipped and a file cut short is redone from its last checkpoint,
        so the result equals an uninterrupted run. The settings must match
        those stored in ``out_dir``. ``False`` deletes the earlier output
        (``faces/``, ``rejected/``, the index and the progress record) first.
    device : str, default="auto"
        Device of the MTCNN detector ("cpu", "cuda", "auto").
    on_error : {"raise", "skip", "warn"}, default="raise"
        A file that cannot be read (corrupt, truncated, too large): stop with
        an error naming it, or leave it out and go on, listing it in the
        summary's ``failed`` (``"warn"`` also warns at once). Files left out
        are not marked done: a rerun tries them again.

    Returns
    -------
    summary : ExtractionSummary

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError, ValueError
        Naming the file at fault: a missing source, a file that is neither an
        image nor a video, a folder without either, an unreadable or corrupt
        file, two sources that would write to the same crop names, an output
        folder overlapping the inputs, resumed settings that differ, or an
        invalid parameter.
    BlockingIOError
        When another run is writing to ``out_dir``.

    Notes
    -----
    Output layout of ``out_dir``:

    * ``faces/``: crops of a video ``clip.mp4`` go to
      ``faces/clip/<frame>_<face>.png`` (frame index zero-padded to 6 digits),
      of an image ``a.jpg`` to ``faces/a_<face>.png``. The files of a source
      folder ``data/`` keep their place under ``faces/data/``, so a labelled
      ``root/<class>/<image>`` folder gives a labelled crop folder.
    * ``index.csv``: columns ``INDEX_COLUMNS``. ``frame`` is -1 for
      images; ``face`` numbers the detections of a frame in the detector's
      order; the ten landmark columns are blank for detectors without
      landmarks; ``crop`` is the crop's path relative to ``out_dir`` (blank
      for rejected detections unless ``save_rejected``); ``kept`` is 1 or 0
      and ``reason`` one of ``low_confidence``, ``verifier``,
      ``not_largest`` (blank when kept). Boxes and landmarks are in pixels of
      the source frame. A file name that is not valid UTF-8 is written (in
      ``source``, and in its crops' names) with each undecodable byte as a
      ``\\xNN`` escape (:func:`~fer_toolkit.utils.fileio.printable_path`), so
      the index stays UTF-8 and lists every crop under its name on disk.
    * ``extraction.json`` (the settings) and ``progress.jsonl`` (checkpoints:
      finished files, the next frame of an unfinished video, the committed
      length of the index), which make reruns resume.

    Memory stays bounded: frames are streamed, crops written one by one and
    index rows flushed at each checkpoint (every 100 frames or 5 s). Crops are
    written atomically; a kill between checkpoints only costs the frames
    since the last one, which the rerun redoes and whose rows it replaces,
    and the rerun deletes the temporary file a kill mid-write leaves. While
    it runs, ``extract_faces`` locks ``out_dir`` (its file ``.lock``): a
    second run on the same folder fails at once with ``BlockingIOError``.

    Examples
    --------
    >>> import os, tempfile, cv2
    >>> from skimage import data
    >>> from fer_toolkit.datasets import extract_faces
    >>> folder = tempfile.mkdtemp()
    >>> _ = cv2.imwrite(os.path.join(folder, "astronaut.png"), data.astronaut()[..., ::-1])
    >>> out = os.path.join(tempfile.mkdtemp(), "faces")
    >>> summary = extract_faces(
    ...     folder, out, detector="haar", verify="haar", output_size=48, progress=False
    ... )
    >>> summary.n_kept, summary.n_rejected
    (1, 0)
    >>> sorted(os.listdir(out))
    ['extraction.json', 'faces', 'index.csv', 'progress.jsonl']
    """
    out_dir = os.path.abspath(os.fspath(out_dir))
    settings = _check_settings(
        detector=detector,
        every=every,
        min_confidence=min_confidence,
        margin=margin,
        output_size=output_size,
        align=align,
        grayscale=grayscale,
        verify=verify,
        keep=keep,
        image_format=image_format,
        save_rejected=save_rejected,
    )
    if on_error not in ("raise", "skip", "warn"):
        raise InputError(f"on_error must be 'raise', 'skip' or 'warn'; got {on_error!r}.")
    if not isinstance(device, str):
        raise InputError(
            f"device must be a string such as 'auto', 'cpu' or 'cuda'; got {device!r}."
        )
    plan = _plan(sources, out_dir)
    run = _Run(
        out_dir=out_dir,
        detector=_make_detector(detector, device),
        verify=HaarVerifier() if verify == "haar" else verify,
        every=every,
        min_confidence=min_confidence,
        margin=margin,
        size=None if output_size is None else check_size(output_size, "output_size"),
        align=align,
        grayscale=grayscale,
        keep=keep,
        image_format=image_format,
        save_rejected=save_rejected,
    )
    with folder_lock(out_dir, "another extract_faces run"):
        remove_stale_temporaries(out_dir)  # left by a run killed mid-write
        store = _Store(out_dir, settings, resume)
        todo = [source for source in plan if source.key not in store.done]
        bars = _Progress(len(plan), len(plan) - len(todo), single=len(plan) == 1, enabled=progress)
        n_frames, failed = 0, []
        try:
            batch, n_batch = [], 0
            for event in _events(todo, store, every, on_error, failed):
                batch.append(event)
                n_batch += event[2] is not None
                if n_batch >= _BATCH_FRAMES:
                    n_frames += run.process(batch, store, bars)
                    batch, n_batch = [], 0
            n_frames += run.process(batch, store, bars)
            store.commit()
        finally:
            bars.close()
            store.close()
        n_kept, n_rejected = _count(store.index_path)
    return ExtractionSummary(
        out_dir=out_dir,
        index_path=store.index_path,
        n_sources=len(plan),
        n_skipped=len(plan) - len(todo),
        n_frames=n_frames,
        n_kept=n_kept,
        n_rejected=n_rejected,
        failed=tuple(failed),
    )


#: Settings added after extraction.json existed, with the value earlier runs used.
_LATER_SETTINGS = {"align": False}


def _check_settings(**values) -> dict:
    """Validate the parameters that shape the output; return them as JSON-able settings."""
    detector, verify = values["detector"], values["verify"]
    if not (detector in ("mtcnn", "haar") or callable(getattr(detector, "detect", None))):
        raise InputError(
            f"detector must be 'mtcnn', 'haar' or an object with a detect(image) method; "
            f"got {detector!r}."
        )
    if not (verify is None or verify == "haar" or callable(verify)):
        raise InputError(f"verify must be None, 'haar' or a callable; got {verify!r}.")
    every = values["every"]
    if not isinstance(every, Integral) or isinstance(every, bool) or every < 1:
        raise InputError(f"every must be an int >= 1; got {every!r}.")
    values["every"] = int(every)
    threshold = values["min_confidence"]
    if threshold is not None and (
        not isinstance(threshold, Real) or isinstance(threshold, bool) or math.isnan(threshold)
    ):
        raise InputError(f"min_confidence must be a number or None; got {threshold!r}.")
    if threshold is not None:
        values["min_confidence"] = float(threshold)
    margin = values["margin"]
    if not isinstance(margin, Real) or isinstance(margin, bool) or not margin >= 0:
        raise InputError(f"margin must be a number >= 0; got {margin!r}.")
    values["margin"] = float(margin)
    size = values["output_size"]
    if size is not None:
        values["output_size"] = list(check_size(size, "output_size"))
    for name in ("align", "grayscale", "save_rejected"):
        if not isinstance(values[name], bool):
            raise InputError(f"{name} must be True or False; got {values[name]!r}.")
    if values["keep"] not in ("all", "largest"):
        raise InputError(f"keep must be 'all' or 'largest'; got {values['keep']!r}.")
    if values["image_format"] not in IMAGE_FORMATS:
        raise InputError(
            f"image_format must be one of {IMAGE_FORMATS}; got {values['image_format']!r}."
        )
    if values["align"] and detector == "haar":
        raise InputError(
            "align=True needs five landmarks per face, which the Haar cascade does not give: "
            "use detector='mtcnn'."
        )
    values["detector"] = _describe(detector)
    values["verify"] = _describe(verify)
    return values


def _describe(obj):
    """A name for a setting that stays the same from run to run (no memory addresses)."""
    if obj is None or isinstance(obj, str):
        return obj
    target = obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj)
    return f"{target.__module__}.{target.__qualname__}"


def _make_detector(detector, device):
    if detector == "haar":
        return HaarCascadeDetector()
    if detector == "mtcnn":
        from ..detection import MTCNN

        return MTCNN(device=device)
    return detector


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _media_kind(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(IMAGE_EXTENSIONS):
        return "image"
    if lower.endswith(VIDEO_EXTENSIONS):
        return "video"
    return None


def _walk(root: str):
    """Relative paths of the images and videos under ``root``, sorted, hidden entries skipped."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and _media_kind(name):
                found.append(os.path.relpath(os.path.join(folder, name), root))
    return found


def _plan(sources, out_dir: str) -> list[_Source]:
    """Expand the sources into files, each with the unique key its crops are named by."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sources = [os.fspath(source) for source in sources]
    if not sources:
        raise InputError("sources is empty: give at least one video, image or folder.")
    out_real = os.path.realpath(out_dir)
    plan, by_key, seen = [], {}, set()
    for source in sources:
        if not os.path.exists(source):
            raise FileNotFoundError(f"source {source!r} does not exist.")
        real = os.path.realpath(source)
        if _is_within(out_real, real) or _is_within(real, out_real):
            raise InputError(
                f"the output folder {out_dir!r} and the source {source!r} overlap; choose an "
                "output folder outside the inputs (inputs are never written to)."
            )
        if os.path.isdir(source):
            files = _walk(source)
            if not files:
                raise InputError(
                    f"no images ({', '.join(IMAGE_EXTENSIONS)}) or videos "
                    f"({', '.join(VIDEO_EXTENSIONS)}) found in folder {source!r}."
                )
            prefix = Path(os.path.abspath(source)).name or "root"
            entries = [
                (os.path.join(source, rel), f"{prefix}/{Path(rel).with_suffix('').as_posix()}")
                for rel in files
            ]
        else:
            if _media_kind(source) is None:
                raise InputError(
                    f"source {source!r} is neither an image ({', '.join(IMAGE_EXTENSIONS)}) "
                    f"nor a video ({', '.join(VIDEO_EXTENSIONS)}) by its extension."
                )
            entries = [(source, Path(source).stem)]
        for path, key in entries:
            key = printable_path(key)  # crops of a non-UTF-8 name get an escaped, listable name
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            if key in by_key:
                raise InputError(
                    f"sources {by_key[key]!r} and {path!r} would both write their crops as "
                    f"{FACES_DIR}/{key}...; rename one or extract them into separate output "
                    "folders."
                )
            by_key[key] = path
            plan.append(_Source(path=path, key=key, is_video=_media_kind(path) == "video"))
    return plan


def _events(todo, store, every, on_error="raise", failed=None):
    """Yield ``(source, index, frame)`` per frame, then ``(source, None, None)`` per file.

    With ``on_error`` other than ``"raise"``, a file that cannot be read is
    appended to ``failed`` as ``(path, reason)`` and gets no end event.
    """
    for source in todo:
        if source.is_video:
            start = store.partial.get(source.key, 0)
            frames = iter_video_frames(source.path, every=every, start=start)
        else:
            frames = iter([(-1, None)])
        while True:
            try:
                index, frame = next(frames)
                if frame is None:
                    frame = read_image(source.path)
            except StopIteration:
                yield source, None, None
                break
            except (OSError, ValueError) as exc:
                if on_error == "raise":
                    raise
                failed.append((source.path, str(exc)))
                if on_error == "warn":
                    warnings.warn(f"left out {source.path!r}: {exc}", UserWarning, stacklevel=3)
                break
            yield source, index, frame


@dataclass(frozen=True)
class _Run:
    """The per-frame work: detect, filter, crop, write crops, make index rows."""

    out_dir: str
    detector: object
    verify: object
    every: int
    min_confidence: float | None
    margin: float
    size: tuple[int, int] | None
    align: bool
    grayscale: bool
    keep: str
    image_format: str
    save_rejected: bool

    def process(self, batch, store, bars) -> int:
        """Run the frames of ``batch``, record them in order, and maybe checkpoint."""
        frames = [(source, index, frame) for source, index, frame in batch if frame is not None]
        found = self._detect(frames)
        results = iter(found)
        for source, index, frame in batch:
            if frame is None:
                if source.is_video:
                    store.finish(source.key)
                bars.file_done(source)
                continue
            # The rows and the progress they stand for are recorded together, so a
            # checkpoint never covers rows of a frame it would have redone.
            store.add_rows(self._rows(source, index, frame, next(results)))
            if source.is_video:
                store.advance(source.key, index + self.every)
                bars.frame_done(source, index, self.every)
            else:
                store.finish(source.key)
        store.checkpoint(len(frames))
        return len(frames)

    def _detect(self, frames) -> list[Detections]:
        if not frames:
            return []
        images = [frame for _, _, frame in frames]
        batch = getattr(self.detector, "detect_batch", None)
        found = batch(images) if callable(batch) else [self.detector.detect(im) for im in images]
        found = list(found)
        if len(found) != len(images):
            raise InputError(
                f"the detector's detect_batch returned {len(found)} results for {len(images)} "
                f"images (first: {_where(*frames[0][:2])})."
            )
        return [
            _check_detections(d, _where(*item[:2])) for d, item in zip(found, frames, strict=True)
        ]

    def _reasons(self, frame, detections) -> list[str]:
        reasons = [""] * len(detections)
        if self.min_confidence is not None:
            for i, score in enumerate(detections.scores):
                if score < self.min_confidence:
                    reasons[i] = "low_confidence"
        candidates = [i for i, reason in enumerate(reasons) if not reason]
        if self.verify is not None and candidates:
            crops = [
                crop_box(frame, _square(detections.boxes[i]), VERIFY_MARGIN) for i in candidates
            ]
            mask = _check_mask(self.verify(crops), len(crops))
            for i, is_face in zip(candidates, mask, strict=True):
                if not is_face:
                    reasons[i] = "verifier"
        accepted = [i for i, reason in enumerate(reasons) if not reason]
        if self.keep == "largest" and len(accepted) > 1:
            areas = detections.boxes[accepted, 2] * detections.boxes[accepted, 3]
            largest = accepted[int(np.argmax(areas))]
            for i in accepted:
                if i != largest:
                    reasons[i] = "not_largest"
        return reasons

    def _rows(self, source, index, frame, detections) -> list[list]:
        if self.align and len(detections) and detections.landmarks is None:
            raise InputError(
                f"align=True needs five landmarks per face, but the detector gave none for "
                f"{_where(source, index)}."
            )
        rows = []
        for i, reason in enumerate(self._reasons(frame, detections)):
            crop_path = ""
            if not reason or self.save_rejected:
                stem = f"{source.key}/{index:06d}_{i}" if source.is_video else f"{source.key}_{i}"
                crop_path = f"{REJECTED_DIR if reason else FACES_DIR}/{stem}.{self.image_format}"
                self._write(frame, detections, i, crop_path)
            rows.append(_row(source.path, index, i, detections, crop_path, reason))
        return rows

    def _write(self, frame, detections, index, relative):
        if self.align:
            crop = cut_face(
                frame, detections, index, output_size=self.size, margin=self.margin, align=True
            )
            crop = to_gray(crop) if self.grayscale else crop
        else:  # the grey conversion precedes resizing, as in extractions made before align
            crop = crop_box(frame, detections.boxes[index], self.margin)
            if self.grayscale:
                crop = to_gray(crop)
            if self.size is not None:
                crop = resize_image(crop, self.size, "area")
        if crop.ndim == 3:
            crop = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(f".{self.image_format}", crop)
        if not ok:
            raise InputError(f"OpenCV cannot encode crop {relative!r} as {self.image_format}.")
        with atomic_write(os.path.join(self.out_dir, relative), "wb") as f:
            f.write(encoded.tobytes())


def _square(box) -> tuple[int, int, int, int]:
    """The square of side ``max(w, h)`` centred on ``box``.

    Verifiers see undistorted faces this way, whatever the detector's box shape
    (MTCNN's are taller than wide), at the fixed input size they resize to.
    """
    x, y, w, h = (int(v) for v in box)
    side = max(w, h)
    return (x + (w - side) // 2, y + (h - side) // 2, side, side)


def _where(source, index) -> str:
    return f"frame {index} of {source.path!r}" if source.is_video else repr(source.path)


def _check_detections(detections, where: str) -> Detections:
    """Check a detector's result for one frame, naming the frame when it is malformed."""
    if not isinstance(detections, Detections):
        raise TypeError(
            f"the detector returned {type(detections).__name__} for {where}; expected Detections."
        )
    boxes, scores = np.asarray(detections.boxes), np.asarray(detections.scores)
    landmarks = detections.landmarks
    k = len(boxes)
    if (
        boxes.shape != (k, 4)
        or scores.shape != (k,)
        or (landmarks is not None and np.shape(landmarks) != (k, 5, 2))
        or (boxes[:, 2:] <= 0).any()
    ):
        shape = None if landmarks is None else np.shape(landmarks)
        raise InputError(
            f"the detector returned malformed Detections for {where}: boxes {boxes.shape}, "
            f"scores {scores.shape}, landmarks {shape}; expected (k, 4) with positive widths "
            "and heights, (k,), and (k, 5, 2) or None."
        )
    return Detections(boxes.astype(np.int64), scores, landmarks)


def _check_mask(mask, n: int) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != (n,) or mask.dtype != bool:
        raise InputError(
            f"verify must return one boolean per crop: got dtype {mask.dtype}, shape "
            f"{mask.shape} for {n} crops."
        )
    return mask


def _row(path, index, i, detections, crop_path, reason) -> list:
    x, y, w, h = (int(v) for v in detections.boxes[i])
    if detections.landmarks is None:
        points = [""] * 10
    else:
        points = [f"{float(v):.2f}" for v in np.asarray(detections.landmarks[i]).ravel()]
    score = f"{float(detections.scores[i]):.6g}"
    row = [printable_path(path), index, i, x, y, w, h, score, *points]
    return [*row, crop_path, int(not reason), reason]


def _count(index_path: str) -> tuple[int, int]:
    """Kept and rejected rows of the index, streamed."""
    kept = rejected = 0
    column = INDEX_COLUMNS.index("kept")
    with open(index_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            if row[column] == "1":
                kept += 1
            else:
                rejected += 1
    return kept, rejected


class _Store:
    """The index, settings and checkpoint log of an output folder.

    Rows are appended to ``index.csv`` as frames finish. A checkpoint fsyncs the
    index, then appends one JSON line to ``progress.jsonl`` holding the index's
    committed length and the files finished / video frames reached since the
    previous line. Reopening replays the valid lines (a half-written last line
    is ignored) and cuts the index back to the committed length, so rows that
    were written after the last checkpoint are redone, never duplicated.
    """

    def __init__(self, out_dir: str, settings: dict, resume: bool):
        if os.path.exists(out_dir) and not os.path.isdir(out_dir):
            raise NotADirectoryError(f"output folder {out_dir!r} exists and is a file.")
        os.makedirs(out_dir, exist_ok=True)
        self.index_path = os.path.join(out_dir, INDEX_NAME)
        settings_path = os.path.join(out_dir, SETTINGS_NAME)
        progress_path = os.path.join(out_dir, PROGRESS_NAME)
        self.done: set[str] = set()
        self.partial: dict[str, int] = {}
        previous = _read_settings(settings_path)
        if previous is not None and not resume:
            for name in (FACES_DIR, REJECTED_DIR):
                shutil.rmtree(os.path.join(out_dir, name), ignore_errors=True)
            for path in (progress_path, self.index_path, settings_path):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
            previous = None
        if previous is not None and os.path.isfile(self.index_path):
            _check_same_settings(previous, settings, out_dir)
            self._committed = self._replay(progress_path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(progress_path)
            with atomic_write(self.index_path, newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(INDEX_COLUMNS)
            with atomic_write(settings_path, encoding="utf-8") as f:
                json.dump(settings, f, indent=2)
            self._committed = os.path.getsize(self.index_path)
        os.truncate(self.index_path, self._committed)
        self._index = open(self.index_path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._index)
        self._log = open(progress_path, "ab")  # noqa: SIM115
        self._new_done: list[str] = []
        self._new_partial: dict[str, int] = {}
        self._frames = 0
        self._since = time.monotonic()

    def _replay(self, progress_path: str) -> int:
        """Apply the valid checkpoint lines; return the committed index length."""
        with open(self.index_path, newline="", encoding="utf-8") as f:
            header = f.readline()
        if next(csv.reader([header]), None) != list(INDEX_COLUMNS):
            raise InputError(
                f"{self.index_path!r} does not start with the index header {INDEX_COLUMNS}; "
                f"{_START_OVER}."
            )
        committed, valid = len(header.encode("utf-8")), 0
        with contextlib.suppress(FileNotFoundError), open(progress_path, "rb") as f:
            for line in f:
                try:
                    entry = json.loads(line) if line.endswith(b"\n") else None
                    offset = int(entry["index_bytes"])
                    partial, done = dict(entry["next_frame"]), list(entry["done"])
                except (ValueError, TypeError, KeyError):
                    break
                self.partial.update(partial)
                for key in done:
                    self.done.add(key)
                    self.partial.pop(key, None)
                committed, valid = offset, valid + len(line)
        if os.path.exists(progress_path):
            os.truncate(progress_path, valid)
        if os.path.getsize(self.index_path) < committed:
            raise InputError(
                f"{self.index_path!r} is shorter than its progress record: it was modified "
                f"after the extraction; {_START_OVER}."
            )
        return committed

    def add_rows(self, rows) -> None:
        self._writer.writerows(rows)

    def advance(self, key: str, next_frame: int) -> None:
        self.partial[key] = self._new_partial[key] = next_frame

    def finish(self, key: str) -> None:
        self.done.add(key)
        self.partial.pop(key, None)
        self._new_partial.pop(key, None)
        self._new_done.append(key)

    def checkpoint(self, n_frames: int) -> None:
        """Commit when enough frames or time have passed since the last commit."""
        self._frames += n_frames
        due = time.monotonic() - self._since >= _CHECKPOINT_SECONDS
        if self._frames >= _CHECKPOINT_FRAMES or due:
            self.commit()

    def commit(self) -> None:
        """Make every row written so far durable and record the progress that they cover."""
        self._frames, self._since = 0, time.monotonic()
        if not (self._new_done or self._new_partial):
            return
        self._index.flush()
        os.fsync(self._index.fileno())
        size = os.fstat(self._index.fileno()).st_size
        entry = {"index_bytes": size, "next_frame": self._new_partial, "done": self._new_done}
        self._log.write(json.dumps(entry).encode("utf-8") + b"\n")
        self._log.flush()
        os.fsync(self._log.fileno())
        self._committed = size
        self._new_done, self._new_partial = [], {}

    def close(self) -> None:
        """Close the files, dropping index rows that no checkpoint covers (after an error)."""
        self._index.flush()
        self._index.truncate(self._committed)
        self._index.close()
        self._log.close()


def _read_settings(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            settings = json.load(f)
    except FileNotFoundError:
        return None
    except ValueError:
        settings = None
    if not isinstance(settings, dict):
        raise InputError(
            f"{path!r} is not an extract_faces settings file (a JSON object): it was "
            f"modified, or is not from extract_faces; {_START_OVER}."
        )
    return settings


def _check_same_settings(previous: dict, settings: dict, out_dir: str) -> None:
    for name, value in settings.items():
        before = previous.get(name, _LATER_SETTINGS.get(name))
        if before != value:
            raise InputError(
                f"{out_dir!r} holds an extraction made with {name}={before!r}, not "
                f"{value!r}; rerun with the same settings to resume it, or {_START_OVER}."
            )


class _Progress:
    """tqdm bars: files of the whole run, and frames of the video being read."""

    def __init__(self, n_files: int, n_done: int, single: bool, enabled: bool):
        self.enabled = enabled
        self.single = single
        self.files = tqdm(
            total=n_files, initial=n_done, unit="file", desc="files", disable=single or not enabled
        )
        self.frames = None
        self.video = None

    def frame_done(self, source: _Source, index: int, every: int) -> None:
        if self.video != source.key:
            self._close_frames()
            total = video_info(source.path).frame_count if self.enabled else 0
            self.frames = tqdm(
                total=math.ceil(total / every) or None,
                initial=index // every,
                unit="frame",
                desc=Path(source.path).name,
                leave=self.single,
                disable=not self.enabled,
            )
            self.video = source.key
        self.frames.update(1)

    def file_done(self, source: _Source) -> None:
        if self.video == source.key:
            self._close_frames()
        self.files.update(1)

    def _close_frames(self) -> None:
        if self.frames is not None:
            self.frames.close()
        self.frames = self.video = None

    def close(self) -> None:
        self._close_frames()
        self.files.close()
