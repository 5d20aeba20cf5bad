"""MTCNN face detection (Zhang et al., 2016) in PyTorch, with the ``mtcnn`` package's weights.

A port of the cascade of the PyPI package ``mtcnn`` 1.0.0 (which runs on
TensorFlow): the same networks and weights, pyramid, thresholds, box
regression, non-maximum suppression and output rounding, so that boxes and
landmarks agree with it. The work is batched: P-Net runs once per pyramid
scale on all same-sized images, R-Net and O-Net on the crops of all images
together, and crops are sampled with vectorised bilinear interpolation.
"""

from __future__ import annotations

import threading
from numbers import Integral, Real

import cv2
import numpy as np
import torch

from ..utils.boxes import nms as _nms
from ..utils.boxes import square_corners as _square
from ..utils.pixels import to_uint8
from ..utils.threads import limit_threads
from ..utils.validation import InputError, check_image, check_images
from ._mtcnn_nets import ONet, PNet, RNet, load_keras_weights
from .results import Detections

__all__ = ["MTCNN"]

_CELL = 12  # side of the window seen by one P-Net output cell, in pyramid pixels
_STRIDE = 2  # pyramid pixels between neighbouring P-Net cells
_RNET_SIZE = 24
_ONET_SIZE = 48
#: Image pixels handled together by one pass of the cascade in ``detect_batch``.
_CHUNK_PIXELS = 1 << 22
#: Input pixels per P-Net pass, which batches the small pyramid levels of same-sized
#: images. On CPU, passes beyond ~1 MB of activations are slower (measured: 16 video
#: frames of 640x480 take 42 ms each with this bound, 50 ms with 16 times more).
_CPU_PNET_PIXELS = 1 << 18
#: On CUDA, large passes are faster; they are bounded for memory only.
_CUDA_PNET_PIXELS = 1 << 24
#: Pyramid levels with fewer pixels than the image / this are computed from its
#: integral image (see _Pyramid).
_INTEGRAL_RATIO = 64


def pyramid_scales(height: int, width: int, min_face_size: float, scale_factor: float):
    """Scales of MTCNN's image pyramid, computed as the ``mtcnn`` package does.

    The first scale maps ``min_face_size`` onto P-Net's 12-pixel window. The
    number of scales depends on the image size and ``scale_factor`` only (not on
    ``min_face_size``), as in the package.

    Examples
    --------
    >>> from fer_toolkit.detection.mtcnn import pyramid_scales
    >>> pyramid_scales(512, 512, 20, 0.709).round(3)
    array([0.6  , 0.425, 0.302, 0.214, 0.152, 0.107, 0.076, 0.054, 0.038,
           0.027])
    """
    count = round(-(np.log(min(height, width) / _CELL) / np.log(scale_factor) + 1))
    return (_CELL / min_face_size) * scale_factor ** np.arange(max(count, 0))


