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

import inspect
import math
import os
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ...detection import Detections, HaarCascadeDetector
from ...estimators.haar_verifier import HaarVerifier
from ...preprocessing.faces import cut_face
from ...preprocessing.geometry import resize_image
from ...utils.boxes import crop_box, square_box
from ...utils.fileio import folder_lock, printable_path, remove_stale_temporaries
from ...utils.pixels import to_gray
from ...utils.validation import InputError, check_size
from .journal import Journal, count_index
from .output import FACES_DIR, IMAGE_FORMATS, REJECTED_DIR, VERIFY_MARGIN, write_image
from .progress import ProgressBars
from .sources import iter_frames, plan_sources

__all__ = ["ExtractionSummary", "check_detector", "extract_faces", "make_detector"]

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
    plan = plan_sources(sources, out_dir)
    run = _Run(
        out_dir=out_dir,
        detector=make_detector(detector, device),
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
        journal = Journal(out_dir, settings, resume)
        todo = [source for source in plan if source.key not in journal.done]
        bars = ProgressBars(
            len(plan), len(plan) - len(todo), single=len(plan) == 1, enabled=progress
        )
        n_frames, failed = 0, []
        try:
            batch, n_batch = [], 0
            for event in iter_frames(todo, journal, every, on_error, failed):
                batch.append(event)
                n_batch += event[2] is not None
                if n_batch >= _BATCH_FRAMES:
                    n_frames += run.process(batch, journal, bars)
                    batch, n_batch = [], 0
            n_frames += run.process(batch, journal, bars)
            journal.commit()
        finally:
            bars.close()
            journal.close()
        n_kept, n_rejected = count_index(journal.index_path)
    return ExtractionSummary(
        out_dir=out_dir,
        index_path=journal.index_path,
        n_sources=len(plan),
        n_skipped=len(plan) - len(todo),
        n_frames=n_frames,
        n_kept=n_kept,
        n_rejected=n_rejected,
        failed=tuple(failed),
    )


def _check_settings(**values) -> dict:
    """Validate the parameters that shape the output; return them as JSON-able settings."""
    detector, verify = values["detector"], values["verify"]
    check_detector(detector)
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


def check_detector(detector) -> None:
    """Raise a ValueError unless ``detector`` is "mtcnn", "haar" or has a ``detect`` method."""
    if not (detector in ("mtcnn", "haar") or callable(getattr(detector, "detect", None))):
        raise InputError(
            f"detector must be 'mtcnn', 'haar' or an object with a detect(image) method; "
            f"got {detector!r}."
        )


def make_detector(detector, device):
    """The detector ``detector`` names ("mtcnn" on ``device``, "haar"), or ``detector`` itself."""
    if detector == "haar":
        return HaarCascadeDetector()
    if detector == "mtcnn":
        from ...detection import MTCNN

        return MTCNN(device=device)
    return detector


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

    def process(self, batch, journal, bars) -> int:
        """Run the frames of ``batch``, record them in order, and maybe checkpoint."""
        frames = [(source, index, frame) for source, index, frame in batch if frame is not None]
        found = self._detect(frames)
        results = iter(found)
        for source, index, frame in batch:
            if frame is None:
                if source.is_video:
                    journal.finish(source.key)
                bars.file_done(source)
                continue
            # The rows and the progress they stand for are recorded together, so a
            # checkpoint never covers rows of a frame it would have redone.
            journal.add_rows(self._rows(source, index, frame, next(results)))
            if source.is_video:
                journal.advance(source.key, index + self.every)
                bars.frame_done(source, index, self.every)
            else:
                journal.finish(source.key)
        journal.checkpoint(len(frames))
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
                crop_box(frame, square_box(detections.boxes[i]), VERIFY_MARGIN) for i in candidates
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
        write_image(
            os.path.join(self.out_dir, relative), crop, self.image_format, f"crop {relative!r}"
        )


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
