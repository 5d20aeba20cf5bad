"""Canonical emotion names, named label sets, and mapping labels between label sets.

Every emotion label in fer_toolkit is one of the canonical names in :data:`EMOTIONS`
(lower case). Datasets and projects spell them differently ("Happiness", "surprised",
FER2013's integer codes ``0``-``6``); :func:`normalize_emotion` and :func:`map_labels`
turn those spellings into canonical names and restrict or merge them into a target
label set such as the four classes of the Persian FER study
(https://github.com/faezesarlakifar/face-emotion-recognition).
"""

from __future__ import annotations

import json
import numbers
import os
import warnings
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from ..utils.validation import InputError

__all__ = [
    "EMOTIONS",
    "EMOTION_ALIASES",
    "FER2013_EMOTIONS",
    "FERPLUS_EMOTIONS",
    "LABEL_SETS",
    "get_label_set",
    "load_label_mapping",
    "map_labels",
    "normalize_emotion",
]

#: FER2013's integer codes 0-6, in order.
FER2013_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Every canonical emotion name: FER2013's seven plus FER+'s ``contempt``.
EMOTIONS = (*FER2013_EMOTIONS, "contempt")

#: FER+ vote columns (``fer2013new.csv``) in their file order, as canonical names.
FERPLUS_EMOTIONS = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt")

#: Other spellings of the canonical names (compared after ``strip().casefold()``).
EMOTION_ALIASES = MappingProxyType(
    {
        "anger": "angry",
        "ang": "angry",
        "disgusted": "disgust",
        "dis": "disgust",
        "fearful": "fear",
        "afraid": "fear",
        "scared": "fear",
        "fea": "fear",
        "happiness": "happy",
        "joy": "happy",
        "hap": "happy",
        "sadness": "sad",
        "surprised": "surprise",
        "suprise": "surprise",
        "sur": "surprise",
        "neutrality": "neutral",
        "neu": "neutral",
        "contemptuous": "contempt",
    }
)

#: Named label sets; class order within each set follows :data:`EMOTIONS`.
#:
#: * ``angry_happy_sad_neutral``: the 4-class Persian FER study of
#:   faezesarlakifar/face-emotion-recognition
#:   (https://github.com/faezesarlakifar/face-emotion-recognition);
#: * ``happy_sad_surprise_neutral``: the four classes of the Facial Emotion Recognition
#:   project (https://github.com/muscak/Facial-Emotion-Recognition);
#: * ``angry_happy_sad_surprise_neutral``: the five classes of the Keras CNN of
#:   amirhossein-hkh/facial-expression-recognition
#:   (https://github.com/amirhossein-hkh/facial-expression-recognition);
#: * ``fer2013``: FER2013's seven emotions; ``ferplus``: FER+'s eight.
LABEL_SETS = MappingProxyType(
    {
        "angry_happy_sad_neutral": ("angry", "happy", "sad", "neutral"),
        "happy_sad_surprise_neutral": ("happy", "sad", "surprise", "neutral"),
        "angry_happy_sad_surprise_neutral": ("angry", "happy", "sad", "surprise", "neutral"),
        "fer2013": FER2013_EMOTIONS,
        "ferplus": EMOTIONS,
    }
)

# Former names of label sets, still accepted by get_label_set with a FutureWarning.
_RENAMED = {
    "seed000": "angry_happy_sad_neutral",
    "seed001": "happy_sad_surprise_neutral",
    "seed002": "fer2013",
    "seed003": "fer2013",
    "seed004": "angry_happy_sad_surprise_neutral",
}

_UNKNOWN_POLICIES = ("raise", "drop")