def area_resize(image: np.ndarray, size: tuple[int, int], integral=None) -> np.ndarray:
    """Resize by pixel-area averaging, as TensorFlow's ``AREA`` resize.

    Without ``integral``, a shrinking resize is OpenCV's ``INTER_AREA`` (an
    exact area average when both sides shrink, MTCNN's pyramid); a resize
    that grows a side is computed from the integral image. OpenCV's
    ``INTER_AREA`` is no area average there: it interpolates when one side
    keeps its size, and when both grow it takes a whole pixel from the
    neighbouring input pixel wherever an output pixel's edge falls exactly
    on an input pixel's edge (float rounding; e.g. 36 to 40 columns, output
    column 30).

    Parameters
    ----------
    image : ndarray of shape (H, W, C), dtype float32
    size : (width, height)
    integral : ndarray of shape (H + 1, W + 1, C), dtype float64, optional
        ``cv2.integral(image, sdepth=cv2.CV_64F)``. When given, the output is
        computed from it in time proportional to the output's size (OpenCV's
        resize reads the whole image): the integral of a piecewise-constant
        image is bilinear between pixel corners, so sampling it bilinearly at
        the output pixels' corners gives their exact areas.

    Returns
    -------
    resized : ndarray of shape (height, width, C), dtype float32

    Examples
    --------
    >>> import cv2, numpy as np
    >>> from fer_toolkit.detection.mtcnn import area_resize
    >>> image = np.arange(75, dtype=np.float32).reshape(5, 5, 3)
    >>> integral = cv2.integral(image, sdepth=cv2.CV_64F)
    >>> np.allclose(area_resize(image, (3, 2)), area_resize(image, (3, 2), integral))
    True
    """
    width, height = size
    if integral is None:
        if width <= image.shape[1] and height <= image.shape[0]:
            return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        integral = cv2.integral(image, sdepth=cv2.CV_64F)
    rows, cols = integral.shape[0] - 1, integral.shape[1] - 1
    y = np.minimum(np.arange(height + 1) * (rows / height), rows)
    x = np.minimum(np.arange(width + 1) * (cols / width), cols)
    y0 = np.minimum(y.astype(np.int64), rows - 1)
    x0 = np.minimum(x.astype(np.int64), cols - 1)
    fy = (y - y0)[:, None, None]
    fx = (x - x0)[None, :, None]
    top, bottom = integral[y0], integral[y0 + 1]
    s00, s01, s10, s11 = top[:, x0], top[:, x0 + 1], bottom[:, x0], bottom[:, x0 + 1]
    corners = s00 + fy * (s10 - s00) + fx * (s01 - s00) + fy * fx * (s11 - s10 - s01 + s00)
    areas = corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]
    return (areas * (height * width / (rows * cols))).astype(np.float32)


