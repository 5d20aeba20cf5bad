"""Compiled loops of the cascade trainer's split search (numba).

Each function is one of OpenCV's loops from ``old_ml_boost.cpp``
(``CvBoostTree::find_split_ord_reg`` / ``find_split_ord_class`` /
``find_split_cat_reg`` / ``find_split_cat_class`` and ``calc_node_value``),
with the same float64 accumulations in the same order, run for every feature
of a block in parallel (``prange``). Features are independent; the choice
among them (first best in feature order, quality compared as float32) is
made by the caller, so the result does not depend on the number of threads.

Nodes are given by ``node_of``: the index of the node each training sample
belongs to, ``-1`` for samples in no node being split (trimmed out, or in a
leaf). A node's samples are visited in increasing sample index, as OpenCV
keeps them. Kinds: 0 regression (GAB, LB), 1 Gini (RAB), 2 misclassification
(DAB).

Compiled code is cached on disk (numba's ``cache=True``: next to this file,
or in numba's per-user cache folder when the package folder is read-only, or
else in a temporary folder).
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
from numba import config, get_num_threads, njit, prange, set_num_threads
from numba.misc.appdirs import AppDirs

from ..utils import threads


def _writable(folder: str) -> bool:
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _cache_fallback() -> None:
    """Give numba a writable cache folder when neither of its own is (else importing fails)."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
    user = AppDirs(appname="numba", appauthor=False).user_cache_dir
    if config.CACHE_DIR or _writable(here) or _writable(user):
        return
    shared = os.path.join(tempfile.gettempdir(), "fer_toolkit-numba-cache")
    config.CACHE_DIR = (
        shared if _writable(shared) else tempfile.mkdtemp(prefix="fer_toolkit-numba-")
    )


_cache_fallback()
REG, GINI, MISCLASS = 0, 1, 2
_FLT_EPSILON = float(np.finfo(np.float32).eps)
_DBL_EPSILON = float(np.finfo(np.float64).eps)
N_CATEGORIES = 256
# The sign bit of a float32, and the bit pattern of -0.0.
_NEGATIVE_ZERO = np.uint32(0x80000000)
# haar_values: features per parallel task, samples per cached block of table rows.
_GROUP = 64
_BLOCK = 256


def use_threads(n_threads: int) -> None:
    """Run the parallel loops on ``n_threads`` threads (at most numba's pool size)."""
    set_num_threads(max(1, min(int(n_threads), config.NUMBA_NUM_THREADS)))


def limit_threads(n_threads=None):
    """:func:`fer_toolkit.utils.threads.limit_threads` for numba's thread pool (the parallel
    loops of the cascade trainer and evaluator), so that CPU training needs no PyTorch.

    :func:`~fer_toolkit.utils.threads.refresh_threads` chooses the count again inside
    the block; :func:`get_num_threads` tells it to code that runs its own threads
    (sorting, negative mining).
    """
    return threads.limit_threads(n_threads, pool=(get_num_threads, use_threads))


@njit(cache=True)
def class_sums(node_of, n_nodes, weights, labels):
    """Per node: weight of class 0 and of class 1, summed in sample order."""
    out = np.zeros((n_nodes, 2))
    for i in range(len(node_of)):
        j = node_of[i]
        if j >= 0:
            out[j, labels[i]] += weights[i]
    return out


@njit(cache=True)
def reg_sums(node_of, n_nodes, weights, responses):
    """Per node: sum of w, of t * w and of t * t * w, in sample order (``calc_node_value``)."""
    out = np.zeros((n_nodes, 3))
    for i in range(len(node_of)):
        j = node_of[i]
        if j >= 0:
            w = weights[i]
            t = responses[i]
            out[j, 0] += w
            out[j, 1] += t * w
            out[j, 2] += t * t * w
    return out


