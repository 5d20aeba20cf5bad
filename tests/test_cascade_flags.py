"""One table per OpenCV tool: the CLI, the wrapper and the native functions agree with it."""

import ast
import inspect
import re

import click
import pytest
from click.testing import CliRunner

from fer_toolkit.cascade import createsamples, opencv_backend
from fer_toolkit.cascade.boost import FeatureValues, boost_stage
from fer_toolkit.cascade.features import FEATURE_TYPES, HAAR_MODES
from fer_toolkit.cascade.flags import CREATESAMPLES, TRAINCASCADE, FlagTable, OpenCVFlag
from fer_toolkit.cascade.model import BOOST_TYPES, StageParams
from fer_toolkit.cascade.train import train_cascade
from fer_toolkit.cli import cascade as cli_cascade
from fer_toolkit.cli import main

TABLES = {"train": TRAINCASCADE, "createsamples": CREATESAMPLES}

#: Every function that takes a tool's flags, and the parameters whose default departs
#: from the table on purpose (``REQUIRED``: no default at all).
REQUIRED = object()
FUNCTIONS = [
    (opencv_backend.traincascade_args, TRAINCASCADE, {}),
    # The native trainer has no OpenCV default for the sample counts: they are the job.
    (train_cascade, TRAINCASCADE, {"num_pos": REQUIRED, "num_neg": REQUIRED}),
    (boost_stage, TRAINCASCADE, {}),
    (StageParams, TRAINCASCADE, {}),
    (FeatureValues, TRAINCASCADE, {}),
    (opencv_backend.createsamples_args, CREATESAMPLES, {}),
    # None: 1000 distorted samples, or every box / background of the other modes.
    (createsamples.create_samples, CREATESAMPLES, {"num": None}),
    (createsamples.samples_from_image, CREATESAMPLES, {"img": REQUIRED}),
    (createsamples.samples_from_info, CREATESAMPLES, {"info": REQUIRED, "num": None}),
    (createsamples.show_vec, CREATESAMPLES, {"vec": REQUIRED}),
]


def _ids(cases):
    return [case[0].__qualname__ for case in cases]


def _option(command: str, name: str) -> click.Option:
    params = {param.name: param for param in cli_cascade.cascade.commands[command].params}
    return params[name]


@pytest.mark.parametrize("command", TABLES)
def test_click_options_are_the_table(command):
    table = TABLES[command]
    options = cli_cascade.cascade.commands[command].params
    # OpenCV's flags: single-dash words, and -w / -h (not FerCommand's -q, -v).
    opencv_style = re.compile(r"-\w\w+|-[wh]")
    single_dash = [o.name for o in options if any(opencv_style.fullmatch(s) for s in o.opts)]
    assert single_dash == [flag.name for flag in table]
    for flag in table:
        option = _option(command, flag.name)
        assert option.opts == [flag.opencv, flag.option]
        assert option.help == flag.help
        assert option.required == flag.required
        if flag.kind == "bool":
            assert option.is_flag and option.default is False
            continue
        if flag.required:  # no default at all: click 8.3+ takes default=None as a value
            ctx = click.Context(click.Command("x"))
            with pytest.raises(click.MissingParameter):
                option.process_value(ctx, option.get_default(ctx))
            continue
        assert option.default == flag.cli_default
        assert option.show_default == (flag.cli_default is not None)
        if flag.flag_value is not None:  # -show: a value, or the flag alone
            assert option.flag_value == flag.flag_value and not option.is_flag
        assert {"folder": "directory"}.get(flag.kind, flag.kind) in option.type.name
        if flag.kind in ("file", "folder"):
            assert option.type.exists == flag.exists
        if flag.kind == "choice":
            assert tuple(option.type.choices) == flag.choices
        if flag.kind in ("int", "float"):
            bounds = (getattr(option.type, "min", None), getattr(option.type, "max", None))
            assert bounds == (flag.low, flag.high)


def _just_outside(flag: OpenCVFlag):
    """Values just outside the flag's range (empty when it has none)."""
    step = 1 if flag.kind == "int" else 1e-9
    values = []
    if flag.low is not None:
        values.append(flag.low if flag.low_open else flag.low - step)
    if flag.high is not None:
        values.append(flag.high if flag.high_open else flag.high + step)
    return values


def _bounded(table):
    return [(table, flag, value) for flag in table for value in _just_outside(flag)]


BOUNDED = _bounded(TRAINCASCADE) + _bounded(CREATESAMPLES)


@pytest.mark.parametrize(
    ("table", "flag", "value"), BOUNDED, ids=[f"{f.opencv}={v}" for _, f, v in BOUNDED]
)
def test_ranges_hold_for_the_wrapper_and_the_cli(table, flag, value, tmp_path):
    make_args = (
        opencv_backend.traincascade_args
        if table is TRAINCASCADE
        else opencv_backend.createsamples_args
    )
    paths = ("d", "p.vec", "bg.txt") if table is TRAINCASCADE else ()
    with pytest.raises(ValueError, match=f"'{flag.name}' parameter"):
        make_args(*paths, **{flag.name: value})
    inside = flag.low if flag.low is not None and not flag.low_open else flag.default
    make_args(*paths, **{flag.name: inside})
    command = "train" if table is TRAINCASCADE else "createsamples"
    result = CliRunner().invoke(main, ["cascade", command, flag.opencv, str(value)])
    assert result.exit_code == 2 and f"'{flag.opencv}'" in result.output


