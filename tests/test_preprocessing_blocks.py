"""EyeMouthBlocks and its geometry: priors, landmark-located blocks, outputs, CV slicing."""

import re

import cv2
import numpy as np
import pytest
import torch
from skimage import data
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import _safe_indexing
from skorch import NeuralNetClassifier
from skorch.helper import SliceDict

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.detection import MTCNN
from fer_toolkit.preprocessing import (
    EyeMouthBlocks,
    MTCNNFaceCropper,
    NoFaceError,
    eye_mouth_regions,
    face_template,
    prior_regions,
    similarity_transform,
)

# Hand-marked on the 512x512 astronaut photo: pupil centres, eyebrow middles, mouth corners.
EYES = np.array([[201.0, 100.0], [245.0, 102.0]])
BROWS = np.array([[200.0, 89.0], [247.0, 91.0]])
MOUTH = np.array([[199.0, 138.0], [243.0, 139.0]])
# Her face at half size, cut out as a 90x90 face image: offset of that image in the photo.
FACE_OFFSET = np.array([132.0, 40.0])


def _inside(points, region):
    """Whether each ``(x, y)`` point lies in a rotated rectangle ``((cx, cy), (w, h), angle)``."""
    (cx, cy), (width, height), angle = region
    theta = np.radians(angle)
    axes = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    local = (np.asarray(points, dtype=float) - (cx, cy)) @ axes.T
    return (np.abs(local[..., 0]) <= width / 2) & (np.abs(local[..., 1]) <= height / 2)


def _rotate(points, centre, degrees):
    matrix = cv2.getRotationMatrix2D(tuple(map(float, centre)), degrees, 1.0)
    return np.asarray(points) @ matrix[:, :2].T + matrix[:, 2], matrix


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic_faces(600, random_state=7)


@pytest.fixture(scope="module")
def astronaut_face():
    """The astronaut's face as a 90x90 face image, and the hand marks in its pixels."""
    photo = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    x, y = (FACE_OFFSET / 2).astype(int)
    marks = {
        name: (points - FACE_OFFSET) / 2
        for name, points in (("eyes", EYES), ("brows", BROWS), ("mouth", MOUTH))
    }
    return np.ascontiguousarray(photo[y : y + 90, x : x + 90]), marks


def _landmark_blocks(**params):
    return EyeMouthBlocks(locator="landmarks", device="cpu", min_face_size=40, **params)


# --------------------------------------------------------------------------- geometry


def test_regions_of_a_frontal_face():
    landmarks = [[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]]  # face scale s = 40
    regions = eye_mouth_regions(landmarks)
    assert regions["eyes"] == ((50.0, 35.0), (80.0, 42.0), 0.0)  # 0.65 s up, 0.4 s down
    (cx, cy), (width, height), angle = regions["mouth"]
    assert (cx, cy, width, height, angle) == (50.0, 81.0, 82.0, 42.0, 0.0)


def test_regions_follow_rotation_and_scale():
    landmarks = face_template(100)
    upright = eye_mouth_regions(landmarks)
    for degrees in (-30.0, 12.0, 75.0):
        moved, _ = _rotate(landmarks * 1.5, (20, 30), degrees)
        rotated = eye_mouth_regions(moved)
        for name in ("eyes", "mouth"):
            (cx, cy), size, angle = rotated[name]
            centre, _ = _rotate(np.array(upright[name][0]) * 1.5, (20, 30), degrees)
            np.testing.assert_allclose((cx, cy), centre, atol=1e-9)
            np.testing.assert_allclose(size, np.array(upright[name][1]) * 1.5)
            assert angle == pytest.approx(-degrees)  # cv2 turns counter-clockwise on screen


def test_priors_are_the_template_regions():
    for shape in ((48, 48), (64, 64, 3), (80, 60)):
        assert prior_regions(shape) == eye_mouth_regions(face_template(shape[:2]))
    (cx, cy), (width, height), _ = prior_regions((100, 100))["eyes"]
    np.testing.assert_allclose(
        [cx - width / 2, cx + width / 2, cy - height / 2, cy + height / 2],
        np.array([0.1475, 0.8525, 0.19925, 0.572]) * 100 - 0.5,
    )


