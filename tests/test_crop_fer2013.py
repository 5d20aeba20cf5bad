"""``crop_fer2013`` from Python: outputs, resuming after an interruption, bad input."""

import csv
import json

import cv2
import numpy as np
import pytest

from fer_toolkit.datasets import (
    FER2013_INDEX_COLUMNS,
    Fer2013CropSummary,
    crop_fer2013,
    load_fer2013,
    load_image_folder,
    make_synthetic_faces,
    write_fer2013_csv,
)
from fer_toolkit.datasets.extraction import fer_csv
from fer_toolkit.detection import Detections
from fer_toolkit.preprocessing import crop_box
from fer_toolkit.preprocessing.geometry import resize_image

N = 40


class CentreDetector:
    """A face in the centre of every image whose row (its mean grey level) is odd-ish."""

    def detect(self, image):
        if int(image.mean()) % 3 == 0:
            return Detections(np.zeros((0, 4), np.int64), np.zeros(0))
        height, width = image.shape[:2]
        box = [[width // 4, height // 4, width // 2, height // 2]]
        return Detections(np.array(box, dtype=np.int64), np.array([0.9]))


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def fer_csv_file(tmp_path_factory):
    faces = make_synthetic_faces(N, random_state=1)
    names = np.asarray(faces.target_names)[faces.target]
    path = tmp_path_factory.mktemp("fer") / "fer2013.csv"
    write_fer2013_csv(path, faces.images, names, usage=["Training"] * 30 + ["PublicTest"] * 10)
    return path


@pytest.fixture(scope="module")
def uninterrupted(fer_csv_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "out"
    summary = crop_fer2013(fer_csv_file, out, detector=CentreDetector(), margin=0.1, progress=False)
    return out, summary


def test_csv_to_csv_keeps_rows_labels_and_usage(fer_csv_file, uninterrupted):
    out, summary = uninterrupted
    source, cropped = load_fer2013(fer_csv_file), load_fer2013(out / "fer2013.csv")
    np.testing.assert_array_equal(cropped.target, source.target)
    np.testing.assert_array_equal(cropped.usage, source.usage)
    index = rows(out / "index.csv")
    assert tuple(index[0]) == FER2013_INDEX_COLUMNS
    assert [int(r["row"]) for r in index] == list(range(N))
    found = np.array([r["found"] == "1" for r in index])
    assert 0 < found.sum() < N
    # A face: its box with the margin, resized; no face: the whole image, resized (unchanged).
    i = int(np.flatnonzero(found)[0])
    expected = resize_image(crop_box(source.images[i], (12, 12, 24, 24), 0.1), (48, 48), "area")
    np.testing.assert_array_equal(cropped.images[i], expected)
    np.testing.assert_array_equal(cropped.images[~found], source.images[~found])
    assert index[i]["x"] == "12" and index[i]["confidence"] == "0.9"
    assert index[i]["left_eye_x"] == "" and all(r["crop"] == "fer2013.csv" for r in index)
    assert summary == Fer2013CropSummary(
        out_dir=str(out),
        index_path=str(out / "index.csv"),
        outputs=(str(out / "fer2013.csv"),),
        n_sources=1,
        n_skipped=0,
        n_rows=N,
        n_found=int(found.sum()),
    )
    assert not (out / "parts" / "fer2013").exists()


def test_resume_after_an_interruption_redoes_only_the_unsaved_rows(
    fer_csv_file, uninterrupted, tmp_path, monkeypatch
):
    monkeypatch.setattr(fer_csv, "_CSV_CHUNK", 16)
    real, calls = fer_csv._cut_rows, []

    def interrupted_at_the_third_chunk(images, *args, **kwargs):
        calls.append(len(images))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(images, *args, **kwargs)

    monkeypatch.setattr(fer_csv, "_cut_rows", interrupted_at_the_third_chunk)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        crop_fer2013(fer_csv_file, out, detector=CentreDetector(), margin=0.1, progress=False)
    assert sorted(p.name for p in (out / "parts" / "fer2013").iterdir()) == [
        "00000000.npz",
        "00000016.npz",
    ]
    assert not (out / "fer2013.csv").exists() and not (out / ".lock").exists()

    calls.clear()
    resumed = crop_fer2013(fer_csv_file, out, detector=CentreDetector(), margin=0.1, progress=False)
    assert calls == [N - 32]  # only rows 32-39 are cropped again
    reference, _ = uninterrupted
    for name in ("fer2013.csv", "index.csv"):
        assert (out / name).read_bytes() == (reference / name).read_bytes()
    assert resumed.n_skipped == 0 and resumed.n_rows == N

    calls.clear()
    again = crop_fer2013(fer_csv_file, out, detector=CentreDetector(), margin=0.1, progress=False)
    assert calls == [] and again.n_skipped == 1  # finished: nothing redone
    assert (out / "index.csv").read_bytes() == (reference / "index.csv").read_bytes()


def test_other_settings_refuse_to_resume_until_resume_is_false(
    fer_csv_file, uninterrupted, tmp_path
):
    out = tmp_path / "out"
    crop_fer2013(fer_csv_file, out, detector=CentreDetector(), margin=0.1, progress=False)
    with pytest.raises(ValueError, match=r"made with margin=0\.1, not 0\.2; .*resume=False"):
        crop_fer2013(fer_csv_file, out, detector=CentreDetector(), margin=0.2, progress=False)
    restarted = crop_fer2013(
        fer_csv_file, out, detector=CentreDetector(), margin=0.2, progress=False, resume=False
    )
    assert restarted.n_skipped == 0
    assert json.loads((out / "crop.json").read_text())["settings"]["margin"] == 0.2
    assert (out / "fer2013.csv").read_bytes() != (uninterrupted[0] / "fer2013.csv").read_bytes()


def test_an_image_format_writes_a_labelled_folder(fer_csv_file, tmp_path):
    out = tmp_path / "out"
    summary = crop_fer2013(
        fer_csv_file,
        out,
        detector=CentreDetector(),
        output_size=(40, 32),
        image_format="png",
        progress=False,
    )
    assert summary.outputs == (f"{out / 'faces'}/",)
    folder = load_image_folder(out / "faces" / "fer2013")
    source = load_fer2013(fer_csv_file)
    assert len(folder.filenames) == N and sorted(set(folder.split)) == ["PublicTest", "Training"]
    index = rows(out / "index.csv")
    assert index[5]["crop"] == f"faces/fer2013/Training/{index[5]['emotion']}/000005.png"
    assert index[5]["emotion"] == source.target_names[source.target[5]]
    assert cv2.imread(folder.filenames[0], cv2.IMREAD_UNCHANGED).shape == (40, 32)


def test_unreadable_sources_can_be_left_out(fer_csv_file, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("emotion,pixels\n3,1 2 3\n")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"broken\.csv"):
        crop_fer2013([fer_csv_file, broken], out, detector=CentreDetector(), progress=False)
    with pytest.warns(UserWarning, match=r"left out .*broken\.csv"):
        summary = crop_fer2013(
            [fer_csv_file, broken], out, detector=CentreDetector(), progress=False, on_error="warn"
        )
    assert [path for path, _ in summary.failed] == [str(broken)]
    assert summary.n_sources == 2 and summary.n_rows == N
    assert len(rows(out / "index.csv")) == N


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"output_size": 64}, ValueError, r"image_format='csv' writes FER2013 CSVs: 48x48"),
        ({"image_format": "gif"}, ValueError, "image_format must be 'csv' or one of"),
        ({"detector": "haar", "align": True}, ValueError, "align=True needs five landmarks"),
        ({"margin": -0.1}, ValueError, "margin must be a number >= 0"),
        ({"min_confidence": "high"}, ValueError, "min_confidence must be a number or None"),
        ({"on_error": "ignore"}, ValueError, "on_error must be"),
        ({"resume": "yes"}, ValueError, "resume must be True or False"),
        ({"detector": "dlib"}, ValueError, "detector must be 'mtcnn', 'haar' or an object"),
    ],
)
def test_bad_parameters_are_named(fer_csv_file, tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        crop_fer2013(fer_csv_file, tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_bad_sources_are_named(fer_csv_file, tmp_path):
    twin = tmp_path / "twin" / "fer2013.csv"
    twin.parent.mkdir()
    twin.write_bytes(fer_csv_file.read_bytes())
    with pytest.raises(ValueError, match="distinct file names"):
        crop_fer2013([fer_csv_file, twin], tmp_path / "out", detector="haar", progress=False)
    with pytest.raises(FileNotFoundError, match=r"source 'missing\.csv' does not exist"):
        crop_fer2013("missing.csv", tmp_path / "out", detector="haar", progress=False)
    with pytest.raises(ValueError, match="would overwrite the source"):
        crop_fer2013(fer_csv_file, fer_csv_file.parent, detector="haar", progress=False)
    with pytest.raises(ValueError, match="sources is empty"):
        crop_fer2013([], tmp_path / "out", detector="haar", progress=False)
