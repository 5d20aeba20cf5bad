"""Start-up cost: importing the library and asking the command line for help load no PyTorch."""

import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from fer_toolkit.cli import main

COMMANDS = {
    "cascade",
    "crop",
    "evaluate",
    "extract-faces",
    "predict",
    "pretrain",
    "quickstart",
    "search",
    "train",
}

CLI = """
from fer_toolkit.cli.main import main
try:
    main({args!r})
except SystemExit as exc:
    assert exc.code == 0, exc.code
"""


def heavy_modules(code):
    """PyTorch and skorch, those of them that running ``code`` in a new interpreter imports."""
    probe = f"{code}\nimport sys\nprint(sorted({{'torch', 'skorch'}} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    *output, modules = result.stdout.splitlines()
    return "\n".join(output), modules


@pytest.mark.parametrize(
    "module", ["fer_toolkit.preprocessing", "fer_toolkit.datasets", "fer_toolkit.cli.main"]
)
def test_import_does_not_load_torch(module):
    _, modules = heavy_modules(f"import {module}")
    assert modules == "[]"


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["train", "--help"], ["cascade", "--help"]], ids=" ".join
)
def test_help_does_not_load_torch(args):
    output, modules = heavy_modules(CLI.format(args=args))
    assert "Usage:" in output or "version" in output
    assert modules == "[]"


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:\n", 1)[1]
    assert set(re.findall(r"^  (\S+)", listed, flags=re.MULTILINE)) == COMMANDS


def test_alias_is_the_same_command():
    ctx = click.Context(main)
    assert main.get_command(ctx, "extract-faces") is main.get_command(ctx, "crop")
