"""FER2013 CSV files: load them into arrays, and write any 48x48 image set in their format.

Two layouts of the same data circulate: ``fer2013.csv`` (columns ``emotion,pixels,Usage``)
and Kaggle's ``icml_face_data.csv`` (``emotion, Usage, pixels``, with a space before
the later header names). Columns are found by name, so both (and any other column
order) load the same way. ``pixels`` holds 2304 space-separated integers 0-255, a
48x48 grayscale image in row-major order; ``emotion`` is a code 0-6 into
:data:`~fer_toolkit.datasets.FER2013_EMOTIONS`; ``Usage`` is one of
:data:`FER2013_USAGES`.
"""

from __future__ import annotations

import csv
import itertools
import os
from typing import NamedTuple

import numpy as np
from sklearn.utils import Bunch

from ..utils.fileio import atomic_write
from ..utils.validation import InputError
from .labels import FER2013_EMOTIONS, _label_name

__all__ = ["FER2013_USAGES", "load_fer2013", "write_fer2013_csv"]

#: The ``Usage`` values of FER2013: train, validation (public test) and test (private test).
FER2013_USAGES = ("Training", "PublicTest", "PrivateTest")

_SIDE = 48
_N_PIXELS = _SIDE * _SIDE
# Rows parsed per vectorised batch: bounds the temporary memory to a few tens of MB.
_CHUNK_ROWS = 1024
_PIXEL_CHARS = b"0123456789 "
_EMOTION_CODES = {str(code): code for code in range(len(FER2013_EMOTIONS))}
_VARIANTS = {
    "fer2013": (("emotion", "pixels", "Usage"), ","),
    "icml": (("emotion", "Usage", "pixels"), ", "),
}


class _Fer2013Table(NamedTuple):
    """A FER2013 CSV whose labels and usages are validated; pixels are parsed on demand."""

    path: str
    pixels: list[str]
    lines: np.ndarray
    target: np.ndarray
    usage: np.ndarray
    has_usage: bool


def load_fer2013(path, usage=None):
    """Load a FER2013 CSV file (``fer2013.csv`` or Kaggle's ``icml_face_data.csv``).

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file. Columns are matched by name, ignoring case and surrounding
        spaces: ``emotion`` and ``pixels`` are required, ``Usage`` is optional and
        other columns are ignored.
    usage : str, sequence of str or None, default=None
        Keep only rows with these ``Usage`` values (among ``"Training"``,
        ``"PublicTest"``, ``"PrivateTest"``); ``None`` keeps every row. A file
        without a ``Usage`` column (such as Kaggle's ``train.csv``) loads only
        with ``usage=None`` and its ``usage`` array is all empty strings.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``images``
            ndarray of uint8, shape (n_samples, 48, 48).
        ``target``
            ndarray of int64, shape (n_samples,): codes 0-6 into ``target_names``.
        ``target_names``
            :data:`~fer_toolkit.datasets.FER2013_EMOTIONS`.
        ``usage``
            ndarray of str, shape (n_samples,).
        ``filename``
            The path read, as a string.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If a column is missing, the file has no data rows, no row has the requested
        usage, or a row is malformed (wrong field or pixel count, a pixel that is
        not an integer in 0-255, an emotion that is not a code 0-6, an unknown
        usage). The message names the file and the 1-based line number (the
        header is line 1).

    Notes
    -----
    Emotion and usage values are checked on every row; pixels are parsed only for
    the rows that ``usage`` selects. Empty lines are skipped. Rows whose pixels are
    single-space separated (as in the published files) take a vectorised path,
    about 35,887 rows in a few seconds; other white space is accepted but slower.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fer_toolkit.datasets.fer2013 import load_fer2013, write_fer2013_csv
    >>> path = os.path.join(tempfile.mkdtemp(), "fer2013.csv")
    >>> images = np.zeros((3, 48, 48), dtype=np.uint8)
    >>> write_fer2013_csv(path, images, [3, 0, 6], usage=["Training", "Training", "PublicTest"])
    >>> data = load_fer2013(path)
    >>> data.images.shape, data.target.tolist(), data.usage.tolist()
    ((3, 48, 48), [3, 0, 6], ['Training', 'Training', 'PublicTest'])
    >>> load_fer2013(path, usage="PublicTest").target_names[6]
    'neutral'
    """
    selected = _check_usage_param(usage)
    table = _read_fer2013_table(path)
    rows = _select_usage(table, selected)
    return Bunch(
        images=_fer2013_images(table, rows),
        target=table.target[rows],
        target_names=FER2013_EMOTIONS,
        usage=table.usage[rows],
        filename=table.path,
    )


