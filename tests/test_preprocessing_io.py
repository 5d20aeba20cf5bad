"""Behaviour of ImageReader / read_image: formats, colour modes, alpha, bit depth, bad files."""

import re
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_toolkit.preprocessing import ImageReader, read_image


def _smooth_rgb(height=40, width=56):
    """A smooth RGB gradient (JPEG keeps it within a few grey levels)."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.dstack(
        [xx * 255 // (width - 1), yy * 255 // (height - 1), (xx + yy) * 2 % 256]
    ).astype(np.uint8)


def _write_rgb(path, rgb, *params):
    """Write an RGB array with OpenCV, which expects BGR."""
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]), list(params))
    return str(path)


@pytest.fixture
def noisy_rgb():
    return np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)


@pytest.fixture
def jpeg_file(tmp_path):
    return _write_rgb(tmp_path / "face.jpg", _smooth_rgb())


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("ext", ["png", "bmp", "tif", "tiff"])
def test_lossless_round_trip_is_exact(tmp_path, noisy_rgb, ext):
    path = _write_rgb(tmp_path / f"image.{ext}", noisy_rgb)
    image = read_image(path)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, noisy_rgb)  # RGB order restored from BGR file


def test_jpeg_round_trip_is_close(tmp_path):
    rgb = _smooth_rgb()
    path = _write_rgb(tmp_path / "image.jpg", rgb, cv2.IMWRITE_JPEG_QUALITY, 95)
    image = read_image(path)
    assert image.shape == rgb.shape and image.dtype == np.uint8
    assert np.abs(image.astype(int) - rgb).mean() < 2
    assert np.abs(image.astype(int) - rgb).max() <= 12
    # The channel order is right: a BGR mix-up would swap the x and (x + y) ramps.
    assert image[20, 55, 0] > 240 and image[20, 0, 0] < 15


def test_progressive_jpeg_is_read(tmp_path):
    rgb = _smooth_rgb()
    path = _write_rgb(tmp_path / "prog.jpg", rgb, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    assert np.abs(read_image(path).astype(int) - rgb).mean() < 3


def test_pure_colours_keep_their_channel(tmp_path):
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[:, 0, 0] = 255  # red column
    rgb[:, 1, 1] = 255  # green column
    rgb[:, 2, 2] = 255  # blue column
    image = read_image(_write_rgb(tmp_path / "rgb.png", rgb))
    np.testing.assert_array_equal(image[0], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])


def test_grayscale_file_in_rgb_and_gray_mode(tmp_path):
    gray = np.random.default_rng(1).integers(0, 256, (10, 12), dtype=np.uint8)
    path = str(tmp_path / "gray.png")
    cv2.imwrite(path, gray)
    rgb = read_image(path)
    assert rgb.shape == (10, 12, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], gray)
    np.testing.assert_array_equal(read_image(path, color="gray"), gray)


def test_colour_file_in_gray_mode_uses_bt601(tmp_path):
    rgb = np.zeros((1, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (0, 0, 255)
    gray = read_image(_write_rgb(tmp_path / "c.png", rgb), color="gray")
    assert gray.shape == (1, 3)
    np.testing.assert_allclose(gray[0], [0.299 * 255, 0.587 * 255, 0.114 * 255], atol=1)


# --------------------------------------------------------------------------- alpha


@pytest.fixture
def rgba_file(tmp_path):
    bgra = np.zeros((3, 4, 4), dtype=np.uint8)
    bgra[..., 2] = 200  # red = 200, green = blue = 0
    bgra[..., 3] = 128  # half transparent
    bgra[0, 0, 3] = 0  # fully transparent corner
    bgra[0, 1, 3] = 255  # opaque pixel
    path = str(tmp_path / "rgba.png")
    cv2.imwrite(path, bgra)
    return path


def test_alpha_composite_over_white(rgba_file):
    image = read_image(rgba_file)
    assert image.shape == (3, 4, 3)
    # 200 * 128/255 + 255 * (1 - 128/255) = 227.39 ; 0 * w + 255 * 127/255 = 127
    np.testing.assert_array_equal(image[1, 1], [227, 127, 127])
    np.testing.assert_array_equal(image[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(image[0, 1], [200, 0, 0])


def test_alpha_composite_over_custom_background(rgba_file):
    image = read_image(rgba_file, background=0)
    # 200 * 128/255 = 100.39
    np.testing.assert_array_equal(image[1, 1], [100, 0, 0])
    np.testing.assert_array_equal(image[0, 0], [0, 0, 0])


def test_alpha_drop(rgba_file):
    image = read_image(rgba_file, alpha="drop")
    assert image.shape == (3, 4, 3)
    assert (image == [200, 0, 0]).all()


def test_alpha_with_gray_output(rgba_file):
    gray = read_image(rgba_file, color="gray")
    assert gray.shape == (3, 4)
    assert gray[0, 0] == 255
    # BT.601 of (227, 127, 127)
    assert abs(int(gray[1, 1]) - round(0.299 * 227 + 0.587 * 127 + 0.114 * 127)) <= 1


def test_image_reader_passes_alpha_options(rgba_file):
    composite = ImageReader().fit_transform([rgba_file])
    dropped = ImageReader(alpha="drop").fit_transform([rgba_file])
    black = ImageReader(background=0).fit_transform([rgba_file])
    assert composite[0, 1, 1].tolist() == [227, 127, 127]
    assert dropped[0, 1, 1].tolist() == [200, 0, 0]
    assert black[0, 1, 1].tolist() == [100, 0, 0]


# --------------------------------------------------------------------------- bit depth


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16_bit_grayscale_is_scaled(tmp_path, ext):
    path = str(tmp_path / f"deep.{ext}")
    assert cv2.imwrite(path, np.array([[0, 65535, 32768, 257]], dtype=np.uint16))
    image = read_image(path, color="gray")
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, [[0, 255, 128, 1]])


def test_16_bit_colour_is_scaled_and_rgb(tmp_path):
    bgr = np.zeros((1, 2, 3), dtype=np.uint16)
    bgr[0, 0] = (65535, 0, 32768)  # B, G, R
    path = str(tmp_path / "deep_colour.png")
    cv2.imwrite(path, bgr)
    np.testing.assert_array_equal(read_image(path), [[[128, 0, 255], [0, 0, 0]]])


def test_16_bit_rgba_is_scaled_then_composited(tmp_path):
    bgra = np.zeros((1, 1, 4), dtype=np.uint16)
    bgra[..., 2] = 65535  # red
    bgra[..., 3] = 65535  # opaque
    path = str(tmp_path / "deep_rgba.png")
    cv2.imwrite(path, bgra)
    np.testing.assert_array_equal(read_image(path), [[[255, 0, 0]]])


def test_float_tiff_in_unit_range(tmp_path):
    path = str(tmp_path / "float.tif")
    assert cv2.imwrite(path, np.array([[0.0, 0.5, 1.0, 0.25]], dtype=np.float32))
    image = read_image(path, color="gray")
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, [[0, 128, 255, 64]])


def test_float_tiff_out_of_range_names_file(tmp_path):
    path = str(tmp_path / "hdr.tif")
    cv2.imwrite(path, np.full((2, 2), 3.0, dtype=np.float32))
    with pytest.raises(ValueError, match=re.escape(path)):
        read_image(path)


def test_signed_tiff_is_rejected_naming_file(tmp_path):
    path = str(tmp_path / "signed.tif")
    cv2.imwrite(path, np.zeros((2, 2), dtype=np.int16))
    with pytest.raises(ValueError, match=re.escape(path) + ".*int16"):
        read_image(path)


# --------------------------------------------------------------------------- EXIF


def _exif_orientation_segment(orientation):
    """An APP1 EXIF segment holding only the Orientation tag (0x0112)."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def test_jpeg_exif_orientation_is_applied(tmp_path):
    bgr = np.zeros((20, 40, 3), dtype=np.uint8)
    bgr[:5, :10] = 255  # white block in the top-left corner
    raw = cv2.imencode(".jpg", bgr)[1].tobytes()
    path = tmp_path / "rotated.jpg"
    # Orientation 6: the stored image must be turned 90 degrees clockwise to be upright.
    path.write_bytes(raw[:2] + _exif_orientation_segment(6) + raw[2:])
    image = read_image(path)
    assert image.shape == (40, 20, 3)
    np.testing.assert_array_equal(image, cv2.imread(str(path))[..., ::-1])
    rows, cols = np.nonzero(image[..., 0] > 128)
    assert rows.max() < 12 and cols.min() > 12  # the block is now top-right


