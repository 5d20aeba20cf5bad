"""What every ``fer-toolkit`` command shares: help with examples, the error path, options."""

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from fer_toolkit.cli import main
from fer_toolkit.cli._common import (
    BUG_MESSAGE,
    DeviceParam,
    FerCommand,
    NJobsParam,
    SettingParam,
    SizeParam,
    echo,
    parse_value,
)
from fer_toolkit.preprocessing import NoFaceError
from fer_toolkit.utils.validation import InputError

ROOT = Path(__file__).resolve().parents[1]


def _commands(group, prefix=()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = (*prefix, name)
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


ALL_COMMANDS = sorted(_commands(main))


def test_main_help_shows_the_workflow():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for step in ["crop", "train", "evaluate", "predict", "search"]:
        assert f"fer-toolkit {step} " in result.output


def test_every_command_is_covered():
    names = {" ".join(path) for path, _ in ALL_COMMANDS}
    expected = {"crop", "extract-faces", "train", "search", "evaluate", "predict", "quickstart"}
    assert expected <= names
    assert {"cascade train", "cascade detect", "cascade createsamples"} <= names


@pytest.mark.parametrize(("path", "command"), ALL_COMMANDS, ids=lambda v: str(v))
def test_help_has_an_example_of_the_command_itself(path, command):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    # The example runs this very command (an alias may show its other name).
    shown = f"fer-toolkit {' '.join(path)}"
    assert shown in result.output or (
        path == ("extract-faces",) and "fer-toolkit crop" in result.output
    )


@pytest.mark.parametrize(("path", "command"), ALL_COMMANDS, ids=lambda v: str(v))
def test_every_command_has_quiet_and_verbose(path, command):
    if isinstance(command, click.Group):
        return
    assert isinstance(command, FerCommand)
    options = {opt for param in command.params for opt in param.opts}
    assert {"--quiet", "--verbose"} <= options


def test_user_error_is_one_line_and_verbose_adds_the_traceback(tmp_path):
    missing = tmp_path / "missing_model"
    missing.mkdir()
    args = ["evaluate", str(missing), "--data", "synthetic:40", "--out", str(tmp_path / "o")]
    plain = CliRunner().invoke(main, args)
    assert plain.exit_code == 1
    assert plain.output.startswith("Error: no model at ")
    assert len(plain.output.strip().splitlines()) == 1
    assert "Traceback" not in plain.output
    loud = CliRunner().invoke(main, [*args, "--verbose"])
    assert loud.exit_code == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert "FileNotFoundError" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1].startswith("Error: no model at ")


