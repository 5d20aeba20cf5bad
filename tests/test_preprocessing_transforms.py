"""Behaviour of Grayscale, Resize and Rescale: dtypes, layouts, values and bad input."""

import re

import numpy as np
import pytest

from fer_toolkit.preprocessing import Grayscale, Rescale, Resize

RNG = np.random.default_rng(0)


def _batch(dtype, shape=(2, 8, 10, 3)):
    if dtype == np.uint8:
        return RNG.integers(0, 256, shape, dtype=np.uint8)
    return RNG.random(shape).astype(dtype)


ALL_TRANSFORMERS = [Grayscale(), Resize(size=5), Rescale()]
IDS = ["Grayscale", "Resize", "Rescale"]


# --------------------------------------------------------------------------- Grayscale


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_grayscale_preserves_dtype(dtype):
    Xt = Grayscale().fit_transform(_batch(dtype))
    assert Xt.shape == (2, 8, 10)
    assert Xt.dtype == dtype


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_grayscale_bt601_weights(dtype):
    scale = 255 if dtype == np.uint8 else 1.0
    X = np.zeros((3, 1, 1, 3), dtype=dtype)
    for i in range(3):
        X[i, 0, 0, i] = scale
    Xt = Grayscale().fit_transform(X).ravel().astype(float)
    np.testing.assert_allclose(Xt, np.array([0.299, 0.587, 0.114]) * scale, atol=0.51)
    if dtype == np.uint8:
        assert Xt.tolist() == [76, 150, 29]


def test_grayscale_of_mixed_colour():
    X = np.array([[[[10, 200, 30]]]], dtype=np.uint8)
    assert int(Grayscale().fit_transform(X)[0, 0, 0]) == round(
        0.299 * 10 + 0.587 * 200 + 0.114 * 30
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grayscale_float_white_stays_in_range(dtype):
    Xt = Grayscale().fit_transform(np.ones((1, 4, 4, 3), dtype=dtype))
    assert Xt.max() <= 1.0
    np.testing.assert_allclose(Xt, 1.0, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 6, 7), (2, 6, 7, 1)])
def test_grayscale_passes_gray_through(shape):
    X = RNG.integers(0, 256, shape, dtype=np.uint8)
    Xt = Grayscale().fit_transform(X)
    assert Xt.shape == (2, 6, 7)
    np.testing.assert_array_equal(Xt, X.reshape(2, 6, 7))


def test_grayscale_list_of_sizes():
    X = [RNG.integers(0, 256, (5, 6, 3), dtype=np.uint8), RNG.integers(0, 256, (7, 4), np.uint8)]
    Xt = Grayscale().fit_transform(X)
    assert isinstance(Xt, list)
    assert [im.shape for im in Xt] == [(5, 6), (7, 4)]
    np.testing.assert_array_equal(Xt[1], X[1])


# --------------------------------------------------------------------------- Resize


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("keep_aspect", [False, True])
def test_resize_preserves_dtype(dtype, keep_aspect):
    Xt = Resize(size=5, keep_aspect=keep_aspect).fit_transform(_batch(dtype))
    assert Xt.shape == (2, 5, 5, 3)
    assert Xt.dtype == dtype


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((2, 8, 10), (2, 4, 6)), ((2, 8, 10, 1), (2, 4, 6, 1)), ((2, 8, 10, 3), (2, 4, 6, 3))],
)
@pytest.mark.parametrize("keep_aspect", [False, True])
def test_resize_layouts(shape, expected, keep_aspect):
    X = RNG.integers(0, 256, shape, dtype=np.uint8)
    assert Resize(size=(4, 6), keep_aspect=keep_aspect).fit_transform(X).shape == expected


