"""FER+ crowd labels (``fer2013new.csv``) joined with the FER2013 images they relabel.

FER+ has one row per FER2013 row, in the same order, with the vote counts of 10
taggers over eight emotions plus ``unknown`` and ``NF`` (not a face). This module
turns the votes into a majority label or a vote distribution, following the rules
of the FER+ paper (Barsoum et al., 2016, https://arxiv.org/abs/1608.01041) and
Microsoft's reference code; the exact rules are documented in :func:`load_ferplus`.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
from sklearn.utils import Bunch

from ..utils.validation import InputError
from .fer2013 import (
    _check_usage_param,
    _fer2013_images,
    _find_columns,
    _parse_usages,
    _read_csv,
    _read_fer2013_table,
)
from .labels import EMOTIONS, FERPLUS_EMOTIONS

__all__ = ["FERPLUS_VOTE_NAMES", "load_ferplus"]

# Vote columns of fer2013new.csv, in file order, as spelled in its header.
_VOTE_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)

#: Names of the columns of ``votes`` returned by :func:`load_ferplus`.
FERPLUS_VOTE_NAMES = (*EMOTIONS, "unknown", "NF")

# Position in the file's vote columns of each entry of FERPLUS_VOTE_NAMES.
_FILE_ORDER = [
    *(FERPLUS_EMOTIONS.index(name) for name in EMOTIONS),
    _VOTE_COLUMNS.index("unknown"),
    _VOTE_COLUMNS.index("NF"),
]
_N_EMOTIONS = len(EMOTIONS)
_MODES = ("majority", "probability")
_TIES = ("drop", "first")


def load_ferplus(
    fer2013_csv,
    ferplus_csv,
    mode="majority",
    usage=None,
    *,
    ties="drop",
    min_votes=2,
    drop_unknown=True,
):
    """Load FER2013 images with FER+ crowd labels (``fer2013new.csv``).

    Labels come from the FER+ votes through these rules, applied in this order:

    1. **Not in FER+**: rows whose ``Image name`` is blank are dropped (FER+ marks
       images it excludes that way; its reference code skips them).
    2. **Noise votes**: every vote count below ``min_votes`` (unknown and NF
       included) is set to 0. The default 2 removes single votes, as the FER+
       paper does ("remove emotions with a single vote"); 0 or 1 keeps every vote.
    3. **No emotion**: rows left with no emotion vote are dropped.
    4. **Unknown / not a face** (``drop_unknown=True``): rows where ``unknown`` or
       ``NF`` has at least as many votes as the most-voted emotion are dropped.
       With ``drop_unknown=False`` these two columns are ignored and such rows are
       labelled from their emotion votes alone.
    5. **Label**: ``mode="majority"`` labels a row with its most-voted emotion; when
       several emotions tie for the most votes, ``ties="drop"`` drops the row
       (no clear majority) and ``ties="first"`` takes the first of them in
       ``target_names`` order. ``mode="probability"`` labels a row with its emotion
       votes divided by their sum (ties do not matter).
    6. **Usage**: rows outside ``usage`` are dropped.

    Parameters
    ----------
    fer2013_csv : str or os.PathLike
        ``fer2013.csv`` (or ``icml_face_data.csv``): the images, read with
        :func:`~fer_toolkit.datasets.load_fer2013`'s rules.
    ferplus_csv : str or os.PathLike
        ``fer2013new.csv``, with columns ``Usage, Image name, neutral, happiness,
        surprise, sadness, anger, disgust, fear, contempt, unknown, NF`` (matched
        by name, ignoring case and surrounding spaces). It must have as many rows
        as ``fer2013_csv``, in the same order; when both have a ``Usage`` column
        they must agree on every row.
    mode : {"majority", "probability"}, default="majority"
        Kind of target, see above.
    usage : str, sequence of str or None, default=None
        Keep only rows with these ``Usage`` values (``"Training"``,
        ``"PublicTest"``, ``"PrivateTest"``); ``None`` keeps all.
    ties : {"drop", "first"}, default="drop"
        Majority ties, see rule 5.
    min_votes : int, default=2
        Smallest vote count that is not treated as noise, see rule 2.
    drop_unknown : bool, default=True
        Rule 4.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``images``
            ndarray of uint8, shape (n_samples, 48, 48).
        ``target``
            ``mode="majority"``: ndarray of int64, shape (n_samples,), codes into
            ``target_names``. ``mode="probability"``: ndarray of float64, shape
            (n_samples, 8), rows summing to 1, columns in ``target_names`` order.
        ``target_names``
            :data:`~fer_toolkit.datasets.EMOTIONS` (FER2013's seven and
            ``contempt``).
        ``usage``
            ndarray of str, shape (n_samples,).
        ``votes``
            ndarray of int64, shape (n_samples, 10): the raw vote counts (before
            rule 2), columns named by :data:`FERPLUS_VOTE_NAMES` (``target_names``
            then ``unknown`` and ``NF``).
        ``image_names``
            ndarray of str: FER+'s ``Image name`` of each row (``fer0000000.png``...).
        ``fer2013_index``
            ndarray of int64: the 0-based position of each kept row among the data
            rows of both files, to align with other per-row data.

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        If the files are not row-aligned (the message names the first differing
        row and its line in both files), a row is malformed (file and 1-based line
        named), a parameter is invalid, or no row is left.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fer_toolkit.datasets.fer2013 import write_fer2013_csv
    >>> from fer_toolkit.datasets.ferplus import load_ferplus
    >>> folder = tempfile.mkdtemp()
    >>> fer_csv = os.path.join(folder, "fer2013.csv")
    >>> write_fer2013_csv(fer_csv, np.zeros((3, 48, 48), dtype=np.uint8), [0, 3, 6])
    >>> plus_csv = os.path.join(folder, "fer2013new.csv")
    >>> with open(plus_csv, "w") as f:
    ...     _ = f.write(
    ...         "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,"
    ...         "fear,contempt,unknown,NF\\n"
    ...         "Training,fer0000000.png,2,0,0,0,7,0,0,0,1,0\\n"
    ...         "Training,fer0000001.png,0,5,5,0,0,0,0,0,0,0\\n"
    ...         "Training,,0,0,0,0,0,0,0,0,0,10\\n"
    ...     )
    >>> data = load_ferplus(fer_csv, plus_csv)
    >>> [data.target_names[code] for code in data.target], data.fer2013_index.tolist()
    (['angry'], [0])
    >>> data = load_ferplus(fer_csv, plus_csv, mode="probability")
    >>> data.target.round(2).tolist()
    [[0.78, 0.0, 0.0, 0.0, 0.0, 0.0, 0.22, 0.0], [0.0, 0.0, 0.0, 0.5, 0.0, 0.5, 0.0, 0.0]]
    """
    _check_params(mode, ties, min_votes, drop_unknown)
    selected = _check_usage_param(usage)
    fer2013 = _read_fer2013_table(fer2013_csv)
    plus = _read_ferplus_table(ferplus_csv)
    _check_alignment(fer2013, plus)
    votes = np.where(plus.votes >= min_votes, plus.votes, 0)
    kept = _kept_rows(votes, plus, mode, ties, drop_unknown, selected)
    if kept.size == 0:
        raise InputError(
            f"No row of {plus.path} is left after the FER+ rules with mode={mode!r}, "
            f"usage={usage!r}, ties={ties!r}, min_votes={min_votes}, "
            f"drop_unknown={drop_unknown}."
        )
    return Bunch(
        images=_fer2013_images(fer2013, kept),
        target=_targets(votes[kept, :_N_EMOTIONS], mode),
        target_names=EMOTIONS,
        usage=plus.usage[kept],
        votes=plus.votes[kept],
        image_names=plus.image_names[kept],
        fer2013_index=kept,
    )


def _check_params(mode, ties, min_votes, drop_unknown):
    if mode not in _MODES:
        raise InputError(f"mode must be one of {_MODES}, got {mode!r}.")
    if ties not in _TIES:
        raise InputError(f"ties must be one of {_TIES}, got {ties!r}.")
    if (
        not isinstance(min_votes, numbers.Integral)
        or isinstance(min_votes, bool)
        or (min_votes < 0)
    ):
        raise InputError(f"min_votes must be a non-negative integer, got {min_votes!r}.")
    if not isinstance(drop_unknown, (bool, np.bool_)):
        raise InputError(f"drop_unknown must be True or False, got {drop_unknown!r}.")


class _FerPlusTable(NamedTuple):
    """The validated columns of a ``fer2013new.csv`` file, votes in FERPLUS_VOTE_NAMES order."""

    path: str
    usage: np.ndarray
    image_names: np.ndarray
    votes: np.ndarray
    lines: np.ndarray


def _read_ferplus_table(path):
    path, header, rows, lines = _read_csv(path)
    columns = _find_columns(
        header, ("usage", "image name", *(name.casefold() for name in _VOTE_COLUMNS)), (), path
    )
    usage = _parse_usages([row[columns["usage"]] for row in rows], lines, path)
    image_names = np.array([row[columns["image name"]].strip() for row in rows], dtype=str)
    positions = [columns[_VOTE_COLUMNS[i].casefold()] for i in _FILE_ORDER]
    votes = _parse_votes(rows, [header[p].strip() for p in positions], positions, lines, path)
    return _FerPlusTable(path, usage, image_names, votes, lines)


def _parse_votes(rows, names, positions, lines, path):
    """Vote counts as an (n_rows, 10) int64 array; each must be a non-negative integer."""
    votes = []
    for row, line in zip(rows, lines, strict=True):
        counts = []
        for name, position in zip(names, positions, strict=True):
            text = row[position].strip()
            if not (text.isascii() and text.isdigit()):
                raise InputError(
                    f"{path}, line {line}: vote count {row[position]!r} in column {name!r} "
                    "is not a non-negative integer."
                )
            counts.append(int(text))
        votes.append(counts)
    return np.array(votes, dtype=np.int64)


def _check_alignment(fer2013, plus):
    n_fer, n_plus = len(fer2013.target), len(plus.votes)
    if n_fer != n_plus:
        raise InputError(
            f"{plus.path} has {n_plus} data rows but {fer2013.path} has {n_fer}; FER+ "
            "labels must be row-aligned with FER2013 (same rows, same order)."
        )
    if not fer2013.has_usage:
        return
    differ = np.flatnonzero(fer2013.usage != plus.usage)
    if differ.size:
        row = differ[0]
        raise InputError(
            f"Data row {row + 1} differs: {fer2013.path} line {fer2013.lines[row]} has usage "
            f"{str(fer2013.usage[row])!r} but {plus.path} line {plus.lines[row]} has "
            f"{str(plus.usage[row])!r}; the files are not row-aligned."
        )


def _kept_rows(votes, plus, mode, ties, drop_unknown, selected):
    """Indices of the rows that survive rules 1, 3, 4, 5 (majority ties) and 6."""
    emotions = votes[:, :_N_EMOTIONS]
    top = emotions.max(axis=1)
    keep = (plus.image_names != "") & (top > 0)
    if drop_unknown:
        keep &= votes[:, _N_EMOTIONS:].max(axis=1) < top
    if mode == "majority" and ties == "drop":
        keep &= (emotions == top[:, None]).sum(axis=1) == 1
    if selected is not None:
        keep &= np.isin(plus.usage, selected)
    return np.flatnonzero(keep)


def _targets(emotion_votes, mode):
    if mode == "majority":
        return emotion_votes.argmax(axis=1).astype(np.int64)
    return emotion_votes / emotion_votes.sum(axis=1, keepdims=True)
