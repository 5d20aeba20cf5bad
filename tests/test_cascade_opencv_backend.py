"""The wrapper around opencv_createsamples / opencv_traincascade, run against stand-ins.

The stand-ins in tests/data/fake_opencv print their argv as JSON, a few lines the way
the real tools do, and fail on request (see _fake_tool.py there).
"""

import itertools
import json
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fer_toolkit.cascade.opencv_backend import (
    CREATESAMPLES_FLAGS,
    TRAINCASCADE_FLAGS,
    OpenCVToolError,
    OpenCVToolNotFoundError,
    createsamples_args,
    find_opencv_tool,
    run_createsamples,
    run_opencv_tool,
    run_traincascade,
    traincascade_args,
)
from fer_toolkit.cascade.vec import write_vec

FAKE = Path(__file__).parent / "data" / "fake_opencv"


@pytest.fixture
def inputs(tmp_path):
    """A 10-sample 20x20 .vec and a background list (contents unused by the stand-ins)."""
    vec = tmp_path / "positives.vec"
    write_vec(vec, np.zeros((10, 20, 20), dtype=np.uint8))
    bg = tmp_path / "bg.txt"
    bg.write_text("neg/1.png\n")
    return vec, bg


def _argv(lines):
    (line,) = [line for line in lines if line.startswith("ARGV ")]
    return json.loads(line.removeprefix("ARGV "))


def test_traincascade_maps_every_parameter_to_its_flag(tmp_path, inputs):
    vec, bg = inputs
    lines = []
    cascade = run_traincascade(
        tmp_path / "data",
        vec,
        bg,
        num_pos=9,
        num_neg=35,
        num_stages=10,
        precalc_val_buf_size=512,
        precalc_idx_buf_size=256,
        base_format_save=True,
        num_threads=3,
        accept_ratio_break_value=1e-5,
        stage_type="BOOST",
        feature_type="LBP",
        width=20,
        height=20,
        boost_type="RAB",
        min_hit_rate=0.999,
        max_false_alarm_rate=0.4,
        weight_trim_rate=0.9,
        max_depth=2,
        max_weak_count=50,
        mode="ALL",
        opencv_bin_dir=FAKE,
        on_line=lines.append,
    )
    assert _argv(lines) == [
        *("-data", str(tmp_path / "data"), "-vec", str(vec), "-bg", str(bg)),
        *("-numPos", "9", "-numNeg", "35", "-numStages", "10"),
        *("-precalcValBufSize", "512", "-precalcIdxBufSize", "256", "-baseFormatSave"),
        *("-numThreads", "3", "-acceptanceRatioBreakValue", "1e-05"),
        *("-stageType", "BOOST", "-featureType", "LBP", "-w", "20", "-h", "20", "-bt", "RAB"),
        *("-minHitRate", "0.999", "-maxFalseAlarmRate", "0.4", "-weightTrimRate", "0.9"),
        *("-maxDepth", "2", "-maxWeakCount", "50", "-mode", "ALL"),
    ]
    assert cascade == tmp_path / "data" / "cascade.xml" and cascade.is_file()
    assert lines[-1] == "Done"


def test_traincascade_passes_opencv_defaults_explicitly(tmp_path, inputs):
    vec, bg = inputs
    args = traincascade_args("data", vec, bg, width=20, height=20)
    assert args == [
        *("-data", "data", "-vec", str(vec), "-bg", str(bg)),
        *("-numPos", "2000", "-numNeg", "1000", "-numStages", "20"),
        *("-precalcValBufSize", "1024", "-precalcIdxBufSize", "1024"),
        *("-acceptanceRatioBreakValue", "-1.0", "-stageType", "BOOST", "-featureType", "HAAR"),
        *("-w", "20", "-h", "20", "-bt", "GAB", "-minHitRate", "0.995"),
        *("-maxFalseAlarmRate", "0.5", "-weightTrimRate", "0.95", "-maxDepth", "1"),
        *("-maxWeakCount", "100", "-mode", "BASIC"),
    ]


