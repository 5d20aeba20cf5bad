"""The cascade model against cv2.CascadeClassifier, window by window.

Random but valid cascades (Haar BASIC / CORE / ALL with tilted features, LBP; stumps and
deeper trees with shuffled node and leaf numbering) are written with ``write_cascade``,
loaded by OpenCV and run on real photos. Thresholds come from feature values on real
windows, so windows pass some stages and not others, and a few sit exactly on a node
threshold (where ``value < threshold`` matters).
"""

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from fer_toolkit.cascade import (
    Cascade,
    CascadeParams,
    Stage,
    StageParams,
    WeakTree,
    haar_features,
    make_features,
    negatives,
    read_cascade,
    write_cascade,
)
from fer_toolkit.cascade.integral import opencv_tables
from fer_toolkit.cascade.negatives import Backgrounds, NegativeWalk, mine_negatives

WIDTH, HEIGHT = 18, 16  # not square, so width/height mix-ups show
SHIPPED = Path(__file__).parents[1] / "cascades" / "fer_toolkit_frontalface.xml"


@pytest.fixture(scope="module")
def photos():
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    return {"astronaut": astronaut[20:220, 120:330], "camera": data.camera()[40:240, 150:350]}


@pytest.fixture(scope="module")
def real_windows(photos):
    rng = np.random.default_rng(0)
    stack = []
    for gray in photos.values():
        ys = rng.integers(0, gray.shape[0] - HEIGHT, 1500)
        xs = rng.integers(0, gray.shape[1] - WIDTH, 1500)
        stack += [gray[y : y + HEIGHT, x : x + WIDTH] for x, y in zip(xs, ys, strict=True)]
    return np.ascontiguousarray(np.stack(stack))


def _random_shape(rng, k):
    """A random binary tree shape with ``k`` internal nodes: None is a leaf."""
    if k == 0:
        return None
    left = int(rng.integers(0, k))
    return (_random_shape(rng, left), _random_shape(rng, k - 1 - left))


def _random_tree(rng, k, features, splits, values, reverse_stump):
    """A valid tree with shuffled node and leaf numbering (root is always node 0)."""
    shape = _random_shape(rng, k)
    node_ids = iter([0, *(rng.permutation(k - 1) + 1).tolist()])
    leaf_ids = iter(rng.permutation(k + 1).tolist())
    records = [None] * k

    def place(node):
        if node is None:
            return -next(leaf_ids)
        me = next(node_ids)
        children = [place(node[0]), place(node[1])]
        records[me] = children
        return me

    place(shape)
    if k == 1:
        records[0] = [-1, 0] if reverse_stump else [0, -1]
    nodes = [[*records[j], features[j], *np.atleast_1d(splits[j])] for j in range(k)]
    return WeakTree(nodes=nodes, leaf_values=values)


def _random_cascade(rng, feature_type, mode, max_nodes, windows, n_stages=4):
    table = make_features(feature_type, WIDTH, HEIGHT, mode or "BASIC")
    params = CascadeParams(
        width=WIDTH,
        height=HEIGHT,
        feature_type=feature_type,
        mode=mode,
        stage_params=StageParams(max_depth=max(1, max_nodes - 1)),
    )
    cascade = Cascade.from_params(params, [], table)
    alive = windows[cascade.evaluate(windows)[0] >= 0]
    pool = np.arange(len(table))
    if feature_type == "HAAR" and mode == "ALL":
        pool = np.flatnonzero(table.tilted)  # favour the tilted features
    stages = []
    while len(stages) < n_stages:
        trees = []
        for _ in range(int(rng.integers(2, 6))):
            k = int(rng.integers(1, max_nodes + 1))
            features = rng.choice(pool, k)
            if feature_type == "HAAR":
                observed = cascade.feature_values(alive, features)
                # An observed value: that window sits exactly on the threshold.
                splits = observed[rng.integers(0, len(alive), k), np.arange(k)]
            else:
                splits = rng.integers(-(2**31), 2**31, (k, 8))
            values = rng.normal(0, 1, k + 1)
            trees.append(_random_tree(rng, k, features, splits, values, rng.random() < 0.3))
        probe = Cascade.from_params(params, [*stages, Stage(threshold=0.0, weak=trees)], table)
        sums = np.sort(probe.stage_sums(alive)[:, -1])
        # Reject about 45% of the windows still alive: a threshold between distinct sums.
        levels = np.unique(sums)[1:]
        if not len(levels):
            continue
        rejected = np.searchsorted(sums, levels) / len(sums)
        threshold = levels[np.argmin(np.abs(rejected - 0.45))]
        stages.append(Stage(threshold=float(threshold), weak=trees))
        cascade = Cascade.from_params(params, stages, table)
        alive = alive[cascade.accepts(alive)]
    return cascade