def test_jpeg_with_trailing_data_is_accepted(tmp_path, jpeg_file):
    # "Motion photos" append a video after the JPEG's end marker.
    path = tmp_path / "motion.jpg"
    path.write_bytes(Path(jpeg_file).read_bytes() + b"\x00" * 5000 + b"ftypmp42" * 10)
    np.testing.assert_array_equal(read_image(path), read_image(jpeg_file))


# --------------------------------------------------------------------------- ImageReader


def test_reader_same_sizes_give_ndarray(tmp_path, noisy_rgb):
    paths = [_write_rgb(tmp_path / f"{i}.png", np.roll(noisy_rgb, i, axis=0)) for i in range(3)]
    X = ImageReader().fit_transform(paths)
    assert isinstance(X, np.ndarray) and X.shape == (3, 24, 32, 3) and X.dtype == np.uint8
    np.testing.assert_array_equal(X[2], np.roll(noisy_rgb, 2, axis=0))


def test_reader_mixed_sizes_give_list(tmp_path, noisy_rgb):
    paths = [
        _write_rgb(tmp_path / "a.png", noisy_rgb),
        _write_rgb(tmp_path / "b.png", noisy_rgb[:10, :7]),
    ]
    X = ImageReader().fit_transform(paths)
    assert isinstance(X, list)
    assert [im.shape for im in X] == [(24, 32, 3), (10, 7, 3)]
    np.testing.assert_array_equal(X[1], noisy_rgb[:10, :7])


