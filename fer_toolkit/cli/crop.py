"""``fer-toolkit crop`` (alias ``extract-faces``): face datasets out of photos, videos and
FER CSVs.

Photos, folders and videos go through :func:`~fer_toolkit.datasets.extract_faces`
(detection, filters, alignment, the index, resuming). FER2013-format CSV
sources are re-cropped row by row (the preprocessing of
abdessalemmami/Facial-Expressions-Recognition,
https://github.com/abdessalemmami/Facial-Expressions-Recognition), keeping their
labels and row order, into a FER2013 CSV or a labelled image folder.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import click
import cv2
import numpy as np
from tqdm import tqdm

from ..datasets import FER2013_EMOTIONS, extract_faces, load_fer2013, write_fer2013_csv
from ..datasets.extraction import FACES_DIR, IMAGE_FORMATS, INDEX_COLUMNS, INDEX_NAME
from ..preprocessing.faces import cut_face
from ..preprocessing.geometry import resize_image
from ..utils.fileio import atomic_path, atomic_write, folder_lock, remove_stale_temporaries
from ..utils.validation import InputError
from ._common import (
    FerCommand,
    SizeParam,
    device_option,
    echo,
    n_jobs_option,
    no_progress_option,
    show_progress,
)
from ._faces import make_detector, on_error_option, report_failures

__all__ = ["crop"]

SETTINGS_NAME = "crop.json"
PARTS_DIR = "parts"
_CSV_CHUNK = 256
_LANDMARKS = [c for c in INDEX_COLUMNS if c.endswith(("_x", "_y"))]
CSV_INDEX_COLUMNS = (
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


def _is_csv(path: str) -> bool:
    return path.lower().endswith(".csv")


class _Settings:
    """``OUT/crop.json``: the settings of the crops written by this command, the files and
    folders it created, and finished CSV sources; a rerun must use the same settings (or
    ``--restart``, which deletes only what an earlier run recorded as its own)."""

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
                        f", not {value!r}; rerun with the same settings to resume, or start over "
                        "with --restart (or use another --out)."
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
                "move it away, or use another --out."
            ) from None

    def save(self) -> None:
        with atomic_write(self.path, encoding="utf-8") as f:
            document = {"settings": self.settings, "outputs": self.outputs, "done": self.done}
            json.dump(document, f, indent=2)

    def finish(self, key: str) -> None:
        if key not in self.done:
            self.done.append(key)
            self.save()


def _encode(image: np.ndarray, image_format: str, where: str) -> bytes:
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(f".{image_format}", image)
    if not ok:
        raise InputError(f"OpenCV cannot encode {where!r} as {image_format}.")
    return encoded.tobytes()


def _write_image(path: Path, image: np.ndarray, image_format: str) -> None:
    data = _encode(image, image_format, os.fspath(path))
    with atomic_write(path, "wb") as f:
        f.write(data)


def _write_index(path: Path, columns, rows) -> None:
    with atomic_write(path, newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


# ----------------------------------------------------------------- CSV sources
def _cut_rows(images, detector, *, size, margin, align, min_confidence):
    """Per row: the largest face (or, without one, the whole image) at ``size``, and its
    detection ``(box, score, landmarks)`` or None."""
    crops, found = [], []
    for image, detections in zip(images, detector.detect_batch(list(images)), strict=True):
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


def _crop_csv(
    path, out_dir: Path, detector, *, size, margin, align, min_confidence, image_format, progress
):
    """Re-crop the rows of one FER2013-format CSV; return its index rows."""
    data = load_fer2013(path)
    stem = Path(path).stem
    emotions = np.asarray(FER2013_EMOTIONS)[data.target]
    parts = out_dir / PARTS_DIR / stem
    n = len(data.target)
    with tqdm(total=n, unit="row", desc=os.path.basename(path), disable=not progress) as bar:
        for start in range(0, n, _CSV_CHUNK):
            part = parts / f"{start:08d}.npz"
            if not part.exists():
                crops, found = _cut_rows(
                    data.images[start : start + _CSV_CHUNK],
                    detector,
                    size=size,
                    margin=margin,
                    align=align,
                    min_confidence=min_confidence,
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
            _write_image(out_dir / name, face, image_format)
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


@click.command(cls=FerCommand)
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Output folder: faces/ (or FER2013 CSVs), index.csv and the progress record.",
)
@click.option(
    "--detector",
    type=click.Choice(["mtcnn", "haar"]),
    default="mtcnn",
    show_default=True,
    help="Face detector.",
)
@click.option(
    "--align",
    is_flag=True,
    help="Align each face on its five landmarks (eyes level, fixed framing; mtcnn).",
)
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Process every N-th video frame (0, N, 2N, ...).",
)
@click.option(
    "--min-confidence",
    type=float,
    default=None,
    help="Reject detections scoring below this (MTCNN: face probability, e.g. 0.95; "
    "Haar: merged neighbours). Default: keep what the detector returns.",
)
@click.option(
    "--margin",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="Fraction of the face added on every side of a crop.",
)
@click.option(
    "--size",
    type=SizeParam(),
    default=None,
    help="Resize crops: 48 or HEIGHTxWIDTH (64x48) [default: their own size; 48 for CSV sources].",
)
@click.option("--grayscale", is_flag=True, help="Write grayscale crops.")
@click.option(
    "--verify",
    type=click.Choice(["none", "haar"]),
    default="none",
    show_default=True,
    help="Second face/non-face check: 'haar' re-detects the face on each crop and drops the "
    "crop when none is found.",
)
@click.option(
    "--keep",
    type=click.Choice(["all", "largest"]),
    default="all",
    show_default=True,
    help="Keep every face of a frame, or only the largest (CSV rows: always the largest).",
)
@click.option(
    "--format",
    "image_format",
    type=click.Choice([*IMAGE_FORMATS, "csv"]),
    default="png",
    show_default=True,
    help="Crop file format, or csv: FER2013-format CSVs (48x48 grayscale, labels and row "
    "order kept) from CSV sources.",
)
@click.option("--save-rejected", is_flag=True, help="Also write rejected crops, under rejected/.")
@click.option(
    "--restart",
    is_flag=True,
    help="Delete what an earlier crop wrote in --out (nothing else) and start over "
    "(default: resume it).",
)
@on_error_option
@device_option
@n_jobs_option("Threads detecting faces with the Haar cascade")
@no_progress_option
def crop(
    sources,
    out_dir,
    detector,
    align,
    every,
    min_confidence,
    margin,
    size,
    grayscale,
    verify,
    keep,
    image_format,
    save_rejected,
    restart,
    on_error,
    device,
    n_jobs,
):
    """Crop the faces out of photos, videos, folders and FER2013 CSVs into a dataset.

    SOURCES are video files, image files, folders (searched recursively for
    both), or FER2013-format CSV files. Every N-th frame of each video and
    every image goes through the detector; a detection is dropped when its
    confidence is below --min-confidence or when --verify says its crop is no
    face. Kept crops go to OUT/faces/ (a video clip.mp4 to
    faces/clip/<frame>_<face>.png, a folder keeps its structure), and every
    detection, kept or rejected with its reason, gets a row in OUT/index.csv:
    source, frame, face, box, confidence, five landmarks (MTCNN), crop path.

    A CSV source keeps its rows: each row's largest face is cut (the whole
    image when none is found) and written, with its label and usage, to
    OUT/<name>.csv (--format csv) or OUT/faces/<name>/<usage>/<emotion>/.

    Rerunning the same command after an interruption resumes it without
    duplicate rows or crops. Inputs are never written to.

    \b
    Example:
      fer-toolkit crop photos/ clip.mp4 --out faces --align --size 48 --grayscale
      fer-toolkit crop fer2013.csv --out fer2013_mtcnn --format csv --margin 0.1
      fer-toolkit crop interviews/ --out faces_dataset --every 10 --min-confidence 0.95 \\
          --verify haar --margin 0.2 --size 96
    (fer-toolkit extract-faces is the same command under its earlier name.)
    """
    csv_sources = [s for s in sources if _is_csv(s)]
    if align and detector != "mtcnn":
        raise click.UsageError("--align needs --detector mtcnn (alignment uses its landmarks).")
    if csv_sources and len(csv_sources) != len(sources):
        raise click.UsageError(
            "crop FER2013 CSV sources and image/video sources in separate runs: their outputs "
            "differ (labelled CSV rows vs. detections of every face)."
        )
    finder = make_detector(detector, device=device, n_jobs=n_jobs)
    progress = show_progress()
    out = Path(out_dir)
    if csv_sources:
        with folder_lock(out, "another fer-toolkit crop run"):
            remove_stale_temporaries(out)  # left by a run killed mid-write
            _crop_csv_sources(
                csv_sources,
                out,
                finder,
                align=align,
                min_confidence=min_confidence,
                margin=margin,
                size=size,
                image_format=image_format,
                restart=restart,
                progress=progress,
                on_error=on_error,
                ignored={
                    "--every": every != 1,
                    "--verify": verify != "none",
                    "--keep": keep != "all",
                    "--save-rejected": save_rejected,
                },
            )
        return
    if image_format == "csv":
        raise click.UsageError(
            "--format csv writes FER2013 CSVs from FER2013 CSV sources; crop images and videos "
            "to image files (their faces carry no emotion labels)."
        )
    options = {
        "every": every,
        "min_confidence": min_confidence,
        "verify": None if verify == "none" else verify,
        "keep": keep,
        "save_rejected": save_rejected,
        "progress": progress,
        "resume": not restart,
        "device": device,
        "on_error": "raise" if on_error == "raise" else "skip",  # listed below, not warned
    }
    summary = extract_faces(
        list(sources),
        out,
        detector=finder,
        margin=margin,
        output_size=size,
        align=align,
        grayscale=grayscale,
        image_format=image_format,
        **options,
    )
    echo(
        f"{summary.n_kept} face crops kept, {summary.n_rejected} detections rejected "
        f"(index: {out / INDEX_NAME}); this run examined {summary.n_frames} frames/images "
        f"from {summary.n_sources - summary.n_skipped} of {summary.n_sources} files "
        f"({summary.n_skipped} already done)."
    )
    report_failures(summary.failed, on_error)


def _crop_csv_sources(
    sources,
    out: Path,
    finder,
    *,
    align,
    min_confidence,
    margin,
    size,
    image_format,
    restart,
    progress,
    on_error,
    ignored,
):
    used = [flag for flag, given in ignored.items() if given]
    if used:
        raise click.UsageError(f"{', '.join(used)} do not apply to FER2013 CSV sources.")
    size = size or (48, 48)
    if image_format == "csv" and size != (48, 48):
        raise click.UsageError("--format csv writes FER2013 CSVs: 48x48 images (--size 48).")
    stems = [Path(s).stem for s in sources]
    if len(set(stems)) != len(stems):
        raise click.UsageError("CSV sources need distinct file names: their outputs are named so.")
    outputs = [FACES_DIR, PARTS_DIR, INDEX_NAME]
    if image_format == "csv":
        outputs += [f"{stem}.csv" for stem in stems]
    for source in sources:
        if not os.path.exists(source):
            raise FileNotFoundError(f"source {source!r} does not exist.")
        for name in (*outputs, SETTINGS_NAME):
            if os.path.realpath(out / name) == os.path.realpath(source):
                raise InputError(
                    f"--out {out} would overwrite the source {source!r} with its {name}; "
                    "use another --out (inputs are never written to)."
                )
    settings = _Settings(
        out,
        {
            "detector": type(finder).__name__,
            "align": align,
            "min_confidence": min_confidence,
            "margin": margin,
            "size": list(size),
            "grayscale": True,
            "image_format": image_format,
        },
        restart,
        outputs,
        sources,
    )
    rows, n_found, failed = [], 0, []
    for source in sources:
        index_part = out / PARTS_DIR / f"{Path(source).stem}.index.json"
        if source in settings.done:
            with open(index_part, encoding="utf-8") as f:
                source_rows = json.load(f)
        else:
            try:
                source_rows = _crop_csv(
                    source,
                    out,
                    finder,
                    size=size,
                    margin=margin,
                    align=align,
                    min_confidence=min_confidence,
                    image_format=image_format,
                    progress=progress,
                )
            except (OSError, ValueError) as exc:
                if on_error == "raise":
                    raise
                failed.append((source, str(exc)))
                continue
            with atomic_write(index_part, encoding="utf-8") as f:
                json.dump(source_rows, f)
            settings.finish(source)
        rows.extend(source_rows)
        n_found += sum(row["found"] for row in source_rows)
    _write_index(out / INDEX_NAME, CSV_INDEX_COLUMNS, rows)
    what = (
        ", ".join(f"{out / (stem + '.csv')}" for stem in stems)
        if image_format == "csv"
        else (f"{out / FACES_DIR}/")
    )
    echo(
        f"{len(rows)} rows of {len(sources)} CSV files: a face found in {n_found}, the whole "
        f"image kept for {len(rows) - n_found}; wrote {what} and {out / INDEX_NAME}"
    )
    report_failures(failed, on_error)