def _visited(passed):
    """Positions OpenCV visits on a step-2 grid: it skips one after a stage-0 rejection."""
    visited = np.ones(passed.shape, dtype=bool)
    for i in range(1, passed.shape[1]):
        visited[:, i] = ~(visited[:, i - 1] & (passed[:, i - 1] == 0))
    return visited


def _compare_scale_one(cascade, classifier, gray):
    """Our verdicts vs OpenCV's at scale 1, on crops that shift its step-2 grid."""
    passed, score = cascade.scan(gray, 1)
    n_stages = len(cascade.stages)
    size = (cascade.width, cascade.height)
    for ox, oy in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        crop = np.ascontiguousarray(gray[oy:, ox:])
        found = classifier.detectMultiScale(crop, 1.1, 0, minSize=size, maxSize=size)
        theirs = {(x, y) for x, y, _, _ in np.asarray(found).reshape(-1, 4).tolist()}
        grid, grid_score = passed[oy::2, ox::2], score[oy::2, ox::2]
        ys, xs = np.nonzero(_visited(grid) & (grid == n_stages))
        ours = {(2 * x, 2 * y): grid_score[y, x] for x, y in zip(xs, ys, strict=True)}
        assert set(ours) == theirs, (ox, oy)
        # OpenCV reports the last stage sum of accepted windows: the very same double.
        rects, _, weights = classifier.detectMultiScale3(
            crop, 1.1, 0, minSize=size, maxSize=size, outputRejectLevels=True
        )
        reported = dict(
            zip(
                map(tuple, np.asarray(rects).reshape(-1, 4)[:, :2].tolist()),
                np.ravel(weights),
                strict=True,
            )
        )
        assert all(ours[key] == reported[key] for key in ours)
    return passed


CONFIGS = [
    ("HAAR", "BASIC", 1),
    ("HAAR", "CORE", 3),
    ("HAAR", "ALL", 1),
    ("HAAR", "ALL", 3),
    ("LBP", None, 1),
    ("LBP", None, 3),
]


@pytest.mark.parametrize(("feature_type", "mode", "max_nodes"), CONFIGS)
def test_random_cascades_agree_with_opencv(
    tmp_path, photos, real_windows, feature_type, mode, max_nodes
):
    rng = np.random.default_rng(CONFIGS.index((feature_type, mode, max_nodes)))
    cascade = _random_cascade(rng, feature_type, mode, max_nodes, real_windows)
    assert (cascade.max_nodes_per_tree == 1) == (max_nodes == 1)
    path = tmp_path / "cascade.xml"
    write_cascade(cascade, path)
    classifier = cv2.CascadeClassifier(str(path))
    assert not classifier.empty()
    levels = []
    for gray in photos.values():
        passed = _compare_scale_one(cascade, classifier, gray)
        levels.append(passed.ravel())
        for neighbours in (0, 2):
            theirs = classifier.detectMultiScale(gray, 1.2, neighbours)
            theirs = sorted(map(tuple, np.asarray(theirs).reshape(-1, 4).tolist()))
            ours = cascade.detect_multiscale(gray, 1.2, neighbours)
            assert sorted(map(tuple, ours.tolist())) == theirs
    # Non-trivial: windows stop at every stage, and some pass them all.
    counts = np.bincount(np.concatenate(levels) + 1, minlength=len(cascade.stages) + 2)
    assert (counts[1:] > 0).all(), counts


