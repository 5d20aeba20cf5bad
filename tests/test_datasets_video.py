"""Streaming video frames: exact frame selection, RGB order, bounded memory, clear errors."""

import itertools
import tracemalloc

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fer_toolkit.datasets import iter_video_frames, video_info

N_FRAMES, HEIGHT, WIDTH, FPS = 20, 240, 320, 10.0
MARK = 16  # width of the white square that encodes a frame's index


def marked_frame(index, height=HEIGHT, width=WIDTH):
    """A frame whose index can be read back after JPEG compression: a white square at 16*i."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[MARK:, :, 0] = 200  # red (RGB) below the marker strip: checks the channel order
    frame[:MARK, MARK * index : MARK * (index + 1)] = 255
    return frame


def read_mark(frame):
    strip = frame[: MARK // 2, :, 1].astype(float).reshape(-1, frame.shape[1] // MARK, MARK)
    return int(np.argmax(strip.mean(axis=(0, 2))))


def write_video(path, frames, fps=FPS):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "marked.avi"
    return write_video(path, [marked_frame(i) for i in range(N_FRAMES)])


def test_every_frame_in_order_as_rgb(video):
    frames = list(iter_video_frames(video))
    assert [i for i, _ in frames] == list(range(N_FRAMES))
    for index, frame in frames:
        assert frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8
        assert read_mark(frame) == index
        red, green, blue = frame[HEIGHT // 2, WIDTH // 2].astype(int)
        assert red > 150 and green < 50 and blue < 50


def test_every_start_stop_select_the_named_frames(video):
    frames = list(iter_video_frames(video, every=3, start=2, stop=15))
    assert [i for i, _ in frames] == [2, 5, 8, 11, 14]
    assert [read_mark(frame) for _, frame in frames] == [2, 5, 8, 11, 14]


@settings(max_examples=25, deadline=None)
@given(
    every=st.integers(1, 25),
    start=st.integers(0, 25),
    stop=st.one_of(st.none(), st.integers(0, 25)),
)
def test_frame_selection_matches_range(video, every, start, stop):
    indices = [i for i, _ in iter_video_frames(video, every=every, start=start, stop=stop)]
    end = N_FRAMES if stop is None else min(stop, N_FRAMES)
    assert indices == list(range(start, end, every))


def test_video_info(video):
    info = video_info(video)
    assert (info.frame_count, info.fps, info.width, info.height) == (N_FRAMES, FPS, WIDTH, HEIGHT)
    assert info.path == str(video)


def test_memory_stays_at_a_few_frames_however_long_the_video(tmp_path):
    long_video = write_video(tmp_path / "long.avi", [marked_frame(i % 20) for i in range(150)])
    frame_bytes = HEIGHT * WIDTH * 3
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_video_frames(long_video))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 150
    assert peak < 6 * frame_bytes, f"peak {peak} bytes for {frame_bytes}-byte frames"


def test_stopping_early_releases_the_file(video):
    frames = iter_video_frames(video)
    assert [i for i, _ in itertools.islice(frames, 3)] == [0, 1, 2]
    frames.close()  # the generator's finally releases the capture
    assert list(iter_video_frames(video, start=18)) != []


def test_truncated_video_ends_early(video, tmp_path):
    cut = tmp_path / "cut.avi"
    data = video.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    indices = [i for i, _ in iter_video_frames(cut)]
    assert 0 < len(indices) < N_FRAMES
    assert indices == list(range(len(indices)))


def test_missing_file_is_named_at_the_call(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        iter_video_frames(missing)  # no next(): errors come at the call
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        video_info(missing)


def test_folder_and_garbage_files_are_named(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        iter_video_frames(tmp_path)
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"not a video at all" * 50)
    with pytest.raises(ValueError, match=r"cannot open video file .*garbage\.avi"):
        iter_video_frames(garbage)
    with pytest.raises(ValueError, match=r"garbage\.avi"):
        video_info(garbage)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every": 0}, "every must be an int >= 1"),
        ({"every": 1.5}, "every must be an int >= 1"),
        ({"every": True}, "every must be an int >= 1"),
        ({"start": -1}, "start must be an int >= 0"),
        ({"stop": -2}, "stop must be an int >= 0"),
    ],
)
def test_bad_selection_parameters(video, kwargs, message):
    with pytest.raises(ValueError, match=message):
        iter_video_frames(video, **kwargs)