def _pnet_cells(side: int) -> int:
    """P-Net output length for an input side (conv3, same-pool2, conv3, conv3)."""
    return -(-(side - 2) // 2) - 4


def _sort(boxes: np.ndarray) -> np.ndarray:
    """Rows by decreasing score (column 4), ties ordered as the ``mtcnn`` package orders them.

    The package sorts candidates (P-Net's per scale and across scales, R-Net's
    and O-Net's) with numpy's default ``np.argsort(score)`` and reverses the
    result; that sort is not stable, so among equal scores the order is the one
    numpy's quicksort leaves, reversed. Equal float32 scores come from alike
    P-Net windows (flat or repeated image regions, saturated scores); when the
    tied boxes overlap, the order decides which survives the next non-maximum
    suppression, and so the final box.
    ``boxes`` must be in the package's order (P-Net cells row-major, then scales
    in pyramid order) for the ties to resolve alike.
    """
    return boxes[np.argsort(boxes[:, 4])[::-1]]


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply R-Net/O-Net offsets, which are fractions of the ``+1``-inclusive box size."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, :4] += offsets * np.stack([w, h, w, h], axis=1)
    return out


def crop_and_resize(image: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    """Bilinear crops of ``boxes`` resized to ``size x size``, normalised as MTCNN's input.

    Samples where TensorFlow's ``tf.image.crop_and_resize`` does for boxes
    ``(y1 / H, x1 / W, y2 / H, x2 / W)`` (as the ``mtcnn`` package calls it):
    ``size`` points evenly from ``x1 (W - 1) / W`` to ``x2 (W - 1) / W``, and
    likewise for y. Samples outside the image are 0 after normalisation
    (TensorFlow's ``extrapolation_value`` on the normalised image).

    Parameters
    ----------
    image : tensor of shape (1, 3, H, W), dtype float32
        RGB pixel values (0-255), on the device the crops are wanted on;
        ``H, W > 1``.
    boxes : ndarray of shape (k, 4)
        ``x1, y1, x2, y2`` in pixels.
    size : int
        Output side, > 1.

    Returns
    -------
    crops : tensor of shape (k, 3, size, size), dtype float32
        ``(pixel - 127.5) / 128``.
    """
    height, width = image.shape[-2:]
    scale = np.array([width, height, width, height], dtype=np.float64)
    rel = torch.as_tensor(boxes / scale, dtype=torch.float32, device=image.device)
    steps = torch.arange(size, dtype=torch.float32, device=image.device)

    def points(lo, hi, extent):
        return lo[:, None] * (extent - 1) + steps * ((hi - lo) * (extent - 1) / (size - 1))[:, None]

    ys = points(rel[:, 1], rel[:, 3], height)
    xs = points(rel[:, 0], rel[:, 2], width)
    inside = ((ys >= 0) & (ys <= height - 1))[:, :, None] & ((xs >= 0) & (xs <= width - 1))[:, None]
    # grid_sample(align_corners=True) maps -1 and 1 onto the first and last pixels.
    grid = torch.stack(
        torch.broadcast_tensors(
            xs[:, None, :] * (2 / (width - 1)) - 1, ys[:, :, None] * (2 / (height - 1)) - 1
        ),
        dim=-1,
    )
    crops = torch.nn.functional.grid_sample(
        image, grid.view(1, -1, size, 2), mode="bilinear", align_corners=True
    )
    crops = crops.view(3, len(boxes), size, size).transpose(0, 1)
    return (crops - 127.5) / 128.0 * inside[:, None]


class _Pyramid:
    """The pyramid levels of one image, resized as TensorFlow's ``AREA`` resize does.

    Levels with fewer pixels than the image / ``_INTEGRAL_RATIO`` are computed
    together from its integral image when the first of them is needed (OpenCV
    reads the whole image for every level); larger ones with ``INTER_AREA``.
    """

    def __init__(self, image: np.ndarray, sizes: list[tuple[int, int]]):
        self.image = image
        self.small = [s for s in sizes if s[0] * s[1] * _INTEGRAL_RATIO <= image[..., 0].size]
        self._small_levels: dict[tuple[int, int], np.ndarray] | None = None

    def level(self, size: tuple[int, int]) -> np.ndarray:
        if size not in self.small:
            return area_resize(self.image, size)
        if self._small_levels is None:
            integral = cv2.integral(self.image, sdepth=cv2.CV_64F)
            self._small_levels = {s: area_resize(self.image, s, integral) for s in self.small}
        return self._small_levels[size]


class _Networks:
    """The three networks on one device (immutable once built, shared by threads).

    Inputs are fed channels-last (the pyramid and crops are built NHWC):
    PyTorch's NCHW max-pooling with ``ceil_mode`` is up to 25 times slower on CPU.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.pnet_pixels = _CPU_PNET_PIXELS if device.type == "cpu" else _CUDA_PNET_PIXELS
        self.pnet, self.rnet, self.onet = (
            net(load_keras_weights(net.__name__.lower())).eval().to(device)
            for net in (PNet, RNet, ONet)
        )


def _check_fractions(value, name: str, count: int, meaning: str) -> None:
    if (
        not isinstance(value, (tuple, list))
        or len(value) != count
        or not all(isinstance(v, Real) and not isinstance(v, bool) and 0 <= v <= 1 for v in value)
    ):
        raise InputError(f"{name} must be {count} numbers in [0, 1] ({meaning}); got {value!r}.")


class MTCNN:
    """Detect faces and five landmarks with MTCNN (P-Net, R-Net, O-Net) in PyTorch.

    The pretrained weights are those shipped with the PyPI package ``mtcnn``
    (TensorFlow is not needed) and every default equals that package's, so
    the detections agree with ``mtcnn.MTCNN().detect_faces`` (see the notes).
    A plain object, picklable (the networks are rebuilt on first use after
    unpickling) and safe to share between threads.

    Parameters
    ----------
    min_face_size : float, default=20
        Smallest face searched for, in pixels: the first pyramid scale maps it
        onto P-Net's 12-pixel window. Larger values are faster.
    scale_factor : float, default=0.709
        Ratio between consecutive pyramid scales, in (0, 1).
    thresholds : tuple of 3 float, default=(0.6, 0.7, 0.8)
        Face probability a candidate needs to pass P-Net, R-Net and O-Net.
    nms_thresholds : tuple of 4 float, default=(0.5, 0.7, 0.7, 0.7)
        Non-maximum suppression overlaps: P-Net within one scale (IoU),
        P-Net across scales (IoU), R-Net (IoU) and O-Net (intersection over
        the smaller box).
    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:1"``... Kept as given; resolved when the networks are built.
    batch_size : int, default=512
        Largest number of face candidates per R-Net or O-Net forward pass.

    Raises
    ------
    ValueError
        If a parameter is invalid.

    Notes
    -----
    Differences from the ``mtcnn`` package: ``detect_batch`` gives every
    image the detections ``detect`` gives it (the package pads a batch to its
    largest image and runs one pyramid for all); pyramid levels too small for
    P-Net's window are skipped (the package then fails and reports no face).
    Equal scores are ordered as the package orders them (numpy's default
    ``argsort``, reversed), which decides the surviving box when tied boxes
    overlap. Pyramid levels are area-averaged as by TensorFlow's ``AREA``
    resize (``fer_toolkit.detection.mtcnn.area_resize``); the results agree with the package's to
    float32 rounding (on 178 faces of 168 images, photos, video frames and
    shifted, cropped, rescaled and mirrored faces: identical integer boxes,
    landmarks within 1.2e-5 of the box width).

    Examples
    --------
    >>> from skimage import data
    >>> from fer_toolkit.detection import MTCNN
    >>> faces = MTCNN(device="cpu").detect(data.astronaut())
    >>> len(faces), faces.landmarks.shape
    (1, (1, 5, 2))
    """

    def __init__(
        self,
        min_face_size=20,
        scale_factor=0.709,
        thresholds=(0.6, 0.7, 0.8),
        nms_thresholds=(0.5, 0.7, 0.7, 0.7),
        device="auto",
        batch_size=512,
    ):
        if (
            not isinstance(min_face_size, Real)
            or isinstance(min_face_size, bool)
            or not 0 < min_face_size < np.inf
        ):
            raise InputError(f"min_face_size must be a number > 0; got {min_face_size!r}.")
        if not isinstance(scale_factor, Real) or not 0 < scale_factor < 1:
            raise InputError(f"scale_factor must be a number in (0, 1); got {scale_factor!r}.")
        _check_fractions(thresholds, "thresholds", 3, "P-Net, R-Net, O-Net")
        _check_fractions(
            nms_thresholds, "nms_thresholds", 4, "P-Net per scale, P-Net, R-Net, O-Net"
        )
        if not (isinstance(device, str) and device == "auto"):
            try:
                torch.device(device)
            except (RuntimeError, TypeError):
                raise InputError(
                    f"device must be 'auto' or a torch device such as 'cpu' or 'cuda:0'; "
                    f"got {device!r}."
                ) from None
        if not isinstance(batch_size, Integral) or isinstance(batch_size, bool) or batch_size < 1:
            raise InputError(f"batch_size must be an int >= 1; got {batch_size!r}.")
        self.min_face_size = min_face_size
        self.scale_factor = scale_factor
        self.thresholds = thresholds
        self.nms_thresholds = nms_thresholds
        self.device = device
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._nets: _Networks | None = None

    def _networks(self) -> _Networks:
        nets = self._nets
        if nets is None:
            with self._lock:
                if self._nets is None:
                    from ..estimators._device import resolve_device

                    device = torch.device(resolve_device(self.device))
                    if device.type == "cuda" and not torch.cuda.is_available():
                        raise InputError(f"device={self.device!r} but CUDA is not available.")
                    self._nets = _Networks(device)
                nets = self._nets
        return nets

    def detect(self, image) -> Detections:
        """Detect faces in one image.

        Parameters
        ----------
        image : ndarray of shape (H, W), (H, W, 1) or (H, W, 3)
            RGB or grayscale, ``uint8`` or float in [0, 1] (scaled by 255 and
            rounded to uint8, the networks' input).

        Returns
        -------
        detections : Detections
            ``boxes`` ``(k, 4)`` int64 ``(x, y, w, h)``, clipped to the image
            and rounded as the ``mtcnn`` package does; ``scores`` ``(k,)``
            float64, O-Net's face probability; ``landmarks`` ``(k, 5, 2)``
            float32 ``(x, y)`` of left eye, right eye, nose, mouth left, mouth
            right (image-left first; not clipped). Faces are sorted strongest
            first (decreasing score). No face gives ``k = 0``.

        Raises
        ------
        TypeError, ValueError
            If ``image`` is not a valid image (the message gives its shape or
            dtype).
        """
        return self._detect([_pixels(check_image(image, name="image"))])[0]

    def detect_batch(self, images) -> list[Detections]:
        """Detect faces in each image of a batch, as :meth:`detect` does.

        Images are processed together (P-Net batches same-sized images, R-Net
        and O-Net the candidates of all images), so the floats can differ from
        :meth:`detect`'s in the last digits: the backends pick their kernels by
        batch size.

        Parameters
        ----------
        images : ndarray of shape (n, H, W[, C]) or sequence of arrays
            Images as for :meth:`detect`; their sizes may differ.

        Returns
        -------
        detections : list of Detections
            One per image, in order.

        Raises
        ------
        TypeError, ValueError
            If the batch is empty or an image is invalid (the message names
            ``images[i]`` and its shape or dtype).
        """
        images = check_images(images, name="images")
        out: list[Detections] = []
        start = 0
        while start < len(images):
            stop, pixels = start + 1, images[start][..., 0].size
            while stop < len(images) and pixels + images[stop][..., 0].size <= _CHUNK_PIXELS:
                pixels += images[stop][..., 0].size
                stop += 1
            out.extend(self._detect([_pixels(image) for image in images[start:stop]]))
            start = stop
        return out

    def _detect(self, pixels: list[np.ndarray]) -> list[Detections]:
        nets = self._networks()
        # Many small kernels (the pyramid's levels, R-Net and O-Net on few crops): a
        # thread waiting for a busy core holds them all up, so only the free cores.
        with torch.inference_mode(), limit_threads(work="small"):
            sources = [torch.from_numpy(p).to(nets.device).permute(2, 0, 1)[None] for p in pixels]
            candidates = self._propose(nets, pixels)
            candidates = self._refine(nets, sources, candidates)
            faces = self._output(nets, sources, candidates)
        return [_detections(boxes, p.shape) for boxes, p in zip(faces, pixels, strict=True)]

    def _propose(self, nets: _Networks, pixels: list[np.ndarray]) -> list[np.ndarray]:
        """P-Net over each image's pyramid: square candidates ``(k, 5)`` per image.

        Each level of same-sized images goes through P-Net in batches.
        """
        threshold = float(self.thresholds[0])
        per_scale_nms, across_nms = (float(t) for t in self.nms_thresholds[:2])
        found: list[list[np.ndarray]] = [[] for _ in pixels]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(pixels):
            groups.setdefault(image.shape[:2], []).append(i)
        for (height, width), members in groups.items():
            scales = pyramid_scales(height, width, self.min_face_size, self.scale_factor)
            sizes = [(int(width * scale), int(height * scale)) for scale in scales]
            pyramids = {i: _Pyramid(pixels[i], sizes) for i in members}
            for scale, size in zip(scales, sizes, strict=True):
                if min(_pnet_cells(size[0]), _pnet_cells(size[1])) < 1:
                    continue
                per_pass = max(1, nets.pnet_pixels // (size[0] * size[1]))
                for start in range(0, len(members), per_pass):
                    chunk = members[start : start + per_pass]
                    levels = np.stack([pyramids[i].level(size) for i in chunk])
                    batch = torch.from_numpy(levels).to(nets.device).permute(0, 3, 1, 2)
                    offsets, probs = nets.pnet((batch - 127.5) / 128.0)
                    for j, boxes in _pnet_boxes(offsets, probs[:, 1], threshold, scale):
                        found[chunk[j]].append(_nms(_sort(boxes), per_scale_nms, "union"))
        return [
            _square(_nms(_sort(np.concatenate(boxes)), across_nms, "union"))
            if boxes
            else np.empty((0, 5))
            for boxes in found
        ]

    def _run(self, net, sources, candidates, size):
        """Run ``net`` on the crops of the candidates of all images, in batches.

        Returns the network's outputs as float64 arrays, split per image.
        """
        owner = np.repeat(np.arange(len(candidates)), [len(c) for c in candidates])
        boxes = np.concatenate(candidates)
        outputs = []
        for start in range(0, len(boxes), self.batch_size):
            stop = min(start + self.batch_size, len(boxes))
            crops = [
                crop_and_resize(sources[i], boxes[start:stop][owner[start:stop] == i, :4], size)
                for i in np.unique(owner[start:stop])
            ]
            batch = torch.cat(crops).contiguous(memory_format=torch.channels_last)
            outputs.append([o.double().cpu().numpy() for o in net(batch)])
        bounds = np.cumsum([len(c) for c in candidates])[:-1]
        return [np.split(np.concatenate(parts), bounds) for parts in zip(*outputs, strict=True)]

    def _refine(self, nets, sources, candidates):
        """R-Net: rescore and regress candidates, keep, suppress, square."""
        if not any(len(c) for c in candidates):
            return candidates
        offsets, probs = self._run(nets.rnet, sources, candidates, _RNET_SIZE)
        out = []
        for boxes, off, prob in zip(candidates, offsets, probs, strict=True):
            boxes = _regress(np.column_stack([boxes[:, :4], prob[:, 1]]), off)
            boxes = _sort(boxes[boxes[:, 4] > self.thresholds[1]])
            out.append(_square(_nms(boxes, float(self.nms_thresholds[2]), "union")))
        return out

    def _output(self, nets, sources, candidates):
        """O-Net: final scores, boxes and landmarks ``(k, 15)`` per image."""
        if not any(len(c) for c in candidates):
            return [np.empty((0, 15)) for _ in candidates]
        offsets, marks, probs = self._run(nets.onet, sources, candidates, _ONET_SIZE)
        out = []
        for boxes, off, mark, prob in zip(candidates, offsets, marks, probs, strict=True):
            w = boxes[:, 2:3] - boxes[:, 0:1] + 1
            h = boxes[:, 3:4] - boxes[:, 1:2] + 1
            xs = w * mark[:, :5] + boxes[:, 0:1] - 1
            ys = h * mark[:, 5:] + boxes[:, 1:2] - 1
            faces = _regress(np.column_stack([boxes[:, :4], prob[:, 1], xs, ys]), off)
            faces = _sort(faces[faces[:, 4] > self.thresholds[2]])
            out.append(_nms(faces, float(self.nms_thresholds[3]), "min"))
        return out

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_lock"]
        state["_nets"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _pixels(image: np.ndarray) -> np.ndarray:
    """A validated image as float32 RGB ``(H, W, 3)`` pixel values in 0-255.

    Float images are first quantised to uint8, the networks' input.
    """
    image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 3:
        return image.astype(np.float32)
    return np.repeat(image.reshape(*image.shape[:2], 1).astype(np.float32), 3, axis=2)


def _pnet_boxes(offsets: torch.Tensor, face: torch.Tensor, threshold: float, scale: float):
    """Yield ``(image index, boxes (k, 5))`` of P-Net cells scoring above ``threshold``.

    A cell at ``(row, col)`` covers pyramid pixels ``[2 col + 1, 2 col + 12]``
    (the package's convention); its offsets are fractions of that width (11).
    """
    batch, rows, cols = torch.nonzero(face > threshold, as_tuple=True)
    if batch.numel() == 0:
        return
    scores = face[batch, rows, cols].double().cpu().numpy()
    reg = offsets[batch, :, rows, cols].double().cpu().numpy()
    batch, rows, cols = (t.cpu().numpy() for t in (batch, rows, cols))
    span = _CELL - 1
    x1 = _STRIDE * cols + 1 + reg[:, 0] * span
    y1 = _STRIDE * rows + 1 + reg[:, 1] * span
    x2 = _STRIDE * cols + _CELL + reg[:, 2] * span
    y2 = _STRIDE * rows + _CELL + reg[:, 3] * span
    boxes = np.column_stack([x1 / scale, y1 / scale, x2 / scale, y2 / scale, scores])
    order = np.argsort(batch, kind="stable")
    images, starts = np.unique(batch[order], return_index=True)
    yield from zip(images.tolist(), np.split(boxes[order], starts[1:]), strict=True)


def _detections(faces: np.ndarray, shape) -> Detections:
    """Clip, convert to ``(x, y, w, h)`` and round as the package does."""
    height, width = shape[:2]
    x1 = np.clip(faces[:, 0], 0, width - 1)
    y1 = np.clip(faces[:, 1], 0, height - 1)
    x2 = np.clip(faces[:, 2], 0, width - 1)
    y2 = np.clip(faces[:, 3], 0, height - 1)
    boxes = np.round(np.column_stack([x1, y1, x2 - x1, y2 - y1])).astype(np.int64)
    landmarks = np.stack([faces[:, 5:10], faces[:, 10:15]], axis=-1).astype(np.float32)
    return Detections(boxes=boxes.reshape(-1, 4), scores=faces[:, 4].copy(), landmarks=landmarks)
