"""The prior-attention network and ``CNNClassifier`` on dict input (face, eyes, mouth).

The blocks are cut out of synthetic 48x48 faces by fixed slices (rows 10-26 hold
the brows and eyes, rows 28-44 the mouth), so every sample's eye and mouth block
are known functions of its face: that lets the tests check that slicing a dict
input (cross-validation, validation split) keeps the rows of all keys aligned.
"""

import copy
import inspect
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback
from skorch.helper import SliceDict
from torch import nn

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import CNNClassifier
from fer_toolkit.estimators import cnn as cnn_module
from fer_toolkit.estimators._input import as_model_input
from fer_toolkit.estimators.augmentation import (
    AugmentationParams,
    augment_batch,
    augment_batches,
)
from fer_toolkit.models import PriorAttentionCNN, get_model, model_info

EYES = np.s_[:, 10:26, 4:44]  # 16 x 40
MOUTH = np.s_[:, 28:44, 12:36]  # 16 x 24
CLASSES = ["happy", "sad", "surprise"]


def _faces(n=96, seed=0, classes=CLASSES):
    faces = make_synthetic_faces(n, classes=classes, random_state=seed)
    return faces.images, np.asarray(faces.target_names)[faces.target]


def _blocks(images):
    """The dict input of the prior-attention network, cut by fixed slices."""
    return SliceDict(
        face=images,
        eyes=np.ascontiguousarray(images[EYES]),
        mouth=np.ascontiguousarray(images[MOUTH]),
    )


def _tiny(**params):
    """A small, fast prior-attention CNNClassifier on CPU; ``params`` override."""
    defaults = dict(
        module__width=4,
        max_epochs=1,
        batch_size=32,
        validation_fraction=None,
        device="cpu",
        random_state=0,
    )
    return CNNClassifier("prior_attention", **{**defaults, **params})


def _state(clf):
    return {key: value.detach().clone() for key, value in clf.module_.state_dict().items()}


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def data():
    images, y = _faces()
    return _blocks(images), y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return _tiny(max_epochs=2).fit(X, y)


# ===================================================================== the network
def test_registered_under_prior_attention_with_the_common_signature():
    assert get_model("prior_attention") is PriorAttentionCNN
    info = model_info("prior_attention")
    assert "iTerner/Facial-Emotion-Detection" in info.source
    assert "Prior Attention" in info.source
    params = inspect.signature(PriorAttentionCNN).parameters
    assert params["in_channels"].default == 1
    assert params["n_classes"].default == 7
    assert params["image_size"].default == 48
    assert 0 <= params["dropout"].default < 1
    assert list(inspect.signature(PriorAttentionCNN.forward).parameters)[1:] == [
        "face",
        "eyes",
        "mouth",
    ]


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize(
    "face, eyes, mouth",
    [((48, 48), (16, 40), (16, 24)), ((64, 56), (24, 48), (20, 32)), ((7, 7), (4, 4), (4, 9))],
)
def test_output_shape_for_any_face_and_block_sizes(in_channels, face, eyes, mouth):
    torch.manual_seed(0)
    model = PriorAttentionCNN(in_channels=in_channels, n_classes=5, width=8).eval()
    batches = [torch.rand(3, in_channels, *size) for size in (face, eyes, mouth)]
    with torch.no_grad():
        out = model(*batches)
    assert out.shape == (3, 5) and out.dtype == torch.float32


def test_parameter_count_is_documented_and_independent_of_sizes():
    model = PriorAttentionCNN()
    assert n_params(model) == 161_111
    assert n_params(model.face_branch) == 97_392
    assert n_params(model.eyes_branch) == n_params(model.mouth_branch) == 23_408
    # head: linear(8w -> 2w) + linear(2w -> n_classes), w = 32
    assert n_params(model.classifier) == (256 * 64 + 64) + (64 * 7 + 7) == 16_903
    assert n_params(PriorAttentionCNN(width=8)) == 10_427
    assert n_params(PriorAttentionCNN(image_size=(96, 80))) == 161_111
    # the face branch is BaselineCNN's feature extractor
    assert n_params(model.face_branch) == n_params(get_model("baseline")().features)


