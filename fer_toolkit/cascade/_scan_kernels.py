"""Compiled window evaluation of a boosted cascade (C, ``csrc/window_eval.c``).

:class:`~fer_toolkit.cascade.Cascade` flattens itself into arrays (``model``: per stage
its trees and threshold, per tree its root, per node its feature, threshold or LBP
subset and children, per leaf its value; ``feats``: the used features' corners, weights
and tilted flags, ``model._KernelFeatures``) and
these loops evaluate windows stage by stage with early rejection, with the arithmetic
of OpenCV described in :mod:`fer_toolkit.cascade.model`:

* Haar: each rectangle sum (exact, from the integral tables) is rounded to float32 and
  multiplied by its float32 weight, the terms added as ``(t0 + t1) + t2`` in float32;
  the detector multiplies by the window's float32 factor and goes left when
  ``value < threshold``; the trainer divides by its float32 norm (value 0 where the
  norm is 0) and goes left when ``value <= threshold``.
* LBP: the 8-bit code of the cell sums (bit set when a cell's sum is ``>=`` the
  centre's); left when that bit of the node's 256-bit subset is set.
* A stage adds its leaf values in double, in tree order, and rejects the window when
  the sum is below the stage's ``float32(threshold) - 1e-5``.

Three sources of windows: a stack of windows of the cascade's size (each window's
integral tables are built in a scratch buffer of its range: :func:`run_windows`), a grid of
windows of one image's integral tables (:func:`run_grid`), or grids of windows of image
bands (:func:`run_bands`). Children are coded ``c >= 0`` for node ``c``, ``c < 0`` for
leaf ``-c - 1`` (global indices over the whole cascade).

The loops are C functions called through :mod:`ctypes` (:mod:`._native`), each over a
range of its parallel index; :func:`~._native.parallel_for` runs the ranges on the
calling thread's thread count (:func:`~._native.get_num_threads`). This module only
prepares their arguments: corner offsets, contiguous arrays and scratch buffers.
"""

from __future__ import annotations

import numpy as np

from . import _native
from ._native import lib, output, parallel_for, ptr

RUN, STAGE_SUMS, FEATURE_VALUES = 0, 1, 2

# The C functions' arguments (csrc/window_eval.c; "p" pointer, "i" int64): the window
# source, each model array (Cascade._flat) with the stage count and LBP flag ("ppipppppppi"),
# the features' offsets, weights and tilted flags, then the outputs and the range.
_native.declare("fer_run_windows", "piiiii ppipppppppi ppp iipipppii")
_native.declare("fer_run_grid", "pppiiii ppipppppppi ppp ippii")
_native.declare("fer_run_bands", "pppiii ppipppppppi ppipp ppppii")


def _offsets(feats, stride) -> np.ndarray:
    """Corner offsets of ``feats`` in tables of row length ``stride``."""
    return np.ascontiguousarray(feats.rows * stride + feats.cols)


def _tilted_shift(offsets, stride, wide, pad, tilted) -> np.ndarray:
    """Offsets of tilted rectangles moved from row length ``stride`` to the padded
    tilted buffer of ``window_tables`` in ``csrc/window_eval.c`` (row length ``wide``,
    table column ``X`` at ``X + pad - 1``)."""
    y, x = np.divmod(offsets, stride)
    turn = np.asarray(tilted, dtype=bool)[:, None, None]
    return np.ascontiguousarray(np.where(turn, y * wide + x + pad - 1, offsets))


def _model_args(model) -> tuple:
    """The C functions' model arguments (with the arrays that keep them alive)."""
    arrays = (
        np.ascontiguousarray(model[0], dtype=np.int64),
        np.ascontiguousarray(model[1], dtype=np.float64),
        np.ascontiguousarray(model[2], dtype=np.int64),
        np.ascontiguousarray(model[3], dtype=np.int64),
        np.ascontiguousarray(model[4], dtype=np.float32),
        np.ascontiguousarray(model[5], dtype=np.int64),
        np.ascontiguousarray(model[6], dtype=np.int64),
        np.ascontiguousarray(model[7], dtype=np.int64),
        np.ascontiguousarray(model[8], dtype=np.float64),
    )
    stage_bounds, stage_thr, *rest = (ptr(a) for a in arrays)
    args = (stage_bounds, stage_thr, len(arrays[1]), *rest, int(bool(model[-1])))
    return args, arrays


def _feature_arrays(feats) -> tuple[np.ndarray, np.ndarray]:
    """``feats``' weights (float32) and tilted flags (one byte each), contiguous."""
    weights = np.ascontiguousarray(feats.weights, dtype=np.float32)
    tilted = np.ascontiguousarray(feats.tilted, dtype=np.bool_)
    return weights, tilted