def _check_usage_param(usage):
    """``None`` or the tuple of requested usages, each one of :data:`FER2013_USAGES`."""
    if usage is None:
        return None
    requested = (usage,) if isinstance(usage, str) else tuple(usage)
    if not requested:
        raise InputError(f"usage selects no rows: got an empty {type(usage).__name__}.")
    for value in requested:
        if value not in FER2013_USAGES:
            raise InputError(
                f"Unknown usage {value!r}; valid usages are {', '.join(FER2013_USAGES)}."
            )
    return requested


def _read_fer2013_table(path):
    path, header, rows, lines = _read_csv(path)
    columns = _find_columns(header, ("emotion", "pixels"), ("usage",), path)
    target = _parse_emotions(_column(rows, columns["emotion"]), lines, path)
    has_usage = "usage" in columns
    if has_usage:
        usage = _parse_usages(_column(rows, columns["usage"]), lines, path)
    else:
        usage = np.full(len(rows), "", dtype=f"<U{max(map(len, FER2013_USAGES))}")
    return _Fer2013Table(path, _column(rows, columns["pixels"]), lines, target, usage, has_usage)


def _select_usage(table, selected):
    """Indices of the rows whose usage is in ``selected`` (every row for ``None``)."""
    if selected is None:
        return np.arange(len(table.target))
    if not table.has_usage:
        raise InputError(
            f"{table.path} has no Usage column, so usage={list(selected)} cannot select "
            "rows; pass usage=None."
        )
    rows = np.flatnonzero(np.isin(table.usage, selected))
    if rows.size == 0:
        raise InputError(
            f"{table.path} has no rows with usage {list(selected)}; "
            f"it has {', '.join(sorted(set(table.usage.tolist())))}."
        )
    return rows


def _fer2013_images(table, rows):
    """Parse the pixels of the given rows into an (n, 48, 48) uint8 array."""
    return _parse_pixels([table.pixels[i] for i in rows], table.lines[rows], table.path)


