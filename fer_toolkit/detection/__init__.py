"""Face detectors as plain objects.

Every detector returns, per image, a :class:`Detections` with boxes
``(x, y, w, h)``, confidences, and landmarks when it locates them.
"""

from ._types import Detections
from .haar import HaarCascadeDetector, available_cascades, resolve_cascade
from .mtcnn import MTCNN

__all__ = ["MTCNN", "Detections", "HaarCascadeDetector", "available_cascades", "resolve_cascade"]
