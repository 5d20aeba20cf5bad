"""Untrusted input: model folders, weights, backbones and cascade XML never run code or crash.

Each crafted file here is one a stranger could hand over. Loading it must either
work or fail with one line naming the file (and the entry at fault), never run a
pickled payload, never hang on entity expansion and never reach OpenCV unchecked.
"""

import json
import os
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from fer_toolkit.cli import main
from fer_toolkit.cli._data import LabelSet
from fer_toolkit.cli._model import (
    PARAMS_NAME,
    SPEC_NAME,
    PipelineSpec,
    build_pipeline,
    load_model,
    save_model,
)
from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import load_backbone
from fer_toolkit.utils.validation import InputError


class Payload:
    """Unpickling this creates the file ``marker``: the proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def invoke(*args):
    return CliRunner().invoke(main, [*map(str, args)])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    faces = make_synthetic_faces(70, classes=["happy", "sad"], random_state=0)
    spec = PipelineSpec(params={"max_epochs": 1, "module__width": 4, "batch_size": 16})
    labels = np.asarray(faces.target_names)[faces.target]
    pipeline = build_pipeline(spec, device="cpu").fit(faces.images, labels)
    out = tmp_path_factory.mktemp("model")
    save_model(out, pipeline, spec, LabelSet())
    return out


def tampered(model_dir, tmp_path, edit=None, weights=None):
    """A copy of ``model_dir`` with model.json edited and/or other weights."""
    folder = tmp_path / "shared_model"
    shutil.copytree(model_dir, folder)
    document = json.loads((folder / SPEC_NAME).read_text())
    if edit is not None:
        edit(document)
    (folder / SPEC_NAME).write_text(json.dumps(document))
    if callable(weights):
        weights(folder / PARAMS_NAME)
    elif weights is not None:
        (folder / PARAMS_NAME).write_bytes(weights)
    return folder


def test_the_untouched_folder_loads_and_predicts(model_dir):
    model = load_model(model_dir, device="cpu")
    faces = make_synthetic_faces(4, classes=["happy", "sad"], random_state=1)
    assert set(model.pipeline.predict(faces.images)) <= {"happy", "sad"}


def test_torch_load_kwargs_in_model_json_runs_nothing(model_dir, tmp_path):
    # The hole of issue 12: skorch passed this to torch.load, which then unpickled.
    marker = tmp_path / "payload_ran"
    folder = tampered(
        model_dir,
        tmp_path,
        edit=lambda d: d["pipeline"]["params"].update(torch_load_kwargs={"weights_only": False}),
        weights=lambda path: torch.save({"x": Payload(marker)}, path),
    )
    with pytest.raises(InputError, match=r"model\.json: parameter 'torch_load_kwargs' cannot"):
        load_model(folder, device="cpu")
    result = invoke("evaluate", folder, "--data", "synthetic:40", "--out", tmp_path / "ev")
    assert result.exit_code == 1
    assert "model.json: parameter 'torch_load_kwargs' cannot be set" in result.output
    assert "Traceback" not in result.output
    assert not marker.exists()


@pytest.mark.parametrize(
    "key, value",
    [
        ("cnn__torch_load_kwargs", {"weights_only": False}),
        ("callbacks__print_log__sink", "print"),
        ("predict_nonlinearity", "auto"),
        ("iterator_train__collate_fn", "os.system"),
        ("compile__backend", "inductor"),
        ("dataset", "x"),
    ],
)
def test_only_allowed_parameters_load(model_dir, tmp_path, key, value):
    folder = tampered(
        model_dir, tmp_path, edit=lambda d: d["pipeline"]["params"].update({key: value})
    )
    with pytest.raises(InputError, match=rf"{SPEC_NAME}: parameter '{key}' cannot be set"):
        load_model(folder, device="cpu")


def test_a_pickle_payload_in_the_weights_is_one_line_and_never_runs(model_dir, tmp_path):
    marker = tmp_path / "payload_ran"
    folder = tampered(
        model_dir, tmp_path, weights=lambda path: torch.save({"x": Payload(marker)}, path)
    )
    result = invoke("evaluate", folder, "--data", "synthetic:40", "--out", tmp_path / "ev")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert f"{PARAMS_NAME}: not a plain weights file: it holds pickled objects" in result.output
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the weights file is empty"),
        (b"hello world, not weights\n", "not a weights file"),
        (b"not a checkpoint", "not a weights file: not a PyTorch save file"),
    ],
)
def test_weights_that_are_not_weights_are_named(model_dir, tmp_path, content, message):
    folder = tampered(model_dir, tmp_path, weights=content)
    result = invoke("evaluate", folder, "--data", "synthetic:40", "--out", tmp_path / "ev")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert f"{folder / PARAMS_NAME}: {message}" in result.output
    assert "Aborted" not in result.output


def test_weights_holding_something_else_than_tensors(model_dir, tmp_path):
    folder = tampered(model_dir, tmp_path, weights=lambda p: torch.save([1, 2], p))
    with pytest.raises(InputError, match=r"model_params\.pt: not a network's weights"):
        load_model(folder, device="cpu")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(classes=5), "entry 'classes' must be a list"),
        (lambda d: d.update(classes=["a", "a"]), "entry 'classes' must be a list"),
        (lambda d: d.update(input_shape=[1, 100000, 100000]), "entry 'input_shape' must be"),
        (lambda d: d.update(input_shape="big"), "entry 'input_shape' must be"),
        (lambda d: d["labels"].update(mapping=[1]), "entry 'labels' must hold"),
        (lambda d: d.pop("classes"), "missing or malformed entry 'classes'"),
        (lambda d: d["pipeline"]["params"].update(module__width=1.5), "width must be an int"),
        (lambda d: d["pipeline"].update(model="resnet"), "cannot build its network"),
        (lambda d: d["pipeline"].update(size=[0, 5]), "size must be a positive int"),
    ],
)
def test_a_tampered_model_json_names_itself(model_dir, tmp_path, edit, message):
    folder = tampered(model_dir, tmp_path, edit=edit)
    result = invoke("evaluate", folder, "--data", "synthetic:40", "--out", tmp_path / "ev")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert f"{folder / SPEC_NAME}: " in result.output
    assert message in result.output


def test_a_model_json_that_is_not_utf8(model_dir, tmp_path):
    folder = tampered(model_dir, tmp_path)
    (folder / SPEC_NAME).write_bytes(b'{"format": "\xff\xfe"}')
    with pytest.raises(InputError, match=r"model\.json is not UTF-8 text"):
        load_model(folder, device="cpu")


def test_the_pickle_is_loaded_only_when_allowed(model_dir, tmp_path):
    marker = tmp_path / "payload_ran"
    folder = tampered(model_dir, tmp_path)
    import joblib

    joblib.dump(Payload(marker), folder / "model.joblib")
    load_model(folder, device="cpu")
    assert not marker.exists()
    with pytest.raises(InputError, match=r"model\.joblib: holds a TextIOWrapper"):
        load_model(folder, allow_pickle=True)
    assert marker.exists()  # the documented risk of the opt-in


def test_the_pickle_opt_in_loads_the_fitted_pipeline(model_dir):
    faces = make_synthetic_faces(6, classes=["happy", "sad"], random_state=2)
    plain = load_model(model_dir, device="cpu").pipeline.predict_proba(faces.images)
    pickled = load_model(model_dir, allow_pickle=True).pipeline.predict_proba(faces.images)
    np.testing.assert_allclose(pickled, plain, atol=1e-6)


def test_a_backbone_with_a_payload_runs_nothing(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "backbone.pt"
    torch.save({"format": "fer_toolkit.backbone", "x": Payload(marker)}, path)
    with pytest.raises(InputError, match=r"backbone\.pt: not a plain fer_toolkit backbone file"):
        load_backbone(path)
    result = invoke("train", "--data", "synthetic:40", "--backbone", path, "--out", tmp_path / "o")
    assert result.exit_code == 1 and "backbone.pt: not a plain" in result.output
    assert result.output.count("\n") == 1, result.output
    assert not marker.exists()


def test_nothing_in_the_package_unpickles_user_files():
    # Every torch.load goes through torch_load_plain (weights_only=True); the only
    # joblib.load of a user file is load_model's allow_pickle opt-in.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    hits = []
    for folder, _, files in os.walk(os.path.join(root, "fer_toolkit")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        if any(
                            call in line
                            for call in (
                                "torch.load(",
                                "joblib.load(",
                                "pickle.load",
                                "pickle.loads",
                            )
                        ):
                            hits.append(f"{os.path.relpath(path, root)}:{number}")
    assert sorted({h.rsplit(":", 1)[0] for h in hits}) == [
        "fer_toolkit/cli/_model.py",
        "fer_toolkit/detection/_mtcnn_nets.py",
        "fer_toolkit/utils/estimator_checks.py",
        "fer_toolkit/utils/untrusted.py",
    ], hits