def test_resize_int_is_square_and_tuple_is_height_width():
    X = np.zeros((1, 30, 20), dtype=np.uint8)
    assert Resize(size=12).fit_transform(X).shape == (1, 12, 12)
    assert Resize(size=(12, 40)).fit_transform(X).shape == (1, 12, 40)
    assert Resize(size=[40, 12]).fit_transform(X).shape == (1, 40, 12)
    assert Resize(size=np.int64(7)).fit_transform(X).shape == (1, 7, 7)


def test_resize_list_of_sizes_gives_one_array():
    X = [np.zeros((100, 80), np.uint8), np.zeros((30, 60), np.uint8), np.zeros((48, 48), np.uint8)]
    Xt = Resize(size=(16, 24)).fit_transform(X)
    assert isinstance(Xt, np.ndarray) and Xt.shape == (3, 16, 24)


def test_resize_mixed_channel_layouts_give_a_list():
    X = [np.zeros((10, 10), np.uint8), np.zeros((12, 8, 3), np.uint8)]
    Xt = Resize(size=6).fit_transform(X)
    assert isinstance(Xt, list) and [im.shape for im in Xt] == [(6, 6), (6, 6, 3)]


def test_resize_same_size_is_unchanged():
    X = _batch(np.uint8)
    np.testing.assert_array_equal(Resize(size=(8, 10)).fit_transform(X), X)


@pytest.mark.parametrize(
    ("interpolation", "first_row"),
    [
        ("nearest", [0, 0, 10, 10, 20, 20, 30, 30]),
        ("area", [0, 0, 10, 10, 20, 20, 30, 30]),
        ("linear", [0, 2, 7, 12, 17, 22, 27, 30]),
    ],
)
def test_resize_interpolation_values(interpolation, first_row):
    X = (np.arange(16, dtype=np.uint8).reshape(1, 4, 4)) * 10
    Xt = Resize(size=8, interpolation=interpolation).fit_transform(X)
    assert Xt[0, 0].tolist() == first_row


def test_resize_interpolations_differ():
    X = (np.arange(16, dtype=np.uint8).reshape(1, 4, 4)) * 10
    results = {
        name: Resize(size=8, interpolation=name).fit_transform(X)[0]
        for name in ("nearest", "linear", "cubic", "lanczos")
    }
    assert not np.array_equal(results["nearest"], results["linear"])
    assert not np.array_equal(results["linear"], results["cubic"])
    assert not np.array_equal(results["cubic"], results["lanczos"])


