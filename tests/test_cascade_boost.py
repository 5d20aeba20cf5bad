"""Boosting of cascade stages (fer_toolkit.cascade.boost) against brute force and OpenCV's rules."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fer_toolkit.cascade.boost import (
    FeatureValues,
    _grow_tree,
    _trim,
    boost_stage,
    stage_threshold,
)
from fer_toolkit.cascade.model import BOOST_TYPES


def _separable(seed=0, n_pos=60, n_neg=120, n_features=12):
    """Noise features plus three informative ones; the classes overlap a little."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    X = rng.normal(size=(n_pos + n_neg, n_features)).astype(np.float32)
    X[:, 3] += 2.5 * labels
    X[:, 7] -= 2.0 * labels
    X[:, 9] += 1.5 * labels
    return X, labels


def _brute_force_stump(X, labels, weights, criterion):
    """Best (quality, feature, float32 threshold) by trying every cut of every feature."""
    y = 2.0 * labels - 1
    best = (-np.inf, None, None)
    for f in range(X.shape[1]):
        values = np.unique(X[:, f])
        for lo, hi in itertools.pairwise(values):
            left = X[:, f] <= lo
            wl, wr = weights[left], weights[~left]
            if criterion == "reg":
                q = (wl @ y[left]) ** 2 / wl.sum() + (wr @ y[~left]) ** 2 / wr.sum()
            else:
                lc = [wl[labels[left] == k].sum() for k in (0, 1)]
                rc = [wr[labels[~left] == k].sum() for k in (0, 1)]
                if criterion == "gini":
                    q = (lc[0] ** 2 + lc[1] ** 2) / sum(lc) + (rc[0] ** 2 + rc[1] ** 2) / sum(rc)
                else:
                    q = max(lc[0] + rc[1], lc[1] + rc[0])
            if q > best[0] * (1 + 1e-9):
                best = (q, f, np.float32((lo + hi) * np.float32(0.5)))
    return best


@pytest.mark.parametrize("boost_type", BOOST_TYPES)
@pytest.mark.parametrize("max_depth", [1, 2])
def test_every_boost_type_reaches_the_stage_targets(boost_type, max_depth):
    X, labels = _separable()
    stage = boost_stage(
        X,
        labels,
        boost_type=boost_type,
        max_depth=max_depth,
        min_hit_rate=0.98,
        max_false_alarm_rate=0.1,
        max_weak_count=50,
        device="cpu",
    )
    assert stage.hit_rate >= 0.98
    assert stage.false_alarm <= 0.1
    assert len(stage.trees) < 50
    # The recorded rates are those of the threshold applied to the final sums.
    sums = sum(tree.predict(FeatureValues.from_array(X)) for tree in stage.trees)
    passed = sums >= np.float32(stage.threshold) - np.float32(1e-5)
    assert passed[labels == 1].mean() >= 0.98
    assert passed[labels == 0].mean() == pytest.approx(stage.false_alarm)


@pytest.mark.parametrize(
    ("boost_type", "criterion"), [("GAB", "reg"), ("RAB", "gini"), ("DAB", "misclass")]
)
def test_first_stump_equals_brute_force(boost_type, criterion):
    rng = np.random.default_rng(3)
    n = 40
    labels = rng.integers(0, 2, n)
    X = rng.integers(0, 9, size=(n, 5)).astype(np.float32) + rng.normal(0, 0.3, (n, 5)).round(1)
    X[:, 2] += 1.5 * labels
    X = X.astype(np.float32)
    stage = boost_stage(X, labels, boost_type=boost_type, max_weak_count=1, device="cpu")
    tree = stage.trees[0]
    _, feature, threshold = _brute_force_stump(X, labels, np.full(n, 1 / n), criterion)
    assert tree.feature.tolist() == [feature]
    assert tree.threshold[0] == threshold
    assert tree.left.tolist() == [0] and tree.right.tolist() == [-1]
    left = X[:, feature] <= threshold
    w = np.full(n, 1 / n)
    if boost_type == "GAB":  # leaf = weighted mean of the labels +-1
        expected = [np.mean(2 * labels[side] - 1) for side in (left, ~left)]
        np.testing.assert_allclose(tree.leaf_values, expected)
    elif boost_type == "RAB":  # leaf = half log-odds of the positive weight, p clipped
        p = np.clip([labels[side].mean() for side in (left, ~left)], 1e-5, 1 - 1e-5)
        np.testing.assert_allclose(tree.leaf_values, [0.5 * np.log(q / (1 - q)) for q in p])
    else:  # leaf = +-C with C = log((1 - err) / err)
        vote = np.where(left, 1 if labels[left].mean() > 0.5 else -1, 1)
        vote[~left] = 1 if labels[~left].mean() > 0.5 else -1
        err = w[vote != 2 * labels - 1].sum()
        c = np.log((1 - err) / err)
        np.testing.assert_allclose(np.abs(tree.leaf_values), [c, c])


