"""``train`` and ``search`` from a backbone: ``--backbone``, ``--freeze``, ``--backbone-lr``..."""

import json

import joblib
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from fer_toolkit.cli import main
from fer_toolkit.cli._model import load_model
from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import Backbone, save_backbone

# width=4 differs from the registry default (32): the saved model must record it.
BACKBONE_KWARGS = {"in_channels": 1, "image_size": [48, 48], "width": 4}
TINY = ["--data", "synthetic:120", "--validation", "none", "--set", "batch_size=32"]


def run(command, *args):
    return CliRunner().invoke(main, [command, *map(str, args)])


@pytest.fixture(scope="module")
def backbone_file(tmp_path_factory):
    torch.manual_seed(0)
    backbone = Backbone(
        "baseline", BACKBONE_KWARGS, input_shape=(1, 48, 48), pretext={"tasks": ["rotation"]}
    )
    with torch.no_grad():  # BatchNorm statistics a frozen block must keep as they are
        for module in backbone.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("backbone") / "backbone.pt"
    save_backbone(backbone, path)
    return path, {k: v.clone() for k, v in backbone.features.state_dict().items()}


@pytest.fixture(scope="module")
def frozen_run(backbone_file, tmp_path_factory):
    path, _ = backbone_file
    out = tmp_path_factory.mktemp("frozen")
    result = run(
        "train", *TINY, "--set", "max_epochs=2", "--backbone", path, "--freeze", "backbone",
        "--out", out,
    )  # fmt: skip
    return result, out


def test_frozen_backbone_reaches_the_saved_model_unchanged(backbone_file, frozen_run):
    _, pretrained = backbone_file
    result, out = frozen_run
    assert result.exit_code == 0, result.output
    assert "starting from the baseline backbone in" in result.output
    assert "(pretrained on rotation), 4 blocks; freeze=backbone" in result.output
    saved = torch.load(out / "model_params.pt", weights_only=True)
    features = {k.removeprefix("features."): v for k, v in saved.items() if "features." in k}
    assert features.keys() == pretrained.keys()
    for name, value in pretrained.items():  # weights and BatchNorm statistics, bit for bit
        assert torch.equal(features[name], value), name
    head = joblib.load(out / "model.joblib")[-1].module_.classifier
    assert any(p.requires_grad for p in head.parameters())


def test_saved_model_records_the_backbone_and_loads_without_it(backbone_file, frozen_run):
    path, _ = backbone_file
    _, out = frozen_run
    document = json.loads((out / "model.json").read_text())
    pipeline = document["pipeline"]
    assert pipeline["model"] == "baseline"
    assert pipeline["params"]["freeze"] == "backbone"
    assert pipeline["params"]["module__width"] == 4  # from the backbone file
    assert "backbone" not in pipeline["params"]
    info = document["training"]["backbone"]
    assert info["file"] == str(path) and info["pretext"] == {"tasks": ["rotation"]}
    assert info["model_kwargs"] == BACKBONE_KWARGS
    faces = make_synthetic_faces(12, random_state=5).images
    expected = joblib.load(out / "model.joblib").predict_proba(faces)
    moved = path.with_name("moved.pt")
    path.rename(moved)  # the model must not need the backbone file any more
    try:
        model = load_model(out, device="cpu")
        assert model.pipeline[-1].backbone is None
        np.testing.assert_allclose(model.pipeline.predict_proba(faces), expected, atol=1e-6)
        evaluated = run("evaluate", out, "--data", "synthetic:40", "--out", out / "eval")
        assert evaluated.exit_code == 0, evaluated.output
    finally:
        moved.rename(path)


def test_partial_freeze_backbone_lr_and_gradual_unfreezing(backbone_file, tmp_path):
    path, pretrained = backbone_file
    result = run(
        "train", *TINY, "--set", "max_epochs=3", "--set", "restore_best=false",
        "--backbone", path, "--freeze", "2",
        "--backbone-lr", "0.0001", "--unfreeze-every", "1", "--out", tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "freeze=2, backbone_lr=0.0001, unfreeze_schedule=1" in result.output
    params = json.loads((tmp_path / "model.json").read_text())["pipeline"]["params"]
    assert (params["freeze"], params["backbone_lr"], params["unfreeze_schedule"]) == (2, 1e-4, 1)
    cnn = joblib.load(tmp_path / "model.joblib")[-1]
    assert cnn.unfreeze_plan_ == {2: 1, 3: 0} and cnn.frozen_blocks_ == 0
    assert [group["lr"] for group in cnn.optimizer_.param_groups] == [1e-4, cnn.lr]
    first_conv = cnn.module_.features.state_dict()["0.weight"]
    assert not torch.equal(first_conv, pretrained["0.weight"])  # unfrozen at epoch 3


def test_search_grid_over_freeze_with_a_backbone(backbone_file, tmp_path):
    path, _ = backbone_file
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"freeze": ["none", "backbone"]}))
    result = run(
        "search", "--data", "synthetic:80", "--grid", grid, "--cv", "2", "--set",
        "max_epochs=1", "--backbone", path, "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "search.json").read_text())
    assert summary["n_candidates"] == 2
    document = json.loads((tmp_path / "out" / "model.json").read_text())
    assert document["pipeline"]["params"]["freeze"] == summary["best_params"]["freeze"]
    assert document["training"]["backbone"]["model"] == "baseline"
    assert load_model(tmp_path / "out", device="cpu").classes.size == 7


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--model", "conv4_dense3"], 2, "is the backbone of 'baseline': use --model baseline"),
        (["--rgb"], 2, "was pretrained on grayscale images: add --grayscale"),
        (["--blocks"], 2, "a network built on --backbone takes the face only"),
        (["--freeze", "5"], 2, "has 4 blocks: use at most 4"),
        (["--freeze", "all"], 2, "use none, backbone (all of it) or a number of blocks"),
        (["--unfreeze-every", "2"], 2, "add --freeze backbone or --freeze K"),
        (["--freeze", "2", "--set", "freeze=1"], 2, "--freeze and --set freeze=... both"),
        (["--backbone-lr", "0"], 2, "Invalid value for '--backbone-lr'"),
    ],
)
def test_bad_transfer_options_are_one_clear_line(backbone_file, tmp_path, args, code, message):
    path, _ = backbone_file
    result = run("train", *TINY, "--backbone", path, *args, "--out", tmp_path)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "model.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backbone", "NOT_A_BACKBONE"], "not_a_backbone.pt"),
        (["--set", "backbone=x.pt"], "start from a backbone file with --backbone FILE"),
    ],
)
def test_backbone_given_wrongly_names_the_fault(tmp_path, args, message):
    bad = tmp_path / "not_a_backbone.pt"
    torch.save({"weights": torch.zeros(2)}, bad)
    args = [str(bad) if a == "NOT_A_BACKBONE" else a for a in args]
    result = run("train", *TINY, *args, "--out", tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ")
    assert message in result.output and "Traceback" not in result.output
