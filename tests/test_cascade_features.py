"""Integral images and Haar / LBP feature tables against OpenCV's definitions."""

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage import data

from fer_toolkit.cascade import (
    HaarFeatures,
    IntegralBatch,
    LBPFeatures,
    haar_features,
    integral_batch,
    integral_image,
    lbp_features,
    make_features,
)

MODES = ("BASIC", "CORE", "ALL")


def _opencv_tables(image):
    total, sqsum, tilted = cv2.integral3(image, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
    return total, sqsum, tilted


@pytest.fixture(scope="module")
def windows():
    """Real 18x16 windows (width 18, height 16) cut from skimage photos, plus a flat one."""
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    rng = np.random.default_rng(0)
    ys = rng.integers(0, gray.shape[0] - 16, 11)
    xs = rng.integers(0, gray.shape[1] - 18, 11)
    stack = [gray[y : y + 16, x : x + 18] for x, y in zip(xs, ys, strict=True)]
    stack.append(np.full((16, 18), 77, dtype=np.uint8))
    return np.ascontiguousarray(np.stack(stack))


# --- integral images ----------------------------------------------------------------


def _tilted_by_definition(image):
    """``T[Y, X] = sum of I[y, x] over y < Y, |x - X + 1| <= Y - y - 1`` (OpenCV's docs)."""
    height, width = image.shape
    table = np.zeros((height + 1, width + 1), dtype=np.int64)
    for big_y in range(height + 1):
        for big_x in range(width + 1):
            for y in range(big_y):
                reach = big_y - y - 1
                lo, hi = max(0, big_x - 1 - reach), min(width - 1, big_x - 1 + reach)
                table[big_y, big_x] += int(image[y, lo : hi + 1].astype(np.int64).sum())
    return table


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(3, 9), st.integers(3, 9))))
def test_batch_tables_match_cv2_and_the_definition(image):
    batch = integral_batch(np.stack([image, image[::-1, ::-1]]), tilted=True)
    for i, img in enumerate((image, np.ascontiguousarray(image[::-1, ::-1]))):
        total, _, tilted = _opencv_tables(img)
        np.testing.assert_array_equal(batch.sum[i], total)
        np.testing.assert_array_equal(batch.tilted[i], tilted)
        np.testing.assert_array_equal(tilted, _tilted_by_definition(img))


