"""The native cascade trainer on real images: OpenCV's files and semantics, resume, clean stops."""

import itertools
from unittest import mock

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data

from fer_toolkit.cascade import negatives, train_cascade, write_bg, write_vec
from fer_toolkit.cascade.features import haar_features
from fer_toolkit.cascade.model import Cascade, StageParams
from fer_toolkit.cascade.negatives import (
    Backgrounds,
    NegativeWalk,
    mine_negatives,
    walk_windows,
)
from fer_toolkit.cascade.xml import read_cascade

# skimage images without people (astronaut and camera show faces).
FACE_FREE = ("coffee", "rocket", "coins", "grass", "gravel", "brick", "clock", "chelsea")


def _faces(size):
    faces = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in faces])


def _non_faces(size):
    patches = (data.lfw_subset()[100:] * 255).round().astype(np.uint8)
    return np.stack([cv2.resize(p, (size, size), interpolation=cv2.INTER_AREA) for p in patches])


def _gray(name, shrink=1):
    image = getattr(data, name)()
    if image.ndim == 3:
        image = cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY)
    if shrink > 1:
        size = (image.shape[1] // shrink, image.shape[0] // shrink)
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image


def _bg_list(folder, names=FACE_FREE, shrink=1):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / f"{name}.png"
        cv2.imwrite(str(path), _gray(name, shrink))
        paths.append(path)
    write_bg(folder / "bg.txt", paths)
    return folder / "bg.txt"


def _opencv_accepts(path, windows):
    """cv2.CascadeClassifier's verdict on each window (one window per image at scale 1)."""
    classifier = cv2.CascadeClassifier(str(path))
    assert not classifier.empty()
    size = windows.shape[2], windows.shape[1]
    return np.array(
        [
            len(classifier.detectMultiScale(w, 1.1, 0, minSize=size, maxSize=size)) > 0
            for w in windows
        ]
    )


def _background_windows(size, n, seed=0):
    rng = np.random.default_rng(seed)
    windows = []
    for name in FACE_FREE:
        image = _gray(name)
        for _ in range(n // len(FACE_FREE)):
            y, x = rng.integers(0, image.shape[0] - size), rng.integers(0, image.shape[1] - size)
            windows.append(image[y : y + size, x : x + size])
    return np.stack(windows)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The issue's lfw recipe, smaller: 20x20 faces, three stages."""
    folder = tmp_path_factory.mktemp("lfw")
    write_vec(folder / "pos.vec", _faces(20))
    bg = _bg_list(folder / "bg")
    lines = []
    result = train_cascade(
        folder / "data",
        folder / "pos.vec",
        bg,
        num_pos=80,
        num_neg=150,
        num_stages=3,
        width=20,
        height=20,
        max_false_alarm_rate=0.2,  # OpenCV stops at 0.5 ** 3 here, before the third stage
        progress=lines.append,
    )
    return folder, result, lines


def test_lfw_cascade_loads_in_opencv_and_agrees_window_by_window(trained):
    folder, result, _ = trained
    data_dir = folder / "data"
    assert result.stop_reason == "numStages reached"
    assert (data_dir / "params.xml").is_file()
    assert [(data_dir / f"stage{i}.xml").is_file() for i in range(4)] == [True] * 3 + [False]
    path = data_dir / "cascade.xml"
    assert cv2.CascadeClassifier(str(path)).getOriginalWindowSize() == (20, 20)
    windows = np.concatenate([_faces(20), _non_faces(20), _background_windows(20, 400)])
    ours = read_cascade(path).accepts(windows)
    np.testing.assert_array_equal(ours, _opencv_accepts(path, windows))
    # The cascade in memory (full feature table) is the one written (used features only).
    np.testing.assert_array_equal(result.cascade.accepts(windows), ours)
    assert ours[:100].mean() >= 0.9  # the training faces pass
    assert ours[200:].mean() < 0.2  # most background windows do not


def test_progress_and_reports_follow_opencv(trained):
    _, result, lines = trained
    assert [r.index for r in result.stages] == [0, 1, 2]
    for report in result.stages:
        at = lines.index(f"===== TRAINING {report.index}-stage =====")
        assert lines[at + 1] == "<BEGIN"
        assert lines[at + 2] == f"POS count : consumed   80 : {report.pos_consumed}"
        assert lines[at + 3] == (
            f"NEG count : acceptanceRatio    150 : {report.acceptance_ratio:g}"
        )
        end = lines.index("END>", at)
        rows = [line for line in lines[at:end] if line[:5].strip("|").strip().isdigit()]
        assert len(rows) == report.weak_count
        assert lines[end + 1].startswith("Training until now has taken ")
        assert report.neg_count == 150
        assert report.acceptance_ratio == pytest.approx(150 / report.neg_tried)
        assert report.hit_rate >= 0.995 and report.false_alarm <= 0.5
    # No stage yet: every textured window is a negative, as in OpenCV.
    assert result.stages[0].acceptance_ratio == 1.0
    assert result.stages[2].acceptance_ratio < result.stages[1].acceptance_ratio < 1.0


def _tiny_recipe(tmp_path):
    """12x12 lfw faces; backgrounds: four photos at half size and the lfw non-face patches."""
    write_vec(tmp_path / "pos.vec", _faces(12))
    bg = _bg_list(tmp_path / "bg", FACE_FREE[:4], shrink=2)
    patches = (data.lfw_subset()[100:] * 255).round().astype(np.uint8)
    mosaic = patches.reshape(10, 10, 25, 25).transpose(0, 2, 1, 3).reshape(250, 250)
    cv2.imwrite(str(bg.parent / "patches.png"), mosaic)
    with open(bg, "a") as f:
        f.write("patches.png\n")
    return tmp_path / "pos.vec", bg


class _Killed(Exception):
    pass


def test_resume_after_a_kill_gives_the_same_cascade(tmp_path):
    vec, bg = _tiny_recipe(tmp_path)
    recipe = dict(
        vec=vec,
        bg=bg,
        num_pos=70,
        num_neg=80,
        num_stages=6,
        width=12,
        height=12,
        random_state=3,
    )
    whole = train_cascade(tmp_path / "whole", progress=None, **recipe)
    n_stages = len(whole.stages)
    assert n_stages >= 4

    def kill_at_stage_2(line):
        if line == "===== TRAINING 2-stage =====":
            raise _Killed

    with pytest.raises(_Killed):
        train_cascade(tmp_path / "killed", progress=kill_at_stage_2, **recipe)
    killed = tmp_path / "killed"
    assert sorted(p.name for p in killed.iterdir()) == ["params.xml", "stage0.xml", "stage1.xml"]
    lines = []
    resumed = train_cascade(killed, progress=lines.append, **recipe)
    assert "Stages 0-1 are loaded" in lines
    assert resumed.loaded_stages == 2
    assert [r.index for r in resumed.stages] == list(range(2, n_stages))
    assert resumed.stop_reason == whole.stop_reason
    assert (killed / "cascade.xml").read_bytes() == (tmp_path / "whole/cascade.xml").read_bytes()
    for i in range(n_stages):
        assert (killed / f"stage{i}.xml").read_bytes() == (
            tmp_path / f"whole/stage{i}.xml"
        ).read_bytes()


def test_resume_refuses_other_parameters(tmp_path):
    vec, bg = _tiny_recipe(tmp_path)
    train_cascade(tmp_path / "d", vec, bg, 60, 40, num_stages=1, width=12, height=12, progress=None)
    with pytest.raises(
        ValueError,
        match=r"params\.xml was written with other parameters"
        r" \(max_depth: 1 in params\.xml, 2 given; min_hit_rate: 0\.995",
    ):
        train_cascade(
            tmp_path / "d",
            vec,
            bg,
            60,
            40,
            num_stages=2,
            width=12,
            height=12,
            max_depth=2,
            min_hit_rate=0.99,
            progress=None,
        )


def test_num_pos_beyond_the_vec_is_rejected(tmp_path):
    vec, bg = _tiny_recipe(tmp_path)
    with pytest.raises(
        ValueError,
        match=r"numPos too large for the \.vec: num_pos=101 but .*"
        r"pos\.vec holds 100 samples",
    ):
        train_cascade(tmp_path / "d", vec, bg, 101, 40, width=12, height=12, progress=None)


def test_positives_running_out_stop_training_cleanly(tmp_path):
    vec, bg = _tiny_recipe(tmp_path)
    result = train_cascade(
        tmp_path / "d",
        vec,
        bg,
        99,
        60,
        num_stages=5,
        width=12,
        height=12,
        min_hit_rate=0.9,
        random_state=0,
        progress=None,
    )
    assert result.stop_reason.startswith("Positives exhausted: stage 2 needs num_pos=99")
    assert "stages 0-1 accept, but only 97 of the 100 samples in" in result.stop_reason
    assert len(result.cascade.stages) == 2
    assert cv2.CascadeClassifier(str(tmp_path / "d/cascade.xml")).getOriginalWindowSize() == (
        12,
        12,
    )


def test_negatives_running_out_say_how_many_windows_were_tried(tmp_path):
    vec, _ = _tiny_recipe(tmp_path)
    small = [_gray("brick")[:30, :30]]
    with pytest.raises(
        ValueError,
        match=r"can't be trained: Negatives exhausted: 0 windows "
        r"tried in 0 of the 1 background images, only 0 accepted .*"
        r"no background image is readable and at least as large as the window",
    ):
        train_cascade(
            tmp_path / "a", vec, [small[0][:8]], 60, 50, width=12, height=12, progress=None
        )
    with pytest.raises(ValueError, match=r"the per-stage limit of 50 windows was reached"):
        train_cascade(
            tmp_path / "b",
            vec,
            small,
            60,
            100,
            width=12,
            height=12,
            max_neg_windows=50,
            progress=None,
        )


def test_low_contrast_positives_are_trained_on_with_a_warning(tmp_path):
    faces = _faces(12)
    flat = np.full((5, 12, 12), 128, dtype=np.uint8)
    flat[:, ::2] += 3  # a little texture, still under the detector's contrast floor
    samples = np.concatenate([flat[:2], faces, flat[2:]])
    bg = _bg_list(tmp_path / "bg", FACE_FREE[:4], shrink=4)
    with pytest.warns(UserWarning, match=r"5 of the 105 samples .* trained on"):
        result = train_cascade(
            tmp_path / "d", samples, bg, 100, 40, num_stages=1, width=12, height=12, progress=None
        )
    # As in OpenCV, the two flat samples in front are among the first 100 positives.
    assert result.stages[0].pos_consumed == 100


def test_accept_ratio_break_value_stops_training(tmp_path):
    vec, bg = _tiny_recipe(tmp_path)
    result = train_cascade(
        tmp_path / "d",
        vec,
        bg,
        60,
        60,
        num_stages=5,
        width=12,
        height=12,
        accept_ratio_break_value=0.9,
        random_state=0,
        progress=None,
    )
    assert len(result.cascade.stages) == 1
    assert "acceptanceRatioBreakValue 0.9" in result.stop_reason
    assert result.acceptance_ratio <= 0.9


def test_num_threads_also_bounds_opencvs_pool_during_training(tmp_path):
    vec, bg = _tiny_recipe(tmp_path)
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    counts = []
    try:
        train_cascade(
            tmp_path / "d",
            vec,
            bg,
            60,
            60,
            num_stages=2,
            width=12,
            height=12,
            num_threads=1,
            progress=lambda line: counts.append(cv2.getNumThreads()),
        )
        assert counts and set(counts) == {1}
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)


def test_each_stage_precalculates_into_the_previous_stages_memory(tmp_path):
    from fer_toolkit.cascade import train as train_module

    vec, bg = _tiny_recipe(tmp_path)
    stores = []

    class Recording(train_module.FeatureValues):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            stores.append((kwargs["storage"], self.storage))

    with mock.patch.object(train_module, "FeatureValues", Recording):
        result = train_cascade(tmp_path / "d", vec, bg, 60, 60, num_stages=3, width=12, height=12)
    assert len(stores) == len(result.stages) >= 2
    assert stores[0][0] is None
    for (_, previous), (handed, used) in itertools.pairwise(stores):
        assert handed is previous and all(a is b for a, b in zip(used, previous, strict=True))


@pytest.mark.parametrize(
    ("feature_type", "mode", "boost_type", "max_depth"),
    [("LBP", "BASIC", "DAB", 1), ("HAAR", "CORE", "RAB", 2), ("HAAR", "ALL", "LB", 1)],
)
def test_other_features_and_boosts_train_cascades_opencv_agrees_with(
    tmp_path, feature_type, mode, boost_type, max_depth
):
    faces = _faces(12)
    bg = _bg_list(tmp_path / "bg", FACE_FREE[:4], shrink=4)
    result = train_cascade(
        tmp_path / "d",
        faces,
        bg,
        80,
        80,
        num_stages=2,
        width=12,
        height=12,
        feature_type=feature_type,
        mode=mode,
        boost_type=boost_type,
        max_depth=max_depth,
        random_state=0,
        progress=None,
    )
    path = tmp_path / "d/cascade.xml"
    written = read_cascade(path)
    assert (written.feature_type, written.stage_params.boost_type) == (feature_type, boost_type)
    assert (written.max_nodes_per_tree > 1) == (max_depth > 1)  # real trees, not stumps
    windows = np.concatenate([faces, _non_faces(12), _background_windows(12, 200)])
    ours = result.cascade.accepts(windows)
    np.testing.assert_array_equal(ours, _opencv_accepts(path, windows))
    assert ours[:100].mean() > 0.9 and ours[200:].mean() < 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_pos": 0}, "num_pos must be an int >= 1"),
        ({"min_hit_rate": 1.0}, r"min_hit_rate must lie in \(0, 1\)"),
        ({"mode": "FULL"}, "mode must be one of"),
        ({"boost_type": "ADA"}, "boost_type must be one of"),
        ({"feature_type": "HOG"}, "feature_type must be one of"),
        ({"vec": np.zeros((5, 10, 12), np.uint8)}, r"vec has shape \(5, 10, 12\)"),
    ],
)
def test_bad_parameters_are_rejected(tmp_path, kwargs, message):
    args = dict(
        data=tmp_path / "d",
        vec=_faces(12),
        bg=[_gray("brick")],
        num_pos=10,
        num_neg=10,
        width=12,
        height=12,
        progress=None,
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        train_cascade(**args)


def test_parameters_of_the_wrong_type_are_type_errors(tmp_path):
    with pytest.raises(TypeError, match=r"num_stages must be an int >= 1; got 2\.0"):
        train_cascade(tmp_path / "d", _faces(12), [_gray("brick")], 10, 10, num_stages=2.0)
    with pytest.raises(TypeError, match="accept_ratio_break_value must be a finite number"):
        train_cascade(
            tmp_path / "d", _faces(12), [_gray("brick")], 10, 10, accept_ratio_break_value="x"
        )


# --- the walk over the backgrounds and the mining rules --------------------------------


def _resize(image, size):
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR_EXACT)


