"""Fuzzing every parser of user files: only documented errors, naming the file, come out.

Each parser gets random bytes and mutations of a valid file (bytes inserted,
deleted or replaced, numbers swapped for huge, negative or non-finite ones,
markup spliced in). It may accept the input or raise the project's
:class:`~fer_toolkit.utils.validation.InputError` (a ``ValueError``, which the
command line prints as one line) whose message names the file; anything else
(a plain ``ValueError``, ``OverflowError``, ``IndexError``, ``KeyError``, a hang
on entity expansion) is a bug. The budget is fixed so the
suite costs the same on every run.
"""

import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fer_toolkit.cascade import (
    Cascade,
    Stage,
    StageParams,
    WeakTree,
    haar_features,
    lbp_features,
    read_bg,
    read_cascade,
    read_info,
    read_params,
    read_stage,
    read_vec,
    vec_count,
    write_cascade,
    write_params,
    write_stage,
    write_vec,
)
from fer_toolkit.cascade.model import CascadeParams
from fer_toolkit.datasets import load_fer2013, write_fer2013_csv
from fer_toolkit.utils.validation import InputError

BUDGET = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Pieces a hostile or broken file might contain.
TOKENS = [
    b"99999",
    b"12345678901234567890",
    b"-1",
    b"-2147483649",
    b"nan",
    b"inf",
    b"1e999",
    b"0x10",
    b"1_0",
    b"\xff\xfe",
    b"\x00",
    b" ",
    b"\n",
    b"\t",
    b'"',
    b"#",
    b",",
    b"<_>",
    b"</_>",
    b"<stages>",
    b"<features>",
    b'<!DOCTYPE a [<!ENTITY e "x">]>',
    b"&e;",
    b"&amp;",
    b"<![CDATA[1]]>",
]


#: Numbers a file might hold instead of the expected ones.
NUMBERS = [
    b"99999",
    b"12345678901234567890",
    b"-12345678901234567890",
    b"2147483648",
    b"-1",
    b"0",
    b"nan",
    b"-inf",
    b"1e999",
    b"1.5",
    b"1_0",
    b"0x1F",
    b"\xd9\xa3",  # an Arabic-Indic digit: int() takes it, OpenCV does not
]


@st.composite
def mutations(draw, seed: bytes):
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        operation = draw(
            st.sampled_from(["insert", "delete", "replace", "token", "truncate", "number"])
        )
        if operation == "number":
            # Swap one number of the file for a hostile one, keeping the rest intact.
            numbers = list(re.finditer(rb"[-+]?[0-9][0-9.eE+-]*", bytes(data)))
            if numbers:
                found = draw(st.sampled_from(numbers))
                data[found.start() : found.end()] = draw(st.sampled_from(NUMBERS))
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=6))
        elif operation == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        elif operation == "replace" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif operation == "token":
            end = position + draw(st.integers(0, 8))
            data[position:end] = draw(st.sampled_from(TOKENS))
        elif operation == "truncate":
            del data[position:]
    return bytes(data)


def inputs(seed: bytes):
    return st.one_of(st.binary(max_size=256), mutations(seed))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def check(parser, path, data):
    """Run ``parser(path)`` on ``data``: fine, or an InputError naming the file."""
    path.write_bytes(data)
    try:
        parser(path)
    except ValueError as exc:
        assert isinstance(exc, InputError), repr(exc)
        assert os.fspath(path) in str(exc) or path.name in str(exc), repr(exc)


# --------------------------------------------------------------------------- .vec
@pytest.fixture(scope="module")
def vec_seed(folder):
    path = folder / "seed.vec"
    write_vec(path, np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 5, 4))
    return path.read_bytes()


@BUDGET
@given(data=st.data())
def test_vec_files(folder, vec_seed, data):
    blob = data.draw(inputs(vec_seed))
    check(lambda p: read_vec(p, width=4, height=5), folder / "samples.vec", blob)
    check(vec_count, folder / "samples.vec", blob)


