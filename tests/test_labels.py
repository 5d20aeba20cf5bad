"""Emotion names, named label sets, label mapping and mapping files."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fer_toolkit.datasets.labels import (
    EMOTION_ALIASES,
    EMOTIONS,
    FER2013_EMOTIONS,
    FERPLUS_EMOTIONS,
    LABEL_SETS,
    get_label_set,
    load_label_mapping,
    map_labels,
    normalize_emotion,
)
from fer_toolkit.utils.validation import InputError


def test_constants():
    assert FER2013_EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert (*FER2013_EMOTIONS, "contempt") == EMOTIONS
    assert sorted(FERPLUS_EMOTIONS) == sorted(EMOTIONS)
    assert set(EMOTION_ALIASES.values()) <= set(EMOTIONS)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("happy", "happy"),
        (" Happiness ", "happy"),
        ("ANGER", "angry"),
        ("sadness", "sad"),
        ("Surprised", "surprise"),
        ("fearful", "fear"),
        ("disgusted", "disgust"),
        ("neutrality", "neutral"),
        ("contemptuous", "contempt"),
    ],
)
def test_normalize_emotion(name, expected):
    assert normalize_emotion(name) == expected


def test_normalize_emotion_rejects_unknown_and_non_strings():
    with pytest.raises(ValueError, match="Unknown emotion name 'bored'"):
        normalize_emotion("bored")
    with pytest.raises(TypeError, match="must be a string, got 3"):
        normalize_emotion(3)


def test_named_sets_and_canonical_order():
    assert get_label_set("angry_happy_sad_neutral") == ("angry", "happy", "sad", "neutral")
    assert get_label_set("happy_sad_surprise_neutral") == ("happy", "sad", "surprise", "neutral")
    assert get_label_set(" Angry_Happy_Sad_Surprise_Neutral") == (
        "angry",
        "happy",
        "sad",
        "surprise",
        "neutral",
    )
    assert get_label_set("fer2013") == FER2013_EMOTIONS
    assert get_label_set("ferplus") == EMOTIONS
    for classes in LABEL_SETS.values():
        assert list(classes) == sorted(classes, key=EMOTIONS.index)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("seed000", "angry_happy_sad_neutral"),
        ("seed001", "happy_sad_surprise_neutral"),
        ("SEED004", "angry_happy_sad_surprise_neutral"),
        ("seed002", "fer2013"),
        ("seed003", "fer2013"),
    ],
)
def test_former_label_set_names_map_to_new_ones_with_a_future_warning(old, new):
    with pytest.warns(FutureWarning, match=f"label set '{old.lower()}' is now called '{new}'"):
        assert get_label_set(old) == LABEL_SETS[new]
    assert old.lower() not in LABEL_SETS


def test_label_set_by_count():
    assert get_label_set(5) == LABEL_SETS["angry_happy_sad_surprise_neutral"]
    assert get_label_set(np.int64(7)) == FER2013_EMOTIONS
    assert get_label_set("8") == EMOTIONS
    with pytest.raises(
        ValueError, match=r"4 classes is ambiguous: angry_happy_sad_neutral = .*; happy_sad_s"
    ):
        get_label_set(4)
    with pytest.raises(ValueError, match=r"No named label set has 3 classes; .* 4, 5, 7, 8"):
        get_label_set("3")


def test_label_set_from_names():
    assert get_label_set(["Happiness", "sad", "Positive"]) == ("happy", "sad", "positive")
    assert get_label_set(np.array(["neutral", "happy"])) == ("neutral", "happy")
    with pytest.raises(ValueError, match="names class 'happy' twice"):
        get_label_set(["happy", "happiness"])
    with pytest.raises(ValueError, match="at least one class"):
        get_label_set([])


def test_label_set_rejects_unknown_name_and_types():
    with pytest.raises(
        ValueError, match="Unknown label set 'sad9'; named sets are angry_happy_sad_neutral, "
    ):
        get_label_set("sad9")
    with pytest.raises(TypeError):
        get_label_set(True)
    with pytest.raises(TypeError):
        get_label_set(4.0)


def test_map_labels_restricts_to_a_set():
    y = [3, 0, "Surprised", 6, np.int64(4), "1"]
    mapped, kept = map_labels(y, "happy_sad_surprise_neutral", unknown="drop")
    assert mapped.tolist() == ["happy", "surprise", "neutral", "sad"]
    assert kept.tolist() == [True, False, True, True, True, False]
    with pytest.raises(
        ValueError,
        match=r"Label 0 at position 1 maps to 'angry', which is not in the label set \(happy, sad",
    ):
        map_labels(y, "happy_sad_surprise_neutral")


def test_map_labels_merges_with_mapping():
    y = np.array(["disgust", "angry", "happy", "fear", "contempt"])
    mapped, kept = map_labels(y, 5, {"disgust": "angry", "fear": "surprised", "contempt": "anger"})
    assert mapped.tolist() == ["angry", "angry", "happy", "surprise", "angry"]
    assert kept.all()


def test_map_labels_to_custom_classes():
    mapping = {"happy": "positive", "surprise": "positive", "sad": "negative", "angry": "negative"}
    mapped, kept = map_labels(
        [3, 4, 5, 0, 6], ["Positive", "negative"], mapping=mapping, unknown="drop"
    )
    assert mapped.tolist() == ["positive", "negative", "positive", "negative"]
    assert kept.tolist() == [True, True, True, True, False]


def test_map_labels_label_set_from_mapping():
    mapped, kept = map_labels([1, 0, 3], None, {"disgust": "angry", "happy": "happy"})
    assert mapped.tolist() == ["angry", "angry", "happy"]
    assert kept.all()
    with pytest.raises(ValueError, match="pass a mapping"):
        map_labels([1], None)


def test_map_labels_errors_name_the_position():
    with pytest.raises(ValueError, match=r"y\[2\]: Label 7 is not a FER2013 code"):
        map_labels([0, 1, 7], 7)
    with pytest.raises(TypeError, match=r"y\[1\]: Label 2.5"):
        map_labels(np.array([1, 2.5], dtype=object), 7)
    with pytest.raises(ValueError, match=r"y\[0\]: Label '  ' is empty"):
        map_labels(["  "], 7)
    with pytest.raises(ValueError, match=r"1-D, got an array of shape \(1, 2\)"):
        map_labels([[0, 1]], 7)
    with pytest.raises(ValueError, match="unknown must be one of"):
        map_labels([0], 7, unknown="ignore")


def test_mapping_conflicts_and_types():
    with pytest.raises(ValueError, match="both are the label 'happy'"):
        map_labels([3], 7, {"happy": "sad", "Happiness": "angry"})
    with pytest.raises(TypeError, match="mapping must be a dict"):
        map_labels([3], 7, [("happy", "sad")])


def test_map_labels_empty_input():
    mapped, kept = map_labels([], 7)
    assert mapped.shape == (0,)
    assert kept.shape == (0,)


@given(st.lists(st.integers(0, 6), max_size=30), st.sampled_from(sorted(LABEL_SETS)))
def test_codes_map_to_fer2013_names_and_drop_outside_the_set(codes, set_name):
    mapped, kept = map_labels(np.array(codes, dtype=np.int64), set_name, unknown="drop")
    names = [FER2013_EMOTIONS[code] for code in codes]
    classes = LABEL_SETS[set_name]
    assert kept.tolist() == [name in classes for name in names]
    assert mapped.tolist() == [name for name in names if name in classes]


def write_json(path, document):
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def test_load_label_mapping(tmp_path):
    path = write_json(tmp_path / "m.json", {"Disgusted": "anger", "2": "Surprised", "x": "y"})
    assert load_label_mapping(path) == {"disgust": "angry", "fear": "surprise", "x": "y"}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"happy": "sad",\n "sad" "x"}', r"invalid JSON at line 2, column 8"),
        ("[1, 2]", r"expected a JSON object .* got list"),
        ("{}", "the mapping is empty"),
        ('{"happy": 3}', r"the target of 'happy' must be a class name, got 3"),
        ('{"happy": "sad", "happy": "angry"}', r"key 'happy' appears twice"),
        (
            '{"happy": "sad", "Happiness": "angry"}',
            r"mapping sends 'happy' to 'sad' and 'Happiness' to 'angry', but both are the "
            r"label 'happy'",
        ),
        ('{"9": "sad"}', r"Label '9' is not a FER2013 code"),
    ],
)
def test_load_label_mapping_errors_name_the_file(tmp_path, document, message):
    path = write_json(tmp_path / "bad.json", document)
    with pytest.raises(ValueError, match=rf"bad\.json: {message}"):
        load_label_mapping(path)


def test_load_label_mapping_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"caf\xe9": "sad"}'.encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1\.json is not UTF-8 text"):
        load_label_mapping(path)


def test_load_label_mapping_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.json"):
        load_label_mapping(tmp_path / "absent.json")
