"""``fer-toolkit predict``: emotions of every face in images, folders and videos."""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections import Counter
from pathlib import Path

import click
import cv2
import numpy as np
from tqdm import tqdm

from ..datasets import iter_video_frames, video_info
from ..datasets.extraction.output import LANDMARK_NAMES
from ..datasets.extraction.sources import media_kind
from ..detection import Detections
from ..plotting import annotate_faces
from ..preprocessing import read_image
from ..preprocessing.faces import cut_face
from ..utils.fileio import atomic_path, atomic_write, printable_path
from ..utils.validation import InputError
from ._common import FerCommand, device_option, echo, n_jobs_option, show_progress
from ._faces import (
    DETECTORS,
    find_media,
    make_detector,
    on_error_option,
    report_failures,
)
from ._model import ModelParam, load_model

__all__ = ["predict"]

_BATCH = 16
_BOX = ("x", "y", "w", "h")
_LANDMARK_COLUMNS = tuple(f"{name}_{axis}" for name in LANDMARK_NAMES for axis in "xy")


class _Writer:
    """Prediction records to CSV (one row per face) or JSON lines, written atomically."""

    def __init__(self, f, fmt: str, classes):
        self.f, self.fmt, self.classes = f, fmt, [str(c) for c in classes]
        if fmt == "csv":
            self.csv = csv.writer(f)
            self.csv.writerow(
                [
                    "source",
                    "frame",
                    "face",
                    *_BOX,
                    "confidence",
                    *_LANDMARK_COLUMNS,
                    "label",
                    *(f"p_{c}" for c in self.classes),
                ]
            )

    def write(self, source, frame, face, box, score, landmarks, proba):
        source = printable_path(source)  # a non-UTF-8 file name, escaped
        label = self.classes[int(np.argmax(proba))]
        if self.fmt == "csv":
            points = (
                [""] * len(_LANDMARK_COLUMNS)
                if landmarks is None
                else [f"{v:.2f}" for v in np.asarray(landmarks, dtype=float).ravel()]
            )
            self.csv.writerow(
                [
                    source,
                    frame,
                    face,
                    *(int(v) for v in box),
                    f"{float(score):.6g}",
                    *points,
                    label,
                    *(f"{p:.6f}" for p in proba),
                ]
            )
            return
        record = {
            "source": source,
            "frame": frame,
            "face": face,
            "box": [int(v) for v in box],
            "confidence": round(float(score), 6),
            "landmarks": None if landmarks is None else np.round(landmarks, 2).tolist(),
            "label": label,
            "probabilities": {
                c: round(float(p), 6) for c, p in zip(self.classes, proba, strict=True)
            },
        }
        self.f.write(json.dumps(record) + "\n")


class _Annotator:
    """Annotated copies: an image file per image, a video file per video (every frame).

    A context manager: a video being written when an error occurs is discarded.
    """

    def __init__(self, out_dir: Path | None):
        self.out_dir = out_dir
        self.stack = contextlib.ExitStack()
        self.video = None
        self.writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._release()
        return self.stack.__exit__(*exc_info)

    def _release(self) -> None:
        if self.writer is not None:
            self.writer.release()
        self.writer = self.video = None

    def image(self, name: str, annotated: np.ndarray) -> None:
        path = self.out_dir / name
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
        if not ok:
            raise InputError(f"cannot encode the annotated copy of {name!r}.")
        with atomic_path(path) as tmp:
            encoded.tofile(tmp)

    def frame(self, source: str, name: str, annotated: np.ndarray) -> None:
        if self.video != source:
            self._release()
            self.stack.close()  # the previous video is complete: move it into place
            path = self.out_dir / name
            tmp = self.stack.enter_context(atomic_path(path))
            fps = video_info(source).fps or 25.0
            height, width = annotated.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            self.writer = cv2.VideoWriter(tmp, fourcc, fps, (width, height))
            if not self.writer.isOpened():
                raise OSError(f"OpenCV cannot write the annotated video {os.fspath(path)!r}.")
            self.video = source
        self.writer.write(cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))