def test_createsamples_maps_every_parameter_to_its_flag(tmp_path):
    img = tmp_path / "face.png"
    img.write_bytes(b"not read by the stand-in")
    bg = tmp_path / "bg.txt"
    bg.write_text("neg/1.png\n")
    lines = []
    status = run_createsamples(
        img=img,
        vec=tmp_path / "out.vec",
        bg=bg,
        num=50,
        bg_color=255,
        randinv=True,
        bg_thresh=8,
        max_intensity_dev=20,
        max_x_angle=0.5,
        max_y_angle=0.25,
        max_z_angle=0.125,
        show=2.0,
        width=20,
        height=30,
        max_scale=2.5,
        random_state=7,
        opencv_bin_dir=FAKE,
        on_line=lines.append,
    )
    assert status == 0
    assert _argv(lines) == [
        *("-img", str(img), "-vec", str(tmp_path / "out.vec"), "-bg", str(bg), "-num", "50"),
        *("-bgcolor", "255", "-randinv", "-bgthresh", "8", "-maxidev", "20"),
        *("-maxxangle", "0.5", "-maxyangle", "0.25", "-maxzangle", "0.125", "-show", "2.0"),
        *("-w", "20", "-h", "30", "-maxscale", "2.5", "-rngseed", "7"),
    ]


def test_createsamples_from_info_counts_the_boxes(tmp_path):
    info = tmp_path / "info" / "info.lst"
    info.parent.mkdir()
    info.write_text("img/img1.jpg 1 140 100 45 45\nimg/img2.jpg 2 0 0 20 20 30 30 20 20\n")
    lines = []
    run_createsamples(
        info=info,
        vec="positives.vec",
        num=None,
        width=20,
        height=20,
        opencv_bin_dir=FAKE,
        on_line=lines.append,
    )
    argv = _argv(lines)
    assert argv[:6] == ["-info", str(info), "-vec", "positives.vec", "-num", "3"]
    assert argv[argv.index("-w") : argv.index("-w") + 4] == ["-w", "20", "-h", "20"]
    assert "-inv" not in argv and "-show" not in argv and "-rngseed" not in argv
    # The "-num 9000" of amirhossein-hkh/facial-expression-recognition with fewer boxes
    # would give a .vec with a lying header.
    with pytest.raises(ValueError, match=r"-num 9000 exceeds the 3 boxes listed in -info"):
        run_createsamples(
            info=info,
            vec="positives.vec",
            num=9000,
            width=20,
            height=20,
            opencv_bin_dir=FAKE,
            on_line=lines.append,
        )
    info.write_text("img/img1.jpg 2 140 100 45 45\n")
    with pytest.raises(ValueError, match=r"info\.lst, line 1: the object count is 2"):
        run_createsamples(info=info, vec="p.vec", opencv_bin_dir=FAKE)


def test_output_is_streamed_while_the_tool_runs(tmp_path, monkeypatch):
    # The stand-in waits for a file that only our callback creates on seeing its
    # "waiting for" line: if lines were collected after exit, it would time out (exit 3).
    go = tmp_path / "go"
    monkeypatch.setenv("FAKE_OPENCV_HANDSHAKE", str(go))
    seen = []

    def on_line(line):
        seen.append((line, go.exists()))
        if line.startswith("waiting for"):
            go.touch()

    assert (
        run_opencv_tool(
            "opencv_createsamples", ["-vec", "x.vec"], opencv_bin_dir=FAKE, on_line=on_line
        )
        == 0
    )
    texts = [text for text, _ in seen]
    assert texts.index("handshake done") > texts.index(f"waiting for {go}")
    assert ("handshake done", True) in seen
    assert "opencv_createsamples: stand-in for tests" in texts  # stderr is merged


def test_carriage_return_counters_go_to_on_progress(tmp_path):
    lines, progress = [], []
    run_opencv_tool(
        "opencv_createsamples",
        [],
        opencv_bin_dir=FAKE,
        on_line=lines.append,
        on_progress=progress.append,
    )
    assert progress == [f"NEG current samples: {i}" for i in (1, 2, 3)]
    assert "NEG count : acceptanceRatio    3 : 1" in lines
    assert not any("current samples" in line for line in lines)


def test_default_output_goes_to_stdout(capsys):
    run_opencv_tool("opencv_createsamples", ["-num", "1"], opencv_bin_dir=FAKE)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'ARGV ["-num", "1"]' and out[-1] == "Done"


def test_a_failing_tool_raises_with_its_last_lines(monkeypatch):
    monkeypatch.setenv("FAKE_OPENCV_EXIT", "2")
    with pytest.raises(OpenCVToolError, match="exited with status 2") as info:
        run_opencv_tool(
            "opencv_traincascade", ["-numPos", "5"], opencv_bin_dir=FAKE, on_line=lambda line: None
        )
    error = info.value
    assert error.returncode == 2
    assert error.command[1:] == ["-numPos", "5"] and error.command[0].endswith(
        "opencv_traincascade"
    )
    assert error.last_lines[-1] == "failure line 20"
    assert "failure line 20" in str(error) and "failure line 1\n" not in str(error)


