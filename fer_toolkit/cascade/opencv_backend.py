"""Running OpenCV's own ``opencv_createsamples`` and ``opencv_traincascade``.

The ``backend="opencv"`` side of ``fer-toolkit cascade createsamples | train``:
every parameter maps one to one onto the tools' flags, their output is streamed
line by line while they run, and a failure raises an error that quotes their
last lines. OpenCV stopped building both tools in 4.0 (they live on in the 3.4
branch); when they cannot be found, the error names the native backend, which
needs no OpenCV tools at all.
"""

from __future__ import annotations

import collections
import functools
import os
import re
from collections.abc import Callable, Iterator
from numbers import Integral, Real
from pathlib import Path

from ..utils.validation import InputError
from .description import read_info
from .flags import CREATESAMPLES, TRAINCASCADE
from .vec import vec_count

__all__ = [
    "OpenCVToolError",
    "OpenCVToolNotFoundError",
    "createsamples_args",
    "find_opencv_tool",
    "run_createsamples",
    "run_opencv_tool",
    "run_traincascade",
    "traincascade_args",
]

#: Python parameter -> ``opencv_traincascade`` flag, in the order the tool's usage lists them.
TRAINCASCADE_FLAGS = TRAINCASCADE.opencv_names()

#: Python parameter -> ``opencv_createsamples`` flag, in the order of its usage text.
CREATESAMPLES_FLAGS = CREATESAMPLES.opencv_names()


def _check_flags(table, values: dict, caller: str) -> None:
    """Check ``values`` against the flags of ``table`` as scikit-learn checks parameters."""
    from sklearn.utils._param_validation import validate_parameter_constraints

    validate_parameter_constraints(_constraints(table), values, caller)


@functools.cache
def _constraints(table) -> dict[str, list]:
    """scikit-learn's parameter constraints of every flag of ``table``."""
    # Imported here: the native trainer and the CLI import this module and need no scikit-learn.
    from sklearn.utils._param_validation import Interval, StrOptions

    constraints = {}
    for flag in table:
        if flag.kind in ("file", "folder"):
            allowed = [str, os.PathLike]
        elif flag.kind == "choice":
            allowed = [StrOptions(set(flag.choices))]
        elif flag.kind == "bool":
            allowed = ["boolean"]
        else:
            number = Integral if flag.kind == "int" else Real
            if flag.low is None and flag.high is None:
                allowed = [number]
            else:
                left = flag.low is not None and not flag.low_open
                right = flag.high is not None and not flag.high_open
                closed = {(True, True): "both", (True, False): "left", (False, True): "right"}
                interval = Interval(
                    number, flag.low, flag.high, closed=closed.get((left, right), "neither")
                )
                allowed = [interval]
            if flag.flag_value is not None:  # -show alone: a bare flag
                allowed.insert(0, "boolean")
        constraints[flag.name] = [*allowed, None] if flag.accepts_none else allowed
    return constraints


_LINE_END = re.compile(rb"\r\n|\n|\r")
_TAIL_LINES = 15


class OpenCVToolNotFoundError(FileNotFoundError):
    """``opencv_createsamples`` / ``opencv_traincascade`` is not installed where we looked.

    A ``FileNotFoundError``; the message says where the tool was looked for and
    names the native backend, which does the same job without OpenCV's tools.

    Examples
    --------
    >>> import tempfile
    >>> from fer_toolkit.cascade import OpenCVToolNotFoundError, find_opencv_tool
    >>> try:
    ...     find_opencv_tool("opencv_createsamples", tempfile.mkdtemp())
    ... except OpenCVToolNotFoundError as exc:
    ...     print(str(exc).split(";")[0].replace(tempfile.gettempdir(), "/tmp"))
    opencv_createsamples was not found in '/tmp/...' (opencv_bin_dir)
    """


