"""Pretrained backbones: the convolutional part of a registry model, saved without pickle.

A *backbone* maps a float batch ``(n, C, H, W)`` to a feature map: it is the
``features`` block of a :mod:`fer_toolkit.models` network, whose ``classifier``
head is left out. The self-supervised pretext estimators
(:class:`~fer_toolkit.estimators.RotationPretext` and friends) learn one and
expose it as ``backbone_``; this module saves it to a file and loads it back.

File format
-----------
One file written with :func:`torch.save`, holding only a dict of plain values
and tensors, so :func:`torch.load` reads it with ``weights_only=True`` (no
pickled code runs on loading)::

    {
        "format": "fer_toolkit.backbone",
        "version": 1,
        "model": "baseline",                  # registry name
        "model_kwargs": {"in_channels": 1, "image_size": [48, 48], "width": 32},
        "input_shape": [1, 48, 48],           # (C, H, W) seen in pretraining, or None
        "pretext": {"tasks": ["rotation"]},   # how it was trained (JSON-like), or {}
        "state_dict": {"0.weight": tensor, ...},  # keys of model.features
    }

The registry model is rebuilt with ``get_model(model)(**model_kwargs)`` and its
``features`` receive the state dict, so a custom architecture loads once it is
registered with :func:`~fer_toolkit.models.register_model`. The keys of
:attr:`Backbone.features` match those of the registry model's ``features``:
``model.features.load_state_dict(backbone.features.state_dict())`` moves the
weights into a full network built for another image size or class count.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ..models import get_model
from ..models.registry import _current_name
from ..utils.fileio import atomic_path
from ..utils.untrusted import plain_data, torch_load_plain
from ..utils.validation import InputError

__all__ = ["Backbone", "load_backbone", "save_backbone"]

#: Value of the ``"format"`` entry of a backbone file.
BACKBONE_FORMAT = "fer_toolkit.backbone"
_VERSION = 1


class Backbone(nn.Module):
    """The ``features`` block of a registry model, with what it takes to rebuild it.

    Parameters
    ----------
    model : str
        Registry name (see :func:`~fer_toolkit.models.available_models`). The
        model must have a ``features`` module mapping ``(n, C, H, W)`` to a
        feature map, as ``"baseline"``, ``"conv4_dense3"`` and ``"vgg_fer"`` do.
    model_kwargs : dict or None, default=None
        Constructor arguments of the registry model (``in_channels``,
        ``image_size``, ``width``...); plain values only.
    input_shape : tuple of (int, int, int) or None, default=None
        ``(C, H, W)`` of the images the backbone was pretrained on (jigsaw
        tiles are cut from them; ``model_kwargs["image_size"]`` is the size of
        what the backbone itself saw), for the record.
    pretext : dict or None, default=None
        How it was trained (task names and settings), for the record.

    Attributes
    ----------
    features : torch.nn.Module
        The registry model's ``features``; ``forward`` applies it.

    Examples
    --------
    >>> import torch
    >>> from fer_toolkit.estimators import Backbone
    >>> backbone = Backbone("baseline", {"in_channels": 1, "width": 8}).eval()
    >>> backbone(torch.zeros(2, 1, 48, 48)).shape
    torch.Size([2, 32, 6, 6])
    """

    def __init__(self, model, model_kwargs=None, *, input_shape=None, pretext=None):
        super().__init__()
        # A backbone saved under a model's former name gets the model's current name.
        self.model = _current_name(model)
        self.model_kwargs = plain_data(dict(model_kwargs or {}), "model_kwargs")
        self.input_shape = None if input_shape is None else tuple(int(v) for v in input_shape)
        self.pretext = plain_data(dict(pretext or {}), "pretext")
        network = get_model(self.model)(**self.model_kwargs)
        features = getattr(network, "features", None)
        if not isinstance(features, nn.Module):
            raise InputError(
                f"model {model!r} ({type(network).__name__}) has no `features` module mapping "
                "one image batch to a feature map, so it cannot serve as a backbone; use "
                "'baseline', 'conv4_dense3' or 'vgg_fer', or register a model that has one."
            )
        self.features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map of ``x`` (``(n, C, H, W)`` floats)."""
        return self.features(x)

    def extra_repr(self) -> str:
        return f"model={self.model!r}, model_kwargs={self.model_kwargs!r}"