def run_windows(windows, training, need_tilted, model, feats, what, n_blocks, out):
    """Evaluate a stack of ``(n, h, w)`` uint8 windows into ``out`` (float64).

    ``what``: :data:`RUN`: ``out[i] = (passed, score)``, the stages window ``i``
    passed (``len(stages)`` when accepted, -1 when the detector rejects it before the
    first stage) and its last stage sum (NaN for -1), with early rejection.
    :data:`STAGE_SUMS`: ``out[i, s]``, every stage's sum (the detector's, with factor 1
    where the variance term is not positive). :data:`FEATURE_VALUES`: ``out[i, f]``,
    the detector's value of every feature of ``feats``. Windows are split into
    ``n_blocks`` blocks run in parallel.
    """
    windows = np.ascontiguousarray(windows, dtype=np.uint8)
    out = output(out, np.float64, "out")
    n, h, w = windows.shape
    if n == 0 or n_blocks < 1:
        return
    stride = w + 1
    pad = h + 1
    wide = w + 2 * pad
    offsets = _offsets(feats, stride)
    if need_tilted:
        offsets = _tilted_shift(offsets, stride, wide, pad, feats.tilted)
    model_args, _arrays = _model_args(model)
    weights, tilted = _feature_arrays(feats)
    tilted_size = (h * wide, (h + 1) * wide) if need_tilted else (1, 1)

    def run(begin, end):
        table = np.zeros((h + 1) * stride, dtype=np.int64)
        padded = np.zeros(tilted_size[0], dtype=np.int64)
        tilted_table = np.zeros(tilted_size[1], dtype=np.int64)
        lib.fer_run_windows(
            ptr(windows),
            n,
            h,
            w,
            int(bool(training)),
            int(bool(need_tilted)),
            *model_args,
            ptr(offsets),
            ptr(weights),
            ptr(tilted),
            int(what),
            int(n_blocks),
            ptr(out),
            out.shape[1],
            ptr(table),
            ptr(padded),
            ptr(tilted_table),
            begin,
            end,
        )

    parallel_for(int(n_blocks), run)


def run_grid(tables, stride, size, step, model, feats, passed, score):
    """Evaluate the windows of one image on a ``step``-pixel grid, as the detector.

    ``tables``: the image's flattened integral tables (float64, as ``cv2.integral3``),
    sum, squared sum and tilted (the last two unused by LBP, the tilted one without
    tilted features: any 1-element array will do); ``size``: the window's
    ``(width, height)``. Writes ``passed`` and ``score`` ``(ny, nx)`` for the window at
    ``(j * step, i * step)``; rows run in parallel.
    """
    table, sqsum, tilted_table = (np.ascontiguousarray(t, dtype=np.float64) for t in tables)
    passed = output(passed, np.int64, "passed")
    score = output(score, np.float64, "score")
    ny, nx = passed.shape
    w, h = size
    offsets = _offsets(feats, stride)
    model_args, _arrays = _model_args(model)
    weights, tilted = _feature_arrays(feats)
    parallel_for(
        ny,
        lambda begin, end: lib.fer_run_grid(
            ptr(table),
            ptr(sqsum),
            ptr(tilted_table),
            int(stride),
            int(w),
            int(h),
            int(step),
            *model_args,
            ptr(offsets),
            ptr(weights),
            ptr(tilted),
            nx,
            ptr(passed),
            ptr(score),
            begin,
            end,
        ),
    )


def run_bands(pixels, jobs, parts, size, training, model, feats, passed):
    """Evaluate grids of windows of images held in one flat uint8 buffer.

    Each row of ``jobs`` is a band of an image ``(start, cols, rows, x0, dx, nx, dy, ny,
    at)``: the ``rows x cols`` pixels at ``pixels[start:]`` and its windows at
    ``(x0 + ix * dx, iy * dy)``, ``ix < nx``, ``iy < ny``, row by row; window ``k`` of
    the band writes ``passed[at + k]`` (as :func:`run_windows`' ``RUN``). Each band's
    integral tables are built once and every window read from them, which gives the
    same exact sums as each window's own tables: the results equal
    :func:`run_windows`' on the windows cut out (cascades without tilted features).
    ``parts``: bounds of the runs of jobs the parallel threads take; ``size``: the
    window's ``(width, height)``.
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    jobs = np.ascontiguousarray(jobs, dtype=np.int64)
    parts = np.ascontiguousarray(parts, dtype=np.int64)
    passed = output(passed, np.int64, "passed")
    w, h = size
    lbp = bool(model[-1])
    rows, cols = (np.ascontiguousarray(c, dtype=np.int64) for c in (feats.rows, feats.cols))
    model_args, _arrays = _model_args(model)
    weights, tilted = _feature_arrays(feats)

    def run(begin, end):
        # Scratch for the range's largest band (parts are runs of consecutive jobs).
        bands = jobs[parts[begin] : parts[end]]
        largest = max(1, int(((bands[:, 2] + 1) * (bands[:, 1] + 1)).max(initial=0)))
        table = np.empty(largest, dtype=np.int64)
        sqsum = np.empty(1 if lbp else largest, dtype=np.int64)
        offsets = np.empty(max(1, rows.size), dtype=np.int64)
        lib.fer_run_bands(
            ptr(pixels),
            ptr(jobs),
            ptr(parts),
            int(w),
            int(h),
            int(bool(training)),
            *model_args,
            ptr(rows),
            ptr(cols),
            rows.size,
            ptr(weights),
            ptr(tilted),
            ptr(passed),
            ptr(table),
            ptr(sqsum),
            ptr(offsets),
            begin,
            end,
        )

    parallel_for(len(parts) - 1, run)
