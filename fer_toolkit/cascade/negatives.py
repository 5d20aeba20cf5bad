"""Hard negatives for cascade training: windows of background images the cascade accepts.

The walk over the backgrounds is ``opencv_traincascade``'s
(``CvCascadeImageReader::NegReader`` in ``apps/traincascade/imagestorage.cpp``):

* images are visited in list order, cyclically; each visit starts at an offset
  ``(r % w, r // w)`` (clipped to the image) where ``r`` counts completed passes
  over the list, so successive passes see shifted grids (``w x h`` passes in
  all before the walk repeats itself);
* a visit first shrinks the image so that the window (plus offset) just fits,
  then grows it by a factor ``sqrt(2)`` (float32) per step while the scale stays
  ``<= 1`` (``cv2.resize`` with ``INTER_LINEAR_EXACT``); at each scale the windows
  lie on a grid with steps of half the window (``int(0.5 * w)``, ``int(0.5 * h)``),
  row by row;
* images smaller than the window, or unreadable, are skipped; the walk only
  ends when a whole pass over the list finds no usable image (OpenCV: "no
  appropriate image");
* the walk is **not** restarted between stages: each stage takes the windows
  after the last one the previous stage looked at (:class:`NegativeWalk`).

Mining evaluates whole batches of windows with the cascade at once (its
compiled evaluator, on the trainer's thread count), as ``opencv_traincascade``
judges them (:meth:`~fer_toolkit.cascade.Cascade.evaluate` with
``training=True``). OpenCV copies each window and builds its integral tables;
the evaluator reads the windows of a resized image from that image's own
tables instead (built once per band of rows), which gives the same exact sums
and so the same verdicts, and only the accepted windows are copied out. Then
OpenCV's sequential rules are applied to the verdicts in walk order: stop when
enough negatives are accepted, or when even one more acceptance could not keep
the acceptance ratio above the required one. The windows of the last batch that
were not looked at go back to the walk.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from numbers import Integral

import cv2
import numpy as np

from ..utils.pixels import to_gray, to_uint8
from ..utils.threads import refresh_threads
from ..utils.validation import InputError, check_image
from .description import _read_gray, read_bg

#: Default most windows tried per stage when mining negatives (``max_neg_windows``).
MAX_NEG_WINDOWS = 20_000_000

__all__ = ["Backgrounds", "MinedNegatives", "NegativeWalk", "mine_negatives", "walk_windows"]

_SCALE_FACTOR = np.float32(1.4142135623730950488016887242097)
_STEP_FACTOR = np.float32(0.5)
# Windows evaluated per call of the cascade, per thread, while mining (at most: a stage's
# first batch holds about twice the windows it wants, each next one twice the last).
_BATCH = 8192
# Window rows per band of an image whose integral tables the cascade reads while mining:
# bands overlap by a window's height less a step, and a batch needs enough of them for
# the threads to share.
_BAND_ROWS = 8
# Bytes of resized images the walk keeps: successive passes often resize an image to the
# same sizes again (the offset that sets the first scale changes along one axis only).
_RESIZED_BYTES = 32 << 20
# Bytes of decoded background images Backgrounds keeps at most.
_CACHE_BYTES = 64 << 20


class Backgrounds:
    """Background images for negative mining, read as grayscale when first needed.

    Parameters
    ----------
    bg : str, os.PathLike, or sequence of paths or images
        A background list file (OpenCV's ``-bg``, read with
        :func:`~fer_toolkit.cascade.read_bg`), or the image paths,
        or images (grayscale or RGB arrays).
    cache_size : int or None, default=None
        Most images kept in memory between visits (the walk comes back to each
        one once per pass over the list); None: as many as fit in 64 MB. The
        first images read that fit stay: on a walk that cycles through a longer
        list, a cache that dropped the least recently used image would always
        have dropped the next one.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade.negatives import Backgrounds
    >>> bgs = Backgrounds([np.zeros((30, 40, 3), dtype=np.uint8)])
    >>> len(bgs), bgs.image(0).shape
    (1, (30, 40))
    """

    def __init__(self, bg, *, cache_size: int | None = None):
        if cache_size is not None and (
            isinstance(cache_size, bool) or not isinstance(cache_size, Integral) or cache_size < 0
        ):
            raise InputError(f"cache_size must be None or an integer >= 0; got {cache_size!r}.")
        if isinstance(bg, (str, bytes, os.PathLike)):
            self.source = os.fspath(bg)
            items: Sequence = read_bg(bg)
        else:
            self.source = None
            items = list(bg)
            if not items:
                raise InputError("bg is empty: negative mining needs background images.")
        self._items = items
        self.cache_size = cache_size
        self._cache: dict[int, np.ndarray | None] = {}
        self._cached_bytes = 0
        self.unreadable: set[int] = set()  # indices of the images that failed to decode

    def image(self, i: int) -> np.ndarray | None:
        """Image ``i`` in grayscale (uint8), or None when it cannot be read."""
        if i in self._cache:
            return self._cache[i]
        img = self._load(i)
        size = 0 if img is None else img.nbytes
        room = self.cache_size is None or len(self._cache) < self.cache_size
        if room and self._cached_bytes + size <= _CACHE_BYTES:
            self._cache[i] = img
            self._cached_bytes += size
        return img

    def __len__(self) -> int:
        return len(self._items)

    def name(self, i: int) -> str:
        """The image's path, or ``bg[i]`` for an array."""
        item = self._items[i]
        if isinstance(item, (str, bytes, os.PathLike)):
            return os.fsdecode(item)
        return f"bg[{i}]"

    def _load(self, i: int) -> np.ndarray | None:
        item = self._items[i]
        if isinstance(item, (str, bytes, os.PathLike)):
            # OpenCV's decoder and grayscale conversion (cv2.imread's), fed the file's
            # bytes: cv2.imread itself cannot take every path (names that are not
            # UTF-8 crash some builds). None when unreadable.
            try:
                return _read_gray(item, f"background image {self.name(i)!r}")
            except ValueError as exc:
                if i not in self.unreadable:
                    self.unreadable.add(i)  # skipped, as OpenCV does, but not without a word
                    warnings.warn(
                        f"{exc} It is skipped ({len(self.unreadable)} of {len(self)} "
                        "background images so far).",
                        UserWarning,
                        stacklevel=3,
                    )
                return None
        return np.ascontiguousarray(to_gray(to_uint8(check_image(item, index=i, name="bg"))))


