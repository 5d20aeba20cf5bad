"""``fer-toolkit predict``: faces in photos, folders and videos -> CSV / JSON lines, annotations."""

import csv
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data
from test_datasets_video import write_video

from fer_toolkit.cli import main
from fer_toolkit.cli._model import load_model
from fer_toolkit.datasets import video_info
from fer_toolkit.preprocessing import crop_box
from fer_toolkit.preprocessing.geometry import resize_image

FACE = cv2.resize(data.astronaut(), (320, 240), interpolation=cv2.INTER_AREA)
NO_FACE = cv2.resize(data.coffee(), (320, 240), interpolation=cv2.INTER_AREA)


def invoke(*args):
    return CliRunner().invoke(main, [*map(str, args)])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    result = invoke(
        "train", "--data", "synthetic:140", "--set", "max_epochs=1", "--set", "module__width=4",
        "--margin", "0.1", "--out", out, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    photos = root / "photos"
    (photos / "more").mkdir(parents=True)
    assert cv2.imwrite(str(photos / "astronaut.jpg"), data.astronaut()[..., ::-1])
    assert cv2.imwrite(str(photos / "more" / "coffee.png"), NO_FACE[..., ::-1])
    clip = write_video(root / "clip.avi", [FACE, NO_FACE, FACE, FACE, NO_FACE])
    return photos, clip


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_rows_per_face_with_annotated_copies(model_dir, inputs, tmp_path):
    photos, clip = inputs
    out = tmp_path / "out"
    result = invoke(
        "predict", model_dir, photos, clip, "--detector", "haar", "--every", "2", "--annotate",
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = rows(out / "predictions.csv")
    assert [(r["source"].split("/")[-1], r["frame"], r["face"]) for r in table] == [
        ("astronaut.jpg", "-1", "0"),
        ("clip.avi", "0", "0"),
        ("clip.avi", "2", "0"),
    ]  # coffee.png and the coffee frame 4 have no face; frames 1 and 3 are skipped
    assert "3 faces in 5 images/frames of 3 files" in result.output
    model = load_model(model_dir, device="cpu")
    classes = [str(c) for c in model.classes]
    # The JPEG that predict read, not the original pixels: the model tells them apart.
    astronaut = cv2.imread(str(photos / "astronaut.jpg"))[..., ::-1]
    for row in table:
        proba = np.array([float(row[f"p_{c}"]) for c in classes])
        assert proba.sum() == pytest.approx(1, abs=1e-4)
        assert row["label"] == classes[int(np.argmax(proba))]
        assert row["left_eye_x"] == ""  # Haar finds no landmarks
    x, y, w, h = (int(table[0][k]) for k in "xywh")
    assert 160 < x < 200 and 50 < y < 90 and 70 < w < 110  # the astronaut's face
    # The same numbers as cutting the face by hand, with the model's margin, through the model.
    face = resize_image(crop_box(astronaut, (x, y, w, h), 0.1), (48, 48), "area")
    expected = model.face_pipeline().predict_proba(face[np.newaxis])[0]
    got = np.array([float(table[0][f"p_{c}"]) for c in classes])
    np.testing.assert_allclose(got, expected, atol=2e-6)
    annotated = cv2.imread(str(out / "annotated" / "photos" / "astronaut.png"))
    assert annotated.shape == astronaut.shape
    assert (out / "annotated" / "photos" / "more" / "coffee.png").exists()
    video = video_info(out / "annotated" / "clip.mp4")
    assert (video.frame_count, video.width, video.height) == (5, 320, 240)  # every frame


def test_json_lines_with_mtcnn_landmarks(model_dir, inputs, tmp_path):
    photos, _ = inputs
    result = invoke(
        "predict", model_dir, photos / "astronaut.jpg", "--detector", "mtcnn", "--device", "cpu",
        "--format", "jsonl", "--min-confidence", "0.9", "--out", tmp_path, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == ""
    (line,) = (tmp_path / "predictions.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["frame"] == -1 and record["face"] == 0
    assert np.array(record["landmarks"]).shape == (5, 2)
    left_eye, right_eye = record["landmarks"][:2]
    assert left_eye[0] < right_eye[0]  # image-left first
    assert record["confidence"] > 0.9
    assert record["label"] == max(record["probabilities"], key=record["probabilities"].get)


def test_detector_none_takes_each_image_as_a_face(model_dir, tmp_path):
    crops = tmp_path / "crops"
    crops.mkdir()
    for i in range(3):
        cv2.imwrite(str(crops / f"{i}.png"), np.full((60, 50), 40 * i, dtype=np.uint8))
    result = invoke("predict", model_dir, crops, "--detector", "none", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    table = rows(tmp_path / "o" / "predictions.csv")
    assert [(r["x"], r["y"], r["w"], r["h"]) for r in table] == [("0", "0", "50", "60")] * 3


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["MODEL", "missing.jpg"], 1, "input 'missing.jpg' does not exist"),
        (["MODEL", "NOTES"], 1, "is neither an image"),
        (["MODEL", "EMPTY"], 1, "no images"),
        (["MODEL", "PHOTO", "--every", "0"], 2, "Invalid value for '--every'"),
        (["MODEL", "PHOTO", "--format", "xml"], 2, "Invalid value for '--format'"),
        (["MODEL", "PHOTO", "--detector", "yolo"], 2, "Invalid value for '--detector'"),
        (["MODEL"], 2, "Missing argument 'INPUTS...'"),
        (["EMPTY", "PHOTO"], 1, "no model at"),
        (["MODEL", "BROKEN"], 1, "broken.jpg"),
    ],
)
def test_bad_input_is_one_clear_line(model_dir, inputs, tmp_path, args, code, message):
    photos, _ = inputs
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    paths = {
        "MODEL": model_dir,
        "PHOTO": photos / "astronaut.jpg",
        "EMPTY": tmp_path / "empty",
        "NOTES": tmp_path / "notes.txt",
        "BROKEN": tmp_path / "broken.jpg",
    }
    args = [str(paths.get(a, a)) for a in args]
    result = invoke("predict", "--detector", "haar", "--out", tmp_path / "out", *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "predictions.csv").exists()


def test_an_aligned_model_needs_landmarks(model_dir, inputs, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    spec = json.loads((copy / "model.json").read_text())
    spec["pipeline"].update(cropper="mtcnn", align=True)
    (copy / "model.json").write_text(json.dumps(spec))
    photo = inputs[0] / "astronaut.jpg"
    result = invoke("predict", copy, photo, "--detector", "haar", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "aligned faces, which need landmarks" in result.output