@settings(max_examples=20, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_integral_image_matches_cv2_integral3(image):
    tables = integral_image(image, tilted=True)
    for mine, theirs in zip(tables, _opencv_tables(image), strict=True):
        assert mine.dtype == np.int64
        np.testing.assert_array_equal(mine, theirs)


def test_integral_image_real_photo_and_no_overflow():
    camera = data.camera()
    total, sqsum, tilted = integral_image(camera, tilted=True)
    ref = _opencv_tables(camera)
    for mine, theirs in zip((total, sqsum, tilted), ref, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # 3000x3000 white: sums beyond int32 must stay exact (int64 tables).
    big = np.full((3000, 3000), 255, dtype=np.uint8)
    total, sqsum, _ = integral_image(big)
    assert total.dtype == np.int64 and int(total[-1, -1]) == 255 * 3000 * 3000 > 2**31
    assert int(sqsum[-1, -1]) == 255**2 * 3000 * 3000


def test_integral_batch_matches_per_image_tables_and_training_norm(windows):
    batch = integral_batch(windows, tilted=True)
    assert batch.window == (18, 16) and len(batch) == len(windows)
    for i, window in enumerate(windows):
        total, sqsum, tilted = _opencv_tables(window)
        np.testing.assert_array_equal(batch.sum[i], total)
        np.testing.assert_array_equal(batch.tilted[i], tilted)
        # calcNormFactor: inner rectangle (1, 1, W-2, H-2), area * sqsum - sum^2.
        h, w = window.shape
        corner = [(1, 1), (1, w - 1), (h - 1, 1), (h - 1, w - 1)]
        s = total[corner[0]] - total[corner[1]] - total[corner[2]] + total[corner[3]]
        q = sqsum[corner[0]] - sqsum[corner[1]] - sqsum[corner[2]] + sqsum[corner[3]]
        expected = np.float32(np.sqrt((w - 2) * (h - 2) * q - s * s))
        assert batch.norm[i].item() == expected
    assert batch.norm[-1].item() == 0.0  # the flat window
    assert integral_batch(windows).tilted is None


def test_integral_batch_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        integral_batch(np.zeros((2, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(n, height, width\)"):
        integral_batch(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="at least 3x3"):
        integral_batch(np.zeros((2, 2, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="empty"):
        integral_batch(np.zeros((0, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="2-D"):
        integral_image(np.zeros((2, 4, 4), dtype=np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        integral_image(np.zeros((4, 4), dtype=np.int16))


# --- enumeration ---------------------------------------------------------------------


def _count(width, height, mode):
    """Feature counts derived independently: per prototype and (dx, dy), count positions.

    An upright prototype spanning (a*dx, b*dy) has (W - a*dx + 1)(H - b*dy + 1) positions;
    a tilted one of sides (a*dx, b*dy) needs x in [b*dy, W - a*dx] and y + a*dx + b*dy <= H.
    """
    upright = [(2, 1), (1, 2), (3, 1), (1, 3), (2, 2)]
    if mode != "BASIC":
        upright += [(4, 1), (1, 4), (3, 3)]
    tilted = [(2, 1), (1, 2), (3, 1), (1, 3), (4, 1), (1, 4)] if mode == "ALL" else []
    total = 0
    for dx in range(1, width + 1):
        for dy in range(1, height + 1):
            for a, b in upright:
                total += max(0, width - a * dx + 1) * max(0, height - b * dy + 1)
            for a, b in tilted:
                total += max(0, width - a * dx - b * dy + 1) * max(0, height - a * dx - b * dy + 1)
    return total


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [(24, 24), (20, 20), (18, 16)])
def test_haar_feature_counts(size, mode):
    assert len(haar_features(*size, mode)) == _count(*size, mode)


def test_basic_24x24_count_is_opencvs():
    assert len(haar_features(24, 24)) == 162336


def _reference_haar(width, height, mode):
    """A literal port of CvHaarEvaluator::generateFeatures' loops (slow, small windows)."""
    out = []
    for x in range(width):
        for y in range(height):
            for dx in range(1, width + 1):
                for dy in range(1, height + 1):
                    cand = [
                        (x + 2 * dx <= width and y + dy <= height, 0,
                         [(x, y, 2 * dx, dy, -1), (x + dx, y, dx, dy, 2)]),
                        (x + dx <= width and y + 2 * dy <= height, 0,
                         [(x, y, dx, 2 * dy, -1), (x, y + dy, dx, dy, 2)]),
                        (x + 3 * dx <= width and y + dy <= height, 0,
                         [(x, y, 3 * dx, dy, -1), (x + dx, y, dx, dy, 2)]),
                        (x + dx <= width and y + 3 * dy <= height, 0,
                         [(x, y, dx, 3 * dy, -1), (x, y + dy, dx, dy, 2)]),
                    ]  # fmt: skip
                    if mode != "BASIC":
                        cand += [
                            (x + 4 * dx <= width and y + dy <= height, 0,
                             [(x, y, 4 * dx, dy, -1), (x + dx, y, 2 * dx, dy, 2)]),
                            (x + dx <= width and y + 4 * dy <= height, 0,
                             [(x, y, dx, 4 * dy, -1), (x, y + dy, dx, 2 * dy, 2)]),
                        ]  # fmt: skip
                    cand.append(
                        (x + 2 * dx <= width and y + 2 * dy <= height, 0,
                         [(x, y, 2 * dx, 2 * dy, -1), (x, y, dx, dy, 2),
                          (x + dx, y + dy, dx, dy, 2)])
                    )  # fmt: skip
                    if mode != "BASIC":
                        cand.append(
                            (x + 3 * dx <= width and y + 3 * dy <= height, 0,
                             [(x, y, 3 * dx, 3 * dy, -1), (x + dx, y + dy, dx, dy, 9)])
                        )  # fmt: skip
                    if mode == "ALL":
                        cand += [
                            (x + 2 * dx <= width and y + 2 * dx + dy <= height and x - dy >= 0,
                             1, [(x, y, 2 * dx, dy, -1), (x, y, dx, dy, 2)]),
                            (x + dx <= width and y + dx + 2 * dy <= height and x - 2 * dy >= 0,
                             1, [(x, y, dx, 2 * dy, -1), (x, y, dx, dy, 2)]),
                            (x + 3 * dx <= width and y + 3 * dx + dy <= height and x - dy >= 0,
                             1, [(x, y, 3 * dx, dy, -1), (x + dx, y + dx, dx, dy, 3)]),
                            (x + dx <= width and y + dx + 3 * dy <= height and x - 3 * dy >= 0,
                             1, [(x, y, dx, 3 * dy, -1), (x - dy, y + dy, dx, dy, 3)]),
                            (x + 4 * dx <= width and y + 4 * dx + dy <= height and x - dy >= 0,
                             1, [(x, y, 4 * dx, dy, -1), (x + dx, y + dx, 2 * dx, dy, 2)]),
                            (x + dx <= width and y + dx + 4 * dy <= height and x - 4 * dy >= 0,
                             1, [(x, y, dx, 4 * dy, -1), (x - dy, y + dy, dx, 2 * dy, 2)]),
                        ]  # fmt: skip
                    out += [(tilted, rects) for ok, tilted, rects in cand if ok]
    return out


@pytest.mark.parametrize("mode", MODES)
def test_haar_enumeration_order_matches_opencvs_loops(mode):
    table = haar_features(7, 6, mode)
    reference = _reference_haar(7, 6, mode)
    assert len(table) == len(reference)
    for i, (tilted, rects) in enumerate(reference):
        assert bool(table.tilted[i]) == bool(tilted), i
        expected = np.zeros((3, 5))
        expected[: len(rects)] = rects
        np.testing.assert_array_equal(table.rects[i], expected[:, :4], err_msg=f"feature {i}")
        np.testing.assert_array_equal(table.weights[i], expected[:, 4], err_msg=f"feature {i}")


def test_lbp_enumeration_matches_opencvs_loops():
    width, height = 11, 9
    reference = [
        (x, y, w, h)
        for x in range(width)
        for y in range(height)
        for w in range(1, width // 3 + 1)
        for h in range(1, height // 3 + 1)
        if x + 3 * w <= width and y + 3 * h <= height
    ]
    np.testing.assert_array_equal(lbp_features(width, height).rects, reference)
    assert len(lbp_features(24, 24)) == 8464
    assert make_features("LBP", 24, 24).feature_type == "LBP"


def test_enumeration_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode must be one of"):
        haar_features(24, 24, "EXTENDED")
    with pytest.raises(ValueError, match="width must be an int >= 3"):
        haar_features(2, 24)
    with pytest.raises(ValueError, match="feature_type must be one of"):
        make_features("HOG", 24, 24)


# --- evaluation ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_haar_features_sum_to_zero_on_a_flat_patch_but_opencvs_upright_lines(mode):
    table = haar_features(14, 12, mode)
    flat = np.full((2, 12, 14), 200, dtype=np.uint8)
    raw = table.evaluate(integral_batch(flat, tilted=True), normalize=False)
    assert raw.shape == (2, len(table))
    # opencv_traincascade weights the middle third of upright x3 / y3 lines +2, not +3.
    areas = table.rects[:, :, 2] * table.rects[:, :, 3]
    lines = ~table.tilted & (table.weights[:, 1] == 2) & (areas[:, 0] == 3 * areas[:, 1])
    assert lines.sum() > 0
    np.testing.assert_array_equal(
        raw[:, lines], np.broadcast_to(-200.0 * areas[lines, 1], (2, lines.sum()))
    )
    assert float(np.abs(raw[:, ~lines]).max()) == 0.0
    # Normalised values of a flat window (norm 0) are defined as 0, as in OpenCV.
    assert float(np.abs(table.evaluate(integral_batch(flat, tilted=True))).max()) == 0.0


def _rect_sum(tables, rect, tilted):
    total, _, tilt = tables
    x, y, w, h = rect
    if tilted:
        return tilt[y, x] - tilt[y + h, x - h] - tilt[y + w, x + w] + tilt[y + w + h, x + w - h]
    return total[y, x] - total[y, x + w] - total[y + h, x] + total[y + h, x + w]


def test_haar_values_match_direct_computation_on_cv2_tables(windows):
    table = haar_features(18, 16, "ALL")
    batch = integral_batch(windows, tilted=True)
    rng = np.random.default_rng(1)
    idx = np.sort(rng.choice(len(table), 500, replace=False))
    idx[-1] = np.flatnonzero(table.tilted)[-1]  # make sure tilted features are covered
    values = table.evaluate(batch, idx)
    raw = table.evaluate(batch, idx, normalize=False)
    for n, window in enumerate(windows):
        tables = _opencv_tables(window)
        norm = batch.norm[n]
        for j, i in enumerate(idx):
            expected = sum(
                float(table.weights[i, r]) * _rect_sum(tables, table.rects[i, r], table.tilted[i])
                for r in range(3)
                if table.weights[i, r] != 0
            )
            assert raw[n, j] == expected
            # opencv_traincascade: float(calc) / normfactor, 0 when the factor is 0.
            assert values[n, j] == (np.float32(expected) / norm if norm else 0.0)


def test_large_windows_stay_exact():
    """Sums beyond float32's exact range are computed in float64, then rounded once."""
    rng = np.random.default_rng(4)
    samples = rng.integers(200, 256, (3, 90, 100), dtype=np.uint8)
    table = HaarFeatures(
        rects=[
            [[0, 0, 99, 90], [33, 0, 33, 90], [0, 0, 0, 0]],
            [[1, 1, 3, 6], [2, 1, 1, 6], [0] * 4],
        ],
        weights=[[-1, 3, 0], [-1, 3, 0]],
        tilted=[False, False],
    )
    raw = table.evaluate(integral_batch(samples), normalize=False)
    pixels = samples.astype(np.int64)
    whole = pixels[:, :, :99].sum((1, 2))
    middle = pixels[:, :, 33:66].sum((1, 2))
    np.testing.assert_array_equal(raw[:, 0], (3 * middle - whole).astype(np.float32))
    small = 3 * pixels[:, 1:7, 2].sum(1) - pixels[:, 1:7, 1:4].sum((1, 2))
    np.testing.assert_array_equal(raw[:, 1], small)


def test_evaluate_subsets_agree(windows):
    table = haar_features(18, 16, "CORE")
    batch = integral_batch(windows)
    full = table.evaluate(batch)
    assert isinstance(full, np.ndarray)
    assert full.dtype == np.float32 and full.shape == (len(windows), len(table))
    idx = np.array([5, 3, 40_000, len(table) - 1])
    np.testing.assert_array_equal(table.evaluate(batch, idx), full[:, idx])
    np.testing.assert_array_equal(table.take(idx).rects, table.rects[idx])
    with pytest.raises(ValueError, match="max_bytes"):
        table.evaluate(batch, idx, max_bytes=0)
    with pytest.raises(IndexError, match="out of range"):
        table.take([len(table)])


def _torch_batch(batch):
    """The batch as PyTorch tensors (what integral_batch gives on a CUDA device), on the CPU."""
    return IntegralBatch(
        *(None if t is None else torch.from_numpy(t) for t in (batch.sum, batch.tilted, batch.norm))
    )


def test_the_pytorch_path_for_cuda_gives_the_compiled_loops_values(windows):
    # device="cuda" evaluates on tensors with a sparse-dense product; run that code on CPU
    # tensors (in blocks, max_bytes=1) and check it against the compiled CPU loops, bit
    # for bit, with tilted features and a flat sample (norm 0).
    samples = windows.copy()
    samples[0] = 77
    batch = integral_batch(samples, tilted=True)
    on_torch = _torch_batch(batch)
    table = haar_features(18, 16, "ALL")
    idx = np.r_[np.arange(0, len(table), 97), np.flatnonzero(table.tilted)[-3:]]
    for normalize in (True, False):
        expected = table.evaluate(batch, idx, normalize=normalize)
        got = table.evaluate(on_torch, idx, normalize=normalize, max_bytes=1)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
        np.testing.assert_array_equal(got.numpy(), expected)
    lbp = lbp_features(18, 16)
    got = lbp.evaluate(on_torch)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_array_equal(got.numpy(), lbp.evaluate(batch))


def test_integral_batch_keeps_tensors_on_their_device(windows):
    batch = integral_batch(torch.from_numpy(windows), tilted=True)
    expected = integral_batch(windows, tilted=True)
    # A CPU tensor gives numpy tables (PyTorch only places tables on another device).
    for got, want in zip(
        (batch.sum, batch.tilted, batch.norm),
        (expected.sum, expected.tilted, expected.norm),
        strict=True,
    ):
        assert isinstance(got, np.ndarray)
        np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError, match="uint8"):
        integral_batch(torch.zeros((2, 8, 8)))


def test_lbp_codes_match_cell_sums_from_pixels(windows):
    table = lbp_features(18, 16)
    codes = table.evaluate(integral_batch(windows))
    assert codes.shape == (len(windows), len(table))
    bits = [(0, 0, 128), (0, 1, 64), (0, 2, 32), (1, 2, 16), (2, 2, 8), (2, 1, 4), (2, 0, 2)]
    bits.append((1, 0, 1))
    for i in np.random.default_rng(2).choice(len(table), 200, replace=False):
        x, y, w, h = table.rects[i]
        block = windows[:, y : y + 3 * h, x : x + 3 * w].astype(np.int64)
        cells = block.reshape(len(windows), 3, h, 3, w).sum(axis=(2, 4))
        expected = sum(np.where(cells[:, r, c] >= cells[:, 1, 1], bit, 0) for r, c, bit in bits)
        np.testing.assert_array_equal(codes[:, i], expected)
    assert (codes[-1] == 255).all()  # flat window: every cell >= the centre


def test_lbp_codes_as_bytes_equal_the_float_codes(windows):
    """The trainer's cache takes the codes as bytes; they are the float32 codes."""
    from fer_toolkit.cascade import _kernels

    table = lbp_features(18, 16)
    batch = integral_batch(windows)
    values = table._values_of(18, 16)
    as_bytes = np.empty((len(table), len(windows)), dtype=np.uint8)
    values(batch, None, as_bytes)
    np.testing.assert_array_equal(as_bytes, table.evaluate(batch).T)
    sums = np.ascontiguousarray(batch.sum.transpose(1, 2, 0), dtype=np.int32)
    for wrong in (np.empty((len(table), len(windows)), dtype=np.int32), as_bytes.T):
        with pytest.raises(ValueError, match="out must be a C-contiguous"):
            _kernels.lbp_codes(sums, table.rects, table.CELL_BITS, wrong)


def test_evaluate_errors_name_the_problem(windows):
    batch = integral_batch(windows)
    table = haar_features(18, 16, "ALL")
    with pytest.raises(ValueError, match="tilted=True"):
        table.evaluate(batch, np.flatnonzero(table.tilted)[:3])
    with pytest.raises(ValueError, match=r"HAAR feature 162335 .* does not fit a 18x16 window"):
        haar_features(24, 24).evaluate(batch, [len(haar_features(24, 24)) - 1])
    with pytest.raises(ValueError, match=r"LBP feature 0 \(cell \[10, 10, 3, 3\]\) does not fit"):
        LBPFeatures(rects=[[10, 10, 3, 3]]).evaluate(batch)
    with pytest.raises(ValueError, match=r"rects \(k, 3, 4\)"):
        HaarFeatures(rects=np.zeros((2, 2, 4)), weights=np.zeros((2, 3)), tilted=[0, 0])
