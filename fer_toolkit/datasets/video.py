"""Reading video files frame by frame with OpenCV, in bounded memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Integral

import cv2
import numpy as np

from ..utils.fileio import printable_path
from ..utils.validation import InputError

__all__ = ["VIDEO_EXTENSIONS", "VideoInfo", "iter_video_frames", "video_info"]

#: File name endings recognised as videos (compared case-insensitively).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass(frozen=True)
class VideoInfo:
    """What a video container says about its stream.

    Attributes
    ----------
    path : str
        The video file.
    frame_count : int
        Number of frames as stored in the container; some formats only
        estimate it (and report 0 when they cannot).
    fps : float
        Frames per second (0.0 when unknown).
    width, height : int
        Frame size in pixels.

    Examples
    --------
    :func:`video_info` reads one from a file (its example writes a clip first):

    >>> from fer_toolkit.datasets import VideoInfo
    >>> info = VideoInfo(path="clip.mp4", frame_count=250, fps=25.0, width=640, height=480)
    >>> info.frame_count / info.fps  # seconds
    10.0
    """

    path: str
    frame_count: int
    fps: float
    width: int
    height: int


def _open(path) -> tuple[str, cv2.VideoCapture]:
    """Open ``path`` with OpenCV, raising errors that name the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"video file {path!r} does not exist.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not a video file.")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"cannot read video file {path!r}: permission denied.")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # OpenCV's binding crashes (SIGSEGV) on such a name
        raise InputError(
            f"video file {printable_path(path)!r}: OpenCV cannot open a file whose name is "
            "not valid UTF-8; rename it."
        ) from None
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        capture.release()
        raise InputError(
            f"cannot open video file {path!r}: not a video format OpenCV can decode, or corrupt."
        )
    return path, capture


def video_info(path) -> VideoInfo:
    """Frame count, frame rate and frame size of a video file.

    Parameters
    ----------
    path : str or os.PathLike
        Any video OpenCV's FFmpeg backend opens (MP4, AVI, MOV, MKV, WebM...).

    Returns
    -------
    info : VideoInfo

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError, ValueError
        With the path in the message, when the file is missing, a folder,
        unreadable, or not a video OpenCV can open.

    Examples
    --------
    >>> import os, tempfile, cv2, numpy as np
    >>> from fer_toolkit.datasets import video_info
    >>> path = os.path.join(tempfile.mkdtemp(), "clip.avi")
    >>> writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    >>> for _ in range(10):
    ...     writer.write(np.zeros((48, 64, 3), dtype=np.uint8))
    >>> writer.release()
    >>> info = video_info(path)
    >>> info.frame_count, info.fps, (info.width, info.height)
    (10, 25.0, (64, 48))
    """
    path, capture = _open(path)
    try:
        return VideoInfo(
            path=path,
            frame_count=max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0),
            fps=max(float(capture.get(cv2.CAP_PROP_FPS)), 0.0),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        capture.release()


def _check_index(value, name: str, minimum: int) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise InputError(f"{name} must be an int >= {minimum}; got {value!r}.")
    return int(value)


def iter_video_frames(
    path, every: int = 1, start: int = 0, stop: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, rgb_frame)`` for frames ``start, start + every, ...`` before ``stop``.

    Frames are decoded one at a time, so memory stays at one frame however
    long the video is. Frames in between are skipped with OpenCV's ``grab()``,
    which reads them without converting them to an image; skipping is exact
    (no key-frame seeking), so a frame index always names the same picture.

    Parameters
    ----------
    path : str or os.PathLike
        A video file.
    every : int, default=1
        Keep every ``every``-th frame.
    start : int, default=0
        First frame index considered (0-based).
    stop : int or None, default=None
        Stop before this frame index; ``None`` reads to the end.

    Yields
    ------
    frame_index : int
        0-based position of the frame in the video.
    frame : ndarray of shape (H, W, 3), dtype uint8
        The frame in RGB order.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError, ValueError
        At the call (not at the first frame), naming the file, when it is
        missing, a folder, unreadable or cannot be opened as a video;
        ``ValueError`` also for a video whose first frame cannot be decoded,
        a frame that cannot be decoded after being read (the message names
        its index), or an invalid ``every``, ``start`` or ``stop``.

    Notes
    -----
    The stream ends at the first frame the decoder cannot read, as video
    players do with truncated files.

    Examples
    --------
    >>> import os, tempfile, cv2, numpy as np
    >>> from fer_toolkit.datasets import iter_video_frames
    >>> path = os.path.join(tempfile.mkdtemp(), "clip.avi")
    >>> writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    >>> for _ in range(10):
    ...     writer.write(np.zeros((48, 64, 3), dtype=np.uint8))
    >>> writer.release()
    >>> [(i, frame.shape) for i, frame in iter_video_frames(path, every=4)]
    [(0, (48, 64, 3)), (4, (48, 64, 3)), (8, (48, 64, 3))]
    """
    every = _check_index(every, "every", 1)
    start = _check_index(start, "start", 0)
    stop = None if stop is None else _check_index(stop, "stop", 0)
    path, capture = _open(path)
    if not capture.grab():
        capture.release()
        raise InputError(f"cannot decode video file {path!r}: no frame could be read.")
    return _frames(path, capture, every, start, stop)


def _frames(path, capture, every, start, stop):
    """The generator behind :func:`iter_video_frames`; frame 0 is already grabbed."""
    try:
        index = 0
        while stop is None or index < stop:
            if index >= start and (index - start) % every == 0:
                ok, bgr = capture.retrieve()
                if not ok or bgr is None:
                    raise InputError(f"cannot decode frame {index} of video file {path!r}.")
                yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if not capture.grab():
                return
            index += 1
    finally:
        capture.release()