class OpenCVToolError(RuntimeError):
    """An OpenCV tool failed; the message quotes its last lines of output.

    :func:`run_opencv_tool` and the functions built on it raise it.

    Parameters
    ----------
    message : str
        What failed, with the last lines of output.
    command : list of str
        The full command line that was run.
    returncode : int
        Its exit status (negative: killed by that signal).
    last_lines : list of str
        Its last lines of output.

    Attributes
    ----------
    command : list of str
        The full command line that was run.
    returncode : int
        Its exit status (negative: killed by that signal).
    last_lines : list of str
        Its last lines of output.

    Examples
    --------
    >>> from fer_toolkit.cascade import OpenCVToolError
    >>> error = OpenCVToolError(
    ...     "opencv_traincascade exited with status 1; its last lines: Bad argument",
    ...     ["opencv_traincascade", "-data", "out"],
    ...     1,
    ...     ["Bad argument"],
    ... )
    >>> error.returncode, error.last_lines
    (1, ['Bad argument'])
    """

    def __init__(self, message: str, command: list[str], returncode: int, last_lines: list[str]):
        super().__init__(message)
        self.command = command
        self.returncode = returncode
        self.last_lines = last_lines


_NATIVE_HINT = {
    "opencv_traincascade": (
        "fer-toolkit cascade train --backend native ... (Python: fer_toolkit.cascade.train_cascade)"
    ),
    "opencv_createsamples": (
        "fer-toolkit cascade createsamples --backend native ... "
        "(Python: fer_toolkit.cascade.create_samples)"
    ),
}


def find_opencv_tool(name: str, opencv_bin_dir: str | os.PathLike | None = None) -> str:
    """Locate an OpenCV command-line tool.

    Parameters
    ----------
    name : {"opencv_createsamples", "opencv_traincascade"}
        The tool.
    opencv_bin_dir : str, os.PathLike or None, default=None
        Folder holding the tool (e.g. ``opencv-3.4/build/bin``); ``None``
        searches ``PATH``.

    Returns
    -------
    path : str
        The executable.

    Raises
    ------
    OpenCVToolNotFoundError
        If the tool is not there; the message says where it looked and names
        the native backend, which does the same job without OpenCV's tools.

    Examples
    --------
    >>> import tempfile
    >>> from fer_toolkit.cascade import find_opencv_tool
    >>> try:
    ...     find_opencv_tool("opencv_traincascade", tempfile.mkdtemp())
    ... except FileNotFoundError as exc:
    ...     "--backend native" in str(exc)
    True
    """
    import shutil  # here: it imports bz2 and lzma, which no command needs at start-up

    if name not in _NATIVE_HINT:
        raise InputError(f"name must be one of {sorted(_NATIVE_HINT)}; got {name!r}.")
    if opencv_bin_dir is None:
        found = shutil.which(name)
        where = "on PATH"
    else:
        folder = os.fspath(opencv_bin_dir)
        found = shutil.which(name, path=folder)
        where = f"in {folder!r} (opencv_bin_dir)"
    if found is None:
        raise OpenCVToolNotFoundError(
            f"{name} was not found {where}; OpenCV stopped building it in 4.0 (build the 3.4 "
            f"branch with -DBUILD_opencv_apps=ON to get it). Use the native backend instead: "
            f"{_NATIVE_HINT[name]}."
        )
    return found


def _flag_args(flags: dict[str, str], values: dict) -> list[str]:
    """Command-line arguments for ``values``: ``None``/``False`` omitted, ``True`` a bare flag."""
    args = []
    for name, flag in flags.items():
        value = values[name]
        if value is None or value is False:
            continue
        args.append(flag)
        if value is True:
            continue
        if isinstance(value, Integral):
            args.append(str(int(value)))
        elif isinstance(value, Real):
            args.append(repr(float(value)))  # shortest text atof reads back exactly
        else:
            args.append(os.fspath(value))
    return args


