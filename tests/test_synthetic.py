"""Tests for fer_toolkit.datasets.synthetic.make_synthetic_faces."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.feature import hog
from sklearn.linear_model import RidgeClassifier
from sklearn.svm import LinearSVC

from fer_toolkit.datasets.labels import EMOTIONS, FER2013_EMOTIONS
from fer_toolkit.datasets.synthetic import MIN_IMAGE_SIZE, make_synthetic_faces

SEED_001_CLASSES = ("happy", "neutral", "sad", "surprise")


@pytest.mark.parametrize("image_size", [MIN_IMAGE_SIZE, 48, 61, 96])
def test_shape_dtype_and_fields(image_size):
    faces = make_synthetic_faces(21, image_size=image_size, random_state=0)
    assert faces.images.shape == (21, image_size, image_size)
    assert faces.images.dtype == np.uint8
    assert faces.target.shape == (21,)
    assert faces.target.dtype == np.int64
    assert faces.target_names == FER2013_EMOTIONS
    assert faces.landmarks.shape == (21, 5, 2)
    assert faces.landmarks.dtype == np.float32
    # Not blank: every image uses a good part of the gray range.
    spread = faces.images.max(axis=(1, 2)).astype(int) - faces.images.min(axis=(1, 2))
    assert spread.min() > 60


def test_return_X_y_matches_bunch():
    faces = make_synthetic_faces(30, random_state=3)
    X, y = make_synthetic_faces(30, random_state=3, return_X_y=True)
    np.testing.assert_array_equal(X, faces.images)
    np.testing.assert_array_equal(y, faces.target)


def test_classes_are_balanced_and_shuffled():
    faces = make_synthetic_faces(703, random_state=0)
    # 703 = 7 * 100 + 3: the first three classes get one extra image.
    assert np.bincount(faces.target).tolist() == [101, 101, 101, 100, 100, 100, 100]
    assert not np.all(np.diff(faces.target) >= 0)


@settings(max_examples=25, deadline=None)
@given(
    classes=st.lists(st.sampled_from(EMOTIONS), min_size=1, max_size=8, unique=True),
    extra=st.integers(0, 40),
)
def test_balance_for_any_subset(classes, extra):
    n_samples = len(classes) + extra
    faces = make_synthetic_faces(
        n_samples, classes=classes, image_size=MIN_IMAGE_SIZE, random_state=0
    )
    assert faces.target_names == tuple(name for name in EMOTIONS if name in classes)
    counts = np.bincount(faces.target, minlength=len(classes))
    base, remainder = divmod(n_samples, len(classes))
    assert counts.tolist() == [base + 1] * remainder + [base] * (len(classes) - remainder)


def test_class_subset_in_canonical_order():
    faces = make_synthetic_faces(40, classes=["surprise", "sad", "happy", "neutral"])
    assert faces.target_names == ("happy", "sad", "surprise", "neutral")
    assert set(faces.target.tolist()) == {0, 1, 2, 3}


def test_contempt_is_available():
    faces = make_synthetic_faces(16, classes=EMOTIONS, random_state=0)
    assert faces.target_names == EMOTIONS
    assert np.bincount(faces.target).tolist() == [2] * 8


def test_same_seed_gives_identical_bytes():
    first = make_synthetic_faces(100, random_state=42)
    second = make_synthetic_faces(100, random_state=42)
    assert first.images.tobytes() == second.images.tobytes()
    np.testing.assert_array_equal(first.target, second.target)
    np.testing.assert_array_equal(first.landmarks, second.landmarks)


def test_different_seeds_differ():
    first = make_synthetic_faces(50, random_state=0)
    second = make_synthetic_faces(50, random_state=1)
    assert first.images.tobytes() != second.images.tobytes()


def test_random_state_objects_follow_check_random_state():
    from_int = make_synthetic_faces(20, random_state=7)
    from_state = make_synthetic_faces(20, random_state=np.random.RandomState(7))
    np.testing.assert_array_equal(from_int.images, from_state.images)

    state = np.random.RandomState(7)
    first = make_synthetic_faces(20, random_state=state)
    second = make_synthetic_faces(20, random_state=state)
    assert first.images.tobytes() != second.images.tobytes()

    a = make_synthetic_faces(20, random_state=np.random.default_rng(5))
    b = make_synthetic_faces(20, random_state=np.random.default_rng(5))
    np.testing.assert_array_equal(a.images, b.images)


def test_none_uses_the_global_random_state():
    np.random.seed(11)  # noqa: NPY002 - None means NumPy's global RandomState
    first = make_synthetic_faces(10)
    np.random.seed(11)  # noqa: NPY002
    second = make_synthetic_faces(10)
    np.testing.assert_array_equal(first.images, second.images)


def test_unknown_class_name_is_named_with_valid_names():
    with pytest.raises(ValueError, match=r"'happiness'.*valid names are angry, disgust"):
        make_synthetic_faces(10, classes=["happiness", "sad"])


def test_repeated_class_name_is_rejected():
    with pytest.raises(ValueError, match="'sad' more than once"):
        make_synthetic_faces(10, classes=["sad", "happy", "sad"])


@pytest.mark.parametrize(
    ("classes", "error", "match"),
    [
        ([], ValueError, "classes is empty"),
        ("happy", TypeError, r"did you mean \['happy'\]"),
        (4, TypeError, "sequence of emotion names"),
    ],
)
def test_bad_classes_argument(classes, error, match):
    with pytest.raises(error, match=match):
        make_synthetic_faces(10, classes=classes)


@pytest.mark.parametrize(
    ("n_samples", "error", "match"),
    [
        (0, ValueError, "n_samples must be positive, got 0"),
        (-5, ValueError, "n_samples must be positive, got -5"),
        (6, ValueError, r"n_samples=6 is too small.*number of classes \(7\)"),
        (10.0, TypeError, "n_samples must be an int"),
        (True, TypeError, "n_samples must be an int"),
    ],
)
def test_bad_n_samples(n_samples, error, match):
    with pytest.raises(error, match=match):
        make_synthetic_faces(n_samples)


def test_n_samples_below_subset_size():
    with pytest.raises(ValueError, match=r"number of classes \(4\)"):
        make_synthetic_faces(3, classes=SEED_001_CLASSES)


@pytest.mark.parametrize(
    ("image_size", "error", "match"),
    [
        (23, ValueError, "image_size=23 is too small.*24x24"),
        (0, ValueError, "image_size=0 is too small"),
        (48.0, TypeError, "image_size must be an int"),
    ],
)
def test_bad_image_size(image_size, error, match):
    with pytest.raises(error, match=match):
        make_synthetic_faces(10, image_size=image_size)


def test_numpy_integers_are_accepted():
    faces = make_synthetic_faces(np.int64(14), image_size=np.int32(32), random_state=np.int64(0))
    assert faces.images.shape == (14, 32, 32)


def test_landmarks_lie_on_the_face():
    faces = make_synthetic_faces(200, random_state=0)
    x, y = faces.landmarks[..., 0], faces.landmarks[..., 1]
    assert np.all((faces.landmarks >= 0) & (faces.landmarks < 48))
    assert np.all(x[:, 0] < x[:, 1])  # left eye is image-left of the right eye
    assert np.all(x[:, 3] < x[:, 4])  # same for the mouth corners
    assert np.all(y[:, 2] > y[:, :2].max(axis=1))  # nose below the eyes
    assert np.all(y[:, 3:].min(axis=1) > y[:, 2])  # mouth corners below the nose
    # The eyes are darker than the skin between them.
    rows = np.rint(y[:, :2]).astype(int)
    cols = np.rint(x[:, :2]).astype(int)
    eyes = faces.images[np.arange(200)[:, None], rows, cols].astype(float).mean(axis=1)
    bridge = faces.images[
        np.arange(200), rows.mean(axis=1).astype(int), cols.mean(axis=1).astype(int)
    ]
    assert np.mean(eyes < bridge) > 0.8


def test_happy_and_sad_mouth_corners_differ():
    """Smiles lift the mouth corners, frowns lower them: visible in the class means."""
    faces = make_synthetic_faces(2000, classes=["happy", "sad"], random_state=0)
    happy, sad = (faces.images[faces.target == c].astype(float).mean(axis=0) for c in (0, 1))
    difference = happy - sad
    corners = np.median(faces.landmarks[:, 3:], axis=0)  # (x, y) of both mouth corners
    row = round(float(corners[:, 1].mean()))
    columns = np.concatenate([np.arange(int(x) - 2, int(x) + 2) for x in corners[:, 0]])
    above = difference[row - 4 : row, columns].mean()
    below = difference[row + 1 : row + 5, columns].mean()
    # Happy is darker above the neutral corner position, sad darker below it.
    assert above < below - 3, (above, below)


def test_sad_and_angry_brows_differ():
    """Sad raises the (inner) brows, angry pulls them down: visible in the class means."""
    faces = make_synthetic_faces(2000, classes=["angry", "sad"], random_state=0)
    angry, sad = (faces.images[faces.target == c].astype(float).mean(axis=0) for c in (0, 1))
    difference = sad - angry
    eyes = np.median(faces.landmarks[:, :2], axis=0)  # (x, y) of both eyes
    row = round(float(eyes[:, 1].mean()))
    columns = np.concatenate([np.arange(int(x) - 4, int(x) + 5) for x in eyes[:, 0]])
    high = difference[row - 9 : row - 5, columns].mean()
    low = difference[row - 4 : row, columns].mean()
    # Sad is darker high above the eyes, angry darker just above them.
    assert high < low - 8, (high, low)


def test_hog_beats_raw_pixels_by_a_clear_margin():
    """Pose and lighting defeat a linear model on pixels; HOG's local histograms cope."""
    X, y = make_synthetic_faces(4200, random_state=0, return_X_y=True)
    train, test = slice(0, 2800), slice(2800, None)

    pixels = X.reshape(len(X), -1) / 255.0
    pixel_accuracy = max(
        RidgeClassifier(alpha=alpha).fit(pixels[train], y[train]).score(pixels[test], y[test])
        for alpha in (1.0, 10.0, 100.0)
    )
    features = np.array(
        [hog(image, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)) for image in X]
    )
    hog_svm = LinearSVC(C=0.1).fit(features[train], y[train])
    hog_accuracy = hog_svm.score(features[test], y[test])

    print(f"raw-pixel ridge: {pixel_accuracy:.3f}, HOG + LinearSVC: {hog_accuracy:.3f}")
    assert 0.6 <= hog_accuracy <= 0.95
    assert pixel_accuracy <= hog_accuracy - 0.10
    assert pixel_accuracy > 2 / 7  # still far above chance: the signal is there
