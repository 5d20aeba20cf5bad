"""The ``fer-toolkit`` command line (click)."""

from .main import main

__all__ = ["main"]
