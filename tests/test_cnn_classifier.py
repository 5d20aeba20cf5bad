"""Behaviour of ``CNNClassifier`` beyond the shared scikit-learn contract (tests/test_common.py).

Small data throughout: 16x16 noise images and a 4-channel-wide baseline network
where image content does not matter, synthetic 48x48 faces where it does.
"""

import itertools
import math
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.metrics import accuracy_score
from sklearn.model_selection import (
    HalvingRandomSearchCV,
    RandomizedSearchCV,
    cross_val_score,
)
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_class_weight
from skorch.callbacks import Callback
from skorch.exceptions import DeviceWarning

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import CNNClassifier
from fer_toolkit.estimators import cnn as cnn_module
from fer_toolkit.estimators._callbacks import RestoreBestWeights
from fer_toolkit.estimators._input import as_nchw
from fer_toolkit.estimators.augmentation import AugmentationParams, augment_batch
from fer_toolkit.preprocessing import Grayscale, Resize

STRONG_AUGMENTATION = dict(
    brightness=(0.2, 1.8), horizontal_flip=True, shear=0.3, rotation=30.0, translation=0.2
)
AUGMENTATION_OFF = dict(
    brightness=None, horizontal_flip=False, shear=0.0, rotation=0.0, translation=0.0, zoom=0.0
)


def _noise(n=40, size=16, n_classes=2, seed=0, channels=None):
    """Random uint8 images (n, size, size[, channels]) with balanced string labels."""
    rng = np.random.RandomState(seed)
    shape = (n, size, size) if channels is None else (n, size, size, channels)
    X = rng.randint(0, 256, shape, dtype=np.uint8)
    y = np.array(["abcdefg"[i % n_classes] for i in range(n)])
    return X, y


def _tiny(module="baseline", **params):
    """A small, fast CNNClassifier on CPU; ``params`` override the defaults."""
    defaults = dict(
        max_epochs=1, batch_size=16, validation_fraction=None, device="cpu", random_state=0
    )
    if module == "baseline":
        defaults["module__width"] = 4
    return CNNClassifier(module, **{**defaults, **params})


def _state(clf):
    return {key: value.detach().clone() for key, value in clf.module_.state_dict().items()}


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


class _Linear(torch.nn.Module):
    """No BatchNorm, no dropout: its outputs change only when the optimizer moves it."""

    def __init__(self, in_channels=1, image_size=(16, 16), n_classes=2):
        super().__init__()
        height, width = image_size
        self.net = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(in_channels * height * width, n_classes)
        )

    def forward(self, x):
        return self.net(x)


class _StateRecorder(Callback):
    """Snapshots of the module weights when training starts and after every epoch."""

    def initialize(self):
        self.at_train_begin = []
        self.per_epoch = []
        return self

    def on_train_begin(self, net, **kwargs):
        self.at_train_begin.append(_state(net))

    def on_epoch_end(self, net, **kwargs):
        self.per_epoch.append(_state(net))


class _BatchRecorder(Callback):
    """The images of every training batch, as the data loader yields them."""

    def initialize(self):
        self.batches = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.batches.append(np.asarray(batch[0]).copy())


@pytest.fixture(scope="module")
def faces_model():
    """A baseline CNN trained on 600 synthetic faces, with 120 held-out faces."""
    faces = make_synthetic_faces(720, classes=["happy", "sad", "surprise"], random_state=0)
    X, y = faces.images, np.asarray(faces.target_names)[faces.target]
    clf = CNNClassifier(
        "baseline",
        lr=3e-3,
        batch_size=32,
        max_epochs=8,
        lr_schedule="cosine",
        validation_fraction=None,
        device="cpu",
        random_state=0,
    )
    clf.fit(X[:600], y[:600])
    return clf, X[600:], y[600:]


# ----------------------------------------------------------------- convergence
def test_baseline_learns_synthetic_expressions_well_above_chance(faces_model):
    clf, X_test, y_test = faces_model
    assert len(clf.history) == 8
    train_loss = clf.history[:, "train_loss"]
    assert train_loss[-1] < 0.75 * train_loss[0]
    assert clf.score(X_test, y_test) > 0.6  # chance is 1/3


