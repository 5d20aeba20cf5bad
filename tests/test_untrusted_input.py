"""Untrusted input: model folders, weights, backbones and cascade XML never run code or crash.

Each crafted file here is one a stranger could hand over. Loading it must either
work or fail with one line naming the file (and the entry at fault), never run a
pickled payload, never hang on entity expansion and never reach OpenCV unchecked.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data
import torch
from click.testing import CliRunner

from fer_toolkit.cascade import (
    Cascade,
    Stage,
    StageParams,
    WeakTree,
    haar_features,
    read_cascade,
    read_params,
    train_cascade,
    write_cascade,
    write_vec,
)
from fer_toolkit.cli import main
from fer_toolkit.cli._data import LabelSet
from fer_toolkit.cli._model import (
    PARAMS_NAME,
    SPEC_NAME,
    PipelineSpec,
    build_pipeline,
    load_model,
    save_model,
)
from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.detection import HaarCascadeDetector
from fer_toolkit.estimators import load_backbone
from fer_toolkit.preprocessing import HaarFaceCropper
from fer_toolkit.utils.validation import InputError


class Payload:
    """Unpickling this creates the file ``marker``: the proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def invoke(*args):
    return CliRunner().invoke(main, [*map(str, args)])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    faces = make_synthetic_faces(70, classes=["happy", "sad"], random_state=0)
    spec = PipelineSpec(params={"max_epochs": 1, "module__width": 4, "batch_size": 16})
    labels = np.asarray(faces.target_names)[faces.target]
    pipeline = build_pipeline(spec, device="cpu").fit(faces.images, labels)
    out = tmp_path_factory.mktemp("model")
    save_model(out, pipeline, spec, LabelSet())
    return out


def tampered(model_dir, tmp_path, edit=None, weights=None):
    """A copy of ``model_dir`` with model.json edited and/or other weights."""
    folder = tmp_path / "shared_model"
    shutil.copytree(model_dir, folder)
    document = json.loads((folder / SPEC_NAME).read_text())
    if edit is not None:
        edit(document)
    (folder / SPEC_NAME).write_text(json.dumps(document))
    if callable(weights):
        weights(folder / PARAMS_NAME)
    elif weights is not None:
        (folder / PARAMS_NAME).write_bytes(weights)
    return folder


def test_the_untouched_folder_loads_and_predicts(model_dir):
    model = load_model(model_dir, device="cpu")
    faces = make_synthetic_faces(4, classes=["happy", "sad"], random_state=1)
    assert set(model.pipeline.predict(faces.images)) <= {"happy", "sad"}


def test_torch_load_kwargs_in_model_json_runs_nothing(model_dir, tmp_path):
    # The hole of issue 12: skorch passed this to torch.load, which then unpickled.
    marker = tmp_path / "payload_ran"
    folder = tampered(
        model_dir,
        tmp_path,
        edit=lambda d: d["pipeline"]["params"].update(torch_load_kwargs={"weights_only": False}),
        weights=lambda path: torch.save({"x": Payload(marker)}, path),
    )
    with pytest.raises(InputError, match=r"model\.json: parameter 'torch_load_kwargs' cannot"):
        load_model(folder, device="cpu")
    result = invoke("evaluate", folder, "--data", "synthetic:40", "--out", tmp_path / "ev")
    assert result.exit_code == 1
    assert "model.json: parameter 'torch_load_kwargs' cannot be set" in result.output
    assert "Traceback" not in result.output
    assert not marker.exists()


@pytest.mark.parametrize(
    "key, value",
    [
        ("cnn__torch_load_kwargs", {"weights_only": False}),
        ("callbacks__print_log__sink", "print"),
        ("predict_nonlinearity", "auto"),
        ("iterator_train__collate_fn", "os.system"),
        ("compile__backend", "inductor"),
        ("dataset", "x"),
    ],
)
def test_only_allowed_parameters_load(model_dir, tmp_path, key, value):
    folder = tampered(
        model_dir, tmp_path, edit=lambda d: d["pipeline"]["params"].update({key: value})
    )
    with pytest.raises(InputError, match=rf"{SPEC_NAME}: parameter '{key}' cannot be set"):
        load_model(folder, device="cpu")


