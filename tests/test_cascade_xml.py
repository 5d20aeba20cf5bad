"""cascade.xml / params.xml / stageN.xml: OpenCV's format, exact round trips, clear errors."""

import os

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fer_toolkit.cascade import (
    Cascade,
    CascadeParams,
    Stage,
    StageParams,
    WeakTree,
    haar_features,
    lbp_features,
    read_cascade,
    read_params,
    read_stage,
    write_cascade,
    write_params,
    write_stage,
)
from fer_toolkit.cascade import xml as cascade_xml

STOCK = cv2.data.haarcascades
HAAR_TABLE = haar_features(10, 8, "ALL")
LBP_TABLE = lbp_features(10, 8)

float32s = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def trees(draw, categorical):
    """Stumps and 3-node trees with arbitrary float32 thresholds and leaf values."""
    table = LBP_TABLE if categorical else HAAR_TABLE
    k = draw(st.sampled_from([1, 3]))
    features = draw(st.lists(st.integers(0, len(table) - 1), min_size=k, max_size=k))
    if categorical:
        words = st.lists(st.integers(-(2**31), 2**31 - 1), min_size=8, max_size=8)
        splits = [draw(words) for _ in range(k)]
    else:
        splits = [[draw(float32s)] for _ in range(k)]
    links = [[0, -1]] if k == 1 else [[1, 2], [0, -1], [-2, -3]]
    leaves = draw(st.lists(float32s, min_size=k + 1, max_size=k + 1))
    nodes = [[*links[j], features[j], *splits[j]] for j in range(k)]
    return WeakTree(nodes=nodes, leaf_values=leaves)


@st.composite
def cascades(draw):
    categorical = draw(st.booleans())
    stages = [
        Stage(
            threshold=draw(float32s),
            weak=draw(st.lists(trees(categorical), min_size=1, max_size=3)),
        )
        for _ in range(draw(st.integers(1, 3)))
    ]
    params = CascadeParams(
        width=10,
        height=8,
        feature_type="LBP" if categorical else "HAAR",
        mode=None if categorical else draw(st.sampled_from([None, "BASIC", "CORE", "ALL"])),
        stage_params=StageParams(
            boost_type=draw(st.sampled_from(["GAB", "DAB", "RAB", "LB"])),
            min_hit_rate=draw(st.floats(0.5, 1.0)),
            max_false_alarm_rate=draw(st.floats(0.01, 1.0)),
            weight_trim_rate=draw(st.floats(0.5, 1.0)),
            max_depth=draw(st.integers(1, 4)),
            max_weak_count=draw(st.integers(1, 500)),
        ),
    )
    return Cascade.from_params(params, stages, LBP_TABLE if categorical else HAAR_TABLE)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cascade=cascades())
def test_cascade_round_trip_is_exact(tmp_path, cascade):
    path = tmp_path / "cascade.xml"
    write_cascade(cascade, path)
    assert read_cascade(path) == cascade.compact()
    assert read_params(path) == cascade.params
    for s, stage in enumerate(cascade.stages):
        write_stage(stage, tmp_path / f"stage{s}.xml")
        assert read_stage(tmp_path / f"stage{s}.xml") == stage


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cascade=cascades(), data=st.data())
def test_truncated_files_are_rejected_with_file_and_line(tmp_path, cascade, data):
    path = tmp_path / "cascade.xml"
    write_cascade(cascade, path)
    text = path.read_bytes()
    cut = data.draw(st.integers(0, len(text.rstrip()) - 1))
    broken = tmp_path / "broken.xml"
    broken.write_bytes(text[:cut])
    with pytest.raises(ValueError, match=r"broken\.xml"):
        read_cascade(broken)


def test_opencv_reads_our_files(tmp_path):
    table = haar_features(12, 10, "ALL")
    tilted = np.flatnonzero(table.tilted)
    tree = WeakTree(
        nodes=[[1, 2, tilted[7], 0.125], [0, -1, 40, -0.75], [-2, -3, tilted[3], 3.5e-3]],
        leaf_values=[0.5, -0.25, 1.0, -1.5],
    )
    stage = Stage(threshold=-0.3, weak=[tree, WeakTree.stump(9, 0.1, -1.0, 1.0)])
    params = CascadeParams(width=12, height=10, mode="ALL", stage_params=StageParams(max_depth=2))
    cascade = Cascade.from_params(params, [stage, stage], table)
    write_cascade(cascade, tmp_path / "cascade.xml")
    write_params(params, tmp_path / "params.xml")
    write_stage(stage, tmp_path / "stage0.xml")

    classifier = cv2.CascadeClassifier(str(tmp_path / "cascade.xml"))
    assert not classifier.empty() and classifier.getOriginalWindowSize() == (12, 10)
    storage = cv2.FileStorage(str(tmp_path / "cascade.xml"), cv2.FILE_STORAGE_READ)
    root = storage.getFirstTopLevelNode()
    assert root.name() == "cascade" and root.getNode("stageNum").real() == 2
    # Only the 4 used features, renumbered in table order (feature 9 < 40 < tilted ones).
    assert root.getNode("features").size() == 4
    nodes = root.getNode("stages").at(0).getNode("weakClassifiers").at(0).getNode("internalNodes")
    assert [nodes.at(i).real() for i in range(12)] == [
        1, 2, 3, 0.125, 0, -1, 1, -0.75, -2, -3, 2, np.float32(3.5e-3)
    ]  # fmt: skip
    assert root.getNode("featureParams").getNode("mode").string() == "ALL"

    params_file = cv2.FileStorage(str(tmp_path / "params.xml"), cv2.FILE_STORAGE_READ)
    params_node = params_file.getFirstTopLevelNode()
    assert params_node.name() == "params"
    assert params_node.getNode("stageParams").getNode("maxDepth").real() == 2
    stage_file = cv2.FileStorage(str(tmp_path / "stage0.xml"), cv2.FILE_STORAGE_READ)
    stage_node = stage_file.getFirstTopLevelNode()
    assert stage_node.name() == "stage0"
    assert stage_node.getNode("stageThreshold").real() == np.float32(-0.3)
    # Stage files keep the full-table feature indices (for resuming).
    stage_nodes = stage_node.getNode("weakClassifiers").at(0).getNode("internalNodes")
    assert stage_nodes.at(2).real() == tilted[7]