def save_backbone(backbone: Backbone, path) -> None:
    """Write ``backbone`` to ``path`` (atomically; see the module docstring for the format).

    Parameters
    ----------
    backbone : Backbone
        For example a fitted pretext estimator's ``backbone_``.
    path : str or os.PathLike
        Destination file, e.g. ``"backbone.pt"``; parent folders are created.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.estimators import Backbone, load_backbone, save_backbone
    >>> path = os.path.join(tempfile.mkdtemp(), "backbone.pt")
    >>> save_backbone(Backbone("baseline", {"width": 8}), path)
    >>> load_backbone(path).model_kwargs
    {'width': 8}
    """
    if not isinstance(backbone, Backbone):
        raise TypeError(
            f"backbone must be a fer_toolkit Backbone, got {type(backbone).__name__}; "
            "a fitted pretext estimator exposes one as backbone_."
        )
    content = {
        "format": BACKBONE_FORMAT,
        "version": _VERSION,
        "model": backbone.model,
        "model_kwargs": backbone.model_kwargs,
        "input_shape": None if backbone.input_shape is None else list(backbone.input_shape),
        "pretext": backbone.pretext,
        "state_dict": {
            key: value.detach().to("cpu", copy=True)
            for key, value in backbone.features.state_dict().items()
        },
    }
    with atomic_path(path) as tmp:
        torch.save(content, tmp)


def _read(path):
    content = torch_load_plain(path, "fer_toolkit backbone file")
    if not isinstance(content, dict) or content.get("format") != BACKBONE_FORMAT:
        raise InputError(
            f"{path}: not a fer_toolkit backbone file (no 'format': {BACKBONE_FORMAT!r} entry)"
        )
    if content.get("version") != _VERSION:
        raise InputError(
            f"{path}: backbone file version {content.get('version')!r} is not supported "
            f"(this fer_toolkit reads version {_VERSION})"
        )
    for key, kind in (
        ("model", str),
        ("model_kwargs", dict),
        ("pretext", dict),
        ("state_dict", dict),
    ):
        if not isinstance(content.get(key), kind):
            raise InputError(f"{path}: entry {key!r} is missing or not a {kind.__name__}")
    return content


def load_backbone(path, *, device="cpu") -> Backbone:
    """Read a backbone written by :func:`save_backbone` (or a pretext estimator).

    Parameters
    ----------
    path : str or os.PathLike
        The backbone file.
    device : str or torch.device, default="cpu"
        Where to put the weights. A backbone trained on CUDA loads on a
        CPU-only machine.

    Returns
    -------
    backbone : Backbone
        In evaluation mode (BatchNorm uses its running statistics).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not a backbone file, names a model that is not
        registered, or its weights do not fit the rebuilt model; the message
        names the file.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from fer_toolkit.estimators import Backbone, load_backbone, save_backbone
    >>> backbone = Backbone("baseline", {"width": 8}).eval()
    >>> path = os.path.join(tempfile.mkdtemp(), "backbone.pt")
    >>> save_backbone(backbone, path)
    >>> x = torch.rand(2, 1, 48, 48)
    >>> torch.equal(load_backbone(path)(x), backbone(x))
    True
    """
    path = os.fspath(path)
    content = _read(path)
    try:
        backbone = Backbone(
            content["model"],
            content["model_kwargs"],
            input_shape=content.get("input_shape"),
            pretext=content["pretext"],
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: cannot rebuild the backbone: {exc}") from exc
    try:
        backbone.features.load_state_dict(content["state_dict"])
    except RuntimeError as exc:
        raise InputError(
            f"{path}: the weights do not fit model {content['model']!r} built with "
            f"{content['model_kwargs']}: {exc}"
        ) from exc
    return backbone.to(device).eval()
