"""Behaviour of MTCNNFaceCropper (crop, align, policies, batching) on real photos."""

import pickle
import re

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from fer_toolkit.detection import MTCNN, Detections
from fer_toolkit.preprocessing import (
    FACE_TEMPLATE,
    HaarFaceCropper,
    MTCNNFaceCropper,
    NoFaceError,
    crop_box,
)

# Hand-marked on the 512x512 astronaut photo: pupil centres and mouth corners.
EYES = np.array([[201.0, 100.0], [245.0, 102.0]])
MOUTH = np.array([[199.0, 138.0], [243.0, 139.0]])


def _half(image):
    return cv2.resize(
        image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA
    )


def _cropper(**params):
    """A cropper that looks only for faces of 30 pixels and more (a short pyramid: fast)."""
    return MTCNNFaceCropper(device="cpu", min_face_size=30, **params)


@pytest.fixture(scope="module")
def photo():
    """The astronaut at 256x256: one face, eyes near (100, 50) and (122, 51)."""
    return _half(data.astronaut())


@pytest.fixture(scope="module")
def no_face():
    return _half(_half(data.coffee()))  # 100x150, no face


@pytest.fixture(scope="module")
def two_faces():
    """A grey canvas with the astronaut's face twice: large at left, small at centre."""
    face = crop_box(data.astronaut(), (177, 66, 95, 95), margin=0.4)
    canvas = np.full((150, 250, 3), 128, dtype=np.uint8)
    canvas[10:100, 5:95] = cv2.resize(face, (90, 90), interpolation=cv2.INTER_AREA)
    canvas[50:100, 100:150] = cv2.resize(face, (50, 50), interpolation=cv2.INTER_AREA)
    return canvas


@pytest.fixture(scope="module")
def found(photo):
    (detections,) = _cropper().detect([photo])
    return detections


def test_detect_finds_the_face_and_its_landmarks(found):
    assert isinstance(found, Detections) and len(found) == 1
    assert found.landmarks.shape == (1, 5, 2) and found.scores[0] > 0.95
    np.testing.assert_allclose(found.landmarks[0, :2], EYES / 2, atol=3)
    np.testing.assert_allclose(found.landmarks[0, 3:], MOUTH / 2, atol=3)
    x, y, w, h = found.boxes[0]
    assert x < EYES[0, 0] / 2 and x + w > EYES[1, 0] / 2 and y < EYES[0, 1] / 2
    assert y + h > MOUTH[:, 1].max() / 2


def test_crop_is_the_box_with_margin(photo, found):
    box = found.boxes[0]
    (crop,) = _cropper().fit_transform([photo])
    np.testing.assert_array_equal(crop, crop_box(photo, box))
    (wide,) = _cropper(margin=0.3).fit_transform([photo])
    np.testing.assert_array_equal(wide, crop_box(photo, box, 0.3))
    X = _cropper(margin=0.3, output_size=(40, 32)).fit_transform([photo])
    expected = cv2.resize(crop_box(photo, box, 0.3), (32, 40), interpolation=cv2.INTER_AREA)
    assert X.shape == (1, 40, 32, 3)
    np.testing.assert_array_equal(X[0], expected)


def test_detection_runs_once_per_batch(photo, no_face, monkeypatch):
    calls = []
    original = MTCNN.detect_batch

    def spy(self, images):
        calls.append(len(images))
        return original(self, images)

    def refuse(self, image):
        raise AssertionError("MTCNNFaceCropper must not detect one image at a time")

    monkeypatch.setattr(MTCNN, "detect_batch", spy)
    monkeypatch.setattr(MTCNN, "detect", refuse)
    X = _cropper(output_size=24).fit_transform([photo, no_face, photo])
    assert X.shape == (3, 24, 24, 3)
    assert calls == [3]


# --------------------------------------------------------------------------- alignment


def _eye_line(landmarks):
    (x0, y0), (x1, y1) = landmarks[:2]
    return np.degrees(np.arctan2(y1 - y0, x1 - x0))


def test_aligned_face_has_landmarks_on_the_template(photo):
    aligned = _cropper(align=True, output_size=96).fit_transform([photo])[0]
    assert aligned.shape == (96, 96, 3) and aligned.dtype == np.uint8
    (again,) = MTCNN(device="cpu", min_face_size=40).detect(aligned).landmarks[:1]
    assert abs(_eye_line(again)) < 2.0
    # A least-squares fit: the eyes land close, the nose and smiling mouth within 5%.
    np.testing.assert_allclose((again[:2] + 0.5) / 96, FACE_TEMPLATE[:2], atol=0.025)
    np.testing.assert_allclose((again + 0.5) / 96, FACE_TEMPLATE, atol=0.05)


def test_alignment_undoes_a_tilt(photo):
    angle = 20.0
    matrix = cv2.getRotationMatrix2D((128.0, 128.0), angle, 1.0)
    tilted = cv2.warpAffine(photo, matrix, (256, 256), borderMode=cv2.BORDER_REFLECT)
    (detections,) = _cropper().detect([tilted])
    assert abs(_eye_line(detections.landmarks[0]) + angle) < 4.0  # the photo is tilted
    upright, straightened = _cropper(align=True, output_size=64).fit_transform([photo, tilted])
    core = (slice(6, 58), slice(6, 58))
    gray = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)[core].astype(float) for im in (upright, tilted)]
    straight = cv2.cvtColor(straightened, cv2.COLOR_RGB2GRAY)[core].astype(float)
    assert np.corrcoef(straight.ravel(), gray[0].ravel())[0, 1] > 0.9
    assert np.abs(straight - gray[0]).mean() < 15


