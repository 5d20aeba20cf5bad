"""``fer-toolkit crop`` (alias ``extract-faces``): face datasets out of photos, videos and
FER CSVs.

Photos, folders and videos go through :func:`~fer_toolkit.datasets.extract_faces`
(detection, filters, alignment, the index, resuming); FER2013-format CSV
sources through :func:`~fer_toolkit.datasets.crop_fer2013` (each row's largest
face re-cropped, labels and row order kept, resuming). This module only maps
options onto them and reports.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..datasets import crop_fer2013, extract_faces
from ..datasets.extraction.output import IMAGE_FORMATS, INDEX_NAME
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


def _is_csv(path: str) -> bool:
    return path.lower().endswith(".csv")


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
    progress = show_progress()
    out = Path(out_dir)
    common = {
        "detector": make_detector(detector, device=device, n_jobs=n_jobs),
        "min_confidence": min_confidence,
        "margin": margin,
        "align": align,
        "progress": progress,
        "resume": not restart,
        "device": device,
        "on_error": "raise" if on_error == "raise" else "skip",  # listed below, not warned
    }
    if csv_sources:
        ignored = {
            "--every": every != 1,
            "--verify": verify != "none",
            "--keep": keep != "all",
            "--save-rejected": save_rejected,
        }
        _crop_csv_sources(csv_sources, out, size, image_format, ignored, on_error, common)
        return
    if image_format == "csv":
        raise click.UsageError(
            "--format csv writes FER2013 CSVs from FER2013 CSV sources; crop images and videos "
            "to image files (their faces carry no emotion labels)."
        )
    summary = extract_faces(
        list(sources),
        out,
        every=every,
        verify=None if verify == "none" else verify,
        keep=keep,
        save_rejected=save_rejected,
        output_size=size,
        grayscale=grayscale,
        image_format=image_format,
        **common,
    )
    echo(
        f"{summary.n_kept} face crops kept, {summary.n_rejected} detections rejected "
        f"(index: {out / INDEX_NAME}); this run examined {summary.n_frames} frames/images "
        f"from {summary.n_sources - summary.n_skipped} of {summary.n_sources} files "
        f"({summary.n_skipped} already done)."
    )
    report_failures(summary.failed, on_error)


def _crop_csv_sources(sources, out: Path, size, image_format, ignored, on_error, common):
    """``crop_fer2013`` with the options of ``common``, after the checks of the options."""
    used = [flag for flag, given in ignored.items() if given]
    if used:
        raise click.UsageError(f"{', '.join(used)} do not apply to FER2013 CSV sources.")
    size = size or (48, 48)
    if image_format == "csv" and size != (48, 48):
        raise click.UsageError("--format csv writes FER2013 CSVs: 48x48 images (--size 48).")
    stems = [Path(s).stem for s in sources]
    if len(set(stems)) != len(stems):
        raise click.UsageError("CSV sources need distinct file names: their outputs are named so.")
    summary = crop_fer2013(sources, out, output_size=size, image_format=image_format, **common)
    n_rows, n_found = summary.n_rows, summary.n_found
    echo(
        f"{n_rows} rows of {summary.n_sources} CSV files: a face found in {n_found}, the whole "
        f"image kept for {n_rows - n_found}; wrote {', '.join(summary.outputs)} and "
        f"{summary.index_path}"
    )
    report_failures(summary.failed, on_error)
