"""The models of the command line: a pipeline described in JSON, built, saved and loaded.

A trained model is a folder (the ``--out`` of ``train`` or ``search``) with

* ``model.json``: the :class:`PipelineSpec` (face cropping, size, colour,
  blocks, network and hyper-parameters), the classes, the network's input
  shape and how labels were mapped;
* ``model_params.pt``: the network weights (``save_params``), which
  :func:`load_model` reads with ``torch.load(weights_only=True)``: no pickle;
* ``model.joblib``: the whole fitted pipeline, a pickle: loading it runs code, so
  :func:`load_model` reads it only when asked to (``allow_pickle=True``).

Whatever ``model.json`` says, loading a folder executes nothing from it: its
hyper-parameters must be among :data:`ALLOWED_PARAMS` (plain values routed to
the network or to a step), and the weights are read on the pickle-free path.

The pipeline is ``[crop] -> [gray] -> [resize] -> [blocks] -> cnn``, each step a
fer_toolkit estimator. Hyper-parameters (``--set`` and search grids) name the
network's parameters plainly (``lr``, ``max_epochs``, ``module__width``) and
other steps' parameters with their step name (``crop__min_neighbors``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import click
import joblib
import numpy as np
from sklearn.pipeline import Pipeline

from ..preprocessing import (
    EyeMouthBlocks,
    Grayscale,
    HaarFaceCropper,
    MTCNNFaceCropper,
    Resize,
)
from ..utils.fileio import atomic_path, atomic_write
from ..utils.untrusted import plain_data, torch_load_plain
from ..utils.validation import InputError, check_size
from ._common import SettingParam, SizeParam, closest
from ._data import LabelSet

__all__ = [
    "ALLOWED_PARAMS",
    "JOBLIB_NAME",
    "MODELS",
    "MODEL_FORMAT",
    "PARAMS_NAME",
    "PIPELINE_OPTIONS",
    "PRETRAINED",
    "SPEC_NAME",
    "ModelChoice",
    "ModelParam",
    "PipelineSpec",
    "TrainedModel",
    "build_pipeline",
    "check_spec_params",
    "load_model",
    "model_faces",
    "read_weights",
    "route_params",
    "save_model",
]

MODEL_FORMAT = "fer_toolkit.model"
_VERSION = 1
SPEC_NAME = "model.json"
PARAMS_NAME = "model_params.pt"
JOBLIB_NAME = "model.joblib"
CROPPERS = ("none", "haar", "mtcnn")
STEPS = ("crop", "gray", "resize", "blocks", "cnn")
#: The networks of the model registry, ``fer_toolkit.models.available_models()``, named
#: here so that declaring ``--model`` does not import PyTorch (a test checks they agree).
MODELS = ("baseline", "conv4_dense3", "mini_xception", "prior_attention", "vgg_fer")
#: The pretrained networks shipped in the package (``fer_toolkit.models.available_pretrained``),
#: usable wherever a model folder is: ``fer-toolkit predict mini_xception_fer2013 photo.jpg``.
PRETRAINED = ("mini_xception_fer2013",)
# Objects rather than values, or set by the command itself.
_RESERVED = (
    "module",
    "criterion",
    "optimizer",
    "callbacks",
    "train_split",
    "dataset",
    "backbone",
)
_RESERVED_HINTS = {
    "module": "; choose the network with --model.",
    "backbone": "; start from a backbone file with --backbone FILE.",
}
#: The network's hyper-parameters a spec (``--set``, a search grid, ``model.json``) may
#: set: plain values only. Anything else (``torch_load_kwargs``, ``callbacks__*``,
#: ``predict_nonlinearity``...) could make loading a shared model folder run code.
ALLOWED_PARAMS = frozenset(
    {
        "amp",
        "backbone_lr",
        "batch_size",
        "brightness",
        "channels_last",
        "class_weight",
        "early_stopping",
        "freeze",
        "horizontal_flip",
        "lr",
        "lr_schedule",
        "max_epochs",
        "padding_mode",
        "restore_best",
        "rotation",
        "shear",
        "translation",
        "unfreeze_schedule",
        "validation_fraction",
        "zoom",
    }
)
#: Prefixes of routed parameters a spec may set: network constructor arguments,
#: optimizer and loss settings, and the parameters of the other pipeline steps.
_ALLOWED_PREFIXES = (
    "module__",
    "optimizer__",
    "criterion__",
    "crop__",
    "gray__",
    "resize__",
    "blocks__",
)
#: DataLoader settings a spec may set (``iterator_train__NAME`` / ``iterator_valid__NAME``).
_LOADER_SETTINGS = ("shuffle", "num_workers", "pin_memory", "drop_last", "prefetch_factor")


def _is_plain(value) -> bool:
    """Whether ``value`` is JSON data (no objects that could carry behaviour)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def check_spec_params(params) -> None:
    """Raise ``InputError`` for a hyper-parameter a spec may not set, naming it.

    Parameters
    ----------
    params : dict
        ``{name: value}`` as in :attr:`PipelineSpec.params`.

    Examples
    --------
    >>> from fer_toolkit.cli._model import check_spec_params
    >>> check_spec_params({"lr": 0.01, "module__width": 8})
    >>> check_spec_params({"torch_load_kwargs": {"weights_only": False}})
    Traceback (most recent call last):
    ...
    fer_toolkit.utils.validation.InputError: parameter 'torch_load_kwargs' cannot be set...
    """
    if not isinstance(params, dict):
        raise InputError(f"params must be a mapping of names to values; got {params!r}.")
    for key, value in params.items():
        if not isinstance(key, str):
            raise InputError(f"parameter names must be strings; got {key!r}.")
        name = key.removeprefix("cnn__")
        if name in _RESERVED:
            raise InputError(
                f"parameter {key!r} cannot be set as a value" + _RESERVED_HINTS.get(name, ".")
            )
        head, _, rest = name.partition("__")
        allowed = (
            name in ALLOWED_PARAMS
            or (name.startswith(_ALLOWED_PREFIXES) and rest)
            or (head in ("iterator_train", "iterator_valid") and rest in _LOADER_SETTINGS)
        )
        if not allowed:
            hint = closest(name, ALLOWED_PARAMS)
            if hint:
                raise InputError(f"unknown parameter {key!r}{hint}.")
            raise InputError(
                f"parameter {key!r} cannot be set: a model carries only plain "
                f"hyper-parameters ({', '.join(sorted(ALLOWED_PARAMS))}, module__*, "
                "optimizer__*, criterion__*, the DataLoader settings iterator_train__"
                f"{{{','.join(_LOADER_SETTINGS)}}} and the steps' parameters such as "
                "crop__margin)."
            )
        if not _is_plain(value):
            raise InputError(
                f"parameter {key!r} must be a plain value (number, string, list, mapping); "
                f"got {type(value).__name__}."
            )


