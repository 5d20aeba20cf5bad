"""Compiled window evaluation of a boosted cascade (numba).

:class:`~fer_toolkit.cascade.Cascade` flattens itself into arrays (``model``: per stage
its trees and threshold, per tree its root, per node its feature, threshold or LBP
subset and children, per leaf its value; ``feats``: the used features' rectangles) and
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

Two sources of windows: a stack of windows of the cascade's size (each window's
integral tables are built in a per-thread buffer: :func:`run_windows`), or a grid of
windows of one image's integral tables (:func:`run_grid`). Children are coded ``c >= 0``
for node ``c``, ``c < 0`` for leaf ``-c - 1`` (global indices over the whole cascade).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._kernels import use_threads  # noqa: F401  (importing _kernels sets numba's cache folder)

#: Code bit of each cell of an LBP 3x3 block, row by row (the centre has none).
_CELL_BITS = (128, 64, 32, 1, 0, 16, 2, 4, 8)


@njit(cache=True, nogil=True)
def haar_offsets(rects, tilted, stride):
    """Corner offsets ``(F, 3, 4)`` of Haar rectangles in tables of row length ``stride``.

    Upright ``(x, y, w, h)``: corners ``(x, y), (x + w, y), (x, y + h), (x + w, y + h)``;
    tilted: ``(x, y), (x - h, y + h), (x + w, y + w), (x + w - h, y + w + h)``
    (OpenCV's ``CV_SUM_OFFSETS`` / ``CV_TILTED_OFFSETS``).
    """
    out = np.empty((rects.shape[0], 3, 4), dtype=np.int64)
    for f in range(rects.shape[0]):
        for r in range(3):
            x, y, w, h = rects[f, r, 0], rects[f, r, 1], rects[f, r, 2], rects[f, r, 3]
            if tilted[f]:
                out[f, r, 0] = y * stride + x
                out[f, r, 1] = (y + h) * stride + x - h
                out[f, r, 2] = (y + w) * stride + x + w
                out[f, r, 3] = (y + w + h) * stride + x + w - h
            else:
                out[f, r, 0] = y * stride + x
                out[f, r, 1] = y * stride + x + w
                out[f, r, 2] = (y + h) * stride + x
                out[f, r, 3] = (y + h) * stride + x + w
    return out


@njit(cache=True, nogil=True)
def lbp_offsets(rects, stride):
    """Offsets ``(F, 4, 4)`` of the grid of cell corners of LBP blocks (``rects`` ``(F, 1, 4)``)."""
    out = np.empty((rects.shape[0], 4, 4), dtype=np.int64)
    for f in range(rects.shape[0]):
        x, y, w, h = rects[f, 0, 0], rects[f, 0, 1], rects[f, 0, 2], rects[f, 0, 3]
        for i in range(4):
            for j in range(4):
                out[f, i, j] = (y + i * h) * stride + x + j * w
    return out


@njit(cache=True, nogil=True, inline="always")
def _rect(t, base, offsets, f, r):
    """Sum of rectangle ``r`` of feature ``f`` at ``base`` in table ``t`` (exact)."""
    return (
        t[base + offsets[f, r, 0]]
        - t[base + offsets[f, r, 1]]
        - t[base + offsets[f, r, 2]]
        + t[base + offsets[f, r, 3]]
    )


@njit(cache=True, nogil=True, inline="always")
def _haar_raw(table, tilted_table, base, f, offsets, weights, tilted):
    """Weighted rectangle sum of feature ``f`` at ``base`` (float32, OpenCV's order)."""
    value = np.float32(0)
    for r in range(3):
        w = weights[f, r]
        if r == 2 and w == 0:
            break  # a two-rectangle feature: its third term is 0
        if tilted[f]:
            s = _rect(tilted_table, base, offsets, f, r)
        else:
            s = _rect(table, base, offsets, f, r)
        term = np.float32(s) * w
        value = term if r == 0 else value + term
    return value


@njit(cache=True, nogil=True, inline="always")
def _cell(table, base, offsets, f, r, c):
    """Sum of cell ``(r, c)`` of LBP feature ``f`` (corner offsets ``(F, 4, 4)``)."""
    return (
        table[base + offsets[f, r, c]]
        - table[base + offsets[f, r, c + 1]]
        - table[base + offsets[f, r + 1, c]]
        + table[base + offsets[f, r + 1, c + 1]]
    )


@njit(cache=True, nogil=True, inline="always")
def _lbp_code(table, base, f, offsets):
    """LBP code (0-255) of feature ``f`` at ``base``."""
    centre = _cell(table, base, offsets, f, 1, 1)
    code = 0
    for r in range(3):
        for c in range(3):
            bit = _CELL_BITS[r * 3 + c]
            if bit != 0 and _cell(table, base, offsets, f, r, c) >= centre:
                code |= bit
    return code


@njit(cache=True, nogil=True, inline="always")
def _stage_sum(s, table, tilted_table, base, scale, training, model, feats, offsets):
    """Sum of stage ``s``'s leaf values at the window at ``base`` (float64).

    ``scale``: the detector's factor, or the trainer's norm when ``training``.
    """
    total = 0.0
    for t in range(model[0][s], model[0][s + 1]):
        node = model[2][t]
        while True:
            f = model[3][node]
            if model[9]:
                code = _lbp_code(table, base, f, offsets)
                left = (model[5][node, code >> 5] >> (code & 31)) & 1 == 1
            else:
                value = _haar_raw(table, tilted_table, base, f, offsets, feats[1], feats[2])
                if training:
                    value = np.float32(0) if scale == 0 else value / scale
                    left = value <= model[4][node]
                else:
                    left = value * scale < model[4][node]
            child = model[6][node] if left else model[7][node]
            if child < 0:
                total += model[8][-child - 1]
                break
            node = child
    return total


@njit(cache=True, nogil=True, inline="always")
def _scale(vsum, vsqsum, area, training):
    """(window valid, factor or norm) from the inner rectangle's sum and squared sum.

    Detector (``HaarEvaluator::setWindow``): ``nf = area * sqsum - sum ** 2``; factor
    ``float32(1 / sqrt(nf))`` (1 when ``nf <= 0``); valid when ``nf > 0`` and
    ``area * factor < 0.1``. Trainer: norm ``float32(sqrt(nf))``, always valid.
    """
    nf = area * float(vsqsum) - float(vsum) * float(vsum)
    if training:
        return True, np.float32(math.sqrt(nf))
    if nf > 0:
        factor = np.float32(1.0 / math.sqrt(nf))
        return area * float(factor) < 0.1, factor
    return False, np.float32(1.0)


@njit(cache=True, nogil=True, inline="always")
def _run(table, tilted_table, base, valid, scale, training, model, feats, offsets):
    """(stages passed, last stage sum) of one window, with early rejection."""
    n_stages = len(model[1])
    if not valid:
        return -1, np.nan
    score = np.nan
    for s in range(n_stages):
        score = _stage_sum(s, table, tilted_table, base, scale, training, model, feats, offsets)
        if score < model[1][s]:
            return s, score
    return n_stages, score


@njit(cache=True, nogil=True, inline="always")
def _window_tables(window, table, padded, tilted_table, need_sq, need_tilted):
    """Integral tables of one ``(h, w)`` uint8 window into flat per-thread buffers;
    returns the inner rectangle's ``(sum, squared sum)`` (the latter 0 unless
    ``need_sq``).

    ``table`` holds ``(h + 1) * (w + 1)`` entries, its first row and column zero. The
    tilted table is computed over ``h + 1`` zero columns on both sides, where OpenCV's
    recurrence ``T[Y, X] = T[Y-1, X-1] + T[Y-1, X+1] - T[Y-2, X] + I[Y-1, X-1] +
    I[Y-2, X-1]`` needs no clipping: ``padded`` (``h * wide``, ``wide = w + 2 * (h + 1)``)
    holds the window in columns ``h + 1 ...`` and zeros around it, ``tilted_table``
    (``(h + 1) * wide``, first row zero) the table, column ``X`` at ``X + h``. Row ``Y``
    is computed only where later rows or the result read it (within ``h - Y`` columns
    of the window), so entries farther out hold stale values.
    """
    h, w = window.shape
    stride = w + 1
    for y in range(h):
        row = 0
        above = y * stride + 1
        here = above + stride
        for x in range(w):
            row += np.int64(window[y, x])
            table[here + x] = table[above + x] + row
    a, b = stride + 1, stride + w - 1
    c, d = (h - 1) * stride + 1, (h - 1) * stride + w - 1
    vsum = table[a] - table[b] - table[c] + table[d]
    vsqsum = 0
    if need_sq:
        for y in range(1, h - 1):
            for x in range(1, w - 1):
                p = np.int64(window[y, x])
                vsqsum += p * p
    if need_tilted:
        pad = h + 1
        wide = w + 2 * pad
        for y in range(h):
            for x in range(w):
                padded[y * wide + pad + x] = window[y, x]
        for j in range(1, wide - 1):
            tilted_table[wide + j] = padded[j]
        for y in range(2, h + 1):
            row = y * wide
            reach = h - y + 1
            for j in range(pad - reach, pad + w + reach):
                v = tilted_table[row - wide + j - 1] + tilted_table[row - wide + j + 1]
                v += padded[row - wide + j] + padded[row - 2 * wide + j]
                tilted_table[row + j] = v - tilted_table[row - 2 * wide + j]
    return vsum, vsqsum


@njit(cache=True, nogil=True)
def _offsets(feats, stride, lbp):
    if lbp:
        return lbp_offsets(feats[0], stride)
    return haar_offsets(feats[0], feats[2], stride)


@njit(cache=True, nogil=True)
def _tilted_shift(offsets, stride, wide, pad, tilted):
    """Offsets of tilted rectangles moved from row length ``stride`` to the padded
    tilted buffer of :func:`_window_tables` (row length ``wide``, table column ``X``
    at ``X + pad - 1``)."""
    out = offsets.copy()
    for f in range(offsets.shape[0]):
        if tilted[f]:
            for r in range(offsets.shape[1]):
                for k in range(4):
                    y, x = divmod(offsets[f, r, k], stride)
                    out[f, r, k] = y * wide + x + pad - 1
    return out


RUN, STAGE_SUMS, FEATURE_VALUES = 0, 1, 2


@njit(parallel=True, cache=True, nogil=True)
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
    n, h, w = windows.shape
    lbp = model[-1]
    stride = w + 1
    pad = h + 1
    wide = w + 2 * pad
    offsets = _offsets(feats, stride, lbp)
    if need_tilted:
        offsets = _tilted_shift(offsets, stride, wide, pad, feats[2])
    area = (w - 2) * (h - 2)
    for b in prange(n_blocks):
        table = np.zeros((h + 1) * stride, dtype=np.int64)
        padded = np.zeros(h * wide if need_tilted else 1, dtype=np.int64)
        tilted_table = np.zeros((h + 1) * wide if need_tilted else 1, dtype=np.int64)
        for i in range(b * n // n_blocks, (b + 1) * n // n_blocks):
            vsum, vsqsum = _window_tables(
                windows[i], table, padded, tilted_table, not lbp, need_tilted
            )
            valid, scale = True, np.float32(1.0)
            if not lbp:
                valid, scale = _scale(vsum, vsqsum, area, training)
            if what == RUN:
                out[i, 0], out[i, 1] = _run(
                    table, tilted_table, 0, valid, scale, training, model, feats, offsets
                )
            elif what == STAGE_SUMS:
                for s in range(out.shape[1]):
                    out[i, s] = _stage_sum(
                        s, table, tilted_table, 0, scale, training, model, feats, offsets
                    )
            else:
                for f in range(out.shape[1]):
                    if lbp:
                        out[i, f] = _lbp_code(table, 0, f, offsets)
                    else:
                        value = _haar_raw(table, tilted_table, 0, f, offsets, feats[1], feats[2])
                        out[i, f] = value * scale


@njit(parallel=True, cache=True, nogil=True)
def run_grid(tables, stride, size, step, model, feats, passed, score):
    """Evaluate the windows of one image on a ``step``-pixel grid, as the detector.

    ``tables``: the image's flattened integral tables (float64, as ``cv2.integral3``),
    sum, squared sum and tilted (the last two unused by LBP, the tilted one without
    tilted features: any 1-element array will do); ``size``: the window's
    ``(width, height)``. Writes ``passed`` and ``score`` ``(ny, nx)`` for the window at
    ``(j * step, i * step)``; rows run in parallel.
    """
    ny, nx = passed.shape
    w, h = size
    lbp = model[-1]
    offsets = _offsets(feats, stride, lbp)
    table, sqsum, tilted_table = tables[0], tables[1], tables[2]
    area = (w - 2) * (h - 2)
    inner = (stride + 1, stride + w - 1, (h - 1) * stride + 1, (h - 1) * stride + w - 1)
    for i in prange(ny):
        for j in range(nx):
            base = i * step * stride + j * step
            valid, scale = True, np.float32(1.0)
            if not lbp:
                a, b, c, d = base + inner[0], base + inner[1], base + inner[2], base + inner[3]
                vsum = table[a] - table[b] - table[c] + table[d]
                vsqsum = sqsum[a] - sqsum[b] - sqsum[c] + sqsum[d]
                valid, scale = _scale(vsum, vsqsum, area, False)
            passed[i, j], score[i, j] = _run(
                table, tilted_table, base, valid, scale, False, model, feats, offsets
            )


@njit(cache=True, nogil=True)
def _band_tables(pixels, start, cols, rows, table, sqsum, need_sq):
    """Integral tables of the ``rows x cols`` uint8 image at ``pixels[start:]`` into flat
    buffers of row length ``cols + 1`` (first row and column zero); the squared-sum
    table only when ``need_sq``."""
    stride = cols + 1
    for x in range(stride):
        table[x] = 0
        if need_sq:
            sqsum[x] = 0
    for y in range(rows):
        here = (y + 1) * stride
        above = y * stride
        table[here] = 0
        src = start + y * cols
        row = 0
        for x in range(cols):
            row += np.int64(pixels[src + x])
            table[here + x + 1] = table[above + x + 1] + row
        if need_sq:
            sqsum[here] = 0
            row = 0
            for x in range(cols):
                p = np.int64(pixels[src + x])
                row += p * p
                sqsum[here + x + 1] = sqsum[above + x + 1] + row


@njit(parallel=True, cache=True, nogil=True)
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
    w, h = size
    lbp = model[-1]
    area = (w - 2) * (h - 2)
    for p in prange(len(parts) - 1):
        largest = 1
        for j in range(parts[p], parts[p + 1]):
            largest = max(largest, (jobs[j, 2] + 1) * (jobs[j, 1] + 1))
        table = np.empty(largest, dtype=np.int64)
        sqsum = np.empty(1 if lbp else largest, dtype=np.int64)
        # The bands of one image follow each other and share its row length.
        stride = jobs[parts[p], 1] + 1
        offsets = _offsets(feats, stride, lbp)
        for j in range(parts[p], parts[p + 1]):
            start, cols, rows, x0, dx, nx, dy, ny, at = jobs[j]
            _band_tables(pixels, start, cols, rows, table, sqsum, not lbp)
            if cols + 1 != stride:
                stride = cols + 1
                offsets = _offsets(feats, stride, lbp)
            a, b = stride + 1, stride + w - 1
            c, d = (h - 1) * stride + 1, (h - 1) * stride + w - 1
            for iy in range(ny):
                for ix in range(nx):
                    base = iy * dy * stride + x0 + ix * dx
                    valid, scale = True, np.float32(1.0)
                    if not lbp:
                        vsum = table[base + a] - table[base + b] - table[base + c] + table[base + d]
                        vsq = sqsum[base + a] - sqsum[base + b] - sqsum[base + c] + sqsum[base + d]
                        valid, scale = _scale(vsum, vsq, area, training)
                    passed[at + iy * nx + ix] = _run(
                        table, table, base, valid, scale, training, model, feats, offsets
                    )[0]
