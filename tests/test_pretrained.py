"""The pretrained FER2013 mini-Xception: architecture, fidelity to Keras, API, CLI, fine-tuning."""

import csv
import hashlib
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from skimage import data
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from test_datasets_video import write_video

from fer_toolkit.cli import main
from fer_toolkit.cli._model import PRETRAINED
from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import CNNClassifier
from fer_toolkit.estimators.transfer import backbone_blocks
from fer_toolkit.models import (
    MiniXception,
    available_models,
    available_pretrained,
    load_pretrained,
    make_photo_pipeline,
    pretrained_backbone,
    pretrained_info,
)
from fer_toolkit.models.mini_xception import SameMaxPool2d
from fer_toolkit.preprocessing import Grayscale, Resize

FIXTURE = Path(__file__).parent / "data" / "mini_xception_reference.npz"
NAME = "mini_xception_fer2013"
EMOTIONS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
FOUR = ("angry", "happy", "sad", "neutral")


@pytest.fixture(scope="module")
def pretrained():
    return load_pretrained(NAME, device="cpu")


@pytest.fixture(scope="module")
def four_classes():
    return make_synthetic_faces(
        n_samples=48, classes=FOUR, image_size=64, random_state=0, return_X_y=True
    )


def invoke(*args):
    return CliRunner().invoke(main, [*map(str, args)])


# ----------------------------------------------------------------------- architecture
def test_parameter_count_matches_keras():
    model = MiniXception()
    trainable = sum(p.numel() for p in model.parameters())
    running = sum(b.numel() for name, b in model.named_buffers() if "running" in name)
    source = torch.load(pretrained_info(NAME).path, weights_only=True)["source"]
    # Keras counts the BatchNorm moving statistics among its 58,423 parameters.
    assert (trainable, running) == (56951, 1472)
    assert trainable + running == source["n_keras_weights"] == 58423


