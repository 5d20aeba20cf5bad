"""Behaviour of HOGFeatures, LBPHistogram and Flatten, and a HOG baseline pipeline."""

import re

import numpy as np
import pytest
from skimage.feature import hog, local_binary_pattern
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from fer_toolkit.preprocessing import Flatten, Grayscale, HOGFeatures, LBPHistogram, Resize

RNG = np.random.default_rng(0)


@pytest.fixture
def colour():
    return RNG.integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- HOG


def test_hog_shape_and_dtype(colour):
    Xt = HOGFeatures().fit_transform(colour)
    # 48x48, 8x8 cells -> 6x6 cells, 2x2 blocks -> 5x5 blocks x 4 cells x 9 bins = 900
    assert Xt.shape == (3, 900)
    assert Xt.dtype == np.float32


def test_hog_matches_skimage(colour):
    gray = Grayscale().fit_transform(colour)
    expected = hog(gray[1], orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))
    np.testing.assert_allclose(HOGFeatures().fit_transform(colour)[1], expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("params", "n_features"),
    [
        ({"orientations": 6}, 600),
        ({"pixels_per_cell": (16, 16)}, 2 * 2 * 4 * 9),
        ({"cells_per_block": (1, 1)}, 6 * 6 * 9),
        ({"pixels_per_cell": (8, 12)}, 5 * 3 * 4 * 9),
    ],
)
def test_hog_params_change_length(colour, params, n_features):
    assert HOGFeatures(**params).fit_transform(colour).shape == (3, n_features)


def test_hog_colour_equals_its_grayscale(colour):
    gray = Grayscale().fit_transform(colour)
    np.testing.assert_array_equal(
        HOGFeatures().fit_transform(colour), HOGFeatures().transform(gray)
    )


def test_hog_float_input_matches_uint8(colour):
    gray = Grayscale().fit_transform(colour)
    np.testing.assert_allclose(
        HOGFeatures().fit_transform(gray / 255.0), HOGFeatures().fit_transform(gray), atol=1e-5
    )


def test_hog_n_jobs_matches_serial(colour):
    np.testing.assert_array_equal(
        HOGFeatures(n_jobs=2).fit_transform(colour), HOGFeatures().fit_transform(colour)
    )


def test_hog_different_sizes_error_names_image_and_resize(colour):
    gray = Grayscale().fit_transform(colour)
    X = [gray[0], gray[1], gray[2][:40, :44]]
    with pytest.raises(ValueError, match=re.escape("X[2]") + ".*40x44.*Resize"):
        HOGFeatures().fit_transform(X)
    # Resize first, as the message recommends.
    assert Pipeline([("r", Resize(48)), ("h", HOGFeatures())]).fit_transform(X).shape == (3, 900)


def test_hog_image_smaller_than_a_block(colour):
    X = [colour[0], colour[1][:10, :30]]
    with pytest.raises(ValueError, match=re.escape("X[1]") + r".*\(10, 30, 3\).*16x16"):
        HOGFeatures().fit_transform(X)
    with pytest.raises(ValueError, match=re.escape("X[0]") + ".*block"):
        HOGFeatures().transform(np.zeros((1, 15, 48), np.uint8))


@pytest.mark.parametrize(
    "params",
    [
        {"pixels_per_cell": (0, 8)},
        {"pixels_per_cell": (8, 8, 8)},
        {"cells_per_block": (0, 2)},
        {"cells_per_block": (2.5, 2)},
        {"orientations": 0},
        {"block_norm": "L3"},
    ],
)
@pytest.mark.parametrize("method", ["fit", "transform"])
def test_hog_invalid_params(colour, params, method):
    with pytest.raises(ValueError, match=next(iter(params))):
        getattr(HOGFeatures(**params), method)(colour)


# --------------------------------------------------------------------------- LBP


def test_lbp_shape_dtype_and_normalised_cells(colour):
    Xt = LBPHistogram().fit_transform(colour)
    # uniform LBP with P=8 has 10 codes, 4x4 grid
    assert Xt.shape == (3, 160) and Xt.dtype == np.float32
    np.testing.assert_allclose(Xt.reshape(3, 16, 10).sum(axis=2), 1.0, rtol=1e-5)
    assert (Xt >= 0).all()


