"""``fer-toolkit evaluate``: metrics agree with the model's own predictions; bad input."""

import csv
import json

import joblib
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import f1_score, precision_score, recall_score

from fer_toolkit.cli import main
from fer_toolkit.cli._data import DataSource, LabelSet, load_data

TINY = ["--set", "module__width=4", "--set", "lr=0.005", "--set", "max_epochs=2"]


def invoke(*args):
    return CliRunner().invoke(main, [*map(str, args)])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    result = invoke(
        "train",
        "--data",
        "synthetic:280",
        "--label-set",
        "happy_sad_surprise_neutral",
        *TINY,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def evaluation(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    result = invoke("evaluate", model_dir, "--data", "synthetic:280", "--out", out)
    return result, out


def test_writes_metrics_report_and_figures(evaluation):
    result, out = evaluation
    assert result.exit_code == 0, result.output
    for name in [
        "metrics.json",
        "classification_report.txt",
        "predictions.csv",
        "confusion_matrix.png",
        "confusion_matrix_normalized.png",
    ]:
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"accuracy {metrics['accuracy']:.3f} on {metrics['n_samples']} images" in result.output
    assert "precision" in result.output and "recall" in result.output
    if metrics["accuracy"] < 1:
        assert (out / "misclassified.png").stat().st_size > 0


def test_metrics_are_those_of_the_models_predictions(model_dir, evaluation):
    _, out = evaluation
    metrics = json.loads((out / "metrics.json").read_text())
    # The test split (PrivateTest, the last 15%) of the same synthetic draw: the model's four
    # classes (the synthetic data is drawn with the label set's classes).
    four_classes = LabelSet(classes=("happy", "sad", "surprise", "neutral"))
    data = load_data(DataSource("synthetic", n_samples=280), label_set=four_classes).select("test")
    images, truth = data.images, data.labels
    predicted = joblib.load(model_dir / "model.joblib").predict(images)
    assert metrics["n_samples"] == len(truth) == 42
    assert metrics["splits"] == ["PrivateTest"]
    assert metrics["accuracy"] == pytest.approx(np.mean(predicted == truth))
    labels = metrics["classes"]
    for name, per_class in [
        (
            "precision",
            precision_score(truth, predicted, labels=labels, average=None, zero_division=0),
        ),
        ("recall", recall_score(truth, predicted, labels=labels, average=None, zero_division=0)),
        ("f1", f1_score(truth, predicted, labels=labels, average=None, zero_division=0)),
    ]:
        got = [metrics["per_class"][label][name] for label in labels]
        np.testing.assert_allclose(got, per_class)
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.sum() == len(truth) and np.trace(matrix) == np.sum(predicted == truth)
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["predicted"] for row in rows] == predicted.tolist()
    sums = [sum(float(v) for k, v in row.items() if k.startswith("p_")) for row in rows]
    np.testing.assert_allclose(sums, 1.0, atol=1e-4)


def test_split_option_and_label_set_override(model_dir, tmp_path):
    result = invoke(
        "evaluate", model_dir, "--data", "synthetic:280", "--split", "PublicTest",
        "--label-set", "happy,sad", "--out", tmp_path, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == ""
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["splits"] == ["PublicTest"]
    assert set(metrics["per_class"]) <= {"happy", "sad", "neutral", "surprise"}
    with open(tmp_path / "predictions.csv", newline="") as f:
        truths = {row["true"] for row in csv.DictReader(f)}
    assert truths <= {"happy", "sad"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["MODEL", "--data", "synthetic", "--split", "holdout"], 1, "has no split holdout"),
        (
            ["MODEL", "--data", "synthetic", "--label-set", "angry,fear"],
            1,
            "the model does not know",
        ),
        (["EMPTY", "--data", "synthetic"], 1, "no model at"),
        (["missing_model", "--data", "synthetic"], 2, "'missing_model' does not exist"),
        (["BROKEN", "--data", "synthetic"], 1, "is not valid JSON"),
        (["MODEL"], 2, "Missing option '--data'"),
    ],
)
def test_bad_input_is_one_clear_line(model_dir, tmp_path, args, code, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.json").write_text("{not json")
    paths = {"MODEL": model_dir, "EMPTY": tmp_path / "empty", "BROKEN": tmp_path / "broken"}
    args = [str(paths.get(a, a)) for a in args]
    result = invoke("evaluate", *args, "--out", tmp_path / "out")
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_weights_that_do_not_fit_are_named(model_dir, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    spec = json.loads((copy / "model.json").read_text())
    spec["pipeline"]["params"]["module__width"] = 8
    (copy / "model.json").write_text(json.dumps(spec))
    result = invoke("evaluate", copy, "--data", "synthetic", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "model_params.pt does not fit the network of" in result.output
