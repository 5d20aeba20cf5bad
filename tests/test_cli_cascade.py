"""``fer-toolkit cascade``: OpenCV's command lines verbatim, both backends, detect/evaluate/show."""

import json
import shlex
import types
from pathlib import Path

import click
import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data

from fer_toolkit.cascade import (
    box_iou,
    read_info,
    read_vec,
    samples_from_info,
    write_bg,
    write_info,
    write_vec,
)
from fer_toolkit.cli import cascade as cli_cascade
from fer_toolkit.cli import main

FAKE = Path(__file__).parent / "data" / "fake_opencv"
# The two command lines of amirhossein-hkh/facial-expression-recognition, with the program
# names replaced.
SEED_CREATESAMPLES = shlex.split("-info info/info.lst -num 9000 -w 20 -h 20 -vec positives.vec")
SEED_TRAIN = shlex.split(
    "-data data -vec positives.vec -bg bg.txt -numPos 7000 -numNeg 3500 -numStages 10 -w 20 -h 20"
)
ASTRONAUT_FACE = (180, 70, 90, 92)

TRAIN_DEFAULTS = {
    "precalc_val_buf_size": 1024,
    "precalc_idx_buf_size": 1024,
    "num_threads": None,
    "accept_ratio_break_value": -1.0,
    "feature_type": "HAAR",
    "boost_type": "GAB",
    "min_hit_rate": 0.995,
    "max_false_alarm_rate": 0.5,
    "weight_trim_rate": 0.95,
    "max_depth": 1,
    "max_weak_count": 100,
    "mode": "BASIC",
    "device": "auto",
    "random_state": None,
    "max_neg_windows": 20_000_000,
}


def invoke(*args):
    return CliRunner().invoke(main, ["cascade", *args])


@pytest.fixture
def fake_train(monkeypatch):
    """Stand in for train_cascade and record its arguments."""
    calls = []

    def train_cascade(**kwargs):
        calls.append(kwargs)
        kwargs["progress"]("stage 0: 3 weak classifiers")
        path = Path(kwargs["data"]) / "cascade.xml"
        return types.SimpleNamespace(
            path=path, stages=[1, 2], loaded_stages=0, stop_reason="numStages reached"
        )

    monkeypatch.setattr(cli_cascade, "train_cascade", train_cascade)
    return calls


@pytest.fixture
def seed_files(tmp_path, monkeypatch):
    """amirhossein-hkh/facial-expression-recognition's input files in the working directory.

    The .vec holds 9000 samples of 20x20.
    """
    monkeypatch.chdir(tmp_path)
    write_vec("positives.vec", np.zeros((9000, 20, 20), dtype=np.uint8))
    Path("bg.txt").write_text("neg/1.jpg\n")
    return tmp_path


def test_seed_004_createsamples_line_maps_to_create_samples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(cli_cascade, "create_samples", lambda **kw: calls.append(kw) or [0] * 7)
    result = invoke("createsamples", *SEED_CREATESAMPLES)
    assert result.exit_code == 0, result.output
    assert calls == [
        {
            "info": Path("info/info.lst"),
            "img": None,
            "vec": Path("positives.vec"),
            "bg": None,
            "num": 9000,
            "bg_color": 0,
            "bg_thresh": 80,
            "inv": False,
            "randinv": False,
            "max_intensity_dev": 40,
            "max_x_angle": 1.1,
            "max_y_angle": 1.1,
            "max_z_angle": 0.5,
            "width": 20,
            "height": 20,
            "max_scale": None,
            "random_state": 12345,
        }
    ]
    assert "Created 7 samples of 20x20 in positives.vec" in result.output