def annotated_names(media, out_dir: Path) -> dict[str, str]:
    """Input path -> name of its annotated copy in ``out_dir`` (PNG for images, MP4 for videos).

    ``a.jpg`` gives ``a.png`` unless another input claims that name (``a.png``
    beside it): then the original extension stays, ``a.jpg.png``.

    Raises
    ------
    ValueError
        When an annotated copy would land on an input file.
    """
    wanted = {
        path: (name, ".png" if media_kind(path) == "image" else ".mp4") for path, name in media
    }
    plain = Counter(os.path.normcase(os.path.splitext(n)[0] + ext) for n, ext in wanted.values())
    names, inputs = {}, {os.path.realpath(path) for path, _ in media}
    for path, (name, ext) in wanted.items():
        short = os.path.splitext(name)[0] + ext
        clash = plain[os.path.normcase(short)] > 1 and not name.lower().endswith(ext)
        # Escaped when not UTF-8: OpenCV's video writer cannot take such a name.
        names[path] = printable_path(name + ext if clash else short)
        if os.path.realpath(out_dir / names[path]) in inputs:
            raise InputError(
                f"the annotated copy of {path!r} would overwrite the input "
                f"{os.fspath(out_dir / names[path])!r}; use another --out (inputs are never "
                "written to)."
            )
    return names


def _items(media, every: int, annotate: bool, on_error: str = "raise", failed=None):
    """``(path, name, frame, image, analyse)``: images, and the frames of videos.

    Frames between every N-th are only yielded (``analyse=False``) when they
    are needed for an annotated video. Unless ``on_error`` is ``"raise"``, a
    file that cannot be read is appended to ``failed`` as ``(path, reason)``.
    """
    for path, name in media:
        if media_kind(path) == "image":
            frames = iter([(-1, None)])
        else:
            frames = iter_video_frames(path, every=1 if annotate else every)
        while True:
            try:
                index, frame = next(frames)
                if frame is None:
                    frame = read_image(path)
            except StopIteration:
                break
            except (OSError, ValueError) as exc:
                if on_error == "raise":
                    raise
                failed.append((path, str(exc)))
                break
            yield path, name, index, frame, index < 0 or index % every == 0