def normalize_emotion(name):
    """Return the canonical spelling of an emotion name.

    Comparison ignores case and surrounding white space; aliases such as
    ``"happiness"``, ``"surprised"`` or ``"fearful"`` (see :data:`EMOTION_ALIASES`)
    map to their canonical name.

    Parameters
    ----------
    name : str
        An emotion name.

    Returns
    -------
    canonical : str
        One of :data:`EMOTIONS`.

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If ``name`` is not a known emotion name or alias.

    Examples
    --------
    >>> from fer_toolkit.datasets.labels import normalize_emotion
    >>> normalize_emotion(" Happiness ")
    'happy'
    >>> normalize_emotion("SURPRISED")
    'surprise'
    """
    if not isinstance(name, str):
        raise TypeError(f"An emotion name must be a string, got {name!r}.")
    key = name.strip().casefold()
    if key in EMOTIONS:
        return key
    if key in EMOTION_ALIASES:
        return EMOTION_ALIASES[key]
    raise InputError(
        f"Unknown emotion name {name!r}; expected one of {', '.join(EMOTIONS)} "
        f"or an alias ({', '.join(EMOTION_ALIASES)})."
    )


def _label_name(label):
    """Canonical name of one label: a FER2013 code, an emotion name or alias, or a custom name.

    Integers and strings of digits are FER2013 codes 0-6. Other strings are emotion
    names or aliases (made canonical) or, failing that, custom class names (stripped
    and case-folded, so ``"Positive"`` and ``"positive"`` are the same class).
    """
    if isinstance(label, numbers.Integral) and not isinstance(label, bool):
        return _fer2013_name(int(label), label)
    if not isinstance(label, str):
        raise TypeError(
            f"Label {label!r} is neither a FER2013 integer code nor a class name string."
        )
    key = label.strip()
    if key.isascii() and key.isdigit():
        return _fer2013_name(int(key), label)
    key = key.casefold()
    if not key:
        raise InputError(f"Label {label!r} is empty.")
    return EMOTION_ALIASES.get(key, key)


def _fer2013_name(code, label):
    if not 0 <= code < len(FER2013_EMOTIONS):
        raise InputError(
            f"Label {label!r} is not a FER2013 code: codes are 0-6 "
            f"({', '.join(f'{i} {name}' for i, name in enumerate(FER2013_EMOTIONS))})."
        )
    return FER2013_EMOTIONS[code]


def _canonical_order(names):
    """Sort class names: canonical emotions in :data:`EMOTIONS` order, then the rest by name."""
    return tuple(
        sorted(names, key=lambda n: (EMOTIONS.index(n) if n in EMOTIONS else len(EMOTIONS), n))
    )


def _label_set_by_count(n_classes):
    by_tuple = {}
    for name, classes in LABEL_SETS.items():
        if len(classes) == n_classes:
            by_tuple.setdefault(classes, []).append(name)
    if len(by_tuple) == 1:
        return next(iter(by_tuple))
    if not by_tuple:
        counts = sorted({len(classes) for classes in LABEL_SETS.values()})
        raise InputError(
            f"No named label set has {n_classes} classes; named sets have "
            f"{', '.join(map(str, counts))} classes."
        )
    choices = "; ".join(
        f"{' / '.join(names)} = {', '.join(classes)}" for classes, names in by_tuple.items()
    )
    raise InputError(
        f"{n_classes} classes is ambiguous: {choices}. Pass the label set's name instead."
    )