def _grid(start: int, size: int, window: int) -> tuple[int, int, int]:
    """Window positions along one axis, ``(start, step, count)``: ``start``, then steps
    of half a window while ``int(position + 1.5 * window) < size`` held for the previous
    one (OpenCV's float32 test, which integers reproduce exactly below ``2**23``)."""
    step = window // 2
    if step and size + 2 * window < 1 << 23:
        reach = (3 * window) // 2  # int(position + 1.5 * window) for an integer position
        return start, step, 1 + max(0, -(-(size - reach - start) // step))
    return start, step, _grid_count_float32(start, size, window)


def _grid_count_float32(start: int, size: int, window: int) -> int:
    """:func:`_grid`'s count with OpenCV's float32 arithmetic, for sizes where float32
    rounding matters."""
    limit = np.float32(1.0) + _STEP_FACTOR
    step = int(_STEP_FACTOR * np.float32(window))
    position, count = start, 1
    while int(np.float32(position) + limit * np.float32(window)) < size:
        position, count = position + step, count + 1
    return count


class _Resized:
    """The walk's resized images (``cv2.resize``, ``INTER_LINEAR_EXACT``) by image index
    and size, the least recently used dropped beyond ``_RESIZED_BYTES``."""

    def __init__(self):
        self._images: OrderedDict = OrderedDict()
        self._bytes = 0

    def get(self, index: int, src: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Image ``index`` (``src``) resized to ``size`` (width, height)."""
        key = (index, size)
        img = self._images.get(key)
        if img is not None:
            self._images.move_to_end(key)
            return img
        img = self._images[key] = cv2.resize(src, size, interpolation=cv2.INTER_LINEAR_EXACT)
        self._bytes += img.nbytes
        while self._bytes > _RESIZED_BYTES:
            self._bytes -= self._images.popitem(last=False)[1].nbytes
        return img


class _Visit:
    """One visit of an image, planned: per scale, the image resized with
    ``resize(src, size)`` and its grid of windows, in OpenCV's order; :meth:`into` copies
    the windows out."""

    __slots__ = ("grids", "shape")

    def __init__(
        self,
        src: np.ndarray,
        offset: tuple[int, int],
        width: int,
        height: int,
        resize: Callable[[np.ndarray, tuple[int, int]], np.ndarray],
    ):
        src = np.ascontiguousarray(src, np.uint8)  # the strided views of into() need it
        rows, cols = src.shape
        ox, oy = offset
        scale = max(
            (np.float32(width) + np.float32(ox)) / np.float32(cols),
            (np.float32(height) + np.float32(oy)) / np.float32(rows),
        )
        half = np.float32(0.5)
        size = (int(scale * np.float32(cols) + half), int(scale * np.float32(rows) + half))
        self.grids = []
        total = 0
        while True:
            img = resize(src, size) if size != (cols, rows) else src
            xs, ys = _grid(ox, img.shape[1], width), _grid(oy, img.shape[0], height)
            self.grids.append((img, xs, ys))
            total += xs[2] * ys[2]
            scale = np.float32(scale * _SCALE_FACTOR)
            if scale > 1:
                break
            size = (int(scale * np.float32(cols)), int(scale * np.float32(rows)))
        self.shape = (total, height, width)

    def __len__(self) -> int:
        return self.shape[0]

    def _views(self):
        """Per scale: ``(first window, grid)``, the grid a strided ``(ny, nx, h, w)`` view
        of the resized image (no copy, no index arrays)."""
        height, width = self.shape[1:]
        at = 0
        for img, (x0, dx, nx), (y0, dy, ny) in self.grids:
            rows, cols = img.strides
            grid = np.ndarray(
                (ny, nx, height, width),
                np.uint8,
                img,
                y0 * rows + x0 * cols,
                (dy * rows, dx * cols, rows, cols),
            )
            yield at, grid
            at += nx * ny

    def take(self, positions: np.ndarray) -> np.ndarray:
        """Windows at sorted ``positions`` of the visit, ``(k, height, width)``."""
        out = np.empty((len(positions), *self.shape[1:]), np.uint8)
        for at, grid in self._views():
            lo, hi = np.searchsorted(positions, (at, at + grid.shape[0] * grid.shape[1]))
            if lo < hi:
                rows, cols = np.divmod(positions[lo:hi] - at, grid.shape[1])
                out[lo:hi] = grid[rows, cols]
        return out

    def bands(self, pixels: list, jobs: list, at: int, start: int) -> int:
        """Append the visit's images, cut to the rows its windows cover, to ``pixels``
        and their bands of at most ``_BAND_ROWS`` window rows to ``jobs`` (rows of
        :func:`._scan_kernels.run_bands`; the visit's first window at batch position
        ``at``, its pixels at ``start`` in the batch's buffer); returns the buffer's
        new length."""
        height = self.shape[1]
        for img, (x0, dx, nx), (y0, dy, ny) in self.grids:
            cols = img.shape[1]
            pixels.append(img[y0 : y0 + (ny - 1) * dy + height].ravel())
            for r in range(0, ny, _BAND_ROWS):
                n = min(_BAND_ROWS, ny - r)
                jobs.append(
                    (start + r * dy * cols, cols, (n - 1) * dy + height, x0, dx, nx, dy, n, at)
                )
                at += n * nx
            start += len(pixels[-1])
        return start

    def windows(self) -> np.ndarray:
        """All windows, ``(k, height, width)``."""
        out = np.empty(self.shape, np.uint8)
        for at, grid in self._views():
            out[at : at + grid.shape[0] * grid.shape[1]].reshape(grid.shape)[...] = grid
        return out

    def tail(self, start: int) -> _VisitTail:
        """The visit's windows from position ``start`` on, still uncut."""
        return _VisitTail(self, start)


class _VisitTail:
    """The windows of a :class:`_Visit` from position ``start`` on: what a stage drew
    but did not look at, handed back to the walk without being cut out."""

    __slots__ = ("start", "visit")

    def __init__(self, visit: _Visit, start: int):
        self.visit = visit
        self.start = int(start)

    def __len__(self) -> int:
        return len(self.visit) - self.start

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self), *self.visit.shape[1:])

    def take(self, positions: np.ndarray) -> np.ndarray:
        """Windows at sorted ``positions`` of the tail, ``(k, height, width)``."""
        return self.visit.take(np.asarray(positions) + self.start)

    def windows(self) -> np.ndarray:
        """All windows of the tail, ``(k, height, width)``."""
        return self.take(np.arange(len(self)))

    def tail(self, start: int) -> _VisitTail:
        """The tail's windows from position ``start`` on."""
        return _VisitTail(self.visit, self.start + start)


def _visits(backgrounds: Backgrounds, width: int, height: int, start: int, round_: int):
    """:func:`walk_windows`'s visits, planned: ``(image index, _Visit)``."""
    count = len(backgrounds)
    last, round_ = int(start) % count, int(round_) % (width * height)
    skipped = 0
    resized = _Resized()
    while skipped < count:
        src = backgrounds.image(last)
        last += 1
        if src is None:  # unreadable: OpenCV moves on without counting a pass
            last %= count
            skipped += 1
        else:
            round_ = (round_ + last // count) % (width * height)
            last %= count
            offset = (
                min(round_ % width, src.shape[1] - width),
                min(round_ // width, src.shape[0] - height),
            )
            if offset[0] < 0 or offset[1] < 0:  # smaller than the window
                skipped += 1
            else:
                skipped = 0
                index = (last - 1) % count
                yield index, _Visit(src, offset, width, height, partial(resized.get, index))


def walk_windows(
    backgrounds: Backgrounds, width: int, height: int, *, start: int = 0, round_: int = 0
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(image index, windows)`` per image visit, in OpenCV's order.

    The walk begins at image ``start`` in pass ``round_`` (OpenCV starts at 0
    and 0) and goes on cycling through the list (repeating itself after
    ``len(backgrounds) * width * height`` visits, as OpenCV's does); it ends
    only when a whole pass finds no usable image.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade.negatives import Backgrounds, walk_windows
    >>> image = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    >>> index, windows = next(walk_windows(Backgrounds([image, image]), 24, 24))
    >>> index, windows.shape  # scaled to 24x24 (1 window), 33x33 (1), 47x47 (2 x 2)
    (0, (6, 24, 24))
    """
    for index, visit in _visits(backgrounds, width, height, start, round_):
        yield index, visit.windows()


class NegativeWalk:
    """The walk over the backgrounds as one stream of windows shared by all stages.

    OpenCV's ``NegReader`` keeps its place from one stage to the next; so does
    this: :func:`mine_negatives` hands back the windows it drew but did not
    look at, and the next stage starts with them.

    Parameters
    ----------
    backgrounds : Backgrounds
        The background images to walk over.
    width, height : int
        Window size.
    start, round_ : int, default=0
        Where the walk begins (see :func:`walk_windows`).

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade.negatives import Backgrounds, NegativeWalk
    >>> image = np.zeros((48, 48), np.uint8)
    >>> walk = NegativeWalk(Backgrounds([image, image]), 24, 24)
    >>> owners, windows = next(walk)  # the first visit of image 0: 6 windows
    >>> walk.push_back(owners[2:], windows[2:])  # a stage took only two of them
    >>> len(next(walk)[1])
    4
    """

    def __init__(self, backgrounds, width: int, height: int, *, start=0, round_=0):
        self._visits = _visits(backgrounds, width, height, start, round_)
        # Pieces handed back, the next one last: (owners, windows), or (image index,
        # _Visit or _VisitTail) not cut out yet.
        self._returned: list[tuple] = []

    def __iter__(self):
        return self

    def __next__(self) -> tuple[np.ndarray, np.ndarray]:
        """The next windows in walk order: ``(owners, windows)``, each window's image index."""
        who, source = self._returned.pop() if self._returned else next(self._visits)
        windows = source if isinstance(source, np.ndarray) else source.windows()
        return (np.full(len(windows), who) if np.ndim(who) == 0 else who), windows

    def _planned(self):
        """The walk's pieces as :func:`_batches` takes them: ``(owners, windows)`` put
        back, then ``(image index, _Visit)`` per visit, gathered only when batched."""
        while True:
            if self._returned:
                yield self._returned.pop()
            else:
                item = next(self._visits, None)
                if item is None:
                    return
                yield item

    def push_back(self, owners: np.ndarray, windows: np.ndarray) -> None:
        """Put windows back at the front of the walk (the last pushed comes first)."""
        if len(windows):
            self._returned.append((owners, windows))

    def _push_back_pieces(self, pieces: list) -> None:
        """Put :class:`_Batch` pieces back at the front of the walk, in their order."""
        self._returned.extend(piece for piece in reversed(pieces) if len(piece[1]))


@dataclass
class MinedNegatives:
    """Result of :func:`mine_negatives`.

    Attributes
    ----------
    samples : ndarray of shape (k, height, width), dtype uint8
        Accepted windows, in walk order.
    tried : int
        Windows the cascade judged up to the stop (OpenCV's ``negConsumed``).
    images : int
        Distinct background images the windows came from.
    stop : {"filled", "ratio", "budget", "exhausted"}
        Why mining stopped: enough negatives; the acceptance ratio fell to the
        required one; ``max_windows`` windows looked at; the walk ran out of
        windows (or usable images).

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade import MinedNegatives
    >>> mined = MinedNegatives(np.zeros((3, 12, 12), np.uint8), tried=12, images=1, stop="ratio")
    >>> mined.acceptance_ratio
    0.25
    """

    samples: np.ndarray
    tried: int
    images: int
    stop: str

    @property
    def acceptance_ratio(self) -> float:
        """Accepted / tried (0 when nothing was tried), as OpenCV reports it."""
        return len(self.samples) / self.tried if self.tried else 0.0


class _Batch:
    """Consecutive pieces of the walk, ``(owner(s), windows or _Visit)``, judged together;
    windows are cut out of the visits' images only when asked for (:meth:`take`)."""

    def __init__(self, pieces: list, total: int):
        self.pieces = pieces
        self.total = total
        self.starts = np.cumsum([0] + [len(source) for _, source in pieces])

    def owners(self) -> np.ndarray:
        """Each window's image index."""
        owners = np.empty(self.total, np.int64)
        for (who, _), lo, hi in zip(self.pieces, self.starts, self.starts[1:], strict=False):
            owners[lo:hi] = who
        return owners

    def take(self, positions: np.ndarray) -> np.ndarray:
        """Windows at sorted ``positions``, ``(k, height, width)``."""
        parts = []
        for (_, source), lo, hi in zip(self.pieces, self.starts, self.starts[1:], strict=False):
            first, last = np.searchsorted(positions, (lo, hi))
            if first < last:
                local = positions[first:last] - lo
                cut = isinstance(source, np.ndarray)
                parts.append(source[local] if cut else source.take(local))
        if parts:
            return np.concatenate(parts)
        return np.zeros((0, *self.pieces[0][1].shape[1:]), np.uint8)

    def rest(self, end: int) -> list:
        """The pieces of the windows from position ``end`` on; visits stay uncut."""
        pieces = []
        for (who, source), lo, hi in zip(self.pieces, self.starts, self.starts[1:], strict=False):
            cut = int(max(0, end - lo))
            if hi <= end:
                continue
            if cut == 0:
                pieces.append((who, source))
            elif isinstance(source, np.ndarray):
                pieces.append((who if np.ndim(who) == 0 else who[cut:], source[cut:]))
            else:
                pieces.append((who, source.tail(cut)))
        return pieces

    def accepted(self, cascade, keep: int, n_threads: int) -> np.ndarray:
        """Whether ``cascade`` accepts each of the first ``keep`` windows, as the trainer
        judges them; a :class:`~fer_toolkit.cascade.Cascade` reads the visits' windows
        straight from integral tables of their images."""
        from .model import Cascade

        if not (isinstance(cascade, Cascade) and cascade._reads_bands):
            windows = self.take(np.arange(keep))
            return cascade.accepts(windows, training=True, n_threads=n_threads)
        pixels: list = []
        jobs: list = []
        start = 0
        stacks, tails = [], []
        for (_, source), at in zip(self.pieces, self.starts, strict=False):
            if isinstance(source, _Visit):
                start = source.bands(pixels, jobs, int(at), start)
            elif isinstance(source, _VisitTail):
                tails.append((at, source))
            else:
                stacks.append((at, source))
        passed = np.full(self.total, -1, np.int64)
        if jobs:
            passed = _passed_in_bands(cascade, pixels, jobs, self.total, n_threads)
        for at, tail in tails:
            # The whole visit, read from its images' tables, then the tail's part.
            pixels, jobs = [], []
            tail.visit.bands(pixels, jobs, 0, 0)
            whole = _passed_in_bands(cascade, pixels, jobs, len(tail.visit), n_threads)
            passed[at : at + len(tail)] = whole[tail.start :]
        for at, windows in stacks:
            passed[at : at + len(windows)] = cascade.evaluate(
                windows, training=True, n_threads=n_threads
            )[0]
        return passed[:keep] == len(cascade.stages)


def _passed_in_bands(cascade, pixels: list, jobs: list, total: int, n_threads: int) -> np.ndarray:
    """Stages passed by each of ``total`` windows given as :meth:`_Visit.bands` pieces."""
    return cascade._passed_in_bands(
        np.concatenate(pixels), np.array(jobs, np.int64), total, training=True, n_threads=n_threads
    )


def _batches(pieces, size: Callable[[], int]):
    """:class:`_Batch` es of at least ``size()`` windows (asked once for each batch; the
    last one: what is left) from ``(owner(s), windows or _Visit)`` pieces."""
    pending: list = []
    total = 0
    target = None
    for piece in pieces:
        if target is None:
            target = size()
        pending.append(piece)
        total += len(piece[1])
        if total >= target:
            yield _Batch(pending, total)
            pending, total, target = [], 0, None
    if pending:
        yield _Batch(pending, total)


def _doubling(first: int, most: Callable[[], int]) -> Iterator[int]:
    """``first``, then twice the last size each time, never above ``most()``."""
    size = first
    while True:
        size = min(size, most())
        yield size
        size *= 2


def _pieces(walk):
    """``(owner(s), windows or _Visit)`` pieces from a :class:`NegativeWalk` or visits
    of :func:`walk_windows`."""
    return walk._planned() if isinstance(walk, NegativeWalk) else walk


def mine_negatives(
    cascade,
    walk,
    count: int,
    *,
    min_acceptance_ratio: float = 0.0,
    max_windows: int | None = None,
) -> MinedNegatives:
    """Collect up to ``count`` windows from ``walk`` that ``cascade`` accepts.

    Windows are judged as ``opencv_traincascade`` judges them
    (:meth:`~fer_toolkit.cascade.Cascade.evaluate` with ``training=True``):
    a cascade without stages accepts every window, flat ones included.

    Parameters
    ----------
    cascade : Cascade
        The stages trained so far (none: every window).
    walk : NegativeWalk or iterator of (int, ndarray)
        A :class:`NegativeWalk`, which gets back the windows drawn but not
        looked at, or the visits of :func:`walk_windows` (such windows are
        then lost).
    count : int
        Negatives wanted.
    min_acceptance_ratio : float, default=0.0
        OpenCV's early stop: before taking the next window, give up when
        ``(accepted + 1) / tried <= min_acceptance_ratio``, i.e. the cascade
        already meets the required false-alarm rate.
    max_windows : int or None, default=None
        Most windows to look at (None: no limit besides the walk's length).

    Returns
    -------
    MinedNegatives

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade.features import haar_features
    >>> from fer_toolkit.cascade.model import Cascade, StageParams
    >>> from fer_toolkit.cascade.negatives import Backgrounds, mine_negatives, walk_windows
    >>> empty = Cascade(width=12, height=12, feature_type="HAAR", mode="BASIC",
    ...                 stage_params=StageParams(), stages=[],
    ...                 features=haar_features(12, 12))
    >>> noise = np.random.default_rng(0).integers(0, 256, (40, 50), dtype=np.uint8)
    >>> mined = mine_negatives(empty, walk_windows(Backgrounds([noise]), 12, 12), 5)
    >>> mined.samples.shape, mined.tried, mined.acceptance_ratio, mined.stop
    ((5, 12, 12), 5, 1.0, 'filled')
    """
    from ._native import get_num_threads  # the compiled loops' count, which the trainer sets

    height, width = cascade.height, cascade.width
    found: list[np.ndarray] = []
    n_found = tried = 0
    images: set[int] = set()
    budget = np.inf if max_windows is None else max_windows
    stop = None
    # The count is chosen again for every batch (refresh_threads, below), so a long pass
    # follows the load; the result does not depend on the batch size. Batches double from
    # twice the windows wanted: what a stage scans past its last negative goes back to
    # the walk and is scanned again by the next stage, so early stages, which need few
    # windows, scan few.
    refresh_threads()
    sizes = _doubling(max(2 * count, 1), lambda: _BATCH * get_num_threads())
    for batch in _batches(_pieces(walk), sizes.__next__):
        n_threads = get_num_threads()
        keep = int(min(batch.total, budget - tried))
        accepted = batch.accepted(cascade, keep, n_threads)
        # Accepted windows before each one, and windows tried before it.
        before = n_found + np.cumsum(accepted) - accepted
        position = tried + np.arange(keep)
        give_up = (position > 0) & ((before + 1) / np.maximum(position, 1) <= min_acceptance_ratio)
        full = before + accepted >= count
        stop_ratio = int(np.argmax(give_up)) if give_up.any() else keep
        stop_full = int(np.argmax(full)) + 1 if full.any() else keep + 1
        end = min(stop_ratio, stop_full, keep)
        found.append(batch.take(np.flatnonzero(accepted[:end])))
        n_found += len(found[-1])
        tried += end
        owners = batch.owners()
        images.update(owners[:end].tolist())
        if stop_full <= stop_ratio and stop_full <= keep:
            stop = "filled"
        elif stop_ratio < keep:
            stop = "ratio"
        elif tried >= budget:
            stop = "budget"
        if stop is not None:
            if isinstance(walk, NegativeWalk):
                walk._push_back_pieces(batch.rest(end))
            break
        refresh_threads()
    else:
        # OpenCV checks the ratio before asking the walk for another window.
        ratio_met = tried > 0 and (n_found + 1) / tried <= min_acceptance_ratio
        stop = "ratio" if ratio_met else "exhausted"
    samples = np.concatenate(found) if found else np.zeros((0, height, width), np.uint8)
    return MinedNegatives(samples=samples, tried=tried, images=len(images), stop=stop)