def traincascade_args(
    data,
    vec,
    bg,
    *,
    num_pos=TRAINCASCADE.defaults.num_pos,
    num_neg=TRAINCASCADE.defaults.num_neg,
    num_stages=TRAINCASCADE.defaults.num_stages,
    precalc_val_buf_size=TRAINCASCADE.defaults.precalc_val_buf_size,
    precalc_idx_buf_size=TRAINCASCADE.defaults.precalc_idx_buf_size,
    base_format_save=TRAINCASCADE.defaults.base_format_save,
    num_threads=TRAINCASCADE.defaults.num_threads,
    accept_ratio_break_value=TRAINCASCADE.defaults.accept_ratio_break_value,
    stage_type=TRAINCASCADE.defaults.stage_type,
    feature_type=TRAINCASCADE.defaults.feature_type,
    width=TRAINCASCADE.defaults.width,
    height=TRAINCASCADE.defaults.height,
    boost_type=TRAINCASCADE.defaults.boost_type,
    min_hit_rate=TRAINCASCADE.defaults.min_hit_rate,
    max_false_alarm_rate=TRAINCASCADE.defaults.max_false_alarm_rate,
    weight_trim_rate=TRAINCASCADE.defaults.weight_trim_rate,
    max_depth=TRAINCASCADE.defaults.max_depth,
    max_weak_count=TRAINCASCADE.defaults.max_weak_count,
    mode=TRAINCASCADE.defaults.mode,
) -> list[str]:
    """The ``opencv_traincascade`` arguments for these parameters (defaults are OpenCV 3.4's).

    Every parameter is passed explicitly, so the tool's log and the result do
    not depend on its version's defaults; ``num_threads=None`` leaves OpenCV's
    thread count alone and ``base_format_save=False`` omits ``-baseFormatSave``.
    The flags, their ranges and defaults are those of
    :data:`~fer_toolkit.cascade.TRAINCASCADE`.

    Parameters
    ----------
    data, vec, bg : str or os.PathLike
        Output folder (``-data``), positive samples (``-vec``) and background
        list (``-bg``).
    num_pos, num_neg, num_stages, precalc_val_buf_size, precalc_idx_buf_size : int
        ``-numPos -numNeg -numStages -precalcValBufSize -precalcIdxBufSize``.
    base_format_save : bool
        ``-baseFormatSave`` (old ``haartraining`` XML; Haar only).
    num_threads : int or None
        ``-numThreads``.
    accept_ratio_break_value : float
        ``-acceptanceRatioBreakValue`` (negative: never stop on it).
    stage_type : {"BOOST"}
        ``-stageType``.
    feature_type : {"HAAR", "LBP", "HOG"}
        ``-featureType``.
    width, height : int
        ``-w -h``, the sample size of the ``.vec`` file.
    boost_type : {"GAB", "DAB", "RAB", "LB"}
        ``-bt``.
    min_hit_rate, max_false_alarm_rate, weight_trim_rate : float
        ``-minHitRate -maxFalseAlarmRate -weightTrimRate``.
    max_depth, max_weak_count : int
        ``-maxDepth -maxWeakCount``.
    mode : {"BASIC", "CORE", "ALL"}
        ``-mode`` (Haar feature set).

    Returns
    -------
    args : list of str

    Raises
    ------
    ValueError, TypeError
        For a parameter OpenCV would silently misread; the message names it.

    Examples
    --------
    >>> from fer_toolkit.cascade import traincascade_args
    >>> traincascade_args("data", "positives.vec", "bg.txt", num_pos=7000)[:8]
    ['-data', 'data', '-vec', 'positives.vec', '-bg', 'bg.txt', '-numPos', '7000']
    """
    values = dict(locals())
    _check_flags(TRAINCASCADE, values, "traincascade_args")
    return _flag_args(TRAINCASCADE_FLAGS, values)


