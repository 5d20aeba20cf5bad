"""MTCNN in PyTorch: the converted networks, the detector, and agreement with the mtcnn package.

``tests/data/mtcnn_reference.json`` holds the detections of the reference
TensorFlow package ``mtcnn`` 1.0.0 on the images of :func:`reference_images`.
It was written by (TensorFlow lives in a scratch venv, never in fer_toolkit)::

    python benchmarks/compare_mtcnn_reference.py --python /tmp/tfvenv/bin/python --write-fixture
"""

import json
import pickle
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from skimage import data

from fer_toolkit.detection import MTCNN, Detections
from fer_toolkit.detection._mtcnn_nets import ONet, PNet, RNet, load_keras_weights
from fer_toolkit.detection.mtcnn import area_resize, crop_and_resize, pyramid_scales

FIXTURE = Path(__file__).parent / "data" / "mtcnn_reference.json"


def reference_images() -> dict[str, np.ndarray]:
    """Images with faces whose reference detections are stored in the fixture.

    Also imported by ``benchmarks/compare_mtcnn_reference.py``, which wrote it.
    """
    astronaut = data.astronaut()
    lfw = (data.lfw_subset()[:12] * 255).round().astype(np.uint8)  # 25x25 faces
    tiles = [cv2.resize(face, (100, 100), interpolation=cv2.INTER_CUBIC) for face in lfw]
    return {
        "astronaut": astronaut,  # one face, ~85x110 px
        "astronaut_256": cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA),
        "camera": data.camera(),  # grayscale, one face
        "lfw_grid": np.vstack([np.hstack(tiles[r * 4 : r * 4 + 4]) for r in range(3)]),  # gray
    }


# --- An independent NumPy implementation of the Keras layers (channels last) ---------------


def np_conv_valid(x, kernel, bias):
    kh, kw = kernel.shape[:2]
    out_h, out_w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", x[:, i : i + out_h, j : j + out_w], kernel[i, j])
    return out + bias


def np_prelu(x, alpha):
    return np.where(x > 0, x, x * alpha.reshape(-1))


def np_maxpool(x, size, stride, padding):
    """Keras MaxPooling2D: 'valid', or 'same' (TensorFlow pads total//2 before, rest after)."""
    n, h, w, c = x.shape
    if padding == "valid":
        out_h, out_w = (h - size) // stride + 1, (w - size) // stride + 1
        top = left = 0
    else:
        out_h, out_w = -(-h // stride), -(-w // stride)
        top = max((out_h - 1) * stride + size - h, 0) // 2
        left = max((out_w - 1) * stride + size - w, 0) // 2
    padded = np.full((n, h + 2 * size, w + 2 * size, c), -np.inf)
    padded[:, top : top + h, left : left + w] = x
    out = np.empty((n, out_h, out_w, c))
    for r in range(out_h):
        for q in range(out_w):
            window = padded[:, r * stride : r * stride + size, q * stride : q * stride + size]
            out[:, r, q] = window.max(axis=(1, 2))
    return out


def np_permute_flatten(x):
    return x.transpose(0, 2, 1, 3).reshape(len(x), -1)  # Permute((2, 1, 3)) then Flatten


def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_pnet(w, x):
    x = np_maxpool(np_prelu(np_conv_valid(x, w[0], w[1]), w[2]), 2, 2, "same")
    x = np_prelu(np_conv_valid(x, w[3], w[4]), w[5])
    x = np_prelu(np_conv_valid(x, w[6], w[7]), w[8])
    return np_conv_valid(x, w[9], w[10]), np_softmax(np_conv_valid(x, w[11], w[12]))


def np_rnet(w, x):
    x = np_maxpool(np_prelu(np_conv_valid(x, w[0], w[1]), w[2]), 3, 2, "same")
    x = np_maxpool(np_prelu(np_conv_valid(x, w[3], w[4]), w[5]), 3, 2, "valid")
    x = np_prelu(np_conv_valid(x, w[6], w[7]), w[8])
    x = np_prelu(np_permute_flatten(x) @ w[9] + w[10], w[11])
    return x @ w[12] + w[13], np_softmax(x @ w[14] + w[15])


def np_onet(w, x):
    x = np_maxpool(np_prelu(np_conv_valid(x, w[0], w[1]), w[2]), 3, 2, "same")
    x = np_maxpool(np_prelu(np_conv_valid(x, w[3], w[4]), w[5]), 3, 2, "valid")
    x = np_maxpool(np_prelu(np_conv_valid(x, w[6], w[7]), w[8]), 2, 2, "same")
    x = np_prelu(np_conv_valid(x, w[9], w[10]), w[11])
    x = np_prelu(np_permute_flatten(x) @ w[12] + w[13], w[14])
    return x @ w[15] + w[16], x @ w[17] + w[18], np_softmax(x @ w[19] + w[20])


def test_numpy_maxpool_follows_keras_padding():
    x = np.arange(10.0).reshape(1, 2, 5, 1)
    # 'same', size 4, stride 1 on 5 columns: 3 padded cells, 1 before and 2 after.
    np.testing.assert_array_equal(np_maxpool(x, 4, 1, "same")[0, :, :, 0], [[7, 8, 9, 9, 9]] * 2)
    np.testing.assert_array_equal(np_maxpool(x, 2, 2, "valid")[0, :, :, 0], [[6, 8]])


@pytest.mark.parametrize(
    ("name", "net", "reference", "shape"),
    [
        ("pnet", PNet, np_pnet, (2, 12, 12, 3)),
        ("pnet", PNet, np_pnet, (1, 25, 32, 3)),  # odd and even sides: 'same' pads one side
        ("pnet", PNet, np_pnet, (1, 31, 19, 3)),
        ("rnet", RNet, np_rnet, (3, 24, 24, 3)),
        ("onet", ONet, np_onet, (3, 48, 48, 3)),
    ],
)
def test_networks_match_keras_semantics(name, net, reference, shape):
    weights = load_keras_weights(name)
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    expected = reference([w.astype(np.float64) for w in weights], x.astype(np.float64))
    with torch.inference_mode():
        got = net(weights).eval()(torch.from_numpy(x).permute(0, 3, 1, 2))
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        g = g.numpy()
        if g.ndim == 4:
            g = g.transpose(0, 2, 3, 1)
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=1e-4, rtol=0)