class ModelChoice(click.Choice):
    """One of :data:`MODELS`; the former name of a renamed model is accepted with a note."""

    def __init__(self):
        super().__init__(MODELS)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and value not in self.choices:
            from ..models.registry import _current_name

            value = _current_name(value)
        return super().convert(value, param, ctx)


@dataclass
class PipelineSpec:
    """How a model's pipeline is built, as plain JSON-able values.

    Attributes
    ----------
    cropper : {"none", "haar", "mtcnn"}
        Face cropping step: none (the images are faces), ``HaarFaceCropper``
        or ``MTCNNFaceCropper``.
    align : bool
        MTCNN only: align faces on their five landmarks.
    margin : float
        Fraction of the face added on every side of a crop.
    size : tuple of (int, int)
        ``(height, width)`` of the faces the network sees.
    grayscale : bool
        Convert faces to one channel.
    blocks : bool
        Add ``EyeMouthBlocks(output="dict")`` (prior attention).
    model : str
        Registry name of the network (``module``). The former name of a renamed
        model (in a ``model.json`` saved by an older version) becomes its new
        name, with a ``FutureWarning``.
    params : dict
        Hyper-parameters (see :func:`route_params`).
    """

    cropper: str = "none"
    align: bool = False
    margin: float = 0.0
    size: tuple = (48, 48)
    grayscale: bool = True
    blocks: bool = False
    model: str = "baseline"
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.cropper not in CROPPERS:
            raise InputError(f"cropper must be one of {CROPPERS}; got {self.cropper!r}.")
        if self.align and self.cropper != "mtcnn":
            raise InputError(
                "alignment needs the landmarks of the MTCNN cropper (--cropper mtcnn)."
            )
        if not isinstance(self.margin, (int, float)) or not self.margin >= 0:
            raise InputError(f"margin must be a number >= 0; got {self.margin!r}.")
        self.size = check_size(tuple(self.size) if isinstance(self.size, list) else self.size)
        if not isinstance(self.model, str):
            raise InputError(f"model must be a registry name; got {self.model!r}.")
        if self.model not in MODELS:
            from ..models.registry import _current_name

            self.model = _current_name(self.model, stacklevel=3)
        check_spec_params(self.params)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["size"] = list(self.size)
        return values

    @classmethod
    def from_dict(cls, values: dict, where: str) -> PipelineSpec:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"{where}: unknown pipeline entries {unknown}.")
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: {exc}") from None


