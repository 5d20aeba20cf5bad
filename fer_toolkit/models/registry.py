"""Look CNN architectures up by name.

Estimators and the command line take a model name such as ``"baseline"`` and
turn it into a :class:`torch.nn.Module` class with :func:`get_model`. Every
registered class accepts the keyword arguments ``in_channels``, ``n_classes``,
``image_size`` and ``dropout`` and returns logits of shape ``(N, n_classes)``.

Built-in models
---------------
``"baseline"``
    :class:`~fer_toolkit.models.BaselineCNN`, a small fast CNN in the spirit of
    the hand-made Keras baselines of the Facial Emotion Recognition project
    (https://github.com/muscak/Facial-Emotion-Recognition).
``"conv4_dense3"``
    :class:`~fer_toolkit.models.Conv4Dense3CNN`, the 5-class Keras CNN (four
    convolutions, three dense layers) tabled in the README of
    amirhossein-hkh/facial-expression-recognition
    (https://github.com/amirhossein-hkh/facial-expression-recognition).
``"vgg_fer"``
    :class:`~fer_toolkit.models.VGGFER`, the VGG variant of Khaireddin & Chen,
    arXiv:2105.03588 (2021), code at https://github.com/usef-kh/fer.
``"mini_xception"``
    :class:`~fer_toolkit.models.MiniXception`, the mini-Xception of Arriaga et
    al. (2017); pretrained FER2013 weights load with
    :func:`~fer_toolkit.models.load_pretrained`.
``"prior_attention"``
    :class:`~fer_toolkit.models.PriorAttentionCNN`, the prior-attention approach
    of iTerner/Facial-Emotion-Detection
    (https://github.com/iTerner/Facial-Emotion-Detection): three branches over
    the face, the eye block and the mouth block. Its ``forward`` takes
    ``face``, ``eyes`` and ``mouth`` batches instead of one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from torch import nn

from ..utils.validation import InputError

__all__ = [
    "ModelInfo",
    "available_models",
    "get_model",
    "model_info",
    "register_model",
    "unregister_model",
]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model.

    Attributes
    ----------
    name : str
        Registry name.
    cls : type
        The :class:`torch.nn.Module` subclass.
    source : str
        Where the architecture comes from (paper, repository).
    description : str
        One-line summary.

    Examples
    --------
    >>> from fer_toolkit.models import ModelInfo, model_info
    >>> info = model_info("mini_xception")
    >>> isinstance(info, ModelInfo), info.name, info.cls.__name__
    (True, 'mini_xception', 'MiniXception')
    """

    name: str
    cls: type[nn.Module]
    source: str
    description: str


_REGISTRY: dict[str, ModelInfo] = {}

#: Former names of built-in models, still accepted (with a FutureWarning) so that
#: saved models and backbones that name them keep loading.
_RENAMED = {"seed004": "conv4_dense3"}


def _current_name(name, stacklevel=2):
    """``name``, or the new name of a renamed model (warning with a ``FutureWarning``).

    ``stacklevel`` counts from the caller of :func:`_current_name`, as in :func:`warnings.warn`.
    """
    new = _RENAMED.get(name) if isinstance(name, str) else None
    if new is None:
        return name
    warnings.warn(
        f"model {name!r} is now called {new!r}; the old name will stop working in a "
        "future release.",
        FutureWarning,
        stacklevel=stacklevel + 1,
    )
    return new


def register_model(name: str, cls: type[nn.Module], *, source: str, description: str) -> None:
    """Register ``cls`` under ``name``.

    Parameters
    ----------
    name : str
        Registry name (non-empty). Registering the same class again under its
        name replaces its source and description; another class under a taken
        name is an error (use :func:`unregister_model` first).
    cls : type
        A :class:`torch.nn.Module` subclass whose constructor accepts
        ``in_channels``, ``n_classes``, ``image_size`` and ``dropout`` keywords
        and whose ``forward`` returns logits ``(N, n_classes)``.
    source : str
        Where the architecture comes from (citation, URL).
    description : str
        One-line summary.

    Raises
    ------
    TypeError
        ``name``, ``source`` or ``description`` is not a string, or ``cls`` is
        not an ``nn.Module`` subclass.
    ValueError
        ``name`` is empty or already taken by another class.

    Examples
    --------
    >>> from torch import nn
    >>> from fer_toolkit.models import register_model, get_model, unregister_model
    >>> class Tiny(nn.Module):
    ...     def __init__(self, in_channels=1, n_classes=7, image_size=48, dropout=0.0):
    ...         super().__init__()
    ...         self.fc = nn.Linear(in_channels, n_classes)
    ...     def forward(self, x):
    ...         return self.fc(x.mean(dim=(2, 3)))
    >>> register_model("tiny", Tiny, source="this example", description="mean + linear")
    >>> get_model("tiny") is Tiny
    True
    >>> unregister_model("tiny")
    """
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {name!r}")
    if not name.strip():
        raise InputError("model name must not be empty")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"model {name!r}: cls must be a torch.nn.Module subclass, got {cls!r}")
    for field, value in (("source", source), ("description", description)):
        if not isinstance(value, str):
            raise TypeError(f"model {name!r}: {field} must be a str, got {value!r}")
    existing = _REGISTRY.get(name)
    if existing is not None and existing.cls is not cls:
        raise InputError(
            f"model name {name!r} is already registered for "
            f"{existing.cls.__module__}.{existing.cls.__qualname__}; "
            "call unregister_model first to replace it"
        )
    _REGISTRY[name] = ModelInfo(name=name, cls=cls, source=source, description=description)


