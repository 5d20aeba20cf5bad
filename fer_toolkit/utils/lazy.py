"""Package attributes imported on first use (PEP 562), to keep PyTorch out of light imports."""

from __future__ import annotations

import importlib
import sys

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, modules: dict[str, list[str]]):
    """``(__getattr__, __dir__)`` for ``package``: the names of ``modules`` load on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    modules : dict of str to list of str
        Submodule name (relative to ``package``) -> the public names it gives.

    Returns
    -------
    getattr, dir : callable
        To assign to the package's ``__getattr__`` and ``__dir__``. A name is
        imported from its submodule on first access and then stored in the
        package, so later accesses are plain attribute lookups;
        ``from package import name`` works as for any other attribute.

    Examples
    --------
    >>> import fer_toolkit.detection as detection
    >>> "MTCNN" in dir(detection)  # listed before it is imported
    True
    >>> detection.MTCNN.__module__
    'fer_toolkit.detection.mtcnn'
    """
    owner = {name: module for module, names in modules.items() for name in names}
    namespace = sys.modules[package].__dict__

    def __getattr__(name):
        if name not in owner:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{owner[name]}", package), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted({*namespace, *owner})

    return __getattr__, __dir__
