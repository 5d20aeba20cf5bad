"""Batch augmentation: exact identities, geometry against known answers, randomness, dtypes."""

import math
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fer_toolkit.estimators.augmentation import (
    AugmentationParams,
    _affine_grid,
    _affine_theta,
    _warp,
    augment_batch,
)

KERAS_POLICY = AugmentationParams(brightness=(0.0, 2.0), horizontal_flip=True, shear=0.3)
EVERYTHING = AugmentationParams(
    brightness=(0.5, 1.5),
    horizontal_flip=True,
    shear=0.3,
    rotation=20.0,
    translation=0.1,
    zoom=0.1,
)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _batch(n=16, c=1, h=24, w=24, seed=0, device="cpu"):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=generator).to(device)


def _gen(seed, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


def _rows_centroid(image):
    """Intensity-weighted column of every row of a 2-D image."""
    cols = torch.arange(image.shape[1], dtype=image.dtype)
    return (image * cols).sum(1) / image.sum(1)


# ------------------------------------------------------------------ parameters
def test_defaults_are_identity_and_values_are_normalised():
    assert AugmentationParams().is_identity()
    assert AugmentationParams(brightness=(1, 1)).is_identity()
    assert not KERAS_POLICY.is_identity()
    params = AugmentationParams(brightness=[0, 2], rotation=10)
    assert params.brightness == (0.0, 2.0)
    assert isinstance(params.rotation, float)
    assert params == AugmentationParams(brightness=(0.0, 2.0), rotation=10.0)
    assert hash(params) == hash(AugmentationParams(brightness=(0.0, 2.0), rotation=10.0))
    assert pickle.loads(pickle.dumps(params)) == params


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"brightness": (-0.1, 1.0)}, "brightness low"),
        ({"brightness": (1.5, 0.5)}, "low <= high"),
        ({"brightness": (0.5,)}, "pair"),
        ({"brightness": 1.0}, "pair"),
        ({"brightness": (0.0, math.inf)}, "brightness high"),
        ({"shear": -0.1}, "shear"),
        ({"shear": math.nan}, "shear"),
        ({"rotation": -1}, "rotation"),
        ({"rotation": 181}, "rotation"),
        ({"translation": 1.0}, "translation"),
        ({"translation": -0.1}, "translation"),
        ({"zoom": 1.0}, "zoom"),
        ({"padding_mode": "wrap"}, "padding_mode"),
    ],
)
def test_out_of_range_values_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AugmentationParams(**kwargs)


@pytest.mark.parametrize("kwargs", [{"horizontal_flip": 1}, {"shear": "0.3"}, {"rotation": True}])
def test_wrong_types_raise(kwargs):
    with pytest.raises(TypeError):
        AugmentationParams(**kwargs)


def test_params_are_immutable():
    with pytest.raises(AttributeError):
        KERAS_POLICY.shear = 0.5