def test_batchnorm_follows_keras():
    norms = [m for m in MiniXception().modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 14
    assert {(m.eps, m.momentum) for m in norms} == {(1e-3, 0.01)}


def tf_same_windows(n):
    """TensorFlow's 'same' 3x3/2 pooling windows along an axis of length ``n``: the output
    has ceil(n / 2) cells; (out - 1) * 2 + 3 - n padding cells in total, the odd one after."""
    out = -(-n // 2)
    before = max((out - 1) * 2 + 3 - n, 0) // 2
    return [slice(max(2 * i - before, 0), min(2 * i - before + 3, n)) for i in range(out)]


@pytest.mark.parametrize("size", [4, 7, 8, 15, 60])
def test_same_max_pool_pads_like_tensorflow(size):
    x = torch.randn(2, 3, size, size + 1)
    rows, cols = tf_same_windows(size), tf_same_windows(size + 1)
    expected = torch.stack(
        [torch.stack([x[:, :, r, c].amax(dim=(2, 3)) for c in cols], -1) for r in rows], -2
    )
    torch.testing.assert_close(SameMaxPool2d()(x), expected)


def test_any_input_size_and_class_count():
    model = MiniXception(in_channels=3, n_classes=3, image_size=(40, 52)).eval()
    assert model(torch.rand(2, 3, 40, 52)).shape == (2, 3)
    assert model.features(torch.rand(1, 3, 40, 52)).shape == (1, 128, 3, 3)
    assert MiniXception(image_size=5).eval()(torch.rand(1, 1, 5, 5)).shape == (1, 7)
    with pytest.raises(ValueError, match="at least 5x5"):
        MiniXception(image_size=4)


def test_registered_everywhere():
    assert "mini_xception" in available_models()
    assert [info.name for info in available_pretrained()] == list(PRETRAINED)
    assert len(backbone_blocks(MiniXception().features)) == 14


# --------------------------------------------------------------------------- fidelity
def test_probabilities_equal_keras_on_real_faces(pretrained):
    with np.load(FIXTURE) as fixture:
        crops, keras, keras_order = fixture["crops"], fixture["proba"], fixture["classes"]
    assert crops.shape[0] >= 50 and crops.shape[1:] == (64, 64) and crops.dtype == np.uint8
    order = [list(pretrained.classes_).index(name) for name in keras_order]
    ours = pretrained.predict_proba(crops)[:, order]
    assert np.abs(ours - keras).max() <= 1e-5
    # Not a degenerate fixture: real faces get several different predictions.
    assert len(set(keras.argmax(axis=1).tolist())) >= 3


def test_weights_file_is_pickle_free_and_documented():
    info = pretrained_info(NAME)
    content = torch.load(info.path, weights_only=True)
    assert content["classes"] == EMOTIONS == list(info.classes)
    readme = (info.path.parent / "README.md").read_text(encoding="utf-8")
    assert content["source"]["sha256"] in readme
    assert hashlib.sha256(info.path.read_bytes()).hexdigest() in readme
    assert "MIT License" in (info.path.parent / "LICENSE").read_text(encoding="utf-8")


def test_loading_needs_neither_h5py_nor_fer():
    code = (
        "import sys, numpy as np\n"
        "from fer_toolkit.models import load_pretrained\n"
        "clf = load_pretrained(device='cpu')\n"
        "clf.predict(np.zeros((1, 64, 64), np.uint8))\n"
        "print(sorted({'h5py', 'fer', 'tensorflow', 'keras'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


# -------------------------------------------------------------------------------- API
def test_load_pretrained_contract(pretrained):
    assert pretrained.classes_.tolist() == EMOTIONS
    assert pretrained.input_shape_ == (1, 64, 64)
    faces = Resize(size=64).transform(Grayscale().transform([data.astronaut()[56:171, 167:282]]))
    assert pretrained.predict(faces).tolist() == ["happy"]
    again = pickle.loads(pickle.dumps(pretrained))
    np.testing.assert_array_equal(again.predict_proba(faces), pretrained.predict_proba(faces))
    with pytest.raises(ValueError, match=r"\(1, 48, 48\)"):
        pretrained.predict(np.zeros((1, 48, 48), np.uint8))
    fresh = clone(pretrained)
    assert fresh.get_params()["module"] == "mini_xception" and not hasattr(fresh, "module_")


def test_drops_into_a_pipeline_on_48x48_faces(pretrained, four_classes):
    X, _ = four_classes
    small = Resize(size=48).transform(X[:6])
    pipeline = Pipeline([("resize", Resize(size=64)), ("cnn", pretrained)])
    proba = pipeline.predict_proba(small)
    assert proba.shape == (6, 7)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


def test_available_pretrained_describes_each():
    for info in available_pretrained():
        for field in ("source", "licence", "training_data", "input_format", "reported_accuracy"):
            assert getattr(info, field)
        assert info.path.is_file()
    with pytest.raises(ValueError, match="available: mini_xception_fer2013"):
        load_pretrained("resnet_imagenet")


def test_photo_pipeline_one_row_per_image():
    pipeline = make_photo_pipeline(NAME, device="cpu")
    assert [name for name, _ in pipeline.steps] == ["crop", "gray", "cnn"]
    photos = [data.astronaut(), cv2.resize(data.astronaut(), (256, 256)), data.coffee()]
    proba = pipeline.predict_proba(photos)
    assert proba.shape == (3, 7)
    assert pipeline.predict(photos[:2]).tolist() == ["happy", "happy"]
    with pytest.raises(ValueError, match="detector"):
        make_photo_pipeline(NAME, detector="yolo")


# -------------------------------------------------------------------------------- CLI
def test_cli_predict_and_evaluate_by_name(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    assert cv2.imwrite(str(photos / "astronaut.jpg"), data.astronaut()[..., ::-1])
    face = cv2.resize(data.astronaut(), (320, 320), interpolation=cv2.INTER_AREA)
    clip = write_video(tmp_path / "clip.avi", [face, face])
    out = tmp_path / "preds"
    result = invoke("predict", NAME, photos, clip, "--annotate", "--out", out)
    assert result.exit_code == 0, result.output
    with open(out / "predictions.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [(Path(r["source"]).name, r["frame"], r["label"]) for r in table] == [
        ("astronaut.jpg", "-1", "happy"),
        ("clip.avi", "0", "happy"),
        ("clip.avi", "1", "happy"),
    ]
    assert float(table[0]["p_happy"]) > 0.9
    assert (out / "annotated" / "photos" / "astronaut.png").is_file()
    assert (out / "annotated" / "clip.mp4").is_file()

    result = invoke("evaluate", NAME, "--data", "synthetic:70", "--out", tmp_path / "eval")
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output

    result = invoke("predict", "no_such_model", photos, "--out", out)
    assert result.exit_code != 0
    assert "mini_xception_fer2013" in result.output


# ------------------------------------------------------------------------ fine-tuning
def test_fine_tune_with_a_new_head(four_classes):
    X, y = four_classes
    labels = np.array(FOUR)[y]
    clf = CNNClassifier(
        backbone=NAME,
        freeze="backbone",
        max_epochs=1,
        validation_fraction=None,
        device="cpu",
        random_state=0,
    ).fit(X, labels)
    assert sorted(clf.classes_.tolist()) == sorted(FOUR)
    assert clf.module_.classifier.conv.out_channels == 4
    assert clf.frozen_blocks_ == 14
    pretrained = pretrained_backbone(NAME).features.state_dict()
    for key, value in clf.module_.features.state_dict().items():
        torch.testing.assert_close(value, pretrained[key])  # frozen: untouched, BN too
    assert clf.predict_proba(X[:3]).shape == (3, 4)
    unfrozen = clone(clf).set_params(freeze="none").fit(X, labels)
    weights = unfrozen.module_.features.conv1.weight
    assert not torch.equal(weights, pretrained["conv1.weight"])
    with pytest.raises(ValueError, match="1-channel"):
        clone(clf).fit(np.repeat(X[..., None], 3, axis=-1), labels)


def test_cli_train_from_the_pretrained_backbone(tmp_path):
    out = tmp_path / "run"
    result = invoke(
        "train", "--data", "synthetic:60", "--label-set", ",".join(FOUR), "--size", "64",
        "--backbone", NAME, "--freeze", "backbone", "--set", "max_epochs=1", "--out", out, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = (out / "model.json").read_text(encoding="utf-8")
    assert '"model": "mini_xception"' in document and NAME in document
    result = invoke("train", "--data", "synthetic:60", "--backbone", "nope", "--out", out)
    assert result.exit_code != 0
