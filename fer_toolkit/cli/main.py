"""Entry point of the ``fer-toolkit`` console script."""

from __future__ import annotations

import importlib

import click

from .. import __version__
from ._common import FerGroup


class LazyGroup(FerGroup):
    """A :class:`FerGroup` that imports the module of a command only when it is needed.

    ``fer-toolkit --version`` or ``fer-toolkit train ...`` then import none of the
    other commands. The command modules themselves import PyTorch only in the
    functions that run it, so that ``--help``, which imports them all for their
    summaries, stays fast too.

    Parameters
    ----------
    lazy_commands : dict of str to str
        Command name -> ``"module:attribute"`` of the command object.
    """

    def __init__(self, *args, lazy_commands: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = self.lazy_commands[cmd_name].partition(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(
    cls=LazyGroup,
    lazy_commands={
        "quickstart": "fer_toolkit.cli.quickstart:quickstart",
        "cascade": "fer_toolkit.cli.cascade:cascade",
        "train": "fer_toolkit.cli.train:train",
        "evaluate": "fer_toolkit.cli.evaluate:evaluate",
        "predict": "fer_toolkit.cli.predict:predict",
        "search": "fer_toolkit.cli.search:search",
        "crop": "fer_toolkit.cli.crop:crop",
        "pretrain": "fer_toolkit.cli.pretrain:pretrain",
        # The name crop had before it read FER CSVs and aligned faces; same command, same options.
        "extract-faces": "fer_toolkit.cli.crop:crop",
    },
)
@click.version_option(__version__, prog_name="fer-toolkit")
def main():
    """Facial emotion recognition in the scikit-learn family.

    Every command has --help with examples; --verbose shows the traceback of
    an error, --quiet prints nothing but errors.

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
