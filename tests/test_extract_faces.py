"""extract_faces: index contents, crops, verification, resuming after a crash, bad input."""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage import data
from test_datasets_video import write_video

from fer_toolkit.datasets import (
    HaarVerifier,
    extract_faces,
    iter_video_frames,
    load_image_folder,
)
from fer_toolkit.datasets.extraction import journal, pipeline
from fer_toolkit.datasets.extraction.output import INDEX_COLUMNS, VERIFY_MARGIN
from fer_toolkit.detection import Detections, HaarCascadeDetector
from fer_toolkit.preprocessing import align_face, crop_box, read_image
from fer_toolkit.utils.pixels import to_gray

WIDTH, HEIGHT, N_FRAMES = 320, 240, 20
# The top 512x384 of the photo, scaled to 320x240 without distorting her face.
ASTRONAUT = cv2.resize(data.astronaut()[:384], (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
COFFEE = cv2.resize(data.coffee(), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
# Small photos keep Haar detection fast on a busy 2-core machine.
PHOTO = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
TRUE_FACE = (86, 31, 53, 53)  # Haar's box on PHOTO
FACE_FREE = (10, 150, 50, 50)  # her sleeve and the floor: no face


def has_face(frame_index):
    return frame_index % 4 < 2


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames = [ASTRONAUT if has_face(i) else COFFEE for i in range(N_FRAMES)]
    return write_video(tmp_path_factory.mktemp("clip") / "clip.avi", frames)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A labelled folder: photos/happy/astronaut.png (a face), photos/none/coffee.jpg (none)."""
    root = tmp_path_factory.mktemp("inputs") / "photos"
    for relative, image in [("happy/astronaut.png", PHOTO), ("none/coffee.jpg", COFFEE)]:
        (root / relative).parent.mkdir(parents=True)
        assert cv2.imwrite(str(root / relative), image[..., ::-1])
    return root


def read_index(out):
    with open(Path(out) / "index.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def snapshot(out):
    """The index text and every crop's bytes, by path relative to ``out``."""
    out = Path(out)
    crops = {
        str(p.relative_to(out)): p.read_bytes()
        for folder in ("faces", "rejected")
        for p in sorted((out / folder).rglob("*"))
        if p.is_file()
    }
    return (out / "index.csv").read_text(encoding="utf-8"), crops


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


class StubDetector:
    """The same detections for every image: boxes where the test wants them."""

    def __init__(self, boxes, scores, landmarks=None):
        self.detections = Detections(
            np.array(boxes, dtype=np.int64).reshape(-1, 4),
            np.array(scores, dtype=float),
            None if landmarks is None else np.array(landmarks, dtype=float),
        )

    def detect(self, image):
        return self.detections


class CrashingDetector:
    """Haar detection that raises after ``k`` images: a crash in the middle of a job."""

    def __init__(self, k=10**9):
        self.inner = HaarCascadeDetector()
        self.k = k
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        if self.calls > self.k:
            raise RuntimeError("simulated crash")
        return self.inner.detect(image)


def test_video_rows_are_every_nth_frame_with_the_face_box(clip, tmp_path):
    summary = extract_faces(clip, tmp_path / "out", detector="haar", every=3, progress=False)
    rows = read_index(tmp_path / "out")
    assert list(rows[0]) == list(INDEX_COLUMNS)
    frames = [int(row["frame"]) for row in rows]
    assert frames == [i for i in range(0, N_FRAMES, 3) if has_face(i)] == [0, 9, 12]
    truth = HaarCascadeDetector().detect(ASTRONAUT).boxes[0]
    for row in rows:
        box = [int(row[c]) for c in "xywh"]
        assert iou(box, truth) > 0.8
        assert row["source"] == str(clip) and row["face"] == "0"
        assert row["kept"] == "1" and row["reason"] == ""
        assert float(row["confidence"]) >= 5  # Haar: merged neighbours, min_neighbors=5
        assert all(row[c] == "" for c in INDEX_COLUMNS[8:18])  # Haar has no landmarks
    assert summary.n_frames == 7 and summary.n_kept == 3 and summary.n_rejected == 0
    assert summary.n_sources == 1 and summary.n_skipped == 0


def test_crops_match_the_index_and_the_decoded_frames(clip, tmp_path):
    out = tmp_path / "out"
    extract_faces(clip, out, detector="haar", every=3, progress=False)
    rows = read_index(out)
    frames = dict(iter_video_frames(clip, every=3))
    written = sorted(str(p.relative_to(out)) for p in (out / "faces").rglob("*.png"))
    assert written == sorted(row["crop"] for row in rows)
    for row in rows:
        assert row["crop"] == f"faces/clip/{int(row['frame']):06d}_0.png"
        box = [int(row[c]) for c in "xywh"]
        expected = crop_box(frames[int(row["frame"])], box)
        np.testing.assert_array_equal(read_image(out / row["crop"]), expected)  # PNG: lossless


def test_image_folder_keeps_its_class_folders(photos, tmp_path):
    out = tmp_path / "out"
    summary = extract_faces(photos, out, detector="haar", output_size=48, progress=False)
    rows = read_index(out)
    assert len(rows) == 1 and rows[0]["frame"] == "-1"
    assert rows[0]["source"] == os.path.join(str(photos), "happy", "astronaut.png")
    assert iou([int(rows[0][c]) for c in "xywh"], TRUE_FACE) > 0.9
    assert rows[0]["crop"] == "faces/photos/happy/astronaut_0.png"
    assert summary.n_sources == 2 and summary.n_frames == 2
    crops = load_image_folder(out / "faces" / "photos")  # a labelled crop folder
    assert crops.target.tolist() == ["happy"]
    assert read_image(crops.filenames[0]).shape == (48, 48, 3)


def test_size_grayscale_margin_and_format(photos, tmp_path):
    out = tmp_path / "out"
    extract_faces(
        photos / "happy",
        out,
        detector="haar",
        output_size=(64, 48),
        grayscale=True,
        image_format="jpg",
        progress=False,
    )
    crop = cv2.imread(str(out / "faces" / "happy" / "astronaut_0.jpg"), cv2.IMREAD_UNCHANGED)
    assert crop.shape == (64, 48)
    extract_faces(photos / "happy", tmp_path / "wide", detector="haar", margin=0.5, progress=False)
    row = read_index(tmp_path / "wide")[0]
    crop = read_image(tmp_path / "wide" / row["crop"])
    h, w = int(row["h"]), int(row["w"])
    assert crop.shape == (h + 2 * round(h / 2), w + 2 * round(w / 2), 3)


def test_haar_verifier_drops_a_false_detection(photos, tmp_path):
    detector = StubDetector([TRUE_FACE, FACE_FREE], [0.99, 0.98])
    out = tmp_path / "out"
    summary = extract_faces(
        photos / "happy", out, detector=detector, verify="haar", save_rejected=True, progress=False
    )
    face, false = read_index(out)
    assert (face["kept"], face["reason"], face["crop"]) == ("1", "", "faces/happy/astronaut_0.png")
    assert (false["kept"], false["reason"]) == ("0", "verifier")
    assert false["crop"] == "rejected/happy/astronaut_1.png"
    assert (out / false["crop"]).is_file()
    assert summary.n_kept == 1 and summary.n_rejected == 1
    extract_faces(photos / "happy", tmp_path / "plain", detector=detector, progress=False)
    assert [row["kept"] for row in read_index(tmp_path / "plain")] == ["1", "1"]


def test_rejected_crops_are_not_written_by_default(photos, tmp_path):
    detector = StubDetector([TRUE_FACE, FACE_FREE], [0.99, 0.98])
    extract_faces(photos / "happy", tmp_path, detector=detector, verify="haar", progress=False)
    assert read_index(tmp_path)[1]["crop"] == ""
    assert not (tmp_path / "rejected").exists()
    assert [p.name for p in (tmp_path / "faces").rglob("*.png")] == ["astronaut_0.png"]


def test_min_confidence_goes_first_and_the_verifier_is_pluggable(photos, tmp_path):
    seen = []

    def verifier(crops):
        seen.extend(crop.shape for crop in crops)
        return np.array([False] * len(crops))

    detector = StubDetector([TRUE_FACE, FACE_FREE], [0.5, 0.99])
    extract_faces(
        photos / "happy",
        tmp_path,
        detector=detector,
        min_confidence=0.9,
        verify=verifier,
        progress=False,
    )
    low, refused = read_index(tmp_path)
    assert low["reason"] == "low_confidence" and refused["reason"] == "verifier"
    side = 50 + 2 * round(50 * VERIFY_MARGIN)
    assert seen == [(side, side, 3)]  # only the confident box, cut with the verifier's margin
    detector = StubDetector([(100, 80, 30, 50)], [1.0])
    seen.clear()
    extract_faces(
        photos / "happy", tmp_path / "tall", detector=detector, verify=verifier, progress=False
    )
    assert seen == [(74, 74, 3)]  # a square around the box: faces are not distorted


def test_keep_largest_and_landmark_columns(photos, tmp_path):
    landmarks = np.arange(20, dtype=float).reshape(2, 5, 2) + 0.25
    detector = StubDetector([(10, 10, 20, 20), (100, 100, 40, 30)], [0.9, 0.8], landmarks)
    extract_faces(photos / "happy", tmp_path, detector=detector, keep="largest", progress=False)
    small, large = read_index(tmp_path)
    assert (small["kept"], small["reason"]) == ("0", "not_largest")
    assert (large["kept"], large["reason"]) == ("1", "")
    assert [float(large[c]) for c in INDEX_COLUMNS[8:18]] == (np.arange(10, 20) + 0.25).tolist()
    assert INDEX_COLUMNS[8:10] == ("left_eye_x", "left_eye_y")


CRASH_KWARGS = {"every": 2, "verify": "haar", "margin": 0.1, "progress": False}


@pytest.fixture(scope="module")
def uninterrupted(clip, photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "out"
    summary = extract_faces([clip, photos], out, detector=CrashingDetector(), **CRASH_KWARGS)
    assert summary.n_frames == N_FRAMES // 2 + 2
    return out


# Checkpoints every 4 frames, batches of 2: a crash at the k-th detection loses the
# frames after the last checkpoint, and only those are redone.
@pytest.mark.parametrize(("crash_after", "redone"), [(3, 12), (7, 8), (11, 4)])
def test_resume_after_a_crash_equals_an_uninterrupted_run(
    clip, photos, uninterrupted, tmp_path, monkeypatch, crash_after, redone
):
    monkeypatch.setattr(journal, "_CHECKPOINT_FRAMES", 4)
    monkeypatch.setattr(pipeline, "_BATCH_FRAMES", 2)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_faces([clip, photos], out, detector=CrashingDetector(crash_after), **CRASH_KWARGS)
    resumed = extract_faces([clip, photos], out, detector=CrashingDetector(), **CRASH_KWARGS)
    assert snapshot(out) == snapshot(uninterrupted)
    assert resumed.n_frames == redone


def test_resume_after_a_hard_kill_and_torn_writes(clip, photos, tmp_path):
    """A real process killed mid-job (no cleanup), its last writes cut in half."""
    out, ref = tmp_path / "out", tmp_path / "ref"
    script = textwrap.dedent(
        f"""
        import os
        from fer_toolkit.datasets.extraction import journal, pipeline
        from fer_toolkit.detection import HaarCascadeDetector

        journal._CHECKPOINT_FRAMES, pipeline._BATCH_FRAMES = 3, 1
        original, calls = HaarCascadeDetector.detect, [0]

        def detect(self, image):
            calls[0] += 1
            if calls[0] > 6:
                os._exit(9)
            return original(self, image)

        HaarCascadeDetector.detect = detect
        pipeline.extract_faces(
            [{str(clip)!r}, {str(photos)!r}], {str(out)!r}, detector="haar", every=2,
            progress=False,
        )
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    with open(out / "index.csv", "a", encoding="utf-8") as f:
        f.write(f"{clip},12,0,109,2")  # a row cut by the kill
    with open(out / "progress.jsonl", "ab") as f:
        f.write(b'{"index_bytes": 99999, "next_fr')  # a checkpoint cut by the kill
    torn = out / "faces" / "clip" / ".000006_0.png.0123abcd.tmp.png"
    torn.write_bytes(b"\x89PNG")  # a crop the kill cut short, before its rename
    assert (out / ".lock").exists()  # the dead process could not remove it, nor keep it locked
    resumed = extract_faces([clip, photos], out, detector="haar", every=2, progress=False)
    assert not torn.exists() and not (out / ".lock").exists()
    extract_faces([clip, photos], ref, detector="haar", every=2, progress=False)
    assert snapshot(out) == snapshot(ref)
    assert resumed.n_frames == N_FRAMES // 2 + 2 - 6


STUB = StubDetector([TRUE_FACE, FACE_FREE], [0.9, 0.4])


@pytest.fixture(scope="module")
def finished_run(clip, photos, tmp_path_factory):
    """A run that checkpointed after every frame (a stub detector keeps it fast)."""
    out = tmp_path_factory.mktemp("finished") / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(journal, "_CHECKPOINT_FRAMES", 1)
        patch.setattr(pipeline, "_BATCH_FRAMES", 3)
        extract_faces([clip, photos], out, detector=STUB, min_confidence=0.5, progress=False)
    assert len((out / "progress.jsonl").read_text().splitlines()) > 5
    return out, [clip, photos]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.floats(0.0, 1.0), extra_rows=st.booleans())
def test_any_cut_of_the_progress_record_resumes_to_the_same_result(finished_run, cut, extra_rows):
    reference, sources = finished_run
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        shutil.copytree(reference, out)
        log = out / "progress.jsonl"
        os.truncate(log, int(cut * log.stat().st_size))
        if extra_rows:
            with open(out / "index.csv", "a", encoding="utf-8") as f:
                f.write("left,over,row\n")
        extract_faces(sources, out, detector=STUB, min_confidence=0.5, progress=False)
        assert snapshot(out) == snapshot(reference)


def test_rerunning_a_finished_job_changes_nothing(finished_run, tmp_path):
    reference, sources = finished_run
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    summary = extract_faces(sources, out, detector=STUB, min_confidence=0.5, progress=False)
    assert summary.n_frames == 0 and summary.n_skipped == summary.n_sources == 3
    assert snapshot(out) == snapshot(reference)


def test_new_sources_are_added_to_an_existing_extraction(clip, photos, tmp_path):
    out = tmp_path / "out"
    extract_faces(clip, out, detector="haar", every=5, progress=False)
    summary = extract_faces([clip, photos], out, detector="haar", every=5, progress=False)
    assert summary.n_skipped == 1 and summary.n_frames == 2
    assert [row["frame"] for row in read_index(out)] == ["0", "5", "-1"]


def test_changed_settings_are_refused_unless_starting_over(clip, tmp_path):
    out = tmp_path / "out"
    extract_faces(clip, out, detector="haar", every=5, progress=False)
    with pytest.raises(ValueError, match=r"made with every=5, not 3.*resume=False"):
        extract_faces(clip, out, detector="haar", every=3, progress=False)
    extract_faces(clip, out, detector="haar", every=3, resume=False, progress=False)
    extract_faces(clip, tmp_path / "fresh", detector="haar", every=3, progress=False)
    assert snapshot(out) == snapshot(tmp_path / "fresh")


def test_inputs_are_never_written(photos, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in photos.rglob("*")}
    extract_faces(photos, tmp_path / "out", detector="haar", progress=False)
    assert {p: p.stat().st_mtime_ns for p in photos.rglob("*")} == before
    with pytest.raises(ValueError, match="overlap"):
        extract_faces(photos, photos / "crops", detector="haar", progress=False)
    with pytest.raises(ValueError, match="overlap"):
        extract_faces(tmp_path / "out" / "faces", tmp_path / "out", detector="haar")
    assert not (photos / "crops").exists()


def test_progress_bars_go_to_stderr(clip, photos, tmp_path, capsys):
    extract_faces(clip, tmp_path / "a", detector="haar", every=4)
    assert "frame" in capsys.readouterr().err
    extract_faces([clip, photos], tmp_path / "b", detector="haar", every=4)
    assert "3/3" in capsys.readouterr().err  # the files bar
    extract_faces(clip, tmp_path / "c", detector="haar", every=4, progress=False)
    assert capsys.readouterr().err == ""


def test_missing_unknown_and_empty_sources_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.mp4"):
        extract_faces(tmp_path / "nowhere.mp4", tmp_path / "out", detector="haar")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt.* neither an image"):
        extract_faces(notes, tmp_path / "out", detector="haar")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no images .* found in folder .*empty"):
        extract_faces(tmp_path / "empty", tmp_path / "out", detector="haar")
    with pytest.raises(ValueError, match="sources is empty"):
        extract_faces([], tmp_path / "out", detector="haar")


def test_corrupt_files_are_named(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"broken\.png"):
        extract_faces(folder, tmp_path / "out", detector="haar", progress=False)
    (folder / "broken.png").unlink()
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 garbage" * 20)
    with pytest.raises(ValueError, match=r"broken\.mp4"):
        extract_faces(folder, tmp_path / "out2", detector="haar", progress=False)


def test_colliding_crop_names_are_refused(clip, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(clip, tmp_path / name / "clip.avi")
    with pytest.raises(ValueError, match=r"a/clip\.avi.* and .*b/clip\.avi.* faces/clip"):
        extract_faces([tmp_path / "a" / "clip.avi", tmp_path / "b" / "clip.avi"], tmp_path / "o")
    summary = extract_faces([clip, clip], tmp_path / "twice", detector="haar", progress=False)
    assert summary.n_sources == 1  # the same file given twice is read once


def test_output_folder_that_is_a_file(clip, tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(NotADirectoryError, match="taken"):
        extract_faces(clip, tmp_path / "taken", detector="haar")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"detector": "yolo"}, "detector must be 'mtcnn', 'haar' or an object"),
        ({"every": 0}, "every must be an int >= 1"),
        ({"min_confidence": "high"}, "min_confidence must be a number"),
        ({"margin": -0.1}, "margin must be a number >= 0"),
        ({"output_size": (0, 48)}, "output_size must be a positive int"),
        ({"grayscale": "yes"}, "grayscale must be True or False"),
        ({"align": 1}, "align must be True or False"),
        ({"align": True}, "align=True needs five landmarks per face, which the Haar"),
        ({"verify": "mtcnn"}, "verify must be None, 'haar' or a callable"),
        ({"keep": "best"}, "keep must be 'all' or 'largest'"),
        ({"image_format": "gif"}, "image_format must be one of"),
        ({"device": 0}, "device must be a string"),
    ],
)
def test_bad_parameters(clip, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        extract_faces(clip, tmp_path / "out", **{"detector": "haar", **kwargs})
    assert not (tmp_path / "out").exists()


def test_malformed_detector_and_verifier_output_is_named(photos, tmp_path):
    class Broken:
        def detect(self, image):
            return [(1, 2, 3, 4)]

    with pytest.raises(TypeError, match=r"returned list for .*astronaut\.png.*expected Detections"):
        extract_faces(photos / "happy", tmp_path / "a", detector=Broken(), progress=False)
    flat = StubDetector([(10, 10, 0, 20)], [1.0])
    with pytest.raises(ValueError, match=r"malformed Detections for .*astronaut\.png.*positive"):
        extract_faces(photos / "happy", tmp_path / "c", detector=flat, progress=False)
    detector = StubDetector([TRUE_FACE], [1.0])
    with pytest.raises(ValueError, match="verify must return one boolean per crop"):
        extract_faces(
            photos / "happy",
            tmp_path / "b",
            detector=detector,
            verify=lambda crops: [True, True],
            progress=False,
        )


def test_haar_verifier_parameters():
    crops = [crop_box(PHOTO, box, VERIFY_MARGIN) for box in (TRUE_FACE, FACE_FREE)]
    assert HaarVerifier()(crops).tolist() == [True, False]
    assert HaarVerifier(min_face=1.0)(crops).tolist() == [False, False]
    with pytest.raises(ValueError, match="min_face must be a number in"):
        HaarVerifier(min_face=0)
    with pytest.raises(ValueError, match="size must be a single int"):
        HaarVerifier(size=(96, 64))


def test_mtcnn_rows_carry_landmarks_inside_the_face(clip, tmp_path):
    summary = extract_faces(
        clip, tmp_path, every=4, min_confidence=0.95, verify="haar", device="cpu", progress=False
    )
    rows = read_index(tmp_path)
    assert [int(row["frame"]) for row in rows] == [0, 4, 8, 12, 16]
    assert summary.n_kept == 5 and summary.n_rejected == 0
    haar = HaarCascadeDetector().detect(ASTRONAUT).boxes[0]
    for row in rows:
        x, y, w, h = (int(row[c]) for c in "xywh")
        assert iou((x, y, w, h), haar) > 0.5
        assert float(row["confidence"]) > 0.99
        points = np.array([float(row[c]) for c in INDEX_COLUMNS[8:18]]).reshape(5, 2)
        assert ((points >= (x, y)) & (points <= (x + w, y + h))).all()
        left_eye, right_eye, nose, mouth_left, mouth_right = points
        assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_mtcnn_resume_after_a_crash_is_exact(clip, photos, tmp_path, monkeypatch):
    """Batched MTCNN results depend (in the last float bits) on the batch; resuming
    must rebuild the same batches so that the index is identical, not just close."""
    from fer_toolkit.detection import MTCNN

    monkeypatch.setattr(journal, "_CHECKPOINT_FRAMES", 1)
    monkeypatch.setattr(pipeline, "_BATCH_FRAMES", 2)
    kwargs = {"detector": MTCNN(device="cpu"), "every": 4, "progress": False}
    extract_faces([clip, photos], tmp_path / "ref", **kwargs)
    original, calls = MTCNN.detect_batch, []

    def crashing(self, images):
        calls.append(len(images))
        if len(calls) > 2:
            raise RuntimeError("simulated crash")
        return original(self, images)

    monkeypatch.setattr(MTCNN, "detect_batch", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_faces([clip, photos], tmp_path / "out", **kwargs)
    monkeypatch.setattr(MTCNN, "detect_batch", original)
    resumed = extract_faces([clip, photos], tmp_path / "out", **kwargs)
    assert calls == [2, 2, 2]  # frames 0 4 | 8 12 | 16 + the photo: crash
    assert resumed.n_frames == N_FRAMES // 4 + 2 - 4
    assert snapshot(tmp_path / "out") == snapshot(tmp_path / "ref")


def test_aligned_crops_are_the_photo_aligned_on_the_index_landmarks(photos, tmp_path):
    eyes_tilted = [[95, 50], [125, 58], [108, 66], [96, 72], [120, 78]]
    detector = StubDetector([TRUE_FACE], [1.0], [eyes_tilted])
    summary = extract_faces(
        photos / "happy", tmp_path / "out", detector=detector, align=True, margin=0.1,
        output_size=40, grayscale=True, progress=False,
    )  # fmt: skip
    assert summary.n_kept == 1
    (row,) = read_index(tmp_path / "out")
    points = np.array([float(row[c]) for c in INDEX_COLUMNS[8:18]]).reshape(5, 2)
    np.testing.assert_allclose(points, eyes_tilted)
    written = cv2.imread(str(tmp_path / "out" / row["crop"]), cv2.IMREAD_UNCHANGED)
    photo = read_image(photos / "happy" / "astronaut.png")
    expected = align_face(photo, eyes_tilted, 40, margin=0.1)
    np.testing.assert_array_equal(written, to_gray(expected))
    boxed = extract_faces(
        photos / "happy", tmp_path / "box", detector=detector, margin=0.1, output_size=40,
        grayscale=True, progress=False,
    )  # fmt: skip
    assert boxed.n_kept == 1
    boxed_crop = cv2.imread(str(tmp_path / "box" / row["crop"]), cv2.IMREAD_UNCHANGED)
    assert boxed_crop.shape == written.shape and not np.array_equal(boxed_crop, written)


def test_align_with_a_detector_without_landmarks_names_the_image(photos, tmp_path):
    detector = StubDetector([TRUE_FACE], [1.0])
    with pytest.raises(ValueError, match=r"needs five landmarks.*gave none for .*astronaut\.png"):
        extract_faces(photos / "happy", tmp_path, detector=detector, align=True, progress=False)


def test_extractions_from_before_align_resume_as_unaligned(photos, tmp_path):
    detector = StubDetector(
        [TRUE_FACE], [1.0], [[[95, 50], [125, 58], [108, 66], [96, 72], [120, 78]]]
    )
    extract_faces(photos, tmp_path, detector=detector, progress=False)
    settings_path = tmp_path / "extraction.json"
    settings = json.loads(settings_path.read_text())
    del settings["align"]
    settings_path.write_text(json.dumps(settings))
    summary = extract_faces(photos, tmp_path, detector=detector, progress=False)
    assert summary.n_skipped == 2
    with pytest.raises(ValueError, match="made with align=False, not True"):
        extract_faces(photos, tmp_path, detector=detector, align=True, progress=False)


@pytest.mark.parametrize("content", ["[1, 2]", "not json", "null"])
def test_a_tampered_settings_file_is_named_not_a_traceback(photos, tmp_path, content):
    detector = StubDetector([TRUE_FACE], [1.0])
    extract_faces(photos, tmp_path, detector=detector, progress=False)
    (tmp_path / "extraction.json").write_text(content)
    with pytest.raises(ValueError, match=r"extraction\.json' is not an extract_faces settings"):
        extract_faces(photos, tmp_path, detector=detector, progress=False)


def test_a_second_run_on_a_folder_in_use_fails_at_once(photos, tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from fer_toolkit.utils.fileio import folder_lock\n"
            f"with folder_lock({str(out)!r}):\n"
            "    print('locked', flush=True); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(BlockingIOError, match=r"in use by another extract_faces run"):
            extract_faces(photos, out, detector="haar", progress=False)
        assert not (out / "index.csv").exists()
    finally:
        holder.communicate("\n", timeout=60)
    assert extract_faces(photos, out, detector="haar", progress=False).n_kept == 1
