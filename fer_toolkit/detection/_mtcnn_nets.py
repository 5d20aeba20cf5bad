"""MTCNN's P-Net, R-Net and O-Net as PyTorch modules, with the pretrained Keras weights.

The weights are those bundled with the PyPI package ``mtcnn`` (MIT licence):
``mtcnn/assets/weights/{pnet,rnet,onet}.lz4``, each a joblib file holding the
list of numpy arrays that ``keras.Model.get_weights()`` returns, in layer
order. They are located through the package's installed metadata, so neither
``mtcnn`` nor TensorFlow is imported.

Keras layouts and their conversion:

* ``Conv2D`` kernels are ``(kh, kw, in, out)``; PyTorch wants ``(out, in, kh, kw)``.
* ``PReLU`` alphas are ``(1, 1, C)`` (shared over space) or ``(F,)``: one per channel
  or feature, as ``torch.nn.PReLU(C)``.
* ``Dense`` kernels are ``(in, out)``; PyTorch wants ``(out, in)``.
* R-Net and O-Net apply ``Permute((2, 1, 3))`` before ``Flatten``: features are
  flattened in ``(width, height, channel)`` order. The first dense kernel is
  re-ordered once to PyTorch's ``(channel, height, width)`` flattening instead.
* ``MaxPooling2D(padding="same")`` pads at the end only in all three networks
  (the input sizes make TensorFlow's ``pad_before = total // 2`` zero), which is
  what ``ceil_mode=True`` does; a test checks every network against a NumPy
  implementation of the Keras layers.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import joblib
import numpy as np
import torch
from torch import nn

__all__ = ["ONet", "PNet", "RNet", "load_keras_weights"]


def load_keras_weights(name: str) -> list[np.ndarray]:
    """Read the list of Keras weight arrays of ``"pnet"``, ``"rnet"`` or ``"onet"``.

    Raises
    ------
    ImportError
        If the ``mtcnn`` package (which holds the weights) is not installed.
    FileNotFoundError
        If the installed package lacks the weight file.
    """
    try:
        dist = importlib.metadata.distribution("mtcnn")
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(
            "MTCNN needs the pretrained weights bundled with the PyPI package 'mtcnn' "
            "(pip install 'mtcnn>=1.0'; TensorFlow is not needed)."
        ) from None
    path = Path(dist.locate_file(f"mtcnn/assets/weights/{name}.lz4"))
    if not path.is_file():
        raise FileNotFoundError(
            f"the installed mtcnn {dist.version} has no weight file {path}; reinstall 'mtcnn>=1.0'."
        )
    return list(joblib.load(path))


def _conv(kernel: np.ndarray, bias: np.ndarray) -> nn.Conv2d:
    kh, kw, n_in, n_out = kernel.shape
    layer = nn.Conv2d(n_in, n_out, (kh, kw))
    layer.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    layer.bias.data = torch.from_numpy(np.ascontiguousarray(bias))
    return layer


def _prelu(alpha: np.ndarray) -> nn.PReLU:
    alpha = np.ascontiguousarray(alpha.reshape(-1))
    layer = nn.PReLU(alpha.size)
    layer.weight.data = torch.from_numpy(alpha)
    return layer


def _dense(kernel: np.ndarray, bias: np.ndarray, permuted_chw=None) -> nn.Linear:
    """A Linear layer; ``permuted_chw=(C, H, W)`` re-orders inputs flattened as (W, H, C)."""
    n_in, n_out = kernel.shape
    if permuted_chw is not None:
        c, h, w = permuted_chw
        kernel = kernel.reshape(w, h, c, n_out).transpose(2, 1, 0, 3).reshape(n_in, n_out)
    layer = nn.Linear(n_in, n_out)
    layer.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.T))
    layer.bias.data = torch.from_numpy(np.ascontiguousarray(bias))
    return layer


class _MaxPool2x2Same(nn.Module):
    """2 x 2, stride 2 max-pooling with Keras' ``padding="same"`` (odd sides pad at the end).

    Equal to ``nn.MaxPool2d(2, 2, ceil_mode=True)``; the maximum of four strided
    views is about 3 times faster on CPU for P-Net's 10-channel maps, which
    saves 2-8% of a whole detection.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if height % 2 or width % 2:
            x = nn.functional.pad(x, (0, width % 2, 0, height % 2), value=float("-inf"))
        return torch.maximum(
            torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
            torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]),
        )


def _conv_block(weights: list[np.ndarray], pool: int | None = None, same: bool = False):
    """conv -> PReLU [-> max-pool ``pool`` x ``pool``, stride 2] from ``[kernel, bias, alpha]``.

    ``same`` selects Keras' ``padding="same"`` pooling (else ``"valid"``).
    """
    layers = [_conv(weights[0], weights[1]), _prelu(weights[2])]
    if pool == 2 and same:
        layers.append(_MaxPool2x2Same())
    elif pool is not None:
        layers.append(nn.MaxPool2d(pool, 2, ceil_mode=same))
    return layers


class PNet(nn.Module):
    """Proposal network: fully convolutional, any input size >= 12 x 12.

    ``forward(x)`` maps normalised ``(N, 3, H, W)`` images to box offsets
    ``(N, 4, H', W')`` and face/non-face softmax ``(N, 2, H', W')``; each output
    cell sees a 12 x 12 window, with a stride of 2 pixels.
    """

    def __init__(self, weights: list[np.ndarray]):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_block(weights[0:3], pool=2, same=True),
            *_conv_block(weights[3:6]),
            *_conv_block(weights[6:9]),
        )
        self.offsets = _conv(weights[9], weights[10])
        self.logits = _conv(weights[11], weights[12])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.offsets(features), torch.softmax(self.logits(features), dim=1)


class RNet(nn.Module):
    """Refinement network on 24 x 24 crops: box offsets ``(N, 4)``, softmax ``(N, 2)``."""

    def __init__(self, weights: list[np.ndarray]):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_block(weights[0:3], pool=3, same=True),
            *_conv_block(weights[3:6], pool=3),
            *_conv_block(weights[6:9]),
            nn.Flatten(),
            _dense(weights[9], weights[10], permuted_chw=(64, 3, 3)),
            _prelu(weights[11]),
        )
        self.offsets = _dense(weights[12], weights[13])
        self.logits = _dense(weights[14], weights[15])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.offsets(features), torch.softmax(self.logits(features), dim=1)


class ONet(nn.Module):
    """Output network on 48 x 48 crops: offsets ``(N, 4)``, landmarks ``(N, 10)``, softmax.

    Landmarks are fractions of the crop: five x coordinates, then five y.
    """

    def __init__(self, weights: list[np.ndarray]):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_block(weights[0:3], pool=3, same=True),
            *_conv_block(weights[3:6], pool=3),
            *_conv_block(weights[6:9], pool=2, same=True),
            *_conv_block(weights[9:12]),
            nn.Flatten(),
            _dense(weights[12], weights[13], permuted_chw=(128, 3, 3)),
            _prelu(weights[14]),
        )
        self.offsets = _dense(weights[15], weights[16])
        self.landmarks = _dense(weights[17], weights[18])
        self.logits = _dense(weights[19], weights[20])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return (
            self.offsets(features),
            self.landmarks(features),
            torch.softmax(self.logits(features), dim=1),
        )
