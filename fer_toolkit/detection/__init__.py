"""Face detectors as plain objects.

Every detector returns, per image, a :class:`Detections` with boxes
``(x, y, w, h)``, confidences, and landmarks when it locates them.
"""

from ..utils.lazy import lazy_attributes
from ._types import Detections
from .haar import HaarCascadeDetector, available_cascades, resolve_cascade

# MTCNN runs on PyTorch: imported on first use, so the Haar detector and the packages
# built on this one import fast.
__getattr__, __dir__ = lazy_attributes(__name__, {"mtcnn": ["MTCNN"]})

__all__ = ["MTCNN", "Detections", "HaarCascadeDetector", "available_cascades", "resolve_cascade"]