def test_reader_gray_mode(tmp_path, noisy_rgb):
    paths = [_write_rgb(tmp_path / "a.png", noisy_rgb)]
    X = ImageReader(color="gray").fit_transform(paths)
    assert X.shape == (1, 24, 32)
    np.testing.assert_array_equal(X[0], cv2.cvtColor(noisy_rgb, cv2.COLOR_RGB2GRAY))


def test_reader_accepts_pathlib_and_numpy_strings(tmp_path, noisy_rgb):
    path = _write_rgb(tmp_path / "a.png", noisy_rgb)

    np.testing.assert_array_equal(ImageReader().fit_transform([Path(path)])[0], noisy_rgb)
    np.testing.assert_array_equal(ImageReader().fit_transform(np.array([path]))[0], noisy_rgb)


def test_reader_n_jobs_matches_serial(tmp_path):
    rng = np.random.default_rng(2)
    paths = []
    for i in range(9):
        size = (10 + i, 12 + 2 * i, 3)
        paths.append(_write_rgb(tmp_path / f"{i}.png", rng.integers(0, 256, size, dtype=np.uint8)))
    serial = ImageReader(n_jobs=1).fit_transform(paths)
    parallel = ImageReader(n_jobs=2).fit_transform(paths)
    assert len(serial) == len(parallel) == 9
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_reader_transform_without_fit(tmp_path, noisy_rgb):
    path = _write_rgb(tmp_path / "a.png", noisy_rgb)
    np.testing.assert_array_equal(ImageReader().transform([path])[0], noisy_rgb)


# --------------------------------------------------------------------------- bad files


def _corrupt(tmp_path):
    path = tmp_path / "corrupt.png"
    path.write_bytes(np.random.default_rng(3).bytes(600))
    return str(path)


