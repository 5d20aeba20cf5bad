"""OpenCV .vec files: exact bytes, round trips, and clear errors for broken files."""

import os
import re
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage import data

from fer_toolkit.cascade import read_vec, vec_count, write_vec

_FIXTURE_OK = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Two 3-wide, 2-high samples, spelled out byte by byte as opencv_createsamples writes them.
GOLDEN_SAMPLES = np.array([[[0, 1, 2], [3, 254, 255]], [[10, 20, 30], [40, 50, 128]]], np.uint8)
GOLDEN_BYTES = bytes.fromhex(
    "02000000"  # int32 count = 2
    "06000000"  # int32 w*h = 6
    "0000"
    "0000"  # int16 min, int16 max: written as 0
    "00"
    "0000"
    "0100"
    "0200"
    "0300"
    "fe00"
    "ff00"  # pad byte, then 6 int16 pixels
    "00"
    "0a00"
    "1400"
    "1e00"
    "2800"
    "3200"
    "8000"
)


def _vec_bytes(samples):
    """A .vec file built with struct, independently of the module under test."""
    n, h, w = samples.shape
    out = struct.pack("<iihh", n, w * h, 0, 0)
    for sample in samples:
        out += b"\x00" + struct.pack(f"<{w * h}h", *sample.ravel().tolist())
    return out


def test_golden_bytes_written(tmp_path):
    path = tmp_path / "golden.vec"
    write_vec(path, GOLDEN_SAMPLES)
    assert path.read_bytes() == GOLDEN_BYTES
    assert _vec_bytes(GOLDEN_SAMPLES) == GOLDEN_BYTES


def test_golden_bytes_read(tmp_path):
    path = tmp_path / "golden.vec"
    path.write_bytes(GOLDEN_BYTES)
    samples = read_vec(path, width=3, height=2)
    assert samples.dtype == np.uint8
    np.testing.assert_array_equal(samples, GOLDEN_SAMPLES)
    assert vec_count(path) == (2, 6)


@_FIXTURE_OK
@given(
    samples=arrays(
        np.uint8,
        st.tuples(st.integers(1, 6), st.integers(1, 9), st.integers(1, 9)),
    )
)
def test_round_trip(tmp_path, samples):
    path = tmp_path / "round.vec"
    write_vec(path, samples)
    assert path.read_bytes() == _vec_bytes(samples)
    n, h, w = samples.shape
    np.testing.assert_array_equal(read_vec(path, width=w, height=h), samples)
    assert vec_count(path) == (n, w * h)


def test_real_faces_round_trip_and_block_boundaries(tmp_path, monkeypatch):
    """lfw faces, read and written in several blocks (block size shrunk to 7)."""
    import fer_toolkit.cascade.vec as vec_module

    faces = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    monkeypatch.setattr(vec_module, "_BLOCK", 7)
    path = tmp_path / "faces.vec"
    write_vec(path, faces)
    assert path.read_bytes() == _vec_bytes(faces)
    np.testing.assert_array_equal(read_vec(path, 25, 25), faces)


def test_write_converts_float_and_rgb(tmp_path):
    rgb = np.zeros((2, 4, 5, 3), np.uint8)
    rgb[..., 0] = 255  # pure red -> BT.601 grey 76
    write_vec(tmp_path / "rgb.vec", rgb)
    assert (read_vec(tmp_path / "rgb.vec", 5, 4) == 76).all()
    write_vec(tmp_path / "float.vec", np.full((1, 4, 5), 0.5))
    assert (read_vec(tmp_path / "float.vec", 5, 4) == 128).all()


def test_write_rejects_mixed_sizes_and_keeps_old_file(tmp_path):
    path = tmp_path / "pos.vec"
    write_vec(path, GOLDEN_SAMPLES)
    with pytest.raises(ValueError, match=r"samples\[2\] has size 4x2 .* samples\[0\] has 3x2"):
        write_vec(path, [np.zeros((2, 3), np.uint8)] * 2 + [np.zeros((2, 4), np.uint8)])
    with pytest.raises(ValueError, match="empty"):
        write_vec(path, np.zeros((0, 2, 3), np.uint8))
    assert path.read_bytes() == GOLDEN_BYTES
    assert os.listdir(tmp_path) == ["pos.vec"]  # no temporary file left behind


