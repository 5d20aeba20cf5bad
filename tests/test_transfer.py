"""Transfer learning into CNNClassifier: backbones, freezing, discriminative rates, unfreezing."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback
from torch import nn

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import (
    Backbone,
    CNNClassifier,
    RotationPretext,
    save_backbone,
)
from fer_toolkit.estimators.transfer import backbone_blocks, freeze_blocks, unfreeze_plan
from fer_toolkit.models import get_model

FAST = {"validation_fraction": None, "batch_size": 32, "random_state": 0}


@pytest.fixture(scope="module")
def faces():
    return make_synthetic_faces(
        n_samples=64, classes=["happy", "sad"], image_size=32, random_state=0
    )


@pytest.fixture(scope="module")
def pretext(faces):
    return RotationPretext(module__width=4, max_epochs=1, random_state=0).fit(faces.images)


def _state(module):
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[key], b[key]) for key in a)


def test_blocks_of_registry_backbones():
    counts = {
        name: len(backbone_blocks(get_model(name)().features))
        for name in ("baseline", "conv4_dense3", "vgg_fer")
    }
    assert counts == {"baseline": 4, "conv4_dense3": 4, "vgg_fer": 8}
    first = backbone_blocks(get_model("conv4_dense3")().features)[0]
    assert [type(m).__name__ for m in first] == ["Conv2d", "ReLU", "BatchNorm2d", "MaxPool2d"]


def test_freeze_blocks_flips_requires_grad():
    features = get_model("baseline")(width=4).features
    freeze_blocks(features, 2)
    flags = [
        all(p.requires_grad for m in block for p in m.parameters())
        for block in backbone_blocks(features)
    ]
    assert flags == [False, False, True, True]


def test_unfreeze_plan():
    assert unfreeze_plan(3, 2) == {4: 1, 7: 0}
    assert unfreeze_plan({5: 0, 2: 1}, 2) == {2: 1, 5: 0}
    with pytest.raises(ValueError, match="only unfreeze"):
        unfreeze_plan({2: 3}, 2)
    with pytest.raises(ValueError, match="epoch 0"):
        unfreeze_plan({0: 1}, 2)


def test_backbone_weights_are_copied_from_pretext(faces, pretext):
    clf = CNNClassifier(backbone=pretext, max_epochs=1, lr=1e-12, **FAST)
    clf.initialize_for(faces.images[:1], faces.target)
    assert _same(_state(pretext.backbone_.features), _state(clf.module_.features))
    assert clf.module_.features is not pretext.backbone_.features
    scratch = CNNClassifier(module__width=4, max_epochs=1, **FAST)
    scratch.initialize_for(faces.images[:1], faces.target)
    assert not _same(_state(pretext.backbone_.features), _state(scratch.module_.features))


def test_frozen_backbone_is_bitwise_unchanged_and_head_trains(faces, pretext):
    before = _state(pretext.backbone_.features)
    clf = CNNClassifier(backbone=pretext, freeze="backbone", max_epochs=2, **FAST)
    clf.initialize_for(faces.images[:1], faces.target)
    head = _state(clf.module_.classifier)
    clf.fit(faces.images, faces.target)
    assert _same(before, _state(clf.module_.features))  # weights and BN running statistics
    assert not _same(head, _state(clf.module_.classifier))
    assert _same(before, _state(pretext.backbone_.features))  # the source is untouched
    assert clf.frozen_blocks_ == 4


def test_freeze_first_k_blocks(faces, pretext):
    clf = CNNClassifier(backbone=pretext, freeze=1, max_epochs=2, **FAST)
    clf.fit(faces.images, faces.target)
    blocks = backbone_blocks(clf.module_.features)
    source = backbone_blocks(pretext.backbone_.features)

    def params(block):
        return [p.detach() for m in block for p in m.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(params(blocks[0]), params(source[0]), strict=True))
    assert not all(
        torch.equal(a, b) for a, b in zip(params(blocks[3]), params(source[3]), strict=True)
    )
    with pytest.raises(ValueError, match="has 4 blocks"):
        CNNClassifier(backbone=pretext, freeze=5, max_epochs=1, **FAST).fit(
            faces.images, faces.target
        )


def test_backbone_lr_param_groups(faces, pretext):
    clf = CNNClassifier(backbone=pretext, lr=1e-3, backbone_lr=1e-5, max_epochs=1, **FAST)
    clf.initialize_for(faces.images[:1], faces.target)
    groups = clf.optimizer_.param_groups
    assert [group["lr"] for group in groups] == [1e-5, 1e-3]
    features = {id(p) for p in clf.module_.features.parameters()}
    assert {id(p) for p in groups[0]["params"]} == features
    assert not features & {id(p) for p in groups[1]["params"]}
    plain = CNNClassifier(backbone=pretext, max_epochs=1, **FAST)
    assert len(plain.initialize_for(faces.images[:1], faces.target).optimizer_.param_groups) == 1


def test_gradual_unfreezing_at_scheduled_epoch(faces, pretext):
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, net, **kwargs):
            snapshots.append((net.frozen_blocks_, _state(net.module_.features)))

    clf = CNNClassifier(
        backbone=pretext,
        freeze="backbone",
        unfreeze_schedule={3: 2, 4: 0},
        max_epochs=4,
        callbacks=[("snapshot", Snapshot())],
        **FAST,
    )
    clf.fit(faces.images, faces.target)
    assert [count for count, _ in snapshots] == [4, 4, 2, 0]
    start = _state(pretext.backbone_.features)
    assert _same(start, snapshots[1][1])  # epochs 1-2 frozen
    changed = [key for key in start if not torch.equal(start[key], snapshots[2][1][key])]
    assert changed and all(
        key.split(".")[0] in {"7", "8", "9", "10", "11", "12", "13"} for key in changed
    )
    assert clf.frozen_blocks_ == 0
    assert all(p.requires_grad for p in clf.module_.features.parameters())


def test_frozen_batchnorm_stays_in_eval_mode(faces, pretext):
    clf = CNNClassifier(backbone=pretext, freeze=2, max_epochs=1, **FAST)
    clf.fit(faces.images, faces.target)
    clf._set_training(True)
    norms = [
        [m.training for m in block if isinstance(m, nn.BatchNorm2d)]
        for block in backbone_blocks(clf.module_.features)
    ]
    assert norms == [[False], [False], [True], [True]]


def test_unfreeze_schedule_needs_freeze(faces):
    with pytest.raises(ValueError, match="freeze='none'"):
        CNNClassifier(unfreeze_schedule=2, max_epochs=1, **FAST).fit(faces.images, faces.target)


def test_grid_search_over_freeze_and_backbone_lr(faces, pretext):
    clf = CNNClassifier(backbone=pretext.backbone_, max_epochs=1, **FAST)
    grid = {"freeze": ["none", "backbone", 2], "backbone_lr": [None, 1e-4]}
    search = GridSearchCV(clf, grid, cv=2).fit(faces.images, faces.target)
    assert len(search.cv_results_["params"]) == 6
    assert search.best_estimator_.backbone is not pretext.backbone_  # clone copies it
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_clone_and_pickle(faces, pretext):
    clf = CNNClassifier(
        backbone=pretext.backbone_, freeze=2, backbone_lr=1e-4, max_epochs=1, **FAST
    )
    params = clone(clf).get_params(deep=False)
    assert params["freeze"] == 2 and params["backbone_lr"] == 1e-4
    assert isinstance(params["backbone"], Backbone)
    clf.fit(faces.images, faces.target)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(
        restored.predict_proba(faces.images[:8]), clf.predict_proba(faces.images[:8])
    )
    assert restored.frozen_blocks_ == 2


def test_unfitted_pretext_estimator_is_refused(faces):
    clf = CNNClassifier(backbone=RotationPretext(module__width=4), max_epochs=1, **FAST)
    with pytest.raises(ValueError, match="unfitted RotationPretext"):
        clf.fit(faces.images, faces.target)


def test_saved_backbone_file(faces, pretext, tmp_path):
    path = tmp_path / "backbone.pt"
    pretext.save_backbone(path)
    clf = CNNClassifier(backbone=str(path), freeze="backbone", max_epochs=1, **FAST)
    clf.fit(faces.images, faces.target)
    assert _same(_state(pretext.backbone_.features), _state(clf.module_.features))


def test_mismatched_backbones_are_refused(faces, pretext, tmp_path):
    rgb = np.repeat(faces.images[..., None], 3, axis=-1)
    with pytest.raises(ValueError, match="pretrained on 1-channel images"):
        CNNClassifier(backbone=pretext, max_epochs=1, **FAST).fit(rgb, faces.target)
    with pytest.raises(ValueError, match="set module='baseline'"):
        CNNClassifier("conv4_dense3", backbone=pretext, max_epochs=1, **FAST).fit(
            faces.images, faces.target
        )
    with pytest.raises(ValueError, match="do not fit 'baseline'"):
        CNNClassifier(backbone=pretext, module__width=8, max_epochs=1, **FAST).fit(
            faces.images, faces.target
        )
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a backbone")
    with pytest.raises(ValueError, match=r"junk\.pt: not a fer_toolkit backbone file"):
        CNNClassifier(backbone=junk, max_epochs=1, **FAST).fit(faces.images, faces.target)
    wrong = tmp_path / "wrong.pt"
    save_backbone(Backbone("baseline", {"width": 4}), wrong)
    content = torch.load(wrong, weights_only=True)
    content["state_dict"].pop("0.weight")
    torch.save(content, wrong)
    with pytest.raises(ValueError, match=r"wrong\.pt: the weights do not fit"):
        CNNClassifier(backbone=wrong, max_epochs=1, **FAST).fit(faces.images, faces.target)


def test_user_module_backbone(faces):
    user = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 5, 3, stride=2)
    )
    before = _state(user)
    clf = CNNClassifier(backbone=user, freeze=1, module__dropout=0.1, max_epochs=2, **FAST)
    clf.fit(faces.images, faces.target)
    assert _same(before, _state(user))  # the user's module is never changed
    assert clf.module_.classifier[-1].in_features == 5
    assert torch.equal(clf.module_.features[0].weight, user[0].weight)  # frozen first block
    assert not torch.equal(clf.module_.features[3].weight, user[3].weight)
    assert clf.predict(faces.images[:4]).shape == (4,)
    with pytest.raises(ValueError, match=r"cannot take images of shape \(3, 32, 32\)"):
        rgb = np.repeat(faces.images[..., None], 3, axis=-1)
        CNNClassifier(backbone=user, max_epochs=1, **FAST).fit(rgb, faces.target)


def test_user_module_returning_vectors(faces):
    user = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 7))
    clf = CNNClassifier(backbone=user, backbone_lr=1e-4, max_epochs=1, **FAST)
    clf.fit(faces.images, faces.target)
    assert clf.module_.classifier[-1].in_features == 7
    assert clf.optimizer_.param_groups[0]["lr"] == 1e-4
