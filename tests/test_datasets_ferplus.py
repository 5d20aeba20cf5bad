"""FER+ labels: alignment with FER2013, the vote rules (ties, noise votes, unknown/NF)."""

import os
import re
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fer_toolkit.datasets.fer2013 import write_fer2013_csv
from fer_toolkit.datasets.ferplus import FERPLUS_VOTE_NAMES, load_ferplus
from fer_toolkit.datasets.labels import EMOTIONS

PLUS_HEADER = (
    "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
)
FILE_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
# Canonical name of each file column (FER+ spells four of them differently).
CANONICAL = {"happiness": "happy", "sadness": "sad", "anger": "angry"}


def votes(**counts):
    """A vote row in file column order from keyword counts (``NF=10``, ``happiness=3``)."""
    return [counts.get(name, 0) for name in FILE_COLUMNS]


def write_pair(folder, vote_rows, usages=None, names=None, fer_usages=None):
    """Write fer2013.csv (image i filled with value i) and fer2013new.csv; return both paths."""
    n = len(vote_rows)
    usages = usages or ["Training"] * n
    names = names if names is not None else [f"fer{i:07d}.png" for i in range(n)]
    images = np.repeat(np.arange(n, dtype=np.uint8), 48 * 48).reshape(n, 48, 48)
    fer = os.path.join(folder, "fer2013.csv")
    write_fer2013_csv(fer, images, [i % 7 for i in range(n)], usage=fer_usages or usages)
    plus = os.path.join(folder, "fer2013new.csv")
    with open(plus, "w") as f:
        f.write(PLUS_HEADER + "\n")
        for usage, name, row in zip(usages, names, vote_rows, strict=True):
            f.write(",".join([usage, name, *map(str, row)]) + "\n")
    return fer, plus


def names_of(data):
    return [data.target_names[code] for code in data.target]


def test_majority_labels_and_canonical_target_names(tmp_path):
    rows = [votes(anger=6, neutral=4), votes(happiness=10), votes(contempt=7, fear=3)]
    data = load_ferplus(*write_pair(tmp_path, rows))
    assert data.target_names == EMOTIONS
    assert names_of(data) == ["angry", "happy", "contempt"]
    assert data.target.dtype == np.int64
    np.testing.assert_array_equal(data.fer2013_index, [0, 1, 2])
    assert data.images.shape == (3, 48, 48)
    assert data.images[:, 0, 0].tolist() == [0, 1, 2]
    assert data.usage.tolist() == ["Training"] * 3
    assert data.image_names.tolist() == ["fer0000000.png", "fer0000001.png", "fer0000002.png"]


def test_votes_are_raw_and_reordered_to_target_names(tmp_path):
    row = votes(neutral=1, happiness=2, surprise=3, sadness=4, anger=5, disgust=6, fear=7)
    row[FILE_COLUMNS.index("contempt")] = 8
    row[FILE_COLUMNS.index("unknown")] = 9
    row[FILE_COLUMNS.index("NF")] = 1
    data = load_ferplus(*write_pair(tmp_path, [row]), drop_unknown=False)
    assert (*EMOTIONS, "unknown", "NF") == FERPLUS_VOTE_NAMES
    # angry, disgust, fear, happy, sad, surprise, neutral, contempt, unknown, NF
    assert data.votes.tolist() == [[5, 6, 7, 2, 4, 3, 1, 8, 9, 1]]
    assert data.votes.dtype == np.int64


def test_ties_drop_by_default_and_first_takes_target_names_order(tmp_path):
    rows = [
        votes(happiness=4, surprise=4, neutral=2),  # tie happy/surprise
        votes(neutral=5, anger=5),  # tie: neutral comes first in the file, angry in EMOTIONS
        votes(sadness=6, fear=4),
    ]
    paths = write_pair(tmp_path, rows)
    dropped = load_ferplus(*paths)
    assert names_of(dropped) == ["sad"]
    assert dropped.fer2013_index.tolist() == [2]
    first = load_ferplus(*paths, ties="first")
    assert names_of(first) == ["happy", "angry", "sad"]
    assert first.fer2013_index.tolist() == [0, 1, 2]


def test_single_votes_are_noise_by_default(tmp_path):
    rows = [
        votes(happiness=2, sadness=1, neutral=1),
        votes(happiness=2, sadness=2, fear=3),
        votes(fear=1),
    ]
    paths = write_pair(tmp_path, rows)
    happy, sad, fear, neutral = (EMOTIONS.index(n) for n in ("happy", "sad", "fear", "neutral"))

    data = load_ferplus(*paths, mode="probability")
    assert data.fer2013_index.tolist() == [0, 1]  # row 2 has no vote left
    expected = np.zeros((2, 8))
    expected[0, happy] = 1.0
    expected[1, [happy, sad, fear]] = [2 / 7, 2 / 7, 3 / 7]
    np.testing.assert_allclose(data.target, expected)

    strict = load_ferplus(*paths, mode="probability", min_votes=3)
    assert strict.fer2013_index.tolist() == [1]
    np.testing.assert_allclose(strict.target[0, fear], 1.0)

    every_vote = load_ferplus(*paths, mode="probability", min_votes=0)
    assert every_vote.fer2013_index.tolist() == [0, 1, 2]
    expected_row0 = np.zeros(8)
    expected_row0[[happy, sad, neutral]] = [0.5, 0.25, 0.25]
    np.testing.assert_allclose(every_vote.target[0], expected_row0)
    assert load_ferplus(*paths, min_votes=1).fer2013_index.tolist() == [0, 1, 2]


