"""The 5-class Keras CNN of amirhossein-hkh/facial-expression-recognition, in PyTorch.

The project is at https://github.com/amirhossein-hkh/facial-expression-recognition.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..utils.validation import InputError
from ._blocks import check_model_args, keras_init_
from .layers import UniformMaskDropout

__all__ = ["Conv4Dense3CNN"]

# Keras' BatchNormalization epsilon. Its momentum (moving = 0.99 * moving + 0.01 * batch,
# PyTorch's momentum=0.01) is not the default here: see the class docstring.
_BN_EPS = 1e-3
_CHANNELS = (64, 128, 256, 256)


def _feature_size(size: int) -> int:
    """Side length after the four ``conv3x3('valid') -> maxpool2`` stages."""
    for _ in _CHANNELS:
        size = max(size - 2, 0) // 2
    return size


class Conv4Dense3CNN(nn.Module):
    """The 4-conv + 3-dense Keras CNN of amirhossein-hkh/facial-expression-recognition.

    The project's README (amirhossein-hkh/facial-expression-recognition [1]_,
    Keras 2.2.4) prints its model summary for 48x48x1 faces and 5 classes (happy, sad, surprise,
    angry, neutral). This module reproduces that table::

        conv3x3(64, 'valid') -> ReLU -> BN -> maxpool2          46 -> 23
        conv3x3(128)  -> dropout -> ReLU -> BN -> maxpool2      21 -> 10
        conv3x3(256)  -> ReLU -> BN -> maxpool2                  8 ->  4
        conv3x3(256)  -> ReLU -> BN -> maxpool2                  2 ->  1
        flatten -> dense128 -> ReLU -> BN -> dropout
                -> dense64  -> ReLU -> BN -> dense(n_classes)

    Convolutions are unpadded ('valid') and max-pooling floors odd sizes
    (21 -> 10), as in Keras. The Keras model ends with a softmax; this module
    returns **logits** instead (the estimators train it with
    :class:`torch.nn.CrossEntropyLoss`, which applies log-softmax itself).

    BatchNorm layers use Keras' ``eps=1e-3`` but PyTorch's ``momentum=0.1``
    (see ``bn_momentum``). Weights are initialised like Keras
    (Glorot-uniform kernels, zero biases) unless ``keras_init=False``.
    The flattened features are in PyTorch's channel-first order; that differs
    from Keras' channel-last order only when the last feature map is larger
    than 1x1 (a side of 62 or more), which matters only when porting weights.

    Parameters
    ----------
    in_channels : int, default=1
        Number of input channels (1 for grayscale, 3 for RGB).
    n_classes : int, default=7
        Number of output logits.
    image_size : int or (int, int), default=48
        Input (height, width); an int means a square image. At least 46
        (the size that leaves a 1x1 map after the fourth pooling); larger
        inputs give a larger flattened vector and first dense layer.
    dropout : float, default=0.25
        Drop probability of both dropout layers (after the second convolution
        and after the first dense layer). The project's README does not state its
        rates; 0.25 is a common Keras choice. The layers are
        :class:`~fer_toolkit.models.UniformMaskDropout`: the first drops from
        3.6 million activations per batch of 64, and PyTorch's own CPU masks take
        3x as long on processors other than Intel's.
    keras_init : bool, default=True
        Initialise weights as Keras does (Glorot-uniform, zero bias); if
        False, keep PyTorch's default initialisation.
    bn_momentum : float or None, default=0.1
        Weight of each new batch in the BatchNorm running statistics
        (PyTorch's convention; None: a cumulative average). Keras' default,
        ``momentum=0.99``, is ``bn_momentum=0.01`` here: pass that for layer
        for layer parity with the Keras model. It is not the default because it
        learns too slowly for small data: after the ~150 updates of 10 epochs
        on 1,050 faces, ``0.99 ** 150 = 22 %`` of each running statistic is
        still its initial value (mean 0, variance 1), and the network, whose
        training loss falls to 0.45, scores at chance (0.15 test accuracy,
        7 classes) in evaluation mode. :class:`~fer_toolkit.estimators.CNNClassifier`
        also recomputes the statistics over the training data at the end of
        ``fit``, whatever the momentum (see its Notes).

    Attributes
    ----------
    features : torch.nn.Sequential
        The convolutional part, with named layers ``conv1 .. conv4``,
        ``relu1 ..``, ``bn1 ..``, ``pool1 .. pool4`` and ``dropout1``.
    classifier : torch.nn.Sequential
        ``flatten, fc1, relu5, bn5, dropout2, fc2, relu6, bn6, fc3``.

    Notes
    -----
    Parameter count at 48x48x1 and 5 classes: 1,003,013 trainable parameters
    plus 1,792 BatchNorm running statistics (running mean and variance of
    896 channels) = 1,004,805, exactly Keras' "Total params". With
    ``n_classes`` classes the trainable count is ``1,002,688 + 65 * n_classes``
    (1,003,143 for 7 classes).

    Small data, default settings (``CNNClassifier(module="conv4_dense3")``, 10
    epochs, on the 1,050 training faces of
    ``make_synthetic_faces(n_samples=1400, random_state=0)`` split as in the
    README; 350 test faces, 7 classes, chance 0.14), test accuracy by
    ``random_state``, from one training each (the weights do not depend on
    the momentum; ``benchmarks/bench_conv4_dense3_small_data.py``):

    ====  ===============  ===================  ===========================
    seed  Keras' momentum  ``bn_momentum=0.1``  0.1 + statistics recomputed
    ====  ===============  ===================  ===========================
    0     0.143            0.531                0.551
    1     0.143            0.620                0.651
    2     0.143            0.491                0.586
    ====  ===============  ===================  ===========================

    The last column is what ``CNNClassifier`` gives by default.

    References
    ----------
    .. [1] amirhossein-hkh, "facial-expression-recognition", GitHub README,
       section "CNN" (Keras model summary),
       https://github.com/amirhossein-hkh/facial-expression-recognition

    Examples
    --------
    >>> import torch
    >>> from fer_toolkit.models import Conv4Dense3CNN
    >>> model = Conv4Dense3CNN(n_classes=5).eval()
    >>> with torch.no_grad():
    ...     logits = model(torch.zeros(2, 1, 48, 48))
    >>> logits.shape
    torch.Size([2, 5])
    >>> sum(p.numel() for p in model.parameters() if p.requires_grad)
    1003013
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 7,
        image_size: int | tuple[int, int] = 48,
        dropout: float = 0.25,
        keras_init: bool = True,
        bn_momentum: float | None = 0.1,
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
        if bn_momentum is not None and (
            isinstance(bn_momentum, bool)
            or not isinstance(bn_momentum, (int, float))
            or not 0 < bn_momentum <= 1
        ):
            raise InputError(
                f"{type(self).__name__}: bn_momentum must be a number in (0, 1] or None, "
                f"got {bn_momentum!r}."
            )
        self.image_size = (h, w)
        c1, c2, c3, c4 = _CHANNELS

        def bn2d(c):
            return nn.BatchNorm2d(c, eps=_BN_EPS, momentum=bn_momentum)

        def bn1d(c):
            return nn.BatchNorm1d(c, eps=_BN_EPS, momentum=bn_momentum)

        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(in_channels, c1, 3)),
                    ("relu1", nn.ReLU(inplace=True)),
                    ("bn1", bn2d(c1)),
                    ("pool1", nn.MaxPool2d(2)),
                    ("conv2", nn.Conv2d(c1, c2, 3)),
                    ("dropout1", UniformMaskDropout(dropout)),
                    ("relu2", nn.ReLU(inplace=True)),
                    ("bn2", bn2d(c2)),
                    ("pool2", nn.MaxPool2d(2)),
                    ("conv3", nn.Conv2d(c2, c3, 3)),
                    ("relu3", nn.ReLU(inplace=True)),
                    ("bn3", bn2d(c3)),
                    ("pool3", nn.MaxPool2d(2)),
                    ("conv4", nn.Conv2d(c3, c4, 3)),
                    ("relu4", nn.ReLU(inplace=True)),
                    ("bn4", bn2d(c4)),
                    ("pool4", nn.MaxPool2d(2)),
                ]
            )
        )
        n_flat = c4 * _feature_size(h) * _feature_size(w)
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("flatten", nn.Flatten()),
                    ("fc1", nn.Linear(n_flat, 128)),
                    ("relu5", nn.ReLU(inplace=True)),
                    ("bn5", bn1d(128)),
                    ("dropout2", UniformMaskDropout(dropout)),
                    ("fc2", nn.Linear(128, 64)),
                    ("relu6", nn.ReLU(inplace=True)),
                    ("bn6", bn1d(64)),
                    ("fc3", nn.Linear(64, n_classes)),
                ]
            )
        )
        if keras_init:
            keras_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits of shape ``(N, n_classes)`` for ``x`` of shape ``(N, C, H, W)``."""
        return self.classifier(self.features(x))
