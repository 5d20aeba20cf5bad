"""``fer-toolkit train``: outputs, the pickle-free model, Ctrl-C, data and label options."""

import csv
import json

import joblib
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from fer_toolkit.cli import main
from fer_toolkit.cli._model import load_model
from fer_toolkit.datasets import make_synthetic_faces, write_fer2013_csv
from fer_toolkit.estimators import CNNClassifier

TINY = ["--set", "module__width=4", "--set", "batch_size=32", "--set", "lr=0.005"]


def train(*args):
    return CliRunner().invoke(main, ["train", *map(str, args)])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    result = train("--data", "synthetic:210", "--set", "max_epochs=3", *TINY, "--out", out)
    return result, out


def test_writes_every_output(trained):
    result, out = trained
    assert result.exit_code == 0, result.output
    for name in [
        "model.json",
        "model_params.pt",
        "model.joblib",
        "history.json",
        "history.csv",
        "learning_curve.png",
        "classification_report.txt",
        "metrics.json",
        "predictions.csv",
        "confusion_matrix.png",
        "confusion_matrix_normalized.png",
    ]:
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*")), "temporary files left behind"
    assert "training on 132 images of synthetic:210" in result.output
    assert "validating on 15" in result.output  # 10% of the 147 Training faces, stratified
    assert "trained 3 epochs" in result.output and "epoch    train_loss" in result.output


def test_history_and_report_match_the_run(trained):
    _, out = trained
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert all({"train_loss", "valid_loss", "valid_acc"} <= set(row) for row in history)
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["valid_loss"]) for r in rows] == [row["valid_loss"] for row in history]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_samples"] == 15 and metrics["evaluated_on"] == "validation data"
    assert sum(c["support"] for c in metrics["per_class"].values()) == 15
    assert np.sum(metrics["confusion_matrix"]) == 15
    with open(out / "predictions.csv", newline="") as f:
        predictions = list(csv.DictReader(f))
    accuracy = np.mean([row["true"] == row["predicted"] for row in predictions])
    assert metrics["accuracy"] == pytest.approx(accuracy)
    spec = json.loads((out / "model.json").read_text())
    best = min(history, key=lambda row: row["valid_loss"])["epoch"]
    assert spec["training"]["kept_epoch"] == best  # restore_best is the default
    assert spec["pipeline"]["params"]["restore_best"] is True
    assert spec["training"]["interrupted"] is False


def test_pickle_free_model_predicts_like_the_joblib_one(trained):
    _, out = trained
    faces = make_synthetic_faces(20, random_state=5).images
    model = load_model(out, device="cpu")
    pickled = joblib.load(out / "model.joblib")
    assert [name for name, _ in model.pipeline.steps] == ["gray", "resize", "cnn"]
    assert model.classes.tolist() == pickled.classes_.tolist()
    np.testing.assert_allclose(
        model.pipeline.predict_proba(faces), pickled.predict_proba(faces), rtol=1e-5, atol=1e-6
    )
    # Nothing in model.json needs pickle, and the weights load with weights_only=True.
    torch.load(out / "model_params.pt", weights_only=True)


def test_ctrl_c_keeps_the_best_epoch_and_writes_everything(tmp_path, monkeypatch):
    states = {}
    original_end = CNNClassifier.on_epoch_end

    def record(self, net, **kwargs):
        states[len(net.history)] = {k: v.clone() for k, v in net.module_.state_dict().items()}
        return original_end(self, net, **kwargs)

    original_begin = CNNClassifier.on_batch_begin

    def interrupt(self, net, batch=None, training=False, **kwargs):
        if training and len(net.history) == 4:  # first batch of the 4th epoch: Ctrl-C
            raise KeyboardInterrupt
        return original_begin(self, net, batch=batch, training=training, **kwargs)

    monkeypatch.setattr(CNNClassifier, "on_epoch_end", record)
    monkeypatch.setattr(CNNClassifier, "on_batch_begin", interrupt)
    out = tmp_path / "run"
    result = train("--data", "synthetic:140", "--set", "max_epochs=10", *TINY, "--out", out)
    assert result.exit_code == 130, result.output
    assert "Interrupted: saved the model of epoch" in result.output
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]  # the 4th never finished
    best = min(history, key=lambda row: row["valid_loss"])["epoch"]
    spec = json.loads((out / "model.json").read_text())
    assert spec["training"]["interrupted"] is True and spec["training"]["kept_epoch"] == best
    saved = torch.load(out / "model_params.pt", weights_only=True)
    for key, value in states[best].items():
        torch.testing.assert_close(saved[key], value)
    assert (out / "learning_curve.png").exists() and (out / "metrics.json").exists()
    load_model(out, device="cpu")


