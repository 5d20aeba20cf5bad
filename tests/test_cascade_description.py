"""Positive description files and background lists: parsing, validation, round trips."""

import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fer_toolkit.cascade import Positive, read_bg, read_info, write_bg, write_info

_FIXTURE_OK = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def folder(tmp_path):
    """A list folder with two real images: img/a.png (60x40) and img/b.jpg (30x30)."""
    (tmp_path / "img").mkdir()
    rng = np.random.default_rng(0)
    assert cv2.imwrite(str(tmp_path / "img" / "a.png"), rng.integers(0, 256, (40, 60), np.uint8))
    assert cv2.imwrite(str(tmp_path / "img" / "b.jpg"), rng.integers(0, 256, (30, 30), np.uint8))
    return tmp_path


def _write(path, text, mode="w"):
    with open(path, mode, **({} if "b" in mode else {"newline": ""})) as f:
        f.write(text)
    return path


def test_read_info_resolves_paths_against_the_list_folder(folder, monkeypatch):
    info = _write(folder / "info.lst", "img/a.png 1 1 2 30 20\n")
    elsewhere = folder / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (entry,) = read_info(info)
    assert entry.path == folder / "img" / "a.png"
    assert entry.boxes.tolist() == [[1, 2, 30, 20]]
    assert entry.line == 1
    # A relative list path works from its own folder too.
    monkeypatch.chdir(folder)
    assert read_info("info.lst")[0].path == Path("img/a.png")


def test_read_info_tolerates_any_whitespace(folder):
    text = (
        "\ufeff# positives\r\n"
        "\r\n"
        "  img/a.png\t2   0 0 10 10\t20 5 40 35  \r\n"
        "img/b.jpg 0\r\n"
        "   \r\n"
        "img/b.jpg 1 0 0 30 30"
    )
    entries = read_info(_write(folder / "info.lst", text))
    assert [e.line for e in entries] == [3, 4, 6]
    assert entries[0].boxes.tolist() == [[0, 0, 10, 10], [20, 5, 40, 35]]
    assert entries[1].boxes.shape == (0, 4)
    assert entries[2].path.name == "b.jpg"


def test_quoted_path_with_spaces(tmp_path):
    (tmp_path / "my photos").mkdir()
    image = tmp_path / "my photos" / "a b.png"
    assert cv2.imwrite(str(image), np.zeros((20, 30), np.uint8))
    info = tmp_path / "info.lst"
    write_info(info, [Positive(image, [[0, 0, 30, 20]])])
    assert info.read_text() == '"my photos/a b.png" 1 0 0 30 20\n'
    (entry,) = read_info(info)
    assert entry.path == image and entry.boxes.tolist() == [[0, 0, 30, 20]]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("img/a.png", "image 'img/a.png' has no object count after it"),
        ("img/a.png 1 0 0 10", r"the object count is 1, so 4 numbers .* but 3 do"),
        ("img/a.png 2 0 0 10 10", r"the object count is 2, so 8 numbers .* but 4 do"),
        ("img/a.png 0 0 0 10 10", r"the object count is 0, so 0 numbers .* but 4 do"),
        ("img/a.png x 0 0 10 10", "object count 'x' is not a non-negative integer"),
        ("img/a.png 1 0 0 10.5 10", "box 1 width '10.5' is not a non-negative integer"),
        ("img/a.png 1 -3 0 10 10", "box 1 x '-3' is not a non-negative integer"),
        ("img/a.png 2 0 0 5 5 0 0 10 1e3", "box 2 height '1e3' is not a non-negative integer"),
        ("img/a.png 1 0 0 0 10", r"box 1 \(0, 0, 0, 10\) has a zero or negative width"),
        ("img/a.png 1 0 0 99999999999999999999 1", "box 1 width 9+ is too large"),
        ("img/missing.png 1 0 0 10 10", "image file '.*missing.png' does not exist"),
        (
            "img/a.png 1 50 0 20 20",
            r"box 1 \(x=50, y=0, w=20, h=20\) reaches outside image "
            r"'img/a.png' of size 60x40",
        ),
        ("img/a.png 2 0 0 5 5 0 30 5 11", r"box 2 .* reaches outside image"),
        ('"img/a.png 1 0 0 10 10', "the quoted path has no closing quote"),
        ("img/notimage.png 1 0 0 1 1", r"cannot decode image file '.*notimage.png'"),
    ],
)
def test_read_info_errors_name_file_and_line(folder, line, message):
    _write(folder / "img" / "notimage.png", "not an image")
    info = _write(folder / "info.lst", f"img/b.jpg 1 0 0 30 30\n{line}\nimg/b.jpg 1 0 0 1 1\n")
    with pytest.raises(ValueError, match=re.escape(f"{info}, line 2: ") + message):
        read_info(info)


