"""Transfer learning for :class:`~fer_toolkit.estimators.CNNClassifier`: backbones, freezing.

A pretrained *backbone* (the ``features`` of a network) is turned into a
classifier by :class:`~fer_toolkit.estimators.CNNClassifier`'s ``backbone``
parameter; this module holds what that needs:

* :func:`resolve_backbone` turns the accepted forms (a fitted pretext
  estimator, a backbone file, a :class:`~fer_toolkit.estimators.Backbone`,
  any ``nn.Module``) into a module;
* :class:`TransferNetwork` puts a pooled linear head on a user module;
* :func:`backbone_blocks` cuts a backbone into *blocks*, the units of
  ``freeze=k`` and of gradual unfreezing, and :func:`freeze_blocks` freezes
  the first ones;
* :class:`GradualUnfreezing` is the skorch callback that unfreezes blocks
  during training.

Blocks
------
The leaf modules of the backbone, in registration order, are grouped so
that a new block starts at every leaf that holds parameters and is not a
normalisation layer (a convolution or a linear layer); normalisation,
activation, pooling and dropout layers belong to the block of the
convolution before them. A block is thus "a convolution with what follows
it". The registry's backbones have: ``"baseline"`` 4 blocks (stem, block1,
block2, block3 of its docstring), ``"conv4_dense3"`` 4 (conv1..conv4 with their
ReLU, BN and pooling), ``"vgg_fer"`` 8 (conv1a..conv4b), ``"mini_xception"``
14 (its two stem convolutions, then per residual module the shortcut and the
two separable convolutions).
"""

from __future__ import annotations

import os
from numbers import Integral

import torch
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback
from torch import nn

from ..models import pretrained_backbone
from ..models.pretrained_models import is_pretrained_name
from ..utils.validation import InputError
from .backbone import load_backbone

__all__ = ["backbone_blocks", "freeze_blocks"]

_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def resolve_backbone(backbone) -> nn.Module:
    """The module a ``backbone`` parameter stands for (not a copy: callers copy it).

    Parameters
    ----------
    backbone : pretext estimator, str, os.PathLike or torch.nn.Module
        A fitted :class:`~fer_toolkit.estimators.RotationPretext` (or any
        estimator with ``backbone_``), the name of a pretrained network
        (:func:`~fer_toolkit.models.available_pretrained`, e.g.
        ``"mini_xception_fer2013"``), a file written by
        :func:`~fer_toolkit.estimators.save_backbone`, a
        :class:`~fer_toolkit.estimators.Backbone` or any module mapping images
        to feature maps.

    Returns
    -------
    module : torch.nn.Module
        A :class:`~fer_toolkit.estimators.Backbone` for the first three forms.
    """
    if isinstance(backbone, nn.Module):
        return backbone
    if is_pretrained_name(backbone):
        return pretrained_backbone(backbone)
    if isinstance(backbone, (str, os.PathLike)):
        return load_backbone(backbone)
    if hasattr(type(backbone), "backbone_"):
        try:
            return backbone.backbone_
        except NotFittedError:
            raise InputError(
                f"backbone is an unfitted {type(backbone).__name__}: fit it first. (clone and "
                "GridSearchCV copy estimators unfitted: to search, pass its backbone_ or a "
                "file saved with save_backbone instead.)"
            ) from None
    raise TypeError(
        "backbone must be a fitted pretext estimator, a backbone file path, a Backbone or a "
        f"torch.nn.Module; got {type(backbone).__name__}."
    )