def test_unknown_and_not_a_face_rules(tmp_path):
    rows = [
        votes(unknown=5, happiness=5),  # unknown ties the top emotion -> dropped
        votes(unknown=4, happiness=6),  # emotion wins -> kept
        votes(NF=6, sadness=4),  # not a face -> dropped
        votes(unknown=6, neutral=2, surprise=2),  # unknown majority -> dropped
        votes(NF=10),  # not a face, no emotion at all -> always dropped
    ]
    paths = write_pair(tmp_path, rows)
    data = load_ferplus(*paths)
    assert data.fer2013_index.tolist() == [1]
    assert names_of(data) == ["happy"]
    kept = load_ferplus(*paths, drop_unknown=False, ties="first")
    assert kept.fer2013_index.tolist() == [0, 1, 2, 3]
    assert names_of(kept) == ["happy", "happy", "sad", "surprise"]
    # Without ties="first" the neutral/surprise tie of row 3 is dropped.
    assert load_ferplus(*paths, drop_unknown=False).fer2013_index.tolist() == [0, 1, 2]


def test_blank_image_name_is_always_dropped(tmp_path):
    rows = [votes(happiness=10), votes(happiness=10), votes(sadness=10)]
    paths = write_pair(tmp_path, rows, names=["fer0000000.png", "  ", "fer0000002.png"])
    assert load_ferplus(*paths, drop_unknown=False).fer2013_index.tolist() == [0, 2]


def test_probability_mode_keeps_ties_and_sums_to_one(tmp_path):
    rows = [votes(happiness=4, surprise=4, neutral=2), votes(anger=3, disgust=3, fear=4)]
    data = load_ferplus(*write_pair(tmp_path, rows), mode="probability")
    assert data.target.dtype == np.float64
    assert data.target.shape == (2, 8)
    np.testing.assert_allclose(data.target.sum(axis=1), 1.0)
    np.testing.assert_allclose(data.target[0], [0, 0, 0, 0.4, 0, 0.4, 0.2, 0])
    np.testing.assert_allclose(data.target[1], [0.3, 0.3, 0.4, 0, 0, 0, 0, 0])


def test_usage_filter(tmp_path):
    rows = [votes(happiness=9), votes(sadness=9), votes(anger=9), votes(fear=9)]
    usages = ["Training", "PublicTest", "PrivateTest", "PublicTest"]
    paths = write_pair(tmp_path, rows, usages=usages)
    data = load_ferplus(*paths, usage="PublicTest")
    assert data.fer2013_index.tolist() == [1, 3]
    assert names_of(data) == ["sad", "fear"]
    assert data.images[:, 0, 0].tolist() == [1, 3]
    assert load_ferplus(*paths, usage=["Training", "PrivateTest"]).usage.tolist() == [
        "Training",
        "PrivateTest",
    ]
    with pytest.raises(ValueError, match="Unknown usage 'Val'"):
        load_ferplus(*paths, usage="Val")


def test_row_count_mismatch(tmp_path):
    fer, plus = write_pair(tmp_path, [votes(happiness=9)] * 3)
    with open(plus) as f:
        lines = f.read().splitlines()
    with open(plus, "w") as f:
        f.write("\n".join(lines[:-1]) + "\n")
    with pytest.raises(
        ValueError, match=r"fer2013new\.csv has 2 data rows but .*fer2013\.csv has 3"
    ):
        load_ferplus(fer, plus)


def test_usage_mismatch_names_first_row_and_lines(tmp_path):
    rows = [votes(happiness=9)] * 4
    paths = write_pair(
        tmp_path,
        rows,
        usages=["Training", "Training", "PublicTest", "PrivateTest"],
        fer_usages=["Training", "Training", "PrivateTest", "PublicTest"],
    )
    message = (
        r"Data row 3 differs: .*fer2013\.csv line 4 has usage 'PrivateTest' but "
        r".*fer2013new\.csv line 4 has 'PublicTest'"
    )
    with pytest.raises(ValueError, match=message):
        load_ferplus(*paths)


def test_fer2013_without_usage_column_aligns_by_row_count(tmp_path):
    fer = tmp_path / "train.csv"
    pixels = " ".join(["7"] * 2304)
    fer.write_text(f"emotion,pixels\n0,{pixels}\n1,{pixels}\n")
    _, plus = write_pair(tmp_path, [votes(happiness=9), votes(fear=9)])
    data = load_ferplus(fer, plus)
    assert names_of(data) == ["happy", "fear"]
    assert data.usage.tolist() == ["Training", "Training"]


