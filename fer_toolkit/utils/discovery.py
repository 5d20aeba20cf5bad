"""Find every public estimator of fer_toolkit, the way scikit-learn's ``all_estimators`` does."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from sklearn.base import BaseEstimator

__all__ = ["all_estimators"]

_SKIPPED_PACKAGES = ("fer_toolkit.cli", "fer_toolkit.cascades")


def all_estimators() -> list[tuple[str, type]]:
    """Return ``(name, class)`` for every public estimator class in fer_toolkit.

    Every module is imported; classes whose name starts with an underscore,
    abstract bases, and classes re-exported from other libraries are left out.
    The shared contract test runs over this list, so a new estimator is
    covered as soon as it exists.

    Examples
    --------
    >>> from fer_toolkit.utils.discovery import all_estimators
    >>> "Resize" in dict(all_estimators())
    True
    """
    import fer_toolkit

    found: dict[str, type] = {}
    for module_info in pkgutil.walk_packages(fer_toolkit.__path__, prefix="fer_toolkit."):
        name = module_info.name
        if name.startswith(_SKIPPED_PACKAGES) or any(
            part.startswith("_") for part in name.split(".")
        ):
            continue
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, BaseEstimator)
                and cls.__module__.startswith("fer_toolkit.")
                and not cls_name.startswith("_")
                and not inspect.isabstract(cls)
                and "__init__" in vars(cls)
            ):
                found[cls_name] = cls
    return sorted(found.items())
