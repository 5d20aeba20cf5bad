"""The files a face extraction reads: sources expanded into images and videos, and their frames.

Each file gets the key its crops are named by (its place under ``faces/``);
:func:`iter_frames` streams the frames still to do, from where a journal left off.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from ...preprocessing.io import read_image
from ...utils.fileio import printable_path
from ...utils.validation import InputError
from ..image_folder import IMAGE_EXTENSIONS, list_files
from ..video import VIDEO_EXTENSIONS, iter_video_frames
from .output import FACES_DIR

__all__ = ["Source", "iter_frames", "media_kind", "plan_sources"]


@dataclass(frozen=True)
class Source:
    """One image or video file to process."""

    path: str
    key: str  # where its crops go, relative to faces/ (POSIX separators, no suffix)
    is_video: bool


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def media_kind(name: str) -> str | None:
    """``"image"``, ``"video"`` or None, by file extension."""
    lower = name.lower()
    if lower.endswith(IMAGE_EXTENSIONS):
        return "image"
    if lower.endswith(VIDEO_EXTENSIONS):
        return "video"
    return None


def plan_sources(sources, out_dir: str) -> list[Source]:
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
            files = [
                os.path.relpath(path, source)
                for path in list_files(source, IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
            ]
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
            if media_kind(source) is None:
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
            plan.append(Source(path=path, key=key, is_video=media_kind(path) == "video"))
    return plan


def iter_frames(todo, journal, every, on_error="raise", failed=None):
    """Yield ``(source, index, frame)`` per frame, then ``(source, None, None)`` per file.

    With ``on_error`` other than ``"raise"``, a file that cannot be read is
    appended to ``failed`` as ``(path, reason)`` and gets no end event.
    """
    for source in todo:
        if source.is_video:
            start = journal.partial.get(source.key, 0)
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
