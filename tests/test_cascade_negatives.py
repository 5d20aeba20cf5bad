"""The background walk's windows, their order and owners, against a plain re-implementation."""

import dataclasses
import re
from functools import partial
from itertools import islice
from unittest import mock

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fer_toolkit.cascade import negatives
from fer_toolkit.cascade._native import get_num_threads
from fer_toolkit.cascade.negatives import Backgrounds, NegativeWalk, mine_negatives, walk_windows
from fer_toolkit.utils.validation import InputError

_F32 = np.float32


def _reference_grid(start, size, window):
    """Positions along one axis with OpenCV's float32 test, one step at a time."""
    positions = [start]
    while int(_F32(positions[-1]) + _F32(1.5) * _F32(window)) < size:
        positions.append(positions[-1] + int(_F32(0.5) * _F32(window)))
    return positions


def _reference_visit(src, offset, width, height):
    """One visit's windows, scale by scale, row by row, copied one at a time."""
    rows, cols = src.shape
    ox, oy = offset
    scale = max((_F32(width) + _F32(ox)) / _F32(cols), (_F32(height) + _F32(oy)) / _F32(rows))
    size = (int(scale * _F32(cols) + _F32(0.5)), int(scale * _F32(rows) + _F32(0.5)))
    windows = []
    while True:
        img = (
            src
            if size == (cols, rows)
            else cv2.resize(src, size, interpolation=cv2.INTER_LINEAR_EXACT)
        )
        for y in _reference_grid(oy, img.shape[0], height):
            for x in _reference_grid(ox, img.shape[1], width):
                windows.append(img[y : y + height, x : x + width])
        scale = _F32(scale * _F32(1.4142135623730950488016887242097))
        if scale > 1:
            return np.stack(windows)
        size = (int(scale * _F32(cols)), int(scale * _F32(rows)))


@settings(max_examples=300, deadline=None)
@given(
    size=st.one_of(st.integers(1, 400), st.integers((1 << 23) - 300, (1 << 23) + 300)),
    back=st.integers(0, 400),
    window=st.integers(2, 60),
)
def test_grids_are_opencvs_float32_grids(size, back, window):
    # Large images start near their end (float32 rounding matters from 2**23 on).
    start = max(0, size - window - back)
    first, step, count = negatives._grid(start, size, window)
    assert [first + step * i for i in range(count)] == _reference_grid(start, size, window)


@settings(max_examples=150, deadline=None)
@given(
    window=st.tuples(st.integers(2, 30), st.integers(2, 30)),
    extra=st.tuples(st.integers(0, 90), st.integers(0, 90)),
    shift=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    seed=st.integers(0, 2**16),
)
def test_a_visit_gives_every_window_of_every_scale_in_order(window, extra, shift, seed):
    width, height = window
    src = np.random.default_rng(seed).integers(
        0, 256, (height + extra[1], width + extra[0]), dtype=np.uint8
    )
    offset = (int(shift[0] * extra[0]), int(shift[1] * extra[1]))
    visit = negatives._Visit(src, offset, width, height, partial(negatives._Resized().get, 0))
    got = visit.windows()
    expected = _reference_visit(src, offset, width, height)
    assert got.shape == expected.shape == visit.shape
    np.testing.assert_array_equal(got, expected)


def _images(seed, n):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(10, 80, (n, 2))
    return [rng.integers(0, 256, tuple(s), dtype=np.uint8) for s in sizes]