def route_params(params: dict, pipeline: Pipeline) -> dict:
    """Pipeline parameter names of hyper-parameters: ``lr`` -> ``cnn__lr``.

    A name whose part before ``__`` is a step of ``pipeline`` (``crop__margin``)
    is kept; any other name is the network's.

    Raises
    ------
    ValueError
        For a name no step knows, suggesting the closest known one.
    """
    steps = dict(pipeline.steps)
    cnn_names = [name for name in steps["cnn"].get_params(deep=False) if not name.startswith("_")]
    # The parts a CNNClassifier routes parameters to (module__width, optimizer__...).
    cnn_prefixes = ("module", "criterion", "optimizer", *steps["cnn"].prefixes_)
    routed = {}
    for name, value in params.items():
        head, _, rest = name.partition("__")
        if head in steps and rest:
            known = steps[head].get_params(deep=True)
            if rest not in known:
                raise InputError(
                    f"unknown parameter {name!r}: step {head!r} ({type(steps[head]).__name__}) "
                    f"has {', '.join(sorted(known))}."
                )
            routed[name] = value
        elif head in STEPS and rest:
            raise InputError(
                f"unknown parameter {name!r}: this pipeline has no {head!r} step (its steps "
                f"are {', '.join(steps)})."
            )
        elif name in cnn_names or (rest and head in cnn_prefixes):
            routed[f"cnn__{name}"] = value
        else:
            raise InputError(
                f"unknown parameter {name!r}{closest(name, cnn_names)}: network parameters are "
                f"{', '.join(sorted(cnn_names))}, or module__*, optimizer__*, iterator_train__*..."
            )
    return routed


def build_pipeline(
    spec: PipelineSpec, *, device="auto", random_state=0, n_jobs=None, backbone=None
) -> Pipeline:
    """The unfitted pipeline that ``spec`` describes, its hyper-parameters set.

    ``backbone`` (a :class:`~fer_toolkit.estimators.Backbone`) is the
    network's starting point for training; it is not part of ``spec``, whose
    saved models rebuild without it because their full weights are saved.
    """
    from ..estimators import CNNClassifier

    steps = []
    if spec.cropper == "haar":
        steps.append(
            ("crop", HaarFaceCropper(margin=spec.margin, output_size=spec.size, n_jobs=n_jobs))
        )
    elif spec.cropper == "mtcnn":
        cropper = MTCNNFaceCropper(
            margin=spec.margin, align=spec.align, output_size=spec.size, device=device
        )
        steps.append(("crop", cropper))
    if spec.grayscale:
        steps.append(("gray", Grayscale()))
    if spec.cropper == "none":
        steps.append(("resize", Resize(size=spec.size)))
    if spec.blocks:
        steps.append(("blocks", EyeMouthBlocks(face_size=spec.size, output="dict")))
    cnn = CNNClassifier(
        spec.model,
        validation_fraction=None,
        device=device,
        random_state=random_state,
        backbone=backbone,
    )
    steps.append(("cnn", cnn))
    pipeline = Pipeline(steps)
    pipeline.set_params(**route_params(spec.params, pipeline))
    return pipeline


