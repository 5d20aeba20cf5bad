"""FER2013 CSV loading and writing: both file variants, round trips and malformed rows."""

import os
import re
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fer_toolkit.datasets.fer2013 import FER2013_USAGES, load_fer2013, write_fer2013_csv
from fer_toolkit.datasets.labels import FER2013_EMOTIONS

HEADER = "emotion,pixels,Usage"


def pixel_text(values):
    return " ".join(str(v) for v in values)


def write_text(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def rows_csv(path, rows, header=HEADER):
    """Write ``(emotion, pixels, usage)`` rows of text in fer2013.csv order."""
    return write_text(path, [header, *(",".join(row) for row in rows)])


def image_rows(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 48, 48), dtype=np.uint8)


#: A valid pixel string: 0, 1, ..., 255, 0, 1, ...
GOOD = pixel_text(np.arange(2304) % 256)


# --------------------------------------------------------------------------- loading


def test_loads_fer2013_variant(tmp_path):
    images = image_rows(3)
    rows = [
        ("3", pixel_text(images[0].ravel()), "Training"),
        ("0", pixel_text(images[1].ravel()), "PublicTest"),
        ("6", pixel_text(images[2].ravel()), "PrivateTest"),
    ]
    data = load_fer2013(rows_csv(tmp_path / "fer2013.csv", rows))
    np.testing.assert_array_equal(data.images, images)
    assert data.images.dtype == np.uint8
    assert data.target.dtype == np.int64
    assert data.target.tolist() == [3, 0, 6]
    assert data.target_names == FER2013_EMOTIONS
    assert data.usage.tolist() == ["Training", "PublicTest", "PrivateTest"]
    assert data.filename == str(tmp_path / "fer2013.csv")


def test_loads_kaggle_icml_variant_with_spaced_header(tmp_path):
    images = image_rows(2, seed=1)
    lines = [
        "emotion, Usage, pixels",
        f"2,Training,{pixel_text(images[0].ravel())}",
        f'5,PrivateTest,"{pixel_text(images[1].ravel())}"',
    ]
    data = load_fer2013(write_text(tmp_path / "icml_face_data.csv", lines))
    np.testing.assert_array_equal(data.images, images)
    assert data.target.tolist() == [2, 5]
    assert data.usage.tolist() == ["Training", "PrivateTest"]


def test_columns_any_order_case_and_extra_columns(tmp_path):
    lines = ["id, PIXELS ,usage,Emotion", f"a,{GOOD},PublicTest,4", f"b,{GOOD},Training,1"]
    data = load_fer2013(write_text(tmp_path / "x.csv", lines))
    assert data.target.tolist() == [4, 1]
    assert data.usage.tolist() == ["PublicTest", "Training"]
    assert data.images[0, 0, :3].tolist() == [0, 1, 2]


def test_usage_selection(tmp_path):
    rows = [(str(i % 7), GOOD, FER2013_USAGES[i % 3]) for i in range(9)]
    path = rows_csv(tmp_path / "f.csv", rows)
    assert load_fer2013(path, usage="PublicTest").target.tolist() == [1, 4, 0]
    both = load_fer2013(path, usage=["Training", "PrivateTest"])
    assert both.usage.tolist() == ["Training", "PrivateTest"] * 3
    assert len(both.images) == 6


def test_usage_parameter_is_validated(tmp_path):
    path = rows_csv(tmp_path / "f.csv", [("0", GOOD, "Training")])
    with pytest.raises(ValueError, match=r"'Test'.*Training, PublicTest, PrivateTest"):
        load_fer2013(path, usage="Test")
    with pytest.raises(ValueError, match="empty"):
        load_fer2013(path, usage=[])
    with pytest.raises(ValueError, match=r"no rows with usage \['PrivateTest'\].*Training"):
        load_fer2013(path, usage="PrivateTest")


def test_file_without_usage_column(tmp_path):
    path = write_text(tmp_path / "train.csv", ["emotion,pixels", f"3,{GOOD}", f"4,{GOOD}"])
    data = load_fer2013(path)
    assert data.usage.tolist() == ["", ""]
    assert data.target.tolist() == [3, 4]
    with pytest.raises(ValueError, match=r"no Usage column.*usage=None"):
        load_fer2013(path, usage="Training")


