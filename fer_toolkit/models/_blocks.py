"""Layers and argument checks shared by the CNNs in :mod:`fer_toolkit.models`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral, Real

from torch import nn

from ..utils.validation import InputError

__all__ = [
    "check_model_args",
    "conv_bn_relu",
    "keras_init_",
    "min_input_size",
]


def check_int(value, what: str, model: str, *, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; errors name the model and the argument."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{model}: {what} must be an int, got {value!r}")
    if value < minimum:
        raise InputError(f"{model}: {what} must be >= {minimum}, got {value}")
    return int(value)


def _as_hw(image_size, model: str) -> tuple[int, int]:
    if isinstance(image_size, Integral) and not isinstance(image_size, bool):
        h = w = image_size
    elif (
        isinstance(image_size, Sequence)
        and not isinstance(image_size, str)
        and len(image_size) == 2
        and all(isinstance(v, Integral) and not isinstance(v, bool) for v in image_size)
    ):
        h, w = image_size
    else:
        raise TypeError(
            f"{model}: image_size must be an int or a (height, width) pair of ints, "
            f"got {image_size!r}"
        )
    if h < 1 or w < 1:
        raise InputError(f"{model}: image_size must be positive, got {image_size!r}")
    return int(h), int(w)


def min_input_size(feature_size: Callable[[int], int], limit: int = 4096) -> int:
    """Smallest side length ``s`` for which ``feature_size(s) >= 1``.

    ``feature_size`` maps an input side length to the side length of the last
    feature map; it must be non-decreasing in ``s``.
    """
    for s in range(1, limit + 1):
        if feature_size(s) >= 1:
            return s
    raise InputError(f"no input size up to {limit} gives a non-empty feature map")


def check_model_args(
    model: str,
    *,
    in_channels,
    n_classes,
    image_size,
    dropout,
    feature_size: Callable[[int], int],
) -> tuple[int, int]:
    """Validate the common constructor arguments of a model.

    Parameters
    ----------
    model : str
        Class name, used in error messages.
    in_channels, n_classes, image_size, dropout
        The constructor arguments shared by every model.
    feature_size : callable
        Maps an input side length to the side length of the model's last feature
        map (the same function is used for height and width).

    Returns
    -------
    (height, width) : tuple of int
        ``image_size`` as a pair.

    Raises
    ------
    TypeError
        An argument has the wrong type.
    ValueError
        An argument is out of range, or ``image_size`` is smaller than the
        architecture accepts (the message names the minimum size).
    """
    check_int(in_channels, "in_channels", model, minimum=1)
    check_int(n_classes, "n_classes", model, minimum=1)
    if isinstance(dropout, bool) or not isinstance(dropout, Real):
        raise TypeError(f"{model}: dropout must be a float in [0, 1), got {dropout!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise InputError(f"{model}: dropout must be in [0, 1), got {dropout!r}")
    h, w = _as_hw(image_size, model)
    if feature_size(h) < 1 or feature_size(w) < 1:
        minimum = min_input_size(feature_size)
        raise InputError(
            f"{model} needs image_size of at least {minimum}x{minimum} (height x width), "
            f"got {h}x{w}"
        )
    return h, w


def conv_bn_relu(
    in_channels: int, out_channels: int, *, stride: int = 1, bias: bool = False
) -> list[nn.Module]:
    """``Conv2d(3x3, padding 1) -> BatchNorm2d -> ReLU`` as a list of layers."""
    return [
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


def keras_init_(module: nn.Module) -> nn.Module:
    """Initialise like Keras: Glorot-uniform kernels, zero biases (in place).

    BatchNorm layers keep PyTorch's initialisation, which equals Keras'
    (gamma 1, beta 0, moving mean 0, moving variance 1).
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module
