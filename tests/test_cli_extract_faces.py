"""``fer-toolkit extract-faces``: options reach extract_faces, resuming, one-line errors."""

import csv

import cv2
import pytest
from click.testing import CliRunner
from skimage import data
from test_datasets_video import write_video

from fer_toolkit.cli import main

FACE = cv2.resize(data.astronaut(), (320, 240), interpolation=cv2.INTER_AREA)
NO_FACE = cv2.resize(data.coffee(), (320, 240), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    clip = write_video(root / "clip.avi", [FACE, FACE, NO_FACE, NO_FACE] * 3)
    photos = root / "photos"
    photos.mkdir()
    assert cv2.imwrite(str(photos / "astronaut.jpg"), FACE[..., ::-1])
    assert cv2.imwrite(str(photos / "coffee.png"), NO_FACE[..., ::-1])
    return clip, photos


def run(*args):
    return CliRunner().invoke(main, ["extract-faces", *map(str, args)])


def rows(out):
    with open(out / "index.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_help_shows_the_options_and_an_example():
    result = run("--help")
    assert result.exit_code == 0
    for text in ["--every", "--min-confidence", "--verify", "--keep", "--size", "--restart"]:
        assert text in result.output
    assert "Example:" in result.output and "fer-toolkit extract-faces" in result.output
    assert "extract-faces" in CliRunner().invoke(main, ["--help"]).output


def test_extracts_resumes_and_restarts(inputs, tmp_path):
    clip, photos = inputs
    out = tmp_path / "out"
    args = [clip, photos, "--out", out, "--detector", "haar", "--every", "2", "--no-progress"]
    result = run(*args, "--size", "64x48", "--grayscale", "--verify", "haar", "--format", "jpg")
    assert result.exit_code == 0, result.output
    assert "4 face crops kept, 0 detections rejected" in result.output
    assert "8 frames/images from 3 of 3 files (0 already done)" in result.output
    index = rows(out)
    assert [row["frame"] for row in index] == ["0", "4", "8", "-1"]
    crop = cv2.imread(str(out / index[0]["crop"]), cv2.IMREAD_UNCHANGED)
    assert index[0]["crop"].endswith(".jpg") and crop.shape == (64, 48)

    again = run(*args, "--size", "64x48", "--grayscale", "--verify", "haar", "--format", "jpg")
    assert again.exit_code == 0 and "(3 already done)" in again.output
    assert rows(out) == index

    changed = run(*args)
    assert changed.exit_code == 1
    assert changed.output.startswith("Error: ") and "--restart" in changed.output
    assert len(changed.output.strip().splitlines()) == 1

    restarted = run(*args, "--restart", "--keep", "largest", "--margin", "0.2")
    assert restarted.exit_code == 0, restarted.output
    assert "(0 already done)" in restarted.output
    assert cv2.imread(str(out / rows(out)[0]["crop"])).shape[:2] != (64, 48)


def test_quiet_prints_nothing_and_progress_goes_to_stderr(inputs, tmp_path):
    clip, _ = inputs
    quiet = run(clip, "--out", tmp_path / "q", "--detector", "haar", "--every", "4", "-q")
    assert quiet.exit_code == 0 and quiet.output == ""
    loud = run(clip, "--out", tmp_path / "l", "--detector", "haar")
    assert loud.exit_code == 0 and "12/12" in loud.stderr and "12/12" not in loud.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["missing.mp4"], 1, "Error: source 'missing.mp4' does not exist."),
        (["CLIP", "--every", "0"], 2, "Invalid value for '--every'"),
        (["CLIP", "--size", "big"], 2, "'big' is not a size"),
        (["CLIP", "--detector", "yolo"], 2, "Invalid value for '--detector'"),
        (["CLIP", "--verify", "maybe"], 2, "Invalid value for '--verify'"),
        (["CLIP", "--margin", "-1"], 2, "Invalid value for '--margin'"),
        ([], 2, "Missing argument 'SOURCES...'"),
    ],
)
def test_user_errors_are_one_clear_line(inputs, tmp_path, args, code, message):
    clip, _ = inputs
    args = [str(clip) if a == "CLIP" else a for a in args]
    result = run(*args, "--out", tmp_path / "out")
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_unreadable_file_is_named(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    result = run(broken, "--out", tmp_path / "out", "--detector", "haar", "-q")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "broken.jpg" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_default_detector_is_mtcnn_with_landmarks(inputs, tmp_path):
    clip, _ = inputs
    result = run(clip, "--out", tmp_path, "--every", "4", "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    index = rows(tmp_path)
    assert [row["frame"] for row in index] == ["0", "4", "8"]
    assert all(row["left_eye_x"] and row["mouth_right_y"] for row in index)
    assert all(float(row["confidence"]) > 0.9 for row in index)