def createsamples_args(
    *,
    info=CREATESAMPLES.defaults.info,
    img=CREATESAMPLES.defaults.img,
    vec=CREATESAMPLES.defaults.vec,
    bg=CREATESAMPLES.defaults.bg,
    num=CREATESAMPLES.defaults.num,
    bg_color=CREATESAMPLES.defaults.bg_color,
    inv=CREATESAMPLES.defaults.inv,
    randinv=CREATESAMPLES.defaults.randinv,
    bg_thresh=CREATESAMPLES.defaults.bg_thresh,
    max_intensity_dev=CREATESAMPLES.defaults.max_intensity_dev,
    max_x_angle=CREATESAMPLES.defaults.max_x_angle,
    max_y_angle=CREATESAMPLES.defaults.max_y_angle,
    max_z_angle=CREATESAMPLES.defaults.max_z_angle,
    show=CREATESAMPLES.defaults.show,
    width=CREATESAMPLES.defaults.width,
    height=CREATESAMPLES.defaults.height,
    max_scale=CREATESAMPLES.defaults.max_scale,
    random_state=CREATESAMPLES.defaults.random_state,
) -> list[str]:
    """The ``opencv_createsamples`` arguments for these parameters (defaults are OpenCV's).

    The names are those of :func:`~fer_toolkit.cascade.create_samples`, so
    both backends take the same arguments. Paths left ``None`` are omitted
    (they select the tool's mode, see :func:`run_createsamples`); ``inv`` /
    ``randinv`` / ``show`` are bare flags when true, ``show`` a number gives
    ``-show <scale>``; ``num``, ``max_scale`` and ``random_state`` left
    ``None`` are omitted (the tool then uses 1000, -1 and seed 12345; builds
    older than 3.4.1 lack ``-maxscale`` and ``-rngseed``). Everything else is
    passed explicitly. The flags, their ranges and defaults are those of
    :data:`~fer_toolkit.cascade.CREATESAMPLES`.

    Parameters
    ----------
    info, img, vec, bg : str, os.PathLike or None
        ``-info -img -vec -bg``.
    num : int or None
        ``-num``.
    bg_color, bg_thresh : int
        ``-bgcolor -bgthresh``: the grey level treated as transparent in
        ``img``, and its tolerance.
    inv, randinv : bool
        ``-inv -randinv`` (exclusive).
    max_intensity_dev : int
        ``-maxidev``.
    max_x_angle, max_y_angle, max_z_angle : float
        ``-maxxangle -maxyangle -maxzangle``, in radians.
    show : bool, float or None
        ``-show [scale]``: OpenCV opens a preview window (``None`` or ``False``:
        no ``-show``).
    width, height : int
        ``-w -h``.
    max_scale : float or None
        ``-maxscale`` (test-sample mode).
    random_state : int or None
        ``-rngseed``.

    Returns
    -------
    args : list of str

    Raises
    ------
    ValueError, TypeError
        For an invalid parameter, naming it.

    Examples
    --------
    >>> from fer_toolkit.cascade import createsamples_args
    >>> args = createsamples_args(info="info/info.lst", vec="positives.vec", num=9000,
    ...                           width=20, height=20)
    >>> args[:6]
    ['-info', 'info/info.lst', '-vec', 'positives.vec', '-num', '9000']
    """
    values = dict(locals())
    _check_flags(CREATESAMPLES, values, "createsamples_args")
    if inv and randinv:
        raise InputError("inv (-inv) and randinv (-randinv) are exclusive; pick one.")
    return _flag_args(CREATESAMPLES_FLAGS, values)


def _print_line(line: str) -> None:
    print(line, flush=True)


def _split_lines(stream) -> Iterator[tuple[str, bool]]:
    """Yield ``(text, is_progress)`` for each line as soon as its end arrives.

    ``is_progress`` marks a line ended by a lone carriage return: OpenCV's
    ``"POS current samples: 17\\r"`` counters, which overwrite each other on a
    terminal.
    """
    pending = b""
    while chunk := stream.read1(1 << 16):
        pending += chunk
        # A chunk ending in "\r" may be the first half of "\r\n": wait for the next byte.
        cut = len(pending) - 1 if pending.endswith(b"\r") else len(pending)
        start = 0
        for end in _LINE_END.finditer(pending, 0, cut):
            text = pending[start : end.start()].decode("utf-8", errors="replace")
            yield text, end.group() == b"\r"
            start = end.end()
        pending = pending[start:]
    if pending.rstrip(b"\r"):
        yield pending.rstrip(b"\r").decode("utf-8", errors="replace"), pending.endswith(b"\r")


