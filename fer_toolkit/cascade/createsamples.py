"""Training samples for cascade training, as ``opencv_createsamples`` makes them.

Three ways to make positives, and a viewer:

* :func:`samples_from_info` -- crop every box of a positive description file
  and resize it to the window size (``-info ... -vec``);
* :func:`samples_from_image` -- many randomly distorted copies of one object
  image: 3-D rotation, intensity shift, inversion, pasted over background
  windows with ``bg_color`` pixels transparent (``-img ... -vec``);
* :func:`create_samples` -- OpenCV's command in one call, also writing test
  images with the distorted object pasted into background photos and their
  description file (``-img ... -bg ... -info``);
* :func:`show_vec` -- tile a .vec file into one image for inspection.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from numbers import Real
from pathlib import Path

import cv2
import numpy as np

from ..utils.fileio import atomic_path
from ..utils.pixels import to_gray, to_uint8
from ..utils.validation import InputError, check_image, check_int, check_size
from .description import Positive, _check_boxes_inside, _read_gray, read_bg, read_info, write_info
from .flags import CREATESAMPLES
from .vec import read_vec, write_vec

__all__ = ["create_samples", "samples_from_image", "samples_from_info", "show_vec"]

_PATH_TYPES = (str, os.PathLike)
_WINDOW = {"name": "(width, height)", "order": "(width, height)"}


def _check_angle(value, name: str) -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or not 0 <= value < math.inf:
        raise InputError(f"{name} must be a finite angle >= 0 in radians; got {value!r}.")
    return float(value)


def _gray_image(image, name: str) -> np.ndarray:
    """A path or an image array as the uint8 grayscale image OpenCV's tools would read."""
    if isinstance(image, _PATH_TYPES):
        return _read_gray(image, name)
    return to_gray(to_uint8(check_image(image, name=name)))


def samples_from_info(
    info,
    num: int | None = None,
    width: int = CREATESAMPLES.defaults.width,
    height: int = CREATESAMPLES.defaults.height,
):
    """Crop the boxes of a positive description file into ``width x height`` samples.

    Does what ``opencv_createsamples -info ... -vec ...`` does: each image is
    read as grayscale (``cv2.IMREAD_GRAYSCALE``), each box cropped and
    resized with ``INTER_AREA`` when it is at least the window size in both
    directions, else with ``INTER_LINEAR_EXACT``. Boxes are taken in file
    order.

    Parameters
    ----------
    info : str, os.PathLike or sequence of Positive
        A description file (see :func:`read_info`), or its entries.
    num : int or None, default=None
        Stop after this many samples; ``None`` takes every box. Asking for
        more than there are boxes warns and returns them all (OpenCV then
        writes ``num`` into the .vec header anyway, giving a file its own
        trainer rejects as truncated).
    width, height : int, default=24
        Sample size (``-w`` / ``-h``).

    Returns
    -------
    samples : ndarray of shape (n, height, width), dtype uint8

    Raises
    ------
    ValueError
        Naming the description file and line, for a malformed line, a
        missing or unreadable image, or a box outside its image; also if
        there are no boxes at all.

    Examples
    --------
    >>> import os, tempfile, cv2
    >>> import numpy as np
    >>> from fer_toolkit.cascade import samples_from_info
    >>> folder = tempfile.mkdtemp()
    >>> _ = cv2.imwrite(os.path.join(folder, "a.png"), np.full((40, 60), 9, np.uint8))
    >>> with open(os.path.join(folder, "info.lst"), "w") as f:
    ...     _ = f.write("a.png 2 0 0 40 40 20 0 40 40\\n")
    >>> samples = samples_from_info(os.path.join(folder, "info.lst"), width=20, height=20)
    >>> samples.shape, int(samples.max())
    ((2, 20, 20), 9)
    """
    width, height = check_size((width, height), **_WINDOW)
    if isinstance(info, _PATH_TYPES):
        label = os.fspath(info)
        entries = read_info(info, check_images=False)
    else:
        label = None
        entries = [e if isinstance(e, Positive) else Positive(*e) for e in info]
    total = sum(len(entry.boxes) for entry in entries)
    if total == 0:
        raise InputError(f"{label or 'info'} has no boxes to crop samples from.")
    if num is not None:
        num = check_int(num, "num", 1)
        if num > total:
            warnings.warn(
                f"{label or 'info'} has {total} boxes, fewer than num={num}; making {total} "
                "samples.",
                stacklevel=2,
            )
    want = total if num is None else min(num, total)
    samples = np.empty((want, height, width), dtype=np.uint8)
    done = 0
    for i, entry in enumerate(entries):
        if done == want:
            break
        if not len(entry.boxes):
            continue
        where = f"{label}, line {entry.line}" if label else f"info[{i}]"
        image = _read_gray(entry.path, where)
        _check_boxes_inside(entry.boxes, image.shape, where, os.fspath(entry.path))
        for x, y, w, h in entry.boxes[: want - done].tolist():
            shrink = w >= width and h >= height
            samples[done] = cv2.resize(
                image[y : y + h, x : x + w],
                (width, height),
                interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR_EXACT,
            )
            done += 1
    return samples