@pytest.mark.parametrize(
    ("name", "crop", "faces"),
    [
        ("haarcascade_frontalface_default.xml", np.s_[20:220, 130:330], 1),
        ("haarcascade_eye_tree_eyeglasses.xml", np.s_[60:220, 150:350], None),  # depth-2 trees
        ("haarcascade_frontalcatface_extended.xml", np.s_[:200, :240], None),  # tilted features
    ],
)
def test_stock_cascades_agree_with_opencv(name, crop, faces):
    path = cv2.data.haarcascades + name
    cascade = read_cascade(path)
    classifier = cv2.CascadeClassifier(path)
    gray = np.ascontiguousarray(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)[crop])
    _compare_scale_one(cascade, classifier, gray)
    found = classifier.detectMultiScale(gray, 1.1, 3)
    theirs = sorted(map(tuple, np.asarray(found).reshape(-1, 4).tolist()))
    ours = cascade.detect_multiscale(gray, 1.1, 3)
    assert sorted(map(tuple, ours.tolist())) == theirs
    if faces is not None:  # the astronaut's face, at (177, 66, 95, 95) in the full photo
        assert len(ours) == faces
        x, y, w, h = ours[0]
        assert abs(x + 130 + w / 2 - 225) < 20 and abs(y + 20 + h / 2 - 113) < 20


def _accept_all(width, height, table):
    stage = Stage(threshold=-1e6, weak=[WeakTree.stump(0, 0.0, 0.0, 0.0)])
    return Cascade(
        width=width, height=height, feature_type="HAAR", mode="BASIC",
        stage_params=StageParams(), stages=[stage], features=table,
    )  # fmt: skip


def test_variance_rule_matches_opencv(tmp_path):
    """The detector drops flat windows (std <= ~10 grey levels) before any stage."""
    rng = np.random.default_rng(3)
    amplitude = np.linspace(0, 40, 160)[None, :]  # noise grows from left to right
    image = np.clip(128 + rng.normal(0, 1, (60, 160)) * amplitude, 0, 255).astype(np.uint8)
    cascade = _accept_all(12, 12, haar_features(12, 12))
    path = tmp_path / "all.xml"
    write_cascade(cascade, path)
    classifier = cv2.CascadeClassifier(str(path))
    passed = _compare_scale_one(cascade, classifier, image)
    assert (passed == -1).any() and (passed == 1).any()
    # The rejected windows are exactly those whose inner standard deviation is <= ~10.
    windows = np.lib.stride_tricks.sliding_window_view(image, (12, 12))[..., 1:-1, 1:-1]
    std = windows.reshape(*windows.shape[:2], -1).std(-1)
    assert std[passed == -1].max() <= 10.001
    assert std[passed == 1].min() > 9.999