def _describe_exit(returncode: int) -> str:
    import signal  # here, as subprocess: only running the tools needs them

    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def run_opencv_tool(
    name: str,
    args: list[str],
    *,
    opencv_bin_dir=None,
    on_line: Callable[[str], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
    cwd=None,
) -> int:
    """Run an OpenCV tool, streaming its output line by line as it is printed.

    Parameters
    ----------
    name : {"opencv_createsamples", "opencv_traincascade"}
        The tool, found by :func:`find_opencv_tool`.
    args : list of str
        Its arguments.
    opencv_bin_dir : str, os.PathLike or None, default=None
        Folder holding the tool; ``None`` searches ``PATH``.
    on_line : callable or None, default=None
        Called with each line of output (stdout and stderr merged, without the
        line end) as soon as the tool prints it; ``None`` prints to stdout.
    on_progress : callable or None, default=None
        Called with the counter lines the tools end with a carriage return
        (``"NEG current samples: 812"``), thousands per stage; ``None`` drops
        them.
    cwd : str, os.PathLike or None, default=None
        Working directory of the tool (relative paths in ``args`` are resolved
        from it).

    Returns
    -------
    returncode : int
        0.

    Raises
    ------
    OpenCVToolNotFoundError
        If the tool is not installed there.
    OpenCVToolError
        If it exits with a non-zero status or is killed; the message quotes its
        last lines.

    Notes
    -----
    Interrupting the call (Ctrl-C) kills the tool before the exception
    propagates, so no training keeps running in the background.

    Examples
    --------
    Without OpenCV 3.4's tools installed (they are not on ``PATH`` here, nor in
    an empty folder) the call fails before running anything:

    >>> import tempfile
    >>> from fer_toolkit.cascade import OpenCVToolNotFoundError, run_opencv_tool
    >>> try:
    ...     run_opencv_tool("opencv_traincascade", ["-data", "out"],
    ...                     opencv_bin_dir=tempfile.mkdtemp())
    ... except OpenCVToolNotFoundError as exc:
    ...     print(str(exc).split("instead: ")[-1])
    fer-toolkit cascade train --backend native ... (Python: fer_toolkit.cascade.train_cascade).
    """
    import subprocess  # here, not at the command line's start-up

    command = [find_opencv_tool(name, opencv_bin_dir), *args]
    on_line = _print_line if on_line is None else on_line
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd
    ) as process:
        try:
            for text, is_progress in _split_lines(process.stdout):
                if is_progress:
                    if on_progress is not None:
                        on_progress(text)
                    continue
                tail.append(text)
                on_line(text)
        except BaseException:
            process.kill()
            raise
        returncode = process.wait()
    if returncode != 0:
        raise _tool_error(f"{name} {_describe_exit(returncode)}", command, returncode, tail)
    return returncode


def _tool_error(what: str, command: list[str], returncode: int, tail) -> OpenCVToolError:
    quoted = "\n".join(f"    {line}" for line in tail) or "    (no output)"
    return OpenCVToolError(f"{what}; its last lines:\n{quoted}", command, returncode, list(tail))


def _require_file(path, flag: str) -> None:
    if not os.path.isfile(path):
        what = "is a directory" if os.path.isdir(path) else "does not exist"
        raise FileNotFoundError(f"{flag} {os.fspath(path)!r} {what}.")


def _check_vec(vec, num_pos: int, width: int, height: int) -> None:
    """Catch the two .vec mistakes ``opencv_traincascade`` reports badly or late."""
    count, size = vec_count(vec)
    if size != width * height:
        raise InputError(
            f"-vec {os.fspath(vec)!r} holds samples of {size} pixels, but -w {width} -h {height} "
            f"gives {width * height}; pass the -w/-h used by createsamples."
        )
    if num_pos > count:
        raise InputError(
            f"-numPos {num_pos} exceeds the {count} samples in -vec {os.fspath(vec)!r}; "
            "keep numPos below the count (later stages consume extra positives, "
            "about numPos * (1 - minHitRate) each)."
        )