def test_thresholds_are_float32_midpoints_that_the_detector_rule_agrees_with():
    X, labels = _separable(seed=5)
    stage = boost_stage(X, labels, max_weak_count=8, min_hit_rate=0.99, device="cpu")
    for tree in stage.trees:
        thr = tree.threshold[0]
        assert tree.threshold.dtype == np.float32
        values = np.unique(X[:, tree.feature[0]])
        below, above = values[values <= thr].max(), values[values > thr].min()
        assert thr == np.float32((below + above) * np.float32(0.5))
        # Training goes left on <=, the detector on <: same sides for every training value.
        np.testing.assert_array_equal(values <= thr, values < thr)


def test_weight_trimming_keeps_the_heaviest_samples():
    weights = np.array([0.5, 0.25, 0.125, 0.0625, 0.0625])
    # OpenCV drops the lightest samples until the dropped weight reaches 1 - rate, the
    # sample that crosses it included; ties with the lightest kept weight stay.
    assert _trim(weights, 0.8).tolist() == [True, True, False, False, False]
    assert _trim(weights, 0.9).tolist() == [True, True, True, False, False]
    assert _trim(weights, 0.95).all()
    assert _trim(weights[[4, 0, 3, 1, 2]], 0.9).tolist() == [False, True, False, True, True]
    assert _trim(weights, 1.0).all()  # rate >= 1 disables trimming, as in OpenCV


def test_trimmed_samples_take_no_part_in_the_split_search():
    # Feature 0 splits the active samples cleanly at 2.5 | 3.5; one trimmed sample
    # sits at 3.0 on the wrong side and would move the threshold if it counted.
    X = np.array([[v] for v in (0, 1, 2, 2.5, 3.0, 3.5, 4, 5, 6, 7, 8, 9)], dtype=np.float32)
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    labels[4] = 0
    active = np.ones(12, dtype=bool)
    active[4] = False
    features = FeatureValues.from_array(X)
    weights = np.full(12, 1 / 12)
    y = (2 * labels - 1).astype(np.float64)
    tree, weak_eval = _grow_tree(features, "reg", "GAB", weights, labels, y, active, 1)
    assert tree.threshold[0] == np.float32(3.0)  # midpoint of 2.5 and 3.5, the active values
    assert tree.leaf_values.tolist() == [-1.0, 1.0]  # both leaves pure without sample 4
    assert weak_eval[4] == 0  # not reached by the tree in training
    # Counting sample 4, the pure cut lies between 3.0 and 3.5.
    everyone = np.ones(12, dtype=bool)
    tree_all, _ = _grow_tree(features, "reg", "GAB", weights, labels, y, everyone, 1)
    assert tree_all.threshold[0] == np.float32(3.25)


def test_depth_two_trees_learn_a_conjunction_and_are_numbered_breadth_first():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(400, 2)).astype(np.float32)
    labels = ((X[:, 0] > 0) & (X[:, 1] > 0)).astype(int)
    stage = boost_stage(X, labels, max_depth=2, max_weak_count=1, min_hit_rate=0.9, device="cpu")
    tree = stage.trees[0]
    # The root's left child is pure (a leaf, number 0); its right child (node 1) splits
    # again into leaves 1 and 2.
    assert sorted(tree.feature.tolist()) == [0, 1]
    assert tree.left.tolist() == [0, -1]
    assert tree.right.tolist() == [1, -2]
    assert len(tree.leaf_values) == 3
    assert stage.false_alarm < 0.05  # one depth-2 tree captures "x0 > 0 and x1 > 0"
    stump = boost_stage(X, labels, max_weak_count=1, min_hit_rate=0.9, device="cpu")
    assert stump.false_alarm > 0.25  # a single stump cannot


