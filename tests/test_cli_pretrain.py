"""``fer-toolkit pretrain``: unlabelled images to a backbone file and a JSON report."""

from __future__ import annotations

import json

import cv2
import numpy as np
from click.testing import CliRunner

from fer_toolkit.cli.main import main
from fer_toolkit.datasets import make_synthetic_faces, write_fer2013_csv
from fer_toolkit.estimators import CNNClassifier, load_backbone


def _run(*args):
    return CliRunner().invoke(main, ["pretrain", *args])


def test_folder_to_backbone_and_report(tmp_path):
    faces = make_synthetic_faces(40, image_size=48, random_state=0).images
    folder = tmp_path / "faces" / "sub"
    folder.mkdir(parents=True)
    for i, face in enumerate(faces):
        cv2.imwrite(str(folder / f"{i}.png"), face)
    out = tmp_path / "backbone.pt"
    result = _run(
        str(tmp_path / "faces"),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--size",
        "32",
        "--device",
        "cpu",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    backbone = load_backbone(out)
    assert backbone.input_shape == (1, 32, 32) and backbone.pretext["tasks"] == ["rotation"]
    report = json.loads((tmp_path / "backbone.pt.json").read_text())
    assert report["n_images"] == 40 and 0.0 <= report["pretext_accuracy"]["rotation"] <= 1.0
    assert len(report["history"]) == 1 and "train_loss" in report["history"][0]
    small = make_synthetic_faces(16, classes=["happy", "sad"], image_size=32, random_state=1)
    clf = CNNClassifier(backbone=str(out), max_epochs=1, validation_fraction=None)
    assert clf.fit(small.images, small.target).predict(small.images).shape == (16,)


def test_csv_jigsaw(tmp_path):
    faces = make_synthetic_faces(20, random_state=0)
    csv = tmp_path / "fer.csv"
    write_fer2013_csv(csv, faces.images, np.zeros(20, dtype=int))
    out = tmp_path / "jig.pt"
    result = _run(
        str(csv),
        "--task",
        "jigsaw",
        "--n-permutations",
        "5",
        "--epochs",
        "1",
        "--out",
        str(out),
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert "pretext accuracy: jigsaw" in result.output
    assert load_backbone(out).pretext["n_permutations"] == 5


def test_bad_inputs(tmp_path):
    result = _run(str(tmp_path / "missing"), "--out", str(tmp_path / "b.pt"))
    assert result.exit_code == 1 and "missing: no such folder or file" in result.output
    (tmp_path / "empty").mkdir()
    result = _run(str(tmp_path / "empty"), "--out", str(tmp_path / "b.pt"))
    assert result.exit_code == 1 and "no images" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    result = _run(str(bad), "--out", str(tmp_path / "b.pt"))
    assert result.exit_code == 1 and "bad.csv" in result.output
    result = _run("synthetic", "--task", "puzzle", "--out", str(tmp_path / "b.pt"))
    assert result.exit_code == 2
    assert not (tmp_path / "b.pt").exists()


def test_help_has_an_example():
    result = CliRunner().invoke(main, ["pretrain", "--help"])
    assert result.exit_code == 0 and "fer-toolkit pretrain faces/" in result.output