@njit(parallel=True, cache=True, nogil=True)
def ordered_splits(values, order, node_of, init, weights, column, kind, eps, best_q, best_k):
    """Best threshold of every (feature, node) of a block of ordered (Haar) features.

    ``order`` (F, N): each feature's samples sorted by value; ``values`` (F, N)
    float32: the values in that order (read in sequence, not gathered). ``init``
    (n_nodes, 2): regression: the node's total weight ``R`` and ``node value * R``;
    classification: its class-0 and class-1 weights. ``column``: responses
    (regression) or labels as int. Writes the best quality (float64, ``-inf`` when
    no threshold is allowed) into ``best_q`` and the position in ``order`` of the
    last sample sent left into ``best_k``.
    """
    n_feat, n = values.shape
    n_nodes = init.shape[0]
    for f in prange(n_feat):
        for j in range(n_nodes):
            best = -math.inf
            best_at = -1
            have = False
            prev_v = values[f, 0]
            prev_k = 0
            if kind == REG:
                left_w = 0.0
                right_w = init[j, 0]
                lsum = 0.0
                rsum = init[j, 1]
                for k in range(n):
                    idx = order[f, k]
                    if node_of[idx] != j:
                        continue
                    v = values[f, k]
                    if have and prev_v + eps < v:
                        val = (lsum * lsum * right_w + rsum * rsum * left_w) / (left_w * right_w)
                        if best < val:
                            best = val
                            best_at = prev_k
                    w = weights[idx]
                    t = column[idx] * w
                    left_w += w
                    right_w -= w
                    lsum += t
                    rsum -= t
                    prev_v = v
                    prev_k = k
                    have = True
            else:
                lcw0 = 0.0
                lcw1 = 0.0
                rcw0 = init[j, 0]
                rcw1 = init[j, 1]
                left_w = 0.0
                right_w = rcw0 + rcw1
                lsum2 = 0.0
                rsum2 = rcw0 * rcw0 + rcw1 * rcw1
                for k in range(n):
                    idx = order[f, k]
                    if node_of[idx] != j:
                        continue
                    v = values[f, k]
                    if have and prev_v + eps < v:
                        if kind == GINI:
                            val = (lsum2 * right_w + rsum2 * left_w) / (left_w * right_w)
                        else:
                            val = max(lcw0 + rcw1, lcw1 + rcw0)
                        if best < val:
                            best = val
                            best_at = prev_k
                    w = weights[idx]
                    if kind == GINI:
                        w2 = w * w
                        left_w += w
                        right_w -= w
                        if column[idx] == 1:
                            lsum2 += 2 * lcw1 * w + w2
                            rsum2 -= 2 * rcw1 * w - w2
                        else:
                            lsum2 += 2 * lcw0 * w + w2
                            rsum2 -= 2 * rcw0 * w - w2
                    if column[idx] == 1:
                        lcw1 += w
                        rcw1 -= w
                    else:
                        lcw0 += w
                        rcw0 -= w
                    prev_v = v
                    prev_k = k
                    have = True
            best_q[f, j] = best
            best_k[f, j] = best_at


@njit(cache=True)
def stable_order(key):
    """``np.argsort(key, kind="stable")``, fast for keys that are mostly 0, the minimum
    or the maximum.

    The keys equal to the minimum come first and those equal to the maximum last, in
    index order; between them the negative keys, the zeros in index order, then the
    positive keys, the non-zero ones placed by insertion (equal keys keep index order).
    Categories of one class (mean response exactly -1 or 1) and empty ones (0) are
    most of an LBP feature's, so insertion sorts only the mixed ones.
    """
    n = len(key)
    order = np.empty(n, dtype=np.int64)
    if n == 0:
        return order
    low = key[0]
    high = key[0]
    for c in range(n):
        low = min(low, key[c])
        high = max(high, key[c])
    n_low = n_neg = n_zero = n_pos = 0
    for c in range(n):
        k = key[c]
        if k == low:
            n_low += 1
        elif k == high:
            pass
        elif k < 0:
            n_neg += 1
        elif k == 0:
            n_zero += 1
        else:
            n_pos += 1
    end_low = 0
    end_neg = n_low
    end_zero = n_low + n_neg
    first_pos = end_zero + n_zero
    end_pos = first_pos
    end_high = first_pos + n_pos
    for c in range(n):
        k = key[c]
        if k == low:
            order[end_low] = c
            end_low += 1
            continue
        if k == high:
            order[end_high] = c
            end_high += 1
            continue
        if k == 0:
            order[end_zero] = c
            end_zero += 1
            continue
        if k < 0:
            lo = n_low
            j = end_neg
            end_neg += 1
        else:
            lo = first_pos
            j = end_pos
            end_pos += 1
        while j > lo and key[order[j - 1]] > k:
            order[j] = order[j - 1]
            j -= 1
        order[j] = c
    return order