def test_predict_proba_rows_and_columns(faces_model):
    clf, X_test, y_test = faces_model
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (proba >= 0).all()
    assert clf.classes_.tolist() == ["happy", "sad", "surprise"]
    np.testing.assert_array_equal(clf.predict(X_test), clf.classes_[proba.argmax(axis=1)])
    # Columns follow classes_: the faces of each class get, on average, the highest
    # probability in that class's column.
    for column, label in enumerate(clf.classes_):
        assert proba[y_test == label].mean(axis=0).argmax() == column
    assert clf.score(X_test, y_test) == accuracy_score(y_test, clf.predict(X_test))


# --------------------------------------------------------------- input handling
@pytest.mark.parametrize(
    "to_layout",
    [
        pytest.param(lambda X: X[..., np.newaxis], id="NHWC-1"),
        pytest.param(lambda X: X[:, np.newaxis], id="NCHW-1"),
        pytest.param(lambda X: list(X), id="list"),
        pytest.param(lambda X: X.astype(np.float32) / 255, id="float32"),
        pytest.param(lambda X: X.astype(np.float64) / 255, id="float64"),
        pytest.param(lambda X: list(X.astype(np.float32) / 255), id="float-list"),
    ],
)
def test_layouts_and_dtypes_of_the_same_images_give_the_same_model(to_layout):
    X, y = _noise(48)
    reference = _tiny(max_epochs=2).fit(X, y)
    other = _tiny(max_epochs=2).fit(to_layout(X), y)
    assert other.input_shape_ == reference.input_shape_ == (1, 16, 16)
    # uint8 is scaled by 1/255 on the device: the same values as the float input.
    np.testing.assert_allclose(
        other.predict_proba(to_layout(X)), reference.predict_proba(X), atol=1e-4
    )
    np.testing.assert_array_equal(other.predict(to_layout(X)), reference.predict(X))
    # Predicting on another layout of the same images changes nothing either.
    np.testing.assert_allclose(other.predict_proba(X), reference.predict_proba(X), atol=1e-4)


def test_rgb_channels_last_and_channels_first_agree():
    X, y = _noise(32, channels=3)
    hwc = _tiny().fit(X, y)
    chw = _tiny().fit(X.transpose(0, 3, 1, 2), y)
    assert hwc.input_shape_ == chw.input_shape_ == (3, 16, 16)
    assert hwc.module_.features[0].in_channels == 3
    np.testing.assert_array_equal(hwc.predict_proba(X), chw.predict_proba(X))


def test_standardised_float_input_with_negative_values():
    X, y = _noise(32)
    X = (X - X.mean()) / X.std()
    assert X.min() < -1
    clf = _tiny().fit(X, y)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_string_and_int_labels_come_back_with_their_type():
    X, _ = _noise(32)
    strings = np.array(["sad", "happy"] * 16)
    clf = _tiny().fit(X, strings)
    assert clf.classes_.tolist() == ["happy", "sad"]
    assert clf.predict(X).dtype.kind == "U"
    assert set(clf.predict(X)) <= {"happy", "sad"}

    ints = np.array([7, 3] * 16)
    clf = _tiny().fit(X, ints)
    assert clf.classes_.tolist() == [3, 7]
    assert clf.predict(X).dtype.kind == "i"
    assert set(clf.predict(X).tolist()) <= {3, 7}


def test_predict_rejects_other_image_sizes_and_channels_naming_both_shapes():
    X, y = _noise(32)
    clf = _tiny().fit(X, y)
    with pytest.raises(ValueError, match=r"\(1, 20, 20\).*\(1, 16, 16\)"):
        clf.predict(_noise(4, size=20)[0])
    with pytest.raises(ValueError, match=r"\(3, 16, 16\).*\(1, 16, 16\)"):
        clf.predict_proba(_noise(4, channels=3)[0])


