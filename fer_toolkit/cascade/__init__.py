"""Training OpenCV-compatible Haar and LBP cascades.

``.vec`` sample files, positive description files and background lists, the
``createsamples`` tools, a native boosted-cascade trainer whose XML
``cv2.CascadeClassifier`` loads unchanged, and a wrapper around OpenCV's own
``opencv_createsamples`` / ``opencv_traincascade`` when they are installed.
"""

__all__: list[str] = []

from ..utils.lazy import lazy_attributes
from .createsamples import create_samples, samples_from_image, samples_from_info, show_vec
from .description import Positive, read_bg, read_info, write_bg, write_info
from .detect import (
    ImageDetections,
    detect_files,
    find_images,
    write_detections_csv,
    write_detections_json,
)
from .evaluate import (
    CascadeEvaluation,
    OperatingPoint,
    box_iou,
    evaluate_cascade,
    match_detections,
)
from .opencv_backend import (
    OpenCVToolError,
    OpenCVToolNotFoundError,
    createsamples_args,
    find_opencv_tool,
    run_createsamples,
    run_opencv_tool,
    run_traincascade,
    traincascade_args,
)
from .vec import read_vec, vec_count, write_vec

#: The public names of the modules built on PyTorch, imported on first use (PEP 562):
#: the OpenCV backend, detection and ``fer-toolkit cascade --help`` do without PyTorch.
_LAZY_MODULES = {
    "boost": ["boost_stage"],
    "features": ["HaarFeatures", "LBPFeatures", "haar_features", "lbp_features", "make_features"],
    "integral": ["IntegralBatch", "integral_batch", "integral_image"],
    "model": ["Cascade", "CascadeParams", "FeatureParams", "Stage", "StageParams", "WeakTree"],
    "train": ["StageReport", "TrainingResult", "train_cascade"],
    "xml": [
        "read_cascade",
        "read_params",
        "read_stage",
        "write_cascade",
        "write_params",
        "write_stage",
    ],
}
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_MODULES)

__all__ += [
    "OpenCVToolError",
    "OpenCVToolNotFoundError",
    "createsamples_args",
    "find_opencv_tool",
    "run_createsamples",
    "run_opencv_tool",
    "run_traincascade",
    "traincascade_args",
]

__all__ += [
    "CascadeEvaluation",
    "ImageDetections",
    "OperatingPoint",
    "box_iou",
    "detect_files",
    "evaluate_cascade",
    "find_images",
    "match_detections",
    "write_detections_csv",
    "write_detections_json",
]

__all__ += [
    "Positive",
    "create_samples",
    "read_bg",
    "read_info",
    "read_vec",
    "samples_from_image",
    "samples_from_info",
    "show_vec",
    "vec_count",
    "write_bg",
    "write_info",
    "write_vec",
]

__all__ += ["StageReport", "TrainingResult", "boost_stage", "train_cascade"]

__all__ += [
    "Cascade",
    "CascadeParams",
    "FeatureParams",
    "HaarFeatures",
    "IntegralBatch",
    "LBPFeatures",
    "Stage",
    "StageParams",
    "WeakTree",
    "haar_features",
    "integral_batch",
    "integral_image",
    "lbp_features",
    "make_features",
    "read_cascade",
    "read_params",
    "read_stage",
    "write_cascade",
    "write_params",
    "write_stage",
]
