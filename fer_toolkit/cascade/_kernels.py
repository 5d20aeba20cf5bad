"""The cascade trainer's split search and feature values (C: ``csrc/split_search.c``).

Each split function is one of OpenCV's loops from ``old_ml_boost.cpp``
(``CvBoostTree::find_split_ord_reg`` / ``find_split_ord_class`` /
``find_split_cat_reg`` / ``find_split_cat_class`` and ``calc_node_value``),
with the same float64 accumulations in the same order, run for the features
of a block on :func:`~fer_toolkit.cascade._native.parallel_for`'s threads.
Features are independent; the choice among them (first best in feature order,
quality compared as float32) is made by the caller, so the result does not
depend on the number of threads.

Nodes are given by ``node_of`` (int32): the index of the node each training
sample belongs to, ``-1`` for samples in no node being split (trimmed out, or
in a leaf). A node's samples are visited in increasing sample index, as OpenCV
keeps them. Kinds: 0 regression (GAB, LB), 1 Gini (RAB), 2 misclassification
(DAB); ``column`` holds the responses (float64) for regression, else the labels
(0 or 1).
"""

from __future__ import annotations

import ctypes

import numpy as np

from ._native import declare, lib, output, parallel_for, ptr

REG, GINI, MISCLASS = 0, 1, 2
N_CATEGORIES = 256

declare("fer_class_sums", "piippp")
declare("fer_reg_sums", "piippp")
for _name in ("fer_ordered_splits_u16", "fer_ordered_splits_i32"):
    declare(_name, "ppipi pppp if pp ii")
declare("fer_stable_order", "pip", ctypes.c_int)  # -1: no memory
declare("fer_category_order", "pipi pppi pppp")
declare("fer_categorical_splits", "pipi pppi pp ii", ctypes.c_int)
for _name in ("fer_argsort_rows_u16", "fer_argsort_rows_i32"):
    declare(_name, "pipp ii", ctypes.c_int)
for _name in ("fer_lbp_codes_u8", "fer_lbp_codes_f32"):
    declare(_name, "piii ppp ii")
for _name in ("fer_haar_values_f32", "fer_haar_values_f64"):
    declare(_name, "pipp ppp ip ii")
_ORDER_SUFFIX = {np.dtype(np.uint16): "u16", np.dtype(np.int32): "i32"}
_CODE_SUFFIX = {np.dtype(np.uint8): "u8", np.dtype(np.float32): "f32"}


def _node_index(node_of) -> np.ndarray:
    return np.ascontiguousarray(node_of, dtype=np.int32)


def _codes(values) -> np.ndarray:
    """LBP codes as contiguous bytes (the compiled loops read them so)."""
    return np.ascontiguousarray(values, dtype=np.uint8)


def _columns(column, kind):
    """``(responses, labels)`` pointers: the responses for regression, else the labels."""
    if kind == REG:
        return np.ascontiguousarray(column, dtype=np.float64), None
    return None, np.ascontiguousarray(column, dtype=np.int64)


def class_sums(node_of, n_nodes, weights, labels) -> np.ndarray:
    """Per node: weight of class 0 and of class 1, summed in sample order."""
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    return _node_sums(lib.fer_class_sums, 2, node_of, n_nodes, weights, labels)


def reg_sums(node_of, n_nodes, weights, responses) -> np.ndarray:
    """Per node: sum of w, of t * w and of t * t * w, in sample order (``calc_node_value``)."""
    responses = np.ascontiguousarray(responses, dtype=np.float64)
    return _node_sums(lib.fer_reg_sums, 3, node_of, n_nodes, weights, responses)


def _node_sums(function, width: int, node_of, n_nodes, weights, column) -> np.ndarray:
    node_of = _node_index(node_of)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    out = np.empty((n_nodes, width))
    function(ptr(node_of), len(node_of), n_nodes, ptr(weights), ptr(column), ptr(out))
    return out