def test_walk_visits_shrunk_then_growing_images_on_half_window_grids():
    image = (np.arange(40 * 64) % 251).astype(np.uint8).reshape(40, 64)
    index, windows = next(walk_windows(Backgrounds([image, image]), 16, 16))
    # First visit, offset (0, 0): scale 16/40 -> 26x16 (x at 0, 8), then 36x22 (0, 8, 16),
    # then 51x32 (0..32 step 8 by rows 0, 8), then the 72x45 step would exceed scale 1.
    assert index == 0
    assert len(windows) == 2 + 3 + 5 * 2
    np.testing.assert_array_equal(windows[0], _resize(image, (26, 16))[:16, :16])
    np.testing.assert_array_equal(windows[1], _resize(image, (26, 16))[:16, 8:24])
    np.testing.assert_array_equal(windows[-1], _resize(image, (51, 32))[8:24, 32:48])


class _NegReader:
    """``CvCascadeImageReader::NegReader`` of OpenCV's imagestorage.cpp, line by line,
    one window per ``get`` (float32 where the C++ uses float)."""

    def __init__(self, images, width, height):
        self.images, self.w, self.h = images, width, height
        self.last = self.round = 0
        self.img = None
        self.scale_factor, self.step = np.float32(1.4142135623730950488016887242097), 0.5

    def next_img(self):
        count, src, offset = len(self.images), None, None
        for _ in range(count):
            src = self.images[self.last]
            self.last += 1
            if src is None:
                self.last %= count
                continue
            self.round = (self.round + self.last // count) % (self.w * self.h)
            self.last %= count
            offset = (
                min(self.round % self.w, src.shape[1] - self.w),
                min(self.round // self.w, src.shape[0] - self.h),
            )
            if offset[0] >= 0 and offset[1] >= 0:
                break
        if src is None or offset[0] < 0 or offset[1] < 0:
            return False
        self.src, self.offset, self.point = src, offset, list(offset)
        rows, cols = src.shape
        f32 = np.float32
        self.scale = max(
            (f32(self.w) + f32(offset[0])) / f32(cols), (f32(self.h) + f32(offset[1])) / f32(rows)
        )
        self.img = _resize(
            src, (int(self.scale * f32(cols) + f32(0.5)), int(self.scale * f32(rows) + f32(0.5)))
        )
        return True

    def get(self):
        if self.img is None and not self.next_img():
            return None
        x, y = self.point
        window = self.img[y : y + self.h, x : x + self.w].copy()
        step = np.float32(1.0 + self.step)
        if int(np.float32(x) + step * np.float32(self.w)) < self.img.shape[1]:
            self.point[0] += int(self.step * self.w)
        else:
            self.point[0] = self.offset[0]
            if int(np.float32(y) + step * np.float32(self.h)) < self.img.shape[0]:
                self.point[1] += int(self.step * self.h)
            else:
                self.point[1] = self.offset[1]
                self.scale = np.float32(self.scale * self.scale_factor)
                if self.scale <= 1:
                    rows, cols = self.src.shape
                    size = (int(self.scale * np.float32(cols)), int(self.scale * np.float32(rows)))
                    self.img = _resize(self.src, size)
                elif not self.next_img():
                    return None
        return window


def test_walk_gives_opencvs_windows_in_opencvs_order_across_stages():
    rng = np.random.default_rng(3)
    images = [
        rng.integers(0, 256, (37, 53), dtype=np.uint8),
        None,  # unreadable: skipped without counting a pass
        rng.integers(0, 256, (9, 40), dtype=np.uint8),  # smaller than the window
        rng.integers(0, 256, (24, 18), dtype=np.uint8),
        rng.integers(0, 256, (61, 30), dtype=np.uint8),
    ]
    reader = _NegReader(images, 14, 12)
    expected = np.stack([reader.get() for _ in range(6000)])  # about 40 passes
    backgrounds = Backgrounds([np.zeros((1, 1), np.uint8)] * len(images))
    backgrounds.image = lambda i: images[i]
    walk = NegativeWalk(backgrounds, 14, 12)

    class _All:
        height, width, stages = 12, 14, []

        def accepts(self, windows, training, n_threads):
            return np.ones(len(windows), dtype=bool)

    got = []
    # Three "stages" taking 1,000, 2,500 and 2,500 windows: the walk goes on between them.
    for count in (1000, 2500, 2500):
        got.append(mine_negatives(_All(), walk, count).samples)
    np.testing.assert_array_equal(np.concatenate(got), expected)


def test_walk_shifts_its_grid_after_each_pass_and_skips_small_images():
    image = np.random.default_rng(0).integers(0, 256, (20, 30), dtype=np.uint8)
    tiny = np.zeros((5, 5), dtype=np.uint8)
    visits = walk_windows(Backgrounds([image, tiny]), 16, 16)
    first = next(visits)
    second = next(visits)  # tiny is skipped; the next pass starts at offset (1, 0)
    assert first[0] == second[0] == 0
    assert not np.array_equal(first[1][0], second[1][0])
    assert len(list(walk_windows(Backgrounds([tiny]), 16, 16))) == 0


class _VerdictCascade:
    """A stand-in cascade: pixel [0, 0] of each window holds its verdict (0, 1)."""

    height = width = 2
    stages = [None]

    def accepts(self, windows, training, n_threads):
        assert training and n_threads >= 1
        return windows[:, 0, 0] == 1


def _opencv_fill(stream, count, ratio):
    """OpenCV's fillPassedSamples on a stream of verdicts."""
    got = consumed = 0
    while got < count:
        if consumed and (got + 1) / consumed <= ratio:
            return got, consumed, "ratio"
        verdict = next(stream, None)
        if verdict is None:
            return got, consumed, "exhausted"
        consumed += 1
        got += verdict
    return got, consumed, "filled"


@settings(max_examples=80, deadline=None)
@given(
    verdicts=st.lists(st.sampled_from([0, 0, 0, 1]), min_size=1, max_size=300),
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=3),
    ratio=st.sampled_from([0.0, 0.01, 0.1, 0.3]),
    visit=st.integers(1, 50),
    batch=st.sampled_from([1, 7, 64, 8192]),
)
def test_vectorised_mining_matches_opencv_sequential_rules(verdicts, counts, ratio, visit, batch):
    windows = np.zeros((len(verdicts), 2, 2), dtype=np.uint8)
    windows[:, 0, 0] = verdicts
    windows[:, 1, 1] = np.arange(len(verdicts)) % 256
    visits = ((0, windows[i : i + visit]) for i in range(0, len(windows), visit))
    walk = NegativeWalk(Backgrounds([np.zeros((2, 2), np.uint8)]), 2, 2)
    walk._visits = visits
    stream = iter(verdicts)
    position = 0
    # Successive stages share the walk, as OpenCV's NegReader is shared.
    for count in counts:
        with mock.patch.object(negatives, "_BATCH", batch):
            mined = mine_negatives(_VerdictCascade(), walk, count, min_acceptance_ratio=ratio)
        got, consumed, stop = _opencv_fill(stream, count, ratio)
        assert (len(mined.samples), mined.tried, mined.stop) == (got, consumed, stop)
        assert (mined.samples[:, 0, 0] == 1).all()
        taken = np.flatnonzero(np.array(verdicts[position : position + consumed]) == 1)
        np.testing.assert_array_equal(mined.samples[:, 1, 1], (taken + position) % 256)
        position += consumed


def test_mining_an_empty_cascade_accepts_every_window():
    empty = Cascade(
        width=12,
        height=12,
        feature_type="HAAR",
        mode="BASIC",
        stage_params=StageParams(),
        stages=[],
        features=haar_features(12, 12),
    )
    image = _gray("coffee", shrink=4)
    image[:, :60] = 90  # a flat band: trained on as negatives too, as in OpenCV
    walk = walk_windows(Backgrounds([image]), 12, 12)
    mined = mine_negatives(empty, walk, 10**6, max_windows=3000)
    assert mined.stop == "budget" and mined.acceptance_ratio == 1.0
    assert mined.tried == len(mined.samples) == 3000
    assert mined.samples[:, 1:-1, 1:-1].std(axis=(1, 2)).min() == 0


# --- the cascade this project trained (cascades/fer_toolkit_frontalface.xml) -----------


def test_own_frontalface_cascade_finds_the_astronaut_and_nothing_else():
    from fer_toolkit.detection import resolve_cascade
    from fer_toolkit.preprocessing import HaarFaceCropper

    path = resolve_cascade("fer_toolkit_frontalface")
    assert path.endswith("fer_toolkit_frontalface.xml")
    classifier = cv2.CascadeClassifier(path)
    assert not classifier.empty()
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    boxes = classifier.detectMultiScale(gray, 1.1, 5)
    assert len(boxes) == 1
    # The same face as OpenCV's stock cascade finds: (177, 66, 95, 95).
    x, y, w, h = boxes[0]
    overlap_w = min(x + w, 177 + 95) - max(x, 177)
    overlap_h = min(y + h, 66 + 95) - max(y, 66)
    iou = overlap_w * overlap_h / (w * h + 95 * 95 - overlap_w * overlap_h)
    assert iou > 0.5
    cropper = HaarFaceCropper(cascade=path, on_missing="raise")
    found = cropper.detect([data.astronaut()])[0].boxes
    np.testing.assert_array_equal(found, boxes)
    # Our reader and evaluation agree with OpenCV on this cascade too.
    np.testing.assert_array_equal(read_cascade(path).detect_multiscale(gray, 1.1, 5), boxes)