@pytest.mark.parametrize(
    ("value", "column"),
    [("x", "anger"), ("-1", "NF"), ("", "neutral"), ("2.5", "fear"), ("+3", "unknown")],
)
def test_malformed_vote_names_file_line_and_column(tmp_path, value, column):
    fer, plus = write_pair(tmp_path, [votes(happiness=9)] * 3)
    with open(plus) as f:
        lines = f.read().splitlines()
    fields = lines[2].split(",")
    fields[2 + FILE_COLUMNS.index(column)] = value
    lines[2] = ",".join(fields)
    with open(plus, "w") as f:
        f.write("\n".join(lines) + "\n")
    message = rf"fer2013new\.csv, line 3: vote count {re.escape(repr(value))} in column '{column}'"
    with pytest.raises(ValueError, match=message):
        load_ferplus(fer, plus)


def test_malformed_ferplus_usage_and_missing_column(tmp_path):
    fer, plus = write_pair(tmp_path, [votes(happiness=9)] * 2)
    with open(plus) as f:
        text = f.read()
    with open(plus, "w") as f:
        f.write(text.replace("Training,fer0000001", "Train,fer0000001"))
    with pytest.raises(ValueError, match=r"fer2013new\.csv, line 3: usage 'Train'"):
        load_ferplus(fer, plus)
    with open(plus, "w") as f:
        f.write(text.replace(",NF", ",nf_votes"))
    with pytest.raises(ValueError, match=r"missing column 'nf'; header found: .*'nf_votes'"):
        load_ferplus(fer, plus)


def test_missing_files(tmp_path):
    fer, plus = write_pair(tmp_path, [votes(happiness=9)])
    with pytest.raises(FileNotFoundError, match=r"absent\.csv"):
        load_ferplus(fer, tmp_path / "absent.csv")
    with pytest.raises(FileNotFoundError, match=r"absent\.csv"):
        load_ferplus(tmp_path / "absent.csv", plus)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "soft"}, "mode must be one of"),
        ({"ties": "random"}, "ties must be one of"),
        ({"min_votes": -1}, "min_votes must be a non-negative integer"),
        ({"min_votes": 1.5}, "min_votes must be a non-negative integer"),
        ({"min_votes": True}, "min_votes must be a non-negative integer"),
        ({"drop_unknown": "yes"}, "drop_unknown must be True or False"),
    ],
)
def test_parameters_are_validated(tmp_path, kwargs, message):
    paths = write_pair(tmp_path, [votes(happiness=9)])
    with pytest.raises(ValueError, match=message):
        load_ferplus(*paths, **kwargs)


def test_no_row_left_is_an_error(tmp_path):
    paths = write_pair(tmp_path, [votes(NF=10), votes(unknown=10)])
    with pytest.raises(ValueError, match=r"No row of .*fer2013new\.csv is left"):
        load_ferplus(*paths)


def reference_label(row, mode, ties, min_votes, drop_unknown):
    """The documented rules, one row at a time; None when the row is dropped."""
    by_name = dict(zip(FILE_COLUMNS, row, strict=True))
    clean = {name: (count if count >= min_votes else 0) for name, count in by_name.items()}
    emotion = {CANONICAL.get(name, name): clean[name] for name in FILE_COLUMNS[:8]}
    top = max(emotion.values())
    if top == 0:
        return None
    if drop_unknown and max(clean["unknown"], clean["NF"]) >= top:
        return None
    if mode == "probability":
        total = sum(emotion.values())
        return [emotion[name] / total for name in EMOTIONS]
    winners = [name for name in EMOTIONS if emotion[name] == top]
    if len(winners) > 1 and ties == "drop":
        return None
    return EMOTIONS.index(winners[0])


vote_rows = st.lists(
    st.lists(st.integers(0, 10), min_size=10, max_size=10), min_size=1, max_size=12
)


@settings(max_examples=40, deadline=None)
@given(
    rows=vote_rows,
    mode=st.sampled_from(["majority", "probability"]),
    ties=st.sampled_from(["drop", "first"]),
    min_votes=st.integers(0, 3),
    drop_unknown=st.booleans(),
)
def test_matches_a_row_by_row_reference(rows, mode, ties, min_votes, drop_unknown):
    expected = [reference_label(row, mode, ties, min_votes, drop_unknown) for row in rows]
    kept = [i for i, label in enumerate(expected) if label is not None]
    with tempfile.TemporaryDirectory() as folder:
        paths = write_pair(folder, rows)
        parameters = {"ties": ties, "min_votes": min_votes, "drop_unknown": drop_unknown}
        if not kept:
            with pytest.raises(ValueError, match="is left"):
                load_ferplus(*paths, mode=mode, **parameters)
            return
        data = load_ferplus(*paths, mode=mode, **parameters)
    assert data.fer2013_index.tolist() == kept
    np.testing.assert_allclose(data.target, np.array([expected[i] for i in kept]))
    assert data.images[:, 0, 0].tolist() == kept
    raw = np.array(rows)[kept]
    assert data.votes[:, EMOTIONS.index("happy")].tolist() == raw[:, 1].tolist()
    assert data.votes[:, -1].tolist() == raw[:, -1].tolist()
