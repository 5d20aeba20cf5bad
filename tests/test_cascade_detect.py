"""Running cascades over files and measuring them, on real images and OpenCV's stock cascades."""

import csv
import itertools
import json
import os

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data

from fer_toolkit.cascade import (
    box_iou,
    detect_files,
    evaluate_cascade,
    find_images,
    match_detections,
    write_detections_csv,
    write_detections_json,
)
from fer_toolkit.cascade.description import write_bg, write_info
from fer_toolkit.cascade.evaluate import _group
from fer_toolkit.detection import HaarCascadeDetector
from fer_toolkit.preprocessing import read_image

# Hand-annotated face of skimage's astronaut: eyebrows to chin, cheek to cheek.
ASTRONAUT_FACE = (180, 70, 90, 92)
# Face-free photos: coins fool frontalface_default several times, the clock once.
NEGATIVES = {"coins": data.coins, "clock": data.clock, "brick": data.brick}


def _save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = image if image.ndim == 2 else image[..., ::-1]
    assert cv2.imwrite(str(path), bgr)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    astronaut = _save(root / "people" / "astronaut.png", data.astronaut())
    negatives = [
        _save(root / "objects" / f"{name}.png", load()) for name, load in NEGATIVES.items()
    ]
    return root, astronaut, negatives


@pytest.fixture(scope="module")
def truth_files(photos):
    root, astronaut, negatives = photos
    write_info(root / "faces.lst", [(astronaut, [ASTRONAUT_FACE])])
    write_bg(root / "bg.txt", negatives)
    return root / "faces.lst", root / "bg.txt"