def test_a_text_file_is_not_a_vec_file(tmp_path):
    path = tmp_path / "info.vec"
    path.write_text("img/face.png 1 0 0 24 24\n")
    with pytest.raises(ValueError, match=r"info\.vec' is not a \.vec file: it starts with text"):
        read_vec(path)


# ------------------------------------------------------------- info.lst and bg.txt
INFO_SEED = b'faces/a.png 1 0 0 24 24\n# comment\n"faces/b c.png" 2 1 1 10 10 5 5 8 8\n\nd.png 0\n'
BG_SEED = b"bg/one.jpg\n  bg/two words.png  \n# comment\n\nthree.bmp\n"


@BUDGET
@given(blob=inputs(INFO_SEED))
def test_info_lists(folder, blob):
    check(lambda p: read_info(p, check_images=False), folder / "info.lst", blob)


@BUDGET
@given(blob=inputs(BG_SEED))
def test_background_lists(folder, blob):
    check(lambda p: read_bg(p, check_images=False), folder / "bg.txt", blob)


# ------------------------------------------------------------------ cascade XML
@pytest.fixture(scope="module")
def xml_seeds(folder):
    haar = Cascade(
        width=12,
        height=12,
        feature_type="HAAR",
        mode="BASIC",
        stage_params=StageParams(),
        stages=[
            Stage(-0.5, [WeakTree.stump(5, 0.01, -1.0, 1.0), WeakTree.stump(9, 0.2, -0.5, 0.5)])
        ],
        features=haar_features(12, 12),
    )
    lbp_tree = WeakTree(nodes=[[0, -1, 3, *range(-4, 4)]], leaf_values=[-1.0, 1.0])
    lbp = Cascade(
        width=12,
        height=12,
        feature_type="LBP",
        mode=None,
        stage_params=StageParams(),
        stages=[Stage(-0.5, [lbp_tree])],
        features=lbp_features(12, 12),
    )
    seeds = {}
    for name, cascade in (("haar", haar), ("lbp", lbp)):
        path = folder / f"{name}.xml"
        write_cascade(cascade, path)
        seeds[name] = path.read_bytes()
    write_params(CascadeParams(width=24, height=24, mode="BASIC"), folder / "params.xml")
    write_stage(haar.stages[0], folder / "stage0.xml")
    seeds["params"] = (folder / "params.xml").read_bytes()
    seeds["stage"] = (folder / "stage0.xml").read_bytes()
    return seeds


@BUDGET
@given(data=st.data())
def test_haar_cascade_xml(folder, xml_seeds, data):
    check(read_cascade, folder / "cascade.xml", data.draw(inputs(xml_seeds["haar"])))


@BUDGET
@given(data=st.data())
def test_lbp_cascade_xml(folder, xml_seeds, data):
    # The LBP nodes' subset words are integers: a 20-digit one overflowed on main.
    check(read_cascade, folder / "lbp.xml", data.draw(inputs(xml_seeds["lbp"])))


@BUDGET
@given(data=st.data())
def test_params_and_stage_xml(folder, xml_seeds, data):
    check(read_params, folder / "params.xml", data.draw(inputs(xml_seeds["params"])))
    check(read_stage, folder / "stage1.xml", data.draw(inputs(xml_seeds["stage"])))


# --------------------------------------------------------------------- FER2013
@pytest.fixture(scope="module")
def fer_seed(folder):
    path = folder / "seed.csv"
    images = np.arange(3 * 48 * 48, dtype=np.uint64).reshape(3, 48, 48).astype(np.uint8)
    write_fer2013_csv(path, images, ["happy", "sad", "angry"], usage="Training")
    return path.read_bytes()


@BUDGET
@given(data=st.data())
def test_fer2013_csv(folder, fer_seed, data):
    check(load_fer2013, folder / "fer2013.csv", data.draw(inputs(fer_seed)))