def ordered_splits(values, order, node_of, init, weights, column, kind, eps, best_q, best_k):
    """Best threshold of every (feature, node) of a block of ordered (Haar) features.

    ``order`` (F, N), uint16 or int32: each feature's samples sorted by value;
    ``values`` (F, N) float32: the values in that order (read in sequence, not
    gathered). ``init`` (n_nodes, 2): regression: the node's total weight ``R`` and
    ``node value * R``; classification: its class-0 and class-1 weights. Thresholds
    lie between values more than ``eps`` apart (added in float32). Writes the best
    quality (float64, ``-inf`` when no threshold is allowed) into ``best_q`` and the
    position in ``order`` of the last sample sent left into ``best_k``.
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    order = np.ascontiguousarray(order)
    node_of = _node_index(node_of)
    init = np.ascontiguousarray(init, dtype=np.float64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    resp, lab = _columns(column, kind)
    output(best_q, np.float64, "best_q")
    output(best_k, np.int64, "best_k")
    n_feat, n = values.shape
    split = getattr(lib, f"fer_ordered_splits_{_ORDER_SUFFIX[order.dtype]}")
    args = (
        ptr(values), ptr(order), n, ptr(node_of), init.shape[0], ptr(init), ptr(weights),
        ptr(resp), ptr(lab), kind, float(eps), ptr(best_q), ptr(best_k),
    )  # fmt: skip
    parallel_for(n_feat, lambda begin, end: split(*args, begin, end))


def stable_order(key) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` of float64 keys, fast for keys that are mostly 0,
    the minimum or the maximum (categories of one class and empty ones, most of an LBP
    feature's): only the others are placed by insertion."""
    key = np.ascontiguousarray(key, dtype=np.float64)
    order = np.empty(len(key), dtype=np.int64)
    if lib.fer_stable_order(ptr(key), len(key), ptr(order)) != 0:
        raise MemoryError(f"no memory to sort {len(key)} keys")
    return order


def category_order(values, node_of, j, weights, column, kind):
    """One feature's category sums for node ``j`` and the order OpenCV sorts them in.

    ``values`` holds the feature's codes on every sample (any integer or float
    dtype holding integers in ``[0, 256)``).

    Returns ``(s0, s1, order, total0, total1)``. Regression: the categories'
    weights and ``mean * weight`` (OpenCV's "unnormalised" sums), ordered by
    mean response, and the totals of weight and raw weighted response.
    Classification: class-0 and class-1 weights, ordered by class-1 weight,
    and the class totals. Ties keep category order (a stable sort; OpenCV's
    ``std::sort`` is not).
    """
    codes = _codes(values)
    node_of = _node_index(node_of)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    resp, lab = _columns(column, kind)
    s0, s1, totals = np.empty(N_CATEGORIES), np.empty(N_CATEGORIES), np.empty(2)
    order = np.empty(N_CATEGORIES, dtype=np.int64)
    lib.fer_category_order(
        ptr(codes), len(codes), ptr(node_of), j, ptr(weights), ptr(resp), ptr(lab), kind,
        ptr(s0), ptr(s1), ptr(order), ptr(totals),
    )  # fmt: skip
    return s0, s1, order, float(totals[0]), float(totals[1])


def categorical_splits(values, node_of, n_nodes, weights, column, kind, best_q, best_k):
    """Best left subset of every (feature, node) of a block of LBP features.

    ``values`` (F, N) holds the codes, read as bytes (uint8, as the trainer keeps
    them; other dtypes are converted).

    Writes the best quality (``-inf`` when none) into ``best_q`` and the
    position in the category order of the last category sent left into
    ``best_k`` (:func:`category_order` gives the order).
    """
    codes = _codes(values)
    node_of = _node_index(node_of)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    resp, lab = _columns(column, kind)
    output(best_q, np.float64, "best_q")
    output(best_k, np.int64, "best_k")
    n_feat, n = codes.shape
    args = (
        ptr(codes), n, ptr(node_of), n_nodes, ptr(weights), ptr(resp), ptr(lab), kind,
        ptr(best_q), ptr(best_k),
    )  # fmt: skip

    def run(begin, end):
        if lib.fer_categorical_splits(*args, begin, end) != 0:
            raise MemoryError(f"no memory for the split search of {n} samples")

    parallel_for(n_feat, run)