@pytest.mark.parametrize("boost_type", BOOST_TYPES)
def test_categorical_splits_pick_the_code_subset(boost_type):
    rng = np.random.default_rng(2)
    n = 300
    codes = rng.integers(0, 256, size=(n, 3)).astype(np.float32)
    positive_codes = np.array([3, 40, 41, 200, 255])
    codes[: n // 2, 1] = rng.choice(positive_codes, n // 2)
    labels = np.r_[np.ones(n // 2, int), np.zeros(n - n // 2, int)]
    stage = boost_stage(
        codes, labels, boost_type=boost_type, max_weak_count=1, categorical=True, device="cpu"
    )
    tree = stage.trees[0]
    assert tree.feature.tolist() == [1]
    assert tree.subset.shape == (1, 8) and tree.subset.dtype == np.int32
    words = tree.subset[0].view(np.uint32)
    left = {c for c in range(256) if words[c >> 5] >> (c & 31) & 1}
    # The positives' codes all go one way; most codes seen only in negatives the other.
    sides = {c in left for c in positive_codes.tolist()}
    assert len(sides) == 1
    positive_side = sides.pop()
    negative_only = set(codes[n // 2 :, 1].astype(int).tolist()) - set(positive_codes.tolist())
    assert np.mean([(c in left) != positive_side for c in negative_only]) > 0.9
    assert stage.hit_rate == 1.0
    assert stage.false_alarm < 0.1


def test_categorical_values_must_be_lbp_codes():
    with pytest.raises(ValueError, match=r"X\[0, 1\] = 256.0"):
        FeatureValues.from_array(np.array([[0, 256.0], [1, 2]]), categorical=True)


def test_on_the_fly_features_give_the_same_stage_as_cached_ones():
    X, labels = _separable(seed=7, n_features=40)
    cached = boost_stage(
        FeatureValues.from_array(X), labels, max_weak_count=5, max_false_alarm_rate=0.01
    )
    table = np.ascontiguousarray(X.T)
    computed = []

    def compute(idx, out):
        computed.append(len(idx))
        out[...] = table[idx]

    lazy = FeatureValues(
        compute, X.shape[1], X.shape[0], precalc_val_buf_size=0, precalc_idx_buf_size=0
    )
    lazy.chunk_size = 7  # several blocks, each computed and sorted per tree
    on_the_fly = boost_stage(lazy, labels, max_weak_count=5, max_false_alarm_rate=0.01)
    assert len(cached.trees) == 5
    assert lazy.n_cached_values == 0 and sum(computed) > 5 * X.shape[1]
    assert on_the_fly.threshold == cached.threshold
    for a, b in zip(on_the_fly.trees, cached.trees, strict=True):
        assert a.feature.tolist() == b.feature.tolist()
        np.testing.assert_array_equal(a.threshold, b.threshold)
        np.testing.assert_array_equal(a.leaf_values, b.leaf_values)


def test_progress_rows_follow_opencv_table():
    X, labels = _separable()
    lines = []
    stage = boost_stage(X, labels, max_weak_count=3, progress=lines.append, device="cpu")
    assert lines[:3] == [
        "+----+---------+---------+",
        "|  N |    HR   |    FA   |",
        "+----+---------+---------+",
    ]
    rows = [line for line in lines if line.startswith("|") and "N" not in line]
    assert len(rows) == len(stage.trees)
    n, hr, fa = rows[-1].strip("|").split("|")
    assert int(n) == len(stage.trees) and float(hr) == pytest.approx(stage.hit_rate)
    assert float(fa) == pytest.approx(stage.false_alarm, abs=1e-6)


def test_stage_threshold_keeps_min_hit_rate_of_positives():
    sums = np.r_[np.arange(100, dtype=np.float64), [50.0, 98.5, 99.5]]
    labels = np.r_[np.ones(100, int), np.zeros(3, int)]
    thr, hit_rate, false_alarm = stage_threshold(sums, labels, 0.95)
    assert thr == 5.0  # index int((1 - 0.95) * 100) of the sorted positive sums
    assert hit_rate == pytest.approx(0.95)
    assert false_alarm == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"boost_type": "ADA"}, "boost_type must be one of"),
        ({"min_hit_rate": 1.0}, r"min_hit_rate must lie in \(0, 1\)"),
        ({"max_false_alarm_rate": 0}, r"max_false_alarm_rate must lie in \(0, 1\)"),
        ({"max_depth": 0}, "max_depth must be an int >= 1"),
        ({"max_weak_count": 2.5}, "max_weak_count must be an int >= 1"),
    ],
)
def test_bad_parameters_are_rejected(kwargs, message):
    X, labels = _separable()
    with pytest.raises(ValueError, match=message):
        boost_stage(X, labels, device="cpu", **kwargs)


def test_bad_labels_are_rejected():
    X, labels = _separable()
    with pytest.raises(ValueError, match=r"labels\[5\] = 2"):
        boost_stage(X, np.where(np.arange(len(labels)) == 5, 2, labels), device="cpu")
    with pytest.raises(ValueError, match="single class"):
        boost_stage(X, np.ones(len(labels), int), device="cpu")
    with pytest.raises(ValueError, match=r"labels has shape \(3,\)"):
        boost_stage(X, [1, 0, 1], device="cpu")


def test_no_useful_split_gives_no_stage():
    X = np.ones((30, 4), dtype=np.float32)  # constant features: nothing to split
    labels = np.r_[np.ones(10, int), np.zeros(20, int)]
    assert boost_stage(X, labels, device="cpu") is None


def test_caches_are_sized_as_opencv_sizes_its_precalc_buffers():
    # OpenCV: round(MB * 2**20 / (4 * n)) value rows, round(MB * 2**20 / (2 * n)) rows of
    # 16-bit sorted indices (4-byte indices from 65,536 samples on).
    X = np.random.default_rng(0).normal(size=(1000, 600)).astype(np.float32)
    features = FeatureValues.from_array(X, precalc_val_buf_size=1, precalc_idx_buf_size=0.5)
    assert (features.n_cached_values, features.n_cached_orders) == (262, 262)
    assert features.index_dtype == np.uint16
    assert features._values.nbytes <= 2**20 and features._orders.nbytes <= 2**19
    features.chunk_size = 100
    blocks = [(start, len(values)) for start, values, _ in features.chunks()]
    assert blocks == [(0, 262), (262, 100), (362, 100), (462, 100), (562, 38)]
    for start, values, order in features.chunks():
        # Values come in sorted order, with the order that sorts them.
        expected = X.T[start : start + len(values)]
        np.testing.assert_array_equal(values, np.take_along_axis(expected, order, 1))
        np.testing.assert_array_equal(values, np.sort(expected, axis=1))
    # Every row comes back in sample order, from either cache or computed again.
    np.testing.assert_array_equal(features.rows([599, 0, 261, 262, 5]), X.T[[599, 0, 261, 262, 5]])
    assert FeatureValues.from_array(X, categorical=False).n_cached_orders == 600


@pytest.mark.parametrize(("val_mb", "idx_mb"), [(1, 0.25), (0.25, 1), (0, 0)])
def test_uneven_caches_give_sorted_blocks_and_sample_order_rows(val_mb, idx_mb):
    X = np.random.default_rng(1).normal(size=(500, 300)).astype(np.float32)
    features = FeatureValues.from_array(X, precalc_val_buf_size=val_mb, precalc_idx_buf_size=idx_mb)
    features.chunk_size = 64
    seen = 0
    for start, values, order in features.chunks():
        expected = X.T[start : start + len(values)]
        np.testing.assert_array_equal(order, np.argsort(expected, axis=1, kind="stable"))
        np.testing.assert_array_equal(values, np.sort(expected, axis=1))
        seen += len(values)
    assert seen == 300
    np.testing.assert_array_equal(features.rows(np.arange(300)[::-1]), X.T[::-1])


def test_a_previous_instances_storage_holds_the_next_caches():
    rng = np.random.default_rng(2)
    X1, X2 = rng.normal(size=(2, 400, 120)).astype(np.float32)
    sizes = dict(precalc_val_buf_size=0.1, precalc_idx_buf_size=0.05)  # 65 and 65 rows
    first = FeatureValues.from_array(X1, **sizes)
    second = FeatureValues.from_array(X2, storage=first.storage, **sizes)
    assert all(a is b for a, b in zip(second.storage, first.storage, strict=True))
    assert np.shares_memory(second._values, first.storage[0])
    assert np.shares_memory(second._orders, first.storage[1])
    fresh = FeatureValues.from_array(X2, **sizes)
    for (_, values, order), (_, want_values, want_order) in zip(
        second.chunks(), fresh.chunks(), strict=True
    ):
        np.testing.assert_array_equal(values, want_values)
        np.testing.assert_array_equal(order, want_order)
    np.testing.assert_array_equal(second.rows(np.arange(120)), X2.T)
    # Too small, or of another index width: new arrays, the old ones untouched.
    before = [a.copy() for a in first.storage]
    larger = FeatureValues.from_array(
        X2, storage=first.storage, precalc_val_buf_size=1, precalc_idx_buf_size=0.05
    )
    assert larger.storage[0] is not first.storage[0] and larger.storage[1] is first.storage[1]
    np.testing.assert_array_equal(first.storage[0], before[0])
    wide = FeatureValues.from_array(
        rng.normal(size=(70000, 2)).astype(np.float32), storage=first.storage, **sizes
    )
    assert wide.storage[1].dtype == np.int32 and wide.storage[1] is not first.storage[1]


def test_categorical_codes_are_cached_as_bytes():
    # The same rows as OpenCV caches (4 bytes per value in its count), in a quarter of
    # the memory; the codes come back unchanged.
    X = np.random.default_rng(3).integers(0, 256, size=(1000, 600)).astype(np.float32)
    features = FeatureValues.from_array(X, categorical=True, precalc_val_buf_size=1)
    assert features.dtype == np.uint8 and features.storage[0].dtype == np.uint8
    assert features.n_cached_values == 262 and features._values.nbytes == 262 * 1000
    features.chunk_size = 100
    for start, values, order in features.chunks():
        assert order is None and values.dtype == np.uint8
        np.testing.assert_array_equal(values, X.T[start : start + len(values)])
    rows = features.rows([599, 0, 261, 262])
    assert rows.dtype == np.float32
    np.testing.assert_array_equal(rows, X.T[[599, 0, 261, 262]])
    # A float32 (Haar) cache is not reused for codes, nor the other way round.
    haar = FeatureValues.from_array(X[:, :10])
    codes = FeatureValues.from_array(X[:, :10], categorical=True, storage=haar.storage)
    assert codes.storage[0] is not haar.storage[0] and codes.storage[0].dtype == np.uint8


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 8),
    st.integers(1, 600),
    st.sampled_from([np.uint16, np.int32]),
    st.integers(0, 2**32 - 1),
)
def test_precalc_sort_is_numpy_stable_argsort(n_rows, n_samples, index_dtype, seed):
    """The precalculated orders are a stable argsort, with -0.0 equal to 0.0 and ties
    (frequent in Haar values of flat windows) in sample order."""
    from fer_toolkit.cascade._kernels import argsort_rows

    rng = np.random.default_rng(seed)
    values = rng.choice(
        np.array([-np.inf, -3e38, -2.5, -1e-45, -0.0, 0.0, 1e-45, 0.5, 7.0, 3e38, np.inf]),
        size=(n_rows, n_samples),
    ).astype(np.float32)
    values[:, ::3] = rng.standard_normal((n_rows, len(range(0, n_samples, 3))))
    order = np.empty(values.shape, dtype=index_dtype)
    sorted_values = np.empty_like(values)
    argsort_rows(values, order, sorted_values)
    expected = np.argsort(values, axis=1, kind="stable")
    np.testing.assert_array_equal(order, expected)
    # The sorted values are the inputs' own bits (-0.0 stays -0.0), also when sorted in place.
    gathered = np.take_along_axis(values, expected, 1)
    np.testing.assert_array_equal(sorted_values.view(np.uint32), gathered.view(np.uint32))
    argsort_rows(values, order, values)
    np.testing.assert_array_equal(values.view(np.uint32), gathered.view(np.uint32))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([-1.0, -0.0, 0.0, 1.0, -0.25, 0.5, 1e-300, -1e-300]),
            st.floats(-2.0, 2.0, allow_nan=False),
        ),
        max_size=300,
    )
)
def test_category_order_is_numpy_stable_argsort(keys):
    """Category means (mostly -1, 0 and 1 for LBP codes, -0.0 equal to 0.0) are ordered
    as ``np.argsort(kind="stable")`` orders them, ties in category order."""
    from fer_toolkit.cascade._kernels import stable_order

    key = np.array(keys, dtype=np.float64)
    np.testing.assert_array_equal(stable_order(key), np.argsort(key, kind="stable"))