def test_gradients_reach_all_three_branches():
    torch.manual_seed(0)
    model = PriorAttentionCNN(n_classes=4, width=8).train()
    face, eyes, mouth = torch.rand(4, 1, 48, 48), torch.rand(4, 1, 16, 40), torch.rand(4, 1, 16, 24)
    loss = nn.functional.cross_entropy(model(face, eyes, mouth), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    for branch in ("face_branch", "eyes_branch", "mouth_branch", "classifier"):
        grads = [p.grad.abs().sum() for p in getattr(model, branch).parameters()]
        assert all(g > 0 for g in grads), branch


def test_every_input_changes_the_output():
    torch.manual_seed(0)
    model = PriorAttentionCNN(width=8).eval()
    inputs = {
        "face": torch.rand(2, 1, 48, 48),
        "eyes": torch.rand(2, 1, 16, 40),
        "mouth": torch.rand(2, 1, 16, 24),
    }
    with torch.no_grad():
        reference = model(**inputs)
        for key in inputs:
            changed = {**inputs, key: torch.rand_like(inputs[key])}
            assert not torch.allclose(model(**changed), reference), key
        assert torch.equal(model(**inputs), reference)  # eval mode: deterministic
        assert torch.equal(copy.deepcopy(model)(**inputs), reference)


def test_dropout_sets_both_head_dropouts():
    model = PriorAttentionCNN(dropout=0.45)
    layers = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(layers) == 2 and all(m.p == 0.45 for m in layers)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"width": 0}, ValueError, "width must be >= 1"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"n_classes": 0}, ValueError, "n_classes"),
        ({"image_size": 6}, ValueError, "at least 7x7"),
        ({"image_size": "48"}, TypeError, "image_size"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, message):
    with pytest.raises(error, match=f"PriorAttentionCNN.*{message}"):
        PriorAttentionCNN(**kwargs)


def test_forward_names_the_bad_input():
    model = PriorAttentionCNN(width=4).eval()
    face, eyes, mouth = torch.rand(2, 1, 48, 48), torch.rand(2, 1, 16, 40), torch.rand(2, 1, 16, 24)
    with pytest.raises(ValueError, match=r"eyes has shape \(2, 3, 16, 40\); expected \(N, 1"):
        model(face, torch.rand(2, 3, 16, 40), mouth)
    with pytest.raises(ValueError, match=r"mouth images are 3x24; .* at least 4x4"):
        model(face, eyes, torch.rand(2, 1, 3, 24))
    with pytest.raises(ValueError, match=r"face images are 6x48; .* at least 7x7"):
        model(torch.rand(2, 1, 6, 48), eyes, mouth)
    with pytest.raises(ValueError, match=r"different numbers of images.*'mouth': 1"):
        model(face, eyes, mouth[:1])


# ============================================================ same draw per sample
def _smooth(height, width, n=6):
    """Smooth images (n, 1, height, width) sampled at pixel centres of [-1, 1]^2."""
    v = (torch.arange(height, dtype=torch.float64) * 2 + 1) / height - 1
    u = (torch.arange(width, dtype=torch.float64) * 2 + 1) / width - 1
    phase = torch.linspace(0, 2, n, dtype=torch.float64).view(n, 1, 1, 1)
    image = 0.5 + 0.3 * torch.sin(2.0 * u + phase) * torch.cos(1.5 * v[:, None] - phase)
    return image.float()


