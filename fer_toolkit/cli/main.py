"""Entry point of the ``fer-toolkit`` console script."""

from __future__ import annotations

import click

from .. import __version__
from ._common import FerGroup
from .cascade import cascade
from .crop import crop
from .evaluate import evaluate
from .predict import predict
from .pretrain import pretrain
from .quickstart import quickstart
from .search import search
from .train import train


@click.group(cls=FerGroup)
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
      fer-toolkit train --data fer_mtcnn/fer2013.csv --label-set seed004 --out model
      fer-toolkit search --data fer_mtcnn/fer2013.csv --grid grid.json --out search
      fer-toolkit evaluate model --data fer_mtcnn/fer2013.csv --out model/test
      fer-toolkit predict model photos/ clip.mp4 --annotate --out predictions
    """


main.add_command(quickstart)
main.add_command(cascade)
main.add_command(train)
main.add_command(evaluate)
main.add_command(predict)
main.add_command(search)
main.add_command(crop)
main.add_command(pretrain)
# The name crop had before it read FER CSVs and aligned faces; same command, same options.
main.add_command(crop, name="extract-faces")
