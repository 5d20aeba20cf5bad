"""Behaviour of HaarFaceCropper, crop_box and fer_toolkit.detection on real photos."""

import pickle
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from fer_toolkit.detection import (
    Detections,
    HaarCascadeDetector,
    available_cascades,
    resolve_cascade,
)
from fer_toolkit.preprocessing import HaarFaceCropper, NoFaceError, crop_box

# The astronaut's face (Eileen Collins) lies around x in [170, 300], y in [50, 190] of the
# 512x512 photo. Most tests use the photo at half size (4x faster detection).
FACE_X, FACE_Y = (170, 300), (50, 190)


def _half(image):
    return cv2.resize(
        image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA
    )


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


@pytest.fixture(scope="module")
def photo(astronaut):
    """The astronaut at 256x256: one face around x in [85, 150], y in [25, 95]."""
    return _half(astronaut)


@pytest.fixture(scope="module")
def no_face():
    return _half(data.coffee())  # 200x300, no face


@pytest.fixture(scope="module")
def two_faces(astronaut):
    """A grey 150x250 canvas with the astronaut's face twice: large at left, small at centre."""
    face = crop_box(astronaut, (177, 66, 95, 95), margin=0.4)
    canvas = np.full((150, 250, 3), 128, dtype=np.uint8)
    canvas[10:100, 5:95] = cv2.resize(face, (90, 90), interpolation=cv2.INTER_AREA)
    canvas[50:100, 100:150] = cv2.resize(face, (50, 50), interpolation=cv2.INTER_AREA)
    return canvas


def _overlaps_face(box, scale=1.0):
    """Whether a box overlaps the face region (of the photo resized by ``scale``)."""
    x, y, w, h = np.asarray(box) / scale
    return x < FACE_X[1] and x + w > FACE_X[0] and y < FACE_Y[1] and y + h > FACE_Y[0]


# --------------------------------------------------------------------------- detection


def test_detects_exactly_one_face_on_astronaut(astronaut):
    (detections,) = HaarFaceCropper().detect([astronaut])
    assert isinstance(detections, Detections)
    assert len(detections) == 1
    assert detections.boxes.shape == (1, 4) and detections.scores.shape == (1,)
    assert np.issubdtype(detections.boxes.dtype, np.integer)
    assert detections.landmarks is None
    x, y, w, h = detections.boxes[0]
    assert _overlaps_face(detections.boxes[0])
    assert FACE_X[0] <= x + w / 2 <= FACE_X[1] and FACE_Y[0] <= y + h / 2 <= FACE_Y[1]
    assert 60 <= w <= 160 and w == h
    assert detections.scores[0] >= 5  # at least min_neighbors merged windows


@pytest.mark.parametrize("name", ["coffee", "rocket", "chelsea"])
def test_no_face_on_natural_images(name):
    (detections,) = HaarFaceCropper().detect([getattr(data, name)()])
    assert len(detections) == 0
    assert detections.boxes.shape == (0, 4) and detections.scores.shape == (0,)


def test_detector_object_matches_cropper(photo):
    detector = HaarCascadeDetector()
    detections = detector.detect(photo)
    np.testing.assert_array_equal(detections.boxes, HaarFaceCropper().detect([photo])[0].boxes)


@pytest.mark.parametrize(
    "convert",
    [
        lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY),
        lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)[..., np.newaxis],
        lambda im: im.astype(np.float32) / 255,
        lambda im: im / 255.0,
        lambda im: (im / 255.0).astype(np.float16),
        lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) / 255.0,
    ],
    ids=["gray", "gray1", "float32", "float64", "float16", "gray-float64"],
)
def test_grayscale_and_float_inputs(photo, convert):
    reference = HaarFaceCropper().detect([photo])[0].boxes
    (detections,) = HaarFaceCropper().detect([convert(photo)])
    assert len(detections) == 1
    np.testing.assert_allclose(detections.boxes, reference, atol=3)


def test_detector_rejects_bad_image():
    detector = HaarCascadeDetector()
    with pytest.raises(ValueError, match=r"image.*4 channels"):
        detector.detect(np.zeros((50, 50, 4), np.uint8))
    with pytest.raises(ValueError, match=r"image.*\[2, 2\].*\[0, 1\]"):
        detector.detect(np.full((50, 50), 2.0))