def test_priors_hold_the_synthetic_faces(synthetic):
    """Fixed priors catch the eyes and mouth of (nearly) every FER-style synthetic face."""
    more = make_synthetic_faces(1000, image_size=64, random_state=8).landmarks
    for size, landmarks in ((48, synthetic.landmarks), (64, more)):
        regions = prior_regions((size, size))
        # Only the far tails of random tilt, shift and scale leave them (6 in 54,000).
        assert _inside(landmarks[:, :2], regions["eyes"]).all(axis=1).mean() >= 0.998
        assert _inside(landmarks[:, 3:], regions["mouth"]).all(axis=1).mean() >= 0.998
        assert not _inside(landmarks[:, 3:], regions["eyes"]).any()
        assert not _inside(landmarks[:, :2], regions["mouth"]).any()


def test_landmark_regions_hold_rotated_synthetic_faces(synthetic):
    for landmarks in synthetic.landmarks[:100]:
        moved, _ = _rotate(landmarks, (24, 24), 35.0)  # beyond what fixed priors can absorb
        regions = eye_mouth_regions(moved)
        assert _inside(moved[:2], regions["eyes"]).all()
        assert _inside(moved[3:], regions["mouth"]).all()
        assert not _inside(moved[3:], regions["eyes"]).any()


@pytest.mark.parametrize(
    ("landmarks", "match"),
    [
        (np.zeros((4, 2)), r"\(4, 2\)"),
        (np.full((5, 2), np.nan), "finite"),
        (np.ones((5, 2)), "coincide"),
    ],
)
def test_regions_reject_bad_landmarks(landmarks, match):
    with pytest.raises(ValueError, match=match):
        eye_mouth_regions(landmarks)


# --------------------------------------------------------------------------- pixels


def test_blocks_sample_their_regions():
    # An image lit only inside the prior eyes region: the eyes block is lit, the mouth dark.
    regions = prior_regions((96, 96))
    image = np.zeros((96, 96), np.uint8)
    corners = cv2.boxPoints(regions["eyes"])
    x0, y0 = np.ceil(corners.min(axis=0) + 0.5).astype(int)
    x1, y1 = np.floor(corners.max(axis=0) + 0.5).astype(int)
    image[y0:y1, x0:x1] = 200
    out = EyeMouthBlocks(face_size=96).fit_transform(image[np.newaxis])
    assert (out["eyes"][0, 1:-1, 1:-1] == 200).all()
    assert (out["mouth"][0] == 0).all()
    np.testing.assert_array_equal(out["face"][0], image)


def test_synthetic_blocks_show_eyes_and_mouth(synthetic):
    """The dark pupils and lips fall inside the blocks: the blocks are darker than the cheeks."""
    out = EyeMouthBlocks(face_size=48, eyes_size=(24, 48), mouth_size=(24, 48)).fit_transform(
        synthetic.images[:50]
    )
    eyes, mouth = out["eyes"].astype(float), out["mouth"].astype(float)
    # Rows through the pupils (lower half of the eyes block) hold the darkest pixels.
    assert (eyes[:, 10:18].min(axis=(1, 2)) < eyes[:, :4].mean(axis=(1, 2)) - 20).mean() > 0.9
    assert (mouth[:, 6:18, 12:36].min(axis=(1, 2)) < mouth[:, :3].mean(axis=(1, 2))).mean() > 0.9


def test_landmarks_locate_blocks_on_the_astronaut(astronaut_face):
    face, marks = astronaut_face
    blocks = _landmark_blocks()
    (regions,) = blocks.locate([face])
    assert regions["source"] == "landmarks"
    assert abs(regions["eyes"][2]) < 5  # her head is nearly upright
    assert _inside(marks["eyes"], regions["eyes"]).all()
    assert _inside(marks["brows"], regions["eyes"]).all()
    assert _inside(marks["mouth"], regions["mouth"]).all()
    assert not _inside(marks["mouth"], regions["eyes"]).any()
    assert not _inside(marks["eyes"], regions["mouth"]).any()
    out = blocks.fit_transform([face])
    assert out["eyes"].shape == (1, 24, 48, 3) and out["eyes"].dtype == np.uint8


