"""Self-supervised pretext estimators, their on-device labels, and the backbone file format.

The shared scikit-learn contract runs in tests/test_common.py; here: the
labels match the pixels, the permutation set is what its docstring says,
training learns, and backbones survive a round trip through a file.
"""

import itertools
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from skorch.dataset import ValidSplit

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import (
    Backbone,
    JigsawPretext,
    JointPretext,
    RotationPretext,
    jigsaw_permutations,
    load_backbone,
    save_backbone,
)
from fer_toolkit.estimators._pretext_data import (
    assemble_tiles,
    jigsaw_geometry,
    random_jigsaw,
    random_rotations,
)
from fer_toolkit.models import get_model

FAST = dict(max_epochs=1, batch_size=16, device="cpu", random_state=0)
TINY = dict(FAST, module__width=4)


@pytest.fixture(scope="module")
def faces32():
    return make_synthetic_faces(n_samples=64, image_size=32, random_state=0).images


def _hamming(perms):
    distances = (perms[:, None, :] != perms[None, :, :]).sum(axis=2)
    return distances[~np.eye(len(perms), dtype=bool)]


# ------------------------------------------------------------------ rotation
def test_rotation_labels_match_the_rotation_applied_to_the_pixels():
    # One bright pixel at the top-right corner: a quarter turn counter-clockwise (label 1)
    # moves it to the top-left, two to the bottom-left, three to the bottom-right.
    x = torch.zeros(64, 1, 5, 5)
    x[:, 0, 0, 4] = 1.0
    rotated, k = random_rotations(x, torch.Generator().manual_seed(0))
    assert set(k.tolist()) == {0, 1, 2, 3}
    corner = {0: (0, 4), 1: (0, 0), 2: (4, 0), 3: (4, 4)}
    for image, label in zip(rotated, k.tolist(), strict=True):
        row, col = corner[label]
        assert image[0, row, col] == 1.0 and image.sum() == 1.0


def test_rotation_batches_of_the_estimator_carry_their_labels(faces32):
    pretext = RotationPretext(**TINY)
    x = torch.as_tensor(faces32[:32, None] / 255.0, dtype=torch.float32)
    inputs, targets = pretext._pretext_batch(x, torch.Generator().manual_seed(1))
    reference = x.numpy()
    for i, label in enumerate(targets["rotation"].tolist()):
        np.testing.assert_array_equal(
            inputs["rotation"][i].numpy(), np.rot90(reference[i], label, axes=(1, 2))
        )


# --------------------------------------------------------------- permutations
@pytest.mark.parametrize(("n", "minimal", "mean"), [(10, 8, 8.80), (30, 5, 8.26), (100, 4, 8.08)])
def test_permutation_sets_have_the_documented_hamming_distances(n, minimal, mean):
    perms = jigsaw_permutations(n)
    assert perms.shape == (n, 9) and perms.dtype == np.int64
    assert (np.sort(perms, axis=1) == np.arange(9)).all()  # every row is a permutation
    assert len({tuple(row) for row in perms}) == n  # all distinct
    distances = _hamming(perms)
    assert distances.min() == minimal
    assert round(float(distances.mean()), 2) == mean


def test_permutations_follow_the_greedy_maximal_sum_rule():
    perms = jigsaw_permutations(6)
    candidates = np.array(list(itertools.permutations(range(9))), dtype=np.int8)
    summed = np.zeros(len(candidates), dtype=np.int64)
    taken = np.zeros(len(candidates), dtype=bool)
    for i in range(1, len(perms)):
        # Each new permutation has the largest summed distance to those before it.
        summed += (candidates != perms[i - 1]).sum(axis=1)
        taken |= (candidates == perms[i - 1]).all(axis=1)
        assert (perms[i] != perms[:i]).sum() == summed[~taken].max()


def test_permutations_are_fixed_nested_and_returned_as_copies():
    first = jigsaw_permutations(30)
    first[:] = 0  # the caller's copy, not the cached set
    again = jigsaw_permutations(30)
    np.testing.assert_array_equal(again[:10], jigsaw_permutations(10))
    assert not (again == 0).all()
    assert not np.array_equal(jigsaw_permutations(10, seed=1), jigsaw_permutations(10))


@pytest.mark.parametrize("n", [1, 0, math.factorial(9) + 1, 2.5, True])
def test_bad_permutation_counts_are_rejected(n):
    with pytest.raises(ValueError, match="n_permutations"):
        jigsaw_permutations(n)