def test_a_pickle_payload_in_the_weights_is_one_line_and_never_runs(model_dir, tmp_path):
    marker = tmp_path / "payload_ran"
    folder = tampered(
        model_dir, tmp_path, weights=lambda path: torch.save({"x": Payload(marker)}, path)
    )
    result = invoke("evaluate", folder, "--data", "synthetic:40", "--out", tmp_path / "ev")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert f"{PARAMS_NAME}: not a plain weights file: it holds pickled objects" in result.output
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the weights file is empty"),
        (b"hello world, not weights\n", "not a weights file"),
        (b"not a checkpoint", "not a weights file: not a PyTorch save file"),
    ],
)
def test_weights_that_are_not_weights_are_named(model_dir, tmp_path, content, message):
    folder = tampered(model_dir, tmp_path, weights=content)
    result = invoke("evaluate", folder, "--data", "synthetic:40", "--out", tmp_path / "ev")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert f"{folder / PARAMS_NAME}: {message}" in result.output
    assert "Aborted" not in result.output


def test_weights_holding_something_else_than_tensors(model_dir, tmp_path):
    folder = tampered(model_dir, tmp_path, weights=lambda p: torch.save([1, 2], p))
    with pytest.raises(InputError, match=r"model_params\.pt: not a network's weights"):
        load_model(folder, device="cpu")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(classes=5), "entry 'classes' must be a list"),
        (lambda d: d.update(classes=["a", "a"]), "entry 'classes' must be a list"),
        (lambda d: d.update(input_shape=[1, 100000, 100000]), "entry 'input_shape' must be"),
        (lambda d: d.update(input_shape="big"), "entry 'input_shape' must be"),
        (lambda d: d["labels"].update(mapping=[1]), "entry 'labels' must hold"),
        (lambda d: d.pop("classes"), "missing or malformed entry 'classes'"),
        (lambda d: d["pipeline"]["params"].update(module__width=1.5), "width must be an int"),
        (lambda d: d["pipeline"].update(model="resnet"), "cannot build its network"),
        (lambda d: d["pipeline"].update(size=[0, 5]), "size must be a positive int"),
    ],
)
def test_a_tampered_model_json_names_itself(model_dir, tmp_path, edit, message):
    folder = tampered(model_dir, tmp_path, edit=edit)
    result = invoke("evaluate", folder, "--data", "synthetic:40", "--out", tmp_path / "ev")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert f"{folder / SPEC_NAME}: " in result.output
    assert message in result.output


def test_a_model_json_that_is_not_utf8(model_dir, tmp_path):
    folder = tampered(model_dir, tmp_path)
    (folder / SPEC_NAME).write_bytes(b'{"format": "\xff\xfe"}')
    with pytest.raises(InputError, match=r"model\.json is not UTF-8 text"):
        load_model(folder, device="cpu")


def test_the_pickle_is_loaded_only_when_allowed(model_dir, tmp_path):
    marker = tmp_path / "payload_ran"
    folder = tampered(model_dir, tmp_path)
    import joblib

    joblib.dump(Payload(marker), folder / "model.joblib")
    load_model(folder, device="cpu")
    assert not marker.exists()
    with pytest.raises(InputError, match=r"model\.joblib: holds a TextIOWrapper"):
        load_model(folder, allow_pickle=True)
    assert marker.exists()  # the documented risk of the opt-in


def test_the_pickle_opt_in_loads_the_fitted_pipeline(model_dir):
    faces = make_synthetic_faces(6, classes=["happy", "sad"], random_state=2)
    plain = load_model(model_dir, device="cpu").pipeline.predict_proba(faces.images)
    pickled = load_model(model_dir, allow_pickle=True).pipeline.predict_proba(faces.images)
    np.testing.assert_allclose(pickled, plain, atol=1e-6)


