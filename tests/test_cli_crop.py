"""``fer-toolkit crop``: aligned crops, FER CSV sources, resuming, bad input."""

import csv

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data

from fer_toolkit.cli import main
from fer_toolkit.datasets import (
    load_fer2013,
    load_image_folder,
    make_synthetic_faces,
    write_fer2013_csv,
)
from fer_toolkit.datasets.extraction import fer_csv as csv_module
from fer_toolkit.datasets.extraction.output import LANDMARK_NAMES
from fer_toolkit.preprocessing import align_face
from fer_toolkit.utils.fileio import folder_lock
from fer_toolkit.utils.pixels import to_gray


def run(*args):
    return CliRunner().invoke(main, ["crop", *map(str, args)])


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs") / "photos"
    folder.mkdir()
    assert cv2.imwrite(str(folder / "astronaut.png"), data.astronaut()[..., ::-1])
    assert cv2.imwrite(str(folder / "coffee.png"), data.coffee()[..., ::-1])
    return folder


@pytest.fixture(scope="module")
def fer_csv(tmp_path_factory):
    faces = make_synthetic_faces(40, random_state=1)
    names = np.asarray(faces.target_names)[faces.target]
    path = tmp_path_factory.mktemp("fer") / "fer2013.csv"
    write_fer2013_csv(path, faces.images, names, usage=["Training"] * 30 + ["PublicTest"] * 10)
    return path


def test_aligned_crops_resume_and_restart(photos, tmp_path):
    out = tmp_path / "out"
    args = [photos, "--out", out, "--align", "--size", "48", "--grayscale", "--device", "cpu"]
    result = run(*args, "--margin", "0.1")
    assert result.exit_code == 0, result.output
    assert "1 face crops kept, 0 detections rejected" in result.output
    (row,) = rows(out / "index.csv")
    assert row["crop"] == "faces/photos/astronaut_0.png" and row["kept"] == "1"
    written = cv2.imread(str(out / row["crop"]), cv2.IMREAD_UNCHANGED)
    assert written.shape == (48, 48)
    # The same face as aligning the full photo on the landmarks of the index.
    landmarks = np.array([float(row[f"{n}_{a}"]) for n in LANDMARK_NAMES for a in "xy"]).reshape(
        5, 2
    )
    expected = to_gray(align_face(data.astronaut(), landmarks, 48, margin=0.1))
    # Within 2 grey levels: the index rounds the landmarks to 0.01 px.
    assert np.abs(written.astype(int) - expected).max() <= 2
    assert not (out / "detections").exists()

    again = run(*args, "--margin", "0.1")
    assert again.exit_code == 0 and "(2 already done)" in again.output
    assert rows(out / "index.csv") == [row]

    changed = run(*args, "--margin", "0.3")
    assert changed.exit_code == 1
    assert "margin=0.1, not 0.3" in changed.output and "--restart" in changed.output
    restarted = run(*args, "--margin", "0.3", "--restart")
    assert restarted.exit_code == 0, restarted.output
    assert "(0 already done)" in restarted.output
    assert not np.array_equal(cv2.imread(str(out / row["crop"]), cv2.IMREAD_UNCHANGED), written)


def test_fer_csv_to_fer_csv_keeps_labels_usage_and_rows(fer_csv, tmp_path):
    out = tmp_path / "out"
    result = run(fer_csv, "--out", out, "--format", "csv", "--margin", "0.1", "--device", "cpu")
    assert result.exit_code == 0, result.output
    source, cropped = load_fer2013(fer_csv), load_fer2013(out / "fer2013.csv")
    np.testing.assert_array_equal(cropped.target, source.target)
    np.testing.assert_array_equal(cropped.usage, source.usage)
    index = rows(out / "index.csv")
    assert [int(r["row"]) for r in index] == list(range(40))
    found = np.array([r["found"] == "1" for r in index])
    assert found.sum() > 30  # MTCNN finds most synthetic faces
    # Rows without a face keep their image; rows with one are re-cropped.
    np.testing.assert_array_equal(cropped.images[~found], source.images[~found])
    assert not np.array_equal(cropped.images[found], source.images[found])
    assert all(r["left_eye_x"] for r, f in zip(index, found, strict=True) if f)
    assert f"a face found in {found.sum()}, the whole image kept for {40 - found.sum()}" in (
        result.output
    )
    assert not (out / "parts" / "fer2013").exists()


