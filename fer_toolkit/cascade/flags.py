"""One table per OpenCV tool: the flags of ``opencv_traincascade`` and ``opencv_createsamples``.

Each flag is described once, in :data:`TRAINCASCADE` and :data:`CREATESAMPLES`: its
Python parameter, OpenCV's flag, its type and range, its default and a line of help.
Everything else is derived from them:

* the ``fer-toolkit cascade train | createsamples`` options (``-numPos`` and
  ``--num-pos``, their types, defaults and help);
* the argument lists and parameter checks of
  :func:`~fer_toolkit.cascade.traincascade_args` and
  :func:`~fer_toolkit.cascade.createsamples_args`;
* the defaults of the native functions (:func:`~fer_toolkit.cascade.train_cascade`,
  :func:`~fer_toolkit.cascade.boost_stage`, :class:`~fer_toolkit.cascade.StageParams`,
  :func:`~fer_toolkit.cascade.create_samples`...), whose signatures read them from
  ``FlagTable.defaults``;
* the tables of the user guide (:meth:`FlagTable.markdown`, written by
  ``docs/api_reference.py`` at every build).

The tables follow the order of each tool's usage text, which is also the order of
the arguments passed to it. This module imports nothing beyond the standard library.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

__all__ = ["CREATESAMPLES", "TRAINCASCADE", "FlagTable", "OpenCVFlag"]

_KINDS = ("int", "float", "choice", "bool", "file", "folder")
_SAME = object()  # cli_default: the same as default


@dataclass(frozen=True)
class OpenCVFlag:
    """One flag of an OpenCV tool, as fer_toolkit's CLI, wrapper and trainer take it.

    Parameters
    ----------
    name : str
        The Python parameter (``min_hit_rate``); the long CLI option is its
        kebab-case (``--min-hit-rate``).
    opencv : str
        OpenCV's flag (``-minHitRate``), also accepted by the CLI.
    kind : {"int", "float", "choice", "bool", "file", "folder"}
        The value: a number, one of ``choices``, a bare flag (``bool``), or a path.
    default : object
        The default of the Python functions (the wrapper's and the native ones).
    help : str
        One line for ``--help`` and the docs.
    low, high : float or None, default=None
        The range of a number (``None``: unbounded on that side).
    low_open, high_open : bool, default=False
        Whether ``low`` / ``high`` themselves are excluded.
    choices : tuple of str, default=()
        The values of a ``choice``.
    exists : bool, default=False
        A ``file`` the command line requires to exist.
    required : bool, default=False
        Whether the command line requires the flag.
    cli_default : object, optional
        The command line's default where it differs from ``default`` (for
        example ``-rngseed``: 12345 on the command line as in OpenCV, ``None``
        in Python as in scikit-learn).
    flag_value : object or None, default=None
        The value of a flag given without one on the command line (``-show``).

    Examples
    --------
    >>> from fer_toolkit.cascade.flags import OpenCVFlag
    >>> flag = OpenCVFlag("num_pos", "-numPos", "int", 2000, "Positives per stage.", low=1)
    >>> flag.option, flag.describe()
    ('--num-pos', 'int >= 1')
    """

    name: str
    opencv: str
    kind: str
    default: object
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    exists: bool = False
    required: bool = False
    cli_default: object = field(default=_SAME, repr=False)
    flag_value: object = None

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"{self.name}: kind must be one of {_KINDS}; got {self.kind!r}.")
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"{self.name}: choices go with kind 'choice' (and only with it).")
        if self.cli_default is _SAME:
            object.__setattr__(self, "cli_default", self.default)

    @property
    def option(self) -> str:
        """The long command-line option: ``--`` and the kebab-case of ``name``."""
        return "--" + self.name.replace("_", "-")

    @property
    def accepts_none(self) -> bool:
        """Whether ``None`` is a value (the flag is then left out of the tool's arguments)."""
        return not self.required and (self.default is None or self.cli_default is None)

    def describe(self) -> str:
        """The type and range in words, as the docs show them (``float in (0, 1]``)."""
        if self.kind == "choice":
            return "{" + ", ".join(self.choices) + "}"
        if self.kind in ("bool", "file", "folder"):
            return {"bool": "flag", "file": "file", "folder": "folder"}[self.kind]
        if self.high is None:
            if self.low is None:
                return self.kind
            return f"{self.kind} {'>' if self.low_open else '>='} {self.low:g}"
        left = "[" if self.low is not None and not self.low_open else "("
        low = "-inf" if self.low is None else f"{self.low:g}"
        return f"{self.kind} in {left}{low}, {self.high:g}{')' if self.high_open else ']'}"


class FlagTable(tuple):
    """The flags of one OpenCV tool, in the order of its usage text.

    A tuple of :class:`OpenCVFlag` that is also looked up by parameter name.

    Parameters
    ----------
    tool : str
        The tool (``opencv_traincascade``).
    flags : iterable of OpenCVFlag
        Its flags, in the order of the tool's usage text; parameter names must not repeat.

    Attributes
    ----------
    tool : str
        The tool's name, as given.
    defaults : namedtuple
        The Python default of every flag, by parameter name; the signatures of
        the functions that take these flags read their defaults from it.

    Examples
    --------
    >>> from fer_toolkit.cascade.flags import TRAINCASCADE
    >>> TRAINCASCADE["min_hit_rate"].opencv, TRAINCASCADE.defaults.min_hit_rate
    ('-minHitRate', 0.995)
    >>> list(TRAINCASCADE.opencv_names().values())[:3]
    ['-data', '-vec', '-bg']
    """

    def __new__(cls, tool: str, flags):
        table = super().__new__(cls, flags)
        names = [flag.name for flag in table]
        if len(set(names)) != len(names):
            raise ValueError(f"{tool}: a parameter is described twice in {names}.")
        table.tool = tool
        table._by_name = {flag.name: flag for flag in table}
        table.defaults = collections.namedtuple(f"{tool}_defaults", names)(
            *(flag.default for flag in table)
        )
        return table

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                return self._by_name[key]
            except KeyError:
                raise KeyError(f"{self.tool} has no flag for the parameter {key!r}.") from None
        return super().__getitem__(key)

    def __repr__(self) -> str:
        return f"<FlagTable of {self.tool}: {len(self)} flags>"

    def opencv_names(self) -> dict[str, str]:
        """``{parameter: OpenCV flag}`` in the tool's order."""
        return {flag.name: flag.opencv for flag in self}

    def markdown(self) -> str:
        """The table as Markdown: OpenCV flag, long option, Python parameter, type, default, help.

        A default that differs on the command line is given as ``None (CLI: 12345)``;
        ``|`` and ``<`` in the help are escaped.

        Examples
        --------
        >>> from fer_toolkit.cascade.flags import CREATESAMPLES
        >>> print(CREATESAMPLES.markdown().splitlines()[2])  # doctest: +ELLIPSIS
        | `-info` | `--info` | `info` | file | `None` | Positive description file ...
        """
        rows = [
            "| OpenCV | option | parameter | type | default | meaning |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for flag in self:
            if flag.required:
                default = "required"
            else:
                default = f"`{flag.default!r}`"
                if flag.cli_default != flag.default:
                    default += f" (CLI: `{flag.cli_default!r}`)"
            cells = [
                f"`{flag.opencv}`",
                f"`{flag.option}`",
                f"`{flag.name}`",
                flag.describe(),
                default,
                flag.help,
            ]
            cells = [cell.replace("|", "\\|").replace("<", "\\<") for cell in cells]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows)


_OPENCV_ONLY = "opencv backend only"
_RATE = {"kind": "float", "low": 0, "high": 1, "low_open": True}
_GREY = {"kind": "int", "low": 0, "high": 255}

#: ``opencv_traincascade``'s flags (``traincascade.cpp``, then ``CvCascadeParams``,
#: ``CvCascadeBoostParams`` and ``CvHaarFeatureParams::scanAttr``), OpenCV 3.4's defaults.
TRAINCASCADE = FlagTable(
    "opencv_traincascade",
    [
        OpenCVFlag(
            "data",
            "-data",
            "folder",
            None,
            "Output folder: params.xml, stageN.xml, cascade.xml; training resumes from it.",
            required=True,
        ),
        OpenCVFlag(
            "vec",
            "-vec",
            "file",
            None,
            "Positive samples (.vec) from createsamples.",
            exists=True,
            required=True,
        ),
        OpenCVFlag(
            "bg",
            "-bg",
            "file",
            None,
            "Background list: images without the object.",
            exists=True,
            required=True,
        ),
        OpenCVFlag(
            "num_pos",
            "-numPos",
            "int",
            2000,
            "Positives per stage; keep it below the .vec count.",
            low=1,
        ),
        OpenCVFlag("num_neg", "-numNeg", "int", 1000, "Negative windows per stage.", low=1),
        OpenCVFlag("num_stages", "-numStages", "int", 20, "Stages to train.", low=1),
        OpenCVFlag(
            "precalc_val_buf_size",
            "-precalcValBufSize",
            "int",
            1024,
            "Memory for precalculated feature values, MB.",
            low=0,
        ),
        OpenCVFlag(
            "precalc_idx_buf_size",
            "-precalcIdxBufSize",
            "int",
            1024,
            "Memory for precalculated feature indices, MB.",
            low=0,
        ),
        OpenCVFlag(
            "base_format_save",
            "-baseFormatSave",
            "bool",
            False,
            f"Save in the old haartraining format (Haar; {_OPENCV_ONLY}).",
        ),
        OpenCVFlag("num_threads", "-numThreads", "int", None, "CPU threads [default: all].", low=1),
        OpenCVFlag(
            "accept_ratio_break_value",
            "-acceptanceRatioBreakValue",
            "float",
            -1.0,
            "Stop when the negatives' acceptance ratio falls to this (negative: never).",
        ),
        OpenCVFlag(
            "stage_type", "-stageType", "choice", "BOOST", "Stage classifier.", choices=("BOOST",)
        ),
        OpenCVFlag(
            "feature_type",
            "-featureType",
            "choice",
            "HAAR",
            f"Features (HOG: {_OPENCV_ONLY}).",
            choices=("HAAR", "LBP", "HOG"),
        ),
        OpenCVFlag("width", "-w", "int", 24, "Sample width, as given to createsamples.", low=1),
        OpenCVFlag("height", "-h", "int", 24, "Sample height, as given to createsamples.", low=1),
        OpenCVFlag(
            "boost_type",
            "-bt",
            "choice",
            "GAB",
            "Gentle, Discrete, Real or Logit AdaBoost.",
            choices=("GAB", "DAB", "RAB", "LB"),
        ),
        OpenCVFlag(
            "min_hit_rate",
            "-minHitRate",
            default=0.995,
            help="Fraction of positives each stage must keep.",
            **_RATE,
        ),
        OpenCVFlag(
            "max_false_alarm_rate",
            "-maxFalseAlarmRate",
            default=0.5,
            help="Fraction of negatives each stage may pass.",
            **_RATE,
        ),
        OpenCVFlag(
            "weight_trim_rate", "-weightTrimRate", default=0.95, help="Weight trimming.", **_RATE
        ),
        OpenCVFlag(
            "max_depth", "-maxDepth", "int", 1, "Depth of each weak tree (1: stumps).", low=1
        ),
        OpenCVFlag(
            "max_weak_count", "-maxWeakCount", "int", 100, "Most weak trees per stage.", low=1
        ),
        OpenCVFlag(
            "mode",
            "-mode",
            "choice",
            "BASIC",
            "Haar feature set: upright basic, + extended upright, + 45-degree tilted.",
            choices=("BASIC", "CORE", "ALL"),
        ),
    ],
)

#: ``opencv_createsamples``' flags, in the order of its usage text, with OpenCV's defaults
#: (``num`` and ``random_state`` may be None: left to the tool, or automatic).
CREATESAMPLES = FlagTable(
    "opencv_createsamples",
    [
        OpenCVFlag(
            "info",
            "-info",
            "file",
            None,
            "Positive description file (path count x y w h ...): read with -vec, written with "
            "-img -bg.",
        ),
        OpenCVFlag(
            "img",
            "-img",
            "file",
            None,
            "One object image to distort into many samples.",
            exists=True,
        ),
        OpenCVFlag("vec", "-vec", "file", None, "Output .vec file (or, alone, the .vec to show)."),
        OpenCVFlag(
            "bg",
            "-bg",
            "file",
            None,
            "Background list: images to paste -img samples onto.",
            exists=True,
        ),
        OpenCVFlag(
            "num",
            "-num",
            "int",
            1000,
            "Number of samples [default: 1000; with -info -vec, all boxes].",
            low=1,
            cli_default=None,
        ),
        OpenCVFlag(
            "bg_color",
            "-bgcolor",
            default=0,
            help="Grey level of -img treated as transparent.",
            **_GREY,
        ),
        OpenCVFlag("inv", "-inv", "bool", False, "Invert the sample colours."),
        OpenCVFlag(
            "randinv",
            "-randinv",
            "bool",
            False,
            "Invert the colours of a random half of the samples.",
        ),
        OpenCVFlag(
            "bg_thresh", "-bgthresh", default=80, help="Tolerance around -bgcolor.", **_GREY
        ),
        OpenCVFlag(
            "max_intensity_dev",
            "-maxidev",
            default=40,
            help="Largest random change of sample brightness.",
            **_GREY,
        ),
        OpenCVFlag(
            "max_x_angle", "-maxxangle", "float", 1.1, "Largest rotation about the x axis, radians."
        ),
        OpenCVFlag(
            "max_y_angle", "-maxyangle", "float", 1.1, "Largest rotation about the y axis, radians."
        ),
        OpenCVFlag(
            "max_z_angle", "-maxzangle", "float", 0.5, "Largest rotation about the z axis, radians."
        ),
        OpenCVFlag(
            "show",
            "-show",
            "float",
            False,
            "Also write a tile of the .vec samples to <vec>.png, each enlarged by "
            "SCALE (OpenCV opens a window instead) [flag alone: 4].",
            low=0,
            low_open=True,
            cli_default=None,
            flag_value=4.0,
        ),
        OpenCVFlag("width", "-w", "int", 24, "Sample width.", low=1),
        OpenCVFlag("height", "-h", "int", 24, "Sample height.", low=1),
        OpenCVFlag(
            "max_scale",
            "-maxscale",
            "float",
            None,
            "Test images (-img -bg -info): largest object size as a multiple of -w x -h "
            "[default: automatic].",
        ),
        OpenCVFlag(
            "random_state",
            "-rngseed",
            "int",
            None,
            "Random seed (OpenCV's -rngseed); the same seed gives the same samples.",
            cli_default=12345,
        ),
    ],
)