def test_lbp_matches_skimage_histogram(colour):
    gray = Grayscale().fit_transform(colour)[0]
    codes = local_binary_pattern(gray, 8, 1, "uniform").astype(int)
    expected = np.bincount(codes.ravel(), minlength=10) / codes.size
    np.testing.assert_allclose(
        LBPHistogram(grid=(1, 1)).fit_transform(colour)[0], expected, rtol=1e-6
    )


@pytest.mark.parametrize(
    ("grid", "method", "n_points", "n_bins"),
    [
        ((2, 3), "uniform", 8, 10),
        ((1, 1), "default", 8, 256),
        ((3, 2), "ror", 4, 16),
        ((2, 2), "nri_uniform", 8, 59),
    ],
)
def test_lbp_grid_and_method(colour, grid, method, n_points, n_bins):
    Xt = LBPHistogram(grid=grid, method=method, n_points=n_points).fit_transform(colour)
    n_cells = grid[0] * grid[1]
    assert Xt.shape == (3, n_cells * n_bins)
    np.testing.assert_allclose(Xt.reshape(3, n_cells, n_bins).sum(axis=2), 1.0, rtol=1e-5)


def test_lbp_works_on_different_sizes(colour):
    X = [colour[0], colour[1][:30, :40], Grayscale().fit_transform(colour)[2][:25, :33]]
    Xt = LBPHistogram(grid=(2, 2)).fit_transform(X)
    assert Xt.shape == (3, 40)
    np.testing.assert_allclose(Xt.reshape(3, 4, 10).sum(axis=2), 1.0, rtol=1e-5)


def test_lbp_colour_equals_grayscale_and_float(colour):
    gray = Grayscale().fit_transform(colour)
    reference = LBPHistogram().fit_transform(gray)
    np.testing.assert_array_equal(LBPHistogram().fit_transform(colour), reference)
    np.testing.assert_array_equal(LBPHistogram().fit_transform(gray / 255.0), reference)


def test_lbp_distinguishes_textures():
    flat = np.full((1, 32, 32), 128, np.uint8)
    noise = RNG.integers(0, 256, (1, 32, 32), dtype=np.uint8)
    a, b = LBPHistogram(grid=(1, 1)).fit_transform(np.concatenate([flat, noise]))
    # A flat image gives code P ("all neighbours >= centre") everywhere inside; border
    # pixels see zeros outside the image: 30x30 of the 32x32 pixels.
    assert a[8] == pytest.approx(30 * 30 / 32**2)
    assert b[8] < 0.5


def test_lbp_image_smaller_than_grid():
    with pytest.raises(ValueError, match=re.escape("X[1]") + ".*grid"):
        LBPHistogram(grid=(4, 4)).fit_transform(
            [np.zeros((8, 8), np.uint8), np.zeros((3, 8), np.uint8)]
        )


@pytest.mark.parametrize(
    "params", [{"grid": (0, 3)}, {"grid": (1, 2, 3)}, {"method": "var"}, {"radius": 0}]
)
@pytest.mark.parametrize("method", ["fit", "transform"])
def test_lbp_invalid_params(colour, params, method):
    with pytest.raises(ValueError, match=next(iter(params))):
        getattr(LBPHistogram(**params), method)(colour)


# --------------------------------------------------------------------------- Flatten


def test_flatten_records_shape_and_flattens(colour):
    flatten = Flatten().fit(colour)
    assert flatten.image_shape_ == (48, 48, 3)
    assert flatten.n_features_out_ == 48 * 48 * 3
    Xt = flatten.transform(colour)
    assert Xt.shape == (3, 6912) and Xt.dtype == np.uint8
    np.testing.assert_array_equal(Xt[1], colour[1].ravel())


def test_flatten_keeps_float_dtype():
    X = RNG.random((2, 4, 5)).astype(np.float32)
    Xt = Flatten().fit_transform(X)
    assert Xt.dtype == np.float32 and Xt.shape == (2, 20)