def test_weights_are_read_without_importing_the_mtcnn_package():
    import sys

    assert [w.shape for w in load_keras_weights("pnet")[:3]] == [(3, 3, 3, 10), (10,), (1, 1, 10)]
    # Importing the package itself would import TensorFlow.
    assert "mtcnn" not in sys.modules and "tensorflow" not in sys.modules


# --- Pieces of the cascade ------------------------------------------------------------------


def test_pyramid_scales_follow_the_package():
    scales = pyramid_scales(512, 512, 20, 0.709)
    assert len(scales) == 10  # round(-(log(512 / 12) / log(0.709) + 1))
    np.testing.assert_allclose(scales, 0.6 * 0.709 ** np.arange(10))
    assert len(pyramid_scales(20, 500, 20, 0.709)) == 0  # too small for any scale


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    out_fractions=st.tuples(st.floats(0.01, 1), st.floats(0.01, 1)),
    upscale=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_area_resize_from_the_integral_image_equals_opencv(
    height, width, out_fractions, upscale, seed
):
    # OpenCV's INTER_AREA is an area average when both sides shrink or both grow.
    out_height, out_width = (
        max(1, round(n * f)) for n, f in zip((height, width), out_fractions, strict=True)
    )
    if upscale:
        out_height, out_width = height * height // out_height, width * width // out_width
        # A side kept at its size is not "both grow": OpenCV then interpolates instead.
        assume(out_height > height and out_width > width)
    image = np.random.default_rng(seed).uniform(0, 255, (height, width, 3)).astype(np.float32)
    integral = cv2.integral(image, sdepth=cv2.CV_64F)
    expected = cv2.resize(image, (out_width, out_height), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(area_resize(image, (out_width, out_height)), expected)
    got = area_resize(image, (out_width, out_height), integral)
    assert got.shape == (out_height, out_width, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-3)


def _crop_by_definition(image, box, size):
    """tf.image.crop_and_resize on the normalised image, box given as (x1, y1, x2, y2) pixels."""
    height, width = image.shape[:2]
    normalised = (image.astype(np.float64) - 127.5) / 128
    x1, y1, x2, y2 = np.float32(np.array(box) / [width, height, width, height])
    out = np.zeros((size, size, 3))
    for r in range(size):
        in_y = y1 * (height - 1) + r * (y2 - y1) * (height - 1) / (size - 1)
        for c in range(size):
            in_x = x1 * (width - 1) + c * (x2 - x1) * (width - 1) / (size - 1)
            if not (0 <= in_y <= height - 1 and 0 <= in_x <= width - 1):
                continue
            t, b = int(np.floor(in_y)), int(np.ceil(in_y))
            le, ri = int(np.floor(in_x)), int(np.ceil(in_x))
            fy, fx = in_y - t, in_x - le
            top = normalised[t, le] + (normalised[t, ri] - normalised[t, le]) * fx
            bottom = normalised[b, le] + (normalised[b, ri] - normalised[b, le]) * fx
            out[r, c] = top + (bottom - top) * fy
    return out


def test_crop_and_resize_samples_like_tensorflow():
    image = data.astronaut()[::8, ::8].copy()  # 64x64
    boxes = np.array([[10.3, 5.7, 40.2, 35.6], [-8.0, 50.0, 20.0, 78.0], [0.0, 0.0, 63.0, 63.0]])
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    crops = crop_and_resize(pixels, boxes, 24).permute(0, 2, 3, 1).numpy()
    assert crops.shape == (3, 24, 24, 3)
    for crop, box in zip(crops, boxes, strict=True):
        np.testing.assert_allclose(crop, _crop_by_definition(image, box, 24), atol=1e-4)
    assert (crops[1, -1] == 0).all()  # below the image: TensorFlow's extrapolation value


# --- The detector ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector():
    return MTCNN(device="cpu")


@pytest.fixture(scope="module")
def images():
    return reference_images()


@pytest.fixture(scope="module")
def single(detector, images):
    return {name: detector.detect(image) for name, image in images.items()}


def test_one_face_with_plausible_landmarks_on_the_astronaut(single):
    faces = single["astronaut"]
    assert isinstance(faces, Detections)
    assert len(faces) == 1
    assert faces.boxes.dtype == np.int64 and faces.boxes.shape == (1, 4)
    assert faces.scores.dtype == np.float64 and faces.scores[0] > 0.99
    assert faces.landmarks.dtype == np.float32 and faces.landmarks.shape == (1, 5, 2)
    x, y, w, h = faces.boxes[0]
    assert 160 < x < 200 and 40 < y < 80 and 70 < w < 100 and 90 < h < 130
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = faces.landmarks[0]
    assert lx < nx < rx and mlx < nx < mrx  # image-left first
    assert max(ly, ry) < ny < min(mly, mry)  # eyes above nose above mouth
    assert ((faces.landmarks[0] >= [x, y]) & (faces.landmarks[0] <= [x + w, y + h])).all()


def test_no_face_on_face_free_photos(detector):
    for found in detector.detect_batch([data.coffee(), data.rocket()]):
        assert len(found) == 0
        assert found.boxes.shape == (0, 4) and found.boxes.dtype == np.int64
        assert found.scores.shape == (0,)
        assert found.landmarks.shape == (0, 5, 2) and found.landmarks.dtype == np.float32


def test_tiny_images_have_no_face(detector):
    for shape in [(1, 1), (11, 40, 3), (24, 24, 3)]:
        assert len(detector.detect(np.full(shape, 128, dtype=np.uint8))) == 0


def test_faces_are_sorted_strongest_first(single):
    grid = single["lfw_grid"]
    assert len(grid) >= 10
    assert (np.diff(grid.scores) <= 0).all()


def _iou(a, b):
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)


