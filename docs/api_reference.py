"""Write the API reference: ``api.rst`` and one page per public module, from each ``__all__``.

``conf.py`` runs :func:`write_api_reference` at every build, so a name added to a module's
``__all__`` gets its page without editing the docs. ``api.rst`` is the index of every name;
``api/<module>.rst`` holds the autosummary tables that generate one page per name under
``api/generated/``. ``tests/test_docs_api.py`` checks that every public name is listed.
``api/<tool>_flags.txt`` are the Markdown tables of OpenCV's flags that the cascade
training guide includes, written from ``fer_toolkit.cascade``'s flag tables.
"""

import importlib
from pathlib import Path

#: The documented modules, in the order of the reference, and their headings.
#: ``fer_toolkit.utils`` has no ``__all__`` of its own; its modules each have one.
SECTIONS = [
    ("fer_toolkit.preprocessing", "Transformers"),
    ("fer_toolkit.datasets", "Datasets and label sets"),
    ("fer_toolkit.estimators", "Estimators"),
    ("fer_toolkit.models", "Networks"),
    ("fer_toolkit.detection", "Face detection"),
    ("fer_toolkit.cascade", "Cascade training"),
    ("fer_toolkit.plotting", "Plotting"),
    ("fer_toolkit.utils.validation", "Input validation"),
    ("fer_toolkit.utils.pixels", "Pixel conversions"),
    ("fer_toolkit.utils.boxes", "Box geometry"),
    ("fer_toolkit.utils.fileio", "Atomic files and folder locks"),
    ("fer_toolkit.utils.untrusted", "Untrusted input"),
    ("fer_toolkit.utils.threads", "Threads and CPU contention"),
    ("fer_toolkit.utils.memory", "Memory reuse during training"),
    ("fer_toolkit.utils.discovery", "Estimator discovery"),
    ("fer_toolkit.utils.estimator_checks", "Estimator checks"),
    ("fer_toolkit.cli", "Command line"),
]

CLI = "fer_toolkit.cli"

#: The flag tables of ``fer_toolkit.cascade`` and the files they are written to, under api/.
FLAG_TABLES = {"TRAINCASCADE": "traincascade_flags.txt", "CREATESAMPLES": "createsamples_flags.txt"}

_KINDS = {"class": "Classes", "function": "Functions", "data": "Constants"}

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
    groups = {kind: [] for kind in _KINDS}
    for name in sorted(module.__all__, key=str.lower):
        obj = getattr(module, name)
        if isinstance(obj, type):
            groups["class"].append(name)
        elif callable(obj):
            groups["function"].append(name)
        else:
            groups["data"].append(name)
    return groups


def _heading(text, line):
    return [text, line * len(text), ""]


def _table(names, toctree, template=None):
    options = [f"   :toctree: {toctree}"] if toctree else []
    options += [f"   :template: autosummary/{template}.rst"] if template else []
    return [".. autosummary::", *options, "", *(f"   {name}" for name in names), ""]


def render_module_page(module_name, title):
    """The text of ``api/<module_name>.rst``: the module's docstring and one table per kind."""
    lines = _heading(f"{module_name}: {title}", "=")
    lines += [f".. automodule:: {module_name}", ""]
    if module_name == CLI:
        # A click group is no function: autosummary would parse its --help text as reST.
        # Its page (written by write_api_reference) renders it with sphinx-click.
        lines += [".. toctree::", "   :hidden:", "", "   generated/fer_toolkit.cli.main", ""]
        lines += [f"- :doc:`generated/{CLI}.main`: the ``fer-toolkit`` command line.", ""]
        return "\n".join(lines)
    for kind, names in public_names(module_name).items():
        if names:
            lines += _heading(_KINDS[kind], "-")
            lines += _table(names, "generated/", kind)
    return "\n".join(lines)


def render_index():
    """The text of ``api.rst``: every public name of every module, with its summary line."""
    lines = [
        ".. This file is written by docs/api_reference.py at every build; edit that instead.",
        "",
        ".. _api:",
        "",
        *_heading("API reference", "="),
        "Every public name of fer_toolkit (each module's ``__all__``), with a page each. The",
        ":doc:`user guide <user_guide/index>` explains how they fit together.",
        "",
        ".. toctree::",
        "   :hidden:",
        "",
        *(f"   api/{module_name}" for module_name, _ in SECTIONS),
        "",
    ]
    for module_name, title in SECTIONS:
        lines += _heading(f"{title}: :doc:`{module_name} <api/{module_name}>`", "-")
        lines += [f".. currentmodule:: {module_name}", ""]
        if module_name == CLI:
            lines += [f"- :doc:`main <api/generated/{CLI}.main>`: the ``fer-toolkit`` command.", ""]
            continue
        names = [name for group in public_names(module_name).values() for name in group]
        lines += _table(names, toctree=None)
    return "\n".join(lines)


def _write_if_changed(path, text):
    # Rewriting an unchanged file would make Sphinx rebuild every page that depends on it.
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write_api_reference(docs_dir):
    """Write ``api.rst``, ``api/<module>.rst``, the command line's page and the flag tables."""
    docs_dir = Path(docs_dir)
    cascade = importlib.import_module("fer_toolkit.cascade")
    for name, file_name in FLAG_TABLES.items():
        _write_if_changed(docs_dir / "api" / file_name, getattr(cascade, name).markdown() + "\n")
    _write_if_changed(docs_dir / "api.rst", render_index())
    for module_name, title in SECTIONS:
        page = render_module_page(module_name, title)
        _write_if_changed(docs_dir / "api" / f"{module_name}.rst", page)
    _write_if_changed(docs_dir / "api" / "generated" / f"{CLI}.main.rst", _CLI_PAGE)
