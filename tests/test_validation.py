"""Edge cases of fer_toolkit.utils.validation and fer_toolkit.utils.fileio."""

import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from fer_toolkit.utils.fileio import atomic_path, atomic_write
from fer_toolkit.utils.validation import check_image, check_images, check_paths, stack_images

# --------------------------------------------------------------------------- check_image


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 1), (4, 5, 3)], ids=["gray", "gray1", "rgb"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float32, np.float64])
def test_check_image_accepts_valid(shape, dtype):
    image = np.zeros(shape, dtype=dtype)
    out = check_image(image)
    assert out is image  # no copy


def test_check_image_accepts_unit_range_bounds():
    check_image(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"\[0, 1\.0+1\]"):
        check_image(np.array([[0.0, 1.0001]]))


def test_check_image_converts_nested_lists():
    out = check_image([[0.0, 0.5], [1.0, 0.25]])
    assert isinstance(out, np.ndarray) and out.shape == (2, 2)


@pytest.mark.parametrize(
    ("image", "error", "pattern"),
    [
        ("face.png", TypeError, "file path.*ImageReader"),
        (Path("face.png"), TypeError, "file path"),
        (np.zeros(5, np.uint8), ValueError, r"shape \(5,\)"),
        (np.zeros((2, 2, 2, 2), np.uint8), ValueError, r"shape \(2, 2, 2, 2\)"),
        (np.zeros((4, 4, 4), np.uint8), ValueError, "4 channels.*RGBA"),
        (np.zeros((4, 4, 2), np.uint8), ValueError, "2 channels"),
        (np.zeros((3, 8, 8), np.uint8), ValueError, "8 channels.*channels first"),
        (np.zeros((0, 4), np.uint8), ValueError, "empty"),
        (np.zeros((4, 4), np.uint16), TypeError, "16-bit"),
        (np.zeros((4, 4), np.int32), TypeError, "int32"),
        (np.zeros((4, 4), object), TypeError, "object"),
        (np.full((4, 4), np.inf), ValueError, "NaN or infinite"),
        (np.full((4, 4), -np.inf, np.float32), ValueError, "NaN or infinite"),
        (np.full((4, 4), 255.0), ValueError, r"\[255, 255\].*\[0, 1\].*Rescale"),
    ],
)
def test_check_image_rejects(image, error, pattern):
    with pytest.raises(error, match=pattern):
        check_image(image, index=7, name="faces")
    with pytest.raises(error, match=re.escape("faces[7]")):
        check_image(image, index=7, name="faces")


def test_check_image_without_index_uses_name():
    with pytest.raises(ValueError, match=r"^img has shape"):
        check_image(np.zeros(3), name="img")


# --------------------------------------------------------------------------- check_images


def test_check_images_batch_returns_views():
    X = np.zeros((3, 4, 5, 3), np.uint8)
    images = check_images(X)
    assert len(images) == 3
    assert all(np.shares_memory(im, X) for im in images)


def test_check_images_list_of_sizes():
    X = [np.zeros((2, 3)), np.zeros((4, 5, 3), np.uint8), np.zeros((6, 7, 1), np.float32)]
    assert [im.shape for im in check_images(X)] == [(2, 3), (4, 5, 3), (6, 7, 1)]


def test_check_images_tuple_and_object_array():
    a, b = np.zeros((3, 3), np.uint8), np.zeros((4, 4), np.uint8)
    assert len(check_images((a, b))) == 2
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = a, b
    assert [im.shape for im in check_images(ragged)] == [(3, 3), (4, 4)]