def save_model(out_dir, pipeline: Pipeline, spec: PipelineSpec, labels: LabelSet, **info) -> None:
    """Write ``model_params.pt``, ``model.joblib`` and (last) ``model.json`` into ``out_dir``.

    ``info`` adds free-form entries (data, seed, epochs...) under ``"training"``.
    """
    out_dir = Path(out_dir)
    cnn = pipeline[-1]
    shape = cnn.input_shape_
    document = {
        "format": MODEL_FORMAT,
        "version": _VERSION,
        "pipeline": spec.to_dict(),
        "classes": cnn.classes_.tolist(),
        "input_shape": {k: list(v) for k, v in shape.items()}
        if isinstance(shape, dict)
        else list(shape),
        "labels": labels.to_dict(),
        "training": plain_data(info, "training info"),
    }
    with atomic_path(out_dir / PARAMS_NAME) as tmp:
        cnn.save_params(f_params=tmp)
    with atomic_path(out_dir / JOBLIB_NAME) as tmp:
        joblib.dump(pipeline, tmp)
    # Written last: a model.json means the weights beside it are complete.
    with atomic_write(out_dir / SPEC_NAME, encoding="utf-8") as f:
        json.dump(document, f, indent=2)
        f.write("\n")


@dataclass
class TrainedModel:
    """A pipeline rebuilt from a model folder, with what describes it."""

    pipeline: Pipeline
    spec: PipelineSpec
    labels: LabelSet
    path: str

    @property
    def classes(self) -> np.ndarray:
        return self.pipeline[-1].classes_

    def face_pipeline(self) -> Pipeline:
        """The steps after face cropping: they take face crops of :attr:`spec.size`."""
        steps = [step for step in self.pipeline.steps if step[0] != "crop"]
        return Pipeline(steps)


def _sample_input(shape):
    """One black image per input, shaped like the network's training input."""
    if isinstance(shape, dict):
        from skorch.helper import SliceDict

        return SliceDict(**{key: _sample_input(value) for key, value in shape.items()})
    channels, height, width = (int(v) for v in shape)
    size = (1, height, width) if channels == 1 else (1, height, width, channels)
    return np.zeros(size, dtype=np.uint8)


class ModelParam(click.Path):
    """A model folder (or its model.json) that exists, or the name of a pretrained network."""

    name = "MODEL"

    def __init__(self):
        super().__init__(exists=True)

    def convert(self, value, param, ctx):
        if value in PRETRAINED and not os.path.exists(value):
            return value
        if not os.path.exists(value):
            self.fail(
                f"{value!r} does not exist: give a model folder (fer-toolkit train --out) or "
                f"a pretrained network ({', '.join(PRETRAINED)}).",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


def _pretrained_model(name: str, device) -> TrainedModel:
    """A pretrained network as a model folder would load: ``gray -> resize -> cnn``.

    It takes face crops (``evaluate``); ``predict`` finds the faces first
    (MTCNN unless ``--detector`` says otherwise) and cuts them with a 10% margin.
    """
    from ..models import load_pretrained, pretrained_info

    info = pretrained_info(name)
    channels, height, width = info.input_shape
    spec = PipelineSpec(margin=0.1, size=(height, width), grayscale=channels == 1, model=info.model)
    pipeline = build_pipeline(spec, device=device)
    pipeline.steps[-1] = ("cnn", load_pretrained(name, device=device))
    return TrainedModel(pipeline=pipeline, spec=spec, labels=LabelSet(), path=name)


#: Largest image side a model.json may announce (its network input is built at load).
_MAX_INPUT_SIDE = 4096


def _check_shape(shape, where: str):
    """``input_shape`` of a model.json: ``[C, H, W]`` or ``{input: [C, H, W]}``."""
    if isinstance(shape, dict) and shape and all(isinstance(k, str) for k in shape):
        for key, value in shape.items():
            _check_shape(value, f"{where}[{key!r}]")
        return
    if not (
        isinstance(shape, list)
        and len(shape) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
        and shape[0] in (1, 3)
        and all(0 < v <= _MAX_INPUT_SIDE for v in shape[1:])
    ):
        raise InputError(
            f"{where} must be [channels (1 or 3), height, width] with sides up to "
            f"{_MAX_INPUT_SIDE} (or a mapping of such); got {shape!r}."
        )


def _check_classes(classes, where: str):
    if not (
        isinstance(classes, list)
        and len(classes) >= 2
        and all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in classes)
        and len({(type(c), c) for c in classes}) == len(classes)
    ):
        raise InputError(
            f"{where} must be a list of at least two distinct labels (strings or integers); "
            f"got {classes!r}."
        )