def test_wrapper_passes_the_table_defaults():
    args = opencv_backend.traincascade_args("d", "p.vec", "bg.txt")
    expected = ["-data", "d", "-vec", "p.vec", "-bg", "bg.txt"]
    for flag in TRAINCASCADE[3:]:
        if flag.default is not None and flag.default is not False:
            expected += [flag.opencv, str(flag.default)]
    assert args == expected
    args = opencv_backend.createsamples_args(vec="p.vec")
    expected = ["-vec", "p.vec"]
    for flag in CREATESAMPLES[4:]:
        if flag.default is not None and flag.default is not False:
            expected += [flag.opencv, str(flag.default)]
    assert args == expected
    assert TRAINCASCADE.opencv_names() == opencv_backend.TRAINCASCADE_FLAGS
    assert CREATESAMPLES.opencv_names() == opencv_backend.CREATESAMPLES_FLAGS


def _signature(func):
    return inspect.signature(func.__init__ if isinstance(func, type) else func).parameters


@pytest.mark.parametrize(("func", "table", "departures"), FUNCTIONS, ids=_ids(FUNCTIONS))
def test_function_defaults_are_the_table(func, table, departures):
    params = _signature(func)
    names = [flag.name for flag in table if flag.name in params]
    assert names, f"{func.__qualname__} takes no flag of {table.tool}"
    for name in names:
        default = params[name].default
        default = REQUIRED if default is inspect.Parameter.empty else default
        expected = departures.get(name, table[name].default)
        if table[name].required and name not in departures:
            expected = REQUIRED
        assert default is expected or default == expected, f"{func.__qualname__}({name}=...)"
        assert type(default) is type(expected), f"{func.__qualname__}({name}=...)"


_DEFAULT_LINE = re.compile(r"^ {4}(\w[\w, ]*) : .*\bdefault=(.+)$", re.MULTILINE)


def _documented_defaults(func, table):
    """``[(parameter, default in the docstring)]`` for the flags of ``table``."""
    found = []
    for names, text in _DEFAULT_LINE.findall(func.__doc__):
        names = [name.strip() for name in names.split(",")]
        texts = text.split(", ") if len(names) > 1 and "," in text else [text] * len(names)
        found += [
            (name, ast.literal_eval(value))
            for name, value in zip(names, texts, strict=True)
            if name in table.opencv_names()
        ]
    return found


@pytest.mark.parametrize(("func", "table", "departures"), FUNCTIONS, ids=_ids(FUNCTIONS))
def test_docstring_defaults_are_the_signature(func, table, departures):
    params = _signature(func)
    for name, value in _documented_defaults(func, table):
        assert value == params[name].default, f"{func.__qualname__} documents {name}={value!r}"


def test_docstrings_state_the_defaults():
    assert sum(len(_documented_defaults(func, table)) for func, table, _ in FUNCTIONS) >= 40


def test_native_choices_are_the_table():
    assert TRAINCASCADE["boost_type"].choices == BOOST_TYPES
    assert tuple(HAAR_MODES) == TRAINCASCADE["mode"].choices
    assert set(FEATURE_TYPES) == set(TRAINCASCADE["feature_type"].choices) - {"HOG"}


def test_table_lookup_and_markdown():
    assert TRAINCASCADE["min_hit_rate"].opencv == "-minHitRate"
    assert TRAINCASCADE[0].name == "data" and len(TRAINCASCADE.defaults) == len(TRAINCASCADE)
    with pytest.raises(KeyError, match="opencv_traincascade has no flag for the parameter 'x'"):
        TRAINCASCADE["x"]
    rows = CREATESAMPLES.markdown().splitlines()
    assert len(rows) == 2 + len(CREATESAMPLES)
    seed = next(row for row in rows if "`-rngseed`" in row)
    assert "| int | `None` (CLI: `12345`) |" in seed
    assert "| float in (0, 1] |" in next(
        r for r in TRAINCASCADE.markdown().splitlines() if "Hit" in r
    )
    assert OpenCVFlag("x", "-x", "float", 0.0, "help", high=2).describe() == "float in (-inf, 2]"
    with pytest.raises(ValueError, match="described twice"):
        FlagTable("tool", [TRAINCASCADE[0], TRAINCASCADE[0]])
    with pytest.raises(ValueError, match="kind must be one of"):
        OpenCVFlag("x", "-x", "string", None, "help")
    with pytest.raises(ValueError, match="choices go with kind 'choice'"):
        OpenCVFlag("x", "-x", "choice", None, "help")


@pytest.mark.parametrize(
    ("run", "required", "bad", "typo"),
    [
        (
            opencv_backend.run_traincascade,
            ("out", "pos.vec", "bg.txt"),
            {"num_stages": 0},
            {"num_stage": 3},
        ),
        (opencv_backend.run_createsamples, (), {"num": -1}, {"nums": 3}),
    ],
    ids=["run_traincascade", "run_createsamples"],
)
def test_the_wrappers_take_their_flags_from_the_args_functions(tmp_path, run, required, bad, typo):
    # The wrappers declare no flag of their own: every flag reaches the tool through the
    # table-driven *_args function, which checks it before the tool is even looked up.
    own = set(inspect.signature(run).parameters)
    assert own <= {"data", "vec", "bg", "opencv_bin_dir", "on_line", "on_progress", "params"}
    with pytest.raises(ValueError, match="num"):
        run(*required, **bad, opencv_bin_dir=tmp_path)
    with pytest.raises(TypeError, match="unexpected keyword"):
        run(*required, **typo, opencv_bin_dir=tmp_path)
