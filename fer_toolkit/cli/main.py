"""Entry point of the ``fer-toolkit`` console script."""

from __future__ import annotations

import importlib

import click

from .. import __version__
from ._common import _QUIET, VERBOSE, FerGroup


class LazyGroup(FerGroup):
    """A :class:`FerGroup` that imports the module of a command only when it is needed.

    ``fer-toolkit --version``, ``fer-toolkit --help`` or ``fer-toolkit train ...``
    then import none of the other commands: ``--help`` lists the summaries of the
    table, and a command's own ``--help`` imports its module only. The command
    modules themselves import PyTorch only in the functions that run it.

    Parameters
    ----------
    lazy_commands : dict of str to (str, str)
        Command name -> (``"module:attribute"`` of the command object, its
        summary: the first sentence of its help, as ``--help`` lists it).
    """

    def __init__(self, *args, lazy_commands: dict[str, tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands
        self._listing = False

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        target, summary = self.lazy_commands[cmd_name]
        if self._listing:
            # Importing the commands for their summaries took 2 s (scikit-learn,
            # matplotlib); tests/test_import_time.py checks the table against them.
            return click.Command(cmd_name, help=summary)
        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx, formatter):
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False


@click.group(
    cls=LazyGroup,
    lazy_commands={
        "quickstart": (
            "fer_toolkit.cli.quickstart:quickstart",
            "Train and evaluate a FER model end to end on the embedded synthetic data.",
        ),
        "cascade": (
            "fer_toolkit.cli.cascade:cascade",
            "Train and use OpenCV-compatible Haar / LBP cascades (custom object detectors).",
        ),
        "train": (
            "fer_toolkit.cli.train:train",
            "Train a CNN emotion classifier and write it with its history, report and plots.",
        ),
        "evaluate": (
            "fer_toolkit.cli.evaluate:evaluate",
            "Measure a trained MODEL (a train or search output folder, or a pretrained "
            "network such as mini_xception_fer2013) on labelled data.",
        ),
        "predict": (
            "fer_toolkit.cli.predict:predict",
            "Predict the emotion of every face in INPUTS with a trained MODEL.",
        ),
        "search": (
            "fer_toolkit.cli.search:search",
            "Search hyper-parameters of the train pipeline with cross-validation.",
        ),
        "crop": (
            "fer_toolkit.cli.crop:crop",
            "Crop the faces out of photos, videos, folders and FER2013 CSVs into a dataset.",
        ),
        "pretrain": (
            "fer_toolkit.cli.pretrain:pretrain",
            "Pretrain a backbone on unlabelled faces and write it to --out.",
        ),
        # The name crop had before it read FER CSVs and aligned faces; same command, same options.
        "extract-faces": (
            "fer_toolkit.cli.crop:crop",
            "Crop the faces out of photos, videos, folders and FER2013 CSVs into a dataset.",
        ),
    },
)
@click.version_option(__version__, prog_name="fer-toolkit")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show the full traceback of an error (also accepted after the command).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print nothing but errors; no progress bars (also accepted after the command).",
)
@click.pass_context
def main(ctx, verbose, quiet):
    """Facial emotion recognition in the scikit-learn family.

    Every command has --help with examples; --verbose shows the traceback of
    an error, --quiet prints nothing but errors (before or after the command:
    fer-toolkit --verbose train ... or fer-toolkit train --verbose ...).

    \b
    Start here:
      fer-toolkit quickstart --out quickstart_output
    \b
    A FER project, step by step:
      fer-toolkit crop fer2013.csv --out fer_mtcnn --format csv
      fer-toolkit train --data fer_mtcnn/fer2013.csv --label-set happy_sad_surprise_neutral \\
          --out model
      fer-toolkit search --data fer_mtcnn/fer2013.csv --grid grid.json --out search
      fer-toolkit evaluate model --data fer_mtcnn/fer2013.csv --out model/test
      fer-toolkit predict model photos/ clip.mp4 --annotate --out predictions
    """
    # ctx.meta is shared with the command's context, where FerCommand reads them.
    ctx.meta[VERBOSE] = verbose
    ctx.meta[_QUIET] = quiet
