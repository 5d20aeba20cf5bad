"""CNN architectures for facial emotion recognition, as plain :class:`torch.nn.Module` s.

Every model takes the keyword arguments ``in_channels`` (default 1),
``n_classes`` (default 7), ``image_size`` (int or ``(height, width)``, default
48) and ``dropout``, plus model-specific extras, and maps a float batch
``(N, in_channels, H, W)`` (three of them for the prior-attention network) to
**logits** ``(N, n_classes)``. Training logic lives in the skorch estimators,
which look models up by name here.

Models
------
BaselineCNN  (``"baseline"``)
    Small and fast; the quickstart default.
Conv4Dense3CNN  (``"conv4_dense3"``)
    The 5-class Keras CNN of amirhossein-hkh/facial-expression-recognition
    (https://github.com/amirhossein-hkh/facial-expression-recognition), layer
    for layer: four convolutions and three dense layers.
VGGFER  (``"vgg_fer"``)
    The VGG variant of Khaireddin & Chen (2021).
MiniXception  (``"mini_xception"``)
    The mini-Xception of Arriaga et al. (2017); its FER2013 weights ship with
    the package: ``load_pretrained("mini_xception_fer2013")`` (see
    :func:`available_pretrained`).
PriorAttentionCNN  (``"prior_attention"``)
    The prior-attention approach of iTerner/Facial-Emotion-Detection
    (https://github.com/iTerner/Facial-Emotion-Detection): branches over the
    face, the eye block and the mouth block, fused before the classifier. Its
    ``forward`` takes three batches ``(face, eyes, mouth)``, which
    :class:`~fer_toolkit.estimators.CNNClassifier` passes from a dict of images.

Layers
------
UniformMaskDropout
    ``nn.Dropout`` whose CPU masks are ``torch.rand(...) >= p``: PyTorch's own CPU
    Bernoulli sampler is serial outside Intel processors (used by ``conv4_dense3``).

Examples
--------
>>> import torch
>>> from fer_toolkit.models import available_models, get_model
>>> available_models()
['baseline', 'conv4_dense3', 'mini_xception', 'prior_attention', 'vgg_fer']
>>> model = get_model("baseline")(n_classes=4, image_size=48).eval()
>>> model(torch.zeros(1, 1, 48, 48)).shape
torch.Size([1, 4])
"""

from .baseline import BaselineCNN
from .conv4_dense3 import Conv4Dense3CNN
from .layers import UniformMaskDropout
from .mini_xception import MiniXception
from .pretrained_models import (
    PretrainedInfo,
    available_pretrained,
    load_pretrained,
    make_photo_pipeline,
    pretrained_backbone,
    pretrained_info,
)
from .prior_attention import PriorAttentionCNN
from .registry import (
    ModelInfo,
    available_models,
    get_model,
    model_info,
    register_model,
    unregister_model,
)
from .vgg import VGGFER

__all__ = [
    "VGGFER",
    "BaselineCNN",
    "Conv4Dense3CNN",
    "MiniXception",
    "ModelInfo",
    "PretrainedInfo",
    "PriorAttentionCNN",
    "UniformMaskDropout",
    "available_models",
    "available_pretrained",
    "get_model",
    "load_pretrained",
    "make_photo_pipeline",
    "model_info",
    "pretrained_backbone",
    "pretrained_info",
    "register_model",
    "unregister_model",
]