def _batches(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@click.command(cls=FerCommand)
@click.argument("model_path", metavar="MODEL", type=ModelParam())
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: predictions.csv or .jsonl, and annotated/ copies.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default="csv",
    show_default=True,
    help="One CSV row, or one JSON line, per face.",
)
@click.option(
    "--annotate",
    is_flag=True,
    help="Also write copies of the images (PNG) and videos (MP4) with every face's box, "
    "landmarks and predicted emotion drawn, under OUT/annotated/.",
)
@click.option(
    "--detector",
    type=click.Choice(["model", *DETECTORS]),
    default="model",
    show_default=True,
    help="Face detector: the model's own cropper (mtcnn when it has none), mtcnn, haar, or "
    "none (each image is one face, e.g. crops from fer-toolkit crop).",
)
@click.option(
    "--min-confidence",
    type=float,
    default=None,
    help="Skip faces the detector scores below this (MTCNN: face probability; Haar: merged "
    "neighbours).",
)
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Video frames: analyse every N-th (0, N, 2N...).",
)
@click.option(
    "--margin",
    type=click.FloatRange(min=0.0),
    default=None,
    help="Fraction of the face added on every side of a crop [default: the model's].",
)
@on_error_option
@device_option
@n_jobs_option("Threads running the Haar detector")
def predict(
    model_path,
    inputs,
    out_dir,
    fmt,
    annotate,
    detector,
    min_confidence,
    every,
    margin,
    on_error,
    device,
    n_jobs,
):
    """Predict the emotion of every face in INPUTS with a trained MODEL.

    MODEL is a folder written by train or search, or a pretrained network
    shipped with fer_toolkit: mini_xception_fer2013 (FER2013, 7 emotions).

    INPUTS are image files, video files and folders of them (searched
    recursively). Each face found gets a record: its source, frame (-1 for
    images), number in the frame, box (x, y, w, h), detector confidence,
    five landmarks (MTCNN), the predicted label and one probability per
    class. Faces are cut as the model's training faces were (its margin,
    alignment, size and colour).

    \b
    Examples:
      fer-toolkit predict mini_xception_fer2013 photos/ clip.mp4 --annotate --out preds
      fer-toolkit predict runs/conv4_dense3 group.jpg photos/ --out predictions --annotate
      fer-toolkit predict runs/conv4_dense3 interview.mp4 --every 5 --format jsonl \\
          --out clip_emotions
      fer-toolkit predict runs/demo crops/faces/ --detector none --out crop_predictions
    """
    model = load_model(model_path, device=device)
    spec = model.spec
    if detector == "model":
        detector = spec.cropper if spec.cropper != "none" else "mtcnn"
    if spec.align and detector != "mtcnn":
        raise click.UsageError(
            f"the model was trained on aligned faces, which need landmarks: --detector mtcnn, "
            f"not {detector}."
        )
    faces_to_scores = model.face_pipeline()
    finder = make_detector(detector, device=device, n_jobs=n_jobs)
    margin = spec.margin if margin is None else margin
    media = find_media(inputs)
    copies = annotated_names(media, out_dir / "annotated") if annotate else {}
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    n_analysed, failed = 0, []
    name = f"predictions.{fmt}"
    newline = "" if fmt == "csv" else None
    with (
        tqdm(total=len(media), unit="file", disable=not show_progress()) as bar,
        atomic_write(out_dir / name, newline=newline, encoding="utf-8") as f,
        _Annotator(out_dir / "annotated" if annotate else None) as annotator,
    ):
        writer = _Writer(f, fmt, model.classes)
        last: dict[str, tuple] = {}
        current = None
        for batch in _batches(_items(media, every, annotate, on_error, failed), _BATCH):
            found = iter(finder.detect_batch([item[3] for item in batch if item[4]]))
            for path, _name, frame, image, analyse in batch:
                if path != current:
                    bar.update(current is not None)
                    current = path
                if analyse:
                    n_analysed += 1
                    detections = _kept(next(found), min_confidence)
                    proba = _scores(faces_to_scores, image, detections, spec, margin, model)
                    for i, row in enumerate(proba):
                        landmarks = (
                            None if detections.landmarks is None else detections.landmarks[i]
                        )
                        box, score = detections.boxes[i], detections.scores[i]
                        writer.write(path, frame, i, box, score, landmarks, row)
                    labels = [str(model.classes[int(np.argmax(row))]) for row in proba]
                    counts.update(labels)
                    texts = [
                        f"{label} {row.max():.2f}" for label, row in zip(labels, proba, strict=True)
                    ]
                    last[path] = (detections, texts)
                if annotate:
                    annotated = annotate_faces(image, *last[path])
                    if frame < 0:
                        annotator.image(copies[path], annotated)
                    else:
                        annotator.frame(path, copies[path], annotated)
        bar.update(current is not None)
    total = sum(counts.values())
    summary = ", ".join(f"{label} {n}" for label, n in counts.most_common()) or "none"
    echo(
        f"{total} faces in {n_analysed} images/frames of {len(media)} files ({summary}); "
        f"wrote {out_dir / name}"
        + (f" and annotated copies in {out_dir / 'annotated'}" if annotate else "")
    )
    report_failures(failed, on_error)


def _scores(faces_to_scores, image, detections, spec, margin, model) -> np.ndarray:
    """Class probabilities of every face of ``image``, cut as the model's faces were."""
    if not len(detections):
        return np.empty((0, len(model.classes)), dtype=np.float32)
    crops = [
        cut_face(image, detections, i, output_size=spec.size, margin=margin, align=spec.align)
        for i in range(len(detections))
    ]
    return faces_to_scores.predict_proba(np.stack(crops))


def _kept(detections, min_confidence):
    if min_confidence is None or not len(detections):
        return detections
    keep = detections.scores >= min_confidence
    return Detections(
        detections.boxes[keep],
        detections.scores[keep],
        None if detections.landmarks is None else detections.landmarks[keep],
    )