# ------------------------------------------------------------------- jigsaw
@pytest.mark.parametrize(("height", "width"), [(12, 12), (50, 47)])
def test_tiles_reassemble_to_the_image_under_the_inverse_permutation(height, width):
    x = torch.rand(6, 3, height, width, generator=torch.Generator().manual_seed(0))
    perms = torch.as_tensor(jigsaw_permutations(10))
    geometry = jigsaw_geometry(height, width, 1.0)
    puzzles, labels = random_jigsaw(x, geometry, perms, torch.Generator().manual_seed(1))
    assert puzzles.shape == (6, 9, 3, height // 3, width // 3)
    g = geometry
    central = x[:, :, g.top : g.top + 3 * g.cell_h, g.left : g.left + 3 * g.cell_w]
    assert torch.equal(assemble_tiles(puzzles, perms[labels]), central)
    # Position j of puzzle i shows tile perms[labels[i], j]: cell (row, col) in row-major order.
    for i, j in [(0, 0), (3, 4), (5, 8)]:
        tile = int(perms[labels[i], j])
        row, col = divmod(tile, 3)
        rows = slice(row * g.cell_h, (row + 1) * g.cell_h)
        cols = slice(col * g.cell_w, (col + 1) * g.cell_w)
        assert torch.equal(puzzles[i, j], central[i, :, rows, cols])


def test_cropped_tiles_come_from_inside_their_cells_at_varying_offsets():
    x = torch.rand(8, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    perms = torch.as_tensor(jigsaw_permutations(10))
    geometry = jigsaw_geometry(48, 48, 0.85)
    assert (geometry.cell_h, geometry.tile_h) == (16, 13)
    puzzles, labels = random_jigsaw(x, geometry, perms, torch.Generator().manual_seed(2))
    tiles = puzzles[torch.arange(8)[:, None], perms[labels].argsort(dim=1)]  # row-major
    offsets = set()
    for i, t in itertools.product(range(8), range(9)):
        row, col = divmod(t, 3)
        matches = [
            (dy, dx)
            for dy, dx in itertools.product(range(4), range(4))
            if torch.equal(
                tiles[i, t],
                x[i, :, row * 16 + dy : row * 16 + dy + 13, col * 16 + dx : col * 16 + dx + 13],
            )
        ]
        assert matches, f"tile {t} of image {i} is not a crop of its cell"
        offsets.update(matches)
    assert len(offsets) > 8  # offsets are drawn, not fixed


def test_tile_size_resizes_the_tiles():
    x = torch.rand(2, 1, 48, 48)
    perms = torch.as_tensor(jigsaw_permutations(10))
    puzzles, _ = random_jigsaw(x, jigsaw_geometry(48, 48, 0.85), perms, None, tile_size=20)
    assert puzzles.shape == (2, 9, 1, 20, 20)


# ------------------------------------------------------------------ training
def test_pretext_accuracy_rises_well_above_chance():
    faces = make_synthetic_faces(n_samples=384, image_size=24, random_state=0).images
    new_faces = make_synthetic_faces(n_samples=128, image_size=24, random_state=1).images
    rotation = RotationPretext(
        module__width=8, lr=3e-3, max_epochs=8, batch_size=32, device="cpu", random_state=0
    ).fit(faces)
    assert rotation.score(new_faces) > 0.6  # chance: 0.25; 0.88 when written
    assert rotation.history[-1, "train_rotation_acc"] > rotation.history[0, "train_rotation_acc"]
    faces = make_synthetic_faces(n_samples=256, image_size=32, random_state=0).images
    new_faces = make_synthetic_faces(n_samples=128, image_size=32, random_state=1).images
    jigsaw = JigsawPretext(
        n_permutations=10,
        module__width=8,
        lr=3e-3,
        max_epochs=4,
        batch_size=32,
        device="cpu",
        random_state=0,
    ).fit(faces)
    assert jigsaw.score(new_faces) > 0.4  # chance: 0.1; 0.85 when written


def test_fit_takes_images_only_and_ignores_y(faces32):
    alone = RotationPretext(**TINY).fit(faces32)
    with_y = RotationPretext(**TINY).fit(faces32, np.arange(len(faces32)))
    np.testing.assert_array_equal(alone.transform(faces32), with_y.transform(faces32))
    assert alone.transform(faces32).shape == (64, 16)  # 4 * width pooled channels


def test_random_state_reproduces_the_backbone_and_leaves_torch_alone(faces32):
    before = torch.get_rng_state()
    a = JointPretext(n_permutations=10, **TINY).fit(faces32)
    b = JointPretext(n_permutations=10, **TINY).fit(faces32)
    assert torch.equal(torch.get_rng_state(), before)
    c = JointPretext(n_permutations=10, **{**TINY, "random_state": 1}).fit(faces32)
    state_a, state_b = a.backbone_.state_dict(), b.backbone_.state_dict()
    assert all(torch.equal(state_a[key], state_b[key]) for key in state_a)
    assert not torch.equal(
        state_a["features.0.weight"], c.backbone_.state_dict()["features.0.weight"]
    )
    assert a.history[:, "train_loss"] == b.history[:, "train_loss"]
    assert a.score(faces32) == b.score(faces32)  # scoring draws its own fixed labels


def test_joint_pretext_trains_both_heads_on_one_backbone(faces32):
    joint = JointPretext(n_permutations=10, **{**TINY, "max_epochs": 2}).fit(faces32)
    assert set(joint.module_.heads) == {"rotation", "jigsaw"}
    row = joint.history[-1]
    assert {"train_rotation_acc", "train_jigsaw_acc"} <= set(row)
    scores = joint.task_scores(faces32)
    assert set(scores) == {"rotation", "jigsaw"}
    assert joint.score(faces32) == pytest.approx(np.mean(list(scores.values())))
    # The loss is the sum of the two cross-entropies.
    logits = {"rotation": torch.randn(4, 4), "jigsaw": torch.randn(4, 10)}
    targets = {"rotation": torch.tensor([0, 1, 2, 3]), "jigsaw": torch.tensor([0, 9, 5, 1])}
    expected = sum(torch.nn.functional.cross_entropy(logits[t], targets[t]) for t in logits)
    assert torch.allclose(joint.get_loss(logits, targets), expected)


def test_partial_fit_continues_and_checks_the_shape(faces32):
    pretext = RotationPretext(**TINY).fit(faces32)
    pretext.partial_fit(faces32)
    assert len(pretext.history) == 2
    with pytest.raises(ValueError, match=r"\(1, 24, 24\).*trained on \(1, 32, 32\)"):
        pretext.partial_fit(faces32[:, :24, :24])


def test_warm_start_and_validation_split(faces32):
    warm = RotationPretext(warm_start=True, **TINY).fit(faces32)
    first = warm.backbone_.state_dict()["features.0.weight"].clone()
    warm.fit(faces32)
    assert len(warm.history) == 2
    assert not torch.equal(first, warm.backbone_.state_dict()["features.0.weight"])
    validated = JointPretext(n_permutations=10, train_split=ValidSplit(4), **TINY).fit(faces32)
    assert {"valid_loss", "valid_rotation_acc", "valid_jigsaw_acc"} <= set(validated.history[-1])


def test_grid_search_over_pretext_settings_uses_the_pretext_score(faces32):
    search = GridSearchCV(
        JigsawPretext(**TINY), {"n_permutations": [5, 10], "tile_crop": [0.85]}, cv=2
    ).fit(faces32)
    assert set(search.best_params_) == {"n_permutations", "tile_crop"}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# ---------------------------------------------------------------- backbones
def test_backbone_round_trip_gives_identical_features(faces32, tmp_path):
    pretext = JigsawPretext(n_permutations=10, **TINY).fit(faces32)
    path = tmp_path / "nested" / "backbone.pt"
    pretext.save_backbone(path)
    loaded = load_backbone(path)
    assert not loaded.training
    assert (loaded.model, loaded.input_shape) == ("baseline", (1, 32, 32))
    assert loaded.model_kwargs == {"in_channels": 1, "image_size": [8, 8], "width": 4}
    assert loaded.pretext["tasks"] == ["jigsaw"] and loaded.pretext["n_permutations"] == 10
    x = torch.as_tensor(faces32[:, None] / 255.0, dtype=torch.float32)
    with torch.no_grad():
        pooled = loaded(x).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(pooled, pretext.transform(faces32), rtol=0, atol=1e-6)
    # The file is plain data: it loads with weights_only=True, and the weights fit the
    # features of a full registry network built for another task (transfer).
    content = torch.load(path, weights_only=True)
    assert content["format"] == "fer_toolkit.backbone"
    network = get_model("baseline")(in_channels=1, n_classes=4, image_size=48, width=4)
    network.features.load_state_dict(loaded.features.state_dict())


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    width=st.integers(1, 8),
    in_channels=st.sampled_from([1, 3]),
    pretext=st.dictionaries(
        st.text(min_size=1, max_size=5),
        st.one_of(st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=5), st.none()),
        max_size=3,
    ),
)
def test_backbone_files_round_trip_metadata_and_weights(tmp_path, width, in_channels, pretext):
    backbone = Backbone(
        "baseline",
        {"in_channels": in_channels, "width": width},
        input_shape=(in_channels, 9, 9),
        pretext=pretext,
    )
    path = tmp_path / "b.pt"
    save_backbone(backbone, path)
    loaded = load_backbone(path)
    assert loaded.model_kwargs == backbone.model_kwargs
    assert loaded.pretext == pretext and loaded.input_shape == (in_channels, 9, 9)
    for key, value in backbone.features.state_dict().items():
        assert torch.equal(loaded.features.state_dict()[key], value)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(0, 10_000))