def run_traincascade(
    data,
    vec,
    bg,
    *,
    opencv_bin_dir=None,
    on_line=None,
    on_progress=None,
    **params,
) -> Path:
    """Train a cascade with OpenCV's ``opencv_traincascade``.

    Parameters are those of :func:`traincascade_args` (one per flag, OpenCV's
    defaults), plus where to find the tool and where its output goes.
    Before the run, ``-vec`` and ``-bg`` must exist, the ``.vec`` file must
    hold ``width * height`` pixel samples and at least ``num_pos`` of them,
    and the ``-data`` folder is created (the tool itself would fail on each).

    Parameters
    ----------
    data, vec, bg : str or os.PathLike
        Output folder, positive samples, background list.
    opencv_bin_dir : str, os.PathLike or None, default=None
        Folder holding ``opencv_traincascade``; ``None`` searches ``PATH``.
    on_line, on_progress : callable or None, default=None
        Receive the tool's output as it runs, see :func:`run_opencv_tool`.
    **params
        The tool's flags: the keyword arguments of :func:`traincascade_args`
        (``num_pos``, ``num_stages``, ``feature_type``, ...), with the same
        defaults, from :data:`~fer_toolkit.cascade.TRAINCASCADE`.

    Returns
    -------
    cascade : pathlib.Path
        ``data/cascade.xml``.

    Raises
    ------
    OpenCVToolNotFoundError
        If the tool is missing (the message names the native backend).
    FileNotFoundError, ValueError
        For a missing input or a ``.vec`` file that does not fit the parameters.
    OpenCVToolError
        If the tool fails, or ends without writing ``cascade.xml`` (it exits
        with status 0 even when no stage could be trained).

    Examples
    --------
    The arguments it passes to the tool are those of :func:`traincascade_args`;
    without the tool (an empty ``opencv_bin_dir`` here) it fails before any
    file is read:

    >>> import tempfile
    >>> from fer_toolkit.cascade import (
    ...     OpenCVToolNotFoundError, run_traincascade, traincascade_args)
    >>> traincascade_args("out", "pos.vec", "bg.txt", num_pos=90, num_neg=200)[:8]
    ['-data', 'out', '-vec', 'pos.vec', '-bg', 'bg.txt', '-numPos', '90']
    >>> try:
    ...     run_traincascade("out", "pos.vec", "bg.txt", opencv_bin_dir=tempfile.mkdtemp())
    ... except OpenCVToolNotFoundError as exc:
    ...     print(str(exc).split(";")[0].split(" in ")[0])
    opencv_traincascade was not found
    """
    args = traincascade_args(data, vec, bg, **params)
    executable = find_opencv_tool("opencv_traincascade", opencv_bin_dir)
    _require_file(vec, "-vec")
    _require_file(bg, "-bg")
    defaults = TRAINCASCADE.defaults
    _check_vec(
        vec,
        params.get("num_pos", defaults.num_pos),
        params.get("width", defaults.width),
        params.get("height", defaults.height),
    )
    Path(data).mkdir(parents=True, exist_ok=True)
    cascade = Path(data) / "cascade.xml"
    before = cascade.stat().st_mtime_ns if cascade.exists() else None
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    forward = _print_line if on_line is None else on_line

    def keep_tail(line: str) -> None:
        tail.append(line)
        forward(line)

    run_opencv_tool(
        "opencv_traincascade",
        args,
        opencv_bin_dir=opencv_bin_dir,
        on_line=keep_tail,
        on_progress=on_progress,
    )
    if not cascade.exists() or cascade.stat().st_mtime_ns == before:
        raise _tool_error(
            f"opencv_traincascade ended without writing {os.fspath(cascade)!r}",
            [executable, *args],
            0,
            tail,
        )
    return cascade