@njit(cache=True)
def category_order(values, node_of, j, weights, column, kind):
    """One feature's category sums for node ``j`` and the order OpenCV sorts them in.

    Returns ``(s0, s1, order, total0, total1)``. Regression: the categories'
    weights and ``mean * weight`` (OpenCV's "unnormalised" sums), ordered by
    mean response, and the totals of weight and raw weighted response.
    Classification: class-0 and class-1 weights, ordered by class-1 weight,
    and the class totals. Ties keep category order (a stable sort; OpenCV's
    ``std::sort`` is not).
    """
    s0 = np.zeros(N_CATEGORIES)
    s1 = np.zeros(N_CATEGORIES)
    for i in range(len(node_of)):
        if node_of[i] != j:
            continue
        c = int(values[i])
        w = weights[i]
        if kind == REG:
            s1[c] = s1[c] + column[i] * w
            s0[c] = s0[c] + w
        elif column[i] == 1:
            s1[c] += w
        else:
            s0[c] += w
    total0 = 0.0
    total1 = 0.0
    for c in range(N_CATEGORIES):
        total0 += s0[c]
        total1 += s1[c]
        if kind == REG:
            s1[c] = s1[c] / s0[c] if abs(s0[c]) > _DBL_EPSILON else 0.0
    order = stable_order(s1)
    if kind == REG:
        for c in range(N_CATEGORIES):
            s1[c] *= s0[c]
    return s0, s1, order, total0, total1


@njit(parallel=True, cache=True, nogil=True)
def categorical_splits(values, node_of, n_nodes, weights, column, kind, best_q, best_k):
    """Best left subset of every (feature, node) of a block of LBP features.

    Writes the best quality (``-inf`` when none) into ``best_q`` and the
    position in the category order of the last category sent left into
    ``best_k`` (:func:`category_order` gives the order).
    """
    n_feat = values.shape[0]
    for f in prange(n_feat):
        for j in range(n_nodes):
            s0, s1, order, total0, total1 = category_order(
                values[f], node_of, j, weights, column, kind
            )
            best = -math.inf
            best_at = -1
            left_w = 0.0
            if kind == REG:
                right_w = total0
                lsum = 0.0
                rsum = total1
                for i in range(N_CATEGORIES - 1):
                    c = order[i]
                    ni = s0[c]
                    if ni > _FLT_EPSILON:
                        s = s1[c]
                        lsum += s
                        left_w += ni
                        rsum -= s
                        right_w -= ni
                        if left_w > _FLT_EPSILON and right_w > _FLT_EPSILON:
                            val = (lsum * lsum * right_w + rsum * rsum * left_w) / (
                                left_w * right_w
                            )
                            if best < val:
                                best = val
                                best_at = i
            else:
                lcw0 = 0.0
                lcw1 = 0.0
                rcw0 = total0
                rcw1 = total1
                right_w = rcw0 + rcw1
                for i in range(N_CATEGORIES - 1):
                    c = order[i]
                    w0 = s0[c]
                    w1 = s1[c]
                    weight = w0 + w1
                    if weight < _FLT_EPSILON:
                        continue
                    lcw0 += w0
                    rcw0 -= w0
                    lcw1 += w1
                    rcw1 -= w1
                    if kind == GINI:
                        lsum2 = lcw0 * lcw0 + lcw1 * lcw1
                        rsum2 = rcw0 * rcw0 + rcw1 * rcw1
                        left_w += weight
                        right_w -= weight
                        if left_w > _FLT_EPSILON and right_w > _FLT_EPSILON:
                            val = (lsum2 * right_w + rsum2 * left_w) / (left_w * right_w)
                            if best < val:
                                best = val
                                best_at = i
                    else:
                        val = max(lcw0 + rcw1, lcw1 + rcw0)
                        if best < val:
                            best = val
                            best_at = i
            best_q[f, j] = best
            best_k[f, j] = best_at