def _read_csv(path):
    """Read a CSV file: its path as str, header, non-empty data rows and their line numbers.

    A row's line number is the line where it starts. Every data row must have as
    many fields as the header.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"CSV file not found: {path!r}.")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        previous_end = 0
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path} is empty; expected a header line and data rows.")
            rows, lines = [], []
            previous_end = reader.line_num
            for row in reader:
                if row:
                    _check_field_count(row, header, path, previous_end + 1, reader.line_num)
                    rows.append(row)
                    lines.append(previous_end + 1)
                previous_end = reader.line_num
        except csv.Error as exc:
            raise InputError(f"{path}, line {previous_end + 1}: malformed CSV: {exc}.") from exc
        except UnicodeDecodeError as exc:
            raise InputError(f"{path} is not a UTF-8 text (CSV) file: {exc}.") from exc
    if not rows:
        raise InputError(f"{path} has a header ({','.join(header)}) but no data rows.")
    return path, header, rows, np.array(lines, dtype=np.int64)


def _check_field_count(row, header, path, first_line, last_line):
    if len(row) != len(header):
        spans = (
            f" (the row runs on to line {last_line}: is a quote left open?)"
            if last_line > first_line
            else ""
        )
        raise InputError(
            f"{path}, line {first_line}: has {len(row)} fields, expected {len(header)} "
            f"like the header ({','.join(header)}){spans}."
        )


def _find_columns(header, required, optional, path):
    """Map lower-case column names to positions, matching names stripped and case-folded."""
    positions = {}
    for position, name in enumerate(header):
        key = name.strip().casefold()
        if key in positions:
            raise InputError(f"{path}: column {name.strip()!r} appears twice in the header.")
        positions[key] = position
    missing = [name for name in required if name not in positions]
    if missing:
        raise InputError(
            f"{path}: missing column {', '.join(map(repr, missing))}; header found: {header!r}."
        )
    return {name: positions[name] for name in (*required, *optional) if name in positions}


def _column(rows, position):
    return [row[position] for row in rows]


def _raise_first_failure(values, texts, lines, path, describe):
    """Raise for the first ``None`` in ``values``, naming its line and text."""
    index = values.index(None)
    raise InputError(f"{path}, line {lines[index]}: {describe(texts[index])}.")


def _parse_emotions(texts, lines, path):
    codes = [_EMOTION_CODES.get(text.strip()) for text in texts]
    if None in codes:
        _raise_first_failure(codes, texts, lines, path, _describe_bad_emotion)
    return np.array(codes, dtype=np.int64)


def _describe_bad_emotion(text):
    if not text.strip():
        return "the emotion label is missing"
    names = ", ".join(f"{code} {name}" for code, name in enumerate(FER2013_EMOTIONS))
    return f"emotion {text!r} is not an integer code 0-6 ({names})"


def _parse_usages(texts, lines, path):
    usages = [text.strip() for text in texts]
    valid = [value if value in FER2013_USAGES else None for value in usages]
    if None in valid:
        _raise_first_failure(valid, texts, lines, path, _describe_bad_usage)
    return np.array(usages, dtype=str)


def _describe_bad_usage(text):
    return f"usage {text!r} is not one of {', '.join(FER2013_USAGES)}"


def _parse_pixels(texts, lines, path):
    """Parse pixel strings into an (n, 48, 48) uint8 array, one vectorised chunk at a time."""
    images = np.empty((len(texts), _SIDE, _SIDE), dtype=np.uint8)
    for start in range(0, len(texts), _CHUNK_ROWS):
        chunk = texts[start : start + _CHUNK_ROWS]
        parsed = _parse_single_spaced_chunk(chunk)
        if parsed is None:
            chunk_lines = lines[start : start + _CHUNK_ROWS]
            parsed = np.stack(
                [_parse_pixel_row(t, n, path) for t, n in zip(chunk, chunk_lines, strict=True)]
            )
        images[start : start + len(chunk)] = parsed
    return images


def _parse_single_spaced_chunk(texts):
    """Parse rows of exactly 2304 integers 0-255 separated by single spaces, or return None.

    ``None`` means some row is not of that exact form (a malformed row, or merely
    other white space); :func:`_parse_pixel_row` then checks and parses each row.
    When every row holds only digits and spaces with exactly 2303 spaces, and the
    chunk as a whole holds 2304 numbers per row, no row can have an empty field,
    so every row holds exactly 2304 numbers.
    """
    joined = " ".join(texts).encode("ascii", errors="replace")
    if joined.translate(None, _PIXEL_CHARS):
        return None
    spaces = np.fromiter(
        map(str.count, texts, itertools.repeat(" ")), dtype=np.int64, count=len(texts)
    )
    if np.any(spaces != _N_PIXELS - 1):
        return None
    values = np.fromstring(joined, dtype=np.int64, sep=" ")
    if values.size != len(texts) * _N_PIXELS or values.max() > 255:
        return None
    return values.astype(np.uint8).reshape(len(texts), _SIDE, _SIDE)


def _parse_pixel_row(text, line, path):
    tokens = text.split()
    if len(tokens) != _N_PIXELS:
        raise InputError(
            f"{path}, line {line}: has {len(tokens)} pixels, expected {_N_PIXELS} "
            f"({_SIDE}x{_SIDE})."
        )
    for position, token in enumerate(tokens, start=1):
        if not (token.isascii() and token.isdigit()) or int(token) > 255:
            raise InputError(
                f"{path}, line {line}: pixel {position} is {token!r}; "
                "pixels must be integers in 0-255."
            )
    return np.array([int(token) for token in tokens], dtype=np.uint8).reshape(_SIDE, _SIDE)


def write_fer2013_csv(path, images, labels, usage="Training", variant="fer2013"):
    """Write 48x48 grayscale images and their labels as a FER2013 CSV file.

    The file is written atomically (to a temporary file renamed on success), and
    :func:`load_fer2013` reads it back exactly.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; parent folders are created.
    images : ndarray of uint8, shape (n_samples, 48, 48)
        Grayscale images. FER2013 stores nothing else: convert colour images to
        grayscale and resize to 48x48 first (e.g. with the preprocessing
        transformers).
    labels : array-like of shape (n_samples,)
        FER2013 codes 0-6, or emotion names (aliases allowed) among
        :data:`~fer_toolkit.datasets.FER2013_EMOTIONS`.
    usage : str or sequence of str, default="Training"
        One usage for every row, or one per row; each among
        ``"Training"``, ``"PublicTest"``, ``"PrivateTest"``.
    variant : {"fer2013", "icml"}, default="fer2013"
        ``"fer2013"`` writes the columns ``emotion,pixels,Usage`` like
        ``fer2013.csv``; ``"icml"`` writes ``emotion, Usage, pixels`` like Kaggle's
        ``icml_face_data.csv``.

    Raises
    ------
    TypeError
        If ``images`` is not uint8.
    ValueError
        If ``images`` is not (n, 48, 48) or is empty, or a label, a usage or
        ``variant`` is invalid (the message names the value and its position).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fer_toolkit.datasets.fer2013 import write_fer2013_csv
    >>> path = os.path.join(tempfile.mkdtemp(), "icml_face_data.csv")
    >>> images = np.full((2, 48, 48), 7, dtype=np.uint8)
    >>> write_fer2013_csv(path, images, ["happy", "surprise"], variant="icml")
    >>> with open(path) as f:
    ...     print(f.readline().rstrip(), f.readline()[:20])
    emotion, Usage, pixels 3,Training,7 7 7 7 7
    """
    if variant not in _VARIANTS:
        raise InputError(f"variant must be one of {tuple(_VARIANTS)}, got {variant!r}.")
    images = _check_fer_images(images)
    codes = _label_codes(labels, len(images))
    usages = _usage_per_row(usage, len(images))
    columns, separator = _VARIANTS[variant]
    with atomic_write(path, newline="", encoding="utf-8") as f:
        f.write(separator.join(columns) + "\n")
        for start in range(0, len(images), _CHUNK_ROWS):
            stop = start + _CHUNK_ROWS
            fields = {
                "emotion": map(str, codes[start:stop].tolist()),
                "pixels": _format_pixel_rows(images[start:stop]),
                "Usage": usages[start:stop],
            }
            f.writelines(
                ",".join(row) + "\n"
                for row in zip(*(fields[name] for name in columns), strict=True)
            )


def _check_fer_images(images):
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(
            f"images must be uint8 (FER2013 stores 0-255 integers), got dtype {images.dtype}."
        )
    if images.ndim != 3 or images.shape[1:] != (_SIDE, _SIDE):
        raise InputError(
            f"images has shape {images.shape}; FER2013 stores 48x48 grayscale images, "
            "so images must be (n_samples, 48, 48): convert to grayscale and resize first."
        )
    if len(images) == 0:
        raise InputError("images is empty; a FER2013 file needs at least one image.")
    return images


def _label_codes(labels, n_samples):
    labels = np.asarray(labels)
    if labels.shape != (n_samples,):
        raise InputError(
            f"labels has shape {labels.shape}; expected ({n_samples},), one label per image."
        )
    return np.array(
        [_label_code(label, position) for position, label in enumerate(labels.tolist())],
        dtype=np.int64,
    )


def _label_code(label, position):
    try:
        name = _label_name(label)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"labels[{position}]: {exc}") from exc
    if name not in FER2013_EMOTIONS:
        raise InputError(
            f"labels[{position}] is {label!r}, which is not a FER2013 emotion "
            f"({', '.join(FER2013_EMOTIONS)})."
        )
    return FER2013_EMOTIONS.index(name)


def _usage_per_row(usage, n_samples):
    usages = [usage] * n_samples if isinstance(usage, str) else list(usage)
    if len(usages) != n_samples:
        raise InputError(f"usage has {len(usages)} entries but there are {n_samples} images.")
    for position, value in enumerate(usages):
        if value not in FER2013_USAGES:
            raise InputError(
                f"usage[{position}] is {value!r}; valid usages are {', '.join(FER2013_USAGES)}."
            )
    return usages


def _format_pixel_rows(images):
    """Format each image as its space-separated decimal pixels, vectorised over the batch.

    Every pixel becomes four bytes (hundreds, tens, units, separator) in which
    leading zeros and the last separator of each row are NUL bytes; dropping the
    NULs leaves the text of every row back to back.
    """
    flat = images.reshape(len(images), -1)
    chars = np.zeros((*flat.shape, 4), dtype=np.uint8)
    chars[..., 0] = np.where(flat >= 100, flat // 100 + 48, 0)
    chars[..., 1] = np.where(flat >= 10, flat // 10 % 10 + 48, 0)
    chars[..., 2] = flat % 10 + 48
    chars[:, :-1, 3] = ord(" ")
    chars = chars.reshape(len(flat), -1)
    keep = chars != 0
    text = chars[keep].tobytes().decode("ascii")
    ends = np.cumsum(keep.sum(axis=1)).tolist()
    return [text[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]