def test_a_tool_killed_by_a_signal_is_reported(monkeypatch):
    monkeypatch.setenv("FAKE_OPENCV_ABORT", "1")
    with pytest.raises(OpenCVToolError, match="was killed by SIGABRT") as info:
        run_opencv_tool("opencv_traincascade", [], opencv_bin_dir=FAKE, on_line=lambda _: None)
    assert info.value.returncode < 0
    assert "NEG count" in str(info.value)


def test_traincascade_that_writes_no_cascade_is_an_error(tmp_path, inputs, monkeypatch):
    vec, bg = inputs
    monkeypatch.setenv("FAKE_OPENCV_NO_CASCADE", "1")
    with pytest.raises(OpenCVToolError, match=r"ended without writing .*cascade\.xml"):
        run_traincascade(
            tmp_path / "d",
            vec,
            bg,
            num_pos=5,
            num_neg=5,
            width=20,
            height=20,
            opencv_bin_dir=FAKE,
            on_line=lambda _: None,
        )
    assert (tmp_path / "d").is_dir(), "-data folder is created for the tool"


def test_interrupting_the_caller_kills_the_tool(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_OPENCV_HANDSHAKE", str(tmp_path / "never"))

    def on_line(line):
        if line.startswith("waiting for"):
            raise KeyboardInterrupt

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_opencv_tool("opencv_traincascade", [], opencv_bin_dir=FAKE, on_line=on_line)
    assert time.monotonic() - start < 10, "the tool was waited for instead of killed"


def test_missing_tool_names_the_native_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OpenCVToolNotFoundError) as info:
        find_opencv_tool("opencv_traincascade")
    message = str(info.value)
    assert "opencv_traincascade was not found on PATH" in message
    assert "stopped building it in 4.0" in message
    assert "fer-toolkit cascade train --backend native" in message
    with pytest.raises(FileNotFoundError, match="cascade createsamples --backend native"):
        run_createsamples(info="a.lst", vec="b.vec", opencv_bin_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"in '.*' \(opencv_bin_dir\)"):
        find_opencv_tool("opencv_createsamples", tmp_path)


def test_tools_are_found_on_path(monkeypatch):
    monkeypatch.setenv("PATH", str(FAKE))
    assert find_opencv_tool("opencv_traincascade") == str(FAKE / "opencv_traincascade")
    with pytest.raises(ValueError, match="name must be one of"):
        find_opencv_tool("opencv_haartraining")


def test_vec_that_does_not_fit_is_rejected_before_running(tmp_path, inputs):
    vec, bg = inputs
    lines = []
    with pytest.raises(ValueError, match=r"-numPos 11 exceeds the 10 samples in -vec"):
        run_traincascade(
            tmp_path / "d",
            vec,
            bg,
            num_pos=11,
            width=20,
            height=20,
            opencv_bin_dir=FAKE,
            on_line=lines.append,
        )
    with pytest.raises(ValueError, match=r"samples of 400 pixels, but -w 24 -h 24 gives 576"):
        run_traincascade(
            tmp_path / "d", vec, bg, num_pos=5, opencv_bin_dir=FAKE, on_line=lines.append
        )
    with pytest.raises(FileNotFoundError, match=r"-bg '.*missing\.txt' does not exist"):
        run_traincascade(
            tmp_path / "d",
            vec,
            tmp_path / "missing.txt",
            num_pos=5,
            width=20,
            height=20,
            opencv_bin_dir=FAKE,
            on_line=lines.append,
        )
    assert lines == [], "the tool must not run"


def test_invalid_parameters_are_named():
    with pytest.raises(ValueError, match="'feature_type' parameter"):
        traincascade_args("d", "p.vec", "bg.txt", feature_type="haar")
    with pytest.raises(ValueError, match="'min_hit_rate' parameter"):
        traincascade_args("d", "p.vec", "bg.txt", min_hit_rate=1.5)
    with pytest.raises(ValueError, match="exclusive"):
        createsamples_args(vec="p.vec", inv=True, randinv=True)
    with pytest.raises(ValueError, match="nothing to do"):
        run_createsamples(img="face.png", opencv_bin_dir=FAKE)
    with pytest.raises(FileNotFoundError, match=r"-info 'missing\.lst' does not exist"):
        run_createsamples(info="missing.lst", vec="p.vec", opencv_bin_dir=FAKE)


