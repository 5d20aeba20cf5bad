"""The prior-attention network of iTerner/Facial-Emotion-Detection: face, eye and mouth blocks.

The project is at https://github.com/iTerner/Facial-Emotion-Detection.
"""

from __future__ import annotations

import torch
from torch import nn

from ..utils.validation import InputError
from ._blocks import check_int, check_model_args, conv_bn_relu, min_input_size
from .baseline import baseline_feature_size, baseline_features

__all__ = ["PriorAttentionCNN"]

# The order of ``forward``'s arguments, as names of the dict keys the estimator passes.
_INPUTS = ("face", "eyes", "mouth")


def _block_feature_size(size: int) -> int:
    """Side length of a block branch's last map: two 2x2 max-pools (convs keep the size)."""
    return max(size, 0) // 2 // 2


def _pooled(*layers: nn.Module) -> nn.Sequential:
    """``layers`` followed by global average pooling to a flat feature vector."""
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


class PriorAttentionCNN(nn.Module):
    """Three-branch CNN over the face, the eye block and the mouth block (prior attention).

    The prior-attention approach of iTerner/Facial-Emotion-Detection
    (https://github.com/iTerner/Facial-Emotion-Detection, "Facial Expression
    Recognition Using Prior Attention") puts attention in the preprocessing: on the prior
    belief that most expression cues lie around the eyes and the mouth, it cuts
    an upper block (eyes and eyebrows) and a lower block (mouth) out of each
    face and feeds them to the network alongside the whole face. This module is
    a small, plain network of that shape: one convolutional branch per input,
    each ending in global average pooling, the three feature vectors
    concatenated and classified together::

        face   conv3x3/2(width/2) -> conv3x3(width) -> maxpool2
               -> conv3x3(2*width) -> maxpool2 -> conv3x3(4*width) -> GAP    4*width
        eyes   conv3x3(width/2) -> maxpool2 -> conv3x3(width) -> maxpool2
               -> conv3x3(2*width) -> GAP                                     2*width
        mouth  (as eyes, own weights)                                         2*width
        head   concat(8*width) -> dropout -> linear(2*width) -> ReLU
               -> dropout -> linear(n_classes)

    Every ``conv3x3`` is followed by BatchNorm and ReLU (convolutions without
    bias, as they feed BatchNorm). The face branch is the feature extractor of
    :class:`~fer_toolkit.models.BaselineCNN`; the block branches skip its
    stride-2 stem, since the blocks are small crops whose detail matters.
    Because every branch ends in global pooling, the parameter count depends
    on neither the face size nor the block sizes, and the blocks may have any
    size of at least 4x4 (the face at least 7x7). ``forward`` returns logits.

    The project's own layer sizes are in its report, which is not public here;
    this is an independent design following its description.

    Parameters
    ----------
    in_channels : int, default=1
        Channels of all three inputs (1 for grayscale, 3 for RGB).
    n_classes : int, default=7
        Number of output logits.
    image_size : int or (int, int), default=48
        Face (height, width); an int means a square face. At least 7. Only
        validated, like :class:`~fer_toolkit.models.BaselineCNN`'s: the network
        adapts to any size. Block sizes need no declaration.
    dropout : float, default=0.3
        Drop probability before each of the two linear layers of the head.
    width : int, default=32
        Channel scale of all branches (see the diagram); ``width / 2`` means
        ``max(width // 2, 1)``.

    Attributes
    ----------
    face_branch, eyes_branch, mouth_branch : torch.nn.Sequential
        The three feature extractors, each ending in ``AdaptiveAvgPool2d(1)``
        and ``Flatten``.
    classifier : torch.nn.Sequential
        The fusion head over the concatenated features.

    Notes
    -----
    Trainable parameters with the defaults (width 32, 1 input channel,
    7 classes): 161,111 -- face branch 97,392, each block branch 23,408,
    head 16,903. ``width=8`` gives 10,427.

    The estimator :class:`~fer_toolkit.estimators.CNNClassifier` trains it on a
    dict (or :class:`skorch.helper.SliceDict`) of image batches with the keys
    ``"face"``, ``"eyes"`` and ``"mouth"``, as
    :class:`~fer_toolkit.preprocessing.EyeMouthBlocks` returns with
    ``output="dict"``; skorch passes the keys as keyword arguments of
    ``forward``.

    References
    ----------
    .. [1] iTerner, "Facial-Emotion-Detection" (Facial Expression Recognition
       Using Prior Attention), GitHub README, sections "Attention Mechanism"
       and "Architecture".

    Examples
    --------
    >>> import torch
    >>> from fer_toolkit.models import PriorAttentionCNN
    >>> model = PriorAttentionCNN(n_classes=4, width=8).eval()
    >>> face = torch.zeros(2, 1, 48, 48)
    >>> eyes, mouth = torch.zeros(2, 1, 20, 44), torch.zeros(2, 1, 16, 28)
    >>> with torch.no_grad():
    ...     logits = model(face, eyes, mouth)
    >>> logits.shape
    torch.Size([2, 4])
    >>> sum(p.numel() for p in PriorAttentionCNN().parameters())
    161111
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
        self.in_channels = in_channels
        self.face_branch = _pooled(*baseline_features(in_channels, width))
        self.eyes_branch = self._block_branch(in_channels, width)
        self.mouth_branch = self._block_branch(in_channels, width)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(8 * width, 2 * width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(2 * width, n_classes),
        )

    @staticmethod
    def _block_branch(in_channels: int, width: int) -> nn.Sequential:
        half = max(width // 2, 1)
        return _pooled(
            *conv_bn_relu(in_channels, half),
            nn.MaxPool2d(2),
            *conv_bn_relu(half, width),
            nn.MaxPool2d(2),
            *conv_bn_relu(width, 2 * width),
        )

    def _check_input(self, name: str, x: torch.Tensor, feature_size) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(
                f"{type(self).__name__}: {name} has shape {tuple(x.shape)}; expected "
                f"(N, {self.in_channels}, H, W)"
            )
        if feature_size(x.shape[2]) < 1 or feature_size(x.shape[3]) < 1:
            minimum = min_input_size(feature_size)
            raise InputError(
                f"{type(self).__name__}: {name} images are {x.shape[2]}x{x.shape[3]}; "
                f"the {name} branch needs at least {minimum}x{minimum}"
            )

    def forward(self, face: torch.Tensor, eyes: torch.Tensor, mouth: torch.Tensor) -> torch.Tensor:
        """Return logits ``(N, n_classes)`` for three ``(N, C, H, W)`` batches of one ``N``.

        Raises
        ------
        ValueError
            An input is not 4-D with ``in_channels`` channels, is smaller than
            its branch accepts, or the batch sizes differ; the message names
            the input.
        """
        sizes = {}
        for name, x in zip(_INPUTS, (face, eyes, mouth), strict=True):
            feature_size = baseline_feature_size if name == "face" else _block_feature_size
            self._check_input(name, x, feature_size)
            sizes[name] = x.shape[0]
        if len(set(sizes.values())) != 1:
            raise InputError(
                f"{type(self).__name__}: the inputs hold different numbers of images {sizes}"
            )
        features = torch.cat(
            [self.face_branch(face), self.eyes_branch(eyes), self.mouth_branch(mouth)], dim=1
        )
        return self.classifier(features)