def test_clear_errors_for_bad_data():
    X, y = _noise(32)
    clf = _tiny()
    mixed = [np.zeros((16, 16), np.uint8), np.zeros((20, 16), np.uint8)]
    with pytest.raises(ValueError, match=r"X\[1\] has shape \(20, 16\).*Resize"):
        clf.fit(mixed, ["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        clf.fit(np.empty((0, 16, 16), np.uint8), [])
    with pytest.raises(ValueError, match="empty"):
        clf.fit([], [])
    nan = X.astype(np.float32) / 255
    nan[5, 3, 4] = np.nan
    with pytest.raises(ValueError, match=r"X\[5\] contains NaN"):
        clf.fit(nan, y)
    with pytest.raises(ValueError, match=r"y has shape \(31,\).*\(32,\)"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="single class 'a'"):
        clf.fit(X, np.full(32, "a"))
    with pytest.raises(TypeError, match="ImageReader"):
        clf.fit(["face.png", "other.png"], ["a", "b"])
    with pytest.raises(TypeError, match="dtype int64"):
        clf.fit(X.astype(np.int64), y)
    # None of these failed fits left the estimator looking fitted.
    assert not hasattr(clf, "input_shape_")
    with pytest.raises(NotFittedError):
        clf.predict(X)
    with pytest.raises(ValueError, match="X has shape"):
        clf.fit(np.zeros((4, 2, 16, 16), np.uint8), y[:4])


@pytest.mark.parametrize(
    "name, value",
    [
        ("lr", -1),
        ("validation_fraction", 1.5),
        ("brightness", (2, 1)),
        ("rotation", 500),
        ("translation", 1.0),
        ("shear", -0.1),
        ("zoom", 1.0),
        ("padding_mode", "wrap"),
        ("batch_size", 0),
        ("max_epochs", 0),
        ("lr_schedule", "linear"),
        ("class_weight", "auto"),
        ("early_stopping", 0),
        ("amp", "yes"),
    ],
)
def test_bad_parameters_are_rejected_at_fit_naming_the_parameter(name, value):
    X, y = _noise(16)
    clf = _tiny(**{name: value})  # __init__ stores it verbatim
    assert clf.get_params()[name] == value
    with pytest.raises((ValueError, TypeError), match=name):
        clf.fit(X, y)


# ---------------------------------------------------------------- augmentation
@pytest.fixture
def augment_calls(monkeypatch):
    """Record (input, output) of every augment_batch call the estimator makes."""
    calls = []

    def recording(x, params, generator=None):
        out = augment_batch(x, params, generator)
        calls.append((x.detach().clone(), out.detach().clone()))
        return out

    monkeypatch.setattr(cnn_module, "augment_batch", recording)
    return calls


def test_augmentation_changes_training_batches_only(augment_calls):
    X, y = _noise(48)
    clf = _tiny(
        max_epochs=3,
        batch_size=64,  # one training batch per epoch
        validation_fraction=0.25,
        iterator_train__shuffle=False,  # the same training batch every epoch
        **STRONG_AUGMENTATION,
    ).fit(X, y)
    n_valid = math.ceil(0.25 * 48)
    assert len(clf.history) == 3 and "valid_loss" in clf.history[-1]
    # One call per training batch and epoch; the 12 validation images never pass.
    assert [len(x) for x, _ in augment_calls] == [48 - n_valid] * 3
    inputs = [x for x, _ in augment_calls]
    outputs = [out for _, out in augment_calls]
    assert all(torch.equal(inputs[0], x) for x in inputs)
    assert not torch.equal(outputs[0], inputs[0])
    assert not torch.equal(outputs[0], outputs[1])
    assert not torch.equal(outputs[1], outputs[2])

    # Prediction is never augmented: deterministic, and equal to a plain forward pass.
    augment_calls.clear()
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(proba, clf.predict_proba(X))
    assert augment_calls == []
    clf.module_.eval()
    with torch.no_grad():
        logits = clf.module_(torch.from_numpy(as_nchw(X)).float() / 255)
    np.testing.assert_allclose(proba, torch.softmax(logits, dim=1).numpy(), atol=1e-6)

    # Switching augmentation off after fit keeps the weights and the predictions.
    weights = _state(clf)
    clf.set_params(**AUGMENTATION_OFF)
    assert _same_state(weights, _state(clf))
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_every_augmentation_parameter_is_an_estimator_parameter(monkeypatch):
    """zoom and padding_mode reach AugmentationParams like the others."""
    seen = []

    def recording(x, params, generator=None):
        seen.append(params)
        return augment_batch(x, params, generator)

    monkeypatch.setattr(cnn_module, "augment_batch", recording)
    X, y = _noise(16)
    _tiny(zoom=0.2, padding_mode="zeros").fit(X, y)
    assert set(seen) == {AugmentationParams(zoom=0.2, padding_mode="zeros")}
    augmentation = set(AugmentationParams.__dataclass_fields__)
    assert augmentation <= set(CNNClassifier().get_params())


@pytest.mark.parametrize("scale", [1.0, 255.0], ids=["standardised", "unscaled-float"])
def test_augmentation_refuses_float_input_outside_0_1(scale):
    # augment_batch clips to [0, 1]: such input would be silently distorted in
    # training only, so fit refuses it while an augmentation is on.
    X, y = _noise(16)
    X = (X - X.mean()) / X.std() if scale == 1.0 else X.astype(np.float32)
    with pytest.raises(ValueError, match=r"float values in \[.*augmentation"):
        _tiny(rotation=10.0).fit(X, y)
    _tiny().fit(X, y)  # fine without augmentation
    _tiny(rotation=10.0).fit(np.clip(X, 0, 1), y)  # and within [0, 1]


def test_no_augmentation_means_no_augment_call(augment_calls):
    X, y = _noise(32)
    _tiny(brightness=(1, 1)).fit(X, y)  # the identity brightness range counts as off
    assert augment_calls == []


# ---------------------------------------------------------------- random_state
def test_random_state_reproducible_and_global_rng_untouched():
    X, y = _noise(48)
    params = dict(max_epochs=2, validation_fraction=0.25, **STRONG_AUGMENTATION)
    torch.manual_seed(1234)
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()  # noqa: NPY002 (the legacy global state is checked)
    a = _tiny(random_state=0, **params).fit(X, y)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])  # noqa: NPY002

    b = _tiny(random_state=0, **params).fit(X, y)
    assert _same_state(_state(a), _state(b))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))

    c = _tiny(random_state=1, **params).fit(X, y)
    assert not _same_state(_state(a), _state(c))

    # Fitting the same object again starts over: the same model as a fresh one.
    a.fit(X, y)
    assert _same_state(_state(a), _state(b))

    # A RandomState instance is accepted too (scikit-learn's random_state convention).
    _tiny(random_state=np.random.RandomState(0), **params).fit(X, y)