def test_seed_004_createsamples_line_runs_natively(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image = Path("info/img/astronaut.png")
    image.parent.mkdir(parents=True)
    cv2.imwrite(str(image), data.astronaut()[..., ::-1])
    boxes = [ASTRONAUT_FACE, (0, 0, 60, 60), (300, 300, 40, 50)]
    write_info("info/info.lst", [(image, boxes)])
    args = [*SEED_CREATESAMPLES]
    args[args.index("-num") + 1] = "3"
    result = invoke("createsamples", *args, "-show")
    assert result.exit_code == 0, result.output
    samples = read_vec("positives.vec", 20, 20)
    np.testing.assert_array_equal(samples, samples_from_info("info/info.lst", 3, 20, 20))
    tile = cv2.imread("positives.png", cv2.IMREAD_GRAYSCALE)
    assert tile.shape == (2 * (4 * 20 + 1) + 1, 2 * (4 * 20 + 1) + 1)  # 2x2 grid, -show's 4x


def test_seed_004_train_line_maps_to_train_cascade(seed_files, fake_train):
    result = invoke("train", *SEED_TRAIN)
    assert result.exit_code == 0, result.output
    (call,) = fake_train
    assert call.pop("progress") is click.echo
    assert call == {
        "data": Path("data"),
        "vec": Path("positives.vec"),
        "bg": Path("bg.txt"),
        "num_pos": 7000,
        "num_neg": 3500,
        "num_stages": 10,
        "width": 20,
        "height": 20,
        **TRAIN_DEFAULTS,
    }
    assert "stage 0: 3 weak classifiers" in result.output
    assert "2 stages trained, 0 resumed" in result.output
    assert "Cascade written to data/cascade.xml" in result.output


def test_native_train_then_detect_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    # A two-tone 12x12 "object" (dark left half, bright right half) against noise.
    objects = np.tile(np.r_[np.full(6, 40), np.full(6, 210)].astype(np.uint8), (40, 12, 1))
    noisy = np.clip(objects + rng.integers(-5, 6, objects.shape), 0, 255)
    write_vec("pos.vec", noisy.astype(np.uint8))
    for i in range(3):
        cv2.imwrite(f"bg{i}.png", rng.integers(0, 256, (60, 80), dtype=np.uint8))
    write_bg("bg.txt", [f"bg{i}.png" for i in range(3)])
    result = invoke(
        "train",
        *shlex.split("-data data -vec pos.vec -bg bg.txt -numPos 30 -numNeg 30"),
        *shlex.split("-numStages 2 -w 12 -h 12 --device cpu"),
    )
    assert result.exit_code == 0, result.output
    assert "|  N |    HR   |    FA   |" in result.output  # OpenCV's table, streamed
    assert result.output.rstrip().endswith("Cascade written to data/cascade.xml")
    assert not cv2.CascadeClassifier("data/cascade.xml").empty()
    scene = np.full((40, 60), 128, dtype=np.uint8)
    scene[10:22, 20:26], scene[10:22, 26:32] = 40, 210
    cv2.imwrite("scene.png", scene)
    result = invoke(
        "detect",
        "scene.png",
        "--cascade",
        "data/cascade.xml",
        "--out",
        "found",
        "--min-neighbors",
        "0",
    )
    assert result.exit_code == 0, result.output
    boxes = json.loads(Path("found/detections.json").read_text())["images"][0]["boxes"]
    assert box_iou(boxes, [[20, 10, 12, 12]]).max() > 0.7


OPENCV_STYLE = [
    *("-precalcValBufSize", "256", "-precalcIdxBufSize", "128", "-numThreads", "2"),
    *("-acceptanceRatioBreakValue", "-1e-5", "-stageType", "BOOST", "-featureType", "LBP"),
    *("-bt", "RAB", "-minHitRate", "0.999", "-maxFalseAlarmRate", "0.4"),
    *("-weightTrimRate", "0.9", "-maxDepth", "2", "-maxWeakCount", "50", "-mode", "ALL"),
]
KEBAB_STYLE = [
    *("--precalc-val-buf-size", "256", "--precalc-idx-buf-size", "128", "--num-threads", "2"),
    *("--accept-ratio-break-value=-1e-5", "--stage-type", "BOOST", "--feature-type", "LBP"),
    *("--boost-type", "RAB", "--min-hit-rate", "0.999", "--max-false-alarm-rate", "0.4"),
    *("--weight-trim-rate", "0.9", "--max-depth", "2", "--max-weak-count", "50", "--mode", "ALL"),
]


@pytest.mark.parametrize("style", [OPENCV_STYLE, KEBAB_STYLE], ids=["opencv", "kebab"])
def test_every_train_flag_in_both_spellings(seed_files, fake_train, style):
    head = (
        SEED_TRAIN
        if style is OPENCV_STYLE
        else [
            *("--data", "data", "--vec", "positives.vec", "--bg", "bg.txt", "--num-pos", "7000"),
            *("--num-neg", "3500", "--num-stages", "10", "--width", "20", "--height", "20"),
        ]
    )
    native = ("--device", "cpu", "--seed", "3", "--max-neg-windows", "1000")
    result = invoke("train", *head, *style, *native)
    assert result.exit_code == 0, result.output
    (call,) = fake_train
    del call["progress"]
    assert call == {
        "data": Path("data"),
        "vec": Path("positives.vec"),
        "bg": Path("bg.txt"),
        "num_pos": 7000,
        "num_neg": 3500,
        "num_stages": 10,
        "width": 20,
        "height": 20,
        "precalc_val_buf_size": 256,
        "precalc_idx_buf_size": 128,
        "num_threads": 2,
        "accept_ratio_break_value": -1e-5,
        "feature_type": "LBP",
        "boost_type": "RAB",
        "min_hit_rate": 0.999,
        "max_false_alarm_rate": 0.4,
        "weight_trim_rate": 0.9,
        "max_depth": 2,
        "max_weak_count": 50,
        "mode": "ALL",
        "device": "cpu",
        "random_state": 3,
        "max_neg_windows": 1000,
    }


def _argv(output):
    (line,) = [line for line in output.splitlines() if line.startswith("ARGV ")]
    return json.loads(line.removeprefix("ARGV "))


def test_seed_004_train_line_with_the_opencv_backend(seed_files):
    result = invoke("train", *SEED_TRAIN, "--backend", "opencv", "--opencv-bin-dir", str(FAKE))
    assert result.exit_code == 0, result.output
    assert _argv(result.output) == [
        *SEED_TRAIN[:6],
        *("-numPos", "7000", "-numNeg", "3500", "-numStages", "10"),
        *("-precalcValBufSize", "1024", "-precalcIdxBufSize", "1024"),
        *("-acceptanceRatioBreakValue", "-1.0", "-stageType", "BOOST", "-featureType", "HAAR"),
        *("-w", "20", "-h", "20", "-bt", "GAB", "-minHitRate", "0.995"),
        *("-maxFalseAlarmRate", "0.5", "-weightTrimRate", "0.95", "-maxDepth", "1"),
        *("-maxWeakCount", "100", "-mode", "BASIC"),
    ]
    assert "NEG count : acceptanceRatio" in result.output  # streamed tool output
    assert "Cascade written to data/cascade.xml" in result.output


def test_seed_004_createsamples_line_with_the_opencv_backend(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("info").mkdir()
    # One line with 9000 boxes: the images are the tool's business, the count is ours.
    Path("info/info.lst").write_text("img/a.jpg 9000" + " 0 0 20 20" * 9000 + "\n")
    result = invoke(
        "createsamples", *SEED_CREATESAMPLES, "--backend", "opencv", "--opencv-bin-dir", str(FAKE)
    )
    assert result.exit_code == 0, result.output
    argv = _argv(result.output)
    assert argv[:6] == ["-info", "info/info.lst", "-vec", "positives.vec", "-num", "9000"]
    assert argv[-4:] == ["-h", "20", "-rngseed", "12345"]
    assert "-show" not in argv


def test_opencv_backend_without_the_tools_names_the_native_one(seed_files, monkeypatch):
    monkeypatch.setenv("PATH", str(seed_files))
    result = invoke("train", *SEED_TRAIN, "--backend", "opencv")
    assert result.exit_code == 1
    assert "opencv_traincascade was not found on PATH" in result.output
    assert "fer-toolkit cascade train --backend native" in result.output
    assert isinstance(result.exception, SystemExit), "no traceback"


def test_a_failing_opencv_tool_is_one_error(seed_files, monkeypatch):
    monkeypatch.setenv("FAKE_OPENCV_EXIT", "1")
    result = invoke("train", *SEED_TRAIN, "--backend", "opencv", "--opencv-bin-dir", str(FAKE))
    assert result.exit_code == 1
    assert "Error: opencv_traincascade exited with status 1; its last lines:" in result.output
    assert "failure line 20" in result.output and isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-numPos", "many"], "Invalid value for '-numPos' / '--num-pos'"),
        (["-nsplits", "2"], "No such option '-nsplits'"),
        (["-numpos", "5"], "Did you mean '-numPos'?"),
        (["-bt", "ADA"], "'ADA' is not one of 'GAB', 'DAB', 'RAB', 'LB'"),
        (["-minHitRate", "1.5"], "1.5 is not in the range 0<x<=1"),
        (
            ["-h"],
            "-h is the sample height, as in OpenCV, and needs a value (-h 24)",
        ),
    ],
)
def test_bad_train_flags_are_usage_errors(seed_files, fake_train, args, message):
    result = invoke("train", *SEED_TRAIN, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert fake_train == []


def test_missing_inputs_and_native_limits_are_reported(seed_files, fake_train):
    result = invoke("train", "-data", "d", "-vec", "missing.vec", "-bg", "bg.txt")
    assert result.exit_code == 2 and "'missing.vec' does not exist" in result.output
    result = invoke("train", *SEED_TRAIN, "-baseFormatSave")
    assert result.exit_code == 2 and "-baseFormatSave needs --backend opencv" in result.output
    result = invoke("train", *SEED_TRAIN, "-featureType", "HOG")
    assert result.exit_code == 2 and "-featureType HOG needs --backend opencv" in result.output
    result = invoke("train", *SEED_TRAIN, "--backend", "opencv", "--device", "cuda")
    assert result.exit_code == 2 and "--device applies to the native backend only" in result.output
    result = invoke("train", *SEED_TRAIN, "--backend", "opencv", "--max-neg-windows", "10")
    assert result.exit_code == 2
    assert "--max-neg-windows applies to the native backend only" in result.output
    result = invoke("train", *SEED_TRAIN, "--max-neg-windows", "0")
    assert result.exit_code == 2 and "0 is not in the range x>=1" in result.output
    assert fake_train == []


def test_library_errors_are_one_line_without_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("info.lst").write_text("a.png 2 0 0 10 10\n")
    result = invoke("createsamples", "-info", "info.lst", "-vec", "p.vec")
    assert result.exit_code == 1
    assert result.output.startswith("Error: info.lst, line 1: the object count is 2")
    assert isinstance(result.exception, SystemExit)
    result = invoke("createsamples", "-num", "10")
    assert result.exit_code == 2 and "nothing to do" in result.output


def test_help_keeps_h_for_height_and_shows_examples():
    for command in ["createsamples", "train", "detect", "evaluate", "show"]:
        result = invoke(command, "--help")
        assert result.exit_code == 0, result.output
        assert "Examples:" in result.output and f"fer-toolkit cascade {command}" in result.output
    assert "-h, --height" in invoke("train", "--help").output
    assert "-numPos, --num-pos" in invoke("train", "--help").output
    assert "-maxxangle, --max-x-angle" in invoke("createsamples", "--help").output
    assert invoke("--help").exit_code == 0 and invoke("-h").exit_code == 0


@pytest.fixture
def photos(tmp_path):
    astronaut, coins = tmp_path / "photos" / "astronaut.png", tmp_path / "photos" / "coins.png"
    astronaut.parent.mkdir()
    cv2.imwrite(str(astronaut), data.astronaut()[..., ::-1])
    cv2.imwrite(str(coins), data.coins())
    return astronaut, coins


def test_detect_writes_boxes_and_annotated_images(tmp_path, photos):
    astronaut, _ = photos
    out = tmp_path / "out"
    result = invoke(
        "detect",
        str(astronaut.parent),
        "--out",
        str(out),
        "--min-neighbors",
        "5",
        "--min-size",
        "30x30",
    )
    assert result.exit_code == 0, result.output
    assert f"{astronaut}: 1 box\n" in result.output
    rows = (out / "detections.csv").read_text().splitlines()
    assert rows[:2] == ["image,x,y,w,h,score", f"{astronaut},177,66,95,95,40"]
    document = json.loads((out / "detections.json").read_text())
    assert document["parameters"]["min_size"] == [30, 30]
    assert [Path(e["path"]).name for e in document["images"]] == ["astronaut.png", "coins.png"]
    assert cv2.imread(str(out / "annotated" / "astronaut.png")).shape == (512, 512, 3)
    assert (out / "annotated" / "coins.png").is_file()
    result = invoke("detect", str(tmp_path / "nothing_here"))
    assert result.exit_code == 1 and "does not exist" in result.output
    result = invoke("detect", str(astronaut), "--min-size", "30")
    assert result.exit_code == 2 and "use WIDTHxHEIGHT" in result.output


def test_evaluate_writes_metrics_and_figure(tmp_path, photos):
    astronaut, coins = photos
    write_info(tmp_path / "faces.lst", [(astronaut, [ASTRONAUT_FACE])])
    write_bg(tmp_path / "bg.txt", [coins])
    out = tmp_path / "eval"
    result = invoke(
        "evaluate",
        "-info",
        str(tmp_path / "faces.lst"),
        "-bg",
        str(tmp_path / "bg.txt"),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["hit_rate"] == 1.0 and metrics["n_images"] == 2
    assert metrics["false_positives"] > 0  # coins fool frontalface_default
    assert metrics["min_neighbors"] == 3 and metrics["curve"][3]["min_neighbors"] == 3
    assert cv2.imread(str(out / "precision_recall.png")) is not None
    assert "hit rate 1.000" in result.output and "<-" in result.output
    result = invoke("evaluate", "--out", str(out))
    assert result.exit_code == 2 and "give annotated images" in result.output


def test_show_tiles_a_vec(tmp_path):
    vec = tmp_path / "p.vec"
    write_vec(vec, np.full((5, 20, 16), 200, dtype=np.uint8))
    result = invoke("show", "-vec", str(vec), "-w", "16", "-h", "20", "--scale", "2")
    assert result.exit_code == 0, result.output
    tile = cv2.imread(str(tmp_path / "p.png"), cv2.IMREAD_GRAYSCALE)
    assert tile.shape == (2 * 41 + 1, 3 * 33 + 1)
    result = invoke("show", "-vec", str(vec), "-w", "20", "-h", "20")
    assert result.exit_code == 1 and "stores samples of 320 pixels" in result.output
    # OpenCV's way: createsamples with -vec alone shows the samples.
    result = invoke("createsamples", "-vec", str(vec), "-w", "16", "-h", "20")
    assert result.exit_code == 0 and "tile of the samples" in result.output


def test_createsamples_from_one_image_natively(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y, w, h = ASTRONAUT_FACE
    cv2.imwrite("face.png", data.astronaut()[y : y + h, x : x + w, ::-1])
    for name, load in [("coins", data.coins), ("clock", data.clock)]:
        cv2.imwrite(f"{name}.png", load())
    write_bg("bg.txt", ["coins.png", "clock.png"])
    result = invoke(
        *shlex.split("createsamples -img face.png -vec face.vec -num 5 -w 20 -h 20"),
        *shlex.split("-maxxangle 0.2 -maxyangle 0.2 -maxzangle 0.2 -randinv"),
    )
    assert result.exit_code == 0, result.output
    assert read_vec("face.vec", 20, 20).shape == (5, 20, 20)
    again = invoke(
        *shlex.split("createsamples -img face.png -vec again.vec -num 5 -w 20 -h 20"),
        *shlex.split("-maxxangle 0.2 -maxyangle 0.2 -maxzangle 0.2 -randinv"),
    )
    assert again.exit_code == 0
    assert Path("again.vec").read_bytes() == Path("face.vec").read_bytes()  # -rngseed 12345
    result = invoke(
        *shlex.split("createsamples -img face.png -bg bg.txt -info test/test.lst"),
        *shlex.split("-num 2 -w 24 -h 24 -bgcolor 0 -bgthresh 0"),
    )
    assert result.exit_code == 0, result.output
    entries = read_info("test/test.lst")
    assert len(entries) == 2 and all(len(e.boxes) == 1 for e in entries)
    assert "Wrote 2 test images listed in test/test.lst" in result.output
