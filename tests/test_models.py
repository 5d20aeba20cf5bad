"""Tests of the CNN architectures in fer_toolkit.models and their registry."""

import copy
import inspect
import re

import pytest
import torch
from torch import nn

from fer_toolkit.models import (
    VGGFER,
    BaselineCNN,
    Conv4Dense3CNN,
    ModelInfo,
    UniformMaskDropout,
    available_models,
    get_model,
    model_info,
    register_model,
    unregister_model,
)
from fer_toolkit.models import registry as registry_module

# Light extras per model so the generic tests stay fast (VGG's 4096-wide FC layers
# have tens of millions of parameters).
LIGHT_KWARGS = {"baseline": {}, "conv4_dense3": {}, "vgg_fer": {"fc_width": 64}}
MIN_SIZE = {"baseline": 7, "conv4_dense3": 46, "vgg_fer": 16}
BUILTINS = ["baseline", "conv4_dense3", "vgg_fer"]
# Small inputs for the gradient / determinism tests.
FAST_SIZE = {"baseline": 32, "conv4_dense3": 48, "vgg_fer": 32}


@pytest.fixture
def restore_registry():
    saved = dict(registry_module._REGISTRY)
    yield
    registry_module._REGISTRY.clear()
    registry_module._REGISTRY.update(saved)


def n_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def n_running_stats(model):
    return sum(
        b.numel()
        for name, b in model.named_buffers()
        if name.endswith(("running_mean", "running_var"))
    )


def build(name, **kwargs):
    torch.manual_seed(0)
    return get_model(name)(**{**LIGHT_KWARGS[name], **kwargs})


# The mini-Xception joins the generic tests (its own are in test_pretrained.py).
BUILTINS.append("mini_xception")
LIGHT_KWARGS["mini_xception"] = {}
MIN_SIZE["mini_xception"] = 5
FAST_SIZE["mini_xception"] = 32


# --------------------------------------------------------------------------- conv4_dense3

# The Keras summary of amirhossein-hkh/facial-expression-recognition (48x48x1 input,
# 5 classes): our layer name, the Keras output shape (H, W, C) or (features,), and Keras'
# "Param #" (BatchNorm: gamma, beta, moving mean and moving variance).
CONV4_DENSE3_TABLE = [
    ("features.conv1", (46, 46, 64), 640),
    ("features.relu1", (46, 46, 64), 0),
    ("features.bn1", (46, 46, 64), 256),
    ("features.pool1", (23, 23, 64), 0),
    ("features.conv2", (21, 21, 128), 73856),
    ("features.dropout1", (21, 21, 128), 0),
    ("features.relu2", (21, 21, 128), 0),
    ("features.bn2", (21, 21, 128), 512),
    ("features.pool2", (10, 10, 128), 0),
    ("features.conv3", (8, 8, 256), 295168),
    ("features.relu3", (8, 8, 256), 0),
    ("features.bn3", (8, 8, 256), 1024),
    ("features.pool3", (4, 4, 256), 0),
    ("features.conv4", (2, 2, 256), 590080),
    ("features.relu4", (2, 2, 256), 0),
    ("features.bn4", (2, 2, 256), 1024),
    ("features.pool4", (1, 1, 256), 0),
    ("classifier.flatten", (256,), 0),
    ("classifier.fc1", (128,), 32896),
    ("classifier.relu5", (128,), 0),
    ("classifier.bn5", (128,), 512),
    ("classifier.dropout2", (128,), 0),
    ("classifier.fc2", (64,), 8256),
    ("classifier.relu6", (64,), 0),
    ("classifier.bn6", (64,), 256),
    ("classifier.fc3", (5,), 325),
]


def test_conv4_dense3_parameter_counts_match_keras():
    model = Conv4Dense3CNN(n_classes=5)
    assert n_trainable(model) == 1_003_013
    assert n_running_stats(model) == 1_792
    assert n_trainable(model) + n_running_stats(model) == 1_004_805


def test_conv4_dense3_parameter_count_formula_for_7_classes():
    def conv(c_in, c_out):
        return 9 * c_in * c_out + c_out

    def dense(n_in, n_out):
        return n_in * n_out + n_out

    bn_channels = [64, 128, 256, 256, 128, 64]
    expected = (
        conv(1, 64)
        + conv(64, 128)
        + conv(128, 256)
        + conv(256, 256)
        + dense(256, 128)
        + dense(128, 64)
        + dense(64, 7)
        + 2 * sum(bn_channels)
    )
    model = Conv4Dense3CNN(n_classes=7)
    assert n_trainable(model) == expected == 1_003_143
    assert n_running_stats(model) == 2 * sum(bn_channels)