def test_landmarks_follow_a_tilted_astronaut(astronaut_face):
    face, marks = astronaut_face
    big = cv2.copyMakeBorder(face, 30, 30, 30, 30, cv2.BORDER_REFLECT)
    tilted = {}
    for name, points in marks.items():
        tilted[name], matrix = _rotate(points + 30, (75, 75), 25.0)
    image = cv2.warpAffine(big, matrix, (150, 150), borderMode=cv2.BORDER_REFLECT)
    (regions,) = _landmark_blocks().locate([image])
    assert regions["eyes"][2] == pytest.approx(-25.0, abs=5)
    assert _inside(tilted["eyes"], regions["eyes"]).all()
    assert _inside(tilted["brows"], regions["eyes"]).all()
    assert _inside(tilted["mouth"], regions["mouth"]).all()


def test_priors_fit_aligned_mtcnn_crops():
    """The priors hold the hand-marked features of an MTCNNFaceCropper(align=True) face."""
    photo = data.astronaut()
    cropper = MTCNNFaceCropper(align=True, output_size=96, device="cpu", min_face_size=60)
    (detections,) = cropper.detect([photo])
    matrix = similarity_transform(detections.landmarks[0], face_template(96))
    regions = prior_regions((96, 96))
    for name, points, block in (
        ("eyes", EYES, "eyes"),
        ("brows", BROWS, "eyes"),
        ("mouth", MOUTH, "mouth"),
    ):
        aligned = points @ matrix[:, :2].T + matrix[:, 2]
        assert _inside(aligned, regions[block]).all(), name


def test_on_missing_prior_and_raise(astronaut_face):
    face, _ = astronaut_face
    blank = np.full((90, 90, 3), 128, np.uint8)
    regions = _landmark_blocks().locate([face, blank])
    assert [r["source"] for r in regions] == ["landmarks", "prior"]
    fallback = _landmark_blocks().fit_transform([blank])
    prior = EyeMouthBlocks().fit_transform([blank])
    for key in ("face", "eyes", "mouth"):
        np.testing.assert_array_equal(fallback[key], prior[key])
    with pytest.raises(NoFaceError, match=re.escape("X[1]") + ".*on_missing='prior'"):
        _landmark_blocks(on_missing="raise").fit_transform([face, blank])


def test_landmarks_run_one_batch(astronaut_face, monkeypatch):
    face, _ = astronaut_face
    calls = []
    original = MTCNN.detect_batch
    monkeypatch.setattr(
        MTCNN,
        "detect_batch",
        lambda self, images: calls.append(len(images)) or original(self, images),
    )
    _landmark_blocks(output="stacked").fit_transform([face, face, face])
    assert calls == [3]


# --------------------------------------------------------------------------- outputs


@pytest.mark.parametrize(
    ("shape", "dtype", "channels"),
    [
        ((48, 48), np.uint8, ()),
        ((48, 48, 1), np.uint8, (1,)),
        ((60, 50, 3), np.uint8, (3,)),
        ((48, 48, 3), np.float32, (3,)),
        ((48, 48), np.float64, ()),
    ],
)
def test_dict_output_shapes_and_dtypes(shape, dtype, channels):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(5, *shape)).astype(np.uint8)
    X = X if dtype == np.uint8 else (X / 255).astype(dtype)
    out = EyeMouthBlocks(face_size=(40, 36), eyes_size=16, mouth_size=(12, 20)).fit_transform(X)
    assert isinstance(out, SliceDict) and len(out) == 5
    assert out["face"].shape == (5, 40, 36, *channels)
    assert out["eyes"].shape == (5, 16, 16, *channels)
    assert out["mouth"].shape == (5, 12, 20, *channels)
    assert all(part.dtype == dtype for part in out.values())


def test_stacked_layout_is_face_eyes_mouth_along_channels(synthetic):
    X = np.repeat(synthetic.images[:6, ..., np.newaxis], 3, axis=3)
    X[..., 1] //= 2  # make the channels differ
    stacked = EyeMouthBlocks(output="stacked", face_size=40).fit_transform(X)
    same = EyeMouthBlocks(face_size=40, eyes_size=40, mouth_size=40).fit_transform(X)
    assert stacked.shape == (6, 40, 40, 9) and stacked.dtype == np.uint8
    for i, key in enumerate(("face", "eyes", "mouth")):
        np.testing.assert_array_equal(stacked[..., 3 * i : 3 * i + 3], same[key])
    gray = EyeMouthBlocks(output="stacked").fit_transform(synthetic.images[:4])
    assert gray.shape == (4, 48, 48, 3)  # grayscale: one channel per part


def test_list_of_sizes_and_unfitted_transform(synthetic):
    X = [synthetic.images[0], cv2.resize(synthetic.images[1], (80, 80))]
    out = EyeMouthBlocks().transform(X)  # stateless: no fit needed
    assert out["face"].shape == (2, 48, 48)