@pytest.mark.parametrize(
    ("X", "error", "pattern"),
    [
        (np.zeros((0, 4, 4), np.uint8), ValueError, r"empty.*\(0, 4, 4\)"),
        ([], ValueError, "empty: got 0 images"),
        (np.zeros((4, 4), np.uint8), ValueError, "single image"),
        (np.zeros(4, np.uint8), ValueError, r"\(4,\)"),
        (np.zeros((1, 1, 4, 4, 3), np.uint8), ValueError, "5|expected a batch"),
        ("photo.jpg", TypeError, "single file path"),
        (Path("photo.jpg"), TypeError, "single file path"),
        (42, TypeError, "int"),
        ((im for im in [np.zeros((2, 2))]), TypeError, "generator"),
    ],
)
def test_check_images_rejects_batch(X, error, pattern):
    with pytest.raises(error, match=pattern):
        check_images(X)


def test_check_images_names_the_bad_image_in_an_array_batch():
    X = np.zeros((5, 4, 4), np.float32)
    X[3, 2, 2] = 2.0
    X[4, 0, 0] = -1.0
    with pytest.raises(ValueError, match=re.escape("batch[3]")):  # the first bad one
        check_images(X, name="batch")
    X[3, 2, 2] = np.nan
    with pytest.raises(ValueError, match=re.escape("batch[3]") + ".*NaN"):
        check_images(X, name="batch")


def test_check_images_names_the_bad_image_in_a_list():
    X = [np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8)]
    with pytest.raises(ValueError, match=re.escape("X[2]")):
        check_images(X)
    with pytest.raises(TypeError, match=re.escape("X[1]") + ".*file path"):
        check_images([np.zeros((4, 4), np.uint8), "b.png"])


def test_check_images_uint8_batch_skips_range_check():
    X = np.full((2, 3, 3), 255, np.uint8)
    assert len(check_images(X)) == 2


# --------------------------------------------------------------------------- check_paths


def test_check_paths_converts_pathlike_and_numpy_strings():
    paths = check_paths([Path("a.png"), "b.jpg", np.str_("c.bmp")])
    assert paths == ["a.png", "b.jpg", "c.bmp"]
    assert all(type(p) is str or isinstance(p, str) for p in paths)
    assert check_paths(np.array(["x.png", "y.png"])) == ["x.png", "y.png"]
    assert check_paths(("x.png",)) == ["x.png"]


@pytest.mark.parametrize(
    ("X", "error", "pattern"),
    [
        ("a.png", TypeError, "single path"),
        (Path("a.png"), TypeError, "single path"),
        ([], ValueError, "empty"),
        (np.array([["a.png"]]), ValueError, "1-D"),
        (5, TypeError, "list of file paths"),
        (["a.png", 3], TypeError, re.escape("X[1]") + " is a int"),
        (["a.png", b"b.png"], TypeError, re.escape("X[1]") + " is a bytes"),
        (["a.png", None], TypeError, re.escape("X[1]")),
        ([np.zeros((2, 2))], TypeError, re.escape("X[0]") + ".*ndarray"),
    ],
)
def test_check_paths_rejects(X, error, pattern):
    with pytest.raises(error, match=pattern):
        check_paths(X)


def test_check_paths_uses_name():
    with pytest.raises(ValueError, match="filenames is empty"):
        check_paths([], name="filenames")


# --------------------------------------------------------------------------- stack_images


def test_stack_images_same_shape_and_dtype():
    out = stack_images([np.zeros((2, 3), np.uint8), np.ones((2, 3), np.uint8)])
    assert isinstance(out, np.ndarray) and out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert out[1].sum() == 6


@pytest.mark.parametrize(
    "images",
    [
        [np.zeros((2, 3), np.uint8), np.zeros((3, 3), np.uint8)],
        [np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.float32)],
        [np.zeros((2, 3), np.uint8), np.zeros((2, 3, 1), np.uint8)],
    ],
    ids=["shape", "dtype", "channels"],
)
def test_stack_images_keeps_a_list_when_different(images):
    out = stack_images(images)
    assert isinstance(out, list) and len(out) == 2
    assert out[0] is images[0] and out[1] is images[1]


def test_stack_images_single_image():
    assert stack_images([np.zeros((2, 2))]).shape == (1, 2, 2)


