"""Face detectors by name and the media they read, for ``predict`` and ``crop``."""

from __future__ import annotations

import os

import click
import numpy as np

from ..datasets import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from ..datasets.extraction.sources import media_kind
from ..datasets.image_folder import list_files
from ..detection import Detections, HaarCascadeDetector
from ..utils.threads import map_images
from ..utils.validation import InputError

__all__ = [
    "DETECTORS",
    "ON_ERROR",
    "ThreadedHaar",
    "WholeImage",
    "find_media",
    "make_detector",
    "on_error_option",
    "report_failures",
]

DETECTORS = ("mtcnn", "haar", "none")
ON_ERROR = ("raise", "skip", "warn")


def on_error_option(func):
    """``--on-error {raise,skip,warn}``: what a file that cannot be read does to the run."""
    return click.option(
        "--on-error",
        type=click.Choice(ON_ERROR),
        default="raise",
        show_default=True,
        help="A file that cannot be read (corrupt, truncated, too large): stop with an error "
        "(raise), or leave it out and go on, listing the files left out at the end (skip), "
        "each with its reason (warn).",
    )(func)


def report_failures(failed, on_error: str) -> None:
    """Print the files left out (``(path, reason)`` pairs) to stderr, even with --quiet."""
    if not failed:
        return
    n = len(failed)
    what = f"{n} file{'s' if n > 1 else ''}"
    click.echo(f"Warning: left out {what} that could not be read:", err=True)
    for path, reason in failed:
        click.echo(f"  {path}: {reason}" if on_error == "warn" else f"  {path}", err=True)


class ThreadedHaar:
    """The stock frontal-face Haar cascade; detects the images of a batch on ``n_jobs`` threads."""

    def __init__(self, n_jobs=None):
        self.n_jobs = n_jobs
        self._detector = HaarCascadeDetector()

    def detect(self, image) -> Detections:
        return self._detector.detect(image)

    def detect_batch(self, images) -> list[Detections]:
        return map_images(self._detector.detect, images, self.n_jobs)


class WholeImage:
    """A "detector" that returns the whole image as the face, for images that are faces."""

    def detect(self, image) -> Detections:
        height, width = image.shape[:2]
        return Detections(np.array([[0, 0, width, height]], dtype=np.int64), np.ones(1))

    def detect_batch(self, images) -> list[Detections]:
        return [self.detect(image) for image in images]


def make_detector(name: str, *, device="auto", n_jobs=None):
    """The detector called ``name`` (see :data:`DETECTORS`): each has ``detect`` and
    ``detect_batch``."""
    if name == "haar":
        return ThreadedHaar(n_jobs)
    if name == "mtcnn":
        from ..detection import MTCNN  # imports PyTorch: only when it detects

        return MTCNN(device=device)
    if name == "none":
        return WholeImage()
    raise InputError(f"detector must be one of {DETECTORS}; got {name!r}.")


def find_media(inputs) -> list[tuple[str, str]]:
    """``(path, name)`` of every image and video in ``inputs`` (files; folders, recursively).

    ``name`` is the file's path below the folder given (with the folder's own
    name first), or the file name of a file given directly: unique names for
    outputs. Hidden files and folders are skipped.

    Raises
    ------
    FileNotFoundError
        For a missing input.
    ValueError
        For a file that is neither an image nor a video, a folder without
        any, or two inputs that would share an output name.
    """
    found: dict[str, tuple[str, str]] = {}
    names: dict[str, str] = {}
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            base = os.path.basename(os.path.abspath(item))
            entries = [
                (path, os.path.join(base, os.path.relpath(path, item)))
                for path in list_files(item, IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
            ]
            if not entries:
                raise InputError(
                    f"no images ({', '.join(IMAGE_EXTENSIONS)}) or videos "
                    f"({', '.join(VIDEO_EXTENSIONS)}) in folder {item!r}."
                )
        elif os.path.isfile(item):
            if media_kind(item) is None:
                raise InputError(
                    f"{item!r} is neither an image ({', '.join(IMAGE_EXTENSIONS)}) nor a "
                    f"video ({', '.join(VIDEO_EXTENSIONS)}) by its extension."
                )
            entries = [(item, os.path.basename(item))]
        else:
            raise FileNotFoundError(f"input {item!r} does not exist.")
        for path, name in entries:
            real = os.path.realpath(path)
            if real in found:
                continue
            if name in names:
                raise InputError(
                    f"{names[name]!r} and {path!r} would share the output name {name!r}; "
                    "give their folders instead."
                )
            found[real] = (path, name)
            names[name] = path
    return list(found.values())