def test_a_backbone_with_a_payload_runs_nothing(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "backbone.pt"
    torch.save({"format": "fer_toolkit.backbone", "x": Payload(marker)}, path)
    with pytest.raises(InputError, match=r"backbone\.pt: not a plain fer_toolkit backbone file"):
        load_backbone(path)
    result = invoke("train", "--data", "synthetic:40", "--backbone", path, "--out", tmp_path / "o")
    assert result.exit_code == 1 and "backbone.pt: not a plain" in result.output
    assert result.output.count("\n") == 1, result.output
    assert not marker.exists()


def test_nothing_in_the_package_unpickles_user_files():
    # Every torch.load goes through torch_load_plain (weights_only=True); the only
    # joblib.load of a user file is load_model's allow_pickle opt-in.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    hits = []
    for folder, _, files in os.walk(os.path.join(root, "fer_toolkit")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        if any(
                            call in line
                            for call in (
                                "torch.load(",
                                "joblib.load(",
                                "pickle.load",
                                "pickle.loads",
                            )
                        ):
                            hits.append(f"{os.path.relpath(path, root)}:{number}")
    assert sorted({h.rsplit(":", 1)[0] for h in hits}) == [
        "fer_toolkit/cli/_model.py",
        "fer_toolkit/detection/_mtcnn_nets.py",
        "fer_toolkit/utils/estimator_checks.py",
        "fer_toolkit/utils/untrusted.py",
    ], hits


# ---------------------------------------------------------------- cascade XML
def small_cascade_xml(tmp_path):
    """The text of a valid 12x12 two-feature Haar cascade written by write_cascade."""
    stage = Stage(
        threshold=-0.5, weak=[WeakTree.stump(5, 0.01, -1, 1), WeakTree.stump(7, 0.02, -1, 1)]
    )
    cascade = Cascade(
        width=12,
        height=12,
        feature_type="HAAR",
        mode="BASIC",
        stage_params=StageParams(),
        stages=[stage],
        features=haar_features(12, 12),
    )
    path = tmp_path / "valid.xml"
    write_cascade(cascade, path)
    return path.read_text()


def crafted(tmp_path, old, new, name="cascade.xml"):
    text = small_cascade_xml(tmp_path)
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


CRAFTED = {
    # OpenCV indexes its feature table with these unchecked: a segfault on main.
    "feature_99999": (
        "0 -1 1 1.99",
        "0 -1 99999 1.99",
        r"stage 0, weak classifier 1: a node uses feature 99999, but <features> has 2",
    ),
    "feature_20_digits": (
        "0 -1 1 1.99",
        "0 -1 12345678901234567890 1.99",
        r"value 12345678901234567890 is out of range for an integer",
    ),
    "rect_outside_window": (
        "<_>1 0 1 2 3.</_>",
        "<_>1 0 1 2 3.</_>\n<_>90000 90000 5 5 0.</_>",
        r"rectangle \[90000, 90000, 5, 5\] does not fit the 12x12 window",
    ),
    # Silently accepted by OpenCV on main.
    "stage_num": ("<stageNum>1<", "<stageNum>3<", r"<stageNum> is 3 but there are 1 stages"),
    "threshold_not_a_number": (
        "<stageThreshold>-5.0000000000000000e-01<",
        "<stageThreshold>abc<",
        r"<stageThreshold> value 'abc' is not a number",
    ),
    "max_weak_count": (
        "<maxWeakCount>2<",
        "<maxWeakCount>7<",
        r"the stage has 2 weak classifiers but maxWeakCount 7",
    ),
    "infinite_leaf": (
        "<leafValues>-1.0000000000000000e+00",
        "<leafValues>-1e999",
        r"value -1e999 is not a finite number",
    ),
    "python_only_number": (
        "<maxDepth>1<",
        "<maxDepth>1_0<",
        r"<maxDepth> value '1_0' is not an integer",
    ),
    "two_feature_tables": (
        "<stageNum>",
        "<features><_><rects><_>0 0 90 90 1.</_></rects></_></features>\n<stageNum>",
        r"<valid> has more than one <features> element",
    ),
    "entities": (
        "<opencv_storage>",
        '<!DOCTYPE x [<!ENTITY e "1">]>\n<opencv_storage>',
        r"a DTD \(<!DOCTYPE \.\.\.>\) or entity declaration",
    ),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_cascades_are_refused_before_opencv(tmp_path, case):
    old, new, message = CRAFTED[case]
    path = crafted(tmp_path, old, new)
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}, line \d+: .*{message}"):
        read_cascade(path)
    with pytest.raises(InputError, match=message):
        HaarCascadeDetector(path)
    with pytest.raises(ValueError, match=message):
        HaarFaceCropper(cascade=str(path)).transform([np.zeros((40, 40), np.uint8)])


@pytest.mark.parametrize("case", ["feature_99999", "feature_20_digits", "stage_num"])
def test_cascade_detect_on_a_crafted_cascade_is_one_line_not_a_crash(tmp_path, case):
    # In a subprocess: on main, OpenCV dies of a segfault here, which would take pytest along.
    old, new, message = CRAFTED[case]
    path = crafted(tmp_path, old, new)
    image = tmp_path / "noise.png"
    assert cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (120, 120), np.uint8))
    run = subprocess.run(
        [sys.executable, "-c", "from fer_toolkit.cli import main; main()", "cascade", "detect",
         str(image), "--cascade", str(path), "--out", str(tmp_path / "out"),
         "--min-neighbors", "0"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])
    assert run.stderr.count("\n") == 1, run.stderr
    assert re.search(rf"^Error: {re.escape(str(path))}, line \d+: .*{message}", run.stderr)