def get_label_set(name_or_count):
    """Return a label set as a tuple of canonical class names.

    Parameters
    ----------
    name_or_count : str, int or sequence of str
        One of

        * a name in :data:`LABEL_SETS` (``"happy_sad_surprise_neutral"``,
          ``"fer2013"``, ``"ferplus"``...), case-insensitive;
        * a class count (int, or a string of digits as typed on a command line) that
          identifies exactly one named set: 5 (``angry_happy_sad_surprise_neutral``),
          7 (FER2013) or 8 (FER+). 4 is ambiguous (``angry_happy_sad_neutral`` and
          ``happy_sad_surprise_neutral`` are different 4-class sets) and is rejected
          with a message naming both;
        * a sequence of class names, returned in the given order after normalisation
          (emotion aliases become canonical names; other names are case-folded, so
          custom classes such as ``"positive"`` are allowed).

    Returns
    -------
    classes : tuple of str

    Raises
    ------
    ValueError
        For an unknown name, an ambiguous or unmatched count, an empty sequence or
        a sequence with duplicate classes.
    TypeError
        For any other type.

    Examples
    --------
    >>> from fer_toolkit.datasets.labels import get_label_set
    >>> get_label_set("happy_sad_surprise_neutral")
    ('happy', 'sad', 'surprise', 'neutral')
    >>> get_label_set(5)
    ('angry', 'happy', 'sad', 'surprise', 'neutral')
    >>> get_label_set(["Happiness", "Sadness"])
    ('happy', 'sad')
    """
    if isinstance(name_or_count, numbers.Integral) and not isinstance(name_or_count, bool):
        return _label_set_by_count(int(name_or_count))
    if isinstance(name_or_count, str):
        key = name_or_count.strip()
        if key.isascii() and key.isdigit():
            return _label_set_by_count(int(key))
        key = key.casefold()
        if key in _RENAMED:
            warnings.warn(
                f"label set {key!r} is now called {_RENAMED[key]!r}; the old name will stop "
                "working in a future release.",
                FutureWarning,
                stacklevel=2,
            )
            key = _RENAMED[key]
        if key in LABEL_SETS:
            return LABEL_SETS[key]
        raise InputError(
            f"Unknown label set {name_or_count!r}; named sets are {', '.join(LABEL_SETS)}, "
            "or give a class count (5, 7, 8) or a sequence of class names."
        )
    if isinstance(name_or_count, (list, tuple, np.ndarray)):
        return _label_set_from_names(list(name_or_count))
    raise TypeError(
        f"A label set is a name, a class count or a sequence of class names; got {name_or_count!r}."
    )


def _label_set_from_names(names):
    if not names:
        raise InputError("A label set needs at least one class name.")
    classes = tuple(_label_name(name) for name in names)
    for position, name in enumerate(classes):
        if name in classes[:position]:
            raise InputError(
                f"Label set {names!r} names class {name!r} twice "
                f"(position {classes.index(name)} and {position})."
            )
    return classes


def _normalize_mapping(mapping):
    """Validate a ``{source: target}`` mapping and return it with canonical names."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"mapping must be a dict {{source: target}}, got {mapping!r}.")
    normalized = {}
    origin = {}
    for source, target in mapping.items():
        key, value = _label_name(source), _label_name(target)
        if key in normalized and normalized[key] != value:
            raise InputError(
                f"mapping sends {origin[key]!r} to {normalized[key]!r} and {source!r} to "
                f"{value!r}, but both are the label {key!r}."
            )
        normalized[key] = value
        origin[key] = source
    return normalized


def map_labels(y, label_set, mapping=None, unknown="raise"):
    """Map labels to a target label set, merging classes through an optional mapping.

    Each label is first made canonical: integers (and strings of digits) are FER2013
    codes 0-6, strings are emotion names or aliases in any case (other strings are
    custom class names, case-folded). ``mapping`` then renames classes; mapping
    several sources to one target merges them (e.g. ``{"disgust": "angry"}``).
    Labels that do not end in the label set are an error or are dropped.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels: FER2013 integer codes, emotion names, or a mix.
    label_set : str, int, sequence of str or None
        The target classes, anything :func:`get_label_set` accepts. ``None`` takes
        the distinct targets of ``mapping``, in :data:`EMOTIONS` order (custom
        names after the emotions, alphabetically); it requires a mapping.
    mapping : dict or None, default=None
        ``{source: target}`` renames, applied after normalisation (keys and values
        may use aliases or FER2013 codes). Labels absent from the mapping keep their
        name.
    unknown : {"raise", "drop"}, default="raise"
        What to do with a label that is not in the label set after mapping:
        raise a ``ValueError`` naming the label and its position, or drop the sample.

    Returns
    -------
    y_mapped : ndarray of str of shape (n_kept,)
        Canonical class names, for the kept samples only.
    kept : ndarray of bool of shape (n_samples,)
        Which samples were kept (all ``True`` when ``unknown="raise"``); use it to
        select the matching images: ``X[kept]``.

    Examples
    --------
    Keep four classes, dropping the other FER2013 emotions:

    >>> from fer_toolkit.datasets.labels import map_labels
    >>> y_mapped, kept = map_labels(
    ...     [3, 0, "Surprised", 6], "happy_sad_surprise_neutral", unknown="drop"
    ... )
    >>> y_mapped.tolist(), kept.tolist()
    (['happy', 'surprise', 'neutral'], [True, False, True, True])

    Merge disgust into angry for the five classes
    ``angry_happy_sad_surprise_neutral``:

    >>> y_mapped, kept = map_labels(["disgust", "angry", "happy"], 5, {"disgust": "angry"})
    >>> y_mapped.tolist()
    ['angry', 'angry', 'happy']
    """
    if unknown not in _UNKNOWN_POLICIES:
        raise InputError(f"unknown must be one of {_UNKNOWN_POLICIES}, got {unknown!r}.")
    mapping = {} if mapping is None else _normalize_mapping(mapping)
    classes = _target_classes(label_set, mapping)
    labels = _as_label_list(y)
    mapped = _map_each(labels, mapping)
    kept = np.fromiter((name in classes for name in mapped), dtype=bool, count=len(mapped))
    if unknown == "raise" and not kept.all():
        position = int(np.argmin(kept))
        raise InputError(
            f"Label {labels[position]!r} at position {position} maps to "
            f"{mapped[position]!r}, which is not in the label set ({', '.join(classes)}); "
            "add it to mapping, or pass unknown='drop' to drop such samples."
        )
    y_mapped = np.array([name for name, keep in zip(mapped, kept, strict=True) if keep], dtype=str)
    return y_mapped, kept


def _target_classes(label_set, mapping):
    if label_set is not None:
        return get_label_set(label_set)
    if not mapping:
        raise InputError("label_set=None takes the classes from mapping; pass a mapping.")
    return _canonical_order(set(mapping.values()))


def _as_label_list(y):
    """The labels as Python objects; a list keeps each item's type (no coercion to str)."""
    labels = y if isinstance(y, np.ndarray) else np.asarray(y, dtype=object)
    if labels.ndim != 1:
        raise InputError(f"y must be 1-D, got an array of shape {labels.shape}.")
    return labels.tolist()


