"""Transfer-learning options of ``train`` and ``search``: start from a pretrained backbone.

``--backbone FILE`` (written by ``fer-toolkit pretrain`` or
:func:`~fer_toolkit.estimators.save_backbone`) becomes the ``backbone`` of the
pipeline's :class:`~fer_toolkit.estimators.CNNClassifier`; ``--freeze``,
``--backbone-lr`` and ``--unfreeze-every`` become its ``freeze``,
``backbone_lr`` and ``unfreeze_schedule`` hyper-parameters, so they are saved
in ``model.json`` and a search grid may vary them.

The backbone itself is not part of the saved pipeline description: a trained
model's full weights are saved, so it rebuilds from scratch and loads them.
What the backbone fixes about the network (its registry model and
constructor arguments such as ``width``) is written into the description as
``--model`` and ``module__*`` values instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._common import option_group
from ._model import PIPELINE_OPTIONS, PRETRAINED, PipelineSpec, spec_from_options

if TYPE_CHECKING:
    from ..estimators import Backbone

__all__ = [
    "TRANSFER_OPTIONS",
    "BackboneParam",
    "FreezeParam",
    "ModelOptions",
    "apply_transfer_options",
    "backbone_info",
    "describe_transfer",
    "model_options",
]

# Network arguments that CNNClassifier infers from the data rather than from the backbone.
_INFERRED_MODULE_KWARGS = ("in_channels", "image_size", "n_classes")


class FreezeParam(click.ParamType):
    """``none``, ``backbone`` or a number of blocks ``K >= 0``."""

    name = "none|backbone|K"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value in ("none", "backbone"):
            return value
        text = str(value).strip()
        if not text.isdigit():
            self.fail(
                f"{value!r}: use none, backbone (all of it) or a number of blocks such as 2.",
                param,
                ctx,
            )
        return int(text)


class BackboneParam(click.Path):
    """A backbone file that exists, or the name of a pretrained network (kept a string)."""

    def __init__(self):
        super().__init__(exists=True, dir_okay=False, path_type=Path)

    def convert(self, value, param, ctx):
        if value in PRETRAINED and not os.path.exists(value):
            return value
        return super().convert(value, param, ctx)


#: ``--backbone``, ``--freeze``, ``--backbone-lr`` and ``--unfreeze-every``.
TRANSFER_OPTIONS = [
    click.option(
        "--backbone",
        "backbone_path",
        type=BackboneParam(),
        default=None,
        help="Start the network from this pretrained backbone (fer-toolkit pretrain "
        f"--out, save_backbone) or a pretrained network ({', '.join(PRETRAINED)}); "
        "--model defaults to its network.",
    ),
    click.option(
        "--freeze",
        type=FreezeParam(),
        default=None,
        help="Leave part of the network's features untrained: none, backbone (train the "
        "head only) or the first K blocks (a block is a convolution with its norm, "
        "activation and pooling).  [default: none]",
    ),
    click.option(
        "--backbone-lr",
        type=click.FloatRange(min=0.0, min_open=True),
        default=None,
        help="Learning rate of the features (discriminative learning rates, usually "
        "below lr); lr stays the head's.  [default: lr]",
    ),
    click.option(
        "--unfreeze-every",
        type=click.IntRange(min=1),
        default=None,
        metavar="K",
        help="Gradual unfreezing: one frozen block more trains every K epochs, the one "
        "nearest the head first (needs --freeze).",
    ),
]


@dataclass(frozen=True)
class ModelOptions:
    """What the options of :data:`model_options` chose: the pipeline and the transfer."""

    cropper: str
    align: bool
    margin: float
    size: tuple[int, int]
    grayscale: bool
    blocks: bool
    model: str | None
    settings: tuple
    backbone_path: str | Path | None
    freeze: int | str | None
    backbone_lr: float | None
    unfreeze_every: int | None

    def build(self) -> tuple[PipelineSpec, Backbone | None]:
        """``(spec, backbone)``: :func:`spec_from_options`, then :func:`apply_transfer_options`."""
        spec = spec_from_options(self)
        return spec, apply_transfer_options(spec, self)


#: The pipeline and transfer options of ``train`` and ``search``, received as ``model_opts``
#: (a :class:`ModelOptions`).
model_options = option_group("model_opts", ModelOptions, [*PIPELINE_OPTIONS, *TRANSFER_OPTIONS])


def _setting(params: dict, name: str):
    """The value ``--set`` gave the network parameter ``name`` (plain or ``cnn__``), or None."""
    return params.get(name, params.get(f"cnn__{name}"))


def apply_transfer_options(spec: PipelineSpec, options: ModelOptions) -> Backbone | None:
    """Put the transfer options into ``spec`` and return the backbone to start from.

    Parameters
    ----------
    spec : PipelineSpec
        From :func:`~fer_toolkit.cli._model.spec_from_options`; changed in place:
        ``freeze``, ``backbone_lr``, ``unfreeze_schedule`` and the backbone's
        ``module__*`` arguments join ``spec.params``, and ``spec.model``
        becomes the backbone's network when ``--model`` was not given.
    options : ModelOptions
        The options: ``--model`` as given (None when left out), ``--backbone``,
        ``--freeze``, ``--backbone-lr`` and ``--unfreeze-every``.

    Returns
    -------
    backbone : Backbone or None
        The loaded ``--backbone`` file, checked against the pipeline.

    Raises
    ------
    click.UsageError
        For options that contradict each other or the backbone.
    """
    backbone_path, model_option = options.backbone_path, options.model
    given = {
        "freeze": ("--freeze", options.freeze),
        "backbone_lr": ("--backbone-lr", options.backbone_lr),
        "unfreeze_schedule": ("--unfreeze-every", options.unfreeze_every),
    }
    for name, (option, value) in given.items():
        if value is None:
            continue
        if _setting(spec.params, name) is not None:
            raise click.UsageError(f"{option} and --set {name}=... both set {name}: keep one.")
        spec.params[name] = value
    if _setting(spec.params, "unfreeze_schedule") is not None and _setting(
        spec.params, "freeze"
    ) in (None, "none"):
        raise click.UsageError(
            "--unfreeze-every unfreezes blocks that --freeze froze: add --freeze backbone or "
            "--freeze K."
        )
    if backbone_path is None:
        return None

    from ..estimators.transfer import backbone_blocks, resolve_backbone

    backbone = resolve_backbone(backbone_path)
    if spec.blocks:
        raise click.UsageError(
            "--blocks feeds eye and mouth blocks beside the face, but a network built on "
            "--backbone takes the face only: drop one of them."
        )
    if model_option is not None and model_option != backbone.model:
        raise click.UsageError(
            f"--model {model_option} but {backbone_path} is the backbone of {backbone.model!r}: "
            f"use --model {backbone.model} or leave --model out."
        )
    spec.model = backbone.model
    channels = (
        backbone.input_shape[0]
        if backbone.input_shape is not None
        else backbone.model_kwargs.get("in_channels")
    )
    if channels is not None and channels != (1 if spec.grayscale else 3):
        pretrained = "grayscale" if channels == 1 else f"{channels}-channel"
        flag = "--grayscale" if channels == 1 else "--rgb"
        raise click.UsageError(
            f"{backbone_path} was pretrained on {pretrained} images: add {flag}."
        )
    n_blocks = len(backbone_blocks(backbone.features))
    frozen = _setting(spec.params, "freeze")
    if isinstance(frozen, int) and not isinstance(frozen, bool) and frozen > n_blocks:
        raise click.UsageError(
            f"--freeze {frozen} but the backbone in {backbone_path} ({backbone.model}) has "
            f"{n_blocks} blocks: use at most {n_blocks}, or --freeze backbone."
        )
    for name, value in backbone.model_kwargs.items():
        if name not in _INFERRED_MODULE_KWARGS:
            spec.params.setdefault(f"module__{name}", value)
    return backbone


def backbone_info(backbone_path, backbone: Backbone | None) -> dict | None:
    """What ``model.json`` records under ``training.backbone``: file, network, pretext."""
    if backbone is None:
        return None
    return {
        "file": str(backbone_path),
        "model": backbone.model,
        "model_kwargs": backbone.model_kwargs,
        "input_shape": None if backbone.input_shape is None else list(backbone.input_shape),
        "pretext": backbone.pretext,
    }


def describe_transfer(backbone_path, backbone: Backbone, spec: PipelineSpec) -> str:
    """One line on the backbone and how it is fine-tuned, for the progress output."""
    from ..estimators.transfer import backbone_blocks

    tasks = backbone.pretext.get("tasks")
    how = [f"freeze={_setting(spec.params, 'freeze') or 'none'}"]
    for name in ("backbone_lr", "unfreeze_schedule"):
        value = _setting(spec.params, name)
        if value is not None:
            how.append(f"{name}={value}")
    return (
        f"the {backbone.model} backbone in {backbone_path}"
        + (f" (pretrained on {'+'.join(tasks)})" if tasks else "")
        + f", {len(backbone_blocks(backbone.features))} blocks; "
        + ", ".join(how)
    )