def test_opencv_and_our_own_cascades_still_load():
    for name in ("frontalface_default", "eye", "fer_toolkit_frontalface"):
        assert HaarCascadeDetector(name).detect(np.zeros((60, 60), np.uint8)).boxes.shape == (0, 4)


def test_a_user_copy_of_a_stock_cascade_is_checked_and_loads(tmp_path):
    copy = tmp_path / "mine.xml"
    shutil.copy(cv2.data.haarcascades + "haarcascade_frontalface_alt.xml", copy)
    face = cv2.resize(skimage.data.astronaut(), (320, 240))
    boxes = HaarCascadeDetector(copy).detect(face).boxes
    stock = HaarCascadeDetector("frontalface_alt").detect(face).boxes
    np.testing.assert_array_equal(boxes, stock)


def billion_laughs(levels):
    """Nested entities: ``levels`` 10-fold expansions of a 10-character string."""
    declarations = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(levels)
    )
    last = chr(97 + levels)
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE lolz [{declarations}]>\n<opencv_storage><params>'
        f"<stageType>&{last};</stageType></params></opencv_storage>\n"
    )


def test_billion_laughs_params_xml_fails_at_once(tmp_path):
    params = tmp_path / "params.xml"
    params.write_text(billion_laughs(8))  # about 400 bytes announcing 10**9 characters
    assert len(params.read_bytes()) < 500
    with pytest.raises(InputError, match=r"params\.xml, line 2: a DTD"):
        read_params(params)


def test_cascade_train_does_not_resume_from_an_entity_params_xml(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # Four levels only: main expands these (10**5 characters) and fails differently.
    (data_dir / "params.xml").write_text(billion_laughs(4))
    write_vec(tmp_path / "pos.vec", np.full((20, 12, 12), 128, np.uint8))
    cv2.imwrite(str(tmp_path / "bg.png"), np.zeros((40, 40), np.uint8))
    (tmp_path / "bg.txt").write_text("bg.png\n")
    with pytest.raises(InputError, match=r"params\.xml, line 2: a DTD"):
        train_cascade(
            data_dir, tmp_path / "pos.vec", tmp_path / "bg.txt", 10, 10, num_stages=1,
            width=12, height=12, progress=None,
        )  # fmt: skip


def test_a_search_grid_may_set_only_what_a_model_json_may(tmp_path):
    # Otherwise the best value would land in a model.json that load_model refuses.
    grid = tmp_path / "grid.json"
    grid.write_text('{"lr": [0.01], "torch_load_kwargs": [{"weights_only": false}]}')
    result = invoke("search", "--data", "synthetic:40", "--grid", grid, "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert f"Error: {grid}: parameter 'torch_load_kwargs' cannot be set" in result.output


def test_a_module_setting_of_the_wrong_type_is_one_line(tmp_path):
    result = invoke(
        "train", "--data", "synthetic:140", "--set", "module__width=1.5",
        "--set", "max_epochs=1", "--out", tmp_path / "o",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: cannot build the network from {'module__width': 1.5}: "
        "BaselineCNN: width must be an int, got 1.5"
    )
