"""Re-cropping FER2013-format CSVs row by row, keeping labels, usage and row order.

The preprocessing of abdessalemmami/Facial-Expressions-Recognition
(https://github.com/abdessalemmami/Facial-Expressions-Recognition): each row's
largest face is cut out again (the whole image is kept when none is found) and
written to a FER2013 CSV or a labelled image folder. :func:`crop_fer2013` is
resumable: rows are cropped in chunks saved under ``parts/``, and finished
sources are recorded in ``crop.json``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...preprocessing.faces import cut_face
from ...preprocessing.geometry import resize_image
from ...utils.fileio import atomic_path, atomic_write, folder_lock, remove_stale_temporaries
from ...utils.validation import InputError, check_size
from ..fer2013 import load_fer2013, write_fer2013_csv
from ..labels import FER2013_EMOTIONS
from .journal import START_OVER
from .output import FACES_DIR, IMAGE_FORMATS, INDEX_COLUMNS, INDEX_NAME, write_image
from .pipeline import check_detector, make_detector

__all__ = ["FER2013_INDEX_COLUMNS", "Fer2013CropSummary", "crop_fer2013"]

SETTINGS_NAME = "crop.json"
PARTS_DIR = "parts"
# Rows cropped, and saved under parts/, at a time: a kill loses at most this many.
_CSV_CHUNK = 256
_LANDMARKS = [c for c in INDEX_COLUMNS if c.endswith(("_x", "_y"))]
#: Columns of the ``index.csv`` of :func:`crop_fer2013`, one row per CSV row.
FER2013_INDEX_COLUMNS = (
    "source",
    "row",
    "usage",
    "emotion",
    "found",
    "x",
    "y",
    "w",
    "h",
    "confidence",
    *_LANDMARKS,
    "crop",
)


@dataclass(frozen=True)
class Fer2013CropSummary:
    """What :func:`crop_fer2013` did.

    Attributes
    ----------
    out_dir : str
        The output folder.
    index_path : str
        Its ``index.csv``.
    outputs : tuple of str
        What holds the crops: the FER2013 CSVs written (``image_format="csv"``),
        or the ``faces/`` folder.
    n_sources : int
        CSV files given.
    n_skipped : int
        Of those, files already finished in ``out_dir`` by an earlier run.
    n_rows : int
        Rows in the index (every row of every file not in ``failed``).
    n_found : int
        Of those, rows where a face was found and cut out; the others keep
        their whole image.
    failed : tuple of (str, str)
        ``(path, reason)`` of the files that could not be read and were left
        out (``on_error="skip"`` or ``"warn"``); a rerun tries them again.

    Examples
    --------
    :func:`crop_fer2013` returns one (its example runs a re-crop). Here, that
    of a run over two files, one finished earlier:

    >>> from fer_toolkit.datasets import Fer2013CropSummary
    >>> summary = Fer2013CropSummary(
    ...     out_dir="out", index_path="out/index.csv",
    ...     outputs=("out/train.csv", "out/test.csv"), n_sources=2, n_skipped=1,
    ...     n_rows=500, n_found=470)
    >>> summary.n_rows - summary.n_found  # rows that kept their whole image
    30
    """

    out_dir: str
    index_path: str
    outputs: tuple
    n_sources: int
    n_skipped: int
    n_rows: int
    n_found: int
    failed: tuple = ()


class _Record:
    """``OUT/crop.json``: the settings of the crops written, the files and folders they
    created, and finished CSV sources; a rerun must use the same settings (or start over,
    which deletes only what an earlier run recorded as its own)."""

    def __init__(self, out_dir: Path, settings: dict, restart: bool, outputs: list[str], sources):
        self.path = out_dir / SETTINGS_NAME
        previous = self._read(out_dir)
        if restart and previous is not None:
            inputs = {os.path.realpath(source) for source in sources}
            for name in previous["outputs"]:
                target = out_dir / name
                if os.path.realpath(target) in inputs or Path(name).name != name:
                    continue  # never an input, nor anything outside OUT
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
            self.path.unlink()
            previous = None
        self.done: list[str] = []
        if previous is not None:
            for name, value in settings.items():
                if previous["settings"].get(name) != value:
                    raise InputError(
                        f"{out_dir} holds crops made with {name}={previous['settings'].get(name)!r}"
                        f", not {value!r}; rerun with the same settings to resume, or "
                        f"{START_OVER}."
                    )
            self.done = previous["done"]
            outputs = [*previous["outputs"], *(n for n in outputs if n not in previous["outputs"])]
        self.settings = settings
        self.outputs = outputs
        self.save()

    def _read(self, out_dir: Path) -> dict | None:
        try:
            with open(self.path, encoding="utf-8") as f:
                previous = json.load(f)
            if "outputs" not in previous:  # written before crop.json listed its outputs
                csv_out = previous["settings"]["image_format"] == "csv"
                previous["outputs"] = [FACES_DIR, PARTS_DIR, INDEX_NAME] + [
                    f"{Path(source).stem}.csv" for source in previous["done"] if csv_out
                ]
            if not isinstance(previous["settings"], dict) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v)
                for v in (previous["outputs"], previous["done"])
            ):
                raise TypeError
            return previous
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            raise InputError(
                f"{self.path} is not a crop.json written by fer-toolkit crop (it was modified?); "
                "move it away, or use another output folder."
            ) from None

    def save(self) -> None:
        with atomic_write(self.path, encoding="utf-8") as f:
            document = {"settings": self.settings, "outputs": self.outputs, "done": self.done}
            json.dump(document, f, indent=2)

    def finish(self, key: str) -> None:
        if key not in self.done:
            self.done.append(key)
            self.save()


def crop_fer2013(
    sources,
    out_dir,
    *,
    detector="mtcnn",
    align=False,
    min_confidence=None,
    margin=0.0,
    output_size=48,
    image_format="csv",
    progress=True,
    resume=True,
    device="auto",
    on_error="raise",
) -> Fer2013CropSummary:
    """Re-crop the faces of FER2013-format CSVs, keeping every row's label, usage and place.

    Each row's image goes through the detector; its largest face (among those
    scoring at least ``min_confidence``) is cut out, or aligned, and resized
    to ``output_size``. A row without a face keeps its whole image, resized.
    This is the preprocessing of abdessalemmami/Facial-Expressions-Recognition,
    and what ``fer-toolkit crop data.csv`` runs.

    Parameters
    ----------
    sources : str, os.PathLike or sequence of them
        FER2013-format CSV files (``emotion,pixels[,Usage]``, as
        :func:`~fer_toolkit.datasets.load_fer2013` reads), with distinct
        file names: the outputs are named after them.
    out_dir : str or os.PathLike
        Output folder, created if needed. Inputs are never written to.
    detector : {"mtcnn", "haar"} or object, default="mtcnn"
        :class:`~fer_toolkit.detection.MTCNN`, the stock frontal-face Haar
        cascade, or any object whose ``detect(image)`` (and optionally
        ``detect_batch(images)``) returns
        :class:`~fer_toolkit.detection.Detections`.
    align : bool, default=False
        Align each face on its five landmarks (eyes level, see
        :func:`~fer_toolkit.preprocessing.align_face`) instead of cutting its
        box. Needs a detector that gives landmarks (MTCNN).
    min_confidence : float or None, default=None
        Ignore detections scoring below this (MTCNN's face probability, a Haar
        cascade's merged neighbours); None keeps what the detector returns.
    margin : float, default=0.0
        Fraction of the face added on every side of a crop.
    output_size : int or tuple of (height, width), default=48
        Size of the crops. A FER2013 CSV holds 48x48 images only.
    image_format : {"csv", "png", "jpg", "bmp", "webp", "tiff"}, default="csv"
        ``"csv"`` writes ``out_dir/<name>.csv`` in FER2013 format (labels,
        usage and row order of the source ``<name>.csv``); an image format
        writes ``out_dir/faces/<name>/<usage>/<emotion>/<row>.<format>``, a
        labelled folder that :func:`~fer_toolkit.datasets.load_image_folder`
        reads.
    progress : bool, default=True
        Show a tqdm bar of the rows of each file on stderr.
    resume : bool, default=True
        Continue a run that ``out_dir`` already holds: finished files are
        reused, and the rows of an unfinished one are redone from its last
        saved chunk of 256 rows. The settings must match those stored in
        ``out_dir/crop.json``. ``False`` first deletes what an earlier run
        recorded there as its own output (nothing else).
    device : str, default="auto"
        Device of the MTCNN detector ("cpu", "cuda", "auto").
    on_error : {"raise", "skip", "warn"}, default="raise"
        A file that cannot be read: stop with an error naming it, or leave it
        out and go on, listing it in the summary's ``failed`` (``"warn"`` also
        warns at once). A rerun tries it again.

    Returns
    -------
    summary : Fer2013CropSummary

    Raises
    ------
    FileNotFoundError, ValueError
        Naming the file or setting at fault: a missing or malformed source,
        two sources of the same name, an output that would overwrite a
        source, settings that differ from those of the run being resumed,
        ``image_format="csv"`` with a size other than 48x48, or an invalid
        parameter.
    BlockingIOError
        When another run is writing to ``out_dir``.

    See Also
    --------
    extract_faces : Face crops out of photos, folders and videos.

    Notes
    -----
    Besides the crops, ``out_dir`` holds ``index.csv`` (columns
    ``FER2013_INDEX_COLUMNS``: source, row, usage, emotion, ``found`` (1 or 0),
    the face's box, confidence and landmarks, blank without a face, and the
    crop's path) and ``crop.json`` (the settings, the outputs it made and the
    finished sources). While a file is being cropped, ``parts/`` holds its
    finished chunks. The folder is locked while a run writes to it.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fer_toolkit.datasets import (
    ...     crop_fer2013, load_fer2013, make_synthetic_faces, write_fer2013_csv)
    >>> faces = make_synthetic_faces(8, random_state=0)
    >>> emotions = np.asarray(faces.target_names)[faces.target]
    >>> folder = tempfile.mkdtemp()
    >>> source = os.path.join(folder, "fer2013.csv")
    >>> write_fer2013_csv(source, faces.images, emotions, usage=["Training"] * 8)
    >>> out = os.path.join(folder, "cropped")
    >>> summary = crop_fer2013(source, out, detector="haar", margin=0.1, progress=False)
    >>> summary.n_rows, summary.outputs == (os.path.join(out, "fer2013.csv"),)
    (8, True)
    >>> cropped = load_fer2013(os.path.join(out, "fer2013.csv"))
    >>> cropped.images.shape, bool((cropped.target == load_fer2013(source).target).all())
    ((8, 48, 48), True)
    >>> sorted(os.listdir(out))
    ['crop.json', 'fer2013.csv', 'index.csv', 'parts']

    Rerunning resumes: a finished file is not cropped again.

    >>> crop_fer2013(source, out, detector="haar", margin=0.1, progress=False).n_skipped
    1
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sources = [os.fspath(source) for source in sources]
    if not sources:
        raise InputError("sources is empty: give at least one FER2013-format CSV file.")
    size = check_size(output_size, "output_size")
    if image_format not in ("csv", *IMAGE_FORMATS):
        raise InputError(
            f"image_format must be 'csv' or one of {IMAGE_FORMATS}; got {image_format!r}."
        )
    if image_format == "csv" and size != (48, 48):
        raise InputError(
            f"image_format='csv' writes FER2013 CSVs: 48x48 images (output_size=48); got "
            f"output_size={output_size!r}."
        )
    check_detector(detector)
    if on_error not in ("raise", "skip", "warn"):
        raise InputError(f"on_error must be 'raise', 'skip' or 'warn'; got {on_error!r}.")
    for name, value in (("align", align), ("progress", progress), ("resume", resume)):
        if not isinstance(value, bool):
            raise InputError(f"{name} must be True or False; got {value!r}.")
    if not isinstance(margin, Real) or isinstance(margin, bool) or not margin >= 0:
        raise InputError(f"margin must be a number >= 0; got {margin!r}.")
    if min_confidence is not None and (
        not isinstance(min_confidence, Real) or isinstance(min_confidence, bool)
    ):
        raise InputError(f"min_confidence must be a number or None; got {min_confidence!r}.")
    if align and detector == "haar":
        raise InputError(
            "align=True needs five landmarks per face, which the Haar cascade does not give: "
            "use detector='mtcnn'."
        )
    stems = [Path(s).stem for s in sources]
    if len(set(stems)) != len(stems):
        raise InputError(
            f"CSV sources need distinct file names, their outputs are named so; got {sources}."
        )
    job = _Job(
        out=Path(out_dir),
        detector=make_detector(detector, device),
        size=size,
        margin=margin,
        align=align,
        min_confidence=min_confidence,
        image_format=image_format,
        progress=progress,
    )
    with folder_lock(job.out, "another crop_fer2013 (fer-toolkit crop) run"):
        remove_stale_temporaries(job.out)  # left by a run killed mid-write
        return _crop_sources(job, sources, stems, resume, on_error)