class _Accepting:
    """Accepts windows whose first pixel is not ``reject``; logs what it was shown."""

    height, width, stages = 12, 14, [None]

    def __init__(self, reject=-1):
        self.reject = reject

    def accepts(self, windows, training, n_threads):
        assert windows.flags.c_contiguous and windows.dtype == np.uint8
        return windows[:, 0, 0] != self.reject


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    counts=st.lists(st.integers(1, 700), min_size=1, max_size=4),
    batch=st.sampled_from([1, 5, 64, 300, 2048]),
    reject=st.integers(-1, 255),
)
def test_mining_batches_keep_the_walks_windows_owners_and_order(seed, counts, batch, reject):
    images = _images(seed, 5)
    # The plain walk, long enough for every window mining can look at or draw.
    enough = 3 * sum(counts) + batch * get_num_threads() + 1000
    visits = walk_windows(Backgrounds(images), 14, 12)
    owners, windows = [], []
    while sum(map(len, windows)) < enough:
        index, visit = next(visits)
        owners.append(np.full(len(visit), index))
        windows.append(visit)
    owners, windows = np.concatenate(owners), np.concatenate(windows)
    walk = NegativeWalk(Backgrounds(images), 14, 12)
    at = 0
    for count in counts:
        with mock.patch.object(negatives, "_BATCH", batch):
            mined = mine_negatives(_Accepting(reject), walk, count, max_windows=3 * count)
        looked_at = windows[at : at + mined.tried]
        np.testing.assert_array_equal(mined.samples, looked_at[looked_at[:, 0, 0] != reject])
        assert len(mined.samples) == count or mined.tried == 3 * count
        assert mined.images == len(set(owners[at : at + mined.tried].tolist()))
        at += mined.tried
    # The windows drawn but not looked at come back first, with their owners.
    got_owners, got_windows = next(walk)
    assert len(got_windows) and at + len(got_windows) <= len(windows)
    np.testing.assert_array_equal(got_owners, owners[at : at + len(got_windows)])
    np.testing.assert_array_equal(got_windows, windows[at : at + len(got_windows)])


class _Dark(_Accepting):
    """Accepts windows whose first pixel is below 16 (one in 16 of random pixels)."""

    def accepts(self, windows, training, n_threads):
        return windows[:, 0, 0] < 16


def test_mining_batches_start_near_twice_the_count_and_double(monkeypatch):
    # A stage that wants few windows scans few: what it scans past its last negative
    # goes back to the walk, to be scanned again by the next stage.
    sizes = []
    scan = negatives._Batch.accepted

    def recording(self, cascade, keep, n_threads):
        sizes.append(self.total)
        return scan(self, cascade, keep, n_threads)

    monkeypatch.setattr(negatives._Batch, "accepted", recording)
    images = _images(3, 5)
    longest = max(len(w) for _, w in islice(walk_windows(Backgrounds(images), 14, 12), 5))
    walk = NegativeWalk(Backgrounds(images), 14, 12)
    assert mine_negatives(_Accepting(), walk, 50).stop == "filled"
    assert len(sizes) == 1 and 100 <= sizes[0] < 100 + longest  # not 8192 per thread
    sizes.clear()
    assert mine_negatives(_Dark(), walk, 400).stop == "filled"
    assert len(sizes) >= 3
    most = negatives._BATCH * get_num_threads()
    for k, size in enumerate(sizes[:-1]):  # the last batch may be what the walk had left
        target = min(800 << k, most)
        assert target <= size < target + longest


def test_plain_visits_are_mined_in_order_and_the_rest_is_dropped():
    visits = list(islice(walk_windows(Backgrounds(_images(1, 3)), 14, 12), 6))
    owners = np.concatenate([np.full(len(w), i) for i, w in visits])
    windows = np.concatenate([w for _, w in visits])
    cascade = _Accepting(reject=int(windows[0, 0, 0]))
    with mock.patch.object(negatives, "_BATCH", 30):
        mined = mine_negatives(cascade, iter(visits), 100)
    accepted = windows[:, 0, 0] != cascade.reject
    tried = int(np.flatnonzero(np.cumsum(accepted) == 100)[0]) + 1
    assert (mined.tried, mined.stop) == (tried, "filled")
    np.testing.assert_array_equal(mined.samples, windows[:tried][accepted[:tried]])
    assert mined.images == len(set(owners[:tried].tolist()))