@pytest.mark.parametrize("interpolation", ["cubic", "lanczos", "linear", "area", "nearest"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resize_float_output_stays_in_unit_range(interpolation, dtype):
    # Cubic and Lanczos kernels overshoot at a sharp edge; the next step would reject it.
    X = np.zeros((1, 16, 16), dtype=dtype)
    X[:, :, 8:] = 1.0
    Xt = Resize(size=37, interpolation=interpolation).fit_transform(X)
    assert Xt.dtype == dtype
    assert Xt.min() >= 0.0 and Xt.max() <= 1.0
    Rescale().fit_transform(Xt)  # accepted downstream


def test_resize_keep_aspect_centres_wide_image():
    X = [np.full((10, 20), 200, dtype=np.uint8)]
    Xt = Resize(size=(10, 10), keep_aspect=True, pad_value=7).fit_transform(X)[0]
    # 10x20 -> 5x10 content, 5 rows of padding split 2 above, 3 below.
    assert (Xt[:2] == 7).all() and (Xt[7:] == 7).all()
    assert (Xt[2:7] == 200).all()


def test_resize_keep_aspect_centres_tall_colour_image():
    image = np.zeros((20, 10, 3), dtype=np.uint8)
    image[..., 0] = 255
    Xt = Resize(size=(8, 12), keep_aspect=True, pad_value=9).fit_transform([image])[0]
    assert Xt.shape == (8, 12, 3)
    # 20x10 -> 8x4 content in columns 4..7; padding is grey 9 in every channel.
    assert (Xt[:, 4:8, 0] == 255).all() and (Xt[:, 4:8, 1:] == 0).all()
    assert (Xt[:, :4] == 9).all() and (Xt[:, 8:] == 9).all()


def test_resize_keep_aspect_float_pad_value_is_scaled():
    Xt = Resize(size=(10, 10), keep_aspect=True, pad_value=51).fit_transform(np.ones((1, 10, 20)))
    assert Xt.dtype == np.float64
    np.testing.assert_allclose(Xt[0, 0], 0.2)
    np.testing.assert_allclose(Xt[0, 5], 1.0)


@pytest.mark.parametrize(
    ("pad_mode", "row_order"),
    [
        ("constant", [None, None, 0, 1, None, None]),
        ("edge", [0, 0, 0, 1, 1, 1]),
        ("reflect", [0, 1, 0, 1, 0, 1]),  # OpenCV's BORDER_REFLECT_101
    ],
)
def test_resize_keep_aspect_pad_modes(pad_mode, row_order):
    content = np.array([[10, 20, 30, 40], [50, 60, 70, 80]], dtype=np.uint8)
    # 2x4 fits 6x4 at scale 1: two rows of padding above and two below.
    Xt = Resize(size=(6, 4), keep_aspect=True, pad_mode=pad_mode, pad_value=3).fit_transform(
        [content]
    )[0]
    expected = np.stack([np.full(4, 3) if r is None else content[r] for r in row_order])
    np.testing.assert_array_equal(Xt, expected)


# --------------------------------------------------------------------------- Rescale


@pytest.mark.parametrize("in_dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("out_dtype", ["float32", "float64"])
def test_rescale_dtype(in_dtype, out_dtype):
    X = _batch(in_dtype)
    Xt = Rescale(dtype=out_dtype).fit_transform(X)
    assert Xt.dtype == np.dtype(out_dtype)
    assert Xt.shape == X.shape
    expected = X / 255.0 if in_dtype == np.uint8 else X
    np.testing.assert_allclose(Xt, expected, rtol=1e-6)


def test_rescale_uint8_values():
    X = np.array([[[0, 51, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(Rescale().fit_transform(X), [[[0.0, 0.2, 1.0]]], rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rescale_standardize_per_image(dtype):
    X = RNG.integers(0, 256, (4, 12, 12, 3), dtype=np.uint8)
    X[1] //= 4  # a darker, lower-contrast image
    Xt = Rescale(standardize=True, dtype=dtype).fit_transform(X)
    assert Xt.dtype == np.dtype(dtype)
    for image in Xt:
        assert abs(float(image.mean())) < 1e-5
        assert abs(float(image.std()) - 1.0) < 1e-4


def test_rescale_standardize_constant_image_is_zeros():
    X = np.stack([np.full((5, 5), 77, np.uint8), np.arange(25, dtype=np.uint8).reshape(5, 5)])
    Xt = Rescale(standardize=True).fit_transform(X)
    assert np.isfinite(Xt).all()
    assert (Xt[0] == 0).all()
    assert abs(float(Xt[1].std()) - 1) < 1e-5


def test_rescale_list_of_sizes():
    X = [np.full((3, 4), 255, np.uint8), np.zeros((5, 6, 3), np.float64)]
    Xt = Rescale().fit_transform(X)
    assert isinstance(Xt, list)
    assert [(im.shape, im.dtype) for im in Xt] == [((3, 4), np.float32), ((5, 6, 3), np.float32)]
    assert (Xt[0] == 1).all()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("transformer", ALL_TRANSFORMERS, ids=IDS)
@pytest.mark.parametrize("method", ["fit", "transform"])
class TestBadInput:
    def _call(self, transformer, method, X):
        return getattr(transformer, method)(X)

    def test_empty_batch(self, transformer, method):
        with pytest.raises(ValueError, match="empty"):
            self._call(transformer, method, np.zeros((0, 4, 4), np.uint8))
        with pytest.raises(ValueError, match="empty"):
            self._call(transformer, method, [])

    def test_single_2d_image(self, transformer, method):
        with pytest.raises(ValueError, match=re.escape("(4, 5)") + ".*single image"):
            self._call(transformer, method, np.zeros((4, 5), np.uint8))

    def test_5d(self, transformer, method):
        with pytest.raises(ValueError, match=re.escape("(1, 2, 4, 4, 3)")):
            self._call(transformer, method, np.zeros((1, 2, 4, 4, 3), np.uint8))

    def test_rgba(self, transformer, method):
        X = np.zeros((2, 4, 4, 3), np.uint8)
        with pytest.raises(ValueError, match=re.escape("X[1]") + ".*4 channels.*RGBA"):
            self._call(transformer, method, [X[0], np.zeros((4, 4, 4), np.uint8)])

    def test_float_out_of_range(self, transformer, method):
        X = np.zeros((3, 4, 4))
        X[1, 0, 0] = 1.5
        with pytest.raises(ValueError, match=re.escape("X[1]") + r".*\[0, 1\.5\].*\[0, 1\]"):
            self._call(transformer, method, X)
        with pytest.raises(ValueError, match=re.escape("X[2]") + r".*-0\.5"):
            self._call(transformer, method, [X[0], X[0], np.full((3, 3), -0.5)])

    def test_nan(self, transformer, method):
        X = np.zeros((3, 4, 4), np.float32)
        X[2, 1, 1] = np.nan
        with pytest.raises(ValueError, match=re.escape("X[2]") + ".*NaN"):
            self._call(transformer, method, X)

    def test_uint16(self, transformer, method):
        with pytest.raises(TypeError, match=re.escape("X[0]") + ".*16-bit"):
            self._call(transformer, method, np.zeros((2, 4, 4), np.uint16))

    @pytest.mark.parametrize("dtype", [np.int64, np.int8, bool, complex])
    def test_other_dtypes(self, transformer, method, dtype):
        with pytest.raises(TypeError, match=re.escape("X[0]") + ".*dtype"):
            self._call(transformer, method, np.zeros((2, 4, 4), dtype))

    def test_str_items(self, transformer, method):
        with pytest.raises(TypeError, match=re.escape("X[0]") + ".*file path.*ImageReader"):
            self._call(transformer, method, ["a.png", "b.png"])

    def test_object_items(self, transformer, method):
        with pytest.raises(TypeError, match=re.escape("X[1]") + ".*object"):
            self._call(transformer, method, [np.zeros((4, 4), np.uint8), None])

    def test_empty_image(self, transformer, method):
        with pytest.raises(ValueError, match=re.escape("X[1]") + ".*empty"):
            self._call(
                transformer, method, [np.zeros((4, 4), np.uint8), np.zeros((0, 4), np.uint8)]
            )


@pytest.mark.parametrize(
    "params",
    [
        {"size": 0},
        {"size": -3},
        {"size": "48"},
        {"size": (1, 2, 3)},
        {"size": (0, 5)},
        {"size": (4.5, 5)},
        {"size": True},
        {"interpolation": "bogus"},
        {"pad_mode": "wrap"},
        {"pad_value": 256},
        {"keep_aspect": "yes"},
    ],
)
@pytest.mark.parametrize("method", ["fit", "transform"])
def test_resize_invalid_params(params, method):
    name = next(iter(params))
    with pytest.raises(ValueError, match=name):
        getattr(Resize(**params), method)(np.zeros((1, 4, 4), np.uint8))


@pytest.mark.parametrize("params", [{"dtype": "float16"}, {"standardize": "yes"}])
@pytest.mark.parametrize("method", ["fit", "transform"])
def test_rescale_invalid_params(params, method):
    with pytest.raises(ValueError, match=next(iter(params))):
        getattr(Rescale(**params), method)(np.zeros((1, 4, 4), np.uint8))
