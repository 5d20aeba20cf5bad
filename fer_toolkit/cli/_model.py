"""The models of the command line: a pipeline described in JSON, built, saved and loaded.

A trained model is a folder (the ``--out`` of ``train`` or ``search``) with

* ``model.json``: the :class:`PipelineSpec` (face cropping, size, colour,
  blocks, network and hyper-parameters), the classes, the network's input
  shape and how labels were mapped;
* ``model_params.pt``: the network weights (``save_params``), which
  :func:`load_model` reads with ``torch.load(weights_only=True)``: no pickle;
* ``model.joblib``: the whole fitted pipeline, for ``joblib.load`` in Python.

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
from ..utils.validation import check_size
from ._common import SettingParam, SizeParam, closest
from ._data import LabelSet

__all__ = [
    "JOBLIB_NAME",
    "MODELS",
    "MODEL_FORMAT",
    "PARAMS_NAME",
    "SPEC_NAME",
    "ModelChoice",
    "PipelineSpec",
    "TrainedModel",
    "build_pipeline",
    "load_model",
    "model_faces",
    "pipeline_options",
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
MODELS = ("baseline", "conv4_dense3", "prior_attention", "vgg_fer")
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
            raise ValueError(f"cropper must be one of {CROPPERS}; got {self.cropper!r}.")
        if self.align and self.cropper != "mtcnn":
            raise ValueError(
                "alignment needs the landmarks of the MTCNN cropper (--cropper mtcnn)."
            )
        if not isinstance(self.margin, (int, float)) or not self.margin >= 0:
            raise ValueError(f"margin must be a number >= 0; got {self.margin!r}.")
        self.size = check_size(tuple(self.size) if isinstance(self.size, list) else self.size)
        if self.model not in MODELS:
            from ..models.registry import _current_name

            self.model = _current_name(self.model, stacklevel=3)
        for key in self.params:
            name = key.removeprefix("cnn__")
            if name in _RESERVED:
                raise ValueError(
                    f"parameter {key!r} cannot be set as a value" + _RESERVED_HINTS.get(name, ".")
                )

    def to_dict(self) -> dict:
        values = asdict(self)
        values["size"] = list(self.size)
        return values

    @classmethod
    def from_dict(cls, values: dict, where: str) -> PipelineSpec:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{where}: unknown pipeline entries {unknown}.")
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None


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
                raise ValueError(
                    f"unknown parameter {name!r}: step {head!r} ({type(steps[head]).__name__}) "
                    f"has {', '.join(sorted(known))}."
                )
            routed[name] = value
        elif head in STEPS and rest:
            raise ValueError(
                f"unknown parameter {name!r}: this pipeline has no {head!r} step (its steps "
                f"are {', '.join(steps)})."
            )
        elif name in cnn_names or (rest and head in cnn_prefixes):
            routed[f"cnn__{name}"] = value
        else:
            raise ValueError(
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


def _plain(value):
    """JSON-able copy of ``value`` (numpy scalars and tuples become numbers and lists)."""
    return json.loads(
        json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else v)
    )


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
        "training": _plain(info),
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


def load_model(path, *, device="auto") -> TrainedModel:
    """Rebuild a model from a folder written by ``train`` / ``search`` (or its model.json).

    Nothing is unpickled: the pipeline is built from the JSON description and
    the network weights are read with ``torch.load(weights_only=True)``.
    """
    path = os.fspath(path)
    spec_path = os.path.join(path, SPEC_NAME) if os.path.isdir(path) else path
    if not os.path.isfile(spec_path):
        raise FileNotFoundError(
            f"no model at {path!r}: expected a folder written by fer-toolkit train (with "
            f"{SPEC_NAME} and {PARAMS_NAME}) or its {SPEC_NAME}."
        )
    with open(spec_path, encoding="utf-8") as f:
        try:
            document = json.load(f)
        except ValueError as exc:
            raise ValueError(f"{spec_path} is not valid JSON: {exc}.") from None
    if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
        raise ValueError(f"{spec_path} is not a fer_toolkit model description ({SPEC_NAME}).")
    try:
        spec = PipelineSpec.from_dict(document["pipeline"], spec_path)
        classes, shape = document["classes"], document["input_shape"]
        labels = LabelSet(
            classes=None
            if document["labels"]["classes"] is None
            else tuple(document["labels"]["classes"]),
            mapping=document["labels"]["mapping"],
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{spec_path}: missing or malformed entry {exc}.") from None
    params_path = os.path.join(os.path.dirname(spec_path), PARAMS_NAME)
    if not os.path.isfile(params_path):
        raise FileNotFoundError(f"{params_path!r} is missing: the weights of {spec_path}.")
    pipeline = build_pipeline(spec, device=device)
    cnn = pipeline[-1]
    cnn.initialize_for(_sample_input(shape), classes)
    try:
        cnn.load_params(f_params=params_path)
    except RuntimeError as exc:  # torch: wrong keys or shapes for this network
        raise ValueError(f"{params_path} does not fit the network of {spec_path}: {exc}") from None
    return TrainedModel(
        pipeline=pipeline, spec=spec, labels=labels, path=os.path.dirname(spec_path)
    )


def model_faces(pipeline: Pipeline, images):
    """``(network input, face images to show)``: ``images`` through the steps before the CNN."""
    prepared = pipeline[:-1].transform(images)
    faces = prepared["face"] if hasattr(prepared, "keys") else prepared
    return prepared, faces


def pipeline_options(func):
    """``--cropper``, ``--align``, ``--margin``, ``--size``, ``--grayscale/--rgb``,
    ``--blocks``, ``--model`` and ``--set``."""
    options = [
        click.option(
            "--cropper",
            type=click.Choice(CROPPERS),
            default="none",
            show_default=True,
            help="Face cropping step: none (the images are faces already), haar or mtcnn.",
        ),
        click.option(
            "--align", is_flag=True, help="Align faces on their landmarks (--cropper mtcnn)."
        ),
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
            help="Network from the model registry [default: baseline; prior_attention "
            "with --blocks].",
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
    for option in reversed(options):
        func = option(func)
    return func


def spec_from_options(cropper, align, margin, size, grayscale, blocks, model, settings):
    """The :class:`PipelineSpec` of the options of :func:`pipeline_options`."""
    if align and cropper != "mtcnn":
        raise click.UsageError("--align needs --cropper mtcnn (alignment uses its landmarks).")
    if blocks and model not in (None, "prior_attention"):
        raise click.UsageError(
            f"--blocks feeds the prior_attention network; --model {model} takes one image."
        )
    return PipelineSpec(
        cropper=cropper,
        align=align,
        margin=margin,
        size=size,
        grayscale=grayscale,
        blocks=blocks,
        model=model or ("prior_attention" if blocks else "baseline"),
        params=dict(settings),
    )
