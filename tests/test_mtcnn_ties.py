"""MTCNN orders equal scores as the ``mtcnn`` package does.

The package sorts candidates with numpy's default ``np.argsort(score)`` and
reverses the result (``mtcnn/utils/bboxes.py::sort_by_scores``): after P-Net
at each scale, after merging the scales, and before the R-Net and O-Net
suppressions. That sort is not stable, so which of two tied, overlapping boxes
survives the next suppression depends on it. Here the package's P-Net stage is
restated in NumPy from its source (cell boxes in ``np.where`` order, the sort,
its matrix suppression, the merge, the squaring) and fed the scores and
offsets our P-Net computed, so that only the ordering rules are compared.
"""

import numpy as np
import pytest
import torch
from skimage import data

from fer_toolkit.detection import MTCNN
from fer_toolkit.detection import mtcnn as mtcnn_module


def package_sort(boxes, column):
    return boxes[np.argsort(boxes[:, column])[::-1]]


def package_nms(boxes, threshold):
    """The package's suppression: box j goes when any box ranked before it overlaps it."""
    x1, y1, x2, y2 = boxes[:, 1:5].T
    area = (x2 - x1) * (y2 - y1)
    iw = np.maximum(0, np.minimum(x2[None, :], x2[:, None]) - np.maximum(x1[None, :], x1[:, None]))
    ih = np.maximum(0, np.minimum(y2[None, :], y2[:, None]) - np.maximum(y1[None, :], y1[:, None]))
    inter = iw * ih
    with np.errstate(divide="ignore", invalid="ignore"):
        overlap = inter / (area[:, None] + area[None, :] - inter)
    before = np.triu(np.ones((len(boxes), len(boxes))), k=1)
    return boxes[np.where(((overlap > threshold) * before).sum(axis=0) == 0)[0]]


def package_pnet_stage(outputs, scales, threshold=0.0, nms=(0.5, 0.7)):
    """The package's P-Net stage on P-Net outputs ``[(offsets (4, H, W), face (H, W))]``."""
    per_scale = []
    for (offsets, face), scale in zip(outputs, scales, strict=True):
        rows, cols = np.where(face > threshold)
        x1 = (cols * 2 + 1 + offsets[0, rows, cols] * 11) / scale
        y1 = (rows * 2 + 1 + offsets[1, rows, cols] * 11) / scale
        x2 = (cols * 2 + 12 + offsets[2, rows, cols] * 11) / scale
        y2 = (rows * 2 + 12 + offsets[3, rows, cols] * 11) / scale
        boxes = np.column_stack([np.zeros(len(rows)), x1, y1, x2, y2, face[rows, cols]])
        per_scale.append(package_nms(package_sort(boxes, 5), nms[0]))
    boxes = package_nms(package_sort(np.concatenate(per_scale), 5), nms[1])
    w, h = boxes[:, 3] - boxes[:, 1], boxes[:, 4] - boxes[:, 2]
    side = np.maximum(w, h)
    x1, y1 = boxes[:, 1] + w * 0.5 - side * 0.5, boxes[:, 2] + h * 0.5 - side * 0.5
    return np.column_stack([x1, y1, x1 + side, y1 + side, boxes[:, 5]])


def propose_with_outputs(detector, image):
    """Our P-Net candidates for ``image`` and the P-Net outputs that produced them."""
    nets = detector._networks()
    outputs = []

    def keep(module, inputs, result):
        offsets, probs = result
        outputs.append((offsets[0].double().numpy(), probs[0, 1].double().numpy()))

    handle = nets.pnet.register_forward_hook(keep)
    try:
        with torch.inference_mode():
            found = detector._propose(nets, [mtcnn_module._pixels(image)])[0]
    finally:
        handle.remove()
    return found, outputs


def test_sort_is_the_package_rule_on_ties():
    rng = np.random.default_rng(0)
    for n in (5, 16, 17, 70, 300):
        boxes = rng.random((n, 5))
        boxes[:, 4] = rng.choice([0.25, 0.5, 0.75], size=n)  # every score tied
        out = mtcnn_module._sort(boxes)
        np.testing.assert_array_equal(out, boxes[np.argsort(boxes[:, 4])[::-1]])
        assert np.all(np.diff(out[:, 4]) <= 0)


@pytest.fixture(scope="module")
def tied_detector():
    # One pyramid level at scale 1 (no resizing), every P-Net cell passing.
    return MTCNN(min_face_size=12, thresholds=(0.0, 0.7, 0.8), device="cpu")


def test_an_exact_pnet_tie_is_resolved_as_the_package_resolves_it(tied_detector, monkeypatch):
    image = np.full((24, 30, 3), 60, dtype=np.uint8)  # every 12x12 window alike
    found, outputs = propose_with_outputs(tied_detector, image)
    face, scales = outputs[0][1], [1.0]
    assert len(outputs) == 1 and face.size == 70
    # Alike windows give float32-equal scores (up to a few cells that the
    # kernels sum in another order): large groups of exact ties.
    assert np.unique(face, return_counts=True)[1].max() >= 30
    expected = package_pnet_stage(outputs, scales)
    np.testing.assert_array_equal(found, expected)
    # The tie matters: the old rule (stable, row-major first) keeps other boxes.
    monkeypatch.setattr(mtcnn_module, "_sort", lambda b: b[np.argsort(-b[:, 4], kind="stable")])
    stable, _ = propose_with_outputs(tied_detector, image)
    assert stable.shape != found.shape or not np.array_equal(stable, found)


def test_pnet_stage_follows_the_package_on_a_photo():
    detector = MTCNN(device="cpu")
    image = data.astronaut()[::2, ::2]
    found, outputs = propose_with_outputs(detector, image)
    h, w = image.shape[:2]
    scales = [
        s
        for s in mtcnn_module.pyramid_scales(h, w, 20, 0.709)
        if min(mtcnn_module._pnet_cells(int(w * s)), mtcnn_module._pnet_cells(int(h * s))) >= 1
    ]
    expected = package_pnet_stage(outputs, scales, threshold=0.6)
    assert len(found) > 1
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-9)