def test_write_only_used_features(tmp_path):
    table = haar_features(8, 8)
    weak = [WeakTree.stump(f, 0.0, -1.0, 1.0) for f in (100, 3, 100, 50)]
    cascade = Cascade(
        width=8, height=8, feature_type="HAAR", mode="BASIC", stage_params=StageParams(),
        stages=[Stage(threshold=0.0, weak=weak)], features=table,
    )  # fmt: skip
    write_cascade(cascade, tmp_path / "c.xml")
    back = read_cascade(tmp_path / "c.xml")
    np.testing.assert_array_equal(back.features.rects, table.rects[[3, 50, 100]])
    assert [int(t.feature[0]) for t in back.stages[0].weak] == [2, 0, 2, 1]


def test_read_stock_cascades():
    face = read_cascade(STOCK + "haarcascade_frontalface_default.xml")
    assert (face.width, face.height, len(face.stages), len(face.features)) == (24, 24, 25, 2913)
    assert face.mode is None and face.stage_params.max_weak_count == 211
    assert face.max_nodes_per_tree == 1
    eyes = read_cascade(STOCK + "haarcascade_eye_tree_eyeglasses.xml")
    assert eyes.max_nodes_per_tree == 3
    cat = read_cascade(STOCK + "haarcascade_frontalcatface_extended.xml")
    assert cat.mode == "ALL" and cat.features.tilted.any()


def test_old_format_is_converted(tmp_path):
    old = read_cascade(STOCK + "haarcascade_license_plate_rus_16stages.xml")
    assert (old.width, old.height, len(old.stages)) == (64, 16, 16)
    # One feature per node, so as many features as nodes.
    assert len(old.features) == sum(len(t.nodes) for s in old.stages for t in s.weak)
    write_cascade(old, tmp_path / "plate.xml")
    classifier = cv2.CascadeClassifier(str(tmp_path / "plate.xml"))
    assert not classifier.empty() and not classifier.isOldFormatCascade()
    assert read_cascade(tmp_path / "plate.xml") == old.compact()


def test_atomic_writes_leave_nothing_on_failure(tmp_path, monkeypatch):
    cascade = read_cascade(STOCK + "haarcascade_eye.xml")
    target = tmp_path / "cascade.xml"
    target.write_text("previous")

    def explode(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cascade_xml, "_feature_lines", explode)
    with pytest.raises(RuntimeError):
        write_cascade(cascade, target)
    assert target.read_text() == "previous"
    assert os.listdir(tmp_path) == ["cascade.xml"]
    with pytest.raises(ValueError, match="at least one stage"):
        write_cascade(Cascade.from_params(cascade.params, [], cascade.features), target)


def _corrupt(tmp_path, old, new, name="bad.xml"):
    with open(STOCK + "haarcascade_eye.xml") as f:
        text = f.read()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "<stageNum>24</stageNum>",
            "<stageNum>23</stageNum>",
            r"<stageNum> is 23 but there are 24",
        ),
        ("<maxWeakCount>6</maxWeakCount>", "<maxWeakCount>7</maxWeakCount>", "maxWeakCount 7"),
        ("<height>20</height>", "<height>x</height>", r"<height> value 'x' is not an integer"),
        ("<featureType>HAAR</featureType>", "<featureType>HOG</featureType>", "HOG"),
        (
            "<stageThreshold>-1.4562760591506958e+00</stageThreshold>",
            "<threshold>-1.4562760591506958e+00</threshold>",
            "has no <stageThreshold>",
        ),
        ("0 -1 0 1.29639", "0 -1 0 7 1.29639", "not 1 node records"),
        ("0 -1 0 1.29639", "0 -1 9999 1.29639", "uses feature 9999, but <features> has 1066"),
        ("0 -1 0 1.29639", "0 0 0 1.29639", "exactly once"),
        ("<maxCatCount>0</maxCatCount>", "<maxCatCount>256</maxCatCount>", "maxCatCount"),
    ],
)
def test_inconsistent_files_name_file_line_and_problem(tmp_path, old, new, message):
    path = _corrupt(tmp_path, old, new)
    with pytest.raises(ValueError, match=r"bad\.xml, line \d+: .*" + message):
        read_cascade(path)


def test_not_a_cascade(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.xml"):
        read_cascade(tmp_path / "missing.xml")
    with pytest.raises(ValueError, match="is a directory"):
        read_cascade(tmp_path)
    (tmp_path / "other.xml").write_text('<?xml version="1.0"?>\n<root><a/></root>\n')
    with pytest.raises(ValueError, match="no <opencv_storage>"):
        read_cascade(tmp_path / "other.xml")
    (tmp_path / "text.xml").write_text("not xml at all")
    with pytest.raises(ValueError, match=r"text\.xml, line 1: not well-formed"):
        read_params(tmp_path / "text.xml")
