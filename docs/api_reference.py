"""Write ``docs/api.rst``: one autosummary table per public subpackage, from its ``__all__``.

``conf.py`` runs :func:`write_api_rst` at every build, so a name added to a subpackage's
``__all__`` gets its page without editing the docs. ``tests/test_docs_api.py`` checks that
the page lists every public name of every subpackage.
"""

import importlib
from pathlib import Path

#: The documented modules, in the order of the reference page, and their headings.
#: ``fer_toolkit.utils`` has no ``__all__`` of its own; its modules each have one.
SECTIONS = [
    ("fer_toolkit.preprocessing", "Transformers"),
    ("fer_toolkit.datasets", "Datasets and label sets"),
    ("fer_toolkit.estimators", "Estimators"),
    ("fer_toolkit.models", "Networks"),
    ("fer_toolkit.detection", "Face detection"),
    ("fer_toolkit.cascade", "Cascade training"),
    ("fer_toolkit.plotting", "Plotting"),
    ("fer_toolkit.utils.validation", "Utilities: input validation"),
    ("fer_toolkit.utils.pixels", "Utilities: pixels"),
    ("fer_toolkit.utils.fileio", "Utilities: files"),
    ("fer_toolkit.utils.discovery", "Utilities: estimator discovery"),
    ("fer_toolkit.utils.estimator_checks", "Utilities: estimator checks"),
    ("fer_toolkit.utils.lazy", "Utilities: lazy imports"),
    ("fer_toolkit.cli", "Command line"),
]

CLI = "fer_toolkit.cli"

_CLI_PAGE = """\
main
====

.. currentmodule:: fer_toolkit.cli

``fer_toolkit.cli.main`` is the ``fer-toolkit`` console script, a
`click <https://click.palletsprojects.com>`_ group. :doc:`/user_guide/command_line`
explains the commands and shows the help of each.

.. click:: fer_toolkit.cli:main
   :prog: fer-toolkit
   :nested: short
"""


def public_names(module_name):
    """The names of ``module_name.__all__``, sorted, grouped by kind (class, function, data)."""
    module = importlib.import_module(module_name)
    groups = {"class": [], "function": [], "data": []}
    for name in sorted(module.__all__, key=str.lower):
        obj = getattr(module, name)
        if isinstance(obj, type):
            groups["class"].append(name)
        elif callable(obj):
            groups["function"].append(name)
        else:
            groups["data"].append(name)
    return groups


def render_api_rst():
    """The text of ``api.rst``."""
    lines = [
        ".. This file is written by docs/api_reference.py at every build; edit that instead.",
        "",
        ".. _api:",
        "",
        "=============",
        "API reference",
        "=============",
        "",
        "Every public name of every subpackage (its ``__all__``), one page each. The",
        ":doc:`user guide <user_guide/index>` explains how they fit together.",
        "",
    ]
    for module_name, title in SECTIONS:
        heading = f"``{module_name}``: {title}"
        lines += [heading, "=" * len(heading), "", f".. automodule:: {module_name}", ""]
        if module_name == CLI:
            # A click group is no function: autosummary would parse its --help text as
            # reST. Its page (written by write_api_rst) renders it with sphinx-click.
            lines += [
                ".. toctree::",
                "   :hidden:",
                "",
                f"   generated/{CLI}.main",
                "",
                f"- :doc:`generated/{CLI}.main`: the ``fer-toolkit`` command line.",
                "",
            ]
            continue
        for kind, names in public_names(module_name).items():
            if names:
                lines += [
                    ".. autosummary::",
                    "   :toctree: generated/",
                    f"   :template: autosummary/{kind}.rst",
                    "",
                    *(f"   {name}" for name in names),
                    "",
                ]
    return "\n".join(lines)


def _write_if_changed(path, text):
    # Rewriting an unchanged file would make Sphinx rebuild every page that depends on it.
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write_api_rst(docs_dir):
    """Write ``api.rst`` and the command line's page (``generated/``) under ``docs_dir``."""
    docs_dir = Path(docs_dir)
    _write_if_changed(docs_dir / "api.rst", render_api_rst())
    _write_if_changed(docs_dir / "generated" / f"{CLI}.main.rst", _CLI_PAGE)