def _random_quad(width: int, height: int, rng, angles: tuple[float, float, float]):
    """Corners of a ``width x height`` rectangle rotated in 3-D and seen in perspective.

    As OpenCV: the y angle's range shrinks by the x angle drawn, and the
    camera stands 2 to 4 object widths away.
    """
    max_x, max_y, max_z = angles
    rx = rng.uniform(-max_x, max_x)
    ry = (max_y - abs(rx)) * rng.uniform(-1.0, 1.0)
    rz = rng.uniform(-max_z, max_z)
    distance = (3.0 + rng.uniform(-1.0, 1.0)) * width
    rotation, _ = cv2.Rodrigues(np.array([rx, ry, rz], dtype=np.float64))
    half = np.array([0.5 * width, 0.5 * height])
    corners = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]]) * np.append(half, 0)
    rotated = corners @ rotation.T
    return rotated[:, :2] * (distance / (distance + rotated[:, 2]))[:, None] + half


class _Distorter:
    """One object image, ready to be pasted with random distortions.

    Pixels within ``bg_thresh`` of ``bg_color`` are transparent. Transparent
    pixels next to the object take the object's eroded or dilated value, so
    the blurred edge of the mask blends object colour, not ``bg_color``, into
    the background (as OpenCV's ``icvStartSampleDistortion``).
    """

    def __init__(self, image: np.ndarray, bg_color: int, bg_thresh: int):
        if min(image.shape) < 2:
            raise InputError(
                f"img is {image.shape[1]}x{image.shape[0]} pixels; an object image must be at "
                "least 2x2."
            )
        transparent = np.abs(image.astype(np.int16) - bg_color) <= bg_thresh
        eroded, dilated = cv2.erode(image, None), cv2.dilate(image, None)
        # OpenCV takes these differences as uchar, i.e. modulo 256.
        below = (bg_color - eroded.astype(np.int16)) & 0xFF
        above = (dilated.astype(np.int16) - bg_color) & 0xFF
        src = image.copy()
        use_eroded = transparent & (below >= above) & (below > bg_thresh)
        use_dilated = transparent & (above > below) & (above > bg_thresh)
        src[use_eroded] = eroded[use_eroded]
        src[use_dilated] = dilated[use_dilated]
        self.src = src
        self.mask = np.where(transparent, 0, 255).astype(np.uint8)
        self.bg_color = bg_color

    def place(self, target, rng, angles, max_intensity_dev: int, inverse: bool, inscribe: bool):
        """Paste a random distortion of the object over ``target`` (modified in place).

        The object's own rectangle (or, with ``inscribe``, the bounding box of
        its distorted outline) is fitted to ``target``, keeping the aspect
        ratio of ``target``.
        """
        h, w = self.src.shape
        dx, dy = w // 2, h // 2
        canvas = (w + 2 * dx, h + 2 * dy)
        quad = _random_quad(w, h, rng, angles) + np.array([dx, dy])
        corners = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
        matrix = cv2.getPerspectiveTransform(corners, quad.astype(np.float32))
        image = cv2.warpPerspective(
            self.src, matrix, canvas, flags=cv2.INTER_LINEAR, borderValue=self.bg_color
        )
        alpha = cv2.warpPerspective(self.mask, matrix, canvas, flags=cv2.INTER_LINEAR)
        alpha = cv2.GaussianBlur(alpha, (3, 3), 0)
        if inscribe:
            # The whole outline, not only OpenCV's two corners per side, so that
            # a z-rotation never pushes a corner out of the box.
            x0, y0 = np.floor(quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
            box = (x0, y0, x1 - x0, y1 - y0)
        else:
            box = (dx, dy, w, h)
        th, tw = target.shape
        scale = max(box[2] / tw, box[3] / th)
        rx = int(box[0] - 0.5 * (scale * tw - box[2]))
        ry = int(box[1] - 0.5 * (scale * th - box[3]))
        x0, y0 = max(rx, 0), max(ry, 0)
        x1, y1 = min(rx + int(scale * tw), canvas[0]), min(ry + int(scale * th), canvas[1])
        size = (tw, th)
        fg = cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR_EXACT)
        alpha = cv2.resize(alpha[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR_EXACT)
        shift = int(rng.integers(-max_intensity_dev, max_intensity_dev, endpoint=True))
        fg = np.clip(fg.astype(np.int32) + shift, 0, 255)
        if inverse:
            fg = 255 - fg
        alpha = alpha.astype(np.int32)
        target[...] = (fg * alpha + (255 - alpha) * target) // 255


def _background_loaders(bg) -> list[Callable[[], np.ndarray]]:
    """Loaders of grayscale backgrounds from a list file, or a list of paths or arrays."""
    if isinstance(bg, _PATH_TYPES):
        where = f"background list {os.fspath(bg)!r}"
        return [lambda p=p: _read_gray(p, where) for p in read_bg(bg)]
    items = list(bg)
    if not items:
        raise InputError("bg is empty: give a background list file, or background images.")
    return [lambda item=item, i=i: _gray_image(item, f"bg[{i}]") for i, item in enumerate(items)]


class _BackgroundWindows:
    """``width x height`` windows cut from background images, as ``opencv_createsamples``.

    Each image (in random order) is scanned with a step of half a window at
    the scale where the window just fits, then at scales growing by sqrt(2)
    until full resolution, before moving on to the next image.
    """

    def __init__(self, loaders, width: int, height: int, rng):
        self.loaders, self.size, self.rng = loaders, (width, height), rng
        self.image = None

    def _next_image(self) -> None:
        w, h = self.size
        for index in self.rng.permutation(len(self.loaders)):
            src = self.loaders[index]()
            if src.shape[0] >= h and src.shape[1] >= w:
                break
        else:
            raise InputError(f"no background image is at least {w}x{h} (width x height).")
        self.src = src
        self.scale = max(w / src.shape[1], h / src.shape[0])
        self._resize(rounding=0.5)
        self.x = self.y = 0

    def _resize(self, rounding: float) -> None:
        rows, cols = self.src.shape
        w, h = self.size
        size = (
            max(w, int(self.scale * cols + rounding)),
            max(h, int(self.scale * rows + rounding)),
        )
        self.image = cv2.resize(self.src, size, interpolation=cv2.INTER_LINEAR_EXACT)

    def __call__(self) -> np.ndarray:
        if self.image is None:
            self._next_image()
        w, h = self.size
        window = self.image[self.y : self.y + h, self.x : self.x + w].copy()
        rows, cols = self.image.shape
        if int(self.x + 1.5 * w) < cols:
            self.x += max(w // 2, 1)
        elif int(self.y + 1.5 * h) < rows:
            self.x, self.y = 0, self.y + max(h // 2, 1)
        else:
            self.x = self.y = 0
            self.scale *= math.sqrt(2.0)
            if self.scale <= 1.0:
                self._resize(rounding=0.0)
            else:
                self._next_image()
        return window


def _distortion_params(
    bg_color, bg_thresh, max_intensity_dev, max_x_angle, max_y_angle, max_z_angle
) -> tuple[int, int, int, tuple[float, float, float]]:
    return (
        check_int(bg_color, "bg_color", 0, 255),
        check_int(bg_thresh, "bg_thresh", 0),
        check_int(max_intensity_dev, "max_intensity_dev", 0, 255),
        (
            _check_angle(max_x_angle, "max_x_angle"),
            _check_angle(max_y_angle, "max_y_angle"),
            _check_angle(max_z_angle, "max_z_angle"),
        ),
    )


def samples_from_image(
    img,
    num: int = CREATESAMPLES.defaults.num,
    width: int = CREATESAMPLES.defaults.width,
    height: int = CREATESAMPLES.defaults.height,
    *,
    bg=None,
    bg_color: int = CREATESAMPLES.defaults.bg_color,
    bg_thresh: int = CREATESAMPLES.defaults.bg_thresh,
    inv: bool = CREATESAMPLES.defaults.inv,
    randinv: bool = CREATESAMPLES.defaults.randinv,
    max_intensity_dev: int = CREATESAMPLES.defaults.max_intensity_dev,
    max_x_angle: float = CREATESAMPLES.defaults.max_x_angle,
    max_y_angle: float = CREATESAMPLES.defaults.max_y_angle,
    max_z_angle: float = CREATESAMPLES.defaults.max_z_angle,
    random_state=None,
):
    """Make ``num`` randomly distorted samples of one object image.

    Does what ``opencv_createsamples -img ... -vec ...`` does, sample by
    sample: take the next background window (or a ``bg_color`` square), turn
    the object in 3-D by random angles and project it in perspective, shift
    its intensity, optionally invert it, and blend it over the window with
    pixels near ``bg_color`` transparent (the transparency mask is blurred
    3x3, so edges blend smoothly).

    Parameters
    ----------
    img : str, os.PathLike or ndarray of shape (H, W) or (H, W, 3)
        The object: an image file (read as grayscale like OpenCV) or an
        image array (RGB, uint8 or float in [0, 1]).
    num : int, default=1000
        Number of samples (``-num``).
    width, height : int, default=24
        Sample size (``-w`` / ``-h``).
    bg : str, os.PathLike, sequence of paths or images, or None, default=None
        Backgrounds (``-bg``): a background list file (see :func:`read_bg`)
        or the images themselves. Windows are cut from each image at every
        position (step half a window) and several scales, images in random
        order. ``None`` puts the object over plain ``bg_color``.
    bg_color : int, default=0
        Grey level of the object image's background (``-bgcolor``).
    bg_thresh : int, default=80
        Pixels within ``bg_thresh`` of ``bg_color`` are transparent
        (``-bgthresh``).
    inv : bool, default=False
        Invert the object's colours (``-inv``).
    randinv : bool, default=False
        Invert each sample with probability 1/2 (``-randinv``); overrides
        ``inv``.
    max_intensity_dev : int, default=40
        The object's grey levels shift by a random integer in
        ``[-max_intensity_dev, max_intensity_dev]`` (``-maxidev``).
    max_x_angle, max_y_angle, max_z_angle : float, default=1.1, 1.1, 0.5
        Largest rotations in radians about each axis (``-maxxangle``...).
        As in OpenCV, the y range narrows by the x angle drawn:
        ``ry = (max_y_angle - |rx|) * U(-1, 1)``.
    random_state : int, numpy.random.Generator or None, default=None
        Seed; the same seed gives the same samples, byte for byte.

    Returns
    -------
    samples : ndarray of shape (num, height, width), dtype uint8

    Raises
    ------
    ValueError
        For an invalid parameter, an unreadable object or background image
        (named), or backgrounds all smaller than the sample size.

    Examples
    --------
    >>> from skimage import data
    >>> from fer_toolkit.cascade import samples_from_image
    >>> face = data.astronaut()[66:161, 177:272]
    >>> samples = samples_from_image(face, num=5, width=20, height=20, random_state=0)
    >>> samples.shape, samples.dtype
    ((5, 20, 20), dtype('uint8'))
    """
    num = check_int(num, "num", 1)
    width, height = check_size((width, height), **_WINDOW)
    color, thresh, idev, angles = _distortion_params(
        bg_color, bg_thresh, max_intensity_dev, max_x_angle, max_y_angle, max_z_angle
    )
    distorter = _Distorter(_gray_image(img, "img"), color, thresh)
    rng = np.random.default_rng(random_state)
    windows = (
        None if bg is None else _BackgroundWindows(_background_loaders(bg), width, height, rng)
    )
    samples = np.empty((num, height, width), dtype=np.uint8)
    for sample in samples:
        sample[...] = color if windows is None else windows()
        inverse = bool(rng.integers(2)) if randinv else bool(inv)
        distorter.place(sample, rng, angles, idev, inverse, inscribe=False)
    return samples


def _check_max_scale(max_scale) -> float | None:
    """``None`` for automatic (also OpenCV's negative values), else a finite number."""
    if max_scale is None:
        return None
    if (
        not isinstance(max_scale, Real)
        or isinstance(max_scale, bool)
        or not math.isfinite(max_scale)
    ):
        raise InputError(f"max_scale must be a finite number or None; got {max_scale!r}.")
    return None if max_scale < 0 else float(max_scale)


def _test_images(img, bg, info_out, num, width, height, inv, randinv, max_scale, distortion, rng):
    """Paste distorted objects into background photos; write them and their description file."""
    if num is not None:
        num = check_int(num, "num", 1)
    width, height = check_size((width, height), **_WINDOW)
    max_scale = _check_max_scale(max_scale)
    color, thresh, idev, angles = _distortion_params(*distortion)
    distorter = _Distorter(_gray_image(img, "img"), color, thresh)
    loaders = _background_loaders(bg)
    folder = Path(info_out).parent
    entries, skipped = [], 0
    for index in rng.permutation(len(loaders)).tolist():
        if num is not None and len(entries) == num:
            break
        photo = loaders[index]().copy()
        rows, cols = photo.shape
        limit = min(0.7 * cols / width, 0.7 * rows / height) if max_scale is None else max_scale
        limit = min(limit, cols / width, rows / height)
        if limit < 1.0:
            skipped += 1
            continue
        scale = rng.uniform(1.0, limit)
        w, h = int(scale * width), int(scale * height)
        x = int(rng.uniform(0.1, 0.8) * (cols - w))
        y = int(rng.uniform(0.1, 0.8) * (rows - h))
        inverse = bool(rng.integers(2)) if randinv else bool(inv)
        distorter.place(photo[y : y + h, x : x + w], rng, angles, idev, inverse, inscribe=True)
        name = folder / f"{len(entries) + 1:04d}_{x:04d}_{y:04d}_{w:04d}_{h:04d}.jpg"
        with atomic_path(name) as tmp:
            if not cv2.imwrite(tmp, photo):
                raise OSError(f"cannot write test image {os.fspath(name)!r}.")
        entries.append(Positive(name, [[x, y, w, h]]))
    if skipped:
        warnings.warn(
            f"{skipped} of {len(entries) + skipped} background images tried are too small to "
            f"hold a {width}x{height} object at scale >= 1 (or above max_scale) and were "
            "skipped.",
            stacklevel=3,
        )
    if not entries:
        raise InputError(f"no background image can hold a {width}x{height} object.")
    write_info(info_out, entries)
    return entries


def create_samples(
    info=None,
    img=None,
    bg=None,
    vec=None,
    num: int | None = None,
    width: int = CREATESAMPLES.defaults.width,
    height: int = CREATESAMPLES.defaults.height,
    *,
    bg_color: int = CREATESAMPLES.defaults.bg_color,
    bg_thresh: int = CREATESAMPLES.defaults.bg_thresh,
    inv: bool = CREATESAMPLES.defaults.inv,
    randinv: bool = CREATESAMPLES.defaults.randinv,
    max_intensity_dev: int = CREATESAMPLES.defaults.max_intensity_dev,
    max_x_angle: float = CREATESAMPLES.defaults.max_x_angle,
    max_y_angle: float = CREATESAMPLES.defaults.max_y_angle,
    max_z_angle: float = CREATESAMPLES.defaults.max_z_angle,
    max_scale: float | None = CREATESAMPLES.defaults.max_scale,
    random_state=None,
    info_out=None,
):
    """Run ``opencv_createsamples``: the mode follows from the arguments given, as in OpenCV.

    ========================  ================================================
    arguments                 what is made
    ========================  ================================================
    ``img`` and ``vec``       ``num`` distorted samples of the object image
                              written to ``vec`` (:func:`samples_from_image`)
    ``img``, ``bg`` and       test images: the distorted object pasted into
    ``info_out`` (or          background photos, saved as JPEG beside the
    ``info``)                 description file ``info_out`` that lists them
    ``info`` and ``vec``      the boxes of description file ``info`` cropped
                              into ``vec`` (:func:`samples_from_info`)
    ========================  ================================================

    Parameters
    ----------
    info : str or os.PathLike, optional
        ``-info``: the positive description file to read (with ``vec``) or,
        with ``img`` and ``bg`` and no ``vec``, the one to write.
    img : str, os.PathLike or ndarray, optional
        ``-img``: the object image (see :func:`samples_from_image`).
    bg : str, os.PathLike or sequence, optional
        ``-bg``: background list file, or background image paths / arrays.
    vec : str or os.PathLike, optional
        ``-vec``: the .vec file to write (atomically).
    num : int or None, default=None
        ``-num``: number of distorted samples (``None``: OpenCV's default,
        1000). With ``info``, at most this many boxes (``None``: all of them;
        more than there are warns); for test images, at most this many
        images, one per background, backgrounds too small for the object
        skipped with a warning (``None``: all backgrounds).
    width, height : int, default=24
        ``-w`` / ``-h``: sample size; for test images, the object's smallest
        size.
    bg_color, bg_thresh, inv, randinv, max_intensity_dev : see samples_from_image
        ``-bgcolor``, ``-bgthresh``, ``-inv``, ``-randinv``, ``-maxidev``.
    max_x_angle, max_y_angle, max_z_angle : float, default=1.1, 1.1, 0.5
        ``-maxxangle``, ``-maxyangle``, ``-maxzangle`` in radians.
    max_scale : float or None, default=None
        ``-maxscale``, test images only: the object's largest size, as a
        multiple of ``width x height``, drawn uniformly from ``[1,
        max_scale]``. ``None`` (or negative, OpenCV's -1) means 0.7 times the
        most that fits each background; objects always fit the photo.
        Backgrounds too small for scale 1 are skipped with a warning.
    random_state : int, numpy.random.Generator or None, default=None
        Seed (OpenCV's ``-rngseed``); the same seed writes the same bytes.
    info_out : str or os.PathLike, optional
        The description file to write for test images, when the name
        ``info`` (which OpenCV uses for both) is ambiguous to a reader.

    Returns
    -------
    samples : ndarray of shape (n, height, width), dtype uint8
        For the modes that write ``vec``: the samples written.
    entries : list of Positive
        For test images: the images written and the object box in each.

    Raises
    ------
    ValueError
        If no mode matches the arguments, for conflicting ``info`` and
        ``info_out``, and for the errors of the mode's function.

    Notes
    -----
    Test-image names follow OpenCV: ``NNNN_XXXX_YYYY_WWWW_HHHH.jpg`` (index,
    then the box), grayscale JPEG. Two documented departures from OpenCV:
    the box is the bounding box of the whole distorted outline (OpenCV uses
    two corners per side, so a z-rotation can push a corner out of it), and
    each background is used at most once, in random order (OpenCV draws
    backgrounds with replacement and counts skipped ones towards ``num``).

    Examples
    --------
    >>> import os, tempfile
    >>> from skimage import data
    >>> from fer_toolkit.cascade import create_samples, read_vec
    >>> vec = os.path.join(tempfile.mkdtemp(), "face.vec")
    >>> face = data.astronaut()[66:161, 177:272]
    >>> create_samples(img=face, vec=vec, num=10, width=20, height=20, random_state=1).shape
    (10, 20, 20)
    >>> read_vec(vec, 20, 20).shape
    (10, 20, 20)
    """
    if img is not None and vec is not None:
        samples = samples_from_image(
            img,
            CREATESAMPLES.defaults.num if num is None else num,
            width,
            height,
            bg=bg,
            bg_color=bg_color,
            bg_thresh=bg_thresh,
            inv=inv,
            randinv=randinv,
            max_intensity_dev=max_intensity_dev,
            max_x_angle=max_x_angle,
            max_y_angle=max_y_angle,
            max_z_angle=max_z_angle,
            random_state=random_state,
        )
        write_vec(vec, samples)
        return samples
    if img is not None and bg is not None and (info is not None or info_out is not None):
        if (
            info is not None
            and info_out is not None
            and os.path.abspath(info) != os.path.abspath(info_out)
        ):
            raise InputError(
                f"info={os.fspath(info)!r} and info_out={os.fspath(info_out)!r} both name the "
                "description file to write; give one."
            )
        return _test_images(
            img,
            bg,
            info_out if info_out is not None else info,
            num,
            width,
            height,
            inv,
            randinv,
            max_scale,
            (bg_color, bg_thresh, max_intensity_dev, max_x_angle, max_y_angle, max_z_angle),
            np.random.default_rng(random_state),
        )
    if info is not None and vec is not None:
        samples = samples_from_info(info, num, width, height)
        write_vec(vec, samples)
        return samples
    raise InputError(
        "nothing to create: give img and vec (distorted samples), img, bg and info_out (test "
        "images with a description file), or info and vec (crop the described boxes). To look "
        "at a .vec file use show_vec."
    )


def show_vec(
    vec,
    width: int = 24,
    height: int = 24,
    path=None,
    *,
    columns: int | None = None,
    scale: int = 1,
    labels: bool = False,
    max_samples: int | None = None,
):
    """Tile the samples of a .vec file into one grayscale image for inspection.

    Parameters
    ----------
    vec : str, os.PathLike or ndarray of shape (n, height, width)
        A .vec file, or samples already read.
    width, height : int, default=24
        Sample size of the file (``-w`` / ``-h``).
    path : str, os.PathLike or None, default=None
        Also write the tile there (atomically; the extension picks the
        format, e.g. ``.png``).
    columns : int or None, default=None
        Samples per row; ``None`` makes the grid about square.
    scale : int, default=1
        Enlarge each pixel to ``scale x scale`` (nearest neighbour).
    labels : bool, default=False
        Write each sample's index in its corner (legible from ``scale=3``).
    max_samples : int or None, default=None
        Show only the first ``max_samples`` samples.

    Returns
    -------
    tile : ndarray of shape (H, W), dtype uint8
        Samples in row-major order, separated and framed by 1-pixel grey
        (128) lines; unused cells are grey.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade import show_vec
    >>> samples = np.zeros((5, 24, 20), dtype=np.uint8)
    >>> show_vec(samples, width=20, height=24, columns=3).shape
    (51, 64)
    """
    width, height = check_size((width, height), **_WINDOW)
    scale = check_int(scale, "scale", 1)
    if isinstance(vec, _PATH_TYPES):
        samples = read_vec(vec, width, height)
    else:
        samples = np.asarray(vec)
        if samples.dtype != np.uint8 or samples.shape[1:] != (height, width) or not len(samples):
            raise InputError(
                f"vec must be a .vec path or uint8 samples of shape (n, {height}, {width}); got "
                f"{samples.dtype} of shape {samples.shape}."
            )
    if max_samples is not None:
        samples = samples[: check_int(max_samples, "max_samples", 1)]
    n = len(samples)
    columns = math.ceil(math.sqrt(n)) if columns is None else check_int(columns, "columns", 1)
    rows = math.ceil(n / columns)
    th, tw = height * scale, width * scale
    cells = np.full((rows * columns, th + 1, tw + 1), 128, dtype=np.uint8)
    cells[:n, :th, :tw] = samples.repeat(scale, axis=1).repeat(scale, axis=2)
    grid = cells.reshape(rows, columns, th + 1, tw + 1).transpose(0, 2, 1, 3)
    tile = np.pad(
        grid.reshape(rows * (th + 1), columns * (tw + 1)), ((1, 0), (1, 0)), constant_values=128
    )
    if labels:
        font_scale = max(th / 150, 0.25)
        for i in range(n):
            r, c = divmod(i, columns)
            origin = (2 + c * (tw + 1), r * (th + 1) + th - 1)
            for color, thickness in ((0, 2), (255, 1)):
                cv2.putText(
                    tile,
                    str(i),
                    origin,
                    cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale,
                    color,
                    thickness,
                    cv2.LINE_AA,
                )
    if path is not None:
        with atomic_path(path) as tmp:
            try:
                written = cv2.imwrite(tmp, tile)
            except cv2.error:
                written = False
            if not written:
                raise InputError(f"cannot write {os.fspath(path)!r}: unsupported image format.")
    return tile
