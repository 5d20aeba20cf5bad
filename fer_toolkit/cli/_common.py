"""What every ``fer-toolkit`` command shares: options, parameter types, the error path, output.

Every command is a :class:`FerCommand`. It adds ``--quiet`` and ``--verbose``
and runs its body inside :func:`user_errors`: a user error (the library's
:class:`~fer_toolkit.utils.validation.InputError` for a malformed file or an
invalid value, scikit-learn's parameter validation, a file that is missing,
unreadable or a folder, a missing optional package) prints one ``Error: ...``
line and exits with status 1, without a traceback unless ``--verbose`` is
given. Any other exception is a bug: it keeps its traceback, after a line
saying so. Ctrl-C exits with status 130.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import errno
import functools
import json
import re
import sys
import traceback
import warnings
from pathlib import Path

import click

from ..utils.validation import InputError

__all__ = [
    "BUG_MESSAGE",
    "ENVIRONMENT_ERRNOS",
    "INTERRUPTED_STATUS",
    "USER_ERRORS",
    "DeviceParam",
    "FerCommand",
    "FerGroup",
    "NJobsParam",
    "SettingParam",
    "SizeParam",
    "device_option",
    "echo",
    "fit_options",
    "is_quiet",
    "is_user_error",
    "n_jobs_option",
    "option_group",
    "parse_value",
    "renamed_notes",
    "seed_option",
    "show_progress",
    "user_errors",
]

#: Exceptions that mean "the input or the request is wrong", not "fer_toolkit is broken":
#: the library's InputError (NoFaceError included), a file that is missing, unreadable, a
#: folder or not one, and a missing optional package. scikit-learn's InvalidParameterError
#: and an OSError that names a file are user errors too (see is_user_error); any other
#: ValueError, OSError or exception is a bug and keeps its traceback.
USER_ERRORS = (
    InputError,
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    # fer_toolkit does no non-blocking I/O: this is its folder lock saying that another
    # run holds the output folder (fer_toolkit.utils.fileio.folder_lock).
    BlockingIOError,
    ImportError,
)

#: OSErrors about the machine rather than the code: the disk is full, over quota or
#: read-only. One line, like a user error, whether or not they name the file.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})

#: Printed before the traceback of an exception that is not a user error.
BUG_MESSAGE = (
    "fer-toolkit failed with an unexpected {name}: this is a bug in fer_toolkit, not a "
    "problem with your input. Please report it with the traceback below."
)


def is_user_error(exc: BaseException, extra: tuple = ()) -> bool:
    """Whether ``exc`` is a user error (one ``Error:`` line) rather than a bug (a traceback).

    Parameters
    ----------
    exc : BaseException
        The exception a command raised.
    extra : tuple of exception classes, default=()
        More exception types to treat as user errors.

    Returns
    -------
    bool
        True for the types of :data:`USER_ERRORS` and ``extra``, scikit-learn's
        ``InvalidParameterError`` (an estimator's parameter out of range), an
        ``OSError`` that names a file (``filename``) or was raised with a
        message naming it (no ``errno``), and a full or read-only disk
        (:data:`ENVIRONMENT_ERRNOS`). An ``OSError`` with an ``errno`` but no
        file (an invalid system call) is a bug, and so is an ``ImportError``
        of a fer_toolkit module (a missing optional package is a user error).

    Examples
    --------
    >>> from fer_toolkit.cli._common import is_user_error
    >>> from fer_toolkit.utils.validation import InputError
    >>> is_user_error(InputError("data.csv, line 3: has 2 fields, expected 3."))
    True
    >>> is_user_error(OSError(28, "No space left on device", "out/model.pt"))
    True
    >>> is_user_error(OSError(28, "No space left on device"))
    True
    >>> is_user_error(OSError("cannot write test image 'out/0001.jpg'."))
    True
    >>> is_user_error(OSError(9, "Bad file descriptor"))
    False
    >>> is_user_error(ValueError("operands could not be broadcast together"))
    False
    >>> is_user_error(KeyError("internal"))
    False
    >>> is_user_error(ModuleNotFoundError("No module named 'distributed'", name="distributed"))
    True
    >>> is_user_error(ImportError("cannot import name 'x'", name="fer_toolkit.cli._data"))
    False
    """
    if isinstance(exc, ImportError) and (exc.name or "").split(".")[0] == "fer_toolkit":
        return False  # not a missing optional package: fer_toolkit's own import is broken
    if isinstance(exc, (*USER_ERRORS, *extra)):
        return True
    # Looked up, not imported: the command line starts without scikit-learn, and an
    # InvalidParameterError can only have been raised once its module was loaded.
    param_validation = sys.modules.get("sklearn.utils._param_validation")
    if param_validation is not None and isinstance(exc, param_validation.InvalidParameterError):
        return True
    # An OSError without an errno was raised with a message, not by the operating system:
    # fer_toolkit's own ("cannot write test image 'x.jpg'") name the file at fault.
    return isinstance(exc, OSError) and (
        exc.filename is not None or exc.errno is None or exc.errno in ENVIRONMENT_ERRNOS
    )


#: Exit status of a command stopped with Ctrl-C (128 + SIGINT).
INTERRUPTED_STATUS = 130

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_QUIET = "fer_toolkit.quiet"
VERBOSE = "fer_toolkit.verbose"
_NO_PROGRESS = "fer_toolkit.no_progress"


@contextlib.contextmanager
def user_errors(verbose: bool = False, extra: tuple = ()):
    """Turn user errors raised in the block into one ``Error: ...`` line and exit status 1.

    A user error is what :func:`is_user_error` says is one. Any other exception
    is re-raised, after a line on stderr saying that it is a bug, so that its
    traceback is shown.

    Parameters
    ----------
    verbose : bool, default=False
        Also print the traceback (to stderr) before the error line.
    extra : tuple of exception classes, default=()
        More exception types to treat as user errors (e.g. a failing external tool).
    """
    try:
        yield
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise  # click's own errors and exits: click prints them
    except Exception as exc:
        if not is_user_error(exc, extra):
            click.echo(BUG_MESSAGE.format(name=type(exc).__name__), err=True)
            raise
        if verbose:
            traceback.print_exc(file=sys.stderr)
        message = str(exc) or type(exc).__name__
        raise click.ClickException(message) from None


#: In the FutureWarning of a renamed model or label set: "model 'x' is now called 'y'; ...".
_RENAMED_MARK = " is now called "


@contextlib.contextmanager
def renamed_notes():
    """Print the warning about a renamed model or label set as one ``note: ...`` line on stderr.

    Other warnings are shown as usual.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "always", message=".*" + re.escape(_RENAMED_MARK), category=FutureWarning
        )
        show = warnings.showwarning

        def note(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, FutureWarning) and _RENAMED_MARK in str(message):
                click.echo(f"note: {message}", err=True)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = note
        yield


