"""Face detectors as plain objects.

Every detector returns, per image, a :class:`Detections` with boxes
``(x, y, w, h)``, confidences, and landmarks when it locates them.
"""

import lazy_loader as _lazy

# Every name is imported on first use: MTCNN runs on PyTorch, and the Haar detector and
# the packages built on this one import fast without it.
__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "results": ["Detections"],
        "haar": ["HaarCascadeDetector", "available_cascades", "resolve_cascade"],
        "mtcnn": ["MTCNN"],
    },
)
