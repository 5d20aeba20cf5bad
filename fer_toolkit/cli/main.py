"""Entry point of the ``fer-toolkit`` console script."""

from __future__ import annotations

import click

from .. import __version__
from .quickstart import quickstart


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="fer-toolkit")
def main():
    """Facial emotion recognition in the scikit-learn family.

    \b
    Start here:
      fer-toolkit quickstart --out quickstart_output
    """


main.add_command(quickstart)