def test_truncated_backbone_files_are_rejected_with_the_path(tmp_path, cut):
    path = tmp_path / "b.pt"
    save_backbone(Backbone("baseline", {"width": 2}), path)
    data = path.read_bytes()
    path.write_bytes(data[: cut % len(data)])
    with pytest.raises(ValueError, match=r"b\.pt"):
        load_backbone(path)


def test_bad_backbone_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_backbone(tmp_path / "missing.pt")
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.pt: not a fer_toolkit backbone file"):
        load_backbone(text)
    tensor = tmp_path / "tensor.pt"
    torch.save({"weights": torch.zeros(2)}, tensor)
    with pytest.raises(ValueError, match=r"tensor\.pt: not a fer_toolkit backbone file"):
        load_backbone(tensor)
    good = tmp_path / "good.pt"
    save_backbone(Backbone("baseline", {"width": 2}), good)
    content = torch.load(good, weights_only=True)
    for change, message in [
        ({"model": "nope"}, "unknown model 'nope'"),
        ({"model_kwargs": {"width": 3}}, "do not fit model 'baseline'"),
        ({"version": 99}, "version 99"),
    ]:
        edited = tmp_path / "edited.pt"
        torch.save({**content, **change}, edited)
        with pytest.raises(ValueError, match=rf"edited\.pt.*{message}"):
            load_backbone(edited)