def test_augment_batches_gives_each_sample_one_draw_for_every_key():
    everything = AugmentationParams(
        brightness=(0.5, 1.5), horizontal_flip=True, shear=0.2, rotation=20, translation=0.1
    )
    x = torch.rand(8, 1, 24, 24, generator=torch.Generator().manual_seed(0))
    # A single key consumes the random stream exactly like augment_batch.
    single = augment_batches({"face": x}, everything, torch.Generator().manual_seed(3))
    assert torch.equal(
        single["face"], augment_batch(x, everything, torch.Generator().manual_seed(3))
    )
    # The same images under two keys come out identical: one draw per sample.
    out = augment_batches({"a": x, "b": x.clone()}, everything, torch.Generator().manual_seed(3))
    assert list(out) == ["a", "b"] and torch.equal(out["a"], out["b"])
    assert not torch.equal(out["a"], x)

    # Across sizes: the parameters are normalised, so the same smooth scene drawn
    # at 16x40 and at 32x80 gets the same transform (up to interpolation error).
    small, large = _smooth(16, 40), _smooth(32, 80)
    out = augment_batches({"small": small, "large": large}, everything)
    pooled = nn.functional.avg_pool2d(out["large"], 2)
    assert (pooled - out["small"]).abs().max() < 0.03
    assert (out["small"] - small).abs().max() > 0.1  # and the transform is not trivial


def test_augment_batches_rejects_bad_dicts_naming_the_key():
    params = AugmentationParams(horizontal_flip=True)
    x = torch.rand(4, 1, 8, 8)
    with pytest.raises(ValueError, match=r"batches\['eyes'\] holds 3 images but batches\['face'\]"):
        augment_batches({"face": x, "eyes": x[:3]}, params)
    with pytest.raises(ValueError, match=r"batches\['mouth'\] must have shape \(N, C, H, W\)"):
        augment_batches({"face": x, "mouth": x[0]}, params)
    with pytest.raises(TypeError, match=r"batches\['eyes'\] must be a torch.Tensor"):
        augment_batches({"face": x, "eyes": x.numpy()}, params)
    with pytest.raises(TypeError, match="non-empty mapping"):
        augment_batches({}, params)
    with pytest.raises(TypeError, match="AugmentationParams"):
        augment_batches({"face": x}, {"horizontal_flip": True})


def test_estimator_flips_face_and_blocks_of_a_sample_together(monkeypatch, data):
    calls = []

    def recording(batches, params, generator=None):
        out = augment_batches(batches, params, generator)
        calls.append(({k: v.clone() for k, v in batches.items()}, out))
        return out

    monkeypatch.setattr(cnn_module, "augment_batches", recording)
    X, y = data
    _tiny(max_epochs=2, horizontal_flip=True).fit(X, y)
    assert len(calls) == 2 * int(np.ceil(len(y) / 32))
    n_flipped = 0
    for inputs, outputs in calls:
        assert list(outputs) == ["face", "eyes", "mouth"]
        decisions = []
        for key, x in inputs.items():
            flipped = (outputs[key] == x.flip(-1)).flatten(1).all(1)
            kept = (outputs[key] == x).flatten(1).all(1)
            assert (flipped | kept).all(), key  # flipping alone is exact
            decisions.append(flipped)
        assert torch.equal(decisions[0], decisions[1]) and torch.equal(decisions[0], decisions[2])
        n_flipped += int(decisions[0].sum())
    assert 0.3 < n_flipped / (2 * len(y)) < 0.7
    calls.clear()
    _tiny().fit(X, y)  # no augmentation, no call
    assert calls == []


# ====================================================================== the estimator
def test_fit_on_dict_input_builds_the_network_from_the_face(fitted, data):
    X, y = data
    assert fitted.input_shape_ == {"face": (1, 48, 48), "eyes": (1, 16, 40), "mouth": (1, 16, 24)}
    module = fitted.module_
    assert isinstance(module, PriorAttentionCNN)
    assert module.in_channels == 1 and module.image_size == (48, 48)
    assert module.classifier[-1].out_features == 3
    assert fitted.classes_.tolist() == CLASSES
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(y), 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[proba.argmax(axis=1)])
    # predict_proba is exactly the module on the /255-scaled batches.
    module.eval()
    with torch.no_grad():
        tensors = {k: torch.from_numpy(v).float() / 255 for k, v in as_model_input(X).items()}
        expected = torch.softmax(module(**tensors), dim=1).numpy()
    np.testing.assert_allclose(proba, expected, atol=1e-6)


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(dict, id="plain-dict"),
        pytest.param(lambda X: {k: v.astype(np.float32) / 255 for k, v in X.items()}, id="float"),
        pytest.param(lambda X: {k: v[..., np.newaxis] for k, v in X.items()}, id="NHWC"),
        pytest.param(lambda X: {k: list(v) for k, v in X.items()}, id="lists"),
    ],
)
def test_layouts_and_dtypes_per_key_give_the_same_model(fitted, data, convert):
    X, y = data
    other = _tiny(max_epochs=2).fit(convert(X), y)
    assert other.input_shape_ == fitted.input_shape_
    np.testing.assert_allclose(other.predict_proba(convert(X)), fitted.predict_proba(X), atol=1e-4)
    np.testing.assert_allclose(other.predict_proba(X), fitted.predict_proba(X), atol=1e-4)