@_FIXTURE_OK
@given(cut=st.integers(0, len(GOLDEN_BYTES) - 1))
def test_truncation_at_any_byte_is_reported(tmp_path, cut):
    path = tmp_path / "cut.vec"
    path.write_bytes(GOLDEN_BYTES[:cut])
    for reader in (lambda: read_vec(path, 3, 2), lambda: vec_count(path)):
        with pytest.raises(ValueError) as info:
            reader()
        message = str(info.value)
        assert str(path) in message
        if cut == 0:
            assert "empty" in message
        elif cut < 12:
            assert "shorter than the 12-byte header" in message
        else:
            complete, partial = divmod(cut - 12, 13)
            assert "truncated" in message and f"({complete} complete samples)" in message
            if partial:
                assert f"sample {complete} is cut after {partial} of its 13 bytes" in message


@_FIXTURE_OK
@given(
    field=st.sampled_from(["count", "vecsize"]),
    value=st.integers(-(2**31), 2**31 - 1),
)
def test_corrupted_header_is_reported(tmp_path, field, value):
    count, vecsize = 2, 6
    if (field == "count" and value == count) or (field == "vecsize" and value == vecsize):
        value += 1
    header = (
        struct.pack("<ii", value, vecsize) if field == "count" else struct.pack("<ii", count, value)
    )
    path = tmp_path / "corrupt.vec"
    path.write_bytes(header + GOLDEN_BYTES[8:])
    with pytest.raises(ValueError, match=re.escape(str(path))) as info:
        read_vec(path, 3, 2)
    assert re.search(
        r"corrupt header|truncated|after its last sample|holds 0 samples|stores samples of",
        str(info.value),
    )


def test_min_max_header_fields_are_ignored_like_opencv(tmp_path):
    path = tmp_path / "minmax.vec"
    path.write_bytes(GOLDEN_BYTES[:8] + struct.pack("<hh", 0, 255) + GOLDEN_BYTES[12:])
    np.testing.assert_array_equal(read_vec(path, 3, 2), GOLDEN_SAMPLES)


def test_size_mismatch_names_both_products_and_suggests_sizes(tmp_path):
    path = tmp_path / "faces.vec"
    write_vec(path, np.zeros((3, 24, 24), np.uint8))
    with pytest.raises(ValueError) as info:
        read_vec(path, width=20, height=20)
    message = str(info.value)
    assert "576 pixels" in message and "20x20 = 400" in message
    assert "24x24, 32x18, 18x32" in message


def test_zero_count_is_rejected(tmp_path):
    path = tmp_path / "zero.vec"
    path.write_bytes(struct.pack("<iihh", 0, 6, 0, 0))
    with pytest.raises(ValueError, match="holds 0 samples"):
        read_vec(path, 3, 2)


def test_bad_padding_byte_names_the_sample(tmp_path):
    raw = bytearray(GOLDEN_BYTES)
    raw[12 + 13] = 7  # padding byte of sample 1
    path = tmp_path / "pad.vec"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"sample 1 starts with byte 7 instead of the 0 padding"):
        read_vec(path, 3, 2)


@pytest.mark.parametrize("value", [256, -1, 1000])
def test_pixel_out_of_range_names_the_sample(tmp_path, value):
    raw = bytearray(GOLDEN_BYTES)
    raw[12 + 13 + 1 + 2 * 4 : 12 + 13 + 1 + 2 * 5] = struct.pack("<h", value)  # sample 1, (1, 1)
    path = tmp_path / "pixel.vec"
    path.write_bytes(bytes(raw))
    with pytest.raises(
        ValueError, match=rf"sample 1 holds pixel value {value} at \(row 1, column 1\)"
    ):
        read_vec(path, 3, 2)


def test_trailing_bytes_are_reported(tmp_path):
    path = tmp_path / "long.vec"
    path.write_bytes(GOLDEN_BYTES + b"\x00")
    with pytest.raises(ValueError, match="1 bytes after its last sample"):
        vec_count(path)


def test_missing_file_and_bad_size(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.vec"):
        read_vec(tmp_path / "nope.vec")
    with pytest.raises(ValueError, match="width, height"):
        read_vec(tmp_path / "nope.vec", width=0, height=24)
