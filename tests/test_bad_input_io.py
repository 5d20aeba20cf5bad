"""Bad input and faults around files: inputs are never written or deleted, images too large
are refused before decoding, output folders are locked and replaced atomically, Ctrl-C exits
130, unreadable files can be skipped, and silent fallbacks are reported."""

import csv
import hashlib
import json
import os
import struct
import warnings
import zlib
from unittest import mock

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data

from fer_toolkit.cli import main
from fer_toolkit.cli import train as train_module
from fer_toolkit.cli._model import load_model
from fer_toolkit.datasets import (
    extract_faces,
    load_image_folder,
    make_synthetic_faces,
    write_fer2013_csv,
)
from fer_toolkit.preprocessing import HaarFaceCropper, read_image
from fer_toolkit.utils.fileio import folder_lock

# What these tests check did not exist before: imported where used, so that on an older
# fer_toolkit each test fails on its own behaviour rather than the whole file on an import.
FACE = data.astronaut()
MAX_IMAGE_PIXELS_ENV = "FER_TOOLKIT_MAX_IMAGE_PIXELS"


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [*map(str, args)], **kwargs)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def write_png(path, image=FACE):
    assert cv2.imwrite(str(path), image[..., ::-1] if image.ndim == 3 else image)
    return path


def huge_png(path, width=100_000, height=100_000):
    """A PNG whose (valid, CRC-checked) header announces ``width`` x ``height`` pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\0" * 64)
    idat_chunk = b"IDAT" + idat
    body += struct.pack(">I", len(idat)) + idat_chunk + struct.pack(">I", zlib.crc32(idat_chunk))
    body += struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "model"
    result = invoke(
        "train", "--data", "synthetic:140", "--set", "max_epochs=1", "--set", "module__width=4",
        "--out", out, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


# ------------------------------------------------------------ inputs are never touched
def test_crop_restart_keeps_a_source_csv_that_lives_in_out(tmp_path):
    faces = make_synthetic_faces(16, random_state=0)
    source = tmp_path / "fer.csv"
    write_fer2013_csv(source, faces.images, np.asarray(faces.target_names)[faces.target])
    before = digest(source)
    args = [source, "--out", tmp_path, "--detector", "haar", "-q"]
    assert invoke("crop", *args).exit_code == 0
    result = invoke("crop", *args, "--restart")
    assert result.exit_code == 0, result.output
    assert source.exists() and digest(source) == before
    assert (tmp_path / "index.csv").exists() and (tmp_path / "faces").is_dir()


def test_crop_restart_deletes_nothing_it_did_not_create(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.csv").write_text("mine\n")
    faces = make_synthetic_faces(8, random_state=0)
    source = tmp_path / "notes.csv"
    write_fer2013_csv(source, faces.images, np.asarray(faces.target_names)[faces.target])
    result = invoke("crop", source, "--out", out, "--detector", "haar", "--restart", "-q")
    assert result.exit_code == 0, result.output
    assert (out / "notes.csv").read_text() == "mine\n"  # not a file this command wrote


def test_predict_annotated_copy_never_lands_on_its_input(model_dir, tmp_path):
    (tmp_path / "annotated").mkdir()
    image = write_png(tmp_path / "annotated" / "x.png")
    before = digest(image)
    result = invoke(
        "predict", model_dir, image, "--out", tmp_path, "--annotate", "--detector", "none"
    )
    assert result.exit_code == 1
    assert "would overwrite the input" in result.output and "x.png" in result.output
    assert digest(image) == before


def test_predict_annotated_copies_of_a_jpg_and_a_png_stay_apart(model_dir, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", FACE)
    assert cv2.imwrite(str(photos / "a.jpg"), data.coffee()[..., ::-1])
    out = tmp_path / "out"
    result = invoke("predict", model_dir, photos, "--out", out, "--annotate", "--detector", "none")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (out / "annotated" / "photos").iterdir())
    assert names == ["a.jpg.png", "a.png"]
    from_png = cv2.imread(str(out / "annotated" / "photos" / "a.png"))
    from_jpg = cv2.imread(str(out / "annotated" / "photos" / "a.jpg.png"))
    assert from_png.shape[:2] == FACE.shape[:2] and from_jpg.shape[:2] == data.coffee().shape[:2]


def test_cascade_detect_never_overwrites_its_input(tmp_path):
    (tmp_path / "annotated").mkdir()
    image = write_png(tmp_path / "annotated" / "x.png")
    before = digest(image)
    result = invoke("cascade", "detect", image, "--out", tmp_path)
    assert result.exit_code == 1
    assert "would overwrite the input" in result.output
    assert digest(image) == before


def test_non_utf8_file_names_are_listed_in_the_index(tmp_path):
    from fer_toolkit.utils.fileio import printable_path

    src = tmp_path / "src"
    src.mkdir()
    name = os.fsdecode(b"caf\xe9.png")
    try:  # not cv2.imwrite: OpenCV crashes on such a name
        (src / name).write_bytes(cv2.imencode(".png", FACE[..., ::-1])[1].tobytes())
    except (UnicodeEncodeError, OSError):
        pytest.skip("this file system refuses names that are not UTF-8")
    summary = extract_faces(src, tmp_path / "out", detector="haar", progress=False)
    assert summary.n_kept == 1
    with open(tmp_path / "out" / "index.csv", newline="", encoding="utf-8") as f:
        index = list(csv.DictReader(f))
    listed = {row["crop"] for row in index if row["crop"]}
    on_disk = {
        os.path.relpath(os.path.join(root, f), tmp_path / "out")
        for root, _, files in os.walk(tmp_path / "out" / "faces")
        for f in files
    }
    assert listed == on_disk == {"faces/src/caf\\xe9_0.png"}
    assert index[0]["source"] == printable_path(src / name)


# -------------------------------------------------------------------- image size cap
def test_a_header_announcing_a_huge_image_is_refused_before_decoding(tmp_path):
    path = huge_png(tmp_path / "bomb.png")
    with pytest.raises(ValueError, match=r"bomb\.png.*100000x100000.*" + MAX_IMAGE_PIXELS_ENV):
        read_image(path)
    result = invoke("crop", path, "--out", tmp_path / "out", "--detector", "haar")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "100000x100000" in result.output
    result = invoke("cascade", "detect", path, "--out", tmp_path / "detected")
    assert result.exit_code == 1 and "100000x100000" in result.output


def test_the_size_limit_is_set_by_an_environment_variable(tmp_path, monkeypatch):
    path = write_png(tmp_path / "small.png", FACE[:40, :50])
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "1999")
    with pytest.raises(ValueError, match="50x40 pixels, more than the limit of 1999"):
        read_image(path)
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "0")  # no limit
    assert read_image(path).shape == (40, 50, 3)
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=f"{MAX_IMAGE_PIXELS_ENV}='lots' is not a whole number"):
        read_image(path)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tiff", ".webp", ".pgm", ".ppm"])
@pytest.mark.parametrize("shape", [(7, 300), (257, 31)])
def test_header_sizes_of_every_format_opencv_writes(ext, shape):
    from fer_toolkit.utils._imagefile import image_header_size

    image = np.full((*shape, 1 if ext == ".pgm" else 3), 128, dtype=np.uint8)
    ok, encoded = cv2.imencode(ext, image)
    assert ok
    assert image_header_size(encoded.tobytes()) == (shape[1], shape[0])


def test_crop_size_beyond_any_face_is_an_option_error(tmp_path):
    result = invoke("crop", tmp_path, "--out", tmp_path / "out", "--size", "100000")
    assert result.exit_code == 2
    assert "'100000' is too large" in result.output and "4096" in result.output


# ------------------------------------------------------- locked, atomic output folders
def test_replaced_folder_keeps_the_previous_folder_when_the_block_fails(tmp_path):
    from fer_toolkit.utils.fileio import replaced_folder

    out = tmp_path / "model"
    out.mkdir()
    (out / "model.json").write_text("old")
    with pytest.raises(OSError, match="disk full"), replaced_folder(out) as staging:
        (staging / "model.json").write_text("new")
        raise OSError("disk full")
    assert sorted(os.listdir(tmp_path)) == ["model"]
    assert (out / "model.json").read_text() == "old"


def test_replaced_folder_keeps_entries_the_new_run_does_not_write(tmp_path):
    from fer_toolkit.utils.fileio import replaced_folder

    out = tmp_path / "model"
    (out / "test").mkdir(parents=True)
    (out / "model.json").write_text("old")
    (out / "test" / "metrics.json").write_text("{}")
    with replaced_folder(out) as staging:
        (staging / "model.json").write_text("new")
    assert (out / "model.json").read_text() == "new"
    assert (out / "test" / "metrics.json").read_text() == "{}"
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_a_swap_killed_half_way_is_finished_and_stale_staging_removed(tmp_path):
    from fer_toolkit.utils.fileio import replaced_folder

    # What a kill between the two renames leaves: the new folder ready, the old one moved away.
    ready, old = tmp_path / ".model.0123abcd.ready", tmp_path / ".model.0123abcd.old"
    ready.mkdir()
    (ready / "model.json").write_text("new")
    old.mkdir()
    (old / "model.json").write_text("old")
    stale = tmp_path / ".model.89abcdef.staging"
    stale.mkdir()
    (stale / "model_params.pt").write_text("half")
    with pytest.raises(RuntimeError), replaced_folder(tmp_path / "model"):
        raise RuntimeError  # the recovery happens on entering, whatever the run does
    assert sorted(os.listdir(tmp_path)) == ["model"]
    assert (tmp_path / "model" / "model.json").read_text() == "new"


def test_a_write_failure_while_saving_over_a_model_keeps_the_previous_one(tmp_path, monkeypatch):
    out = tmp_path / "model"
    args = ["--data", "synthetic:140", "--set", "max_epochs=1", "--out", out, "-q"]
    assert invoke("train", *args, "--set", "module__width=4").exit_code == 0
    before = digest(out / "model.json")

    def failing_dump(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("fer_toolkit.cli._model.joblib.dump", failing_dump)
    result = invoke("train", *args, "--set", "module__width=6")
    assert result.exit_code == 1 and "No space left" in result.output
    assert digest(out / "model.json") == before
    assert len(load_model(out, device="cpu").classes) == 7  # the previous model still loads
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary left


def test_a_second_ctrl_c_while_saving_leaves_no_report_without_a_model(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "write_history", interrupted)
    out = tmp_path / "model"
    result = invoke("train", "--data", "synthetic:140", "--set", "max_epochs=1", "--out", out)
    assert result.exit_code == 130
    assert not out.exists() and os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--data", "synthetic:70", "--set", "max_epochs=1", "--out", "{out}"],
        ["search", "--data", "synthetic:70", "--grid", "{grid}", "--out", "{out}"],
        ["pretrain", "synthetic", "--epochs", "1", "--out", "{out}"],
    ],
    ids=["train", "search", "pretrain"],
)
def test_a_second_run_into_the_same_output_is_refused(tmp_path, command):
    from fer_toolkit.utils.fileio import file_lock

    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"lr": [0.01]}))
    out = tmp_path / "out"
    args = [part.format(out=out, grid=grid) for part in command]
    with file_lock(out, "a test"):
        result = invoke(*args)
    assert result.exit_code == 1
    assert f"is in use by another fer-toolkit {command[0]} run" in result.output
    assert not out.exists()


def test_cascade_train_locks_its_data_folder(tmp_path):
    vec, bg = tmp_path / "pos.vec", tmp_path / "bg.txt"
    vec.write_bytes(b"")
    bg.write_text("none.png\n")
    data_dir = tmp_path / "data"
    with folder_lock(data_dir, "a test"):
        result = invoke(
            "cascade", "train", "-data", data_dir, "-vec", vec, "-bg", bg,
            "-numPos", "10", "-numNeg", "10", "-numStages", "1", "-w", "20", "-h", "20",
        )  # fmt: skip
    assert result.exit_code == 1
    assert "is in use by another fer-toolkit cascade train run" in result.output


def test_pretrain_replaces_backbone_and_report_together(tmp_path, monkeypatch):
    import hashlib

    import fer_toolkit.cli.pretrain as pretrain_module

    faces = tmp_path / "faces"
    faces.mkdir()
    for i in range(16):
        write_png(faces / f"{i}.png")
    results = tmp_path / "results"
    out = results / "backbone.pt"
    args = ("pretrain", faces, "--epochs", "1", "--size", "24", "--no-progress")
    assert invoke(*args, "--out", out).exit_code == 0
    report = json.loads((results / "backbone.pt.json").read_text())
    assert report["backbone_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    before = {path.name: path.read_bytes() for path in results.iterdir()}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pretrain_module.json, "dump", disk_full)
    result = invoke(*args, "--seed", "1", "--out", out)
    assert result.exit_code != 0
    # Neither file was replaced, and no temporary is left beside them.
    assert {path.name: path.read_bytes() for path in results.iterdir()} == before


# ------------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_exits_130_in_crop_and_predict(model_dir, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    write_png(tmp_path / "a.png")
    monkeypatch.setattr("fer_toolkit.cli.crop.extract_faces", interrupted)
    result = invoke("crop", tmp_path / "a.png", "--out", tmp_path / "out", "--detector", "haar")
    assert result.exit_code == 130 and "Interrupted" in result.output
    monkeypatch.setattr("fer_toolkit.cli.predict.find_media", interrupted)
    result = invoke("predict", model_dir, tmp_path / "a.png", "--out", tmp_path / "pred")
    assert result.exit_code == 130 and "Interrupted" in result.output


# --------------------------------------------------------------------------- --on-error
@pytest.fixture
def one_corrupt(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "good.png")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return photos


def test_crop_on_error_skip_goes_on_and_lists_the_file(one_corrupt, tmp_path):
    out = tmp_path / "out"
    failed = invoke("crop", one_corrupt, "--out", out, "--detector", "haar", "-q")
    assert failed.exit_code == 1 and "broken.png" in failed.output
    result = invoke(
        "crop", one_corrupt, "--out", out, "--detector", "haar", "--on-error", "skip", "-q"
    )
    assert result.exit_code == 0, result.output
    assert "left out 1 file that could not be read" in result.output
    assert "broken.png" in result.output and "cannot decode" not in result.output
    with open(out / "index.csv", newline="") as f:
        assert [row["crop"] for row in csv.DictReader(f)] == ["faces/photos/good_0.png"]


def test_predict_on_error_warn_gives_each_reason(model_dir, one_corrupt, tmp_path):
    out = tmp_path / "out"
    result = invoke(
        "predict", model_dir, one_corrupt, "--out", out, "--detector", "none", "--on-error", "warn"
    )
    assert result.exit_code == 0, result.output
    assert "broken.png: cannot decode image file" in result.output
    with open(out / "predictions.csv", newline="") as f:
        assert [row["source"] for row in csv.DictReader(f)] == [str(one_corrupt / "good.png")]


def test_extract_faces_on_error_is_validated_and_failed_files_reported(one_corrupt, tmp_path):
    with pytest.raises(ValueError, match="on_error must be"):
        extract_faces(one_corrupt, tmp_path / "x", detector="haar", on_error="ignore")
    with pytest.warns(UserWarning, match="broken.png"):
        summary = extract_faces(
            one_corrupt, tmp_path / "out", detector="haar", on_error="warn", progress=False
        )
    assert [os.path.basename(path) for path, _ in summary.failed] == ["broken.png"]
    assert summary.n_kept == 1


# ------------------------------------------------------------------- silent cases
def test_an_unreadable_background_is_warned_with_a_count(tmp_path):
    from fer_toolkit.cascade.negatives import Backgrounds

    write_png(tmp_path / "good.png", FACE[..., 0])
    (tmp_path / "bad.png").write_bytes(b"not an image")
    (tmp_path / "bg.txt").write_text("good.png\nbad.png\n")
    backgrounds = Backgrounds(tmp_path / "bg.txt")
    assert backgrounds.image(0) is not None
    with pytest.warns(UserWarning, match=r"bad\.png.*1 of 2 background images"):
        assert backgrounds.image(1) is None


def test_a_background_whose_name_is_not_utf8_is_read_not_passed_to_imread(tmp_path):
    # cv2.imread cannot take such a name (some builds crash on it); the bytes are decoded.
    from fer_toolkit.cascade.negatives import Backgrounds

    write_png(tmp_path / "good.png", FACE[..., 0])
    odd = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")  # Latin-1 "cafe", not UTF-8
    os.rename(tmp_path / "good.png", odd)
    with mock.patch("cv2.imread", side_effect=AssertionError("cv2.imread called")):
        image = Backgrounds([os.fsdecode(odd), odd]).image
        np.testing.assert_array_equal(image(0), FACE[..., 0])
        np.testing.assert_array_equal(image(1), FACE[..., 0])


def test_load_images_lists_a_plain_folder_that_load_image_folder_refuses(tmp_path):
    from fer_toolkit.datasets import load_images

    write_png(tmp_path / "b.png")
    write_png(tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"load_images\(root\)"):
        load_image_folder(tmp_path)
    assert [os.path.basename(f) for f in load_images(tmp_path).filenames] == ["a.png", "b.png"]
    with pytest.raises(ValueError, match="No images"):
        load_images(tmp_path, extensions=".gif")


def test_a_cropper_that_finds_no_face_says_so():
    from fer_toolkit.preprocessing import FaceFallbackWarning

    blank = np.full((3, 60, 60, 3), 200, dtype=np.uint8)
    cropper = HaarFaceCropper(output_size=24, on_missing="full")
    with pytest.warns(FaceFallbackWarning, match=r"no face in 3 of 4 images \(X\[1\], X\[2\]"):
        faces = cropper.fit_transform([FACE, *blank])
    assert faces.shape == (4, 24, 24, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cropper.fit_transform([FACE])  # a face everywhere: no warning


def test_haar_cropper_detects_in_bounded_chunks(monkeypatch):
    from fer_toolkit.preprocessing import FaceFallbackWarning

    sizes = []
    real = HaarFaceCropper._detect_all

    def recording(self, detector, images):
        sizes.append(len(images))
        return real(self, detector, images)

    monkeypatch.setattr(HaarFaceCropper, "_detect_all", recording)
    images = np.zeros((150, 24, 24), dtype=np.uint8)
    with pytest.warns(FaceFallbackWarning):
        HaarFaceCropper(output_size=8).fit_transform(images)
    assert sum(sizes) == 150 and max(sizes) <= 64