def argsort_rows(values, out, sorted_out) -> None:
    """``np.argsort(values, axis=1, kind="stable")`` into ``out`` (int32 or uint16), and
    the values in that order into ``sorted_out`` (which may be ``values`` itself).

    ``values`` is float32 ``(F, N)``, without NaN. An LSD radix sort on the
    order-preserving unsigned image of each float (``-0.0`` taken as ``0.0``),
    8 bits per pass, skipping passes where every key has the same digit: about
    5x faster than NumPy's argsort on a few hundred values per row.
    """
    output(values, np.float32, "values")
    output(sorted_out, np.float32, "sorted_out")
    output(out, out.dtype, "out")
    n_rows, n = values.shape
    sort = getattr(lib, f"fer_argsort_rows_{_ORDER_SUFFIX[out.dtype]}")

    def run(begin, end):
        if sort(ptr(values), n, ptr(out), ptr(sorted_out), begin, end) != 0:
            raise MemoryError(f"no memory to sort rows of {n} values")

    parallel_for(n_rows, run)


def lbp_codes(sums, rects, bits, out) -> None:
    """LBP codes of features ``rects`` (k, 4) on integral images ``sums``.

    ``sums`` is ``(h + 1, w + 1, n)`` int32 (samples last, so that each corner
    is one contiguous run over the samples); ``bits[r * 3 + c]`` is the code
    bit of cell (r, c), set when the cell's sum is at least the centre's.
    Writes ``out`` ``(k, n)``: uint8 (the trainer's cache) or float32.
    """
    sums = np.ascontiguousarray(sums, dtype=np.int32)
    rects = np.ascontiguousarray(rects, dtype=np.int32)
    bits = np.ascontiguousarray(bits, dtype=np.int64)
    if not isinstance(out, np.ndarray) or out.dtype not in _CODE_SUFFIX:
        raise ValueError("out must be a C-contiguous uint8 or float32 array")
    output(out, out.dtype, "out")
    rows, cols, n = sums.shape
    codes = getattr(lib, f"fer_lbp_codes_{_CODE_SUFFIX[out.dtype]}")
    args = (ptr(sums), rows, cols, n, ptr(rects), ptr(bits), ptr(out))
    parallel_for(len(rects), lambda begin, end: codes(*args, begin, end))


def haar_values(planes, crow, cols, coefs, feats, norm, normalize, out) -> None:
    """Haar feature values of the samples whose integral tables are ``planes``.

    ``planes`` is ``(m, n)``: the flattened sum (and tilted) tables, samples last,
    in the dtype of ``coefs`` (float32 where every partial sum is an integer below
    2**24, else float64; exact either way for the integer weights of OpenCV's
    features). Feature ``f`` is the linear map ``coefs[crow[f]:crow[f + 1]]`` over
    the rows ``cols[crow[f]:crow[f + 1]]``, rounded once to float32 and, with
    ``normalize``, divided in float32 by ``norm`` (float32; value 0 where the norm
    is 0). Writes feature ``feats[r]`` into row ``r`` of ``out`` ``(k, n)``, float32.
    """
    real = np.dtype(coefs.dtype)
    suffix = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}[real]
    planes = np.ascontiguousarray(planes, dtype=real)
    coefs = np.ascontiguousarray(coefs)
    crow = np.ascontiguousarray(crow, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    feats = np.ascontiguousarray(feats, dtype=np.int64)
    norm = np.ascontiguousarray(norm, dtype=np.float32)
    output(out, np.float32, "out")
    values = getattr(lib, f"fer_haar_values_{suffix}")
    args = (
        ptr(planes), planes.shape[1], ptr(crow), ptr(cols), ptr(coefs), ptr(feats), ptr(norm),
        int(bool(normalize)), ptr(out),
    )  # fmt: skip
    parallel_for(len(feats), lambda begin, end: values(*args, begin, end))
