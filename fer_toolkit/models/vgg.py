"""The VGG variant of Khaireddin & Chen (2021) for FER2013."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._blocks import check_int, check_model_args

__all__ = ["VGGFER"]

_STAGES = (64, 128, 256, 512)


def _feature_size(size: int) -> int:
    """Side length after four (same-padded convs + 2x2 max-pool) stages."""
    return max(size, 0) // 2 ** len(_STAGES)


class VGGFER(nn.Module):
    """VGG network of Khaireddin & Chen (2021), 73.28% on FER2013 (single network).

    Four stages of two ``conv3x3(padding 1) -> BatchNorm -> ReLU`` blocks, each
    stage followed by a 2x2 max-pool, with 64, 128, 256 and 512 channels; then
    flatten and three fully connected layers::

        [conv3x3 -> BN -> ReLU] x 2 -> maxpool2     64 channels   40 -> 20
        [conv3x3 -> BN -> ReLU] x 2 -> maxpool2    128 channels   20 -> 10
        [conv3x3 -> BN -> ReLU] x 2 -> maxpool2    256 channels   10 ->  5
        [conv3x3 -> BN -> ReLU] x 2 -> maxpool2    512 channels    5 ->  2
        flatten -> fc(4096) -> dropout -> ReLU
                -> fc(4096) -> dropout -> ReLU -> fc(n_classes)

    Details confirmed from the authors' code (GitHub ``usef-kh/fer``):
    ``models/vgg.py`` (layer sizes, convolutions with bias, PyTorch-default
    BatchNorm, dropout applied to the output of each of the two hidden fully
    connected layers, default drop probability 0.2, which ``train.py`` uses
    because ``utils/setup_network.py`` builds ``Vgg()`` without arguments);
    ``data/fer2013.py`` (48x48 FER2013 images, pixels divided by 255,
    ``TenCrop(40)``: the network sees **40x40** crops, hence its first fully
    connected layer of 512 * 2 * 2 inputs; training augmentation with random
    resized crops, shifts, flips, rotations and random erasing); and
    ``utils/loops.py`` (at test time the logits of the ten crops are averaged).
    Training in ``train.py``: SGD with Nesterov momentum 0.9, learning rate
    0.01, weight decay 1e-4, ``ReduceLROnPlateau(mode='max', factor=0.75,
    patience=5)``, batch size 64, 300 epochs.

    Here the input size is a parameter: the first fully connected layer has
    ``512 * (H // 16) * (W // 16)`` inputs, so ``image_size=40`` gives the
    paper's network exactly and the default 48 takes whole 48x48 faces
    (3x3 final map). Cropping and crop averaging belong to the training and
    prediction procedure, not to this module. ``forward`` returns logits
    (the original also returns logits and trains with cross-entropy).

    Parameters
    ----------
    in_channels : int, default=1
        Number of input channels (the paper uses 1, grayscale).
    n_classes : int, default=7
        Number of output logits.
    image_size : int or (int, int), default=48
        Input (height, width); an int means a square image. At least 16.
        Use 40 for the paper's 40x40 crops.
    dropout : float, default=0.2
        Drop probability after each hidden fully connected layer (the
        authors' default).
    fc_width : int, default=4096
        Width of the two hidden fully connected layers (4096 in the paper).
        Smaller values give a much lighter model.

    Notes
    -----
    Parameter counts (1 input channel, 7 classes, ``fc_width=4096``):
    40x40 input (the paper): 29,890,759; 48x48 input: 40,376,519; most of
    them in the first two fully connected layers. The convolutional part has
    4,688,064 parameters (3,840 of them BatchNorm weights and
    biases).

    References
    ----------
    .. [1] Y. Khaireddin and Z. Chen, "Facial Emotion Recognition: State of
       the Art Performance on FER2013", arXiv:2105.03588, 2021.
    .. [2] https://github.com/usef-kh/fer (``models/vgg.py``,
       ``data/fer2013.py``, ``train.py``).

    Examples
    --------
    >>> import torch
    >>> from fer_toolkit.models import VGGFER
    >>> model = VGGFER(image_size=40, fc_width=256).eval()
    >>> with torch.no_grad():
    ...     logits = model(torch.zeros(2, 1, 40, 40))
    >>> logits.shape
    torch.Size([2, 7])
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 7,
        image_size: int | tuple[int, int] = 48,
        dropout: float = 0.2,
        fc_width: int = 4096,
    ):
        super().__init__()
        name = type(self).__name__
        h, w = check_model_args(
            name,
            in_channels=in_channels,
            n_classes=n_classes,
            image_size=image_size,
            dropout=dropout,
            feature_size=_feature_size,
        )
        fc_width = check_int(fc_width, "fc_width", name, minimum=1)
        self.image_size = (h, w)

        layers: list[tuple[str, nn.Module]] = []
        c_in = in_channels
        for stage, c_out in enumerate(_STAGES, start=1):
            for sub in "ab":
                layers += [
                    (f"conv{stage}{sub}", nn.Conv2d(c_in, c_out, 3, padding=1)),
                    (f"bn{stage}{sub}", nn.BatchNorm2d(c_out)),
                    (f"relu{stage}{sub}", nn.ReLU(inplace=True)),
                ]
                c_in = c_out
            layers.append((f"pool{stage}", nn.MaxPool2d(2)))
        self.features = nn.Sequential(OrderedDict(layers))

        n_flat = _STAGES[-1] * _feature_size(h) * _feature_size(w)
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("flatten", nn.Flatten()),
                    ("fc1", nn.Linear(n_flat, fc_width)),
                    ("dropout1", nn.Dropout(dropout)),
                    ("relu1", nn.ReLU(inplace=True)),
                    ("fc2", nn.Linear(fc_width, fc_width)),
                    ("dropout2", nn.Dropout(dropout)),
                    ("relu2", nn.ReLU(inplace=True)),
                    ("fc3", nn.Linear(fc_width, n_classes)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits of shape ``(N, n_classes)`` for ``x`` of shape ``(N, C, H, W)``."""
        return self.classifier(self.features(x))