def test_training_data_is_reshuffled_every_epoch_reproducibly():
    X, _ = _noise(32)
    y = np.arange(32) % 2
    runs = []
    for _ in range(2):
        recorder = _BatchRecorder()
        _tiny(max_epochs=3, batch_size=64, callbacks=[("batches", recorder)]).fit(X, y)
        runs.append(recorder.batches)
    first, second = runs
    assert len(first) == 3
    pixel_sums = np.sort(X.reshape(32, -1).sum(axis=1, dtype=np.int64))
    for batch in first:  # each epoch sees every training image once ...
        np.testing.assert_array_equal(
            np.sort(batch.reshape(32, -1).sum(axis=1, dtype=np.int64)), pixel_sums
        )
    # ... in a new order (skorch alone would not shuffle), the same for the same seed.
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[1], first[2])
    assert not np.array_equal(first[0], X[:, np.newaxis])
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


# ---------------------------------------------------------------------- device
def test_device_auto_stays_auto_and_runs_on_cpu_here():
    X, y = _noise(32)
    clf = _tiny(device="auto").fit(X, y)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert clf.get_params()["device"] == "auto"
    assert next(clf.module_.parameters()).device.type == expected
    assert clone(clf).get_params()["device"] == "auto"

    restored = pickle.loads(pickle.dumps(clf))
    assert restored.get_params()["device"] == "auto"
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))

    clf.set_params(module__dropout=0.5)  # re-initialises the module
    assert clf.module_.classifier[2].p == 0.5
    assert clf.get_params()["device"] == "auto"
    assert next(clf.module_.parameters()).device.type == expected

    # Setting the device itself sticks (it used to snap back to "auto").
    clf.set_params(device="cpu")
    assert clf.get_params()["device"] == "cpu"
    clf.set_params(device="auto", module__dropout=0.1)
    assert clf.get_params()["device"] == "auto"


