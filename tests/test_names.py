"""Public names say what things are: no "seed 00N" shorthand, and the former names still work.

Models and label sets used to be named after the projects we read about ("seed004",
"seed001"...). Users read the docs, docstrings, examples and command-line help, so none
of them may use that shorthand; only the two tables that map former names to new ones
may. Saved models and scripts that use a former name keep working, with a one-line note.
"""

import json
import re
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

from fer_toolkit.cli import main
from fer_toolkit.cli._model import load_model
from fer_toolkit.estimators import Backbone, load_backbone, save_backbone

ROOT = Path(__file__).resolve().parents[1]
SHORTHAND = re.compile(r"seed ?00\d|seed00", re.IGNORECASE)
# The alias tables: `_RENAMED = {"seed004": "conv4_dense3"}` and one `"seedNNN": "name",`
# entry per line of the label sets' table.
ALIAS_TABLES = {"fer_toolkit/models/registry.py", "fer_toolkit/datasets/labels.py"}
ALIAS_ENTRY = re.compile(r'\s*(_RENAMED = \{)?"seed00\d": "\w+"(,|\})?\s*')
# The changelog records the rename, naming the former names as code (`seed004`) only.
RENAME_RECORD = "docs/changelog.md"
# Generated from the sources checked here (Sphinx output, gallery, API stubs).
GENERATED = {"_build", "auto_examples", "api", "api.rst", "gen_modules", "__pycache__"}
TEXT_SUFFIXES = {".py", ".md", ".rst", ".txt", ".toml", ".cfg", ".json", ".yml", ".yaml"}


def _user_facing_files():
    for top in ["fer_toolkit", "docs", "examples", "benchmarks"]:
        for path in sorted((ROOT / top).rglob("*")):
            parts = set(path.relative_to(ROOT).parts)
            if path.is_file() and path.suffix in TEXT_SUFFIXES and not parts & GENERATED:
                yield path
    yield ROOT / "README.md"


def _shorthand_lines(text):
    return [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if SHORTHAND.search(line)
    ]


def test_the_scan_sees_the_sources():
    files = {path.relative_to(ROOT).as_posix() for path in _user_facing_files()}
    assert {"README.md", "docs/user_guide/index.md", "fer_toolkit/models/registry.py"} <= files
    assert any(name.startswith("examples/") for name in files)
    assert _shorthand_lines("a\nthe model of seed 004\nseed004\nSeed001\nrandom seed 0") == [
        (2, "the model of seed 004"),
        (3, "seed004"),
        (4, "Seed001"),
    ]


def test_no_seed_shorthand_in_sources_docs_and_examples():
    found = []
    for path in _user_facing_files():
        name = path.relative_to(ROOT).as_posix()
        for number, line in _shorthand_lines(path.read_text(encoding="utf-8")):
            if name in ALIAS_TABLES and ALIAS_ENTRY.fullmatch(line):
                continue
            if name == RENAME_RECORD and not SHORTHAND.search(re.sub(r"`seed00\d`", "", line)):
                continue
            found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def _commands(group, prefix=()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [(), *sorted(_commands(main))], ids=" ".join)
def test_no_seed_shorthand_in_command_help(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert _shorthand_lines(result.output) == []


def test_a_model_saved_under_the_former_names_loads_with_a_one_line_note(tmp_path):
    out = tmp_path / "model"
    args = ["--data", "synthetic:60", "--label-set", "seed001", "--model", "seed004"]
    tiny = ["--set", "max_epochs=1", "--set", "batch_size=32", "--device", "cpu"]
    result = CliRunner().invoke(main, ["train", *args, *tiny, "--out", str(out)])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: label set 'seed001' is now called 'happy_sad_surprise_neutral'; the old name "
        "will stop working in a future release.",
        "note: model 'seed004' is now called 'conv4_dense3'; the old name will stop working "
        "in a future release.",
    ]
    assert "FutureWarning" not in result.output
    spec_path = out / "model.json"
    document = json.loads(spec_path.read_text())
    assert document["pipeline"]["model"] == "conv4_dense3"

    # A model.json as earlier versions wrote it.
    document["pipeline"]["model"] = "seed004"
    spec_path.write_text(json.dumps(document))
    evaluation = tmp_path / "evaluation"
    result = CliRunner().invoke(
        main, ["evaluate", str(out), "--data", "synthetic:40", "--out", str(evaluation)]
    )
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if "seed004" in line] == [
        "note: model 'seed004' is now called 'conv4_dense3'; the old name will stop working "
        "in a future release."
    ]
    assert (evaluation / "metrics.json").is_file()

    with pytest.warns(FutureWarning, match="model 'seed004' is now called 'conv4_dense3'"):
        model = load_model(out, device="cpu")
    assert model.spec.model == "conv4_dense3"
    assert type(model.pipeline[-1].module_).__name__ == "Conv4Dense3CNN"
    assert set(model.classes) == {"happy", "sad", "surprise", "neutral"}


def test_a_backbone_saved_under_the_former_model_name_loads(tmp_path):
    path = tmp_path / "backbone.pt"
    save_backbone(Backbone("conv4_dense3", {"in_channels": 1}), path)
    content = torch.load(path, weights_only=True)
    content["model"] = "seed004"  # as earlier versions wrote it
    torch.save(content, path)
    with pytest.warns(FutureWarning, match="model 'seed004' is now called 'conv4_dense3'"):
        backbone = load_backbone(path)
    assert backbone.model == "conv4_dense3"
    for key, value in backbone.features.state_dict().items():
        assert torch.equal(value, content["state_dict"][key]), key