@pytest.mark.parametrize(
    "params",
    [
        {"scale_factor": 1.0},
        {"min_neighbors": -1},
        {"min_size": (0, 10)},
        {"max_size": (10, 10, 10)},
    ],
)
def test_detector_rejects_bad_params(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        HaarCascadeDetector(**params)


def test_min_size_filters_small_faces(photo):
    assert len(HaarCascadeDetector(min_size=(30, 30)).detect(photo)) == 1
    assert len(HaarCascadeDetector(min_size=(200, 200)).detect(photo)) == 0
    assert len(HaarCascadeDetector(max_size=(40, 40)).detect(photo)) == 0


# --------------------------------------------------------------------------- cropping


def test_output_size_gives_ndarray(photo, no_face):
    X = HaarFaceCropper(output_size=(40, 30)).fit_transform([photo, no_face])
    assert isinstance(X, np.ndarray)
    assert X.shape == (2, 40, 30, 3) and X.dtype == np.uint8


def test_output_size_int_is_square(photo):
    X = HaarFaceCropper(output_size=48).fit_transform([photo])
    assert X.shape == (1, 48, 48, 3)
    (box,) = HaarFaceCropper().detect([photo])[0].boxes
    x, y, w, h = box
    expected = cv2.resize(photo[y : y + h, x : x + w], (48, 48), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(X[0], expected)


def test_no_output_size_gives_native_crops(photo, astronaut):
    (box,) = HaarFaceCropper().detect([photo])[0].boxes
    x, y, w, h = box
    crops = HaarFaceCropper().fit_transform([photo, astronaut])
    assert isinstance(crops, list) and len(crops) == 2
    np.testing.assert_array_equal(crops[0], photo[y : y + h, x : x + w])
    assert crops[1].shape[0] > 1.5 * crops[0].shape[0]  # the full-size photo's face


def test_margin_enlarges_crop_around_same_centre(photo):
    (box,) = HaarFaceCropper().detect([photo])[0].boxes
    x, y, w, h = box
    tight = HaarFaceCropper().fit_transform([photo])[0]
    wide = HaarFaceCropper(margin=0.25).fit_transform([photo])[0]
    dx, dy = round(w * 0.25), round(h * 0.25)
    assert wide.shape == (h + 2 * dy, w + 2 * dx, 3)
    np.testing.assert_array_equal(wide[dy : dy + h, dx : dx + w], tight)
    np.testing.assert_array_equal(wide, photo[y - dy : y + h + dy, x - dx : x + w + dx])


def test_on_missing_center(no_face):
    (crop,) = HaarFaceCropper(on_missing="center").fit_transform([no_face])
    assert crop.shape == (200, 200, 3)  # the largest centred square of 200x300
    np.testing.assert_array_equal(crop, no_face[:, 50:250])
    tall = np.ascontiguousarray(no_face[:, :120])  # 200x120
    (crop,) = HaarFaceCropper(on_missing="center").fit_transform([tall])
    np.testing.assert_array_equal(crop, tall[40:160])


def test_on_missing_full(photo, no_face):
    crops = HaarFaceCropper(on_missing="full").fit_transform([photo, no_face])
    assert crops[0].shape[0] < 100
    np.testing.assert_array_equal(crops[1], no_face)


def test_on_missing_raise_names_image(photo, no_face):
    with pytest.raises(NoFaceError, match=re.escape("X[2]")):
        HaarFaceCropper(on_missing="raise").fit_transform([photo, photo, no_face])
    assert issubclass(NoFaceError, ValueError)


def test_on_missing_keeps_batch_length_and_order(photo, no_face):
    X = HaarFaceCropper(output_size=32).fit_transform([no_face, photo, no_face])
    assert X.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(X[0], X[2])
    assert not np.array_equal(X[0], X[1])


def test_grayscale_and_float_crops_keep_input_layout(photo):
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    (crop,) = HaarFaceCropper().fit_transform([gray])
    assert crop.ndim == 2
    X = HaarFaceCropper(output_size=24).fit_transform(np.stack([photo / 255.0]))
    assert X.shape == (1, 24, 24, 3) and X.dtype == np.float64
    assert X.min() >= 0.0 and X.max() <= 1.0


# --------------------------------------------------------------------------- keep


def test_detections_selection_methods():
    boxes = np.array([[0, 0, 50, 50], [180, 130, 20, 20], [300, 200, 30, 30]])
    detections = Detections(boxes, np.array([3.0, 5.0, 9.0]))
    assert detections.largest() == 0
    assert detections.most_central((300, 400)) == 1  # centre (200, 150)
    assert detections.best() == 2
    tie = Detections(np.array([[0, 0, 10, 10], [50, 50, 20, 20]]), np.array([4.0, 4.0]))
    assert tie.best() == 1  # the larger box wins a score tie


def test_keep_selects_the_right_face(two_faces):
    (detections,) = HaarFaceCropper().detect([two_faces])
    assert len(detections) == 2
    large = HaarFaceCropper(keep="largest").fit_transform([two_faces])[0]
    central = HaarFaceCropper(keep="central").fit_transform([two_faces])[0]
    best = HaarFaceCropper(keep="best").fit_transform([two_faces])[0]
    areas = detections.boxes[:, 2] * detections.boxes[:, 3]
    assert large.shape[0] == detections.boxes[np.argmax(areas), 3]
    assert central.shape[0] == detections.boxes[np.argmin(areas), 3]  # small face is central
    assert best.shape[0] == detections.boxes[np.argmax(detections.scores), 3]
    assert large.shape[0] > central.shape[0]


def test_boxes_are_sorted_strongest_first(two_faces):
    (detections,) = HaarFaceCropper().detect([two_faces])
    assert (np.diff(detections.scores) <= 0).all()


# --------------------------------------------------------------------------- cascades


@pytest.mark.parametrize(
    "cascade",
    [
        "frontalface_alt2",
        "haarcascade_frontalface_default.xml",
        "haarcascade_frontalface_alt",
        Path("frontalface_default"),
    ],
)
def test_cascade_by_name(photo, cascade):
    (detections,) = HaarFaceCropper(cascade=cascade).detect([photo])
    assert len(detections) == 1 and _overlaps_face(detections.boxes[0], scale=0.5)


def test_cascade_by_path(photo, tmp_path):
    path = tmp_path / "my_cascade.xml"
    shutil.copy(resolve_cascade("frontalface_alt"), path)
    for cascade in (str(path), path):
        (detections,) = HaarFaceCropper(cascade=cascade).detect([photo])
        assert len(detections) == 1 and _overlaps_face(detections.boxes[0], scale=0.5)


def test_available_cascades_lists_stock_faces():
    names = available_cascades()
    assert {"frontalface_default", "frontalface_alt2", "profileface"} <= set(names)
    assert names == sorted(names)
    assert resolve_cascade("frontalface_alt2").endswith("haarcascade_frontalface_alt2.xml")


@pytest.mark.parametrize("method", ["fit", "transform", "detect"])
def test_unknown_cascade_lists_known_names(photo, method):
    with pytest.raises(ValueError, match=r"'no_such_cascade'.*frontalface_default"):
        getattr(HaarFaceCropper(cascade="no_such_cascade"), method)([photo])


@pytest.mark.parametrize(
    "content",
    [
        b"<?xml version='1.0'?><opencv_storage><foo>1</foo></opencv_storage>",
        b"\x00\x01garbage" * 40,
        b"",
    ],
    ids=["xml-not-cascade", "garbage", "empty"],
)
def test_non_cascade_file_names_file(photo, tmp_path, content):
    path = tmp_path / "bogus.xml"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        HaarFaceCropper(cascade=str(path)).fit([photo])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        HaarCascadeDetector(path)


def test_directory_as_cascade(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        HaarCascadeDetector(tmp_path)


@pytest.mark.parametrize(
    "params",
    [{"output_size": (0, 4)}, {"min_size": (0, 20)}, {"keep": "first"}, {"on_missing": "skip"}],
)
def test_invalid_params_rejected_at_fit(photo, params):
    with pytest.raises(ValueError, match=next(iter(params))):
        HaarFaceCropper(**params).fit([photo])


def test_bad_images_named(photo):
    with pytest.raises(ValueError, match=re.escape("X[1]") + ".*RGBA"):
        HaarFaceCropper().fit_transform([photo, np.zeros((40, 40, 4), np.uint8)])


# --------------------------------------------------------------------------- concurrency, pickle


@pytest.fixture(scope="module")
def mixed_images(astronaut, photo, no_face, two_faces):
    return [
        photo,
        no_face,
        two_faces,
        np.ascontiguousarray(photo[:, ::-1]),
        photo[20:200, 50:250],
        _half(data.rocket()),
        cv2.cvtColor(two_faces, cv2.COLOR_RGB2GRAY),
        _half(astronaut[::-1]),
    ]


def _same(a, b):
    return len(a) == len(b) and all(
        np.array_equal(x.boxes, y.boxes) and np.array_equal(x.scores, y.scores)
        for x, y in zip(a, b, strict=True)
    )


def test_n_jobs_gives_identical_boxes(mixed_images):
    serial = HaarFaceCropper(n_jobs=1).detect(mixed_images)
    parallel = HaarFaceCropper(n_jobs=2).detect(mixed_images)
    assert sum(len(d) > 1 for d in serial) >= 1  # the order of several boxes is checked too
    assert _same(serial, parallel)
    crops_serial = HaarFaceCropper(n_jobs=1, output_size=32).fit_transform(mixed_images)
    crops_parallel = HaarFaceCropper(n_jobs=2, output_size=32).fit_transform(mixed_images)
    assert len(crops_serial) == len(crops_parallel) == len(mixed_images)
    for a, b in zip(crops_serial, crops_parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_parallel_no_face_error_names_first_image(photo, no_face):
    X = [photo, photo, photo, no_face, no_face, photo]
    for n_jobs in (1, 2, 4):
        with pytest.raises(NoFaceError, match=re.escape("X[3]")):
            HaarFaceCropper(n_jobs=n_jobs, on_missing="raise").fit_transform(X)


def test_parallel_error_leaves_no_worker_running(tmp_path):
    # A worker left detecting after another one raised used to abort the
    # interpreter at exit ("terminate called without an active exception").
    script = tmp_path / "run.py"
    script.write_text(
        "import numpy as np\n"
        "from skimage import data\n"
        "from fer_toolkit.preprocessing import HaarFaceCropper, NoFaceError\n"
        "X = [data.astronaut()] * 3 + [np.zeros((40, 40), np.uint8)] * 2\n"
        "try:\n"
        "    HaarFaceCropper(n_jobs=2, on_missing='raise').fit_transform(X)\n"
        "except NoFaceError as exc:\n"
        "    print('raised', exc)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "raised no face found in X[3]" in result.stdout


def test_detector_is_thread_safe(mixed_images):
    detector = HaarCascadeDetector()
    serial = [detector.detect(image) for image in mixed_images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(2):
            assert _same(list(pool.map(detector.detect, mixed_images)), serial)


def test_pickled_cropper_still_works(photo, no_face):
    cropper = HaarFaceCropper(output_size=48, margin=0.1).fit([photo])
    expected = cropper.transform([photo, no_face])
    restored = pickle.loads(pickle.dumps(cropper))
    np.testing.assert_array_equal(restored.transform([photo, no_face]), expected)
    detector = pickle.loads(pickle.dumps(HaarCascadeDetector("frontalface_alt2")))
    assert len(detector.detect(photo)) == 1


def test_set_params_rebuilds_detector(photo):
    cropper = HaarFaceCropper(min_neighbors=5)
    assert len(cropper.detect([photo])[0]) == 1
    cropper.set_params(min_size=(300, 300))
    assert len(cropper.detect([photo])[0]) == 0


# --------------------------------------------------------------------------- crop_box


def test_crop_box_inside_is_a_plain_slice():
    image = np.arange(100, dtype=np.uint8).reshape(10, 10)
    np.testing.assert_array_equal(crop_box(image, (2, 3, 4, 5)), image[3:8, 2:6])


def test_crop_box_zero_pads_and_keeps_box_centred():
    image = np.arange(1, 101, dtype=np.uint8).reshape(10, 10)
    crop = crop_box(image, (0, 0, 4, 4), margin=0.5)
    assert crop.shape == (8, 8)
    assert (crop[:2] == 0).all() and (crop[:, :2] == 0).all()
    np.testing.assert_array_equal(crop[2:, 2:], image[:6, :6])
    # The original box sits exactly in the middle of the crop.
    np.testing.assert_array_equal(crop[2:6, 2:6], image[:4, :4])


def test_crop_box_bottom_right_overhang():
    image = np.arange(1, 101, dtype=np.uint8).reshape(10, 10)
    crop = crop_box(image, (8, 8, 4, 4))
    np.testing.assert_array_equal(crop, [[89, 90, 0, 0], [99, 100, 0, 0], [0] * 4, [0] * 4])


def test_crop_box_outside_image_is_all_zeros_with_channels():
    image = np.full((10, 10, 3), 9, dtype=np.float32)
    crop = crop_box(image, (20, -30, 3, 5))
    assert crop.shape == (5, 3, 3) and crop.dtype == np.float32 and not crop.any()


@pytest.mark.parametrize(
    ("box", "margin"),
    [((0, 0, 0, 4), 0.0), ((0, 0, 4, -2), 0.0), ((0, 0, 4), 0.0), ((0, 0, 4, 4), -0.5)],
)
def test_crop_box_rejects_bad_box(box, margin):
    with pytest.raises(ValueError, match=r"box|margin"):
        crop_box(np.zeros((10, 10), np.uint8), box, margin)
