"""A small, fast CNN: the default model of the quickstart."""

from __future__ import annotations

import torch
from torch import nn

from ._blocks import check_int, check_model_args, conv_bn_relu

__all__ = ["BaselineCNN"]


def baseline_feature_size(size: int) -> int:
    """Side length after the stride-2 stem and the two 2x2 max-pools."""
    if size < 1:
        return 0
    size = (size - 1) // 2 + 1  # conv3x3, stride 2, padding 1
    return size // 2 // 2


def baseline_features(in_channels: int, width: int) -> nn.Sequential:
    """The convolutional part of :class:`BaselineCNN`: ``(N, C, H, W)`` to ``4 * width`` maps.

    Shared with the face branch of
    :class:`~fer_toolkit.models.PriorAttentionCNN`.
    """
    stem = max(width // 2, 1)
    return nn.Sequential(
        *conv_bn_relu(in_channels, stem, stride=2),
        *conv_bn_relu(stem, width),
        nn.MaxPool2d(2),
        *conv_bn_relu(width, 2 * width),
        nn.MaxPool2d(2),
        *conv_bn_relu(2 * width, 4 * width),
    )


class BaselineCNN(nn.Module):
    """A small CNN for 48x48 faces that trains quickly on a CPU.

    In the spirit of the hand-made Keras baselines (a few conv3x3 + BatchNorm +
    ReLU blocks with max-pooling and a dropout-regularised classifier) of the
    Facial Emotion Recognition project
    (https://github.com/muscak/Facial-Emotion-Recognition), tuned for speed: a
    stride-2 stem halves the input before the wider blocks, so no wide feature
    map is ever computed at full resolution::

        stem   conv3x3/2(width/2) -> BN -> ReLU                48 -> 24
        block1 conv3x3(width)     -> BN -> ReLU -> maxpool2     24 -> 12
        block2 conv3x3(2*width)   -> BN -> ReLU -> maxpool2     12 ->  6
        block3 conv3x3(4*width)   -> BN -> ReLU                  6
        global average pool -> dropout -> linear(n_classes)

    Because of the global average pooling the parameter count does not
    depend on ``image_size``; any input of at least 7x7 works.
    ``forward`` returns logits (no softmax).

    Parameters
    ----------
    in_channels : int, default=1
        Number of input channels (1 for grayscale, 3 for RGB).
    n_classes : int, default=7
        Number of output logits.
    image_size : int or (int, int), default=48
        Input (height, width); an int means a square image. At least 7.
        Only validated: the architecture adapts to any size.
    dropout : float, default=0.3
        Drop probability before the final linear layer.
    width : int, default=32
        Channels of block1; the stem has ``width // 2`` (at least 1), block2
        ``2 * width`` and block3 ``4 * width``.

    Notes
    -----
    With the defaults (width 32, 1 input channel, 7 classes) the model has
    98,295 trainable parameters (convolutions without bias, as they feed
    BatchNorm). Training throughput on a 2-core AMD EPYC (Zen 4) CPU with
    torch's default threads, batch 64 at 48x48, Adam: about 2,000 images/s.

    Examples
    --------
    >>> import torch
    >>> from fer_toolkit.models import BaselineCNN
    >>> model = BaselineCNN(n_classes=7).eval()
    >>> with torch.no_grad():
    ...     logits = model(torch.zeros(2, 1, 48, 48))
    >>> logits.shape
    torch.Size([2, 7])
    >>> sum(p.numel() for p in model.parameters())
    98295
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 7,
        image_size: int | tuple[int, int] = 48,
        dropout: float = 0.3,
        width: int = 32,
    ):
        super().__init__()
        name = type(self).__name__
        h, w = check_model_args(
            name,
            in_channels=in_channels,
            n_classes=n_classes,
            image_size=image_size,
            dropout=dropout,
            feature_size=baseline_feature_size,
        )
        width = check_int(width, "width", name, minimum=1)
        self.image_size = (h, w)
        self.features = baseline_features(in_channels, width)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(4 * width, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits of shape ``(N, n_classes)`` for ``x`` of shape ``(N, C, H, W)``."""
        return self.classifier(self.features(x))