@dataclass(frozen=True)
class _Job:
    """The output folder, the detector and the settings of the crops."""

    out: Path
    detector: object
    size: tuple[int, int]
    margin: float
    align: bool
    min_confidence: float | None
    image_format: str
    progress: bool

    def settings(self) -> dict:
        """The settings ``crop.json`` records, which a resumed run must repeat."""
        return {
            "detector": type(self.detector).__name__,
            "align": self.align,
            "min_confidence": self.min_confidence,
            "margin": self.margin,
            "size": list(self.size),
            "grayscale": True,
            "image_format": self.image_format,
        }


def _crop_sources(job: _Job, sources, stems, resume: bool, on_error: str) -> Fer2013CropSummary:
    out = job.out
    outputs = [FACES_DIR, PARTS_DIR, INDEX_NAME]
    if job.image_format == "csv":
        outputs += [f"{stem}.csv" for stem in stems]
    for source in sources:
        if not os.path.exists(source):
            raise FileNotFoundError(f"source {source!r} does not exist.")
        for name in (*outputs, SETTINGS_NAME):
            if os.path.realpath(out / name) == os.path.realpath(source):
                raise InputError(
                    f"the output folder {out} would overwrite the source {source!r} with its "
                    f"{name}; use another output folder (inputs are never written to)."
                )
    record = _Record(out, job.settings(), not resume, outputs, sources)
    rows, n_found, n_skipped, failed = [], 0, 0, []
    for source in sources:
        index_part = out / PARTS_DIR / f"{Path(source).stem}.index.json"
        if source in record.done:
            with open(index_part, encoding="utf-8") as f:
                source_rows = json.load(f)
            n_skipped += 1
        else:
            try:
                source_rows = _crop_csv(job, source)
            except (OSError, ValueError) as exc:
                if on_error == "raise":
                    raise
                failed.append((source, str(exc)))
                if on_error == "warn":
                    warnings.warn(f"left out {source!r}: {exc}", UserWarning, stacklevel=3)
                continue
            with atomic_write(index_part, encoding="utf-8") as f:
                json.dump(source_rows, f)
            record.finish(source)
        rows.extend(source_rows)
        n_found += sum(row["found"] for row in source_rows)
    index_path = out / INDEX_NAME
    with atomic_write(index_path, newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, FER2013_INDEX_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    written = [str(out / f"{stem}.csv") for stem in stems] if job.image_format == "csv" else []
    return Fer2013CropSummary(
        out_dir=str(out),
        index_path=str(index_path),
        outputs=tuple(written or [f"{out / FACES_DIR}/"]),
        n_sources=len(sources),
        n_skipped=n_skipped,
        n_rows=len(rows),
        n_found=n_found,
        failed=tuple(failed),
    )


def _cut_rows(images, detector, *, size, margin, align, min_confidence):
    """Per row: the largest face (or, without one, the whole image) at ``size``, and its
    detection ``(box, score, landmarks)`` or None."""
    batch = getattr(detector, "detect_batch", None)
    images = list(images)
    found_all = batch(images) if callable(batch) else [detector.detect(im) for im in images]
    crops, found = [], []
    for image, detections in zip(images, found_all, strict=True):
        keep = (
            np.ones(len(detections), dtype=bool)
            if min_confidence is None
            else detections.scores >= min_confidence
        )
        if not keep.any():
            crops.append(resize_image(image, size, "area"))
            found.append(None)
            continue
        areas = np.where(keep, detections.boxes[:, 2] * detections.boxes[:, 3], -1)
        best = int(np.argmax(areas))
        crops.append(
            cut_face(image, detections, best, output_size=size, margin=margin, align=align)
        )
        landmarks = None if detections.landmarks is None else detections.landmarks[best]
        found.append((detections.boxes[best], float(detections.scores[best]), landmarks))
    return np.stack(crops), found


def _crop_csv(job: _Job, path: str) -> list[dict]:
    """Re-crop the rows of one FER2013-format CSV; return its index rows."""
    out_dir, image_format = job.out, job.image_format
    data = load_fer2013(path)
    stem = Path(path).stem
    emotions = np.asarray(FER2013_EMOTIONS)[data.target]
    parts = out_dir / PARTS_DIR / stem
    n = len(data.target)
    with tqdm(total=n, unit="row", desc=os.path.basename(path), disable=not job.progress) as bar:
        for start in range(0, n, _CSV_CHUNK):
            part = parts / f"{start:08d}.npz"
            if not part.exists():
                crops, found = _cut_rows(
                    data.images[start : start + _CSV_CHUNK],
                    job.detector,
                    size=job.size,
                    margin=job.margin,
                    align=job.align,
                    min_confidence=job.min_confidence,
                )
                with atomic_path(part) as tmp:
                    np.savez(tmp, crops=crops, detections=np.array(_detection_table(found)))
            bar.update(min(_CSV_CHUNK, n - start))
    crops, table = [], []
    for start in range(0, n, _CSV_CHUNK):
        with np.load(parts / f"{start:08d}.npz") as saved:
            crops.append(saved["crops"])
            table.append(saved["detections"])
    crops, table = np.concatenate(crops), np.concatenate(table)
    usage = data.usage.astype(str)
    if image_format == "csv":
        write_fer2013_csv(out_dir / f"{stem}.csv", crops, data.target, usage=usage)
        names = [""] * n
    else:
        names = [
            "/".join(part for part in (FACES_DIR, stem, usage[i], emotions[i]) if part)
            + f"/{i:06d}.{image_format}"
            for i in range(n)
        ]
        for name, face in zip(names, crops, strict=True):
            path_out = out_dir / name
            write_image(path_out, face, image_format, repr(os.fspath(path_out)))
    shutil.rmtree(parts)
    rows = []
    for i in range(n):
        found = not np.isnan(table[i, 0])
        numbers = table[i]
        rows.append(
            {
                "source": path,
                "row": i,
                "usage": usage[i],
                "emotion": emotions[i],
                "found": int(found),
                **dict(zip(("x", "y", "w", "h"), _fmt(numbers[:4], "{:.0f}"), strict=True)),
                "confidence": _fmt(numbers[4:5], "{:.6g}")[0],
                **dict(zip(_LANDMARKS, _fmt(numbers[5:], "{:.2f}"), strict=True)),
                "crop": names[i] or f"{stem}.csv",
            }
        )
    return rows


def _detection_table(found) -> list[list[float]]:
    """One row per image: box (4), score, landmarks (10); NaN where absent."""
    table = []
    for item in found:
        row = [np.nan] * 15
        if item is not None:
            box, score, landmarks = item
            row[:5] = [*map(float, box), score]
            if landmarks is not None:
                row[5:] = np.asarray(landmarks, dtype=float).ravel().tolist()
        table.append(row)
    return table


def _fmt(values, pattern: str) -> list[str]:
    return ["" if np.isnan(v) else pattern.format(v) for v in values]