def run_createsamples(
    *,
    opencv_bin_dir=None,
    on_line=None,
    on_progress=None,
    **params,
) -> int:
    """Create samples with OpenCV's ``opencv_createsamples``.

    The given paths select the mode, with OpenCV's precedence:

    1. ``img`` and ``vec``: distorted samples of one object image (on ``bg``
       images when given) -> ``vec``;
    2. ``img``, ``bg`` and ``info``: test images (the object pasted onto
       backgrounds) plus the description file ``info`` they are listed in;
    3. ``info`` and ``vec``: crop the boxes of a description file -> ``vec``.
       The file is validated first (:func:`~fer_toolkit.cascade.read_info`
       without opening the images), ``num=None`` means all of its boxes, and
       a ``num`` above their count is refused: the tool would write a ``.vec``
       whose header announces ``num`` samples but holds fewer;
    4. ``vec`` alone: show its samples (OpenCV opens a window).

    Parameters
    ----------
    opencv_bin_dir : str, os.PathLike or None, default=None
        Folder holding ``opencv_createsamples``; ``None`` searches ``PATH``.
    on_line, on_progress : callable or None, default=None
        Receive the tool's output as it runs, see :func:`run_opencv_tool`.
    **params
        The tool's flags: the keyword arguments of :func:`createsamples_args`
        (``info``, ``vec``, ``num``, ``width``, ...), with the same defaults,
        from :data:`~fer_toolkit.cascade.CREATESAMPLES`.

    Returns
    -------
    returncode : int
        0.

    Raises
    ------
    OpenCVToolNotFoundError
        If the tool is missing (the message names the native backend).
    FileNotFoundError, ValueError
        For a missing input file, a malformed description file, ``num`` above
        its box count, or paths that select no mode (the tool would print
        "Nothing to do" and succeed).
    OpenCVToolError
        If the tool fails.

    Examples
    --------
    The arguments it passes to the tool are those of :func:`createsamples_args`;
    without the tool (an empty ``opencv_bin_dir`` here) it fails before any
    file is read:

    >>> import tempfile
    >>> from fer_toolkit.cascade import (
    ...     OpenCVToolNotFoundError, createsamples_args, run_createsamples)
    >>> createsamples_args(info="faces.txt", vec="pos.vec", num=100)[:6]
    ['-info', 'faces.txt', '-vec', 'pos.vec', '-num', '100']
    >>> try:
    ...     run_createsamples(info="faces.txt", vec="pos.vec", opencv_bin_dir=tempfile.mkdtemp())
    ... except OpenCVToolNotFoundError as exc:
    ...     print(str(exc).split(";")[0].split(" in ")[0])
    opencv_createsamples was not found
    """
    createsamples_args(**params)  # validate before looking at any file
    find_opencv_tool("opencv_createsamples", opencv_bin_dir)
    info, img, vec, bg = (params.get(name) for name in ("info", "img", "vec", "bg"))
    if img is not None and (vec is not None or (bg is not None and info is not None)):
        inputs = {"-img": img, "-bg": bg}
    elif info is not None and vec is not None:
        inputs = {"-info": info}
        _require_file(info, "-info")
        params["num"] = _info_num(info, params.get("num", CREATESAMPLES.defaults.num))
    elif vec is not None:
        inputs = {"-vec": vec}
    else:
        raise InputError(
            "nothing to do: give -img and -vec (samples from one image), -img -bg and -info "
            "(test images), -info and -vec (samples from a description file), or -vec alone "
            "(show its samples)."
        )
    for flag, path in inputs.items():
        if path is not None:
            _require_file(path, flag)
    return run_opencv_tool(
        "opencv_createsamples",
        createsamples_args(**params),
        opencv_bin_dir=opencv_bin_dir,
        on_line=on_line,
        on_progress=on_progress,
    )


def _info_num(info, num: int | None) -> int:
    """The ``-num`` for cropping a description file: all its boxes, or at most that many."""
    total = sum(len(entry.boxes) for entry in read_info(info, check_images=False))
    if num is None:
        return total
    if num > total:
        raise InputError(
            f"-num {num} exceeds the {total} boxes listed in -info {os.fspath(info)!r}: "
            f"opencv_createsamples would write a .vec whose header announces {num} samples "
            f"but holds {total}. Pass -num {total} or fewer."
        )
    return num
