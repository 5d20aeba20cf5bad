"""Parameter-grid files for ``fer-toolkit search``: JSON, or YAML (with PyYAML).

A grid is an object ``{name: values}``, or a list of such objects (scikit-learn's
list of grids). ``values`` is a non-empty list of candidates, or, for random
searches, a distribution: ``{"uniform": [low, high]}``, ``{"loguniform": [low,
high]}`` or ``{"randint": [low, high]}`` (``high`` excluded), as in
:mod:`scipy.stats`.
"""

from __future__ import annotations

import json
import math
import os
from numbers import Integral, Real

from scipy import stats

from ..utils.validation import InputError

__all__ = ["DISTRIBUTIONS", "load_param_grid", "parse_param_grid"]

#: Distribution names allowed in grid files, with the scipy.stats factory for ``[low, high]``.
DISTRIBUTIONS = {
    "uniform": lambda low, high: stats.uniform(low, high - low),
    "loguniform": stats.loguniform,
    "randint": stats.randint,
}


def load_param_grid(path) -> list[dict]:
    """Read and check a grid file (``.json``, or ``.yaml`` / ``.yml``).

    Returns
    -------
    grids : list of dict
        Parameter name to a list of values or a scipy.stats distribution.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ImportError
        For a YAML file without PyYAML installed.
    ValueError
        For a file that does not parse or does not describe a grid; the message
        names the file and the line, or the entry, at fault.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.cli._grid import load_param_grid
    >>> path = os.path.join(tempfile.mkdtemp(), "grid.json")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"lr": [0.001, 0.003], "module__width": [8, 16]}')
    >>> load_param_grid(path)
    [{'lr': [0.001, 0.003], 'module__width': [8, 16]}]
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (a JSON or YAML grid): {exc}.") from None
    if path.lower().endswith((".yaml", ".yml")):
        document = _parse_yaml(text, path)
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}."
            ) from None
    return parse_param_grid(document, path)


def _parse_yaml(text: str, path: str):
    try:
        import yaml
    except ImportError:
        raise ImportError(
            f"{path} is YAML, which needs PyYAML: pip install pyyaml (or 'fer_toolkit[dask]'), "
            "or write the grid as JSON."
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{path}{where}: invalid YAML: {problem}.") from None


def parse_param_grid(document, where: str = "grid") -> list[dict]:
    """Check a parsed grid document; return it as a list of grids (see :func:`load_param_grid`).

    Examples
    --------
    >>> from fer_toolkit.cli._grid import parse_param_grid
    >>> grid = parse_param_grid({"lr": {"loguniform": [1e-4, 1e-2]}, "batch_size": [32, 64]})
    >>> type(grid[0]["lr"]).__name__, grid[0]["batch_size"]
    ('rv_continuous_frozen', [32, 64])
    """
    grids = document if isinstance(document, list) else [document]
    if not grids:
        raise InputError(f"{where}: the list of grids is empty.")
    checked = []
    for number, grid in enumerate(grids):
        at = (
            where
            if len(grids) == 1 and not isinstance(document, list)
            else f"{where}, grid {number}"
        )
        if not isinstance(grid, dict) or not grid:
            raise InputError(f"{at}: expected a non-empty object {{name: [values]}}; got {grid!r}.")
        checked.append(
            {_check_name(name, at): _values(name, values, at) for name, values in grid.items()}
        )
    return checked


def _check_name(name, at: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{at}: parameter names must be non-empty strings; got {name!r}.")
    return name


def _values(name: str, values, at: str):
    if isinstance(values, list):
        if not values:
            raise InputError(f"{at}: {name!r} has an empty list of values.")
        return values
    if isinstance(values, dict) and len(values) == 1:
        ((kind, bounds),) = values.items()
        if kind not in DISTRIBUTIONS:
            raise InputError(
                f"{at}: {name!r}: unknown distribution {kind!r}; use one of "
                f"{', '.join(DISTRIBUTIONS)}."
            )
        if (
            not isinstance(bounds, list)
            or len(bounds) != 2
            or not all(isinstance(b, Real) and not isinstance(b, bool) for b in bounds)
            or not all(math.isfinite(b) for b in bounds)
            or not bounds[0] < bounds[1]
        ):
            raise InputError(
                f"{at}: {name!r}: {kind} needs [low, high] with finite numbers low < high; "
                f"got {bounds!r}."
            )
        if kind == "loguniform" and bounds[0] <= 0:
            raise InputError(f"{at}: {name!r}: loguniform needs low > 0; got {bounds!r}.")
        if kind == "randint" and not all(isinstance(b, Integral) for b in bounds):
            raise InputError(f"{at}: {name!r}: randint needs integer bounds; got {bounds!r}.")
        return DISTRIBUTIONS[kind](*bounds)
    raise InputError(
        f"{at}: {name!r} must be a list of values or one distribution such as "
        f'{{"loguniform": [0.0001, 0.01]}}; got {values!r}.'
    )


def has_distributions(grids: list[dict]) -> bool:
    """Whether any grid holds a distribution (which only random searches can sample)."""
    return any(not isinstance(values, list) for grid in grids for values in grid.values())
