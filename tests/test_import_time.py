"""Start-up cost: importing the library and asking the command line for help load no PyTorch."""

import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from fer_toolkit.cli import main
from fer_toolkit.cli._model import MODELS
from fer_toolkit.models import available_models

COMMANDS = [
    "cascade",
    "crop",
    "evaluate",
    "extract-faces",
    "predict",
    "pretrain",
    "quickstart",
    "search",
    "train",
]

CLI = """
from fer_toolkit.cli.main import main
try:
    main({args!r}, prog_name="fer-toolkit")
except SystemExit as exc:
    assert exc.code == 0, exc.code
"""


def run_python(code):
    """``(output, heavy)``: what ``code`` printed in a new interpreter, and the heavy
    modules (PyTorch, skorch) it imported."""
    probe = f"{code}\nimport sys\nprint(sorted({{'torch', 'skorch'}} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    *output, heavy = result.stdout.splitlines()
    return "\n".join(output), heavy


@pytest.mark.parametrize(
    "module", ["fer_toolkit.preprocessing", "fer_toolkit.datasets", "fer_toolkit.cli.main"]
)
def test_import_does_not_load_torch(module):
    _, heavy = run_python(f"import {module}")
    assert heavy == "[]"


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        *([command, "--help"] for command in COMMANDS),
        ["cascade", "train", "--help"],
    ],
    ids=" ".join,
)
def test_help_does_not_load_torch(args):
    output, heavy = run_python(CLI.format(args=args))
    assert output.startswith(("Usage: fer-toolkit", "fer-toolkit, version"))
    assert heavy == "[]"


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:\n", 1)[1]
    assert re.findall(r"^  (\S+)", listed, flags=re.MULTILINE) == COMMANDS


def test_listed_summaries_are_the_commands():
    # --help lists the summaries of main's table without importing the commands.
    ctx = click.Context(main)
    for name, (_, summary) in main.lazy_commands.items():
        assert summary == main.get_command(ctx, name).get_short_help_str(limit=10**6), name


def test_help_imports_no_command():
    modules = {f"fer_toolkit.cli.{command.replace('-', '_')}" for command in COMMANDS}
    probe = CLI.format(args=["--help"]) + (
        f"import sys\nprint(sorted({{'sklearn', *{sorted(modules)!r}}} & set(sys.modules)))"
    )
    output, _ = run_python(probe)
    assert output.splitlines()[-1] == "[]"


def test_alias_is_the_same_command():
    ctx = click.Context(main)
    assert main.get_command(ctx, "extract-faces") is main.get_command(ctx, "crop")


def test_model_choices_are_the_registry():
    assert list(MODELS) == available_models()


def test_worker_imports_load_no_test_machinery():
    # What a GridSearchCV(n_jobs=2) worker imports to unpickle a cropper + CNN pipeline.
    # sklearn_compat.base imported sklearn's estimator checks and pytest with it (under
    # load, 5 of the worker's 49 s of imports).
    code = (
        "import sys, fer_toolkit.preprocessing, fer_toolkit.estimators\n"
        "test = {'pytest', 'sklearn.utils._testing', 'sklearn.utils.estimator_checks'}\n"
        "print(sorted(test & set(sys.modules)))"
    )
    output, _ = run_python(code)
    assert output == "[]"
