"""The alignment core: canonical template, Umeyama similarity, anti-aliased warps, align_face."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.transform import SimilarityTransform

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.preprocessing import FACE_TEMPLATE, align_face, face_template, similarity_transform
from fer_toolkit.preprocessing.alignment import warp_affine


def _apply(matrix, points):
    return np.asarray(points) @ matrix[:, :2].T + matrix[:, 2]


def _rotation_about(centre, degrees, scale=1.0):
    """cv2's rotation matrix, but counter-clockwise on screen for positive degrees."""
    return cv2.getRotationMatrix2D(tuple(map(float, centre)), degrees, scale)


# --------------------------------------------------------------------------- template


def test_template_is_level_symmetric_and_read_only():
    left_eye, right_eye, nose, mouth_left, mouth_right = FACE_TEMPLATE
    assert left_eye[1] == right_eye[1] and mouth_left[1] == mouth_right[1]
    np.testing.assert_allclose(FACE_TEMPLATE[[0, 3], 0] + FACE_TEMPLATE[[1, 4], 0], 1.0)
    assert nose[0] == 0.5
    assert left_eye[1] < nose[1] < mouth_left[1]
    with pytest.raises(ValueError, match="read-only"):
        FACE_TEMPLATE[0, 0] = 0.0


def test_template_matches_synthetic_fer_framing():
    # make_synthetic_faces imitates FER2013's framing: its mean landmarks sit on the template.
    faces = make_synthetic_faces(700, random_state=0)
    mean = ((faces.landmarks + 0.5) / 48).mean(axis=0)
    np.testing.assert_allclose(mean, FACE_TEMPLATE, atol=0.012)


def test_face_template_pixels_margin_and_aspect():
    np.testing.assert_allclose(face_template(100)[0], [32.0, 42.5])
    np.testing.assert_allclose(face_template((48, 48)), FACE_TEMPLATE * 48 - 0.5)
    # A margin shrinks the face square about the centre of the output.
    centre = np.array([49.5, 49.5])
    np.testing.assert_allclose(
        face_template(100, margin=0.25) - centre, (face_template(100) - centre) / 1.5
    )
    # Non-square outputs hold the face square in their middle.
    wide = face_template((100, 160))
    np.testing.assert_allclose(wide, face_template(100) + np.array([30, 0]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"output_size": 0}, "output_size"),
        ({"output_size": 10, "margin": -0.1}, "margin"),
        ({"output_size": 10, "template": [[0.5, 0.5]]}, r"template.*\(1, 2\)"),
        ({"output_size": 10, "template": [[0.5, np.nan], [0.2, 0.2]]}, "template.*NaN"),
    ],
)
def test_face_template_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        face_template(**kwargs)


# --------------------------------------------------------------------------- similarity


_coords = st.floats(-200, 200, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    points=st.lists(st.tuples(_coords, _coords), min_size=2, max_size=8, unique=True),
    angle=st.floats(-np.pi, np.pi),
    scale=st.floats(0.05, 20),
    shift=st.tuples(_coords, _coords),
)
def test_similarity_recovers_an_exact_similarity(points, angle, scale, shift):
    src = np.array(points, dtype=np.float64)
    if np.ptp(src, axis=0).max() < 1e-2:
        return  # nearly coincident points define no rotation
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    truth = np.column_stack([scale * rotation, shift])
    dst = _apply(truth, src)
    matrix = similarity_transform(src, dst)
    np.testing.assert_allclose(_apply(matrix, src), dst, atol=1e-6 * max(1.0, np.abs(dst).max()))
    np.testing.assert_allclose(matrix[:, :2], truth[:, :2], atol=1e-6 * scale + 1e-9)


def test_similarity_matches_scikit_image_least_squares():
    rng = np.random.default_rng(0)
    for _ in range(20):
        src = rng.uniform(0, 100, size=(5, 2))
        dst = rng.uniform(0, 50, size=(5, 2))  # unrelated points: a pure least-squares fit
        reference = SimilarityTransform.from_estimate(src, dst)
        np.testing.assert_allclose(similarity_transform(src, dst), reference.params[:2], atol=1e-9)


def test_similarity_never_reflects():
    src = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 5.0], [3.0, 7.0]])
    mirrored = src * [-1, 1]
    matrix = similarity_transform(src, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


@pytest.mark.parametrize(
    ("src", "dst", "match"),
    [
        (np.zeros((5, 2)), FACE_TEMPLATE, "src points all coincide"),
        (FACE_TEMPLATE, np.ones((5, 2)), "dst points all coincide"),
        (FACE_TEMPLATE, FACE_TEMPLATE[:4], r"same shape.*\(5, 2\).*\(4, 2\)"),
        (FACE_TEMPLATE[:1], FACE_TEMPLATE[:1], r"src.*k >= 2.*\(1, 2\)"),
        (np.zeros((5, 3)), FACE_TEMPLATE, r"src.*\(5, 3\)"),
        (FACE_TEMPLATE, FACE_TEMPLATE + np.array([np.inf, 0]), "dst.*infinite"),
    ],
)
def test_similarity_rejects_bad_points(src, dst, match):
    with pytest.raises(ValueError, match=match):
        similarity_transform(src, dst)


# --------------------------------------------------------------------------- warp


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(30, 40), (30, 40, 1), (30, 40, 3)])
def test_warp_identity_keeps_image_dtype_and_layout(dtype, shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=shape).astype(np.uint8)
    image = image if dtype == np.uint8 else (image / 255).astype(dtype)
    out = warp_affine(image, [[1, 0, 0], [0, 1, 0]], (30, 40))
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out, image)