def test_backbone_needs_a_features_module():
    with pytest.raises(ValueError, match=r"prior_attention.*no `features`"):
        Backbone("prior_attention")
    with pytest.raises(TypeError, match="plain values"):
        Backbone("baseline", {"width": np.ones(2)})
    with pytest.raises(TypeError, match="Backbone"):
        save_backbone(torch.nn.Conv2d(1, 1, 3), "x.pt")


# --------------------------------------------------------------- bad input
def test_images_too_small_for_3x3_tiles_are_named_with_their_shape():
    with pytest.raises(ValueError, match=r"shape \(1, 5, 5\).*too small for 3x3 jigsaw tiles"):
        JigsawPretext(**TINY).fit(np.zeros((4, 5, 5), np.uint8))


def test_rotation_needs_square_images():
    with pytest.raises(ValueError, match=r"shape \(3, 32, 40\).*square"):
        RotationPretext(**TINY).fit(np.zeros((4, 32, 40, 3), np.uint8))


def test_backbones_that_reject_the_tiles_say_so_and_tile_size_fixes_it():
    X = make_synthetic_faces(n_samples=8, image_size=48, random_state=0).images
    with pytest.raises(ValueError, match=r"'conv4_dense3' cannot take the jigsaw tiles.*tile_size"):
        JigsawPretext("conv4_dense3", n_permutations=5, **FAST).fit(X)
    fitted = JigsawPretext("conv4_dense3", n_permutations=5, tile_size=46, **FAST).fit(X)
    assert fitted.backbone_.model_kwargs["image_size"] == [46, 46]
    assert fitted.transform(X).shape == (8, 256)
    with pytest.raises(ValueError, match="no `features`"):
        RotationPretext("prior_attention", **FAST).fit(X)
    failed = RotationPretext("nope", **FAST)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        failed.fit(X)
    with pytest.raises(NotFittedError):  # a failed first fit leaves no fitted look
        failed.transform(X)


def test_unfitted_and_mismatched_use_is_refused(faces32, tmp_path):
    pretext = RotationPretext(**TINY)
    for call in (
        lambda: pretext.transform(faces32),
        lambda: pretext.score(faces32),
        lambda: pretext.backbone_,
        lambda: pretext.save_backbone(tmp_path / "b.pt"),
    ):
        with pytest.raises(NotFittedError):
            call()
    assert not hasattr(pretext, "predict") and not hasattr(pretext, "predict_proba")
    pretext.fit(faces32)
    with pytest.raises(ValueError, match=r"transform: X has images of shape \(3, 32, 32\)"):
        pretext.transform(np.repeat(faces32[..., None], 3, axis=3))


def test_pickled_pretext_estimators_keep_their_backbone(faces32):
    pretext = JointPretext(n_permutations=10, **TINY).fit(faces32)
    restored = pickle.loads(pickle.dumps(pretext))
    np.testing.assert_array_equal(restored.transform(faces32), pretext.transform(faces32))
    assert restored.score(faces32) == pretext.score(faces32)