def test_flatten_rejects_other_shape_naming_image(colour):
    flatten = Flatten().fit(colour)
    with pytest.raises(ValueError, match=re.escape("X[1]") + r".*\(40, 40, 3\).*\(48, 48, 3\)"):
        flatten.transform([colour[0], colour[1][:40, :40]])
    with pytest.raises(ValueError, match=re.escape("X[0]") + ".*Resize"):
        flatten.transform(Grayscale().fit_transform(colour))


def test_flatten_fit_rejects_mixed_shapes(colour):
    with pytest.raises(ValueError, match=re.escape("X[2]")):
        Flatten().fit([colour[0], colour[1], colour[2][:, :47]])


def test_flatten_feature_names(colour):
    names = Flatten().fit(colour[:, :2, :3, 0]).get_feature_names_out()
    assert names.tolist() == [f"pixel{i}" for i in range(6)]


def test_flatten_not_fitted(colour):
    with pytest.raises(NotFittedError):
        Flatten().transform(colour)
    with pytest.raises(NotFittedError):
        Flatten().get_feature_names_out()


def test_flatten_validates_images():
    with pytest.raises(ValueError, match=re.escape("X[0]") + ".*RGBA"):
        Flatten().fit(np.zeros((2, 4, 4, 4), np.uint8))


# --------------------------------------------------------------------------- baseline


def _stripes(n, rng):
    """Vertical (class 0) vs horizontal (class 1) stripes, random period/phase/size + noise."""
    X, y = [], []
    for i in range(n):
        label = i % 2
        height, width = rng.integers(36, 56, size=2)
        period = rng.integers(6, 12)
        phase = rng.integers(0, period)
        yy, xx = np.mgrid[0:height, 0:width]
        coord = yy if label else xx
        image = np.where(((coord + phase) // (period // 2)) % 2 == 0, 190.0, 60.0)
        image += rng.normal(0, 35, image.shape)
        X.append(np.clip(image, 0, 255).astype(np.uint8))
        y.append(label)
    return X, np.array(y)


def test_hog_linear_svc_baseline_learns_stripes():
    rng = np.random.default_rng(42)
    X_train, y_train = _stripes(60, rng)
    X_test, y_test = _stripes(40, rng)
    model = Pipeline([("resize", Resize(32)), ("hog", HOGFeatures()), ("svc", LinearSVC())])
    model.fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.9


@pytest.mark.parametrize(
    ("transformer", "prefix"),
    [(HOGFeatures(pixels_per_cell=(6, 6)), "hog_block"), (LBPHistogram(grid=(3, 2)), "lbp_cell")],
)
def test_feature_names_match_columns_and_reach_pandas(colour, transformer, prefix):
    pd = pytest.importorskip("pandas")
    names = transformer.fit(colour).get_feature_names_out()
    Xt = transformer.transform(colour)
    assert names.shape == (Xt.shape[1],)
    assert len(set(names)) == len(names)
    assert all(name.startswith(prefix) for name in names)
    frame = clone(transformer).set_output(transform="pandas").fit_transform(colour)
    assert isinstance(frame, pd.DataFrame)
    assert frame.columns.tolist() == names.tolist()
    np.testing.assert_array_equal(frame.to_numpy(), Xt)


def test_hog_feature_names_follow_scikit_image_layout(colour):
    hog = HOGFeatures(orientations=4, pixels_per_cell=(8, 8), cells_per_block=(2, 2)).fit(colour)
    names = hog.get_feature_names_out().reshape(5, 5, 2, 2, 4)  # 48 px: 6 cells, 5 blocks
    assert names[1, 3, 0, 1, 2] == "hog_block1_3_cell0_1_o2"


def test_pipeline_reports_feature_names(colour):
    pipe = Pipeline([("lbp", LBPHistogram(grid=(1, 1))), ("svm", LinearSVC())])
    pipe.fit(colour, [0, 1, 0])
    assert pipe[:-1].get_feature_names_out().tolist() == [f"lbp_cell0_0_bin{b}" for b in range(10)]


@pytest.mark.parametrize("transformer", [HOGFeatures(), LBPHistogram()])
def test_feature_names_need_fit(transformer):
    with pytest.raises(NotFittedError):
        transformer.get_feature_names_out()
