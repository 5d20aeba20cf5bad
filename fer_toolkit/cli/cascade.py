"""``fer-toolkit cascade``: create samples, train, run and evaluate Haar / LBP cascades.

``createsamples`` and ``train`` take OpenCV's own single-dash flags (``-numPos``,
``-w``, ``-h``...) as well as ``--kebab-case`` names, so an ``opencv_createsamples``
or ``opencv_traincascade`` command line runs with only the program name replaced.
Their options are made from the tools' flag tables (``fer_toolkit.cascade.flags``).
For them (and ``show``), ``-h`` is the sample height as in OpenCV; help is ``--help``.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from pathlib import Path

import click

from ..cascade.createsamples import create_samples, show_vec
from ..cascade.flags import CREATESAMPLES, TRAINCASCADE
from ..cascade.model import MIN_NEIGHBORS
from ..cascade.negatives import MAX_NEG_WINDOWS
from ..cascade.opencv_backend import OpenCVToolError, run_createsamples, run_traincascade
from ..utils.fileio import atomic_write, folder_lock, remove_stale_temporaries
from ._common import FerCommand, FerGroup, echo, is_quiet, show_progress

_SINGLE_DASH = re.compile(r"-[A-Za-z][A-Za-z0-9]+")


class OpenCVStyleCommand(FerCommand):
    """A click command that also accepts OpenCV's single-dash flags.

    The flags (``-numPos``) are declared as option names next to their
    ``--kebab-case`` twins, and click matches a whole single-dash word against
    them before splitting it into short options. This class adds a clear error
    for a mistyped or unsupported single-dash flag, which click would otherwise
    split (``-nsplits`` -> ``-n -s ...``) and report as ``No such option '-n'``.
    A failing OpenCV tool is a user error (one line, no traceback).
    """

    user_error_types = (OpenCVToolError,)

    def parse_args(self, ctx, args):
        takes_value = {}
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                for opt in (*param.opts, *param.secondary_opts):
                    takes_value[opt] = not param.is_flag
        skip_next = False
        for position, token in enumerate(args):
            if token == "--":
                break
            if skip_next:
                skip_next = False
            elif token in takes_value:
                skip_next = takes_value[token]
                if token == "-h" and skip_next and position == len(args) - 1:
                    raise click.UsageError(
                        "-h is the sample height, as in OpenCV, and needs a value (-h 24); "
                        "for help, use --help.",
                        ctx,
                    )
            elif _SINGLE_DASH.fullmatch(token) and token[:2] not in takes_value:
                known = [opt for opt in takes_value if not opt.startswith("--")]
                close = difflib.get_close_matches(token, known, n=3, cutoff=0.6)
                close += [o for o in known if o.lower() == token.lower() and o not in close]
                raise click.NoSuchOption(token, possibilities=close, ctx=ctx)
        return super().parse_args(ctx, args)


_OPENCV_CONTEXT = {"help_option_names": ["--help"], "max_content_width": 100}


def _click_type(flag):
    """The click type of an :class:`~fer_toolkit.cascade.flags.OpenCVFlag`."""
    if flag.kind == "folder":
        return click.Path(file_okay=False, path_type=Path)
    if flag.kind == "file":
        return click.Path(exists=flag.exists, dir_okay=False, path_type=Path)
    if flag.kind == "choice":
        return click.Choice(flag.choices)
    plain, bounded = {"int": (int, click.IntRange), "float": (float, click.FloatRange)}[flag.kind]
    if flag.low is None and flag.high is None:
        return plain
    return bounded(flag.low, flag.high, min_open=flag.low_open, max_open=flag.high_open)


def opencv_options(table):
    """One option per flag of ``table``: OpenCV's flag and the kebab-case of its parameter."""

    def decorate(func):
        for flag in reversed(table):
            if flag.kind == "bool":
                settings = {"is_flag": True, "default": flag.cli_default}
            else:
                settings = {
                    "type": _click_type(flag),
                    "show_default": flag.cli_default is not None,
                    "required": flag.required,
                }
                if not flag.required:
                    # click 8.3 takes an explicit default=None as a value that satisfies
                    # required=True, so a required flag gets no default at all.
                    settings["default"] = flag.cli_default
                if flag.flag_value is not None:
                    settings.update(is_flag=False, flag_value=flag.flag_value)
            func = click.option(flag.opencv, flag.option, flag.name, help=flag.help, **settings)(
                func
            )
        return func

    return decorate


