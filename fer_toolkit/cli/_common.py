"""What every ``fer-toolkit`` command shares: options, parameter types, the error path, output.

Every command is a :class:`FerCommand`. It adds ``--quiet`` and ``--verbose``
and runs its body inside :func:`user_errors`: a user error (a missing or
malformed file, an invalid value the library rejects, a missing optional
package) prints one ``Error: ...`` line and exits with status 1, without a
traceback unless ``--verbose`` is given. Bugs keep their traceback. Ctrl-C
exits with status 130.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import json
import re
import sys
import traceback
import warnings
from pathlib import Path

import click

__all__ = [
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
    "n_jobs_option",
    "option_group",
    "parse_value",
    "renamed_notes",
    "seed_option",
    "show_progress",
    "user_errors",
]

#: Exceptions that mean "the input or the request is wrong", not "fer_toolkit is broken".
#: The library's validation raises ValueError (scikit-learn's InvalidParameterError and
#: NoFaceError included), file problems are OSError, missing optional packages ImportError.
USER_ERRORS = (OSError, ValueError, ImportError)

#: Exit status of a command stopped with Ctrl-C (128 + SIGINT).
INTERRUPTED_STATUS = 130

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_QUIET = "fer_toolkit.quiet"
VERBOSE = "fer_toolkit.verbose"
_NO_PROGRESS = "fer_toolkit.no_progress"


@contextlib.contextmanager
def user_errors(verbose: bool = False, extra: tuple = ()):
    """Turn user errors raised in the block into one ``Error: ...`` line and exit status 1.

    Parameters
    ----------
    verbose : bool, default=False
        Also print the traceback (to stderr) before the error line.
    extra : tuple of exception classes, default=()
        More exception types to treat as user errors (e.g. a failing external tool).
    """
    try:
        yield
    except (*USER_ERRORS, *extra) as exc:
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