def test_agrees_with_the_reference_package(single, images):
    reference = json.loads(FIXTURE.read_text())
    assert set(reference["images"]) == set(images)
    for name, expected in reference["images"].items():
        assert tuple(expected["shape"][:2]) == images[name].shape[:2]
        found = single[name]
        assert len(found) == len(expected["faces"]) > 0, name
        for face in expected["faces"]:
            # Match by overlap: equal scores may be ordered differently.
            ious = [_iou(face["box"], box) for box in found.boxes]
            k = int(np.argmax(ious))
            assert ious[k] >= 0.95, (name, face["box"], found.boxes[k])
            np.testing.assert_array_equal(found.boxes[k], np.round(face["box"]))
            error = np.abs(found.landmarks[k] - np.array(face["landmarks"])).max()
            assert error <= 0.02 * face["box"][2], (name, error)
            assert abs(found.scores[k] - face["confidence"]) < 1e-4


def test_batch_gives_the_single_image_results(detector, images, single):
    names = list(images)
    batch = detector.detect_batch([images[name] for name in names] + [data.coffee()])
    assert len(batch) == len(names) + 1 and len(batch[-1]) == 0
    for name, found in zip(names, batch, strict=False):
        # Backends pick kernels by batch size: floats agree to rounding, boxes exactly.
        np.testing.assert_array_equal(found.boxes, single[name].boxes)
        np.testing.assert_allclose(found.scores, single[name].scores, rtol=1e-5)
        np.testing.assert_allclose(found.landmarks, single[name].landmarks, atol=1e-3)


