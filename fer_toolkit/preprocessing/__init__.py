"""scikit-learn transformers over batches of images.

Every transformer accepts an ndarray ``(n, H, W)`` / ``(n, H, W, C)`` or a list
of differently sized arrays, RGB channel order, ``uint8`` or float in [0, 1].
"""

from .color import Grayscale
from .faces import HaarFaceCropper, NoFaceError, crop_box
from .features import Flatten, HOGFeatures, LBPHistogram
from .geometry import Resize
from .intensity import Rescale
from .io import ImageReader, read_image

__all__ = [
    "Flatten",
    "Grayscale",
    "HOGFeatures",
    "HaarFaceCropper",
    "ImageReader",
    "LBPHistogram",
    "NoFaceError",
    "Rescale",
    "Resize",
    "crop_box",
    "read_image",
]