def test_ctrl_c_before_the_first_epoch_saves_nothing(tmp_path, monkeypatch):
    def interrupt(self, net, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(CNNClassifier, "on_batch_begin", interrupt)
    result = train("--data", "synthetic:140", *TINY, "--out", tmp_path / "run")
    assert result.exit_code == 130
    assert "nothing to save" in result.output
    assert not (tmp_path / "run" / "model.json").exists()


@pytest.fixture(scope="module")
def fer_csv(tmp_path_factory):
    faces = make_synthetic_faces(175, random_state=3)
    names = np.asarray(faces.target_names)[faces.target]
    usage = ["Training"] * 119 + ["PublicTest"] * 28 + ["PrivateTest"] * 28
    path = tmp_path_factory.mktemp("fer") / "fer2013.csv"
    write_fer2013_csv(path, faces.images, names, usage=usage)
    return path


def test_fer2013_csv_with_its_own_validation_split_and_a_label_set(fer_csv, tmp_path):
    out = tmp_path / "run"
    result = train(
        "--data", fer_csv, "--label-set", "happy_sad_surprise_neutral", "--validation", "dataset",
        "--set", "max_epochs=2", *TINY, "--out", out, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == ""
    spec = json.loads((out / "model.json").read_text())
    assert spec["classes"] == ["happy", "neutral", "sad", "surprise"]
    assert spec["labels"]["classes"] == ["happy", "sad", "surprise", "neutral"]
    metrics = json.loads((out / "metrics.json").read_text())
    # The PublicTest rows of the four classes: 4 of the 7 emotions among 28 rows.
    assert 0 < metrics["n_samples"] < 28
    assert set(metrics["classes"]) <= {"happy", "neutral", "sad", "surprise"}


def test_ferplus_votes_relabel_the_fer2013_rows(fer_csv, tmp_path):
    from fer_toolkit.datasets import load_fer2013

    columns = ["neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt"]
    source = load_fer2013(fer_csv)
    votes = tmp_path / "fer2013new.csv"
    lines = ["Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,"
             "unknown,NF"]  # fmt: skip
    for i, (code, usage) in enumerate(zip(source.target, source.usage, strict=True)):
        emotion = "contempt" if i % 5 == 0 else source.target_names[code]
        counts = [10 if name == emotion else 0 for name in columns] + [0, 0]
        lines.append(f"{usage},fer{i:07d}.png," + ",".join(map(str, counts)))
    votes.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    result = train(
        "--data", fer_csv, "--ferplus", votes, "--validation", "none", "--set", "max_epochs=1",
        *TINY, "--out", out, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    classes = json.loads((out / "model.json").read_text())["classes"]
    assert "contempt" in classes and len(classes) == 8
    with open(out / "predictions.csv", newline="") as f:
        truth = [row["true"] for row in csv.DictReader(f)]
    assert len(truth) == 119 and truth.count("contempt") == 24  # rows 0, 5, ..., 115


def test_label_mapping_file_merges_classes(fer_csv, tmp_path):
    mapping = tmp_path / "merge.json"
    mapping.write_text(json.dumps({"disgust": "angry", "angry": "angry", "happy": "happy"}))
    out = tmp_path / "run"
    result = train(
        "--data", fer_csv, "--label-set", mapping, "--validation", "none",
        "--set", "max_epochs=1", *TINY, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "samples dropped: labels outside the label set" in result.output
    assert json.loads((out / "model.json").read_text())["classes"] == ["angry", "happy"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["evaluated_on"] == "training data (no validation)"


def test_image_folder_with_blocks_trains_prior_attention(tmp_path):
    import cv2

    faces = make_synthetic_faces(56, classes=["happy", "sad"], random_state=0)
    for i, (image, code) in enumerate(zip(faces.images, faces.target, strict=True)):
        split = "train" if i < 44 else "validation"
        folder = tmp_path / "data" / split / faces.target_names[code]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), image)
    out = tmp_path / "run"
    result = train(
        "--data", tmp_path / "data", "--validation", "dataset", "--blocks", "--size", "40",
        "--set", "max_epochs=1", "--set", "module__width=2", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    model = load_model(out, device="cpu")
    assert model.spec.model == "prior_attention" and model.spec.blocks
    assert [name for name, _ in model.pipeline.steps] == ["gray", "resize", "blocks", "cnn"]
    assert model.pipeline.predict(faces.images[:3]).shape == (3,)
    assert json.loads((out / "metrics.json").read_text())["n_samples"] == 12


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--data", "missing.csv"], 2, "'missing.csv' does not exist"),
        (["--data", "synthetic:5"], 2, "synthetic:N with N >= 20"),
        (["--data", "synthetic", "--set", "lrr=0.1"], 1, "unknown parameter 'lrr' (did you mean"),
        (["--data", "synthetic", "--set", "lr"], 2, "is not NAME=VALUE"),
        (["--data", "synthetic", "--set", "lr=-1"], 1, "The 'lr' parameter of CNNClassifier"),
        (["--data", "synthetic", "--set", "module=vgg"], 1, "choose the network with --model"),
        (["--data", "synthetic", "--set", "crop__margin=1"], 1, "has no 'crop' step"),
        (["--data", "synthetic", "--align"], 2, "--align needs --cropper mtcnn"),
        (["--data", "synthetic", "--blocks", "--model", "vgg_fer"], 2, "--blocks feeds"),
        (["--data", "synthetic", "--model", "resnet"], 2, "Invalid value for '--model'"),
        (["--data", "synthetic", "--validation", "2"], 2, "use a fraction in (0, 1)"),
        (["--data", "synthetic", "--label-set", "happy9"], 2, "Unknown label set 'happy9'"),
        (["--data", "synthetic", "--label-set", "nope.json"], 2, "not found: 'nope.json'"),
        (["--data", "synthetic", "--split", "dev"], 1, "has no split dev"),
        (["--data", "synthetic", "--ferplus", "FILE"], 1, "--ferplus relabels a FER2013 CSV"),
        (["--data", "synthetic", "--device", "tpu"], 2, "is not a device"),
        (["--data", "synthetic", "--size", "0"], 2, "is not a size"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, args, code, message):
    existing = tmp_path / "votes.csv"
    existing.write_text("x\n")
    args = [str(existing) if a == "FILE" else a for a in args]
    result = train(*args, "--out", tmp_path / "out")
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    if code == 1:
        assert result.output.strip().splitlines()[-1].startswith("Error: ")


def test_malformed_csv_names_its_line(tmp_path):
    bad = tmp_path / "fer2013.csv"
    bad.write_text("emotion,pixels,Usage\n3," + " ".join(["0"] * 2303) + ",Training\n")
    result = train("--data", bad, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert f"Error: {bad}, line 2" in result.output
    assert "2303" in result.output