def test_conv4_dense3_layers_shapes_and_params_match_the_keras_table():
    model = Conv4Dense3CNN(n_classes=5).eval()
    modules = dict(model.named_modules())
    leaf_names = [name for name, m in model.named_modules() if not list(m.children())]
    assert leaf_names == [name for name, _, _ in CONV4_DENSE3_TABLE]

    shapes = {}
    hooks = [
        modules[name].register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))
        )
        for name, _, _ in CONV4_DENSE3_TABLE
    ]
    with torch.no_grad():
        model(torch.zeros(2, 1, 48, 48))
    for h in hooks:
        h.remove()

    for name, keras_shape, keras_params in CONV4_DENSE3_TABLE:
        if len(keras_shape) == 3:  # Keras is channels-last
            keras_shape = (keras_shape[2], keras_shape[0], keras_shape[1])
        assert shapes[name] == keras_shape, name
        layer = modules[name]
        count = sum(p.numel() for p in layer.parameters()) + n_running_stats(layer)
        assert count == keras_params, name


def test_conv4_dense3_batchnorm_momentum_learns_on_small_data_keras_value_on_request():
    # PyTorch's 0.1 by default: Keras' 0.99 (0.01 here) lags far behind on short runs.
    for module in Conv4Dense3CNN().modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            assert module.momentum == pytest.approx(0.1)
    assert {
        m.momentum for m in Conv4Dense3CNN(bn_momentum=None).modules() if hasattr(m, "momentum")
    } == {None}
    for bad in (0, 1.5, "0.1", True):
        with pytest.raises(ValueError, match="bn_momentum"):
            Conv4Dense3CNN(bn_momentum=bad)


def test_conv4_dense3_layer_types_and_keras_batchnorm_defaults():
    model = Conv4Dense3CNN(bn_momentum=0.01)
    types = [type(m) for m in model.modules() if not list(m.children())]
    assert types[:4] == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d, nn.MaxPool2d]
    assert types[4:9] == [nn.Conv2d, UniformMaskDropout, nn.ReLU, nn.BatchNorm2d, nn.MaxPool2d]
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            assert m.padding == (0, 0) and m.kernel_size == (3, 3)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            assert m.momentum == pytest.approx(0.01)
            assert m.eps == pytest.approx(1e-3)


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5])
def test_uniform_mask_dropout_drops_p_and_scales_the_rest(p):
    torch.manual_seed(0)
    y = UniformMaskDropout(p)(torch.ones(1_000_000))
    scale = torch.tensor(1 / (1 - p), dtype=torch.float32)
    assert set(torch.unique(y).tolist()) == {0.0, scale.item()}
    # 1e6 draws: the dropped fraction is within 5 standard deviations of p.
    assert abs(float((y == 0).double().mean()) - p) < 5 * (p * (1 - p) / 1e6) ** 0.5


def test_uniform_mask_dropout_is_rand_compared_with_p_under_the_seed():
    x = torch.randn(8, 16, 21, 21)
    layer = UniformMaskDropout(0.25)
    torch.manual_seed(3)
    y = layer(x)
    torch.manual_seed(3)
    expected = x * (torch.rand_like(x) >= 0.25).float() * torch.tensor(1 / 0.75)
    assert torch.equal(y, expected)
    torch.manual_seed(3)
    assert torch.equal(layer(x), y)
    torch.manual_seed(3)
    # Another random stream than nn.Dropout's Bernoulli kernel.
    assert not torch.equal(nn.Dropout(0.25)(x) == 0, y == 0)


def test_uniform_mask_dropout_gradient_is_the_mask():
    x = torch.ones(4, 8, 5, 5, requires_grad=True)
    torch.manual_seed(1)
    y = UniformMaskDropout(0.5)(x)
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())
    assert set(torch.unique(x.grad).tolist()) == {0.0, 2.0}