def _lines():
    """Where a long job's lines go: the terminal, or nowhere with --quiet."""
    return (lambda text: None) if is_quiet() else click.echo


def _progress_to_terminal():
    """Show carriage-return counters on a terminal only (they would flood a log file)."""
    if not sys.stdout.isatty() or not show_progress():
        return None
    return lambda text: click.echo(f"{text}\r", nl=False)


def _backend_options(tool: str):
    def decorate(func):
        func = click.option(
            "--opencv-bin-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help=f"Folder holding {tool} (opencv backend); default: search PATH.",
        )(func)
        return click.option(
            "--backend",
            type=click.Choice(["native", "opencv"]),
            default="native",
            show_default=True,
            help=f"native: fer_toolkit's own implementation; opencv: run OpenCV's {tool} "
            "(built by OpenCV 3.4 and earlier only).",
        )(func)

    return decorate


@click.group("cascade", cls=FerGroup)
def cascade():
    """Train and use OpenCV-compatible Haar / LBP cascades (custom object detectors).

    createsamples and train accept OpenCV's own flags, so the commands of an
    opencv_createsamples / opencv_traincascade tutorial run unchanged.

    Examples:

    \b
      fer-toolkit cascade createsamples -info info/info.lst -num 9000 -w 20 -h 20 -vec positives.vec
      fer-toolkit cascade train -data data -vec positives.vec -bg bg.txt \\
          -numPos 7000 -numNeg 3500 -numStages 10 -w 20 -h 20
      fer-toolkit cascade detect photos/ --cascade data/cascade.xml --out detections
      fer-toolkit cascade evaluate --info test/faces.lst --cascade data/cascade.xml
    """


@cascade.command(cls=OpenCVStyleCommand, context_settings=_OPENCV_CONTEXT)
@opencv_options(CREATESAMPLES)
@_backend_options("opencv_createsamples")
def createsamples(backend, opencv_bin_dir, show, **params):
    """Make positive samples: a .vec file, or test images with a description file.

    What is made follows from the files given, as in opencv_createsamples:

    \b
      -info and -vec      crop the boxes of a description file into a .vec
      -img and -vec       distorted samples of one object image (on -bg photos)
      -img, -bg, -info    test images: the object pasted into -bg photos,
                          listed in the description file -info
      -vec alone          tile the .vec into <vec>.png (see also: show)

    \b
    Examples:
      fer-toolkit cascade createsamples -info info/info.lst -num 9000 -w 20 -h 20 -vec positives.vec
      fer-toolkit cascade createsamples --img logo.png --bg bg.txt --vec logo.vec --num 500 \\
          --max-z-angle 0.3
    """
    info, img, vec, bg = params["info"], params["img"], params["vec"], params["bg"]
    if backend == "opencv":
        run_createsamples(
            **params,
            show=show,
            opencv_bin_dir=opencv_bin_dir,
            on_line=_lines(),
            on_progress=_progress_to_terminal(),
        )
        return
    if opencv_bin_dir is not None:
        raise click.UsageError("--opencv-bin-dir needs --backend opencv.")
    makes = img is not None and (vec is not None or (bg is not None and info is not None))
    if makes or (info is not None and vec is not None):
        result = create_samples(**params)
        if vec is not None:
            echo(
                f"Done. Created {len(result)} samples of {params['width']}x"
                f"{params['height']} in {vec}"
            )
        else:
            echo(f"Done. Wrote {len(result)} test images listed in {info}")
    elif vec is None:
        raise click.UsageError(
            "nothing to do: give -info and -vec, -img and -vec, -img -bg and -info, or -vec "
            "alone (see --help)."
        )
    elif show is None:
        show = 4.0
    if show is not None and vec is not None:
        png = vec.with_suffix(".png")
        tile = show_vec(vec, params["width"], params["height"], png, scale=max(1, round(show)))
        echo(f"Wrote a {tile.shape[1]}x{tile.shape[0]} tile of the samples to {png}")