def test_align_native_size_gives_square_list(photo, found):
    (aligned,) = _cropper(align=True).fit_transform([photo])
    eye_distance = np.hypot(*(found.landmarks[0, 1] - found.landmarks[0, 0]))
    side = eye_distance / (FACE_TEMPLATE[1, 0] - FACE_TEMPLATE[0, 0])
    assert aligned.shape[0] == aligned.shape[1]
    assert abs(aligned.shape[0] - side) < 0.1 * side
    (with_margin,) = _cropper(align=True, margin=0.25).fit_transform([photo])
    assert abs(with_margin.shape[0] - 1.5 * aligned.shape[0]) <= 2


# --------------------------------------------------------------------------- policies


def test_on_missing_center_full_and_raise(photo, no_face):
    (centre,) = _cropper(on_missing="center").fit_transform([no_face])
    np.testing.assert_array_equal(centre, no_face[:, 25:125])
    (full,) = _cropper(on_missing="full", align=True).fit_transform([no_face])
    np.testing.assert_array_equal(full, no_face)
    X = _cropper(output_size=20, align=True).fit_transform([no_face, photo])
    assert X.shape == (2, 20, 20, 3)
    with pytest.raises(NoFaceError, match=re.escape("no face found in X[1]") + ".*MTCNN"):
        _cropper(on_missing="raise").fit_transform([photo, no_face])


def test_policy_messages_match_the_haar_cropper(no_face):
    messages = []
    for cropper in (_cropper(on_missing="raise"), HaarFaceCropper(on_missing="raise")):
        with pytest.raises(NoFaceError) as info:
            cropper.fit_transform([no_face])
        messages.append(str(info.value))
    assert messages[0].startswith("no face found in X[0] (shape (100, 150, 3)) with MTCNN")
    assert messages[1].startswith("no face found in X[0] (shape (100, 150, 3)) with cascade")
    tail = "use on_missing='center' or 'full' to keep such images."
    assert all(message.endswith(tail) for message in messages)


def test_keep_selects_the_right_face(two_faces):
    (detections,) = _cropper().detect([two_faces])
    assert len(detections) == 2
    areas = detections.boxes[:, 2] * detections.boxes[:, 3]
    for keep, index in (
        ("largest", np.argmax(areas)),
        ("central", np.argmin(areas)),  # the small face is central
        ("best", np.argmax(detections.scores)),
    ):
        (crop,) = _cropper(keep=keep).fit_transform([two_faces])
        np.testing.assert_array_equal(crop, crop_box(two_faces, detections.boxes[index]))


def test_grayscale_and_float_inputs(photo, found):
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    (detections,) = _cropper().detect([gray])
    np.testing.assert_allclose(detections.landmarks[0], found.landmarks[0], atol=3)
    (crop,) = _cropper(align=True, output_size=32).fit_transform(gray[np.newaxis])
    assert crop.shape == (32, 32) and crop.dtype == np.uint8
    X = _cropper(align=True, output_size=32).fit_transform(np.stack([photo / 255.0]))
    assert X.dtype == np.float64 and X.min() >= 0 and X.max() <= 1


# --------------------------------------------------------------------------- parameters, pickle


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"thresholds": (0.6, 0.7)}, "thresholds"),
        ({"thresholds": (0.6, 0.7, 1.5)}, "thresholds"),
        ({"device": "tpu"}, "device"),
        ({"output_size": (0, 4)}, "output_size"),
        ({"keep": "first"}, "keep"),
        ({"on_missing": "skip"}, "on_missing"),
        ({"min_face_size": 0}, "min_face_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"align": "yes"}, "align"),
    ],
)
def test_invalid_params_rejected_at_fit(photo, params, match):
    with pytest.raises(ValueError, match=match):
        MTCNNFaceCropper(**params).fit([photo])


def test_device_is_a_string_or_a_torch_device(photo):
    crops = MTCNNFaceCropper(device=torch.device("cpu"), min_face_size=30, output_size=24)
    assert crops.fit_transform([photo]).shape == (1, 24, 24, 3)
    message = "'device' parameter .* an instance of 'str' or an instance of 'torch.device'"
    with pytest.raises(ValueError, match=message):
        MTCNNFaceCropper(device=0).fit([photo])


def test_bad_images_named(photo):
    with pytest.raises(ValueError, match=re.escape("X[1]") + ".*RGBA"):
        _cropper().fit_transform([photo, np.zeros((40, 40, 4), np.uint8)])


def test_pickle_drops_the_detector_and_still_works(photo, no_face):
    cropper = _cropper(output_size=24, align=True).fit([photo])
    expected = cropper.transform([photo, no_face])
    assert "_detector_cache" in vars(cropper)
    assert "_detector_cache" not in cropper.__getstate__()
    restored = pickle.loads(pickle.dumps(cropper))
    np.testing.assert_array_equal(restored.transform([photo, no_face]), expected)


def test_set_params_rebuilds_detector(photo):
    cropper = _cropper()
    assert len(cropper.detect([photo])[0]) == 1
    cropper.set_params(min_face_size=200)
    assert len(cropper.detect([photo])[0]) == 0
