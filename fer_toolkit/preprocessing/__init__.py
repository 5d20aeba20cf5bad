"""scikit-learn transformers over batches of images.

Every transformer accepts an ndarray ``(n, H, W)`` / ``(n, H, W, C)`` or a list
of differently sized arrays, RGB channel order, ``uint8`` or float in [0, 1].
"""

from ..utils.boxes import crop_box
from .alignment import FACE_TEMPLATE, align_face, face_template, similarity_transform
from .blocks import EyeMouthBlocks, eye_mouth_regions, prior_regions
from .color import Grayscale
from .faces import FaceFallbackWarning, HaarFaceCropper, NoFaceError, cut_face
from .features import Flatten, HOGFeatures, LBPHistogram
from .geometry import Resize, resize_image
from .intensity import Rescale
from .io import ImageReader, read_image
from .mtcnn_faces import MTCNNFaceCropper

__all__ = [
    "FACE_TEMPLATE",
    "EyeMouthBlocks",
    "FaceFallbackWarning",
    "Flatten",
    "Grayscale",
    "HOGFeatures",
    "HaarFaceCropper",
    "ImageReader",
    "LBPHistogram",
    "MTCNNFaceCropper",
    "NoFaceError",
    "Rescale",
    "Resize",
    "align_face",
    "crop_box",
    "cut_face",
    "eye_mouth_regions",
    "face_template",
    "prior_regions",
    "read_image",
    "resize_image",
    "similarity_transform",
]