@njit(parallel=True, cache=True, nogil=True)
def argsort_rows(values, out, sorted_out):
    """``np.argsort(values, axis=1, kind="stable")`` into ``out`` (int32 or uint16), and
    the values in that order into ``sorted_out`` (which may be ``values`` itself).

    ``values`` is float32 ``(F, N)``, without NaN. An LSD radix sort on the
    order-preserving unsigned image of each float (``-0.0`` taken as ``0.0``),
    8 bits per pass, skipping passes where every key has the same digit: about
    5x faster than NumPy's argsort on a few hundred values per row, without
    SIMD. Rows go in blocks of ``_GROUP`` over the parallel threads.
    """
    n_rows, n = values.shape
    bits = values.view(np.uint32)
    sorted_bits = sorted_out.view(np.uint32)
    for g in prange((n_rows + _GROUP - 1) // _GROUP):
        keys = np.empty(n, np.uint32)
        spare_keys = np.empty(n, np.uint32)
        idx = np.empty(n, np.int32)
        spare_idx = np.empty(n, np.int32)
        counts = np.empty((4, 256), np.int64)
        for f in range(g * _GROUP, min((g + 1) * _GROUP, n_rows)):
            counts[:] = 0
            for i in range(n):
                u = bits[f, i]
                if u == _NEGATIVE_ZERO:
                    u = np.uint32(0)
                k = ~u if u >> 31 else u | _NEGATIVE_ZERO
                keys[i] = k
                idx[i] = i
                for p in range(4):
                    counts[p, (k >> (8 * p)) & 255] += 1
            src_k, src_i, dst_k, dst_i = keys, idx, spare_keys, spare_idx
            for p in range(4):
                shift = 8 * p
                if n == 0 or counts[p, (src_k[0] >> shift) & 255] == n:
                    continue
                total = 0
                for d in range(256):
                    c = counts[p, d]
                    counts[p, d] = total
                    total += c
                for i in range(n):
                    k = src_k[i]
                    d = (k >> shift) & 255
                    dst_k[counts[p, d]] = k
                    dst_i[counts[p, d]] = src_i[i]
                    counts[p, d] += 1
                src_k, src_i, dst_k, dst_i = dst_k, dst_i, src_k, src_i
            for i in range(n):
                spare_keys[i] = bits[f, src_i[i]]
            for i in range(n):
                out[f, i] = src_i[i]
                sorted_bits[f, i] = spare_keys[i]


@njit(parallel=True, cache=True, nogil=True)
def lbp_codes(sums, rects, bits, out):
    """LBP codes of features ``rects`` (k, 4) on integral images ``sums``.

    ``sums`` is ``(h + 1, w + 1, n)`` int32 (samples last, so that each corner
    is one contiguous run over the samples); ``bits[r * 3 + c]`` is the code
    bit of cell (r, c), set when the cell's sum is at least the centre's.
    Writes ``out`` ``(k, n)``, float32.
    """
    n = sums.shape[2]
    for f in prange(rects.shape[0]):
        x, y, w, h = rects[f, 0], rects[f, 1], rects[f, 2], rects[f, 3]
        for s in range(n):
            cy = y + h
            cx = x + w
            centre = sums[cy, cx, s] - sums[cy, cx + w, s] - sums[cy + h, cx, s]
            centre += sums[cy + h, cx + w, s]
            code = 0
            for r in range(3):
                top = y + r * h
                for c in range(3):
                    bit = bits[r * 3 + c]
                    if bit == 0:
                        continue
                    left = x + c * w
                    cell = sums[top, left, s] - sums[top, left + w, s] - sums[top + h, left, s]
                    cell += sums[top + h, left + w, s]
                    if cell >= centre:
                        code |= bit
            out[f, s] = code


@njit(parallel=True, cache=True, nogil=True)
def haar_values(planes, crow, cols, coefs, feats, norm, normalize, out):
    """Haar feature values of the samples whose integral tables are ``planes``.

    ``planes`` is ``(m, n)``: the flattened sum (and tilted) tables, samples last,
    in the dtype of ``coefs`` (float32 where every partial sum is an integer below
    2**24, else float64; exact either way for the integer weights of OpenCV's
    features). Feature ``f`` is the linear map ``coefs[crow[f]:crow[f + 1]]`` over
    the rows ``cols[crow[f]:crow[f + 1]]``, rounded once to float32 and, with
    ``normalize``, divided in float32 by ``norm`` (float32; value 0 where the norm
    is 0). Writes feature ``feats[r]`` into row ``r`` of ``out`` ``(k, n)``, float32.
    """
    n = planes.shape[1]
    n_feat = out.shape[0]
    # Features in groups, samples in blocks: a block of every table row stays in cache
    # while a group of features reads it.
    for g in prange((n_feat + _GROUP - 1) // _GROUP):
        acc = np.empty(_BLOCK, dtype=planes.dtype)
        for s0 in range(0, n, _BLOCK):
            s1 = min(s0 + _BLOCK, n)
            m = s1 - s0
            for r in range(g * _GROUP, min((g + 1) * _GROUP, n_feat)):
                f = feats[r]
                acc[:m] = 0
                for j in range(crow[f], crow[f + 1]):
                    c = coefs[j]
                    row = planes[cols[j], s0:s1]
                    for s in range(m):
                        acc[s] += c * row[s]
                dest = out[r, s0:s1]
                if normalize:
                    for s in range(m):
                        d = norm[s0 + s]
                        dest[s] = np.float32(acc[s]) / d if d != 0 else np.float32(0.0)
                else:
                    for s in range(m):
                        dest[s] = np.float32(acc[s])