def test_batch_array_input(detector, images):
    stacked = np.stack([images["astronaut_256"], images["astronaut_256"][:, ::-1]])
    first, mirrored = detector.detect_batch(stacked)
    assert len(first) == len(mirrored) == 1
    x, _, w, _ = first.boxes[0]
    assert abs((256 - x - w) - mirrored.boxes[0, 0]) <= 2


def test_grayscale_and_float_inputs(detector, images):
    gray = cv2.cvtColor(images["astronaut_256"], cv2.COLOR_RGB2GRAY)
    expected = detector.detect(gray)
    assert len(expected) == 1
    for variant in [gray[..., None], np.repeat(gray[..., None], 3, axis=2), gray / 255.0]:
        found = detector.detect(variant)
        np.testing.assert_array_equal(found.boxes, expected.boxes)
        np.testing.assert_allclose(found.landmarks, expected.landmarks, atol=1e-3)


@pytest.mark.parametrize(
    ("image", "error", "match"),
    [
        (np.zeros((32, 32, 4), dtype=np.uint8), ValueError, r"image has shape \(32, 32, 4\)"),
        (np.zeros((32, 32, 3), dtype=np.uint16), TypeError, "16-bit"),
        (np.full((8, 8), 2.0), ValueError, r"values in \[2, 2\]"),
        ("face.png", TypeError, "file path"),
    ],
)
def test_bad_image_is_named(detector, image, error, match):
    with pytest.raises(error, match=match):
        detector.detect(image)


def test_bad_batch_names_the_image(detector):
    good = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"images\[1\] has shape \(32, 32, 4\)"):
        detector.detect_batch([good, np.zeros((32, 32, 4), dtype=np.uint8)])
    with pytest.raises(ValueError, match="empty"):
        detector.detect_batch([])
    with pytest.raises(ValueError, match=r"a single image\?"):
        detector.detect_batch(good[..., 0])


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"min_face_size": 0}, "min_face_size"),
        ({"min_face_size": "20"}, "min_face_size"),
        ({"scale_factor": 1.0}, "scale_factor"),
        ({"thresholds": (0.6, 0.7)}, "thresholds must be 3 numbers"),
        ({"thresholds": (0.6, 0.7, 1.5)}, "thresholds"),
        ({"nms_thresholds": (0.5, 0.7, 0.7)}, "nms_thresholds must be 4 numbers"),
        ({"device": "gpu0"}, "device"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        MTCNN(**params)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    detector = MTCNN(device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        detector.detect(np.zeros((32, 32, 3), dtype=np.uint8))


def test_parameters_are_kept_verbatim():
    detector = MTCNN(thresholds=[0.5, 0.6, 0.7], batch_size=8)
    assert detector.device == "auto"
    assert detector.thresholds == [0.5, 0.6, 0.7]
    assert detector.nms_thresholds == (0.5, 0.7, 0.7, 0.7)
    assert (detector.min_face_size, detector.scale_factor) == (20, 0.709)
    assert MTCNN(device="cpu").device == "cpu"


def test_explicit_cpu_device_small_batches_and_larger_faces(images, single):
    detector = MTCNN(device="cpu", batch_size=3, min_face_size=40)
    found = detector.detect(images["astronaut_256"])
    assert detector.device == "cpu" and detector._networks().device == torch.device("cpu")
    assert len(found) == 1
    assert _iou(found.boxes[0], single["astronaut_256"].boxes[0]) > 0.8


def test_pickle_round_trip(detector, images, single):
    restored = pickle.loads(pickle.dumps(detector))
    assert restored._nets is None
    found = restored.detect(images["astronaut_256"])
    np.testing.assert_array_equal(found.boxes, single["astronaut_256"].boxes)
    np.testing.assert_array_equal(found.landmarks, single["astronaut_256"].landmarks)


def test_threads_share_one_detector(images, single):
    detector = MTCNN(device="cpu")
    results = [None] * 4
    names = ["astronaut_256", "lfw_grid", "astronaut_256", "lfw_grid"]

    def run(i):
        results[i] = detector.detect(images[names[i]])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, found in zip(names, results, strict=True):
        np.testing.assert_array_equal(found.boxes, single[name].boxes)