def test_bad_batches_raise():
    x = _batch()
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        augment_batch(x[0], KERAS_POLICY)
    with pytest.raises(TypeError, match="floating-point"):
        augment_batch((x * 255).to(torch.uint8), KERAS_POLICY)
    with pytest.raises(TypeError, match="AugmentationParams"):
        augment_batch(x, {"shear": 0.3})
    with pytest.raises(TypeError, match="Tensor"):
        augment_batch(x.numpy(), KERAS_POLICY)
    with pytest.raises(TypeError, match="Generator"):
        augment_batch(x, KERAS_POLICY, generator=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_generator_on_another_device_raises():
    with pytest.raises(ValueError, match=r"torch\.Generator"):
        augment_batch(_batch(device="cuda"), KERAS_POLICY, _gen(0, "cpu"))


# ------------------------------------------------------------------- identity
def test_identity_returns_an_equal_new_tensor():
    x = _batch()
    generator = _gen(0)
    state = generator.get_state()
    out = augment_batch(x, AugmentationParams(brightness=(1.0, 1.0)), generator)
    assert torch.equal(out, x)
    assert out.data_ptr() != x.data_ptr()
    assert torch.equal(generator.get_state(), state), "identity must not draw"


def test_empty_batch():
    x = torch.zeros(0, 1, 8, 8)
    assert augment_batch(x, EVERYTHING).shape == (0, 1, 8, 8)


# ----------------------------------------------------------------------- flip
def test_flip_only_is_exact_and_about_half_the_samples():
    x = _batch(n=200, c=3, h=9, w=12)
    out = augment_batch(x, AugmentationParams(horizontal_flip=True), _gen(1))
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert not bool((same & mirrored).any())  # random images are never symmetric
    # Binomial(200, 0.5): P(outside [70, 130]) < 3e-5.
    assert 70 <= int(mirrored.sum()) <= 130


def test_flip_in_the_affine_matrix_is_a_mirror():
    x = _batch(n=4, c=2, h=10, w=14)
    flip = torch.tensor([True, False, True, False])
    out = _warp(x, _affine_theta(10, 14, flip=flip), "border")
    expected = torch.where(flip.view(4, 1, 1, 1), x.flip(-1), x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


# ----------------------------------------------------------------- randomness
@pytest.mark.parametrize("params", [KERAS_POLICY, EVERYTHING], ids=["keras_policy", "everything"])
def test_same_seed_same_output_other_seed_other_output(params):
    x = _batch()
    first = augment_batch(x, params, _gen(7))
    assert torch.equal(first, augment_batch(x, params, _gen(7)))
    assert not torch.equal(first, augment_batch(x, params, _gen(8)))
    generator = _gen(7)
    augment_batch(x, params, generator)
    assert not torch.equal(first, augment_batch(x, params, generator)), "state must advance"


def test_global_generator_is_used_without_one():
    x = _batch()
    torch.manual_seed(3)
    first = augment_batch(x, EVERYTHING)
    torch.manual_seed(3)
    assert torch.equal(first, augment_batch(x, EVERYTHING))


def test_enabling_a_transform_keeps_the_others_draws():
    x = _batch(n=50)
    flips = augment_batch(x, AugmentationParams(horizontal_flip=True), _gen(5))
    both = augment_batch(x, AugmentationParams(horizontal_flip=True, brightness=(2, 2)), _gen(5))
    torch.testing.assert_close(both, (2 * flips).clamp(0, 1))


# ----------------------------------------------------------------- brightness
def test_brightness_factors_in_range_and_clipped():
    x = torch.full((300, 1, 4, 4), 0.25)
    x[:, :, 0, 0] = 0.9
    out = augment_batch(x, AugmentationParams(brightness=(0.0, 2.0)), _gen(2))
    factors = out[:, 0, 1, 1] / 0.25
    assert float(factors.min()) >= 0.0 and float(factors.max()) <= 2.0
    assert float(factors.min()) < 0.1 and float(factors.max()) > 1.9  # spans the range
    assert abs(float(factors.mean()) - 1.0) < 0.1
    # one factor per sample, shared by all its pixels
    torch.testing.assert_close(out[:, :, 1:, :], (x[:, :, 1:, :] * factors.view(-1, 1, 1, 1)))
    torch.testing.assert_close(out[:, 0, 0, 0], (0.9 * factors).clamp(max=1.0))
    assert bool((out[:, 0, 0, 0] == 1.0).any())


def test_fixed_brightness_range():
    x = _batch()
    out = augment_batch(x, AugmentationParams(brightness=(0.5, 0.5)), _gen(0))
    torch.testing.assert_close(out, x * 0.5)


# ------------------------------------------------------------------- geometry
@pytest.mark.parametrize("angle, k", [(90.0, 1), (-90.0, -1), (180.0, 2)])
@pytest.mark.parametrize("padding_mode", ["border", "reflection", "zeros"])
def test_right_angle_rotation_matches_rot90(angle, k, padding_mode):
    x = _batch(n=3, c=2, h=12, w=12)
    theta = _affine_theta(12, 12, angle=torch.full((3,), angle))
    out = _warp(x, theta, padding_mode)
    torch.testing.assert_close(out, torch.rot90(x, k, dims=(-2, -1)), atol=1e-5, rtol=0)


def test_translation_moves_a_dot():
    x = torch.zeros(2, 1, 12, 16)
    x[:, 0, 5, 5] = 1.0
    shift = torch.tensor([[0.25, -1 / 6], [-0.125, 0.25]])  # pixels: (+4, -2), (-2, +3)
    out = _warp(x, _affine_theta(12, 16, shift=shift), "zeros")
    expected = torch.zeros_like(x)
    expected[0, 0, 3, 9] = 1.0
    expected[1, 0, 8, 3] = 1.0
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("s", [0.3, -0.5])
def test_shear_slants_a_vertical_line(s):
    height, width, col = 24, 40, 17
    x = torch.zeros(1, 1, height, width)
    x[0, 0, :, col] = 1.0
    out = _warp(x, _affine_theta(height, width, shear=torch.tensor([s])), "zeros")[0, 0]
    rows = torch.arange(height, dtype=torch.float32)
    # x' = x + s * y about the centre: column col + s * (row + 0.5 - H / 2)
    expected = col + s * (rows + 0.5 - height / 2)
    torch.testing.assert_close(_rows_centroid(out), expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.sum(1), torch.ones(height), atol=1e-5, rtol=0)


def test_zoom_scales_about_the_centre():
    height = width = 33
    x = torch.zeros(1, 1, height, width)
    x[0, 0, :, 20] = 1.0  # 4 pixels right of the centre column 16
    out = _warp(x, _affine_theta(height, width, zoom=torch.tensor([1.5])), "zeros")[0, 0]
    centroid = _rows_centroid(out[4:-4])  # rows still inside the zoomed line
    torch.testing.assert_close(centroid, torch.full_like(centroid, 16 + 1.5 * 4), atol=1e-4, rtol=0)


def test_composition_order_rotation_after_shear():
    # A dot right of the centre: shear leaves it on its row, then +90 degrees lifts it up.
    x = torch.zeros(1, 1, 11, 11)
    x[0, 0, 5, 8] = 1.0
    theta = _affine_theta(11, 11, shear=torch.tensor([0.7]), angle=torch.tensor([90.0]))
    out = _warp(x, theta, "zeros")
    assert out[0, 0].argmax() == 2 * 11 + 5
    torch.testing.assert_close(out.sum(), torch.tensor(1.0), atol=1e-5, rtol=0)


def test_geometric_transforms_have_the_drawn_magnitude():
    """A single rotated sample turns a horizontal bar by at most ``rotation`` degrees."""
    x = torch.zeros(64, 1, 31, 31)
    x[:, 0, 15, 5:26] = 1.0
    out = augment_batch(x, AugmentationParams(rotation=30.0, padding_mode="zeros"), _gen(0))
    ys, xs = torch.meshgrid(torch.arange(31.0), torch.arange(31.0), indexing="ij")
    mass = out[:, 0].flatten(1)
    cx = (mass * xs.flatten()).sum(1) / mass.sum(1)
    cy = (mass * ys.flatten()).sum(1) / mass.sum(1)
    dx, dy = xs.flatten() - cx[:, None], ys.flatten() - cy[:, None]
    cov_xy = (mass * dx * dy).sum(1)
    cov_xx, cov_yy = (mass * dx * dx).sum(1), (mass * dy * dy).sum(1)
    angles = torch.rad2deg(0.5 * torch.atan2(2 * cov_xy, cov_xx - cov_yy)).abs()
    assert float(angles.max()) <= 30.5
    assert float(angles.max()) > 20.0  # the range is used


# ------------------------------------------------------- shapes, dtypes, devices
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(
    "params", [KERAS_POLICY, EVERYTHING, AugmentationParams(horizontal_flip=True)]
)
def test_shape_dtype_device_preserved(device, channels, dtype, params):
    x = _batch(n=5, c=channels, h=16, w=20, device=device).to(dtype)
    out = augment_batch(x, params, _gen(0, device))
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert out.is_contiguous()
    assert bool(torch.isfinite(out).all())
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "params",
    [EVERYTHING, AugmentationParams(horizontal_flip=True), AugmentationParams()],
    ids=["everything", "flip", "identity"],
)
def test_channels_last_preserved(device, params):
    x = _batch(n=4, c=3, h=16, w=16, device=device).contiguous(memory_format=torch.channels_last)
    out = augment_batch(x, params, _gen(0, device))
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert not out.is_contiguous()
    reference = augment_batch(x.contiguous(), params, _gen(0, device))
    torch.testing.assert_close(out, reference)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_geometry():
    x = _batch(n=8, c=1, h=24, w=24)
    theta = _affine_theta(24, 24, angle=torch.linspace(-30, 30, 8), shear=torch.full((8,), 0.2))
    cpu = _warp(x, theta, "border")
    cuda = _warp(x.cuda(), theta.cuda(), "border").cpu()
    torch.testing.assert_close(cuda, cpu, atol=1e-5, rtol=0)


# ------------------------------------------------------------------ properties
params_strategy = st.builds(
    AugmentationParams,
    brightness=st.none()
    | st.tuples(st.floats(0, 3), st.floats(0, 3)).map(lambda pair: tuple(sorted(pair))),
    horizontal_flip=st.booleans(),
    shear=st.floats(0, 2),
    rotation=st.floats(0, 180),
    translation=st.floats(0, 0.99),
    zoom=st.floats(0, 0.99),
    padding_mode=st.sampled_from(["border", "reflection", "zeros"]),
)


@settings(max_examples=60, deadline=None)
@given(
    params=params_strategy,
    n=st.integers(1, 6),
    channels=st.sampled_from([1, 3]),
    height=st.integers(1, 20),
    width=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
)
def test_output_stays_in_unit_range(params, n, channels, height, width, seed):
    x = torch.rand(n, channels, height, width, generator=_gen(seed))
    out = augment_batch(x, params, _gen(seed + 1))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert bool(torch.isfinite(out).all())
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_grid_equals_torch_affine_grid():
    theta = _affine_theta(
        12,
        20,
        flip=torch.tensor([True, False, True]),
        shear=torch.tensor([0.3, -0.2, 0.0]),
        angle=torch.tensor([10.0, -45.0, 170.0]),
        shift=torch.tensor([[0.1, -0.2], [0.0, 0.3], [-0.4, 0.0]]),
        zoom=torch.tensor([0.9, 1.2, 1.0]),
    )
    expected = torch.nn.functional.affine_grid(theta, [3, 1, 12, 20], align_corners=False)
    torch.testing.assert_close(_affine_grid(theta, 12, 20), expected, atol=1e-6, rtol=0)