def test_rgb_blocks_and_face_first_or_not():
    images, y = _faces(48)
    rgb = np.repeat(images[..., np.newaxis], 3, axis=-1)
    # Key order differs from forward's argument order: keywords make it irrelevant,
    # and in_channels / image_size still come from the face.
    X = SliceDict(
        mouth=np.ascontiguousarray(rgb[MOUTH]), face=rgb, eyes=np.ascontiguousarray(rgb[EYES])
    )
    clf = _tiny().fit(X, y)
    assert clf.module_.in_channels == 3 and clf.module_.image_size == (48, 48)
    assert clf.predict_proba(X).shape == (48, 3)


class _TwoInputs(nn.Module):
    """A custom two-input network without a 'face' key: records what it was built with."""

    def __init__(self, in_channels=1, image_size=(8, 8), n_classes=2):
        super().__init__()
        self.built_with = (in_channels, tuple(image_size))
        self.fc = nn.Linear(2 * in_channels, n_classes)

    def forward(self, left, right):
        return self.fc(torch.cat([left.mean(dim=(2, 3)), right.mean(dim=(2, 3))], dim=1))


def test_custom_dict_module_is_sized_from_the_first_key():
    images, y = _faces(32)
    X = SliceDict(left=images[:, :, :20], right=images[:, :, 20:])
    clf = CNNClassifier(_TwoInputs, max_epochs=1, validation_fraction=None, device="cpu")
    clf.fit(X, y)
    assert clf.module_.built_with == (1, (48, 20))


def test_channels_last_and_amp_forced_on_cpu(fitted, data):
    X, y = data
    forced = _tiny(max_epochs=2, amp=True, channels_last=True).fit(X, y)
    for branch in (forced.module_.face_branch, forced.module_.eyes_branch):
        assert branch[0].weight.is_contiguous(memory_format=torch.channels_last)
    proba = forced.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba, fitted.predict_proba(X), atol=0.1)


def test_validation_split_is_stratified_and_keeps_keys_aligned(data):
    X, y = data

    class Recorder(Callback):
        def on_batch_begin(self, net, batch=None, training=False, **kwargs):
            seen.append((training, {k: np.asarray(v) for k, v in batch[0].items()}))

    seen = []
    clf = _tiny(validation_fraction=0.25, callbacks=[("recorder", Recorder())]).fit(X, y)
    assert {"valid_loss", "valid_acc"} <= set(clf.history[-1])
    codes = clf.label_encoder_.transform(y)
    train, valid = clf.get_split_datasets(as_model_input(X), codes)
    assert len(valid) == 24 and len(train) == 72
    assert np.bincount(codes[valid.indices]).tolist() == [8, 8, 8]
    n_seen = {True: 0, False: 0}
    for training, batch in seen:
        n_seen[training] += len(batch["face"])
        # Every row of every key comes from the same sample.
        np.testing.assert_array_equal(batch["eyes"], batch["face"][:, :, 10:26, 4:44])
        np.testing.assert_array_equal(batch["mouth"], batch["face"][:, :, 28:44, 12:36])
    assert n_seen == {True: 72, False: 24}


