"""The installed ``fer-toolkit`` console script, end to end: crop -> train -> evaluate -> predict.

Real photos from ``skimage.data``, synthetic training faces; each step is a separate process.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from skimage import data


def _script() -> str:
    beside = Path(sys.executable).parent / "fer-toolkit"
    found = str(beside) if beside.exists() else shutil.which("fer-toolkit")
    if found is None:
        pytest.skip("the fer-toolkit console script is not installed")
    return found


def fer_toolkit(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [_script(), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def test_crop_train_evaluate_predict(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ["astronaut", "coffee", "chelsea"]:  # one face, a cup, a cat
        assert cv2.imwrite(str(photos / f"{name}.png"), getattr(data, name)()[..., ::-1])

    out = fer_toolkit(
        "crop", "photos", "--out", "crops", "--align", "--size", "48", "--grayscale",
        "--device", "cpu", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert "1 face crops kept" in out
    with open(tmp_path / "crops" / "index.csv", newline="") as f:
        kept = [row for row in csv.DictReader(f) if row["kept"] == "1"]
    assert [row["source"] for row in kept] == [os.path.join("photos", "astronaut.png")]
    assert cv2.imread(str(tmp_path / "crops" / kept[0]["crop"]), 0).shape == (48, 48)

    out = fer_toolkit(
        "train", "--data", "synthetic:280", "--set", "max_epochs=2", "--set", "lr=0.005",
        "--set", "module__width=8", "--out", "model", "-q", cwd=tmp_path,
    )  # fmt: skip
    assert out == ""
    spec = json.loads((tmp_path / "model" / "model.json").read_text())
    assert spec["training"]["epochs"] == 2 and len(spec["classes"]) == 7

    out = fer_toolkit("evaluate", "model", "--data", "synthetic:280", "--out", "test", cwd=tmp_path)
    metrics = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert f"accuracy {metrics['accuracy']:.3f} on {metrics['n_samples']} images" in out
    assert metrics["n_samples"] == 42  # PrivateTest: the last 15% of the 280 faces
    assert (tmp_path / "test" / "confusion_matrix_normalized.png").exists()

    out = fer_toolkit(
        "predict", "model", "photos", "--annotate", "--device", "cpu", "--out", "predictions",
        cwd=tmp_path,
    )  # fmt: skip
    assert "1 faces in 3 images/frames of 3 files" in out
    with open(tmp_path / "predictions" / "predictions.csv", newline="") as f:
        (face,) = csv.DictReader(f)
    assert face["source"].endswith("astronaut.png") and face["label"] in spec["classes"]
    assert face["left_eye_x"] and float(face["confidence"]) > 0.9
    assert (
        cv2.imread(str(tmp_path / "predictions" / "annotated" / "photos" / "astronaut.png"))
        is not None
    )
