"""Test-sized run of examples/plot_pretraining.py: the pretraining evidence pipeline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plot_pretraining.py"
SMALL = {"n_per_class": 4, "n_unlabelled": 48, "n_test": 24, "image_size": 32}


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("plot_pretraining", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the script's work is under `if __name__ == "__main__"`
    return module


def _state(module):
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def test_pretrained_features_are_used(example):
    (X, y), unlabelled, _ = example.make_data(0, **SMALL)
    pretext = example.pretrain("rotation", unlabelled, 0, epochs=1, width=4)
    pretrained = _state(pretext.backbone_.features)

    frozen = example.classifier(0, backbone=pretext, freeze="backbone", epochs=2, width=4)
    frozen.fit(X, y)
    assert all(torch.equal(pretrained[k], v) for k, v in _state(frozen.module_.features).items())

    tuned = example.classifier(0, backbone=pretext, epochs=2, width=4).fit(X, y)
    scratch = example.classifier(0, epochs=2, width=4).fit(X, y)
    assert tuned.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3 / 3)
    tuned_w = tuned.module_.features[0].weight
    assert not torch.equal(tuned_w, scratch.module_.features[0].weight)
    # Fine-tuning starts from the pretrained weights: it stays closer to them than scratch.
    start = pretrained["0.weight"]
    assert (tuned_w - start).norm() < (scratch.module_.features[0].weight - start).norm()


def test_every_method_is_scored_on_the_same_split(example):
    records = example.run(
        [0, 1],
        data_options=SMALL,
        pretrain_options={"epochs": 1, "width": 4},
        finetune_options={"epochs": 1, "width": 4},
    )
    assert [r["method"] for r in records] == list(example.METHODS) * 2
    assert len({r["test_set"] for r in records}) == 1  # one test set for all seeds and methods
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in records)
    table = example.summary(records)
    assert all(method in table for method in example.METHODS)
    (X0, _), unlabelled0, _ = example.make_data(0, **SMALL)
    (X1, _), unlabelled1, _ = example.make_data(1, **SMALL)
    assert not np.array_equal(X0, X1) and not np.array_equal(unlabelled0, unlabelled1)