@cascade.command(cls=OpenCVStyleCommand, context_settings=_OPENCV_CONTEXT)
@opencv_options(TRAINCASCADE)
@_backend_options("opencv_traincascade")
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Native backend: 'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1'...",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Native backend: start the walk over the backgrounds at a point drawn from this "
    "seed (default: where opencv_traincascade starts, for the same cascade as OpenCV's).",
)
@click.option(
    "--max-neg-windows",
    type=click.IntRange(min=1),
    default=MAX_NEG_WINDOWS,
    show_default=True,
    help="Native backend: most background windows tried per stage while collecting "
    "-numNeg negatives (opencv_traincascade has practically no such limit).",
)
def train(backend, opencv_bin_dir, device, seed, max_neg_windows, **params):
    """Train a boosted cascade; write params.xml, stageN.xml and cascade.xml in -data.

    An interrupted run resumes from the stage files in -data. The cascade
    loads in cv2.CascadeClassifier (and so in fer-toolkit cascade detect,
    HaarCascadeDetector and HaarFaceCropper).

    \b
    Examples:
      fer-toolkit cascade train -data data -vec positives.vec -bg bg.txt \\
          -numPos 7000 -numNeg 3500 -numStages 10 -w 20 -h 20
      fer-toolkit cascade train --data data --vec faces.vec --bg bg.txt --num-pos 900 \\
          --num-neg 1800 --feature-type LBP --device cpu
    """
    ctx = click.get_current_context()
    if backend == "opencv":
        for option in ("device", "seed", "max_neg_windows"):
            if ctx.get_parameter_source(option) is not click.core.ParameterSource.DEFAULT:
                flag = "--" + option.replace("_", "-")
                raise click.UsageError(f"{flag} applies to the native backend only.")
    # One run at a time per -data folder: two would interleave their stage files.
    with folder_lock(params["data"], "another fer-toolkit cascade train run"):
        remove_stale_temporaries(params["data"])  # left by a run killed mid-write
        if backend == "opencv":
            cascade_path = run_traincascade(
                **params,
                opencv_bin_dir=opencv_bin_dir,
                on_line=_lines(),
                on_progress=_progress_to_terminal(),
            )
        else:
            native = dict(device=device, random_state=seed, max_neg_windows=max_neg_windows)
            cascade_path = _train_native(params, opencv_bin_dir, native)
    echo(f"Cascade written to {cascade_path}")


def train_cascade(**params):
    """:func:`fer_toolkit.cascade.train_cascade`, imported on first use (``detect`` and
    ``--help`` do not need the trainer)."""
    from ..cascade.train import train_cascade

    return train_cascade(**params)


def _train_native(params: dict, opencv_bin_dir, native: dict) -> Path:
    if opencv_bin_dir is not None:
        raise click.UsageError("--opencv-bin-dir needs --backend opencv.")
    unsupported = {
        "-baseFormatSave": params.pop("base_format_save"),
        "-featureType HOG": params["feature_type"] == "HOG",
    }
    for what, used in unsupported.items():
        if used:
            raise click.UsageError(
                f"{what} needs --backend opencv (the native trainer writes "
                "the current cascade format with Haar or LBP features)."
            )
    params.pop("stage_type")  # BOOST is the only stage type
    result = train_cascade(**params, **native, progress=_lines())
    echo(f"{len(result.stages)} stages trained, {result.loaded_stages} resumed")
    return result.path