class FerCommand(click.Command):
    """A command with ``--quiet`` / ``--verbose`` and the common error path.

    Subclasses may extend :attr:`user_error_types` with exceptions of their own
    that are user errors (``fer-toolkit cascade`` adds a failing OpenCV tool).
    """

    user_error_types: tuple = ()

    def __init__(self, *args, **kwargs):
        settings = {**CONTEXT_SETTINGS, **kwargs.pop("context_settings", {})}
        super().__init__(*args, context_settings=settings, **kwargs)
        self.params.append(
            click.Option(
                ["-q", "--quiet"], is_flag=True, help="Print nothing but errors; no progress bars."
            )
        )
        self.params.append(
            click.Option(
                ["-v", "--verbose"],
                is_flag=True,
                help="Show the full traceback of an error.",
            )
        )

    def parse_args(self, ctx, args):
        with renamed_notes():
            return super().parse_args(ctx, args)

    def invoke(self, ctx):
        # Given before the command (fer-toolkit --verbose train ...), they are in ctx.meta.
        verbose = ctx.params.pop("verbose", False) or ctx.meta.get(VERBOSE, False)
        ctx.meta[_QUIET] = ctx.params.pop("quiet", False) or ctx.meta.get(_QUIET, False)
        try:
            with user_errors(verbose, self.user_error_types), renamed_notes():
                return super().invoke(ctx)
        except KeyboardInterrupt:
            # Every command: 128 + SIGINT, as shells report it (click alone says "Aborted!", 1).
            click.echo("\nInterrupted.", err=True)
            ctx.exit(INTERRUPTED_STATUS)


