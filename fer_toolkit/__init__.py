"""fer_toolkit: facial emotion recognition in the scikit-learn family.

Subpackages
-----------
datasets
    FER2013 / FER+ CSV loaders, image folders, videos, label sets, face
    extraction and the synthetic FER-format dataset used as the embedded default.
preprocessing
    scikit-learn transformers over image batches: reading, face cropping and
    alignment, eye and mouth blocks, grayscale, resizing, rescaling and
    classical features.
detection
    Face detectors as plain objects returning :class:`~fer_toolkit.detection.Detections`.
estimators
    skorch-wrapped PyTorch estimators: the CNN classifier, self-supervised
    pretext tasks, backbones and the face verifier.
models
    CNN architectures as plain ``torch.nn.Module`` s, by name, and pretrained weights.
cascade
    Training OpenCV-compatible Haar and LBP cascades (``opencv_traincascade``
    re-implemented), their sample files, detection and evaluation.
plotting
    Figures of images, detections, confusion matrices, training curves and searches.
utils
    Input validation, pixel conversions, atomic files, untrusted input, threads,
    estimator discovery and checks (one public module each).
cli
    The ``fer-toolkit`` command line.

The public API is the ``__all__`` of each of them (of each ``utils`` module);
nothing else is. Every subpackage is imported on first use (``import
fer_toolkit`` stays light), and so are the names of ``detection`` and
``cascade`` that need PyTorch. ``fer_toolkit.cascades`` holds cascade XML data
files, no code.
"""

import lazy_loader as _lazy

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=[
        "cascade",
        "cli",
        "datasets",
        "detection",
        "estimators",
        "models",
        "plotting",
        "preprocessing",
        "utils",
    ],
)
