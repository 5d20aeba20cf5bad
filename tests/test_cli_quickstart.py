"""``fer-toolkit quickstart`` end to end on a small synthetic set."""

import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from click.testing import CliRunner

from fer_toolkit.cli import main
from fer_toolkit.datasets import load_fer2013


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    result = CliRunner().invoke(
        main, ["quickstart", "--out", str(out), "--n-samples", "700", "--n-jobs", "1"]
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
    ]:
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*")), "temporary files left behind"
    assert "rank" in result.output and "precision" in result.output


def test_quickstart_model_predicts_the_csv_it_wrote(quickstart_run):
    result, out = quickstart_run
    model = joblib.load(out / "model.joblib")
    test = load_fer2013(out / "synthetic_fer2013.csv", usage="PublicTest")
    assert len(test.target) == 140
    accuracy = np.mean(model.predict(test.images) == np.asarray(test.target_names)[test.target])
    assert accuracy > 2 / 7  # well above chance (1/7)
    assert f"test accuracy {accuracy:.3f}" in result.output


def test_quickstart_rejects_a_too_small_sample_count(tmp_path):
    result = CliRunner().invoke(main, ["quickstart", "--out", str(tmp_path), "--n-samples", "5"])
    assert result.exit_code == 2
    assert "--n-samples" in result.output


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "fer-toolkit"
    completed = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "quickstart" in completed.stdout