def test_stack_images_empty():
    with pytest.raises(ValueError, match="at least one"):
        stack_images([])


# --------------------------------------------------------------------------- atomic_write


class Boom(RuntimeError):
    pass


def _leftovers(folder, keep):
    return sorted(p.name for p in Path(folder).iterdir() if p.name not in keep)


def test_atomic_write_text_and_binary(tmp_path):
    target = tmp_path / "sub" / "dir" / "out.txt"  # parents are created
    with atomic_write(target, encoding="utf-8") as f:
        f.write("héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n"
    with atomic_write(tmp_path / "out.bin", "wb") as f:
        f.write(b"\x00\x01")
    assert (tmp_path / "out.bin").read_bytes() == b"\x00\x01"
    assert _leftovers(tmp_path, {"sub", "out.bin"}) == []
    assert _leftovers(target.parent, {"out.txt"}) == []


def test_atomic_write_failure_leaves_nothing(tmp_path):
    target = tmp_path / "model.json"
    with pytest.raises(Boom), atomic_write(target) as f:
        f.write("half a mod")
        raise Boom
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file either


def test_atomic_write_keyboard_interrupt_leaves_nothing(tmp_path):
    target = tmp_path / "model.json"
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as f:
        f.write("x")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "cascade.xml"
    target.write_text("old")
    with pytest.raises(Boom), atomic_write(target) as f:
        f.write("new but broken")
        f.flush()
        assert target.read_text() == "old"  # untouched while writing
        raise Boom
    assert target.read_text() == "old"
    assert _leftovers(tmp_path, {"cascade.xml"}) == []
    with atomic_write(target) as f:
        f.write("new")
        f.flush()
        assert target.read_text() == "old"  # still the old file until the block ends
    assert target.read_text() == "new"
    assert _leftovers(tmp_path, {"cascade.xml"}) == []


def test_atomic_write_temporary_file_is_beside_target_with_suffix(tmp_path):
    target = tmp_path / "weights.npz"
    with atomic_write(target, "wb") as f:
        tmp = Path(f.name)
        assert tmp.parent == tmp_path and tmp.suffix == ".npz" and tmp != target
        assert tmp.name.startswith(".weights.npz.")
    assert not tmp.exists()


def test_atomic_write_rejects_other_modes(tmp_path):
    for mode in ("a", "r", "w+", "x"):
        with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "f", mode):
            pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_atomic_write_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        target = tmp_path / "new.txt"
        with atomic_write(target) as f:
            f.write("x")
        # Like open(): 0o666 less the umask, not mkstemp's private 0o600.
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        target.chmod(0o640)
        with atomic_write(target) as f:
            f.write("y")
        assert stat.S_IMODE(target.stat().st_mode) == 0o640  # mode of the replaced file
    finally:
        os.umask(umask)


def test_atomic_path_with_a_file_name_writer(tmp_path):
    target = tmp_path / "array.npy"
    with atomic_path(target) as tmp:
        assert Path(tmp).suffix == ".npy"
        np.save(tmp, np.arange(3))
        assert not target.exists()
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert _leftovers(tmp_path, {"array.npy"}) == []


def test_atomic_path_failure_keeps_old_file(tmp_path):
    target = tmp_path / "array.npy"
    np.save(target, np.zeros(2))
    with pytest.raises(Boom), atomic_path(target) as tmp:
        np.save(tmp, np.ones(5))
        raise Boom
    np.testing.assert_array_equal(np.load(target), np.zeros(2))
    assert _leftovers(tmp_path, {"array.npy"}) == []


def test_atomic_path_failure_when_writer_never_created_the_file(tmp_path):
    target = tmp_path / "plot.png"
    with pytest.raises(Boom), atomic_path(target) as tmp:
        os.unlink(tmp)
        raise Boom
    assert list(tmp_path.iterdir()) == []