def _truncated_jpeg(tmp_path, jpeg_file):
    raw = Path(jpeg_file).read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(raw[: len(raw) // 2])
    return str(path)


def _empty(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    return str(path)


def _missing(tmp_path):
    return str(tmp_path / "does_not_exist.png")


def _directory(tmp_path):
    path = tmp_path / "folder.png"
    path.mkdir()
    return str(path)


BAD_FILES = {
    "corrupt": (lambda tmp, jpg: _corrupt(tmp), ValueError, "cannot decode"),
    "truncated_jpeg": (lambda tmp, jpg: _truncated_jpeg(tmp, jpg), ValueError, "truncated"),
    "empty": (lambda tmp, jpg: _empty(tmp), ValueError, "empty"),
    "missing": (lambda tmp, jpg: _missing(tmp), FileNotFoundError, "does not exist"),
    "directory": (lambda tmp, jpg: _directory(tmp), IsADirectoryError, "directory"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_file_error_names_path(tmp_path, jpeg_file, kind):
    make, error, words = BAD_FILES[kind]
    bad = make(tmp_path, jpeg_file)
    with pytest.raises(error, match=re.escape(repr(bad))) as info:
        read_image(bad)
    assert words in str(info.value)
    # ImageReader, with the bad file in the middle of a batch.
    with pytest.raises(error, match=re.escape(bad)):
        ImageReader().fit_transform([jpeg_file, bad, jpeg_file])


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9])
def test_truncated_progressive_jpeg_is_rejected(tmp_path, cut):
    path = _write_rgb(tmp_path / "p.jpg", _smooth_rgb(), cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    raw = Path(path).read_bytes()
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        read_image(bad)


def test_truncated_jpeg_with_thumbnail_end_marker_is_rejected(tmp_path, jpeg_file):
    # An EXIF thumbnail carries its own end-of-image marker; it must not count.
    thumbnail = cv2.imencode(".jpg", np.zeros((8, 8, 3), dtype=np.uint8))[1].tobytes()
    payload = b"Exif\x00\x00" + thumbnail
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    raw = Path(jpeg_file).read_bytes()
    full = raw[:2] + app1 + raw[2:]
    good = tmp_path / "thumb.jpg"
    good.write_bytes(full)
    assert read_image(good).shape == (40, 56, 3)
    # Cut inside the main image's scan data, less than 1 KiB after the thumbnail's end
    # marker (a "marker in the last bytes" heuristic would accept it).
    scan_start = full.rindex(b"\xff\xda")
    cut = (scan_start + len(full)) // 2
    assert cut - (2 + len(app1)) < 1024
    bad = tmp_path / "thumb_cut.jpg"
    bad.write_bytes(full[:cut])
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        read_image(bad)


def test_non_path_item_names_index(jpeg_file):
    with pytest.raises(TypeError, match=re.escape("X[1]") + ".*ndarray"):
        ImageReader().fit_transform([jpeg_file, np.zeros((4, 4), dtype=np.uint8)])


def test_single_string_instead_of_list(jpeg_file):
    with pytest.raises(TypeError, match=re.escape(jpeg_file)):
        ImageReader().fit_transform(jpeg_file)


def test_empty_list():
    with pytest.raises(ValueError, match="empty"):
        ImageReader().fit_transform([])


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"color": "bgr"}, "color"),
        ({"alpha": "keep"}, "alpha"),
        ({"background": 300}, "background"),
    ],
)
def test_read_image_rejects_bad_options(jpeg_file, params, words):
    with pytest.raises(ValueError, match=words):
        read_image(jpeg_file, **params)


@pytest.mark.parametrize("params", [{"color": "bgr"}, {"on_error": "ignore"}, {"background": -1}])
def test_reader_rejects_bad_params(jpeg_file, params):
    with pytest.raises(ValueError, match=next(iter(params))):
        ImageReader(**params).fit([jpeg_file])


@pytest.mark.parametrize("color", ["rgb", "gray"])
def test_on_error_warn_keeps_batch_length(tmp_path, jpeg_file, color):
    corrupt, missing = _corrupt(tmp_path), _missing(tmp_path)
    with pytest.warns(UserWarning) as record:
        X = ImageReader(on_error="warn", color=color).fit_transform(
            [jpeg_file, corrupt, jpeg_file, missing]
        )
    messages = [str(w.message) for w in record if issubclass(w.category, UserWarning)]
    assert any(corrupt in m for m in messages)
    assert any(missing in m for m in messages)
    assert isinstance(X, list) and len(X) == 4
    placeholder = (1, 1, 3) if color == "rgb" else (1, 1)
    assert X[1].shape == X[3].shape == placeholder
    assert X[1].dtype == np.uint8 and not X[1].any()
    np.testing.assert_array_equal(X[2], read_image(jpeg_file, color=color))


def test_on_error_warn_still_rejects_non_paths(jpeg_file):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match=re.escape("X[0]")):
            ImageReader(on_error="warn").fit_transform([np.zeros((2, 2))])


@pytest.mark.parametrize("bad_indices", [(1, 4), (2, 3), (0, 5), (5,)])
def test_parallel_reader_reports_the_first_bad_file(tmp_path, jpeg_file, bad_indices):
    # Whichever thread fails first in time, the error names the first bad file in X.
    paths = [jpeg_file] * 6
    for i in bad_indices:
        paths[i] = str(tmp_path / f"missing_{i}.png")
    first = paths[min(bad_indices)]
    for n_jobs in (1, 2, 3):
        with pytest.raises(FileNotFoundError, match=re.escape(first)):
            ImageReader(n_jobs=n_jobs).fit_transform(paths)
