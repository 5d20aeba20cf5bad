"""Box geometry (fer_toolkit.utils.boxes): NMS, squaring, IoU, centre squares."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fer_toolkit.utils import boxes as boxes_module
from fer_toolkit.utils.boxes import box_iou, centre_square, nms, square_box, square_corners


def _nms_by_definition(boxes, threshold, method):
    """Keep box j unless some higher-ranked box i < j overlaps it by more than threshold."""
    keep = []
    for j, b in enumerate(boxes):
        suppressed = False
        for a in boxes[:j]:
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            area_a = (a[2] - a[0]) * (a[3] - a[1])
            area_b = (b[2] - b[0]) * (b[3] - b[1])
            denominator = area_a + area_b - iw * ih if method == "union" else min(area_a, area_b)
            suppressed |= iw * ih / denominator > threshold
        keep.append(not suppressed)
    return boxes[np.array(keep, dtype=bool)]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 40),
    threshold=st.floats(0.05, 0.95),
    method=st.sampled_from(["union", "min"]),
    block=st.sampled_from([1, 7, 1 << 22]),
)
def test_nms_matches_its_definition(seed, n, threshold, method, block):
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 50, (n, 2))
    boxes = np.column_stack([corner, corner + rng.uniform(1, 30, (n, 2)), rng.random(n)])
    boxes = boxes[np.argsort(-boxes[:, 4], kind="stable")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(boxes_module, "_NMS_BLOCK", block)  # overlap matrix in blocks of rows
        kept = boxes_module.nms(boxes, threshold, method)
    np.testing.assert_array_equal(kept, _nms_by_definition(boxes, threshold, method))


def test_nms_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="method must be 'union' or 'min'; got 'max'"):
        nms(np.zeros((2, 5)), 0.5, "max")


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(-50, 50),
    y=st.integers(-50, 50),
    w=st.integers(1, 80),
    h=st.integers(1, 80),
)
def test_square_box_is_square_corners_on_whole_pixels(x, y, w, h):
    # The formula extract_faces used before it shared square_corners with MTCNN.
    side = max(w, h)
    assert square_box((x, y, w, h)) == (x + (w - side) // 2, y + (h - side) // 2, side, side)
    corners = square_corners(np.array([[x, y, x + w, y + h]], dtype=np.float64))[0]
    assert corners[2] - corners[0] == corners[3] - corners[1] == side
    assert square_box((x, y, w, h))[:2] == tuple(np.floor(corners[:2]).astype(int))


def test_square_corners_keeps_the_centre_and_extra_columns():
    boxes = np.array([[0.5, 1.0, 4.5, 9.0, 0.7, 3.0], [2.0, 2.0, 3.0, 2.5, 0.1, 4.0]])
    out = square_corners(boxes)
    np.testing.assert_array_equal(out[:, 4:], boxes[:, 4:])
    np.testing.assert_allclose(out[:, 2] - out[:, 0], [8.0, 1.0])
    np.testing.assert_allclose(out[:, 3] - out[:, 1], [8.0, 1.0])
    np.testing.assert_allclose(out[:, :2] + out[:, 2:4], boxes[:, :2] + boxes[:, 2:4])
    assert out is not boxes and boxes[0, 0] == 0.5


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((10, 10), (0, 0, 10, 10)), ((10, 15, 3), (2, 0, 10, 10)), ((7, 4), (0, 1, 4, 4))],
)
def test_centre_square(shape, expected):
    assert centre_square(shape) == expected


def test_box_iou_is_public_where_it_was():
    from fer_toolkit.cascade import box_iou as cascade_box_iou
    from fer_toolkit.preprocessing import crop_box
    from fer_toolkit.preprocessing.faces import centre_square as faces_centre_square

    assert cascade_box_iou is box_iou
    assert crop_box is boxes_module.crop_box
    assert faces_centre_square is centre_square