def _read_document(spec_path: str) -> dict:
    try:
        with open(spec_path, encoding="utf-8") as f:
            document = json.load(f)
    except UnicodeDecodeError as exc:
        raise InputError(f"{spec_path} is not UTF-8 text: {exc}.") from None
    except ValueError as exc:
        raise InputError(f"{spec_path} is not valid JSON: {exc}.") from None
    if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
        raise InputError(f"{spec_path} is not a fer_toolkit model description ({SPEC_NAME}).")
    return document


def read_weights(path) -> dict:
    """The state dict in a weights file, read with ``torch.load(weights_only=True)``.

    Nothing in the file is executed (see :func:`~fer_toolkit.utils.untrusted.torch_load_plain`).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    InputError
        The file is empty, not a PyTorch file, holds pickled objects, or does
        not hold a ``{name: tensor}`` mapping; one line naming the file.
    """
    import torch

    state = torch_load_plain(path, "weights file")
    if not (
        isinstance(state, dict)
        and state
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    ):
        raise InputError(f"{path}: not a network's weights (a mapping of names to tensors).")
    return state


def load_model(path, *, device="auto", allow_pickle=False) -> TrainedModel:
    """Rebuild a model from a folder written by ``train`` / ``search`` (or its model.json).

    By default nothing is unpickled and nothing from the folder is executed: the
    pipeline is built from the JSON description (whose hyper-parameters must be
    among :data:`ALLOWED_PARAMS`, plain values) and the network weights are
    read with ``torch.load(weights_only=True)``. The name of a pretrained
    network (:data:`PRETRAINED`) loads that network.

    Parameters
    ----------
    path : str or os.PathLike
        The model folder, or its ``model.json``.
    device : str, default="auto"
        Where the network runs.
    allow_pickle : bool, default=False
        Load the whole pipeline from ``model.joblib`` instead, with
        ``joblib.load``. **Unpickling runs whatever code the file carries**:
        only for folders you made yourself or trust as you would a program.
        The pickle keeps its own device setting.

    Raises
    ------
    FileNotFoundError
        No model.json or weights file.
    InputError
        A malformed or disallowed entry in model.json, or weights that are not
        a plain weights file or do not fit the network; the message names the
        file (and the entry).
    """
    path = os.fspath(path)
    if path in PRETRAINED and not os.path.exists(path):
        return _pretrained_model(path, device)
    spec_path = os.path.join(path, SPEC_NAME) if os.path.isdir(path) else path
    if not os.path.isfile(spec_path):
        raise FileNotFoundError(
            f"no model at {path!r}: expected a folder written by fer-toolkit train (with "
            f"{SPEC_NAME} and {PARAMS_NAME}) or its {SPEC_NAME}."
        )
    document = _read_document(spec_path)
    folder = os.path.dirname(spec_path)
    try:
        spec = PipelineSpec.from_dict(document["pipeline"], spec_path)
        classes, shape = document["classes"], document["input_shape"]
        _check_classes(classes, f"{spec_path}: entry 'classes'")
        _check_shape(shape, f"{spec_path}: entry 'input_shape'")
        labels = document["labels"]
        label_classes, mapping = labels["classes"], labels["mapping"]
        if not (label_classes is None or isinstance(label_classes, list)) or not (
            mapping is None or isinstance(mapping, dict)
        ):
            raise InputError(
                f"{spec_path}: entry 'labels' must hold a 'classes' list (or null) and a "
                f"'mapping' object (or null); got {labels!r}."
            )
        labels = LabelSet(
            classes=None if label_classes is None else tuple(label_classes), mapping=mapping
        )
    except (KeyError, TypeError) as exc:
        raise InputError(f"{spec_path}: missing or malformed entry {exc}.") from None
    if allow_pickle:
        return TrainedModel(
            pipeline=_load_pickled(os.path.join(folder, JOBLIB_NAME)),
            spec=spec,
            labels=labels,
            path=folder,
        )
    params_path = os.path.join(folder, PARAMS_NAME)
    if not os.path.isfile(params_path):
        raise FileNotFoundError(f"{params_path!r} is missing: the weights of {spec_path}.")
    state = read_weights(params_path)
    try:
        pipeline = build_pipeline(spec, device=device)
        cnn = pipeline[-1]
        cnn.initialize_for(_sample_input(shape), classes)
    except (TypeError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise InputError(f"{spec_path}: cannot build its network: {reason}") from None
    try:
        cnn.module_.load_state_dict(state)
    except RuntimeError as exc:  # torch: wrong keys or shapes for this network
        reason = " ".join(str(exc).split())
        raise InputError(
            f"{params_path} does not fit the network of {spec_path}: {reason}"
        ) from None
    return TrainedModel(pipeline=pipeline, spec=spec, labels=labels, path=folder)


def _load_pickled(joblib_path: str) -> Pipeline:
    """``joblib.load`` of a model.joblib (runs its code: only on an explicit opt-in)."""
    if not os.path.isfile(joblib_path):
        raise FileNotFoundError(f"{joblib_path!r} is missing (allow_pickle loads it).")
    pipeline = joblib.load(joblib_path)
    if not isinstance(pipeline, Pipeline):
        raise InputError(
            f"{joblib_path}: holds a {type(pipeline).__name__}, not a fitted pipeline."
        )
    return pipeline


def model_faces(pipeline: Pipeline, images):
    """``(network input, face images to show)``: ``images`` through the steps before the CNN."""
    prepared = pipeline[:-1].transform(images)
    faces = prepared["face"] if hasattr(prepared, "keys") else prepared
    return prepared, faces


#: ``--cropper``, ``--align``, ``--margin``, ``--size``, ``--grayscale/--rgb``, ``--blocks``,
#: ``--model`` and ``--set``: the pipeline of ``train`` and ``search``.
PIPELINE_OPTIONS = [
    click.option(
        "--cropper",
        type=click.Choice(CROPPERS),
        default="none",
        show_default=True,
        help="Face cropping step: none (the images are faces already), haar or mtcnn.",
    ),
    click.option("--align", is_flag=True, help="Align faces on their landmarks (--cropper mtcnn)."),
    click.option(
        "--margin",
        type=click.FloatRange(min=0.0),
        default=0.0,
        show_default=True,
        help="Fraction of the face added on every side of a crop.",
    ),
    click.option(
        "--size",
        type=SizeParam(),
        default="48",
        show_default=True,
        help="Face size the network sees: 48 or HEIGHTxWIDTH.",
    ),
    click.option(
        "--grayscale/--rgb",
        default=True,
        show_default=True,
        help="One-channel or colour faces.",
    ),
    click.option(
        "--blocks",
        is_flag=True,
        help="Feed eye and mouth blocks beside the face (EyeMouthBlocks) to the "
        "prior_attention network.",
    ),
    click.option(
        "--model",
        type=ModelChoice(),
        default=None,
        help="Network from the model registry [default: baseline; prior_attention with --blocks].",
    ),
    click.option(
        "--set",
        "settings",
        type=SettingParam(),
        multiple=True,
        help="A hyper-parameter, repeatable: lr=0.003, max_epochs=20, batch_size=32, "
        "module__width=16, early_stopping=5, crop__min_neighbors=3...",
    ),
]


def spec_from_options(options) -> PipelineSpec:
    """The :class:`PipelineSpec` of the values of :data:`PIPELINE_OPTIONS` (their attributes)."""
    if options.align and options.cropper != "mtcnn":
        raise click.UsageError("--align needs --cropper mtcnn (alignment uses its landmarks).")
    if options.blocks and options.model not in (None, "prior_attention"):
        raise click.UsageError(
            f"--blocks feeds the prior_attention network; --model {options.model} takes one image."
        )
    return PipelineSpec(
        cropper=options.cropper,
        align=options.align,
        margin=options.margin,
        size=options.size,
        grayscale=options.grayscale,
        blocks=options.blocks,
        model=options.model or ("prior_attention" if options.blocks else "baseline"),
        params=dict(options.settings),
    )