class TransferNetwork(nn.Module):
    """A user backbone followed by a pooled linear head.

    Parameters
    ----------
    features : torch.nn.Module
        Maps ``(n, C, H, W)`` to feature maps ``(n, D, h, w)`` or vectors ``(n, D)``.
    feature_shape : tuple of int
        The shape of one sample's output of ``features``: ``(D, h, w)`` or ``(D,)``.
    n_classes : int
        Number of logits.
    dropout : float, default=0.0
        Drop probability before the linear layer.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from fer_toolkit.estimators.transfer import TransferNetwork
    >>> net = TransferNetwork(nn.Conv2d(1, 8, 3), (8, 46, 46), n_classes=4).eval()
    >>> net(torch.zeros(2, 1, 48, 48)).shape
    torch.Size([2, 4])
    """

    def __init__(self, features: nn.Module, feature_shape, n_classes: int, dropout: float = 0.0):
        super().__init__()
        feature_shape = tuple(feature_shape)
        if len(feature_shape) not in (1, 3):
            raise InputError(
                f"the backbone outputs samples of shape {feature_shape}; a head needs feature "
                "maps (D, h, w) or vectors (D,)."
            )
        pool = [nn.AdaptiveAvgPool2d(1), nn.Flatten()] if len(feature_shape) == 3 else []
        self.features = features
        self.classifier = nn.Sequential(
            *pool, nn.Dropout(dropout), nn.Linear(feature_shape[0], n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, n_classes)`` of images ``x`` ``(n, C, H, W)``."""
        return self.classifier(self.features(x))


def backbone_blocks(features: nn.Module) -> list[list[nn.Module]]:
    """The blocks of ``features``: leaf modules grouped from one convolution to the next.

    A new block starts at every leaf module that holds parameters and is not a
    normalisation layer (a convolution or a linear layer); normalisation,
    activation, pooling and dropout layers join the block of the convolution
    before them. These are the units of ``CNNClassifier(freeze=k)`` and of
    gradual unfreezing.

    Parameters
    ----------
    features : torch.nn.Module
        A backbone, e.g. the ``features`` of a registry network.

    Returns
    -------
    blocks : list of list of torch.nn.Module
        The leaf modules of each block, in registration order.

    Examples
    --------
    >>> from fer_toolkit.models import get_model
    >>> from fer_toolkit.estimators import backbone_blocks
    >>> [len(block) for block in backbone_blocks(get_model("baseline")().features)]
    [3, 4, 4, 3]
    """
    blocks: list[list[nn.Module]] = []
    for module in features.modules():
        if next(module.children(), None) is not None:
            continue
        opens = any(True for _ in module.parameters(recurse=False)) and not isinstance(
            module, _NORMS
        )
        if opens or not blocks:
            blocks.append([])
        blocks[-1].append(module)
    return blocks


def freeze_blocks(features: nn.Module, n_frozen: int) -> None:
    """Freeze the parameters of the first ``n_frozen`` blocks and unfreeze the others.

    Parameters
    ----------
    features : torch.nn.Module
        A backbone; its blocks are those of :func:`backbone_blocks`.
    n_frozen : int
        Blocks to freeze (``requires_grad=False``), counted from the input.

    Examples
    --------
    >>> from fer_toolkit.models import get_model
    >>> from fer_toolkit.estimators import backbone_blocks, freeze_blocks
    >>> features = get_model("baseline")().features
    >>> freeze_blocks(features, 2)
    >>> [all(p.requires_grad for p in block[0].parameters())
    ...  for block in backbone_blocks(features)]
    [False, False, True, True]
    """
    for index, block in enumerate(backbone_blocks(features)):
        for module in block:
            for param in module.parameters(recurse=False):
                param.requires_grad_(index >= n_frozen)


def unfreeze_plan(schedule, n_frozen: int) -> dict[int, int]:
    """``{epoch: blocks still frozen from that epoch on}`` for an ``unfreeze_schedule``.

    Parameters
    ----------
    schedule : int or dict
        An int ``k`` unfreezes one block every ``k`` epochs, the one nearest
        the head first: with 4 frozen blocks and ``k=2``, epochs 3, 5, 7 and 9
        start with 3, 2, 1 and 0 frozen blocks. A dict maps epochs (from 1)
        to the number of blocks that stay frozen from that epoch on.
    n_frozen : int
        Blocks frozen at the start of training.

    Examples
    --------
    >>> from fer_toolkit.estimators.transfer import unfreeze_plan
    >>> unfreeze_plan(2, 4)
    {3: 3, 5: 2, 7: 1, 9: 0}
    """
    if isinstance(schedule, Integral):
        return {1 + step * int(schedule): n_frozen - step for step in range(1, n_frozen + 1)}
    plan = {}
    for epoch, count in schedule.items():
        for what, value, low in (("epoch", epoch, 1), ("number of frozen blocks", count, 0)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
                raise InputError(
                    f"unfreeze_schedule={schedule!r}: the {what} {value!r} is not an int "
                    f">= {low} (the dict maps epochs, from 1, to blocks still frozen)."
                )
        if count > n_frozen:
            raise InputError(
                f"unfreeze_schedule={schedule!r} keeps {count} blocks frozen at epoch {epoch}, "
                f"but only {n_frozen} are frozen at the start (freeze): it can only unfreeze."
            )
        plan[int(epoch)] = int(count)
    return dict(sorted(plan.items()))


class GradualUnfreezing(Callback):
    """Unfreeze backbone blocks at the epochs of the net's ``unfreeze_plan_``.

    At the beginning of every epoch the blocks that the plan no longer keeps
    frozen get ``requires_grad`` back. Every parameter is in the optimizer
    from the start (frozen ones receive no gradient, so it leaves them
    alone), so the optimizer needs no rebuilding and its state for the
    other parameters carries on. The net runs its frozen blocks in evaluation
    mode (see ``CNNClassifier._set_training``).
    """

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history)  # the new epoch's row already exists
        due = [count for start, count in net.unfreeze_plan_.items() if start <= epoch]
        if due and due[-1] < net.frozen_blocks_:
            freeze_blocks(net.module_.features, due[-1])
            net.frozen_blocks_ = due[-1]