def test_pixels_with_irregular_white_space_still_load(tmp_path):
    values = np.arange(2304) % 256
    messy = "  " + "\t".join(str(v) for v in values[:10]) + "  " + pixel_text(values[10:]) + " "
    path = rows_csv(tmp_path / "f.csv", [("1", messy, "Training"), ("2", GOOD, "Training")])
    data = load_fer2013(path)
    np.testing.assert_array_equal(data.images[0].ravel(), values)
    np.testing.assert_array_equal(data.images[1].ravel(), values)


def test_blank_lines_and_crlf_are_tolerated(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(f"{HEADER}\r\n0,{GOOD},Training\r\n\r\n6,{GOOD},Training\r\n".encode())
    assert load_fer2013(path).target.tolist() == [0, 6]


def test_many_rows_across_chunks(tmp_path):
    images = image_rows(1100, seed=3)
    labels = np.arange(1100) % 7
    path = tmp_path / "big.csv"
    write_fer2013_csv(path, images, labels)
    data = load_fer2013(path)
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.target, labels)


def test_error_in_second_chunk_names_its_line(tmp_path):
    path = tmp_path / "big.csv"
    write_fer2013_csv(path, image_rows(1100, seed=4), np.zeros(1100, dtype=int))
    lines = path.read_text().splitlines()
    lines[1051] = lines[1051].replace(",", ",300 ", 1)  # data row 1051 is line 1052
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"line 1052: has 2305 pixels, expected 2304"):
        load_fer2013(path)


# --------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        load_fer2013(tmp_path / "nope.csv")


def test_empty_file_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv is empty"):
        load_fer2013(empty)
    header_only = write_text(tmp_path / "header.csv", [HEADER])
    with pytest.raises(ValueError, match=r"header\.csv has a header .* but no data rows"):
        load_fer2013(header_only)


def test_missing_column_names_it_and_the_header(tmp_path):
    path = write_text(tmp_path / "test.csv", ["pixels,Usage", f"{GOOD},Training"])
    with pytest.raises(ValueError, match=r"test\.csv: missing column 'emotion'.*'pixels', 'Usage'"):
        load_fer2013(path)


def test_duplicate_column(tmp_path):
    path = write_text(tmp_path / "d.csv", ["emotion,pixels,Emotion", f"1,{GOOD},2"])
    with pytest.raises(ValueError, match="column 'Emotion' appears twice"):
        load_fer2013(path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("3", pixel_text(range(100)), "Training"), "has 100 pixels, expected 2304"),
        (("3", GOOD.rsplit(" ", 1)[0], "Training"), "has 2303 pixels, expected 2304"),
        (("3", GOOD + " 1", "Training"), "has 2305 pixels, expected 2304"),
        (("3", "", "Training"), "has 0 pixels, expected 2304"),
        (("3", "256 " + GOOD.split(" ", 1)[1], "Training"), "pixel 1 is '256'"),
        (("3", GOOD.replace(" 5 ", " 5.5 ", 1), "Training"), "pixel 6 is '5.5'"),
        (("3", GOOD.replace(" 5 ", " -5 ", 1), "Training"), "pixel 6 is '-5'"),
        (("3", GOOD.replace(" 5 ", " +5 ", 1), "Training"), "pixel 6 is '\\+5'"),
        (("3", GOOD.replace(" 5 ", " x ", 1), "Training"), "pixel 6 is 'x'"),
        (("7", GOOD, "Training"), "emotion '7' is not an integer code 0-6"),
        (("-1", GOOD, "Training"), "emotion '-1' is not an integer code 0-6"),
        (("happy", GOOD, "Training"), "emotion 'happy' is not an integer code 0-6"),
        (("2.0", GOOD, "Training"), "emotion '2.0' is not an integer code 0-6"),
        (("", GOOD, "Training"), "the emotion label is missing"),
        (("1", GOOD, "Train"), "usage 'Train' is not one of Training, PublicTest, PrivateTest"),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path, row, message):
    rows = [("0", GOOD, "Training"), ("1", GOOD, "PublicTest"), row, ("2", GOOD, "Training")]
    path = rows_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(ValueError, match=rf"bad\.csv, line 4: {message}"):
        load_fer2013(path)