def test_amp_and_channels_last_can_be_forced_on_cpu():
    X, y = _noise(32)
    reference = _tiny(max_epochs=2).fit(X, y)
    forced = _tiny(max_epochs=2, amp=True, channels_last=True).fit(X, y)
    assert forced.module_.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    proba = forced.predict_proba(X)
    assert proba.dtype == np.float32 and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    # bfloat16 autocast: close to, not equal to, the float32 model.
    np.testing.assert_allclose(proba, reference.predict_proba(X), atol=0.1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without CUDA")
def test_model_carrying_device_cuda_loads_and_predicts_on_a_cpu_only_machine():
    # No GPU here, so this simulates the CUDA -> CPU path: the model is trained on
    # CPU, then given the device parameter a CUDA-trained model carries, pickled,
    # and unpickled on this CPU-only machine. skorch maps the weights to CPU with a
    # DeviceWarning; the estimator must then predict on CPU, identically.
    X, y = _noise(32)
    clf = _tiny().fit(X, y)
    expected = clf.predict_proba(X)
    clf.device = "cuda"
    blob = pickle.dumps(clf)
    with pytest.warns(DeviceWarning) as caught:
        restored = pickle.loads(blob)
    assert any("(cuda) is not available" in str(w.message) for w in caught)
    assert str(restored.device) == "cpu"  # skorch's choice, a torch.device
    assert next(restored.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    np.testing.assert_array_equal(restored.predict(X), clf.classes_[expected.argmax(axis=1)])


# ----------------------------------------------------------------- persistence
def test_joblib_round_trip(faces_model, tmp_path):
    clf, X_test, _ = faces_model
    joblib.dump(clf, tmp_path / "model.joblib")
    restored = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test))
    np.testing.assert_array_equal(restored.classes_, clf.classes_)


def test_save_params_then_initialize_for_and_load_params(faces_model, tmp_path):
    clf, X_test, _ = faces_model
    path = tmp_path / "weights.pt"
    clf.save_params(f_params=path)
    fresh = CNNClassifier(**clf.get_params(deep=False))
    assert fresh.initialize_for(X_test[:1], clf.classes_) is fresh
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plain weights file loads without complaints
        fresh.load_params(f_params=path)
    np.testing.assert_array_equal(fresh.classes_, clf.classes_)
    np.testing.assert_array_equal(fresh.predict_proba(X_test), clf.predict_proba(X_test))
    np.testing.assert_array_equal(fresh.predict(X_test), clf.predict(X_test))


# ----------------------------------------------------------------- class_weight
def test_class_weight_balanced_and_dict():
    X, _ = _noise(110)
    y = np.array(["rare"] * 10 + ["common"] * 100)
    clf = _tiny(class_weight="balanced").fit(X, y)
    expected = compute_class_weight("balanced", classes=clf.classes_, y=y)
    assert clf.classes_.tolist() == ["common", "rare"]
    np.testing.assert_allclose(clf.criterion_.weight.numpy(), expected, rtol=1e-6)
    assert clf.criterion_.weight[1] > 5 * clf.criterion_.weight[0]

    clf = _tiny(class_weight={"rare": 4.0}).fit(X, y)  # unnamed classes weigh 1
    np.testing.assert_allclose(clf.criterion_.weight.numpy(), [1.0, 4.0])

    y_int = np.where(y == "rare", 7, 2)
    clf = _tiny(class_weight={7: 3.0, 2: 0.5}).fit(X, y_int)
    np.testing.assert_allclose(clf.criterion_.weight.numpy(), [0.5, 3.0])

    assert _tiny().fit(X, y).criterion_.weight is None
    with pytest.raises(ValueError, match=r"unknown classes.*'happy'"):
        _tiny(class_weight={"happy": 2.0}).fit(X, y)


# ------------------------------------------------------------------- callbacks
def test_early_stopping_stops_on_a_plateau_and_monitors_the_right_loss():
    X, y = _noise(40)
    # lr=1e-12 on a network without BatchNorm or dropout: the loss cannot move, so
    # the first epoch stays best and training stops after 1 + patience epochs.
    clf = _tiny(_Linear, lr=1e-12, max_epochs=20, early_stopping=2, validation_fraction=0.25)
    clf.fit(X, y)
    assert len(clf.history) == 3
    stopper = dict(clf.callbacks_)["early_stopping"]
    assert stopper.monitor == "valid_loss" and stopper.patience == 2

    clf = _tiny(_Linear, lr=1e-12, max_epochs=20, early_stopping=2).fit(X, y)
    assert len(clf.history) == 3
    assert dict(clf.callbacks_)["early_stopping"].monitor == "train_loss"
    assert "valid_loss" not in clf.history[-1]