def test_fer_csv_to_a_labelled_image_folder(fer_csv, tmp_path):
    out = tmp_path / "out"
    result = run(fer_csv, "--out", out, "--detector", "haar", "--size", "32", "--n-jobs", "2", "-q")
    assert result.exit_code == 0 and result.output == ""
    folder = load_image_folder(out / "faces" / "fer2013")
    source = load_fer2013(fer_csv)
    assert len(folder.filenames) == 40
    assert sorted(set(folder.split)) == ["PublicTest", "Training"]
    by_row = {int(name.rsplit("/", 1)[1].split(".")[0]): t for name, t in zip(
        folder.filenames, folder.target, strict=True)}  # fmt: skip
    assert [by_row[i] for i in range(40)] == [source.target_names[t] for t in source.target]
    assert cv2.imread(folder.filenames[0], cv2.IMREAD_UNCHANGED).shape == (32, 32)


def test_interrupted_csv_crop_resumes_where_it_stopped(fer_csv, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_module, "_CSV_CHUNK", 16)
    calls = []
    real = csv_module._cut_rows

    def flaky(images, *args, **kwargs):
        calls.append(len(images))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(images, *args, **kwargs)

    monkeypatch.setattr(csv_module, "_cut_rows", flaky)
    out = tmp_path / "out"
    args = [fer_csv, "--out", out, "--format", "csv", "--detector", "haar", "-q"]
    assert run(*args).exit_code == 130  # Ctrl-C: 128 + SIGINT, as every command
    assert not (out / "fer2013.csv").exists()
    calls.clear()
    monkeypatch.setattr(csv_module, "_cut_rows", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert len(calls) == 2  # rows 16-31 and 32-39; the first chunk was kept
    assert len(load_fer2013(out / "fer2013.csv").target) == 40
    assert run(*args).exit_code == 0 and len(calls) == 2  # finished: nothing redone


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["PHOTOS", "--align", "--detector", "haar"], 2, "--align needs --detector mtcnn"),
        (["PHOTOS", "CSV"], 2, "in separate runs"),
        (["PHOTOS", "--format", "csv"], 2, "--format csv writes FER2013 CSVs from FER2013 CSV"),
        (["CSV", "--every", "5"], 2, "--every do not apply to FER2013 CSV sources"),
        (["CSV", "--format", "csv", "--size", "64"], 2, "48x48 images"),
        (["missing.mp4"], 1, "Error: source 'missing.mp4' does not exist."),
        (["missing.csv"], 1, "Error: source 'missing.csv' does not exist."),
        (["PHOTOS", "--size", "0"], 2, "is not a size"),
        (["PHOTOS", "--device", "cuda:7"], 2, "--device"),
        (["PHOTOS", "--n-jobs", "0"], 2, "0 jobs would do nothing"),
    ],
)
def test_bad_input_is_one_clear_line(photos, fer_csv, tmp_path, args, code, message):
    args = [str({"PHOTOS": photos, "CSV": fer_csv}.get(a, a)) for a in args]
    result = run(*args, "--out", tmp_path / "out")
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_never_writes_into_its_inputs(photos, fer_csv):
    inside = run(photos, "--out", photos / "crops", "--detector", "haar")
    assert inside.exit_code == 1 and "overlap" in inside.output
    beside = run(fer_csv, "--out", fer_csv.parent, "--format", "csv", "--detector", "haar")
    assert beside.exit_code == 1 and "would overwrite the source" in beside.output


@pytest.mark.parametrize("source", ["PHOTOS", "CSV"])
def test_a_folder_in_use_is_one_clear_line(photos, fer_csv, tmp_path, source):
    out = tmp_path / "out"
    with folder_lock(out):
        result = run(photos if source == "PHOTOS" else fer_csv, "--out", out, "--device", "cpu")
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ")
    assert "is in use by another" in result.output and "Traceback" not in result.output