class _BoxSize(click.ParamType):
    """``WIDTHxHEIGHT`` such as ``30x30`` (OpenCV's order for minSize / maxSize)."""

    name = "WxH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(value))
        if not match or int(match[1]) == 0 or int(match[2]) == 0:
            self.fail(f"{value!r} is not a size: use WIDTHxHEIGHT such as 30x30.", param, ctx)
        return int(match[1]), int(match[2])


def _detection_options(func):
    options = [
        click.option(
            "--cascade",
            "cascade_name",
            default="frontalface_default",
            show_default=True,
            help="Cascade XML file, or a stock name (frontalface_alt2, profileface, eye...).",
        ),
        click.option(
            "--scale-factor",
            type=click.FloatRange(1, min_open=True),
            default=1.1,
            show_default=True,
            help="Pyramid step (scaleFactor).",
        ),
        click.option(
            "--min-neighbors",
            type=click.IntRange(min=0),
            default=MIN_NEIGHBORS,
            show_default=True,
            help="Raw windows a box needs, minus one.",
        ),
        click.option(
            "--min-size",
            type=_BoxSize(),
            default=None,
            help="Smallest box, e.g. 30x30 (WIDTHxHEIGHT).",
        ),
        click.option("--max-size", type=_BoxSize(), default=None, help="Largest box."),
        click.option(
            "--n-jobs",
            type=int,
            default=None,
            help="Images processed in parallel threads (-1: all cores).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cascade.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="detections",
    show_default=True,
    help="Output folder: detections.csv, detections.json, annotated/.",
)
@click.option("--recursive", is_flag=True, help="Also search sub-folders of INPUTS.")
@click.option(
    "--annotate/--no-annotate",
    default=True,
    show_default=True,
    help="Write copies of the images with their boxes drawn to OUT/annotated.",
)
@_detection_options
def detect(inputs, out_dir, recursive, annotate, cascade_name, **params):
    """Run a cascade over images and folders; write boxes as CSV and JSON, and annotated copies.

    detections.csv has one row per box (image, x, y, w, h, score: merged
    windows); detections.json lists every image with its size, boxes and scores.

    \b
    Examples:
      fer-toolkit cascade detect photos/ --cascade data/cascade.xml --out detections
      fer-toolkit cascade detect group.jpg --cascade frontalface_alt2 --min-size 40x40
    """
    # Imported here, as in ``evaluate``: ``cascade train`` needs neither scikit-learn nor
    # matplotlib, which these modules load.
    from ..cascade.detect import detect_files, write_detections_csv, write_detections_json

    def report(result):
        n = len(result.detections)
        echo(f"{result.path}: {n} box{'' if n == 1 else 'es'}")

    results = detect_files(
        inputs,
        cascade_name,
        recursive=recursive,
        annotate_dir=out_dir / "annotated" if annotate else None,
        on_image=report,
        **params,
    )
    write_detections_csv(out_dir / "detections.csv", results)
    parameters = {"cascade": cascade_name, **params}
    write_detections_json(out_dir / "detections.json", results, **parameters)
    total = sum(len(r.detections) for r in results)
    with_boxes = sum(bool(len(r.detections)) for r in results)
    echo(
        f"{total} boxes in {with_boxes} of {len(results)} images; wrote "
        f"{out_dir / 'detections.csv'} and {out_dir / 'detections.json'}"
        + (f" and annotated images in {out_dir / 'annotated'}" if annotate else "")
    )


@cascade.command(cls=OpenCVStyleCommand)
@click.option(
    "-info",
    "--info",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Annotated images: description file (path count x y w h ...).",
)
@click.option(
    "-bg",
    "--bg",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Images without any object (background list): every box found there is a false positive.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="evaluation",
    show_default=True,
    help="Output folder: metrics.json and precision_recall.png.",
)
@click.option(
    "--iou",
    "iou_threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.5,
    show_default=True,
    help="Overlap (intersection over union) a box needs to hit an object.",
)
@_detection_options
def evaluate(info, bg, out_dir, iou_threshold, cascade_name, **params):
    """Measure a cascade on annotated images: hit rate, false positives per image, precision.

    An object counts as hit when a box overlaps it with IoU >= --iou (PASCAL
    VOC's rule); each box hits at most one object, so duplicate boxes are false
    positives. The figure traces precision against hit rate, and hit rate
    against false positives per image, over every minNeighbors value.

    \b
    Examples:
      fer-toolkit cascade evaluate -info test/faces.lst -bg test/bg.txt --cascade data/cascade.xml
      fer-toolkit cascade evaluate --info faces.lst --cascade frontalface_alt2 --iou 0.4
    """
    from ..cascade.evaluate import evaluate_cascade
    from ..plotting import save_figure

    if info is None and bg is None:
        raise click.UsageError("give annotated images (--info) and/or object-free ones (--bg).")
    result = evaluate_cascade(
        info, cascade_name, negatives=bg, iou_threshold=iou_threshold, **params
    )
    with atomic_write(out_dir / "metrics.json", encoding="utf-8") as f:
        json.dump(result.to_dict(), f, indent=1)
        f.write("\n")
    save_figure(result.plot(), out_dir / "precision_recall.png")
    echo(f"{'minNeighbors':>12}  {'boxes':>6}  {'hit rate':>8}  {'precision':>9}  FP/image")
    for first, last, point in result.runs():
        label = str(first) if first == last else f"{first}-{last}"
        mark = "  <-" if first <= result.min_neighbors <= last else ""
        echo(
            f"{label:>12}  {point.detections:>6}  {point.hit_rate:>8.3f}  "
            f"{point.precision:>9.3f}  {point.false_positives_per_image:>8.3f}{mark}"
        )
    echo(
        f"{result.cascade} on {result.n_images} images ({result.n_objects} objects), "
        f"minNeighbors {result.min_neighbors}, IoU >= {iou_threshold:g}: hit rate "
        f"{result.hit_rate:.3f}, {result.false_positives_per_image:.3f} false positives per "
        f"image, precision {result.precision:.3f}; wrote {out_dir / 'metrics.json'} and "
        f"{out_dir / 'precision_recall.png'}"
    )


@cascade.command(cls=OpenCVStyleCommand, context_settings=_OPENCV_CONTEXT)
@click.option(
    "-vec",
    "--vec",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The .vec file.",
)
@opencv_options([CREATESAMPLES["width"], CREATESAMPLES["height"]])
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Image to write [default: the .vec path with .png].",
)
@click.option(
    "--scale",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Enlarge each pixel to SCALE x SCALE.",
)
@click.option(
    "--columns",
    type=click.IntRange(min=1),
    default=None,
    help="Samples per row [default: a square grid].",
)
@click.option(
    "--max-samples", type=click.IntRange(min=1), default=None, help="Show only the first N samples."
)
@click.option("--labels", is_flag=True, help="Write each sample's index in its corner.")
def show(vec, width, height, out, scale, columns, max_samples, labels):
    """Tile the samples of a .vec file into one PNG image for inspection.

    \b
    Examples:
      fer-toolkit cascade show -vec positives.vec -w 20 -h 20
      fer-toolkit cascade show --vec faces.vec --out faces.png --max-samples 100 --labels
    """
    out = vec.with_suffix(".png") if out is None else out
    tile = show_vec(
        vec,
        width,
        height,
        out,
        columns=columns,
        scale=scale,
        labels=labels,
        max_samples=max_samples,
    )
    echo(f"Wrote a tile of the samples of {vec} ({tile.shape[1]}x{tile.shape[0]}) to {out}")