def test_restore_best_with_early_stopping_counts_the_last_epoch():
    X, y = _noise(40)
    # lr=1e-6: the loss improves a little every epoch (each epoch is "best") but by
    # less than early stopping's threshold, which ends training after 3 epochs. The
    # third epoch is the best one, so restoring must keep the final weights.
    params = dict(lr=1e-6, max_epochs=20, early_stopping=2, batch_size=64)
    plain = _tiny(_Linear, **params).fit(X, y)
    restored = _tiny(_Linear, restore_best=True, **params).fit(X, y)
    assert len(restored.history) == 3
    assert all(restored.history[:, "train_loss_best"])
    assert dict(restored.callbacks_)["restore_best"].best_epoch_ == 3
    assert _same_state(_state(restored), _state(plain))


def test_restore_best_reloads_the_weights_of_the_best_epoch():
    X, y = _noise(64, seed=1)
    recorder = _StateRecorder()
    # Random labels and a large learning rate: validation loss is far from monotone.
    clf = _tiny(
        max_epochs=6,
        lr=0.05,
        validation_fraction=0.25,
        restore_best=True,
        callbacks=[("recorder", recorder)],
        # The whole stored state, BatchNorm statistics included, which would otherwise be
        # recomputed for the restored weights; random labels stay at chance on purpose.
        callbacks__batchnorm_stats=None,
        callbacks__chance_level=None,
    ).fit(X, y)
    valid_loss = np.array(clf.history[:, "valid_loss"])
    best = int(np.argmin(valid_loss))
    assert clf.history[best, "valid_loss_best"]
    restorer = dict(clf.callbacks_)["restore_best"]
    assert isinstance(restorer, RestoreBestWeights) and restorer.monitor == "valid_loss"
    assert restorer.best_epoch_ == best + 1
    assert _same_state(_state(clf), recorder.per_epoch[best])
    assert best < len(valid_loss) - 1, "the data should make a non-final epoch best"
    assert not _same_state(_state(clf), recorder.per_epoch[-1])

    clf = _tiny(restore_best=True).fit(X, y)
    assert dict(clf.callbacks_)["restore_best"].monitor == "train_loss"


def test_cosine_schedule_anneals_the_learning_rate():
    X, y = _noise(32)
    clf = _tiny(lr=0.01, max_epochs=4, lr_schedule="cosine").fit(X, y)
    lrs = clf.history[:, "event_lr"]
    assert lrs[0] == pytest.approx(0.01)
    assert all(later < earlier for earlier, later in itertools.pairwise(lrs))
    expected = [0.005 * (1 + math.cos(math.pi * epoch / 4)) for epoch in range(4)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)

    plateau = dict(_tiny(lr_schedule="plateau").fit(X, y).callbacks_)["lr_schedule"]
    assert plateau.policy == "ReduceLROnPlateau" and plateau.monitor == "train_loss"


def test_validation_split_is_stratified_and_sized_ceil_fraction_n():
    X, _ = _noise(50)
    y = np.array(["a"] * 30 + ["b"] * 15 + ["c"] * 5)
    clf = _tiny(validation_fraction=0.2).fit(X, y)
    codes = clf.label_encoder_.transform(y)
    train, valid = clf.get_split_datasets(as_nchw(X), codes)
    assert len(valid) == math.ceil(0.2 * 50) and len(train) == 40
    assert np.bincount(codes[valid.indices]).tolist() == [6, 3, 1]
    assert sum(clf.history[-1, "batches", :, "valid_batch_size"]) == 10

    clf = _tiny(validation_fraction=0.15).fit(X, y)
    assert sum(clf.history[-1, "batches", :, "valid_batch_size"]) == math.ceil(0.15 * 50)

    with pytest.raises(ValueError, match=r"validation_fraction=0.1 of 12 images.*3 classes"):
        _tiny(validation_fraction=0.1).fit(*_noise(12, n_classes=3))


# ------------------------------------------------------ warm_start, partial_fit
def test_warm_start_continues_from_the_previous_weights():
    X, y = _noise(32)
    recorder = _StateRecorder()
    clf = _tiny(max_epochs=2, warm_start=True, callbacks=[("recorder", recorder)]).fit(X, y)
    after_first = _state(clf)
    module = clf.module_
    clf.fit(X, y)
    assert len(clf.history) == 4
    assert clf.module_ is module
    assert _same_state(recorder.at_train_begin[-1], after_first)
    assert not _same_state(_state(clf), after_first)

    with pytest.raises(ValueError, match=r"labels \['z'\] were not seen"):
        clf.fit(X, np.where(y == "a", "z", y))
    with pytest.raises(ValueError, match=r"\(1, 20, 20\).*\(1, 16, 16\)"):
        clf.fit(_noise(32, size=20)[0], y)
    assert clf.input_shape_ == (1, 16, 16) and len(clf.history) == 4

    cold = _tiny(max_epochs=2).fit(X, y)
    cold.fit(X, y)
    assert len(cold.history) == 2


