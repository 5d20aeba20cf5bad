"""Positive description files (``-info``) and background lists (``-bg``).

Positive description file, one image per line::

    img/img1.jpg 1 140 100 45 45
    img/img2.jpg 2 100 200 50 50 50 30 25 25

a path, the number of objects, then ``x y w h`` per object. Background list,
one image path per line. Relative paths are relative to the folder of the list
file. Fields are separated by any run of spaces or tabs; blank lines and lines
starting with ``#`` are skipped.

OpenCV reads a path as one whitespace-free token, so a path with spaces
cannot appear in a file meant for OpenCV's tools. Here such a path may be
written in double quotes (``"my photos/a.jpg" 1 0 0 24 24``):
:func:`write_info` quotes paths that need it, and :func:`read_info` reads them.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..utils._imagefile import decode_image_file
from ..utils.fileio import atomic_write
from ..utils.validation import InputError

__all__ = ["Positive", "read_bg", "read_info", "write_bg", "write_info"]

_UINT = re.compile(r"[0-9]+")
_INT_MAX = 2**31 - 1
_FIELDS = ("x", "y", "width", "height")


@dataclass(frozen=True, eq=False)
class Positive:
    """One image of a positive description file and the boxes of its objects.

    Parameters
    ----------
    path : str or os.PathLike
        The image (an absolute path, or relative to the current directory).
    boxes : array-like of shape (k, 4)
        Objects as ``(x, y, w, h)`` in pixels; ``k`` may be 0. A flat list of
        ``4k`` numbers is reshaped.
    line : int or None, default=None
        The line of the description file it came from, for error messages;
        ignored by ``==``.

    Examples
    --------
    >>> from fer_toolkit.cascade import Positive
    >>> entry = Positive("img/a.png", [10, 20, 30, 30])
    >>> entry.boxes
    array([[10, 20, 30, 30]])
    """

    path: Path
    boxes: np.ndarray
    line: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))
        where = f"Positive({os.fspath(self.path)!r})"
        values = np.asarray(self.boxes)
        if values.size == 0:
            values = np.zeros((0, 4), dtype=np.int64)
        if values.dtype.kind not in "iu" or values.size % 4 or values.ndim not in (1, 2):
            raise InputError(
                f"{where}: boxes must be integers of shape (k, 4); got {values.dtype} values "
                f"of shape {values.shape}."
            )
        if values.ndim == 2 and values.shape[1] != 4:
            raise InputError(f"{where}: boxes must have shape (k, 4); got {values.shape}.")
        boxes = values.reshape(-1, 4).astype(np.int64)
        _check_boxes(boxes, where)
        object.__setattr__(self, "boxes", boxes)

    def __eq__(self, other):
        if not isinstance(other, Positive):
            return NotImplemented
        return self.path == other.path and np.array_equal(self.boxes, other.boxes)

    __hash__ = None


def _check_boxes(boxes: np.ndarray, where: str) -> None:
    """Reject negative coordinates and boxes without area."""
    for i, box in enumerate(boxes):
        if (box[:2] < 0).any():
            raise InputError(f"{where}: box {i + 1} {tuple(box.tolist())} has a negative x or y.")
        if (box[2:] <= 0).any():
            raise InputError(
                f"{where}: box {i + 1} {tuple(box.tolist())} has a zero or negative "
                "width or height."
            )


def _check_boxes_inside(boxes: np.ndarray, shape, where: str, name: str) -> None:
    """Raise naming ``where`` if a box reaches outside an image of ``shape``."""
    height, width = shape[:2]
    for i, (x, y, w, h) in enumerate(boxes.tolist()):
        if x + w > width or y + h > height:
            raise InputError(
                f"{where}: box {i + 1} (x={x}, y={y}, w={w}, h={h}) reaches outside image "
                f"{name!r} of size {width}x{height} (width x height)."
            )


def _read_gray(path: str | os.PathLike, where: str) -> np.ndarray:
    """Decode an image as OpenCV's tools do (``IMREAD_GRAYSCALE``); errors name ``where``."""
    try:
        return decode_image_file(os.fspath(path), cv2.IMREAD_GRAYSCALE)
    except (OSError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from None


def _lines(path: str | os.PathLike):
    """Yield ``(line number, stripped text)`` for the non-blank, non-comment lines."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"list file {os.fspath(path)!r} does not exist.") from None
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            text = line.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            raise InputError(f"{os.fspath(path)}, line {number}: not valid UTF-8 text.") from None
        if text and not text.startswith("#"):
            yield number, text


def _split_path(text: str, where: str) -> tuple[str, str]:
    """Split a line into its (possibly quoted) path and the rest."""
    if text.startswith('"'):
        end = text.find('"', 1)
        if end < 0:
            raise InputError(f"{where}: the quoted path has no closing quote.")
        token, rest = text[1:end], text[end + 1 :]
        if rest and not rest[0].isspace():
            raise InputError(f"{where}: expected a space after the quoted path {token!r}.")
        if not token:
            raise InputError(f"{where}: the quoted path is empty.")
        return token, rest
    token, *rest = text.split(None, 1)
    return token, rest[0] if rest else ""


def _parse_info_line(text: str, where: str) -> tuple[str, np.ndarray]:
    token, rest = _split_path(text, where)
    fields = rest.split()
    if not fields:
        raise InputError(f"{where}: image {token!r} has no object count after it.")
    names = ["object count"] + [
        f"box {i // 4 + 1} {_FIELDS[i % 4]}" for i in range(len(fields) - 1)
    ]
    values = []
    for name, field in zip(names, fields, strict=True):
        if not _UINT.fullmatch(field):
            raise InputError(f"{where}: {name} {field!r} is not a non-negative integer.")
        if int(field) > _INT_MAX:
            raise InputError(f"{where}: {name} {field} is too large (OpenCV reads a 32-bit int).")
        values.append(int(field))
    count, numbers = values[0], values[1:]
    if len(numbers) != 4 * count:
        raise InputError(
            f"{where}: the object count is {count}, so {4 * count} numbers (x y w h per "
            f"object) should follow, but {len(numbers)} do."
        )
    boxes = np.array(numbers, dtype=np.int64).reshape(count, 4)
    _check_boxes(boxes, where)
    return token, boxes


def read_info(path: str | os.PathLike, check_images: bool = True) -> list[Positive]:
    """Read and validate a positive description file (OpenCV's ``-info``).

    Parameters
    ----------
    path : str or os.PathLike
        The description file: ``path count x y w h [x y w h ...]`` per line,
        image paths relative to the file's folder (see the module notes for
        whitespace, comments and quoted paths).
    check_images : bool, default=True
        Also check that every image exists and decodes, and that every box
        lies inside its image (each distinct image is decoded once).

    Returns
    -------
    entries : list of Positive
        One per line, in file order, with ``path`` joined to the file's folder
        and ``line`` set.

    Raises
    ------
    FileNotFoundError
        If the description file does not exist.
    ValueError
        Naming the file and line, for a line without a count, a field that is
        not a non-negative integer, a count that disagrees with the number of
        numbers after it, a box without area, a missing or undecodable image
        or a box reaching outside its image; also for a file without any
        image line.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.cascade import read_info
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "info.lst"), "w") as f:
    ...     _ = f.write("img/a.png 2 0 0 24 24 30 10 24 24\\n")
    >>> entry, = read_info(os.path.join(folder, "info.lst"), check_images=False)
    >>> entry.path.name, entry.boxes.tolist(), entry.line
    ('a.png', [[0, 0, 24, 24], [30, 10, 24, 24]], 1)
    """
    folder = Path(path).parent
    entries, shapes = [], {}
    for number, text in _lines(path):
        where = f"{os.fspath(path)}, line {number}"
        token, boxes = _parse_info_line(text, where)
        image = folder / token
        if check_images:
            if image not in shapes:
                shapes[image] = _read_gray(image, where).shape
            _check_boxes_inside(boxes, shapes[image], where, token)
        entries.append(Positive(image, boxes, line=number))
    if not entries:
        raise InputError(f"description file {os.fspath(path)!r} lists no images.")
    return entries


def _format_path(path: str | os.PathLike, folder: Path, absolute: bool) -> str:
    """A path as written in a list file: relative to ``folder`` unless ``absolute``."""
    full = os.path.abspath(path)
    text = full
    if not absolute:
        with contextlib.suppress(ValueError):  # another drive on Windows
            text = os.path.relpath(full, os.path.abspath(folder))
    text = Path(text).as_posix()
    if '"' in text or "\n" in text or "\r" in text:
        raise InputError(f"cannot write path {text!r}: it contains a quote or a line break.")
    # A leading "#" would read back as a comment line.
    return f"./{text}" if text.startswith("#") else text


def write_info(path: str | os.PathLike, entries, absolute: bool = False) -> None:
    """Write a positive description file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; parent folders are created.
    entries : sequence of Positive or of (path, boxes) pairs
        Images (absolute, or relative to the current directory) and boxes.
    absolute : bool, default=False
        Write absolute image paths instead of paths relative to the file's
        folder. OpenCV's ``opencv_createsamples`` resolves them relative to
        the description file, so either works with it.

    Raises
    ------
    ValueError
        If ``entries`` is empty, a box is invalid, or a path holds a double
        quote or line break.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.cascade import write_info
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "info.lst")
    >>> write_info(path, [(os.path.join(folder, "img", "a.png"), [[140, 100, 45, 45]])])
    >>> open(path).read()
    'img/a.png 1 140 100 45 45\\n'
    """
    entries = [e if isinstance(e, Positive) else Positive(*e) for e in entries]
    if not entries:
        raise InputError("write_info needs at least one entry; got 0.")
    folder = Path(path).parent
    lines = []
    for entry in entries:
        numbers = " ".join(str(v) for v in entry.boxes.ravel().tolist())
        name = _format_path(entry.path, folder, absolute)
        if any(c.isspace() for c in name):
            name = f'"{name}"'
        text = f"{name} {len(entry.boxes)}"
        lines.append(f"{text} {numbers}\n" if numbers else f"{text}\n")
    with atomic_write(path, encoding="utf-8", newline="\n") as f:
        f.writelines(lines)


def read_bg(path: str | os.PathLike, check_images: bool = True) -> list[Path]:
    """Read a background list (OpenCV's ``-bg``): one image path per line.

    Parameters
    ----------
    path : str or os.PathLike
        The list file. Surrounding whitespace, blank lines and ``#`` comment
        lines are ignored; a whole line is one path (spaces allowed).
    check_images : bool, default=True
        Raise if a listed image does not exist.

    Returns
    -------
    paths : list of Path
        Relative entries are joined to the list's folder, as
        ``opencv_createsamples`` does; an entry found only relative to the
        current directory (where ``opencv_traincascade`` looks) is kept as is.

    Raises
    ------
    FileNotFoundError
        If the list file does not exist.
    ValueError
        If it lists no image, or (with ``check_images``) a listed image does
        not exist; the message names the file and line.

    Notes
    -----
    ``opencv_traincascade`` stops reading a background list at its first
    blank line; here blank lines are skipped and the whole list is read.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.cascade import read_bg
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "bg.txt"), "w") as f:
    ...     _ = f.write("# backgrounds\\nneg/1.jpg\\n\\n  neg/2.jpg  \\n")
    >>> [p.name for p in read_bg(os.path.join(folder, "bg.txt"), check_images=False)]
    ['1.jpg', '2.jpg']
    """
    folder = Path(path).parent
    paths = []
    for number, text in _lines(path):
        image = folder / text
        if not image.exists() and Path(text).exists():
            image = Path(text)
        if check_images and not image.is_file():
            raise InputError(
                f"{os.fspath(path)}, line {number}: background image {text!r} does not exist "
                f"(looked for {os.fspath(folder / text)!r})."
            )
        paths.append(image)
    if not paths:
        raise InputError(f"background list {os.fspath(path)!r} lists no images.")
    return paths


def write_bg(path: str | os.PathLike, paths, absolute: bool = False) -> None:
    """Write a background list, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; parent folders are created.
    paths : sequence of str or os.PathLike
        Image paths (absolute, or relative to the current directory).
    absolute : bool, default=False
        Write absolute paths instead of paths relative to the list's folder.
        ``opencv_traincascade`` opens background paths relative to the
        directory it runs in, so lists meant for it from elsewhere need
        absolute paths.

    Raises
    ------
    ValueError
        If ``paths`` is empty, or a path holds a double quote or line break or
        starts or ends with whitespace.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.cascade import write_bg
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "bg.txt")
    >>> write_bg(path, [os.path.join(folder, "neg", "1.jpg")])
    >>> open(path).read()
    'neg/1.jpg\\n'
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"paths must be a list of image paths, not the single path {paths!r}.")
    if len(paths) == 0:
        raise InputError("write_bg needs at least one path; got 0.")
    folder = Path(path).parent
    lines = []
    for item in paths:
        text = _format_path(item, folder, absolute)
        if text != text.strip():
            raise InputError(
                f"cannot write background path {text!r}: list readers strip the whitespace at "
                "its start or end."
            )
        lines.append(f"{text}\n")
    with atomic_write(path, encoding="utf-8", newline="\n") as f:
        f.writelines(lines)