class FerGroup(click.Group):
    """A group whose commands are :class:`FerCommand` unless they say otherwise."""

    command_class = FerCommand

    def __init__(self, *args, **kwargs):
        settings = {**CONTEXT_SETTINGS, **kwargs.pop("context_settings", {})}
        super().__init__(*args, context_settings=settings, **kwargs)


FerGroup.group_class = FerGroup


def is_quiet() -> bool:
    """Whether the running command was given ``--quiet``."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_QUIET, False))


def show_progress() -> bool:
    """Whether progress bars are wanted: not with ``--quiet`` (nor ``--no-progress``)."""
    ctx = click.get_current_context(silent=True)
    return not (is_quiet() or (ctx is not None and ctx.meta.get(_NO_PROGRESS, False)))


def no_progress_option(func):
    """``--no-progress``: keep the summary but drop the progress bars."""

    def remember(ctx, param, value):
        ctx.meta[_NO_PROGRESS] = value
        return value

    return click.option(
        "--no-progress",
        is_flag=True,
        expose_value=False,
        callback=remember,
        help="No progress bars (the summary is still printed).",
    )(func)


def echo(message: str = "", **kwargs) -> None:
    """``click.echo`` unless the command runs with ``--quiet``."""
    if not is_quiet():
        click.echo(message, **kwargs)


# ----------------------------------------------------------------- parameter types
class SizeParam(click.ParamType):
    """``48`` (a square) or ``HEIGHTxWIDTH`` such as ``64x48``, at most :attr:`max_side`."""

    name = "SIZE"
    #: Largest side accepted: larger crops would only allocate gigabytes of upscaled pixels.
    max_side = 4096

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", str(value))
        if not match or int(match[1]) == 0 or (match[2] is not None and int(match[2]) == 0):
            self.fail(f"{value!r} is not a size: use 48 or HEIGHTxWIDTH such as 64x48.", param, ctx)
        height = int(match[1])
        size = (height, int(match[2]) if match[2] is not None else height)
        if max(size) > self.max_side:
            self.fail(
                f"{value!r} is too large: face crops are at most {self.max_side} pixels a side.",
                param,
                ctx,
            )
        return size


class DeviceParam(click.ParamType):
    """A torch device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``..."""

    name = "DEVICE"

    def convert(self, value, param, ctx):
        value = str(value).strip()
        if value == "auto":
            return value
        # Here rather than at the top: --help and the other commands do not need PyTorch.
        import torch

        try:
            device = torch.device(value)
        except RuntimeError:
            self.fail(f"{value!r} is not a device: use auto, cpu, cuda or cuda:N.", param, ctx)
        if device.type == "cuda":
            if not torch.cuda.is_available():
                self.fail(
                    f"{value!r}: CUDA is not available on this machine; use --device cpu "
                    "(or auto).",
                    param,
                    ctx,
                )
            if device.index is not None and device.index >= torch.cuda.device_count():
                self.fail(
                    f"{value!r}: there are {torch.cuda.device_count()} CUDA devices.", param, ctx
                )
        elif device.type != "cpu":
            self.fail(f"{value!r} is not a device: use auto, cpu, cuda or cuda:N.", param, ctx)
        return value


class NJobsParam(click.ParamType):
    """joblib's ``n_jobs``: a positive count, or -1 for every core (-2 all but one...)."""

    name = "N"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not an integer.", param, ctx)
        if number == 0:
            self.fail(
                "0 jobs would do nothing: use a positive count, or -1 for all cores.", param, ctx
            )
        return number