def unregister_model(name: str) -> None:
    """Remove ``name`` from the registry (``ValueError`` if it is not registered).

    Parameters
    ----------
    name : str
        A registered name (see :func:`register_model`).

    Raises
    ------
    TypeError
        ``name`` is not a string.
    ValueError
        ``name`` is not registered; the message lists the available names.

    Examples
    --------
    >>> from torch import nn
    >>> from fer_toolkit.models import available_models, register_model, unregister_model
    >>> class Flat(nn.Module):
    ...     def __init__(self, in_channels=1, n_classes=7, image_size=48, dropout=0.0):
    ...         super().__init__()
    ...         self.fc = nn.Linear(in_channels * image_size * image_size, n_classes)
    ...     def forward(self, x):
    ...         return self.fc(x.flatten(1))
    >>> register_model("flat", Flat, source="this example", description="one linear layer")
    >>> "flat" in available_models()
    True
    >>> unregister_model("flat")
    >>> "flat" in available_models()
    False
    """
    _check_known(name)
    del _REGISTRY[name]


def available_models() -> list[str]:
    """Sorted names of the registered models.

    Examples
    --------
    >>> from fer_toolkit.models import available_models
    >>> available_models()
    ['baseline', 'conv4_dense3', 'mini_xception', 'prior_attention', 'vgg_fer']
    """
    return sorted(_REGISTRY)


def _check_known(name) -> None:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {name!r}")
    if name not in _REGISTRY:
        raise InputError(
            f"unknown model {name!r}; available models: {', '.join(available_models())}"
        )


def get_model(name: str) -> type[nn.Module]:
    """Return the model class registered under ``name``.

    The former name of a renamed built-in model returns the model under its new
    name, with a ``FutureWarning``.

    Raises
    ------
    ValueError
        ``name`` is not registered; the message lists the available names.

    Examples
    --------
    >>> from fer_toolkit.models import get_model
    >>> get_model("baseline").__name__
    'BaselineCNN'
    """
    name = _current_name(name)
    _check_known(name)
    return _REGISTRY[name].cls


def model_info(name: str) -> ModelInfo:
    """Return the :class:`ModelInfo` (class, source, description) of ``name``.

    Examples
    --------
    >>> from fer_toolkit.models import model_info
    >>> model_info("vgg_fer").source.startswith("Khaireddin")
    True
    """
    name = _current_name(name)
    _check_known(name)
    return _REGISTRY[name]


def _register_builtins() -> None:
    from .baseline import BaselineCNN
    from .conv4_dense3 import Conv4Dense3CNN
    from .mini_xception import MiniXception
    from .prior_attention import PriorAttentionCNN
    from .vgg import VGGFER

    register_model(
        "baseline",
        BaselineCNN,
        source=(
            "fer_toolkit; in the spirit of the hand-made Keras baselines of the Facial "
            "Emotion Recognition project, https://github.com/muscak/Facial-Emotion-Recognition"
        ),
        description=(
            "small fast CNN: stride-2 stem, conv-BN-ReLU blocks of width/2*width/4*width "
            "channels, global average pooling, dropout, linear (~98k parameters)"
        ),
    )
    register_model(
        "conv4_dense3",
        Conv4Dense3CNN,
        source=(
            "amirhossein-hkh/facial-expression-recognition README, Keras model summary "
            "(1,004,805 parameters at 48x48x1, 5 classes), "
            "https://github.com/amirhossein-hkh/facial-expression-recognition"
        ),
        description=(
            "4 valid conv3x3 (64-128-256-256) + ReLU + BN + maxpool stages, "
            "dense 128-64 with BN and dropout"
        ),
    )
    register_model(
        "vgg_fer",
        VGGFER,
        source=(
            "Khaireddin & Chen, 'Facial Emotion Recognition: State of the Art Performance "
            "on FER2013', arXiv:2105.03588 (2021); code https://github.com/usef-kh/fer "
            "models/vgg.py"
        ),
        description=(
            "VGG: 4 stages of 2x(conv3x3-BN-ReLU) + maxpool (64-128-256-512), "
            "fc 4096-4096 with dropout 0.2; 73.28% single-network accuracy on FER2013"
        ),
    )
    register_model(
        "mini_xception",
        MiniXception,
        source=(
            "Arriaga, Valdenegro-Toro & Ploeger, 'Real-time Convolutional Neural Networks for "
            "Emotion and Gender Classification', arXiv:1710.07557 (2017); code "
            "github.com/oarriaga/face_classification (MIT)"
        ),
        description=(
            "two valid conv3x3(8) + 4 residual modules of separable convolutions "
            "(16-32-64-128), conv3x3(n_classes) + global average pooling (~57k parameters); "
            "pretrained on FER2013 as 'mini_xception_fer2013'"
        ),
    )
    register_model(
        "prior_attention",
        PriorAttentionCNN,
        source=(
            "iTerner/Facial-Emotion-Detection README, 'Facial Expression Recognition Using "
            "Prior Attention' (eye and mouth blocks fed alongside the face), "
            "https://github.com/iTerner/Facial-Emotion-Detection"
        ),
        description=(
            "three conv-BN-ReLU branches (face, eye block, mouth block) with global "
            "average pooling, concatenated into a two-layer head; forward(face, eyes, mouth) "
            "(~161k parameters)"
        ),
    )


_register_builtins()