def test_wrong_field_count(tmp_path):
    path = write_text(tmp_path / "f.csv", [HEADER, f"0,{GOOD},Training", f"1,{GOOD}"])
    with pytest.raises(ValueError, match=r"f\.csv, line 3: has 2 fields, expected 3"):
        load_fer2013(path)


def test_line_numbers_count_blank_lines(tmp_path):
    path = write_text(tmp_path / "f.csv", [HEADER, f"0,{GOOD},Training", "", f"9,{GOOD},Training"])
    with pytest.raises(ValueError, match="line 4: emotion '9'"):
        load_fer2013(path)


def test_non_text_file(tmp_path):
    path = tmp_path / "image.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ValueError, match=r"image\.csv is not a UTF-8 text"):
        load_fer2013(path)


def test_unterminated_quote_is_reported(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text(f'{HEADER}\n0,"{GOOD},Training\n' + "1,2,3\n" * 3)
    with pytest.raises(ValueError, match=r"q\.csv, line 2: .*line 5: is a quote left open"):
        load_fer2013(path)


def test_only_selected_rows_have_their_pixels_parsed(tmp_path):
    path = rows_csv(tmp_path / "f.csv", [("0", GOOD, "Training"), ("1", "1 2 3", "PublicTest")])
    assert load_fer2013(path, usage="Training").target.tolist() == [0]
    with pytest.raises(ValueError, match="line 3: has 3 pixels"):
        load_fer2013(path)


# --------------------------------------------------------------------------- writing


def test_writer_headers_and_row_layout(tmp_path):
    images = np.zeros((1, 48, 48), dtype=np.uint8)
    images[0, 0, :3] = [255, 10, 7]
    write_fer2013_csv(tmp_path / "a.csv", images, ["fear"], usage="PublicTest")
    header, row = (tmp_path / "a.csv").read_text().splitlines()
    assert header == "emotion,pixels,Usage"
    assert row.startswith("2,255 10 7 0 0 ")
    assert row.endswith(" 0 0,PublicTest")
    write_fer2013_csv(tmp_path / "b.csv", images, [2], variant="icml")
    header, row = (tmp_path / "b.csv").read_text().splitlines()
    assert header == "emotion, Usage, pixels"
    assert row.startswith("2,Training,255 10 7 0 ")
    assert not row.endswith(" ")


def test_writer_accepts_names_aliases_and_numpy_codes(tmp_path):
    path = tmp_path / "f.csv"
    write_fer2013_csv(path, image_rows(4), ["Happiness", "angry", "6", np.int64(5)])
    assert load_fer2013(path).target.tolist() == [3, 0, 6, 5]
    write_fer2013_csv(path, image_rows(2), np.array([1, 4], dtype=np.uint8))
    assert load_fer2013(path).target.tolist() == [1, 4]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"images": np.zeros((2, 48, 48))}, TypeError, "uint8.*float64"),
        ({"images": np.zeros((2, 48, 48, 1), np.uint8)}, ValueError, r"\(2, 48, 48, 1\)"),
        ({"images": np.zeros((2, 32, 32), np.uint8)}, ValueError, r"\(2, 32, 32\).*48x48"),
        ({"images": np.zeros((48, 48), np.uint8)}, ValueError, r"shape \(48, 48\)"),
        ({"images": np.zeros((0, 48, 48), np.uint8), "labels": []}, ValueError, "empty"),
        ({"labels": [0]}, ValueError, r"labels has shape \(1,\); expected \(2,\)"),
        ({"labels": [0, "contempt"]}, ValueError, r"labels\[1\] is 'contempt'.*not a FER2013"),
        ({"labels": [0, 7]}, ValueError, r"labels\[1\].*codes are 0-6"),
        ({"labels": [0, "bored"]}, ValueError, r"labels\[1\] is 'bored'"),
        ({"labels": [0.0, 1.0]}, TypeError, r"labels\[0\]"),
        ({"usage": "Validation"}, ValueError, r"usage\[0\] is 'Validation'"),
        ({"usage": ["Training"]}, ValueError, "usage has 1 entries but there are 2 images"),
        ({"usage": ["Training", "Test"]}, ValueError, r"usage\[1\] is 'Test'"),
        ({"variant": "kaggle"}, ValueError, "variant must be one of"),
    ],
)
def test_writer_rejects_bad_input_and_leaves_existing_file(tmp_path, kwargs, error, message):
    path = tmp_path / "keep.csv"
    path.write_text("previous content")
    arguments = {"images": np.zeros((2, 48, 48), np.uint8), "labels": [0, 1], **kwargs}
    with pytest.raises(error, match=message):
        write_fer2013_csv(path, **arguments)
    assert path.read_text() == "previous content"
    assert os.listdir(tmp_path) == ["keep.csv"]


