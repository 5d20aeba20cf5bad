"""Every public name has a numpydoc docstring with a runnable example.

"Public" is what the API reference documents: the ``__all__`` of every module that
``docs/api_reference.py`` lists. The examples themselves run as doctests
(``--doctest-modules`` in pyproject.toml); this file checks that they exist and that
class docstrings follow numpydoc.
"""

import dataclasses
import importlib
import importlib.util
import inspect
from pathlib import Path

import pytest
from numpydoc.docscrape import NumpyDocString
from numpydoc.validate import validate

ROOT = Path(__file__).resolve().parents[1]


def _api_reference():
    spec = importlib.util.spec_from_file_location(
        "api_reference", ROOT / "docs" / "api_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


API = _api_reference()


def _public(kind):
    """``(module, name)`` of every public class (``kind="class"``) or callable."""
    found = []
    for module_name, _ in API.SECTIONS:
        if module_name == API.CLI:
            # A click group: its docstring is the --help text, whose examples
            # tests/test_cli_common.py checks for every command.
            continue
        module = importlib.import_module(module_name)
        for name in sorted(module.__all__):
            obj = getattr(module, name)
            if isinstance(obj, type) if kind == "class" else callable(obj):
                found.append((module_name, name))
    return found


CALLABLES = _public("callable")
CLASSES = _public("class")


def _ids(value):
    return f"{value[0]}.{value[1]}" if isinstance(value, tuple) else str(value)


def _docstring(module_name, name):
    return NumpyDocString(inspect.getdoc(getattr(importlib.import_module(module_name), name)))


def test_the_walk_finds_the_public_names():
    assert ("fer_toolkit.cascade", "read_stage") in CALLABLES
    assert ("fer_toolkit.cascade", "StageReport") in CLASSES
    assert len(CLASSES) < len(CALLABLES)


@pytest.mark.parametrize("where", CALLABLES, ids=_ids)
def test_every_public_callable_has_a_runnable_example(where):
    examples = "\n".join(_docstring(*where)["Examples"])
    assert any(line.lstrip().startswith(">>> ") for line in examples.splitlines()), (
        f"{_ids(where)} has no Examples section with a >>> line"
    )


#: numpydoc validation checks that are not required of a class docstring here:
#: a See Also section (SA01) and an extended summary (ES01) are optional, and
#: PR01 is replaced by test_class_parameters_are_documented (a dataclass documents
#: its fields under Attributes).
OPTIONAL_CHECKS = {"SA01", "ES01", "PR01"}


@pytest.mark.parametrize("where", CLASSES, ids=_ids)
def test_class_docstring_passes_numpydoc_validation(where):
    errors = [
        f"{code}: {message}"
        for code, message in validate(_ids(where))["errors"]
        if code not in OPTIONAL_CHECKS
    ]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("where", CLASSES, ids=_ids)
def test_class_docstring_has_no_function_sections(where):
    """A class is not called for a value: Returns, Yields and Receives belong to functions."""
    doc = _docstring(*where)
    assert not [section for section in ("Returns", "Yields", "Receives") if doc[section]]


@pytest.mark.parametrize("where", CLASSES, ids=_ids)
def test_class_parameters_are_documented(where):
    """Each constructor parameter is under Parameters, or, for a dataclass (whose
    parameters are its fields), under Attributes."""
    cls = getattr(importlib.import_module(where[0]), where[1])
    doc = _docstring(*where)
    documented = {name.strip() for item in doc["Parameters"] for name in item.name.split(",")}
    if dataclasses.is_dataclass(cls):
        documented |= {name.strip() for item in doc["Attributes"] for name in item.name.split(",")}
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return  # no Python signature to compare with
    wanted = {
        name
        for name, param in signature.parameters.items()
        if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
    }
    assert wanted <= documented, f"not documented: {sorted(wanted - documented)}"
