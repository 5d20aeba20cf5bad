"""fer_toolkit: facial emotion recognition in the scikit-learn family.

Subpackages
-----------
datasets
    FER2013 / FER+ CSV loaders, image folders, label sets and the synthetic
    FER-format dataset used as the embedded default.
preprocessing
    scikit-learn transformers over image batches: reading, face cropping,
    grayscale, resizing, rescaling and classical features.
detection
    Face detectors as plain objects returning :class:`~fer_toolkit.detection.Detections`.
cli
    The ``fer-toolkit`` command line.
"""

from .utils.threads import configure_openmp

# Before anything imports torch: idle OpenMP threads sleep instead of spinning, which
# keeps PyTorch work fast when other processes share the cores (see
# fer_toolkit.utils.threads; variables the user set are left alone).
configure_openmp()

__version__ = "0.1.0"