def test_resized_images_kept_between_passes_are_those_of_the_same_image_and_size():
    # Same shapes, other pixels: a resized image must only serve its own image again.
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (40, 56), dtype=np.uint8) for _ in range(3)]

    def stream(budget):
        with mock.patch.object(negatives, "_RESIZED_BYTES", budget):
            visits = list(islice(walk_windows(Backgrounds(images), 14, 12), 3 * 60))
        return np.concatenate([np.full(len(w), i) for i, w in visits]), np.concatenate(
            [w for _, w in visits]
        )

    fresh_owners, fresh = stream(0)  # every resized image dropped at once: no reuse
    for budget in (3000, 1 << 20):
        owners, windows = stream(budget)
        np.testing.assert_array_equal(owners, fresh_owners)
        np.testing.assert_array_equal(windows, fresh)


def test_windows_handed_back_uncut_are_judged_and_taken_as_the_walk_cuts_them():
    """Stages sharing a walk stop in the middle of visits and hand the rest back uncut
    (read from the images' tables by the next stage): every stage takes the windows,
    and counts the tries, that one stream of cut-out windows judged by the same cascade
    gives."""
    from skimage import data

    from fer_toolkit.cascade import read_cascade
    from fer_toolkit.detection import resolve_cascade

    cascade = read_cascade(resolve_cascade("fer_toolkit_frontalface"))
    # Its first 2 stages accept a few percent of background windows.
    cascade = dataclasses.replace(cascade, stages=cascade.stages[:2])
    assert cascade._reads_bands
    images = [cv2.resize(data.camera(), (160, 160)), data.coins(), data.moon()[::3, ::3]]
    width, height = cascade.width, cascade.height
    walk = NegativeWalk(Backgrounds(images), width, height)
    counts = [1, 40, 3, 120, 7]
    mined = [mine_negatives(cascade, walk, count) for count in counts]
    assert [m.stop for m in mined] == ["filled"] * len(counts)
    stream = np.concatenate(
        [w for _, w in islice(walk_windows(Backgrounds(images), width, height), 40)]
    )
    accepted = np.flatnonzero(cascade.accepts(stream, training=True))
    assert len(accepted) > sum(counts)
    tried = 0
    for count, m in zip(counts, mined, strict=True):
        mine = accepted[(accepted >= tried)][:count]
        np.testing.assert_array_equal(m.samples, stream[mine])
        assert m.tried == mine[-1] + 1 - tried
        tried += m.tried


@pytest.mark.parametrize("cache_size", [-1, 2.5, True, "64"])
def test_backgrounds_reject_a_cache_size_that_is_not_a_count(cache_size):
    message = f"cache_size must be None or an integer >= 0; got {cache_size!r}"
    with pytest.raises(InputError, match=re.escape(message)):
        Backgrounds([np.zeros((30, 40), np.uint8)], cache_size=cache_size)


def test_backgrounds_keep_the_first_images_that_fit(tmp_path, monkeypatch):
    """A walk cycles through the list: the first images read stay decoded (at most
    cache_size, at most _CACHE_BYTES), the others are read again on every pass."""
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"bg{i}.png")
        cv2.imwrite(str(paths[-1]), np.full((20, 30), 40 * i, np.uint8))
    reads = []
    load = Backgrounds._load

    def counted(self, i):
        reads.append(i)
        return load(self, i)

    monkeypatch.setattr(Backgrounds, "_load", counted)
    for backgrounds, kept in [
        (Backgrounds(paths), 5),
        (Backgrounds(paths, cache_size=2), 2),
    ]:
        reads.clear()
        for _ in range(3):
            for i in range(5):
                assert backgrounds.image(i)[0, 0] == 40 * i
        assert reads == list(range(5)) + 2 * list(range(kept, 5))
    monkeypatch.setattr(negatives, "_CACHE_BYTES", 3 * 20 * 30)
    reads.clear()
    backgrounds = Backgrounds(paths)
    for _ in range(2):
        for i in range(5):
            backgrounds.image(i)
    assert reads == [0, 1, 2, 3, 4, 3, 4]
