"""The output folder of a face extraction: its file names, index columns, and crop writing.

Shared by ``extract_faces`` (``pipeline``) and ``crop_fer2013`` (``fer_csv``).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from ...utils.fileio import atomic_write
from ...utils.validation import InputError

__all__ = [
    "FACES_DIR",
    "IMAGE_FORMATS",
    "INDEX_COLUMNS",
    "INDEX_NAME",
    "LANDMARK_NAMES",
    "REJECTED_DIR",
    "VERIFY_MARGIN",
    "write_image",
]

#: The five landmarks of MTCNN, in its order; ``index.csv`` has ``<name>_x`` and ``<name>_y``.
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

#: Columns of ``index.csv``, one row per detection.
INDEX_COLUMNS = (
    "source",
    "frame",
    "face",
    "x",
    "y",
    "w",
    "h",
    "confidence",
    *(f"{name}_{axis}" for name in LANDMARK_NAMES for axis in "xy"),
    "crop",
    "kept",
    "reason",
)

#: Margin of the crops handed to a verifier: the square around each box (side
#: ``max(w, h)``), grown by this fraction of its side on every side.
VERIFY_MARGIN = 0.25

#: Image formats a crop can be written in (file suffixes).
IMAGE_FORMATS = ("png", "jpg", "bmp", "webp", "tiff")
#: The index of an output folder.
INDEX_NAME = "index.csv"
#: The folders of kept and of rejected crops.
FACES_DIR = "faces"
REJECTED_DIR = "rejected"


def write_image(path: str | os.PathLike, image: np.ndarray, image_format: str, name: str) -> None:
    """Encode an RGB or grayscale ``image`` as ``image_format`` and write it atomically.

    ``name`` says what the image is in the error raised when OpenCV cannot
    encode it.
    """
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(f".{image_format}", image)
    if not ok:
        raise InputError(f"OpenCV cannot encode {name} as {image_format}.")
    with atomic_write(path, "wb") as f:
        f.write(encoded.tobytes())