def _parse_like_opencv(args, flags):
    """Read an argv back the way the tools' main() loops do: flag, then its value."""
    bare = {"-baseFormatSave", "-inv", "-randinv"}
    values, i = {}, 0
    while i < len(args):
        flag = args[i]
        if flag in bare or (flag == "-show" and (i + 1 == len(args) or args[i + 1][0] == "-")):
            values[flag] = True
            i += 1
        else:
            values[flag] = args[i + 1]
            i += 2
    return {name: values.get(flag) for name, flag in flags.items()}


_finite = st.floats(-10, 10, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    num_pos=st.integers(1, 10**6),
    num_threads=st.one_of(st.none(), st.integers(1, 64)),
    accept=_finite,
    rate=st.floats(1e-9, 1.0),
    flags=st.booleans(),
    feature=st.sampled_from(["HAAR", "LBP", "HOG"]),
    path=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1),
)
def test_traincascade_args_read_back_by_opencv_rules(
    num_pos, num_threads, accept, rate, flags, feature, path
):
    args = traincascade_args(
        path,
        "p.vec",
        "bg.txt",
        num_pos=num_pos,
        num_threads=num_threads,
        accept_ratio_break_value=accept,
        min_hit_rate=rate,
        base_format_save=flags,
        feature_type=feature,
    )
    parsed = _parse_like_opencv(args, TRAINCASCADE_FLAGS)
    assert parsed["data"] == path and int(parsed["num_pos"]) == num_pos
    assert parsed["num_threads"] == (None if num_threads is None else str(num_threads))
    assert float(parsed["accept_ratio_break_value"]) == accept
    assert np.float32(parsed["min_hit_rate"]) == np.float32(rate)  # OpenCV keeps a float
    assert parsed["base_format_save"] == (True if flags else None)
    assert parsed["feature_type"] == feature


@settings(max_examples=60, deadline=None)
@given(
    angles=st.tuples(_finite, _finite, _finite),
    show=st.one_of(st.booleans(), st.floats(0.1, 20)),
    seed=st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
    invert=st.sampled_from([(False, False), (True, False), (False, True)]),
)
def test_createsamples_args_read_back_by_opencv_rules(angles, show, seed, invert):
    args = createsamples_args(
        img="o.png",
        vec="o.vec",
        max_x_angle=angles[0],
        max_y_angle=angles[1],
        max_z_angle=angles[2],
        show=show,
        random_state=seed,
        inv=invert[0],
        randinv=invert[1],
    )
    parsed = _parse_like_opencv(args, CREATESAMPLES_FLAGS)
    read = [float(parsed[k]) for k in ("max_x_angle", "max_y_angle", "max_z_angle")]
    assert read == list(angles)
    if show is False:
        assert parsed["show"] is None
    elif show is True:
        assert parsed["show"] is True
    else:
        assert float(parsed["show"]) == show
    assert parsed["random_state"] == (None if seed is None else str(seed))
    assert (parsed["inv"], parsed["randinv"]) == tuple(v or None for v in invert)
    assert parsed["info"] is None and parsed["img"] == "o.png"


class _ChunkedStream:
    """A pipe that delivers its bytes in the given chunks, like os.read on a live process."""

    def __init__(self, data: bytes, cuts):
        bounds = sorted({0, len(data), *(c for c in cuts if 0 < c < len(data))})
        self.chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]

    def read1(self, size):
        return self.chunks.pop(0) if self.chunks else b""


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.text(st.characters(exclude_characters="\r\n", codec="utf-8"), max_size=8),
            st.sampled_from(["\n", "\r\n", "\r"]),
        ),
        max_size=8,
    ),
    cuts=st.lists(st.integers(0, 120), max_size=10),
)
def test_split_lines_is_independent_of_chunking(lines, cuts):
    from fer_toolkit.cascade.opencv_backend import _split_lines

    # "\r" then an empty "\n" line is the same bytes as one "\r\n" ending.
    assume(not any(a[1] == "\r" and b == ("", "\n") for a, b in itertools.pairwise(lines)))
    data = "".join(text + end for text, end in lines).encode()
    got = list(_split_lines(_ChunkedStream(data, cuts)))
    expected = [(text, end == "\r") for text, end in lines]
    # A final empty counter line carries nothing to show.
    if expected and expected[-1] == ("", True):
        expected.pop()
    assert got == expected