def test_slicedict_slices_like_an_array(synthetic):
    out = EyeMouthBlocks().fit_transform(synthetic.images[:10])
    index = np.array([7, 2, 5])
    for part in (_safe_indexing(out, index), out[index], out[[7, 2, 5]]):
        assert isinstance(part, SliceDict) and len(part) == 3
        for key in ("face", "eyes", "mouth"):
            np.testing.assert_array_equal(part[key], out[key][index])
    assert len(out[2:6]) == 4


def _flatten_blocks(blocks):
    parts = [blocks[key] for key in sorted(blocks)] if isinstance(blocks, SliceDict) else [blocks]
    return np.hstack([part.reshape(len(part), -1) / 255.0 for part in parts])


@pytest.mark.parametrize("output", ["dict", "stacked"])
def test_grid_search_and_cross_validation(synthetic, output):
    X = synthetic.images[:60]
    y = X.mean(axis=(1, 2)) > np.median(X.mean(axis=(1, 2)))  # learnable only if X, y stay paired
    blocks = EyeMouthBlocks(face_size=24, eyes_size=(8, 16), mouth_size=(8, 16), output=output)
    model = make_pipeline(FunctionTransformer(_flatten_blocks), LogisticRegression(max_iter=500))
    search = GridSearchCV(model, {"logisticregression__C": [0.01, 1.0]}, cv=3)
    search.fit(blocks.fit_transform(X), y)  # cross-validation slices the blocks
    assert search.best_score_ > 0.8
    pipe = make_pipeline(blocks, *(step for _, step in model.steps))
    assert cross_val_score(pipe, X, y, cv=3, error_score="raise").mean() > 0.8


class _ThreeBranches(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.face = torch.nn.Linear(24 * 24, 4)
        self.eyes = torch.nn.Linear(8 * 16, 4)
        self.mouth = torch.nn.Linear(8 * 16, 4)
        self.out = torch.nn.Linear(12, 2)

    def forward(self, face, eyes, mouth):
        parts = [
            branch(x.float().flatten(1) / 255)
            for branch, x in ((self.face, face), (self.eyes, eyes), (self.mouth, mouth))
        ]
        return torch.softmax(self.out(torch.cat(parts, dim=1)), dim=1)


def test_skorch_consumes_the_dict(synthetic):
    keep = np.isin(synthetic.target, [3, 5])
    X, y = synthetic.images[keep][:32], (synthetic.target[keep][:32] == 3).astype(np.int64)
    blocks = EyeMouthBlocks(face_size=24, eyes_size=(8, 16), mouth_size=(8, 16)).fit_transform(X)
    torch.manual_seed(0)
    net = NeuralNetClassifier(_ThreeBranches, max_epochs=2, batch_size=8, train_split=None)
    net.fit(blocks, y)
    assert net.predict_proba(blocks).shape == (32, 2)
    assert len(net.history) == 2


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"face_size": (0, 4)}, "face_size"),
        ({"eyes_size": (24, 48, 3)}, "eyes_size"),
        ({"mouth_size": -1}, "mouth_size"),
        ({"locator": "dlib"}, "locator"),
        ({"output": "list"}, "output"),
        ({"on_missing": "center"}, "on_missing"),
        ({"locator": "landmarks", "thresholds": (0.6, 0.7)}, "thresholds"),
        ({"locator": "landmarks", "device": "tpu"}, "device"),
    ],
)
def test_bad_parameters_named(params, match):
    with pytest.raises(ValueError, match=match):
        EyeMouthBlocks(**params).fit(np.zeros((2, 48, 48), np.uint8))


def test_bad_inputs_named():
    gray, rgb = np.zeros((48, 48), np.uint8), np.zeros((48, 48, 3), np.uint8)
    with pytest.raises(
        ValueError, match=re.escape("X[2]") + ".*all images grayscale or all colour"
    ):
        EyeMouthBlocks().fit_transform([gray, gray, rgb])
    with pytest.raises(ValueError, match=re.escape("X[1]") + ".*RGBA"):
        EyeMouthBlocks().fit_transform([rgb, np.zeros((48, 48, 4), np.uint8)])
    with pytest.raises(ValueError, match="empty"):
        EyeMouthBlocks().fit_transform([])
