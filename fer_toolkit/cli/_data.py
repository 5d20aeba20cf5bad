"""Labelled data for ``train``, ``search`` and ``evaluate``: ``--data``, ``--ferplus``,
``--label-set`` and ``--split``.

``--data`` is a FER2013-format CSV (with ``--ferplus``, the FER+ labels of its
rows), a folder of labelled images (``root/<class>/*`` or
``root/<split>/<class>/*``), or ``synthetic[:N]``: N faces from
:func:`~fer_toolkit.datasets.make_synthetic_faces` split 70/15/15 into
``Training``, ``PublicTest`` and ``PrivateTest`` like FER2013.

Each command picks the part of the data that plays its *role* (training,
validation or test) by split name, or the split names given with ``--split``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, replace

import click
import numpy as np

from ..datasets import (
    EMOTION_ALIASES,
    EMOTIONS,
    FER2013_EMOTIONS,
    get_label_set,
    load_fer2013,
    load_ferplus,
    load_image_folder,
    load_label_mapping,
    make_synthetic_faces,
    map_labels,
)
from ..preprocessing import ImageReader
from ..utils.validation import InputError
from ._common import echo, option_group

__all__ = [
    "ROLES",
    "DataOptions",
    "DataParam",
    "LabelSet",
    "LabelSetParam",
    "LabelledData",
    "data_options",
    "load_data",
]

#: Split names that play each role, compared case-insensitively: FER2013's Usage values
#: and the usual folder names.
ROLES = {
    "train": ("training", "train"),
    "validation": ("publictest", "validation", "valid", "val", "dev"),
    "test": ("privatetest", "test", "testing"),
}
SYNTHETIC = "synthetic"
SYNTHETIC_DEFAULT_SIZE = 1000
_SYNTHETIC_SPLITS = (("Training", 0.7), ("PublicTest", 0.15), ("PrivateTest", 0.15))


@dataclass(frozen=True)
class DataSource:
    """What ``--data`` names: ``kind`` is "synthetic", "csv" or "folder"."""

    kind: str
    path: str | None = None
    n_samples: int = SYNTHETIC_DEFAULT_SIZE

    def __str__(self) -> str:
        return f"{SYNTHETIC}:{self.n_samples}" if self.kind == SYNTHETIC else str(self.path)


class DataParam(click.ParamType):
    """``synthetic``, ``synthetic:N``, a FER2013-format ``.csv`` file, or an image folder."""

    name = "DATA"

    def convert(self, value, param, ctx):
        if isinstance(value, DataSource):
            return value
        text = str(value)
        head, sep, count = text.partition(":")
        if head == SYNTHETIC:
            if not sep:
                return DataSource(SYNTHETIC)
            if not count.isdigit() or int(count) < 20:
                self.fail(f"{text!r}: use synthetic:N with N >= 20 faces.", param, ctx)
            return DataSource(SYNTHETIC, n_samples=int(count))
        if os.path.isdir(text):
            return DataSource("folder", text)
        if os.path.isfile(text):
            if not text.lower().endswith(".csv"):
                self.fail(
                    f"{text!r} is neither a FER2013-format .csv file nor a folder of images.",
                    param,
                    ctx,
                )
            return DataSource("csv", text)
        self.fail(
            f"{text!r} does not exist (expected a FER2013 .csv file, an image folder, or "
            "synthetic[:N]).",
            param,
            ctx,
        )


@dataclass(frozen=True)
class LabelSet:
    """The classes to keep (``None``: all) and a ``{source: target}`` mapping (or ``None``)."""

    classes: tuple | None = None
    mapping: dict | None = None

    def apply(self, labels) -> tuple[np.ndarray, np.ndarray]:
        """Canonical labels of the kept samples, and which samples are kept."""
        labels = np.asarray(labels)
        if self.classes is None and self.mapping is None:
            return map_labels(labels, get_label_set(sorted(set(labels.tolist()))))
        return map_labels(labels, self.classes, self.mapping, unknown="drop")

    def to_dict(self) -> dict:
        return {
            "classes": None if self.classes is None else list(self.classes),
            "mapping": self.mapping,
        }


class LabelSetParam(click.ParamType):
    """A named label set (``happy_sad_surprise_neutral``, ``fer2013``...), a class count,
    ``happy,sad,...``, or a JSON mapping file ``{"source": "target"}``."""

    name = "LABELS"

    def convert(self, value, param, ctx):
        if isinstance(value, LabelSet):
            return value
        text = str(value).strip()
        try:
            if os.path.isfile(text) or text.lower().endswith(".json"):
                return LabelSet(mapping=load_label_mapping(text))
            names = [part for part in text.split(",") if part.strip()]
            if len(names) > 1:
                for name in names:
                    _check_not_a_typo(name)
            return LabelSet(classes=get_label_set(names if len(names) > 1 else text))
        except (OSError, TypeError, ValueError) as exc:
            self.fail(str(exc), param, ctx)


def _check_not_a_typo(name: str) -> None:
    """Refuse a class name that is not an emotion but nearly spells one (``sadd``).

    Other names stay allowed: an image folder may have classes of its own.
    """
    key = name.strip().casefold()
    if key in EMOTIONS or key in EMOTION_ALIASES or key.isdigit():
        return
    close = difflib.get_close_matches(key, [*EMOTIONS, *EMOTION_ALIASES], n=1, cutoff=0.75)
    if close:
        suggestion = EMOTION_ALIASES.get(close[0], close[0])
        raise InputError(
            f"{name.strip()!r} is not an emotion (did you mean {suggestion!r}?); emotions are "
            f"{', '.join(EMOTIONS)}."
        )


def _check_emotion_classes(source: DataSource, label_set: LabelSet) -> None:
    """FER2013 CSVs and synthetic faces have emotion labels only: other classes are an error."""
    if source.kind == "folder" or label_set.classes is None or label_set.mapping is not None:
        return
    others = [name for name in label_set.classes if name not in EMOTIONS]
    if others:
        raise InputError(
            f"--label-set names {', '.join(map(repr, others))}, but {source} has emotion "
            f"labels only ({', '.join(EMOTIONS)})."
        )


@dataclass(frozen=True)
class LabelledData:
    """Images with their canonical labels, split names and a name per sample.

    Attributes
    ----------
    images : ndarray or list of ndarray
        uint8 images, RGB or grayscale.
    labels : ndarray of str
    splits : ndarray of str or None
        Split of each sample (FER2013's Usage, the split folder), or None.
    names : ndarray of str
        Where each sample comes from (``file.csv:row 12``, an image path).
    description : str
        The ``--data`` value, for messages.
    """

    images: object
    labels: np.ndarray
    splits: np.ndarray | None
    names: np.ndarray
    description: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask) -> LabelledData:
        index = np.flatnonzero(mask)
        images = (
            self.images[index]
            if isinstance(self.images, np.ndarray)
            else [self.images[i] for i in index]
        )
        return replace(
            self,
            images=images,
            labels=self.labels[index],
            splits=None if self.splits is None else self.splits[index],
            names=self.names[index],
        )

    def split_names(self) -> list[str]:
        return [] if self.splits is None else sorted(set(self.splits.tolist()))

    def has_role(self, role: str) -> bool:
        return any(name.casefold() in ROLES[role] for name in self.split_names())

    def select(self, role: str, splits=None) -> LabelledData:
        """The samples of the named ``splits``, else those whose split plays ``role``.

        Data without splits is returned whole.
        """
        if not splits and self.splits is None:
            return self
        if splits and self.splits is None:
            raise InputError(f"--split {','.join(splits)}: {self.description} has no splits.")
        wanted = {name.casefold() for name in splits} if splits else set(ROLES[role])
        mask = np.array([name.casefold() in wanted for name in self.splits.tolist()], dtype=bool)
        if not mask.any():
            what = f"split {', '.join(splits)}" if splits else f"{role} split"
            raise InputError(
                f"{self.description} has no {what}; its splits are "
                f"{', '.join(self.split_names())}: choose with --split."
            )
        return self.subset(mask)


@dataclass(frozen=True)
class DataOptions:
    """What ``--data``, ``--ferplus``, ``--label-set`` and ``--split`` chose."""

    data_source: DataSource
    ferplus: str | None
    label_set: LabelSet | None
    splits: list[str] | None

    def load(self, *, seed: int, n_jobs=None, label_set: LabelSet | None = None) -> LabelledData:
        """:func:`load_data` of ``--data``; ``label_set`` replaces a missing ``--label-set``."""
        return load_data(
            self.data_source,
            ferplus=self.ferplus,
            label_set=self.label_set or label_set,
            seed=seed,
            n_jobs=n_jobs,
        )


#: ``--data``, ``--ferplus``, ``--label-set`` and ``--split``, received as ``data_opts``
#: (a :class:`DataOptions`).
data_options = option_group(
    "data_opts",
    DataOptions,
    [
        click.option(
            "--data",
            "data_source",
            type=DataParam(),
            required=True,
            help="A FER2013-format CSV, a folder of labelled images (root/<class>/* or "
            "root/<split>/<class>/*), or synthetic[:N] (N generated faces, default 1000).",
        ),
        click.option(
            "--ferplus",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="FER+ votes (fer2013new.csv) for the --data FER2013 CSV: majority labels.",
        ),
        click.option(
            "--label-set",
            type=LabelSetParam(),
            default=None,
            help="Classes to keep: a named set (angry_happy_sad_neutral, "
            "happy_sad_surprise_neutral, angry_happy_sad_surprise_neutral, fer2013, ferplus), "
            "a count (5, 7, 8), names (happy,sad,neutral), or a JSON mapping file "
            '{"source": "target"} merging classes. Other labels are dropped.',
        ),
        click.option(
            "--split",
            "splits",
            metavar="NAME[,NAME]",
            default=None,
            callback=lambda ctx, param, value: None if value is None else value.split(","),
            help="Split names to use (FER2013 Usage values or split folders), comma "
            "separated. Default: the split that plays the command's role.",
        ),
    ],
)


def load_data(
    source: DataSource, *, ferplus=None, label_set=None, seed=0, n_jobs=None
) -> LabelledData:
    """Load ``source`` with canonical labels, keeping only the classes of ``label_set``."""
    label_set = label_set or LabelSet()
    if ferplus is not None and source.kind != "csv":
        raise InputError(f"--ferplus relabels a FER2013 CSV, but --data is {source}.")
    _check_emotion_classes(source, label_set)
    if source.kind == SYNTHETIC:
        data = _synthetic(source.n_samples, label_set, seed)
    elif source.kind == "csv":
        data = _fer_csv(source.path, ferplus)
    else:
        data = _folder(source.path, n_jobs)
    labels, kept = label_set.apply(data.labels)
    if not kept.all():
        echo(f"{int((~kept).sum())} of {len(kept)} samples dropped: labels outside the label set")
        data = data.subset(kept)
    if len(data) == 0:
        raise InputError(f"no sample of {source} is left with the label set.")
    return replace(data, labels=labels)


def _synthetic(n_samples: int, label_set: LabelSet, seed: int) -> LabelledData:
    emotions_only = label_set.classes is not None and all(c in EMOTIONS for c in label_set.classes)
    classes = label_set.classes if emotions_only and label_set.mapping is None else None
    faces = make_synthetic_faces(n_samples, classes=classes, random_state=seed)
    bounds = np.cumsum([share for _, share in _SYNTHETIC_SPLITS]) * n_samples
    position = np.searchsorted(np.round(bounds), np.arange(n_samples), side="right")
    splits = np.array([name for name, _ in _SYNTHETIC_SPLITS])[position]
    return LabelledData(
        images=faces.images,
        labels=np.asarray(faces.target_names)[faces.target],
        splits=splits,
        names=np.array([f"synthetic face {i}" for i in range(n_samples)]),
        description=f"{SYNTHETIC}:{n_samples}",
    )


def _fer_csv(path: str, ferplus) -> LabelledData:
    base = os.path.basename(path)
    if ferplus is None:
        data = load_fer2013(path)
        labels, rows = np.asarray(FER2013_EMOTIONS)[data.target], np.arange(len(data.target))
    else:
        data = load_ferplus(path, ferplus)
        labels, rows = np.asarray(EMOTIONS)[data.target], data.fer2013_index
    has_usage = bool(np.char.str_len(data.usage.astype(str)).all())
    return LabelledData(
        images=data.images,
        labels=labels,
        splits=data.usage.astype(str) if has_usage else None,
        names=np.array([f"{base}:row {i}" for i in rows]),
        description=path,
    )


def _folder(root: str, n_jobs) -> LabelledData:
    listing = load_image_folder(root)
    images = ImageReader(n_jobs=n_jobs).transform(listing.filenames)
    return LabelledData(
        images=images,
        labels=listing.target,
        splits=listing.split,
        names=listing.filenames,
        description=root,
    )