def test_find_images_expands_folders(tmp_path):
    for name in ["a.png", "B.JPG", "notes.txt", ".hidden.png", "sub/c.bmp", ".git/d.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    names = [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)]
    assert names == ["B.JPG", "a.png"]
    deep = find_images([tmp_path, tmp_path / "a.png"], recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in deep] == ["B.JPG", "a.png", "sub/c.bmp"]
    assert find_images(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]  # files are kept
    with pytest.raises(FileNotFoundError, match=r"input '.*missing' does not exist"):
        find_images([tmp_path, tmp_path / "missing"])
    with pytest.raises(ValueError, match=r"no image files \(\.gif\) found in .*--recursive"):
        find_images(tmp_path, extensions=[".gif"])


def test_detect_files_finds_the_astronaut_and_writes_annotations(photos, tmp_path):
    root, _, _ = photos
    seen = []
    results = detect_files(
        root,
        recursive=True,
        min_neighbors=5,
        annotate_dir=tmp_path / "annotated",
        on_image=seen.append,
        n_jobs=2,
    )
    assert [r.path.relative_to(root).as_posix() for r in results] == [
        "objects/brick.png",
        "objects/clock.png",
        "objects/coins.png",
        "people/astronaut.png",
    ]
    assert sorted(r.path for r in seen) == sorted(r.path for r in results)
    face = results[-1]
    assert face.shape == (512, 512)
    expected = HaarCascadeDetector(min_neighbors=5).detect(data.astronaut())
    np.testing.assert_array_equal(face.detections.boxes, expected.boxes)
    assert box_iou(face.detections.boxes, [ASTRONAUT_FACE])[0, 0] > 0.7
    drawn = cv2.imread(str(tmp_path / "annotated" / "people" / "astronaut.png"))[..., ::-1]
    x, y, _, h = face.detections.boxes[0]
    assert drawn.shape == (512, 512, 3)
    assert drawn[y + h // 2, x].tolist() == [0, 255, 0]
    assert (tmp_path / "annotated" / "objects" / "coins.png").is_file()


def test_detections_are_written_as_csv_and_json(photos, tmp_path):
    _, astronaut, negatives = photos
    results = detect_files([astronaut, *negatives], min_neighbors=3)
    write_detections_csv(tmp_path / "boxes.csv", results)
    write_detections_json(tmp_path / "boxes.json", results, cascade="frontalface_default")
    with open(tmp_path / "boxes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(r.detections) for r in results)
    first = results[0].detections
    assert rows[0] == {
        "image": str(astronaut),
        **dict(zip("xywh", map(str, first.boxes[0]), strict=True)),
        "score": f"{first.scores[0]:g}",
    }
    document = json.loads((tmp_path / "boxes.json").read_text())
    assert document["parameters"] == {"cascade": "frontalface_default"}
    assert [entry["path"] for entry in document["images"]] == [str(r.path) for r in results]
    brick = document["images"][-1]
    assert (brick["width"], brick["height"], brick["boxes"]) == (512, 512, [])


def test_box_iou_known_values():
    iou = box_iou([[0, 0, 10, 10], [0, 0, 2, 2]], [[0, 0, 10, 10], [5, 5, 10, 10], [10, 0, 4, 4]])
    np.testing.assert_allclose(iou, [[1, 25 / 175, 0], [4 / 100, 0, 0]])
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


_box = st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(1, 8), st.integers(1, 8))


@settings(max_examples=150, deadline=None)
@given(a=st.lists(_box, max_size=4), b=st.lists(_box, max_size=4))
def test_box_iou_matches_pixel_counting(a, b):
    def mask(box):
        x, y, w, h = box
        m = np.zeros((20, 20), dtype=bool)
        m[y : y + h, x : x + w] = True
        return m

    iou = box_iou(a, b)
    assert iou.shape == (len(a), len(b))
    for i, box_a in enumerate(a):
        for j, box_b in enumerate(b):
            inter = (mask(box_a) & mask(box_b)).sum()
            union = (mask(box_a) | mask(box_b)).sum()
            assert iou[i, j] == pytest.approx(inter / union)
    np.testing.assert_allclose(box_iou(b, a), iou.T)


@settings(max_examples=150, deadline=None)
@given(
    truth=st.lists(_box, max_size=5),
    boxes=st.lists(_box, max_size=6),
    threshold=st.floats(0.05, 1.0),
)
def test_match_detections_is_one_to_one(truth, boxes, threshold):
    scores = np.arange(len(boxes))[::-1]
    hit, tp = match_detections(truth, boxes, scores, threshold)
    assert hit.sum() == tp.sum()
    iou = box_iou(truth, boxes)
    for j in np.flatnonzero(tp):
        assert (iou[:, j] >= threshold).any()
    # A detection that overlaps an object nobody claimed enough is never a false positive.
    for j in np.flatnonzero(~tp):
        assert not ((iou[:, j] >= threshold) & ~hit).any()


def test_match_detections_prefers_the_strongest_box():
    hit, tp = match_detections([[0, 0, 10, 10]], [[0, 0, 10, 10], [1, 1, 10, 10]], [1, 9])
    assert hit.tolist() == [True] and tp.tolist() == [False, True]
    with pytest.raises(ValueError, match="iou_threshold"):
        match_detections([], [], iou_threshold=0)


@pytest.mark.parametrize("image", [data.astronaut(), data.coins()], ids=["astronaut", "coins"])
def test_grouping_raw_windows_equals_detect_multiscale(image):
    raw = HaarCascadeDetector(min_neighbors=0).detect(image).boxes
    for k in (1, 3, 6):
        boxes, counts = _group(raw, k)
        expected = HaarCascadeDetector(min_neighbors=k).detect(image)
        got = sorted(zip(map(tuple, boxes.tolist()), counts.tolist(), strict=True))
        want = sorted(zip(map(tuple, expected.boxes.tolist()), expected.scores, strict=True))
        assert got == want, k


def test_evaluate_on_astronaut_and_face_free_photos(truth_files, photos):
    info, bg = truth_files
    _, astronaut, negatives = photos
    result = evaluate_cascade(info, negatives=bg, min_neighbors=3)
    assert (result.n_images, result.n_objects, result.min_neighbors) == (4, 1, 3)
    assert result.hit_rate == 1.0
    # The same count straight from detectMultiScale: every box but the face is false.
    detector = HaarCascadeDetector(min_neighbors=3)
    false = sum(len(detector.detect(read_image(p))) for p in negatives)
    false += len(detector.detect(data.astronaut())) - 1
    assert false > 0, "the test needs a cascade that makes mistakes"
    assert result.false_positives_per_image == pytest.approx(false / 4)
    assert result.precision == pytest.approx(1 / (1 + false))
    by_image = {os.path.basename(r["path"]): r for r in result.images}
    assert by_image["astronaut.png"]["hits"] == 1
    assert by_image["coins.png"]["false_positives"] > 0 and by_image["brick.png"] == {
        "path": str(negatives[2]),
        "objects": 0,
        "hits": 0,
        "false_positives": 0,
    }
    curve = result.curve
    assert [p.min_neighbors for p in curve] == list(range(len(curve)))
    assert all(a.detections >= b.detections for a, b in itertools.pairwise(curve))
    assert curve[-1].detections == 0 and np.isnan(curve[-1].precision)
    assert curve[0].detections == sum(
        len(HaarCascadeDetector(min_neighbors=0).detect(read_image(p)))
        for p in [astronaut, *negatives]
    )
    runs = result.runs()
    assert runs[0][0] == 0 and runs[-1][1] == curve[-1].min_neighbors
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(runs))
    assert all(curve[first] == point for first, _, point in runs)
    assert len({(p.detections, p.hits, p.false_positives) for _, _, p in runs}) == len(runs)
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["hit_rate"] == 1.0 and summary["curve"][-1]["precision"] is None
    fig = result.plot()
    assert [ax.get_xlabel() for ax in fig.axes] == [
        "hit rate (recall)",
        "false positives per image",
    ]


def test_evaluate_another_cascade_and_a_strict_overlap(truth_files):
    info, _ = truth_files
    path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_alt2.xml")
    result = evaluate_cascade(info, path, min_neighbors=3)
    assert result.cascade == path and result.hit_rate == 1.0
    # No detector box matches a hand-drawn one that exactly: at IoU 0.99 the face is missed.
    strict = evaluate_cascade(info, path, min_neighbors=3, iou_threshold=0.99)
    assert strict.hit_rate == 0.0 and strict.false_positives_per_image == 1.0


def test_evaluate_reports_bad_ground_truth(tmp_path, photos):
    _, astronaut, _ = photos
    info = tmp_path / "faces.lst"
    info.write_text(f"{astronaut} 1 500 500 40 40\n")
    with pytest.raises(ValueError, match=r"faces\.lst, line 1: box 1 .* reaches outside"):
        evaluate_cascade(info)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_cascade(None)
    with pytest.raises(ValueError, match="min_neighbors must be an int >= 0"):
        evaluate_cascade([(astronaut, [ASTRONAUT_FACE])], min_neighbors=-1)
    with pytest.raises(ValueError, match="unknown cascade 'nope'"):
        evaluate_cascade([(astronaut, [ASTRONAUT_FACE])], "nope")