def _categorical_split_by_the_full_scan(values, node_of, j, weights, column, kind):
    """OpenCV's find_split_cat_reg / find_split_cat_class loop over all 256 categories in
    their sorted order, in Python: the reference of the compiled search, which visits
    only the categories present."""
    from fer_toolkit.cascade._kernels import category_order

    s0, s1, order, total0, total1 = category_order(values, node_of, j, weights, column, kind)
    eps = float(np.finfo(np.float32).eps)
    best, best_at, left_w = -np.inf, -1, 0.0
    if kind == 0:
        right_w, lsum, rsum = total0, 0.0, total1
        for i in range(255):
            c = order[i]
            ni = s0[c]
            if ni > eps:
                lsum += s1[c]
                left_w += ni
                rsum -= s1[c]
                right_w -= ni
                if left_w > eps and right_w > eps:
                    val = (lsum * lsum * right_w + rsum * rsum * left_w) / (left_w * right_w)
                    if best < val:
                        best, best_at = val, i
        return best, best_at
    lcw0, lcw1, rcw0, rcw1 = 0.0, 0.0, total0, total1
    right_w = rcw0 + rcw1
    for i in range(255):
        c = order[i]
        w0, w1 = s0[c], s1[c]
        if w0 + w1 < eps:
            continue
        lcw0, rcw0, lcw1, rcw1 = lcw0 + w0, rcw0 - w0, lcw1 + w1, rcw1 - w1
        if kind == 1:
            left_w += w0 + w1
            right_w -= w0 + w1
            if not (left_w > eps and right_w > eps):
                continue
            val = ((lcw0 * lcw0 + lcw1 * lcw1) * right_w + (rcw0 * rcw0 + rcw1 * rcw1) * left_w) / (
                left_w * right_w
            )
        else:
            val = max(lcw0 + rcw1, lcw1 + rcw0)
        if best < val:
            best, best_at = val, i
    return best, best_at


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 400), st.integers(1, 40), st.sampled_from([0, 1, 2]), st.integers(0, 2**32 - 1)
)
def test_categorical_split_search_keeps_tied_keys_in_category_order(n_samples, n_codes, kind, seed):
    """Weights from a few values make many categories share a mixed key (1/3, -0.5, ...)
    and some weigh exactly 0: ties must keep category order, as OpenCV's full scan over
    a stable order visits them, and empty categories count as absent ones."""
    from fer_toolkit.cascade._kernels import categorical_splits

    rng = np.random.default_rng(seed)
    values = rng.integers(0, n_codes, size=(3, n_samples)).astype(np.uint8)
    values[1] = 255 - values[1]  # codes crowded at the top end too
    node_of = np.zeros(n_samples, dtype=np.int32)
    weights = rng.choice([0.0, 0.25, 0.5], size=n_samples)
    labels = rng.integers(0, 2, size=n_samples).astype(np.int64)
    column = np.where(labels == 1, 1.0, -1.0) if kind == 0 else labels
    q = np.empty((3, 1))
    at = np.empty((3, 1), dtype=np.int64)
    categorical_splits(values, node_of, 1, weights, column, kind, q, at)
    for f in range(3):
        best, best_at = _categorical_split_by_the_full_scan(
            values[f], node_of, 0, weights, column, kind
        )
        assert (q[f, 0], at[f, 0]) == (best, best_at)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 120),
    st.integers(1, 256),
    st.integers(1, 2),
    st.sampled_from([0, 1, 2]),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_categorical_split_search_equals_opencv_full_scan(
    n_feat, n_samples, n_codes, n_nodes, kind, gentle, seed
):
    """Visiting only the categories present gives OpenCV's quality and position in the
    full 256-category order: codes crowded at either end of 0-255 (the unseen ones then
    sit before, after and between), one-class categories (keys exactly -1 and 1, or 0 for
    the classes' weights), samples in no node, weights of all sizes; regression on
    GentleAdaBoost's +-1 responses and on LogitBoost-like ones beyond them (keys of
    -1 and 1 among keys below -1 and above 1)."""
    from fer_toolkit.cascade._kernels import categorical_splits

    rng = np.random.default_rng(seed)
    low = rng.integers(0, 257 - n_codes)
    values = rng.integers(low, low + n_codes, size=(n_feat, n_samples)).astype(np.float32)
    node_of = rng.integers(-1, n_nodes, size=n_samples).astype(np.int32)
    weights = rng.choice([1e-9, 1e-3, 0.01, 0.5], size=n_samples) * rng.random(n_samples)
    labels = (rng.random(n_samples) < rng.random()).astype(np.int64)
    wide = rng.choice([-4.0, -2.0, -1.0, -0.5, 0.5, 1.0, 3.0], n_samples)
    responses = np.where(labels == 1, 1.0, -1.0) if gentle else wide
    column = responses if kind == 0 else labels
    q = np.empty((n_feat, n_nodes))
    at = np.empty((n_feat, n_nodes), dtype=np.int64)
    categorical_splits(values, node_of, n_nodes, weights, column, kind, q, at)
    for f in range(n_feat):
        for j in range(n_nodes):
            best, best_at = _categorical_split_by_the_full_scan(
                values[f], node_of, j, weights, column, kind
            )
            assert (q[f, j], at[f, j]) == (best, best_at)