def test_learns_the_synthetic_expressions_above_chance():
    images, y = _faces(400, seed=1)
    X = _blocks(images)
    clf = _tiny(module__width=8, max_epochs=6, lr=1e-2, lr_schedule="cosine")
    clf.fit(X[:300], y[:300])
    train_loss = clf.history[:, "train_loss"]
    assert train_loss[-1] < 0.8 * train_loss[0]
    assert clf.score(X[300:], y[300:]) > 0.5  # chance is 1/3; about 0.6 measured


def test_partial_fit_and_warm_start_with_dict_input(data):
    X, y = data
    clf = _tiny().fit(X, y)
    before = _state(clf)
    assert clf.partial_fit(X, y) is clf and len(clf.history) == 2
    assert not _same_state(before, _state(clf))
    wider = SliceDict(face=X["face"], eyes=np.zeros((len(y), 16, 44), np.uint8), mouth=X["mouth"])
    with pytest.raises(
        ValueError, match=r"partial_fit: X\['eyes'\] has images of shape \(1, 16, 44"
    ):
        clf.partial_fit(wider, y)
    with pytest.raises(ValueError, match=r"partial_fit: X is one batch .* keys \['face'"):
        clf.partial_fit(X["face"], y)
    warm = _tiny(warm_start=True).fit(X, y)
    module = warm.module_
    warm.fit(X, y)
    assert len(warm.history) == 2 and warm.module_ is module


# ================================================================= model selection
class _TrainRows(Callback):
    """Appends the dict each fit trains on to a list shared across clones."""

    seen: list = []

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        type(self).seen.append({k: v.copy() for k, v in X.items()})


def test_cross_val_score_slices_every_key_by_the_same_rows(data):
    X, y = data
    _TrainRows.seen.clear()
    clf = _tiny(callbacks=[("rows", _TrainRows())])
    scores = cross_val_score(clf, X, y, cv=2)
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()
    folds = list(StratifiedKFold(2).split(np.zeros(len(y)), y))
    seen_by_fold = list(_TrainRows.seen)  # the fits by hand below add theirs
    assert len(seen_by_fold) == 2
    for (train, test), seen, score in zip(folds, seen_by_fold, scores, strict=True):
        for key in ("face", "eyes", "mouth"):
            np.testing.assert_array_equal(seen[key][:, 0], X[key][train])
        # The held-out rows are scored: the same as a fit and score done by hand.
        by_hand = clone(clf).fit(X[train], y[train]).score(X[test], y[test])
        assert score == by_hand


def test_grid_search_cv2_on_dict_input(data):
    X, y = data
    search = GridSearchCV(
        _tiny(), {"lr": [1e-3, 3e-3], "module__dropout": [0.0, 0.5]}, cv=2, error_score="raise"
    )
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_
    assert best.module_.classifier[0].p == search.best_params_["module__dropout"]
    assert best.input_shape_["eyes"] == (1, 16, 40)
    assert set(search.predict(X[:10])) <= set(CLASSES)


def test_pipeline_eye_mouth_blocks_then_prior_attention_in_grid_search():
    blocks = pytest.importorskip("fer_toolkit.preprocessing.blocks")
    images, y = _faces(96)
    pipe = Pipeline(
        [
            ("blocks", blocks.EyeMouthBlocks(locator="prior", output="dict")),
            ("cnn", _tiny()),
        ]
    )
    search = GridSearchCV(pipe, {"cnn__lr": [1e-3, 3e-3]}, cv=2, error_score="raise")
    search.fit(images, y)
    cnn = search.best_estimator_.named_steps["cnn"]
    assert set(cnn.input_shape_) == {"face", "eyes", "mouth"}
    assert cnn.input_shape_["face"] == (1, 48, 48)
    assert search.predict_proba(images[:5]).shape == (5, 3)


# ==================================================================== persistence
def test_pickle_and_joblib_round_trip(fitted, data, tmp_path):
    X, _ = data
    expected = fitted.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict_proba(X), expected)
    joblib.dump(fitted, tmp_path / "model.joblib")
    restored = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    assert restored.input_shape_ == fitted.input_shape_