def test_check_images_false_skips_image_checks(folder):
    info = _write(folder / "info.lst", "img/missing.png 1 0 0 10 10\nimg/a.png 1 50 0 20 20\n")
    entries = read_info(info, check_images=False)
    assert [e.path.name for e in entries] == ["missing.png", "a.png"]


def test_each_image_is_decoded_once(folder, monkeypatch):
    import fer_toolkit.cascade.description as description

    calls = []
    real = description._read_gray
    monkeypatch.setattr(description, "_read_gray", lambda p, w: calls.append(p) or real(p, w))
    read_info(_write(folder / "info.lst", "img/a.png 1 0 0 5 5\n" * 4))
    assert len(calls) == 1


def test_empty_missing_and_undecodable_list_files(folder):
    with pytest.raises(ValueError, match="lists no images"):
        read_info(_write(folder / "empty.lst", "\n# only a comment\n  \n"))
    with pytest.raises(FileNotFoundError, match=r"nope\.lst"):
        read_info(folder / "nope.lst")
    bad = _write(folder / "latin1.lst", b"img/a.png 1 0 0 5 5\nimg/\xe9.png 1 0 0 5 5\n", "wb")
    with pytest.raises(ValueError, match=re.escape(f"{bad}, line 2: not valid UTF-8")):
        read_info(bad)


def test_positive_validates_and_compares():
    assert Positive("a.png", [1, 2, 3, 4]) == Positive(Path("a.png"), [[1, 2, 3, 4]], line=9)
    assert Positive("a.png", [1, 2, 3, 4]) != Positive("a.png", [1, 2, 3, 5])
    assert Positive("a.png", []).boxes.shape == (0, 4)
    with pytest.raises(ValueError, match=r"Positive\('a.png'\): boxes must be integers"):
        Positive("a.png", [1.5, 2, 3, 4])
    with pytest.raises(ValueError, match=r"shape \(k, 4\); got int64 values of shape \(1, 3\)"):
        Positive("a.png", [[1, 2, 3]])
    with pytest.raises(ValueError, match=r"box 1 .* negative x or y"):
        Positive("a.png", [-1, 2, 3, 4])


def test_write_info_relative_and_absolute(folder):
    entries = [
        Positive(folder / "img" / "a.png", [[0, 0, 10, 10], [5, 5, 20, 20]]),
        (folder / "img" / "b.jpg", np.zeros((0, 4), int)),
    ]
    info = folder / "lists" / "info.lst"
    write_info(info, entries)
    assert info.read_text() == "../img/a.png 2 0 0 10 10 5 5 20 20\n../img/b.jpg 0\n"
    assert read_info(info)[0].boxes.tolist() == [[0, 0, 10, 10], [5, 5, 20, 20]]
    write_info(info, entries, absolute=True)
    assert info.read_text().startswith(f"{(folder / 'img' / 'a.png').as_posix()} 2 ")
    with pytest.raises(ValueError, match="at least one entry"):
        write_info(info, [])
    with pytest.raises(ValueError, match="contains a quote"):
        write_info(info, [(folder / 'say "cheese".png', [0, 0, 1, 1])])


_SEGMENT = st.text("abcXYZ09_-. ", min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
_BOXES = st.lists(
    st.tuples(
        st.integers(0, 10**5), st.integers(0, 10**5), st.integers(1, 10**4), st.integers(1, 10**4)
    ),
    max_size=4,
)


@_FIXTURE_OK
@given(
    entries=st.lists(
        st.tuples(st.lists(_SEGMENT, min_size=1, max_size=3), _BOXES), min_size=1, max_size=5
    ),
    subfolder=st.sampled_from(["", "lists", "a/b"]),
)
def test_info_round_trip(tmp_path, entries, subfolder):
    positives = [Positive(tmp_path.joinpath("img", *parts), boxes) for parts, boxes in entries]
    info = tmp_path / subfolder / "info.lst"
    write_info(info, positives)
    back = read_info(info, check_images=False)
    assert [os.path.normpath(e.path) for e in back] == [os.path.normpath(p.path) for p in positives]
    for got, want in zip(back, positives, strict=True):
        np.testing.assert_array_equal(got.boxes, want.boxes)
    assert [e.line for e in back] == list(range(1, len(positives) + 1))


_LINE = st.lists(
    st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(1, 99), st.integers(1, 99)),
    min_size=1,
    max_size=3,
)


@_FIXTURE_OK
@given(boxes=_LINE, data=st.data())
def test_dropping_or_adding_a_number_is_rejected(tmp_path, boxes, data):
    numbers = [str(len(boxes))] + [str(v) for box in boxes for v in box]
    if data.draw(st.booleans(), label="drop"):
        del numbers[data.draw(st.integers(0, len(numbers) - 1), label="index")]
    else:
        numbers.insert(data.draw(st.integers(0, len(numbers)), label="index"), "7")
    info = _write(tmp_path / "info.lst", f"a.png 1 0 0 5 5\nb.png {' '.join(numbers)}\n")
    with pytest.raises(ValueError, match=re.escape(f"{info}, line 2: the object count is")):
        read_info(info, check_images=False)