@pytest.mark.parametrize(
    "bug",
    [
        KeyError("internal"),
        ValueError("operands could not be broadcast together with shapes (3,) (4,)"),
        OSError(9, "Bad file descriptor"),  # from the system, naming no file
        TypeError("unsupported operand type(s)"),
        ImportError("cannot import name 'load_data'", name="fer_toolkit.cli._data"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_a_bug_keeps_its_traceback(bug):
    @click.command(cls=FerCommand)
    def broken():
        raise bug

    result = CliRunner().invoke(broken, [])
    assert result.exit_code == 1
    assert result.exception is bug  # not turned into a one-line ClickException
    assert not result.stdout
    assert result.stderr.strip() == BUG_MESSAGE.format(name=type(bug).__name__)


def test_a_library_bug_shows_a_traceback_not_a_one_liner(tmp_path):
    """A ValueError from code (not an InputError about the user's input) is a bug: the
    real command line prints its traceback after a line saying so."""
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\n"
        "import fer_toolkit.cli._data\n"
        "def broken(*args, **kwargs):\n"
        "    return int('not a number')\n"
        "fer_toolkit.cli._data.make_synthetic_faces = broken\n"
        "from fer_toolkit.cli.main import main\n"
        "main(sys.argv[1:], prog_name='fer-toolkit')\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, str(script), "train", "--data", "synthetic:40", "--out", "m"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert BUG_MESSAGE.format(name="ValueError") in lines
    assert "Traceback (most recent call last):" in lines
    assert lines[-1].startswith("ValueError: invalid literal for int()")
    assert not any(line.startswith("Error: ") for line in lines)


@pytest.mark.parametrize(
    "error",
    [
        InputError("data.csv, line 3: has 2 fields, expected 3."),
        NoFaceError("image 0 (photo.png) has no face."),
        FileNotFoundError(2, "No such file or directory", "data.csv"),
        PermissionError(13, "Permission denied", "out/model.pt"),
        IsADirectoryError(21, "Is a directory", "photos"),
        OSError(28, "No space left on device", "out/model.pt"),  # names its file
        OSError(28, "No space left on device"),  # a full disk, whatever the file
        OSError("OpenCV cannot write the annotated video 'out/clip.mp4'."),  # fer_toolkit's
        ModuleNotFoundError("No module named 'distributed'", name="distributed"),
        ImportError("--dask-scheduler needs Dask's distributed package: pip install ..."),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_a_user_error_is_one_line(error):
    @click.command(cls=FerCommand)
    def failing():
        raise error

    result = CliRunner().invoke(failing, [])
    assert result.exit_code == 1
    assert result.output == f"Error: {error}\n"


def test_invalid_parameter_of_an_estimator_is_one_line():
    @click.command(cls=FerCommand)
    def failing():
        LogisticRegression(C=-1.0).fit([[0.0], [1.0]], [0, 1])

    result = CliRunner().invoke(failing, [])
    assert result.exit_code == 1
    assert result.output.startswith("Error: The 'C' parameter of LogisticRegression must be")
    assert len(result.output.splitlines()) == 1


def test_quiet_silences_echo_but_not_errors():
    @click.command(cls=FerCommand)
    @click.option("--fail", is_flag=True)
    def talk(fail):
        echo("chatter")
        if fail:
            raise InputError("bad input in row 3")

    assert CliRunner().invoke(talk, []).output == "chatter\n"
    assert CliRunner().invoke(talk, ["-q"]).output == ""
    failed = CliRunner().invoke(talk, ["-q", "--fail"])
    assert failed.exit_code == 1 and failed.output == "Error: bad input in row 3\n"


def _convert(param_type, value):
    return param_type.convert(value, None, None)


def test_size_param():
    assert _convert(SizeParam(), "48") == (48, 48)
    assert _convert(SizeParam(), " 64x32 ") == (64, 32)
    for bad in ["0", "48x0", "big", "4 8", "-3"]:
        with pytest.raises(click.BadParameter, match="is not a size"):
            _convert(SizeParam(), bad)


def test_device_param():
    assert _convert(DeviceParam(), "auto") == "auto"
    assert _convert(DeviceParam(), "cpu") == "cpu"
    with pytest.raises(click.BadParameter, match="is not a device"):
        _convert(DeviceParam(), "gpu0")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(click.BadParameter, match="CUDA is not available"):
            _convert(DeviceParam(), "cuda:0")


def test_n_jobs_param():
    assert _convert(NJobsParam(), "-1") == -1
    assert _convert(NJobsParam(), "3") == 3
    with pytest.raises(click.BadParameter, match="0 jobs"):
        _convert(NJobsParam(), "0")
    with pytest.raises(click.BadParameter, match="not an integer"):
        _convert(NJobsParam(), "two")


def test_setting_param():
    assert _convert(SettingParam(), "lr=0.003") == ("lr", 0.003)
    assert _convert(SettingParam(), "brightness=[0.5, 1.5]") == ("brightness", [0.5, 1.5])
    assert _convert(SettingParam(), "lr_schedule=cosine") == ("lr_schedule", "cosine")
    for bad in ["lr", "=3", "2lr=1", "a-b=1"]:
        with pytest.raises(click.BadParameter, match="is not NAME=VALUE"):
            _convert(SettingParam(), bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


@given(json_values)
def test_parse_value_round_trips_json(value):
    import json

    assert parse_value(json.dumps(value)) == value


@given(st.text(alphabet=st.characters(codec="ascii", categories=["L"]), min_size=1))
def test_parse_value_keeps_words_as_strings(word):
    parsed = parse_value(word)
    assert parsed == word or word in ("true", "false", "null", "NaN", "Infinity")