def test_uniform_mask_dropout_keeps_layout_and_dtype():
    x = torch.randn(2, 8, 6, 6).to(memory_format=torch.channels_last)
    y = UniformMaskDropout(0.25)(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    half = UniformMaskDropout(0.25)(torch.ones(1000, dtype=torch.bfloat16))
    assert half.dtype == torch.bfloat16
    assert set(torch.unique(half.float()).tolist()) <= {0.0, float(torch.tensor(4 / 3).bfloat16())}


@pytest.mark.parametrize("case", ["eval", "p=0", "p=1", "inplace"])
def test_uniform_mask_dropout_falls_back_to_nn_dropout(case):
    x = torch.randn(64, 32)
    p = {"p=0": 0.0, "p=1": 1.0}.get(case, 0.3)
    ours = UniformMaskDropout(p, inplace=case == "inplace")
    reference = nn.Dropout(p, inplace=case == "inplace")
    if case == "eval":
        ours.eval()
        reference.eval()
    torch.manual_seed(5)
    expected = reference(x.clone())
    torch.manual_seed(5)
    assert torch.equal(ours(x.clone()), expected)


def test_conv4_dense3_larger_input_grows_the_first_dense_layer():
    # 64: 62->31->29->14->12->6->4->2, so 256 * 2 * 2 flattened features.
    model = Conv4Dense3CNN(image_size=64)
    assert model.classifier.fc1.in_features == 256 * 2 * 2
    model = Conv4Dense3CNN(image_size=(64, 48))
    assert model.classifier.fc1.in_features == 256 * 2 * 1


# --------------------------------------------------------------------------- VGG / baseline


def test_vgg_fer_paper_configuration():
    with torch.device("meta"):  # 30M parameters: count them without allocating
        model = VGGFER(image_size=40)  # the paper's 40x40 ten-crops
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert all(c.padding == (1, 1) and c.bias is not None for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.features) == 4
    assert model.classifier.fc1.in_features == 512 * 2 * 2
    assert model.classifier.fc1.out_features == model.classifier.fc2.out_features == 4096
    assert all(m.p == 0.2 for m in model.modules() if isinstance(m, nn.Dropout))
    assert n_trainable(model) == 29_890_759


def test_vgg_fer_flattened_size_follows_image_size():
    assert VGGFER(image_size=48, fc_width=8).classifier.fc1.in_features == 512 * 3 * 3
    assert VGGFER(image_size=(64, 40), fc_width=8).classifier.fc1.in_features == 512 * 4 * 2


def test_baseline_is_small_and_width_scales_it():
    model = BaselineCNN()
    assert 50_000 <= n_trainable(model) <= 300_000
    assert n_trainable(model) == 98_295
    assert n_trainable(BaselineCNN(width=16)) < n_trainable(model)
    # Global average pooling: the size does not change the parameter count.
    assert n_trainable(BaselineCNN(image_size=96)) == n_trainable(model)


# --------------------------------------------------------------------------- every model


def test_builtins_are_registered():
    assert set(BUILTINS) <= set(available_models())
    assert available_models() == sorted(available_models())
    assert get_model("baseline") is BaselineCNN
    assert get_model("conv4_dense3") is Conv4Dense3CNN
    assert get_model("vgg_fer") is VGGFER


def test_former_model_name_still_resolves_with_a_future_warning():
    # Saved models and backbones of earlier versions name "seed004".
    assert "seed004" not in available_models()
    with pytest.warns(FutureWarning, match="model 'seed004' is now called 'conv4_dense3'"):
        assert get_model("seed004") is Conv4Dense3CNN
    with pytest.warns(FutureWarning, match="now called 'conv4_dense3'"):
        assert model_info("seed004").name == "conv4_dense3"


@pytest.mark.parametrize("name", BUILTINS)
def test_constructor_signature(name):
    params = inspect.signature(get_model(name)).parameters
    assert params["in_channels"].default == 1
    assert params["n_classes"].default == 7
    assert params["image_size"].default == 48
    assert 0 <= params["dropout"].default < 1
    info = model_info(name)
    assert isinstance(info, ModelInfo)
    assert info.cls is get_model(name) and info.source and info.description


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("image_size", [48, 64, (64, 50)])
def test_output_shape(name, in_channels, image_size):
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    model = build(name, in_channels=in_channels, n_classes=5, image_size=image_size).eval()
    with torch.no_grad():
        out = model(torch.rand(3, in_channels, h, w))
    assert out.shape == (3, 5)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("name", BUILTINS)
def test_minimum_size_works_and_one_less_raises(name):
    m = MIN_SIZE[name]
    model = build(name, image_size=m).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, m, m)).shape == (2, 7)
    cls_name = get_model(name).__name__
    for too_small in (m - 1, (m + 10, m - 1), (m - 1, m + 10)):
        with pytest.raises(ValueError, match=cls_name) as err:
            build(name, image_size=too_small)
        message = str(err.value)
        assert f"{m}x{m}" in message  # the minimum
        assert str(m - 1) in message  # the offending size