def test_save_params_then_initialize_for_and_load_params(fitted, data, tmp_path):
    X, _ = data
    path = tmp_path / "weights.pt"
    fitted.save_params(f_params=path)
    fresh = CNNClassifier(**fitted.get_params(deep=False))
    assert fresh.initialize_for(X[:1], fitted.classes_) is fresh
    assert fresh.input_shape_ == fitted.input_shape_
    fresh.load_params(f_params=path)
    np.testing.assert_array_equal(fresh.predict_proba(X), fitted.predict_proba(X))
    with pytest.raises(ValueError, match=r"lacks \['mouth'\]"):
        clone(fresh).initialize_for({"face": X["face"][:1], "eyes": X["eyes"][:1]}, CLASSES)


# ====================================================================== bad input
def test_bad_dict_inputs_give_clear_errors(data):
    X, y = data
    face, eyes, mouth = X["face"], X["eyes"], X["mouth"]
    clf = _tiny()
    with pytest.raises(ValueError, match=r"keys \['face', 'eyes'\] but PriorAttentionCNN\.forward"):
        clf.fit({"face": face, "eyes": eyes}, y)
    with pytest.raises(ValueError, match=r"lacks \['mouth'\] and adds \['nose'\]"):
        clf.fit({"face": face, "eyes": eyes, "nose": mouth}, y)
    with pytest.raises(ValueError, match=r"X\['eyes'\] holds 95 images but X\['face'\] holds 96"):
        clf.fit({"face": face, "eyes": eyes[:-1], "mouth": mouth}, y)
    with pytest.raises(ValueError, match=r"X\['mouth'\] has shape \(96, 384\)"):
        clf.fit({"face": face, "eyes": eyes, "mouth": mouth.reshape(96, -1)}, y)
    with pytest.raises(ValueError, match=r"one batch of images but PriorAttentionCNN.*SliceDict"):
        clf.fit(face, y)
    with pytest.raises(TypeError, match="keys must be strings"):
        clf.fit({"face": face, 1: eyes}, y)
    with pytest.raises(ValueError, match="empty dict"):
        clf.fit({}, y)
    with pytest.raises(TypeError, match=r"X\['eyes'\] has dtype int64"):
        clf.fit({"face": face, "eyes": eyes.astype(np.int64), "mouth": mouth}, y)
    nan = eyes.astype(np.float32) / 255
    nan[3, 2, 2] = np.nan
    with pytest.raises(ValueError, match=r"X\['eyes'\]\[3\] contains NaN"):
        clf.fit({"face": face, "eyes": nan, "mouth": mouth}, y)
    loud = mouth.astype(np.float32)  # unscaled floats, with augmentation on
    with pytest.raises(ValueError, match=r"X\['mouth'\] holds float values in \[.*augmentation"):
        _tiny(rotation=10.0).fit({"face": face, "eyes": eyes, "mouth": loud}, y)
    with pytest.raises(ValueError, match=r"y has shape \(95,\).*\(96,\)"):
        clf.fit(X, y[:-1])
    # None of the failed fits left the estimator looking fitted.
    assert not hasattr(clf, "input_shape_")
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_predict_rejects_other_keys_and_sizes(fitted, data):
    X, _ = data
    with pytest.raises(ValueError, match=r"X\['mouth'\] has images of shape \(1, 20, 24\)"):
        fitted.predict({**X, "mouth": np.zeros((96, 20, 24), np.uint8)})
    with pytest.raises(ValueError, match=r"keys \['face', 'eyes'\] but the network was built"):
        fitted.predict({"face": X["face"], "eyes": X["eyes"]})
    with pytest.raises(ValueError, match=r"X is one batch of images .* dict of batches"):
        fitted.predict_proba(X["face"])
    plain = CNNClassifier(
        "baseline", module__width=4, max_epochs=1, validation_fraction=None, device="cpu"
    ).fit(X["face"], _faces()[1])
    with pytest.raises(ValueError, match="X is a dict of batches but the network was built for"):
        plain.predict(X)