def test_warp_integer_shrink_equals_area_resize_and_does_not_alias():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(64, 48, 3), dtype=np.uint8)
    quarter = [[0.25, 0, -0.375], [0, 0.25, -0.375]]  # pixel-centre exact 4x reduction
    expected = cv2.resize(image, (12, 16), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(warp_affine(image, quarter, (16, 12)), expected)
    # A one-pixel checkerboard shrunk 4x is flat grey, not black or white samples.
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    matrix = np.array([[0.2, 0.05, 0], [-0.05, 0.2, 3]])
    small = warp_affine(board, matrix, (16, 16))
    assert np.abs(small[4:11, 3:11].astype(int) - 127).max() <= 8
    aliased = cv2.warpAffine(board, matrix, (16, 16))  # what one bilinear pass gives
    assert np.abs(aliased[4:11, 3:11].astype(int) - 127).max() > 50


def test_warp_fills_outside_with_zeros():
    image = np.full((10, 10), 200, dtype=np.uint8)
    out = warp_affine(image, [[1, 0, 5], [0, 1, 5]], (20, 20))
    assert (out[:5] == 0).all() and (out[:, :5] == 0).all() and (out[15:] == 0).all()
    assert (out[5:15, 5:15] == 200).all()


@pytest.mark.parametrize(
    ("matrix", "match"),
    [([[1, 0], [0, 1]], r"\(2, 3\).*\(2, 2\)"), ([[1, 1, 0], [1, 1, 0]], "singular")],
)
def test_warp_rejects_bad_matrix(matrix, match):
    with pytest.raises(ValueError, match=match):
        warp_affine(np.zeros((5, 5), np.uint8), matrix, 5)


# --------------------------------------------------------------------------- align_face


@pytest.fixture(scope="module")
def faces():
    return make_synthetic_faces(8, image_size=96, random_state=3)


def test_align_is_identity_on_a_template_face():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(100, 100, 3), dtype=np.uint8)
    np.testing.assert_array_equal(align_face(image, face_template(100), 100), image)
    np.testing.assert_array_equal(align_face(image, face_template(100)), image)  # native size


def test_align_maps_landmarks_onto_template(faces):
    for image, landmarks in zip(faces.images, faces.landmarks, strict=True):
        for size, margin in ((48, 0.0), (64, 0.2)):
            target = face_template(size, margin)
            matrix = similarity_transform(landmarks, target)
            aligned = _apply(matrix, landmarks)
            assert abs(aligned[1, 1] - aligned[0, 1]) < 0.05 * size  # eyes (nearly) level
            np.testing.assert_allclose(aligned, target, atol=0.1 * size)
            out = align_face(image, landmarks, size, margin=margin)
            assert out.shape == (size, size) and out.dtype == np.uint8


def test_align_undoes_rotation_and_scale(faces):
    image, landmarks = faces.images[0], faces.landmarks[0]
    for degrees, scale in ((25, 1.0), (-40, 1.6), (10, 0.7)):
        matrix = _rotation_about((48, 48), degrees, scale) + np.array([[0, 0, 110], [0, 0, 100]])
        moved = cv2.warpAffine(image, matrix, (320, 300), flags=cv2.INTER_LINEAR)
        moved_landmarks = _apply(matrix, landmarks)
        reference = align_face(image, landmarks, 64).astype(float)
        again = align_face(moved, moved_landmarks, 64).astype(float)
        core = (slice(8, 56), slice(8, 56))  # away from the borders the resamplings differ at
        assert np.abs(again[core] - reference[core]).mean() < 3.0
        assert np.corrcoef(again[core].ravel(), reference[core].ravel())[0, 1] > 0.99


def test_align_native_size_keeps_the_face_scale(faces):
    image, landmarks = faces.images[1], faces.landmarks[1]
    big = cv2.resize(image, (288, 288), interpolation=cv2.INTER_CUBIC)
    native = align_face(big, (landmarks + 0.5) * 3 - 0.5)
    scale = np.sqrt(np.linalg.det(similarity_transform(landmarks, face_template(96))[:, :2]))
    assert native.shape[0] == native.shape[1]
    assert abs(native.shape[0] - round(288 / scale)) <= 1


def test_align_keeps_colour_and_float(faces):
    rgb = np.repeat(faces.images[2][..., np.newaxis], 3, axis=2) / 255.0
    out = align_face(rgb, faces.landmarks[2], (40, 50))
    assert out.shape == (40, 50, 3) and out.dtype == np.float64
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize(
    ("landmarks", "kwargs", "match"),
    [
        (FACE_TEMPLATE[:4] * 50, {}, r"landmarks.*\(4, 2\).*template.*\(5, 2\)"),
        (np.full((5, 2), 7.0), {"output_size": 48}, "src points all coincide"),
        (FACE_TEMPLATE * 50, {"output_size": (48, -1)}, "output_size"),
        (FACE_TEMPLATE * 50, {"output_size": 48, "margin": -1}, "margin"),
        (FACE_TEMPLATE * [np.nan, 1], {"output_size": 48}, "landmarks.*NaN"),
    ],
)
def test_align_rejects_bad_input(landmarks, kwargs, match):
    with pytest.raises(ValueError, match=match):
        align_face(np.zeros((60, 60), np.uint8), landmarks, **kwargs)