@pytest.mark.parametrize("name", BUILTINS)
def test_backward_gives_finite_gradients_everywhere(name):
    size = FAST_SIZE[name]
    model = build(name, n_classes=4, image_size=size).train()
    x = torch.randn(4, 1, size, size)
    y = torch.tensor([0, 1, 2, 3])
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.requires_grad
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", BUILTINS)
def test_eval_mode_is_deterministic(name):
    size = FAST_SIZE[name]
    model = build(name, dropout=0.5, image_size=size).eval()
    x = torch.randn(3, 1, size, size)
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b)
    # copies (skorch clones, pickling) behave identically
    with torch.no_grad():
        assert torch.equal(copy.deepcopy(model)(x), a)


@pytest.mark.parametrize("name", BUILTINS)
def test_dropout_parameter_sets_every_dropout_layer(name):
    for p in (0.0, 0.1, 0.45):
        model = build(name, dropout=p)
        layers = [m for m in model.modules() if isinstance(m, nn.Dropout)]
        assert layers
        assert all(m.p == p for m in layers)


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"n_classes": 0}, ValueError),
        ({"in_channels": 0}, ValueError),
        ({"dropout": 1.0}, ValueError),
        ({"dropout": -0.1}, ValueError),
        ({"image_size": "48"}, TypeError),
        ({"image_size": (48, 48, 1)}, TypeError),
        ({"n_classes": 2.5}, TypeError),
    ],
)
def test_bad_arguments(name, kwargs, error):
    with pytest.raises(error, match=get_model(name).__name__):
        build(name, **kwargs)


# --------------------------------------------------------------------------- registry


def test_get_model_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match="unknown model 'resnet9000'") as err:
        get_model("resnet9000")
    for name in BUILTINS:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="baseline"):
        model_info("nope")


class _Tiny(nn.Module):
    def __init__(self, in_channels=1, n_classes=7, image_size=48, dropout=0.0):
        super().__init__()
        self.fc = nn.Linear(in_channels, n_classes)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))


def test_register_round_trip(restore_registry):
    register_model("tiny_test", _Tiny, source="the test suite", description="mean + linear")
    assert "tiny_test" in available_models()
    assert get_model("tiny_test") is _Tiny
    info = model_info("tiny_test")
    assert (info.name, info.source, info.description) == (
        "tiny_test",
        "the test suite",
        "mean + linear",
    )
    # Same class again: updates the metadata; another class under the name: refused.
    register_model("tiny_test", _Tiny, source="s2", description="d2")
    assert model_info("tiny_test").source == "s2"
    with pytest.raises(ValueError, match=re.escape("already registered")):
        register_model("tiny_test", BaselineCNN, source="s", description="d")
    out = get_model("tiny_test")(n_classes=3)(torch.zeros(2, 1, 8, 8))
    assert out.shape == (2, 3)
    unregister_model("tiny_test")
    assert "tiny_test" not in available_models()
    with pytest.raises(ValueError, match="tiny_test"):
        get_model("tiny_test")


def test_register_rejects_bad_input(restore_registry):
    with pytest.raises(TypeError, match="Module subclass"):
        register_model("x", object, source="s", description="d")
    with pytest.raises(TypeError, match="Module subclass"):
        register_model("x", _Tiny(), source="s", description="d")
    with pytest.raises(ValueError, match="empty"):
        register_model(" ", _Tiny, source="s", description="d")
    with pytest.raises(TypeError, match="source"):
        register_model("x", _Tiny, source=None, description="d")
    with pytest.raises(TypeError, match="str"):
        get_model(BaselineCNN)
    assert "x" not in available_models()


def test_width_arguments_are_checked():
    with pytest.raises(ValueError, match=r"BaselineCNN: width must be >= 1, got 0"):
        BaselineCNN(width=0)
    with pytest.raises(TypeError, match=r"VGGFER: fc_width must be an int"):
        VGGFER(fc_width="wide")