def test_samples_and_image_paths_agree(photos, real_windows):
    rng = np.random.default_rng(5)
    cascade = _random_cascade(rng, "HAAR", "ALL", 3, real_windows)
    gray = photos["camera"]
    passed, score = cascade.scan(gray, 3)
    ys, xs = np.mgrid[: passed.shape[0], : passed.shape[1]]
    samples = np.stack(
        [
            gray[3 * y : 3 * y + HEIGHT, 3 * x : 3 * x + WIDTH]
            for x, y in zip(xs.ravel(), ys.ravel(), strict=True)
        ]
    )
    sample_passed, sample_score = cascade.evaluate(samples)
    np.testing.assert_array_equal(sample_passed, passed.ravel())
    np.testing.assert_array_equal(sample_score, score.ravel())
    np.testing.assert_array_equal(cascade.accepts(samples), passed.ravel() == len(cascade.stages))
    corners = cascade.accepted_windows(gray, 3)
    np.testing.assert_array_equal(corners // 3, np.argwhere(passed == len(cascade.stages))[:, ::-1])
    # RGB and float input go through the project's conversions.
    rgb = np.repeat(samples[:5, ..., None], 3, axis=-1)
    np.testing.assert_array_equal(cascade.evaluate(list(rgb))[0], sample_passed[:5])
    sums = cascade.stage_sums(samples)
    assert sums.shape == (len(samples), len(cascade.stages))
    reached = sample_passed >= 0
    last = np.minimum(sample_passed, len(cascade.stages) - 1)[reached]
    np.testing.assert_array_equal(sums[reached, last], sample_score[reached])


def test_compact_keeps_verdicts_and_renumbers_in_table_order(real_windows):
    rng = np.random.default_rng(7)
    cascade = _random_cascade(rng, "HAAR", "CORE", 3, real_windows, n_stages=3)
    compact = cascade.compact()
    used = np.unique([f for s in cascade.stages for t in s.weak for f in t.feature])
    assert len(compact.features) == len(used)
    np.testing.assert_array_equal(compact.features.rects, cascade.features.rects[used])
    np.testing.assert_array_equal(
        compact.evaluate(real_windows)[1], cascade.evaluate(real_windows)[1]
    )
    assert compact.compact() == compact


def test_pickle_round_trip(real_windows):
    rng = np.random.default_rng(8)
    cascade = _random_cascade(rng, "LBP", None, 3, real_windows, n_stages=2)
    cascade.accepts(real_windows[:5])  # fills the cached evaluation plan
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    boxes = cascade.detect_multiscale(gray, 1.2, 0)  # and OpenCV's classifier
    clone = pickle.loads(pickle.dumps(cascade))
    np.testing.assert_array_equal(clone.detect_multiscale(gray, 1.2, 0), boxes)
    assert clone == cascade
    np.testing.assert_array_equal(
        clone.evaluate(real_windows)[1], cascade.evaluate(real_windows)[1]
    )


def test_weak_tree_validation():
    with pytest.raises(ValueError, match="expected"):
        WeakTree(nodes=np.zeros((1, 5)), leaf_values=[0, 0])
    with pytest.raises(ValueError, match="needs 2 leaf values"):
        WeakTree(nodes=[[0, -1, 0, 0.5]], leaf_values=[1.0])
    with pytest.raises(ValueError, match="refers to node 3"):
        WeakTree(nodes=[[3, -1, 0, 0.5]], leaf_values=[1.0, 2.0])
    with pytest.raises(ValueError, match="exactly once"):
        WeakTree(nodes=[[0, 0, 0, 0.5]], leaf_values=[1.0, 2.0])
    with pytest.raises(ValueError, match="unreachable"):  # nodes 1 and 2 point at each other
        WeakTree(
            nodes=[[0, -1, 0, 0.5], [2, -2, 0, 0.5], [1, -3, 0, 0.5]],
            leaf_values=[0.0, 1.0, 2.0, 3.0],
        )
    with pytest.raises(ValueError, match="integers"):
        WeakTree(nodes=[[0, -1, 0.5, 0.5]], leaf_values=[1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        WeakTree(nodes=[[0, -1, 0, 0.5]], leaf_values=[np.nan, 2.0])
    with pytest.raises(ValueError, match="32-bit"):
        WeakTree(nodes=[[0, -1, 0, *([2**31] * 8)]], leaf_values=[1.0, 2.0])
    tree = WeakTree(nodes=[[0, -1, 3, 0.1]], leaf_values=[1.0, 2.0])
    assert tree.threshold.dtype == np.float32 and tree.nodes[0, 3] == np.float32(0.1)


def test_stage_and_cascade_validation():
    with pytest.raises(ValueError, match="non-empty"):
        Stage(threshold=0.0, weak=[])
    with pytest.raises(ValueError, match="finite"):
        Stage(threshold=float("inf"), weak=[WeakTree.stump(0, 0.0, 0.0, 1.0)])
    table = haar_features(8, 8)
    good = dict(width=8, height=8, feature_type="HAAR", mode="BASIC", stage_params=StageParams())
    stage = Stage(threshold=0.0, weak=[WeakTree.stump(len(table), 0.0, 0.0, 1.0)])
    with pytest.raises(ValueError, match=f"uses feature {len(table)}"):
        Cascade(**good, stages=[stage], features=table)
    with pytest.raises(ValueError, match="does not fit a 6x8 window"):
        Cascade(**{**good, "width": 6}, stages=[], features=table)
    with pytest.raises(TypeError, match="LBPFeatures"):
        Cascade(**{**good, "feature_type": "LBP", "mode": None}, stages=[], features=table)
    with pytest.raises(ValueError, match="mode is for Haar"):
        CascadeParams(width=8, height=8, feature_type="LBP", mode="BASIC")
    with pytest.raises(ValueError, match="boost_type"):
        StageParams(boost_type="ADA")
    with pytest.raises(ValueError, match="min_hit_rate"):
        StageParams(min_hit_rate=1.5)
    cascade = Cascade(**good, stages=[], features=table)
    with pytest.raises(ValueError, match=r"expected \(n, 8, 8\)"):
        cascade.accepts(np.zeros((3, 8, 9), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"samples\[1\] has shape"):
        cascade.accepts([np.zeros((8, 8)), np.zeros((9, 8))])
    with pytest.raises(ValueError, match="step"):
        cascade.scan(np.zeros((20, 20), dtype=np.uint8), 0)
    with pytest.raises(ValueError, match="scale_factor"):
        cascade.detect_multiscale(np.zeros((20, 20), dtype=np.uint8), 1.0)
    with pytest.raises(ValueError, match="no stage"):
        cascade.detect_multiscale(np.zeros((20, 20), dtype=np.uint8))
    assert cascade.accepted_windows(np.zeros((5, 5), dtype=np.uint8)).shape == (0, 2)


# --- the compiled evaluator against the NumPy evaluation it replaced ---------------------


def _reference(cascade, windows, training):
    """``(passed, score)`` as the NumPy evaluator did before the compiled one (stage by
    stage over the windows still alive, values from ``window_values``, trees through
    ``WeakTree.leaves``): one tall image of the stacked windows and its integral tables."""
    n, h, w = windows.shape
    tall = windows.reshape(-1, w)
    stride, bases = w + 1, np.arange(n) * h * (w + 1)
    total, sqsum, tilted = opencv_tables(tall, True)
    planes = np.concatenate([total.ravel(), tilted.ravel()])
    inner = bases[:, None] + np.array([stride + 1, stride + w - 1])
    inner = np.concatenate([inner, inner + (h - 2) * stride], axis=1)
    signs = np.array([1.0, -1.0, -1.0, 1.0])
    nf = (w - 2) * (h - 2) * (np.take(sqsum, inner) @ signs) - (np.take(total, inner) @ signs) ** 2
    factor = np.where(nf > 0, 1 / np.sqrt(np.maximum(nf, 1)), 1).astype(np.float32)
    norm = np.sqrt(nf).astype(np.float32)
    valid = (nf > 0) & ((w - 2) * (h - 2) * factor.astype(np.float64) < 0.1)
    if training or cascade.feature_type == "LBP":
        valid[:] = True
    passed = np.where(valid, len(cascade.stages), -1)
    score = np.full(n, np.nan)
    active = np.flatnonzero(valid)
    for s, stage in enumerate(cascade.stages):
        if not active.size:
            break
        sums = np.zeros(len(active))
        for tree in stage.weak:
            table = cascade.features.take(tree.feature)
            values = table.window_values(planes, bases[active], stride, total.size)
            if cascade.feature_type == "HAAR" and training:
                with np.errstate(divide="ignore", invalid="ignore"):
                    values = np.where(norm[active, None] == 0, 0, values / norm[active, None])
            elif cascade.feature_type == "HAAR":
                values = values * factor[active, None]
            if cascade.max_nodes_per_tree == 1:  # OpenCV's stumps: leaf 0 on the left
                tree = WeakTree(
                    nodes=np.c_[[[0, -1]], tree.nodes[:, 2:]], leaf_values=tree.leaf_values
                )
            sums += tree.leaf_values[tree.leaves(values.astype(np.float32), training)]
        score[active] = sums
        rejected = sums < np.float64(stage.reject_below)
        passed[active[rejected]] = s
        active = active[~rejected]
    return passed, score


def _hard_windows(real_windows, width, height, rng):
    """Real windows of the size, flat ones and nearly flat ones (std about 1)."""
    crops = real_windows
    if crops.shape[1:] != (height, width):  # another window size: cut from the photo
        gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
        ys, xs = rng.integers(0, 512 - height, 3000), rng.integers(0, 512 - width, 3000)
        crops = np.stack([gray[y : y + height, x : x + width] for x, y in zip(xs, ys, strict=True)])
    flat = np.full((40, height, width), 90, np.uint8)
    low = (120 + rng.integers(0, 3, (40, height, width))).astype(np.uint8)
    return np.ascontiguousarray(np.concatenate([crops, flat, low]))


@pytest.fixture(scope="module")
def reference_cascades(real_windows):
    """Random cascades of every kind, the shipped one and OpenCV's with trees and tilted
    features."""
    cascades = {
        f"{ft}-{mode}-{nodes}": _random_cascade(
            np.random.default_rng(20 + i), ft, mode, nodes, real_windows
        )
        for i, (ft, mode, nodes) in enumerate(CONFIGS)
    }
    cascades["shipped"] = read_cascade(str(SHIPPED))
    for name in ("haarcascade_eye_tree_eyeglasses.xml", "haarcascade_frontalcatface_extended.xml"):
        cascades[name] = read_cascade(cv2.data.haarcascades + name)
    return cascades


@pytest.mark.parametrize("training", [False, True])
def test_compiled_evaluator_matches_the_numpy_one(reference_cascades, real_windows, training):
    rng = np.random.default_rng(11)
    for name, cascade in reference_cascades.items():
        windows = _hard_windows(real_windows, cascade.width, cascade.height, rng)
        passed, score = cascade.evaluate(windows, training=training)
        expected_passed, expected_score = _reference(cascade, windows, training)
        np.testing.assert_array_equal(passed, expected_passed, err_msg=name)
        np.testing.assert_array_equal(score, expected_score, err_msg=name)
        counts = np.bincount(passed + 1, minlength=len(cascade.stages) + 2)
        assert (counts[1:3] > 0).all(), (name, counts)  # not all rejected at once
        # One thread or two: the same verdicts.
        np.testing.assert_array_equal(
            cascade.evaluate(windows, training=training, n_threads=1)[1], score
        )


def test_mining_takes_the_negatives_the_numpy_evaluator_took(reference_cascades):
    class Reference:
        def __init__(self, cascade):
            self.cascade, self.width, self.height = cascade, cascade.width, cascade.height
            self.stages = cascade.stages

        def accepts(self, windows, training, n_threads):
            return _reference(self.cascade, windows, training)[0] == len(self.stages)

    photos = [data.coffee(), data.rocket(), data.chelsea()]
    for name in ("HAAR-ALL-3", "LBP-None-1", "shipped"):
        cascade = reference_cascades[name]
        # The shipped cascade's first stages, as while it was trained (it accepts no window).
        cascade = Cascade.from_params(cascade.params, cascade.stages[:4], cascade.features)
        mined = [
            [
                mine_negatives(judge, walk, 300, min_acceptance_ratio=ratio, max_windows=40000)
                for ratio in (0.0, 0.01)  # two stages sharing the walk
            ]
            for judge, walk in (
                (model, NegativeWalk(Backgrounds(photos), cascade.width, cascade.height))
                for model in (cascade, Reference(cascade))
            )
        ]
        for ours, theirs in zip(*mined, strict=True):
            assert (ours.tried, ours.images, ours.stop) == (
                theirs.tried,
                theirs.images,
                theirs.stop,
            )
            np.testing.assert_array_equal(ours.samples, theirs.samples, err_msg=name)
        assert len(mined[0][0].samples) > 0


def _band_passed(cascade, visits, training, n_threads):
    """``passed`` of the visits' windows read from their images' band tables."""
    pixels, jobs, start, at = [], [], 0, 0
    for visit in visits:
        start = visit.bands(pixels, jobs, at, start)
        at += len(visit)
    return cascade._passed_in_bands(
        np.concatenate(pixels), np.array(jobs), at, training=training, n_threads=n_threads
    )


@pytest.mark.parametrize("band_rows", [1, 3, 8])
def test_windows_read_from_band_tables_get_the_verdicts_of_the_cut_out_windows(
    reference_cascades, photos, band_rows, monkeypatch
):
    monkeypatch.setattr(negatives, "_BAND_ROWS", band_rows)
    # Real photos (one at full size), and flat and nearly flat ones (Haar: no variance).
    rng = np.random.default_rng(band_rows)
    images = [
        *photos.values(),
        cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY),
        np.full((70, 90), 77, np.uint8),
        (120 + rng.integers(0, 3, (60, 100))).astype(np.uint8),
    ]
    tilted = []
    for name, cascade in reference_cascades.items():
        if not cascade._reads_bands:
            tilted.append(name)
            continue
        walk = negatives._visits(Backgrounds(images), cascade.width, cascade.height, 1, 7)
        visits = [visit for _, (_, visit) in zip(range(8), walk, strict=False)]
        windows = np.concatenate([visit.windows() for visit in visits])
        for training in (False, True):
            expected = cascade.evaluate(windows, training=training)[0]
            for n_threads in (1, 2):
                got = _band_passed(cascade, visits, training, n_threads)
                np.testing.assert_array_equal(got, expected, err_msg=f"{name} {training}")
            counts = np.bincount(expected + 1)
            assert (counts[1:] > 0).sum() >= 2, (name, counts)  # not all alike
        # A batch beginning with windows pushed back by an earlier stage, then visits.
        pieces = [(9, windows[:50]), *((i, visit) for i, visit in enumerate(visits))]
        batch = negatives._Batch(pieces, 50 + len(windows))
        stacked = np.concatenate([windows[:50], windows])
        np.testing.assert_array_equal(batch.take(np.arange(batch.total)), stacked)
        positions = np.flatnonzero(rng.random(batch.total) < 0.3)
        np.testing.assert_array_equal(batch.take(positions), stacked[positions])
        np.testing.assert_array_equal(
            batch.accepted(cascade, batch.total - 7, 2),
            cascade.accepts(stacked[:-7], training=True),
        )
    # Cascades with tilted features keep the cut-out windows; the others were compared.
    assert set(tilted) == {"HAAR-ALL-1", "HAAR-ALL-3", *list(reference_cascades)[-2:]}
    assert len(reference_cascades) - len(tilted) == 5


def test_detection_runs_on_the_asked_threads_and_restores_opencvs_count(monkeypatch):
    cascade = read_cascade(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    original = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        seen = []
        real_set = cv2.setNumThreads
        monkeypatch.setattr(cv2, "setNumThreads", lambda n: (seen.append(n), real_set(n)))
        one = cascade.detect_multiscale(gray, 1.1, 5, n_threads=1)
        assert seen == [1, 2] and cv2.getNumThreads() == 2
        two = cascade.detect_multiscale(gray, 1.1, 5, n_threads=2)
        assert seen == [1, 2]  # already OpenCV's count: its pool is left alone
        np.testing.assert_array_equal(one, two)
    finally:
        monkeypatch.undo()
        cv2.setNumThreads(original)