def parse_value(text: str):
    """A ``--set`` value: JSON when it parses (numbers, true/false/null, lists), else a string.

    Examples
    --------
    >>> from fer_toolkit.cli._common import parse_value
    >>> parse_value("0.003"), parse_value("true"), parse_value("[0.5, 1.5]"), parse_value("cosine")
    (0.003, True, [0.5, 1.5], 'cosine')
    """
    try:
        return json.loads(text)
    except ValueError:
        return text


class SettingParam(click.ParamType):
    """``NAME=VALUE``, the value parsed by :func:`parse_value`."""

    name = "NAME=VALUE"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        name, sep, text = str(value).partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            self.fail(f"{value!r} is not NAME=VALUE (e.g. lr=0.003, module__width=16).", param, ctx)
        return name, parse_value(text.strip())


def closest(name: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


# ---------------------------------------------------------------- common options
def option_group(name: str, group: type, options: list):
    """A decorator adding ``options`` to a command, which receives them as one argument.

    Parameters
    ----------
    name : str
        The command function's parameter that receives the group.
    group : dataclass type
        Its fields are the options' parameter names; the command receives
        ``group(**their values)``.
    options : list of click.option decorators
        In the order ``--help`` lists them.

    Examples
    --------
    >>> import dataclasses, click
    >>> from click.testing import CliRunner
    >>> @dataclasses.dataclass
    ... class Size:
    ...     width: int
    ...     height: int
    >>> size_options = option_group("size", Size, [
    ...     click.option("--width", type=int, default=1), click.option("--height", type=int)])
    >>> @click.command()
    ... @size_options
    ... def area(size):
    ...     click.echo(size)
    >>> print(CliRunner().invoke(area, ["--height", "3"]).output)
    Size(width=1, height=3)
    <BLANKLINE>
    """
    fields = [field.name for field in dataclasses.fields(group)]

    def decorate(func):
        @functools.wraps(func)
        def command(*args, **kwargs):
            kwargs[name] = group(**{field: kwargs.pop(field) for field in fields})
            return func(*args, **kwargs)

        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def seed_option(func):
    """``--seed``: the random seed of data splits, synthetic data and training."""
    return click.option(
        "--seed",
        type=int,
        default=0,
        show_default=True,
        help="Random seed (data splits, synthetic data, weights, shuffling).",
    )(func)


def device_option(func):
    """``--device``: where PyTorch (CNNs, MTCNN) runs."""
    return click.option(
        "--device",
        type=DeviceParam(),
        default="auto",
        show_default=True,
        help="Where PyTorch runs: auto (CUDA when available), cpu, cuda, cuda:1.",
    )(func)


def n_jobs_option(help_text: str, default=None):
    """``--n-jobs`` with a command-specific meaning in ``help_text``."""
    return click.option(
        "--n-jobs",
        type=NJobsParam(),
        default=default,
        show_default=default is not None,
        help=f"{help_text} (-1: all cores).",
    )


def fit_options(out_help: str, n_jobs_help: str):
    """``--out`` (required), ``--seed``, ``--device`` and ``--n-jobs``: what ``train`` and
    ``search`` end with; ``out_help`` and ``n_jobs_help`` say what they mean there."""
    options = [
        click.option(
            "--out",
            "out_dir",
            required=True,
            type=click.Path(file_okay=False, path_type=Path),
            help=out_help,
        ),
        seed_option,
        device_option,
        n_jobs_option(n_jobs_help),
    ]

    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func

    return decorate