def _map_each(labels, mapping):
    """Canonical name of every label after mapping."""
    mapped = []
    for position, label in enumerate(labels):
        try:
            name = _label_name(label)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"y[{position}]: {exc}") from exc
        mapped.append(mapping.get(name, name))
    return mapped


def load_label_mapping(path):
    """Read a label mapping from a JSON file ``{"source": "target", ...}``.

    Keys and values are class names (emotion aliases allowed) or FER2013 codes
    written as strings (``"1"`` is disgust). Use the result as the ``mapping`` of
    :func:`map_labels`.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file.

    Returns
    -------
    mapping : dict of str to str
        Canonical source name to canonical target name.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not valid JSON, is not an object of strings, repeats a key,
        is empty, or maps one label to two targets; the message names the file.

    Examples
    --------
    >>> import json, os, tempfile
    >>> from fer_toolkit.datasets.labels import load_label_mapping, map_labels
    >>> path = os.path.join(tempfile.mkdtemp(), "merge.json")
    >>> with open(path, "w") as f:
    ...     json.dump({"Disgusted": "anger", "1": "angry"}, f)
    >>> load_label_mapping(path)
    {'disgust': 'angry'}
    >>> y_mapped, kept = map_labels([1, 0, 3], None, load_label_mapping(path), unknown="drop")
    >>> y_mapped.tolist()
    ['angry', 'angry']
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Label mapping file not found: {path!r}.")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (a JSON label mapping): {exc}.") from None
    try:
        pairs = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}."
        ) from exc
    except _DuplicateKeyError as exc:
        raise InputError(f"{path}: key {exc.args[0]!r} appears twice.") from exc
    _check_mapping_document(pairs, path)
    try:
        return _normalize_mapping(pairs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: {exc}") from exc


class _DuplicateKeyError(Exception):
    pass


def _reject_duplicate_keys(pairs):
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKeyError(key)
        seen.add(key)
    return dict(pairs)


def _check_mapping_document(document, path):
    if not isinstance(document, dict):
        raise InputError(
            f'{path}: expected a JSON object {{"source": "target", ...}}, '
            f"got {type(document).__name__}."
        )
    if not document:
        raise InputError(f"{path}: the mapping is empty.")
    for key, value in document.items():
        if not isinstance(value, str):
            raise InputError(f"{path}: the target of {key!r} must be a class name, got {value!r}.")
