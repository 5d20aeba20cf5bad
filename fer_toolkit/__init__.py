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

__version__ = "0.1.0"