@_FIXTURE_OK
@given(
    boxes=_LINE,
    data=st.data(),
    garbage=st.text(min_size=1, max_size=5).filter(
        lambda s: not s.isspace() and not any(c.isspace() for c in s) and not s.isdecimal()
    ),
)
def test_non_integer_field_is_rejected(tmp_path, boxes, data, garbage):
    numbers = [str(len(boxes))] + [str(v) for box in boxes for v in box]
    numbers[data.draw(st.integers(0, len(numbers) - 1), label="index")] = garbage
    info = _write(tmp_path / "info.lst", f"b.png {' '.join(numbers)}\n", "w")
    with pytest.raises(ValueError, match=re.escape(f"{info}, line 1: ")) as raised:
        read_info(info, check_images=False)
    assert "is not a non-negative integer" in str(raised.value)


# --------------------------------------------------------------------------- backgrounds


def test_read_bg_skips_blanks_and_comments(folder, monkeypatch):
    bg = _write(folder / "bg.txt", "# negatives\r\n  img/a.png  \r\n\r\n\timg/b.jpg\n\n# end\n")
    monkeypatch.chdir(folder / "img")
    assert read_bg(bg) == [folder / "img" / "a.png", folder / "img" / "b.jpg"]


def test_read_bg_path_with_spaces_and_cwd_fallback(folder, monkeypatch):
    (folder / "neg dir").mkdir()
    assert cv2.imwrite(str(folder / "neg dir" / "c.png"), np.zeros((8, 8), np.uint8))
    (folder / "lists").mkdir()
    bg = _write(folder / "lists" / "bg.txt", "../neg dir/c.png\nimg/a.png\n")
    monkeypatch.chdir(folder)  # img/a.png exists only relative to the current directory
    assert read_bg(bg) == [folder / "lists" / ".." / "neg dir" / "c.png", Path("img/a.png")]


def test_read_bg_errors(folder):
    bg = _write(folder / "bg.txt", "img/a.png\nimg/gone.png\n")
    with pytest.raises(ValueError, match=re.escape(f"{bg}, line 2: background image 'img/gone")):
        read_bg(bg)
    assert len(read_bg(bg, check_images=False)) == 2
    with pytest.raises(ValueError, match="lists no images"):
        read_bg(_write(folder / "empty.txt", "# nothing\n\n"))
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        read_bg(folder / "nope.txt")


def test_write_bg(folder):
    bg = folder / "lists" / "bg.txt"
    write_bg(bg, [folder / "img" / "a.png", folder / "img" / "b.jpg"])
    assert bg.read_text() == "../img/a.png\n../img/b.jpg\n"
    assert read_bg(bg) == [folder / "lists" / ".." / "img" / n for n in ("a.png", "b.jpg")]
    write_bg(bg, [folder / "img" / "a.png"], absolute=True)
    assert bg.read_text() == f"{(folder / 'img' / 'a.png').as_posix()}\n"
    with pytest.raises(TypeError, match="single path"):
        write_bg(bg, "img/a.png")
    with pytest.raises(ValueError, match="at least one path"):
        write_bg(bg, [])
    with pytest.raises(ValueError, match="whitespace at its start or end"):
        write_bg(bg, [folder / "lists" / " a.png"])


@_FIXTURE_OK
@given(
    paths=st.lists(
        st.lists(_SEGMENT.filter(lambda s: s == s.strip()), min_size=1, max_size=3),
        min_size=1,
        max_size=5,
    )
)
def test_bg_round_trip(tmp_path, paths):
    images = [tmp_path.joinpath("neg", *parts) for parts in paths]
    bg = tmp_path / "bg.txt"
    write_bg(bg, images)
    back = read_bg(bg, check_images=False)
    assert [os.path.normpath(p) for p in back] == [os.path.normpath(p) for p in images]


def test_images_are_read_as_read_image_reads_them(tmp_path):
    """The cascade tools share read_image's decoder: a truncated JPEG is refused, named."""
    from fer_toolkit.cascade.description import _read_gray

    _, encoded = cv2.imencode(".jpg", np.full((20, 20), 128, np.uint8))
    path = tmp_path / "cut.jpg"
    path.write_bytes(encoded.tobytes()[:-2])  # no end-of-image marker
    with pytest.raises(
        ValueError, match=r"info\.dat line 1: image file '.*cut\.jpg' is a truncated"
    ):
        _read_gray(path, "info.dat line 1")
    (tmp_path / "whole.jpg").write_bytes(encoded.tobytes())
    assert _read_gray(tmp_path / "whole.jpg", "x").shape == (20, 20)