label_values = st.one_of(
    st.integers(0, 6),
    st.sampled_from(FER2013_EMOTIONS),
    st.sampled_from(["Happiness", "SAD", "surprised", "fearful", "anger", "disgusted"]),
)


@st.composite
def fer_datasets(draw):
    n = draw(st.integers(1, 5))
    images = draw(arrays(np.uint8, (n, 48, 48), elements=st.integers(0, 255)))
    labels = draw(st.lists(label_values, min_size=n, max_size=n))
    usage = draw(
        st.one_of(
            st.sampled_from(FER2013_USAGES),
            st.lists(st.sampled_from(FER2013_USAGES), min_size=n, max_size=n),
        )
    )
    return images, labels, usage


@settings(max_examples=40, deadline=None)
@given(data=fer_datasets(), variant=st.sampled_from(["fer2013", "icml"]))
def test_round_trip_is_exact(data, variant):
    images, labels, usage = data
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "out.csv")
        write_fer2013_csv(path, images, labels, usage=usage, variant=variant)
        loaded = load_fer2013(path)
    np.testing.assert_array_equal(loaded.images, images)
    expected = [
        label if isinstance(label, int) else FER2013_EMOTIONS.index(_canonical(label))
        for label in labels
    ]
    assert loaded.target.tolist() == expected
    expected_usage = [usage] * len(images) if isinstance(usage, str) else usage
    assert loaded.usage.tolist() == expected_usage


def _canonical(name):
    aliases = {
        "happiness": "happy",
        "surprised": "surprise",
        "fearful": "fear",
        "anger": "angry",
        "disgusted": "disgust",
    }
    return aliases.get(name.lower(), name.lower())


def _corrupt(line, kind, variant):
    """Corrupt one data line of a file written by write_fer2013_csv."""
    fields = line.split(",")
    pixels_at = 1 if variant == "fer2013" else 2
    pixels = fields[pixels_at].split(" ")
    if kind == "truncate":
        fields[pixels_at] = " ".join(pixels[:-1])
        return ",".join(fields), "has 2303 pixels, expected 2304"
    if kind == "big_pixel":
        pixels[100] = "1000"
        fields[pixels_at] = " ".join(pixels)
        return ",".join(fields), "pixel 101 is '1000'"
    if kind == "label_text":
        fields[0] = "x"
        return ",".join(fields), "emotion 'x' is not an integer code"
    if kind == "label_range":
        fields[0] = "8"
        return ",".join(fields), "emotion '8' is not an integer code"
    del fields[-1]
    return ",".join(fields), "has 2 fields, expected 3"


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 6),
    bad=st.integers(0, 5),
    kind=st.sampled_from(["truncate", "big_pixel", "label_text", "label_range", "drop_field"]),
    variant=st.sampled_from(["fer2013", "icml"]),
)
def test_corrupted_row_is_rejected_naming_its_line(n, bad, kind, variant):
    bad = bad % n
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "data.csv")
        write_fer2013_csv(path, image_rows(n), [i % 7 for i in range(n)], variant=variant)
        with open(path) as f:
            lines = f.read().splitlines()
        lines[bad + 1], message = _corrupt(lines[bad + 1], kind, variant)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        with pytest.raises(ValueError) as info:
            load_fer2013(path)
    assert f"{path}, line {bad + 2}: " in str(info.value)
    assert re.search(message, str(info.value))
