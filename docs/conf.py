"""Sphinx configuration of the fer_toolkit documentation.

Build it with ``sphinx-build -W -n -b html docs docs/_build/html`` (README: Documentation).
``-D plot_gallery=0`` skips running the examples (CI does; tests/test_examples.py runs them).
"""

import importlib
import os
import pkgutil
import sys
import warnings
from pathlib import Path

import matplotlib
from sphinx.pycode import ModuleAnalyzer

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))
sys.path.insert(0, str(DOCS.parent))  # a source checkout builds without installing

matplotlib.use("agg")
os.environ.setdefault("OMP_NUM_THREADS", "2")

from api_reference import write_api_reference  # noqa: E402
from gallery_scraper import FigureScraper  # noqa: E402

import fer_toolkit  # noqa: E402

write_api_reference(DOCS)

project = "fer_toolkit"
author = "fer_toolkit developers"
copyright = "fer_toolkit developers"
release = version = fer_toolkit.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.py"]
templates_path = ["_templates"]

# API pages: one per name in each subpackage's __all__ (api_reference.py writes api.rst
# and api/<module>.rst).
autosummary_generate = True
autosummary_imported_members = True
autodoc_preserve_defaults = True  # signatures show `nn.CrossEntropyLoss`, not its repr
autodoc_typehints = "none"  # numpydoc's Parameters section says it in words
autodoc_default_options = {"member-order": "groupwise"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False

# -n (nitpicky) checks every internal reference; other projects' names are not ours to resolve
# (no intersphinx: the build runs offline).
nitpick_ignore_regex = [
    ("py:(class|mod)", r"(Checkpoint|pickle|skimage\b.*)"),  # in docstrings skorch lends us
    ("py:func", r"(open|print|repr|isinstance|len|pickle\..*)"),
    ("py:.*", r"(warnings|os|json|subprocess|threading|concurrent|shutil)\..*"),  # stdlib
    ("py:.*", r"(numpy|np|scipy|sklearn|torch|skorch|cv2|matplotlib|click|joblib|dask|PIL)\b.*"),
    ("py:.*", r"(array-like|array_like|ndarray|optional|callable|path-like|file-like)"),
    ("py:class", r"(Path|pathlib\.Path|collections\.abc\..*|typing\..*|os\.PathLike)"),
]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Gallery: every examples/plot_*.py, run at build time, figures scraped into the page.
sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("fer_toolkit",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"fer_toolkit": None},
    "image_scrapers": (FigureScraper(),),
    "remove_config_comments": True,
    "min_reported_time": 5,
    "show_memory": False,
    "download_all_examples": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"fer_toolkit {version}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "github_url": "https://github.com/fer-toolkit/fer_toolkit",
    "navbar_align": "left",
    "show_toc_level": 2,
    # Gallery pages without the right-hand column: their code lines (up to 100 characters)
    # then fit without a horizontal scroll bar.
    "secondary_sidebar_items": {
        **{page: ["page-toc"] for page in ("index", "api", "benchmarks", "changelog")},
        **{pattern: ["page-toc"] for pattern in ("user_guide/*", "api/*", "api/generated/*")},
        "auto_examples/*": [],
    },
    "navigation_with_keys": False,
}
html_show_sourcelink = False


def _constant_docstring(app, what, name, obj, options, lines):
    """Give an exported constant the ``#:`` comment of the module that defines it.

    autodoc looks for the comment in the module the name is documented under (the
    subpackage), finds none, and falls back to the docstring of the value's type
    (``tuple``, ``ndarray``...), which says nothing about the constant. Every exported
    constant is a plain value (its type comes from elsewhere), so its docstring is replaced.
    """
    if what != "data" or type(obj).__module__.startswith("fer_toolkit"):
        return
    package_name, _, attribute = name.rpartition(".")
    package = importlib.import_module(package_name)
    del lines[:]
    for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
        module = f"{package_name}.{info.name}"
        comment = ModuleAnalyzer.for_module(module).find_attr_docs().get(("", attribute))
        if comment:
            lines.extend(comment)
            return


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Document the methods fer_toolkit writes docstrings for.

    Methods of skorch, scikit-learn or torch base classes are documented there; so are the
    skorch hooks our classes override without a docstring of their own (autodoc would show
    skorch's text).
    """
    if what != "class":
        return None
    function = getattr(obj, "fget", obj)
    function = getattr(function, "__func__", function)
    if not callable(function):
        return None
    ours = (getattr(function, "__module__", None) or "").startswith("fer_toolkit")
    return True if not ours or not function.__doc__ else None


def _escape_help_stars(app, ctx, lines):
    """``root/<class>/*`` in click help is text, not the start of reST emphasis."""
    for i, line in enumerate(lines):
        if line.startswith(" ") and "*" in line:
            lines[i] = line.replace("*", r"\*")


def setup(app):
    app.connect("autodoc-process-docstring", _constant_docstring)
    app.connect("autodoc-skip-member", _skip_foreign_members)
    app.connect("sphinx-click-process-options", _escape_help_stars)


# Import-time messages of third-party libraries are not warnings about the docs.
warnings.filterwarnings("ignore", category=UserWarning, module="torch")
