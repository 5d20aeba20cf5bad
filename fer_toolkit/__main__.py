"""The ``fer-toolkit`` console script, also run as ``python -m fer_toolkit``.

Only the standard library is imported here: :func:`blas_threads_default` must set
OpenBLAS's environment before NumPy loads it.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys

#: Commands that never call BLAS. NumPy's and OpenCV's wheels each carry an OpenBLAS
#: that starts a pool of worker threads when it is loaded; an idle worker spins for
#: about 2**28 CPU cycles (OpenBLAS's thread timeout) before it sleeps. That cost
#: ``fer-toolkit cascade train`` 0.15 s of CPU time per run (on 2 cores) in threads
#: that never ran BLAS, about a fifth of a small training.
_NO_BLAS_COMMANDS = frozenset({"cascade"})

#: The options of the ``fer-toolkit`` group that may come before the command.
_GROUP_FLAGS = frozenset({"-v", "--verbose", "-q", "--quiet"})


def blas_threads_default(args: list[str], environ=os.environ) -> bool:
    """Start OpenBLAS on one thread for a command that never calls BLAS.

    Sets ``OPENBLAS_NUM_THREADS=1`` in ``environ`` when the command of ``args`` (the
    command line after the program name) is one of ``fer-toolkit cascade``'s, unless
    the variable is set already: a value the user chose is kept. It must run before
    NumPy is imported, and child processes (``--backend opencv``) inherit it.

    Parameters
    ----------
    args : list of str
        The command line without the program name, as ``sys.argv[1:]``.
    environ : mutable mapping, default=os.environ
        The environment to update.

    Returns
    -------
    bool
        Whether ``environ`` was changed.

    Examples
    --------
    >>> env = {}
    >>> blas_threads_default(["-v", "cascade", "train", "-data", "out"], env), env
    (True, {'OPENBLAS_NUM_THREADS': '1'})
    >>> blas_threads_default(["train", "--out", "model"], {})
    False
    >>> blas_threads_default(["cascade", "train"], {"OPENBLAS_NUM_THREADS": "2"})
    False
    """
    if _command(args) not in _NO_BLAS_COMMANDS or "OPENBLAS_NUM_THREADS" in environ:
        return False
    environ["OPENBLAS_NUM_THREADS"] = "1"
    return True


def _command(args: list[str]) -> str | None:
    """The command of a command line without the program name (None when there is none)."""
    return next((arg for arg in args if arg not in _GROUP_FLAGS), None)


def _import_command(args: list[str]):
    """Import the command line and the module of the command that ``args`` run with the
    garbage collector paused, then freeze what the imports made; return the ``main`` group.

    The imports (NumPy, OpenCV, click and the command's modules) create some 50,000
    objects that live as long as the process. Python's collector, left on, walks them
    again and again while they are created, and then at every full collection of the
    command's own work; paused and frozen (:func:`gc.freeze`), ``fer-toolkit cascade
    train`` on a small LBP recipe used about 6% less CPU time. Only the console script
    does this, in a process that runs one command and exits: frozen objects are never
    collected. An unknown command is left for click to report.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        from fer_toolkit.cli.main import main

        target = main.lazy_commands.get(_command(args))
        if target is not None:
            importlib.import_module(target[0].partition(":")[0])
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()
    return main


def run():
    """Run the ``fer-toolkit`` command line on ``sys.argv``."""
    blas_threads_default(sys.argv[1:])
    return _import_command(sys.argv[1:])()


if __name__ == "__main__":
    sys.exit(run())
