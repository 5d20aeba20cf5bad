"""The API reference has a page for every public name (docs/api_reference.py writes it)."""

import importlib
import importlib.util
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fer_toolkit

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def api_reference():
    spec = importlib.util.spec_from_file_location("api_reference", DOCS / "api_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _listed(rst):
    """``{module: [names]}`` listed in the autosummary tables of the reST text ``rst``."""
    listed, module, in_table = {}, None, False
    for line in rst.splitlines():
        if line.startswith((".. automodule:: ", ".. currentmodule:: ")):
            module = line.split()[-1]
            listed.setdefault(module, [])
        elif line.startswith(".. autosummary::"):
            in_table = True
        elif in_table and re.fullmatch(r"   \w+", line):
            listed[module].append(line.strip())
        elif in_table and line and not line.startswith("   "):
            in_table = False
    return listed


def _public_modules():
    """Every public subpackage with an ``__all__``; for one without, its modules that have one."""
    found = []
    for info in pkgutil.iter_modules(fer_toolkit.__path__):
        if info.name.startswith("_") or info.name == "cascades":  # cascades: XML data only
            continue
        module = importlib.import_module(f"fer_toolkit.{info.name}")
        if hasattr(module, "__all__"):
            found.append(module.__name__)
            continue
        for sub in pkgutil.iter_modules(module.__path__):
            submodule = importlib.import_module(f"{module.__name__}.{sub.name}")
            if not sub.name.startswith("_") and hasattr(submodule, "__all__"):
                found.append(submodule.__name__)
    return found


def test_every_public_module_has_a_section(api_reference):
    sections = [name for name, _ in api_reference.SECTIONS]
    assert sorted(sections) == sorted(_public_modules())
    assert len(set(sections)) == len(sections)


def test_every_public_name_is_listed_once(api_reference):
    index = _listed(api_reference.render_index())
    for module_name, title in api_reference.SECTIONS:
        if module_name == api_reference.CLI:
            continue  # a click group: its page is written by write_api_reference, checked below
        expected = sorted(importlib.import_module(module_name).__all__)
        page = _listed(api_reference.render_module_page(module_name, title))
        assert list(page) == [module_name]
        assert sorted(page[module_name]) == expected, module_name
        assert sorted(index[module_name]) == expected, module_name


def test_stub_pages_are_generated_for_every_name(api_reference, tmp_path):
    """Run autosummary's generator (sphinx-autogen) on the module pages, as the build does."""
    api_reference.write_api_reference(tmp_path)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx.ext.autosummary.generate",
            "--templates",
            str(DOCS / "_templates"),
            "--output-dir",
            str(tmp_path / "api" / "generated"),
            *map(str, sorted((tmp_path / "api").glob("*.rst"))),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    pages = {
        p.stem: p.read_text(encoding="utf-8") for p in (tmp_path / "api" / "generated").iterdir()
    }
    for module_name, _ in api_reference.SECTIONS:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            page = pages[f"{module_name}.{name}"]
            obj = getattr(module, name)
            if module_name == api_reference.CLI:
                assert f".. click:: {module_name}:{name}" in page
            elif isinstance(obj, type):
                assert f".. autoclass:: {name}" in page
                assert f".. minigallery:: {module_name}.{name}" in page
            elif callable(obj):
                assert f".. autofunction:: {name}" in page
                assert f".. minigallery:: {module_name}.{name}" in page
            else:
                assert f".. autodata:: {name}" in page


def _subpackages():
    return [
        info.name
        for info in pkgutil.iter_modules(fer_toolkit.__path__)
        if not info.name.startswith("_") and info.name != "cascades"  # cascades: XML data only
    ]


def test_the_top_level_lists_and_names_every_subpackage():
    assert sorted(fer_toolkit.__all__) == sorted(_subpackages())
    for name in fer_toolkit.__all__:
        assert re.search(rf"^{name}\n    ", fer_toolkit.__doc__, flags=re.MULTILINE), name
        assert getattr(fer_toolkit, name).__name__ == f"fer_toolkit.{name}"


@pytest.mark.parametrize(
    "package", [p for p in _subpackages() if p not in ("cli", "plotting", "utils")]
)
def test_public_api_is_one_tier(package):
    """A public module lists in its ``__all__`` only names its package's ``__all__`` lists."""
    module = importlib.import_module(f"fer_toolkit.{package}")
    assert len(set(module.__all__)) == len(module.__all__)
    assert set(module.__all__) <= set(dir(module))
    for info in pkgutil.iter_modules(module.__path__):
        if info.name.startswith("_"):
            continue
        submodule = importlib.import_module(f"{module.__name__}.{info.name}")
        exported = getattr(submodule, "__all__", ())
        extra = set(exported) - set(module.__all__)
        assert not extra, f"{submodule.__name__} exports {sorted(extra)}, {package} does not"
        for name in exported:
            assert getattr(module, name) is getattr(submodule, name), name


@pytest.mark.parametrize("package", _subpackages())
def test_no_public_name_is_defined_in_a_private_module(package):
    """What a package exports lives in a public module (nothing from ``_types`` and the like)."""
    module = importlib.import_module(f"fer_toolkit.{package}")
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        home = obj.__module__
        if home.startswith("fer_toolkit"):
            private = [part for part in home.split(".") if part.startswith("_")]
            assert not private, f"fer_toolkit.{package}.{name} is defined in {home}"


def test_flag_tables_are_written_for_the_cascade_guide(api_reference, tmp_path):
    cascade = importlib.import_module("fer_toolkit.cascade")
    api_reference.write_api_reference(tmp_path)
    guide = (DOCS / "user_guide" / "cascade_training.md").read_text(encoding="utf-8")
    for name, file_name in api_reference.FLAG_TABLES.items():
        table = getattr(cascade, name)
        written = (tmp_path / "api" / file_name).read_text(encoding="utf-8")
        assert written == table.markdown() + "\n"
        assert all(f"`{flag.opencv}`" in written for flag in table)
        assert f"```{{include}} ../api/{file_name}\n```" in guide
