"""``fer-toolkit quickstart`` end to end on a small synthetic set."""

import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from click.testing import CliRunner

from fer_toolkit.cli import main
from fer_toolkit.datasets import load_fer2013
from fer_toolkit.estimators import CNNClassifier


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    result = CliRunner().invoke(
        main,
        [
            "quickstart",
            "--out",
            str(out),
            "--n-samples",
            "420",
            "--n-jobs",
            "1",
            "--max-epochs",
            "3",
        ],
    )
    return result, out


def test_quickstart_writes_every_output(quickstart_run):
    result, out = quickstart_run
    assert result.exit_code == 0, result.output
    for name in [
        "synthetic_fer2013.csv",
        "model.joblib",
        "cv_results.csv",
        "classification_report.txt",
        "confusion_matrix.png",
        "learning_curve.png",
        "model_params.pt",
    ]:
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*")), "temporary files left behind"
    assert "rank" in result.output and "precision" in result.output


def test_quickstart_shows_the_progress_of_its_final_refit(quickstart_run):
    result, _ = quickstart_run
    # 336 training images in batches of 64: 6 batches in each of the 3 epochs.
    assert "refit of the best parameters on all 336 training images" in result.output
    assert re.search(r"refit: 100%.*\b18/18\b.*epoch=3/3", result.output)


def test_quickstart_model_predicts_the_csv_it_wrote(quickstart_run):
    result, out = quickstart_run
    model = joblib.load(out / "model.joblib")
    test = load_fer2013(out / "synthetic_fer2013.csv", usage="PublicTest")
    assert len(test.target) == 84
    accuracy = np.mean(model.predict(test.images) == np.asarray(test.target_names)[test.target])
    assert f"CNN test accuracy {accuracy:.3f}" in result.output
    assert "HOG + linear SVM baseline" in result.output


def test_quickstart_weights_load_without_pickle(quickstart_run):
    _, out = quickstart_run
    fitted = joblib.load(out / "model.joblib").named_steps["cnn"]
    test = load_fer2013(out / "synthetic_fer2013.csv", usage="PublicTest")
    restored = CNNClassifier(**fitted.get_params(deep=False))
    restored.initialize_for(test.images, fitted.classes_)
    restored.load_params(f_params=out / "model_params.pt")
    np.testing.assert_allclose(
        restored.predict_proba(test.images), fitted.predict_proba(test.images), rtol=1e-5
    )


def test_quickstart_rejects_a_too_small_sample_count(tmp_path):
    result = CliRunner().invoke(main, ["quickstart", "--out", str(tmp_path), "--n-samples", "5"])
    assert result.exit_code == 2
    assert "--n-samples" in result.output


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "fer-toolkit"
    completed = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "quickstart" in completed.stdout
