"""FER datasets: FER2013 / FER+ CSVs, image folders, videos, label sets, and synthetic faces.

:func:`extract_faces` builds face datasets out of videos and image folders;
:func:`crop_fer2013` re-crops the faces of FER2013-format CSVs.

The synthetic generator, :func:`make_synthetic_faces`, is the embedded default
dataset: everything in fer_toolkit runs on it without downloads.
"""

from ..estimators.haar_verifier import HaarVerifier
from .extraction.fer_csv import FER2013_INDEX_COLUMNS, Fer2013CropSummary, crop_fer2013
from .extraction.output import INDEX_COLUMNS
from .extraction.pipeline import ExtractionSummary, extract_faces
from .face_patches import BACKGROUND_SCENES, make_face_patches
from .fer2013 import FER2013_USAGES, load_fer2013, write_fer2013_csv
from .ferplus import FERPLUS_VOTE_NAMES, load_ferplus
from .image_folder import IMAGE_EXTENSIONS, load_image_folder, load_images
from .labels import (
    EMOTION_ALIASES,
    EMOTIONS,
    FER2013_EMOTIONS,
    FERPLUS_EMOTIONS,
    LABEL_SETS,
    get_label_set,
    load_label_mapping,
    map_labels,
    normalize_emotion,
)
from .synthetic import make_synthetic_faces
from .video import VIDEO_EXTENSIONS, VideoInfo, iter_video_frames, video_info

__all__ = [
    "BACKGROUND_SCENES",
    "EMOTIONS",
    "EMOTION_ALIASES",
    "FER2013_EMOTIONS",
    "FER2013_INDEX_COLUMNS",
    "FER2013_USAGES",
    "FERPLUS_EMOTIONS",
    "FERPLUS_VOTE_NAMES",
    "IMAGE_EXTENSIONS",
    "INDEX_COLUMNS",
    "LABEL_SETS",
    "VIDEO_EXTENSIONS",
    "ExtractionSummary",
    "Fer2013CropSummary",
    "HaarVerifier",
    "VideoInfo",
    "crop_fer2013",
    "extract_faces",
    "get_label_set",
    "iter_video_frames",
    "load_fer2013",
    "load_ferplus",
    "load_image_folder",
    "load_images",
    "load_label_mapping",
    "make_face_patches",
    "make_synthetic_faces",
    "map_labels",
    "normalize_emotion",
    "video_info",
    "write_fer2013_csv",
]