def test_partial_fit_continues_training(augment_calls):
    X, y = _noise(32)
    assert len(_tiny().partial_fit(X, y).history) == 1  # the first call is fit

    recorder = _StateRecorder()
    clf = _tiny(
        batch_size=64, horizontal_flip=True, rotation=20.0, callbacks=[("recorder", recorder)]
    ).fit(X, y)
    after_fit = _state(clf)
    assert clf.partial_fit(X, y) is clf
    assert len(clf.history) == 2
    assert _same_state(recorder.at_train_begin[-1], after_fit)
    assert not _same_state(_state(clf), after_fit)
    # The second call neither replays the shuffle nor the augmentation of the first.
    (first_in, first_out), (second_in, second_out) = augment_calls
    assert not torch.equal(first_in, second_in)
    assert not torch.equal(first_out, second_out)

    with pytest.raises(ValueError, match=r"labels \['z'\] were not seen"):
        clf.partial_fit(X, np.where(y == "a", "z", y))
    with pytest.raises(ValueError, match=r"\(3, 16, 16\).*\(1, 16, 16\)"):
        clf.partial_fit(_noise(32, channels=3)[0], y)
    # partial_fit on a subset of the classes is fine.
    clf.partial_fit(X[y == "a"], y[y == "a"])
    assert len(clf.history) == 3

    # Continued training is reproducible too.
    twin = _tiny(batch_size=64, horizontal_flip=True, rotation=20.0).fit(X, y)
    twin.partial_fit(X, y)
    twin.partial_fit(X[y == "a"], y[y == "a"])
    assert _same_state(_state(twin), _state(clf))


# ----------------------------------------------------------------- composition
def test_pipeline_with_grayscale_and_resize_on_mixed_size_rgb_images():
    rng = np.random.RandomState(0)
    sizes = rng.randint(20, 41, size=(36, 2))
    images = [rng.randint(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    y = np.array(["happy", "sad", "surprise"] * 12)
    pipe = Pipeline([("gray", Grayscale()), ("resize", Resize(32)), ("cnn", _tiny(max_epochs=2))])
    pipe.fit(images, y)
    assert pipe.named_steps["cnn"].input_shape_ == (1, 32, 32)
    predicted = pipe.predict(images[:5])
    assert predicted.shape == (5,) and set(predicted) <= set(y)
    assert pipe.predict_proba(images[:5]).shape == (5, 3)


SEARCH_SPACE = {
    "lr": [1e-3, 3e-3, 1e-2],
    "batch_size": [8, 16],
    "max_epochs": [1, 2],
    "module__dropout": [0.0, 0.5],
    "rotation": [0.0, 15.0],
}


def test_randomized_search():
    X, y = _noise(32)
    search = RandomizedSearchCV(
        _tiny(), SEARCH_SPACE, n_iter=3, cv=2, n_jobs=1, random_state=0, error_score="raise"
    )
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 3
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert set(search.best_params_) == set(SEARCH_SPACE)
    best = search.best_estimator_
    assert best.get_params()["device"] == "cpu" and best.rotation == search.best_params_["rotation"]
    assert best.module_.classifier[2].p == search.best_params_["module__dropout"]
    assert set(search.predict(X)) <= {"a", "b"}


def test_halving_random_search():
    X, y = _noise(48)
    search = HalvingRandomSearchCV(
        _tiny(),
        SEARCH_SPACE,
        n_candidates=4,
        factor=2,
        cv=2,
        n_jobs=1,
        random_state=0,
        error_score="raise",
    )
    search.fit(X, y)
    assert search.n_iterations_ >= 2
    assert len(search.cv_results_["params"]) > 4  # candidates re-run on more data
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert set(search.best_params_) == set(SEARCH_SPACE)
    assert search.best_estimator_.history  # refitted


def test_cross_val_score_with_string_labels():
    X, y = _noise(32)
    y = np.where(y == "a", "happy", "sad")
    scores = cross_val_score(_tiny(), X, y, cv=2)
    assert scores.shape == (2,)
    assert ((scores >= 0) & (scores <= 1)).all()
