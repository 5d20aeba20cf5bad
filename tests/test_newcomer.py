"""A newcomer's first hour: typos caught early, flags that work, readable logs, progress."""

from __future__ import annotations

import io
import re
import sys
import warnings

import pytest
import torch
from click.testing import CliRunner

from fer_toolkit.cli import main
from fer_toolkit.cli._data import LabelSetParam
from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import ChanceLevelWarning, CNNClassifier
from fer_toolkit.estimators._callbacks import TrainingProgress

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _data_must_not_load(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the data was loaded before the options were checked")

    monkeypatch.setattr("fer_toolkit.cli._data.make_synthetic_faces", refuse)


# ------------------------------------------------------------------ --label-set
@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("happy,sadd", "sad"), ("hapy,sad", "happy"), ("sad,nuetral", "neutral")],
)
def test_a_misspelt_emotion_in_label_set_is_refused_with_a_suggestion(
    tmp_path, monkeypatch, text, suggestion
):
    _data_must_not_load(monkeypatch)
    result = CliRunner().invoke(
        main, ["train", "--data", "synthetic:40", "--label-set", text, "--out", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert f"did you mean {suggestion!r}?" in result.output
    assert "Traceback" not in result.output


def test_label_set_keeps_custom_class_names_of_image_folders():
    labels = LabelSetParam().convert("positive,negative", None, None)
    assert labels.classes == ("positive", "negative")


def test_a_custom_class_on_emotion_only_data_fails_before_the_data_loads(tmp_path, monkeypatch):
    _data_must_not_load(monkeypatch)
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            "synthetic:40",
            "--label-set",
            "happy,positive",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "'positive'" in result.output and "emotion labels only" in result.output


# ------------------------------------------------------------------------ --set
def test_an_unknown_setting_fails_before_the_data_loads(tmp_path, monkeypatch):
    _data_must_not_load(monkeypatch)
    result = CliRunner().invoke(
        main, ["train", "--data", "synthetic:40", "--set", "max_epoch=2", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1, result.output
    assert "unknown parameter 'max_epoch' (did you mean 'max_epochs'?)" in result.output
    assert not (tmp_path / "model.json").exists()


# ------------------------------------------------------------- cascade train -h
def test_cascade_h_without_a_value_points_to_help():
    result = CliRunner().invoke(main, ["cascade", "train", "-h"])
    assert result.exit_code == 2
    assert "-h is the sample height" in result.output and "--help" in result.output


def test_cascade_h_with_a_value_is_still_the_height():
    result = CliRunner().invoke(main, ["cascade", "train", "-w", "24", "-h", "24"])
    assert result.exit_code == 2
    assert "sample height" not in result.output and "'-data'" in result.output


# ----------------------------------------------------------- global --verbose
def test_verbose_before_the_command_shows_the_traceback(tmp_path):
    args = ["train", "--data", "synthetic:40", "--set", "max_epoch=2", "--out", str(tmp_path)]
    quiet = CliRunner().invoke(main, args)
    loud = CliRunner().invoke(main, ["--verbose", *args])
    assert quiet.exit_code == loud.exit_code == 1
    assert "Traceback" not in quiet.output
    assert "Traceback" in loud.output and "unknown parameter 'max_epoch'" in loud.output


def test_main_help_mentions_only_flags_it_takes():
    result = CliRunner().invoke(main, ["--help"])
    assert "--verbose" in result.output and "--quiet" in result.output
    assert CliRunner().invoke(main, ["--verbose", "--help"]).exit_code == 0


# ------------------------------------------------------------ colour in logs
@pytest.fixture(scope="module")
def faces():
    return make_synthetic_faces(n_samples=64, classes=["happy", "sad"], random_state=0)


def _fit_printing(faces):
    CNNClassifier(module__width=4, max_epochs=2, batch_size=32, random_state=0, verbose=1).fit(
        faces.images, faces.target
    )


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_epoch_table_has_no_colour_codes_when_redirected(faces, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    _fit_printing(faces)
    table = stream.getvalue()
    assert "train_loss" in table and "valid_acc" in table
    assert not ANSI.search(table)


def test_the_epoch_table_keeps_its_colours_on_a_terminal(faces, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = _Terminal()
    monkeypatch.setattr(sys, "stdout", stream)
    _fit_printing(faces)
    assert ANSI.search(stream.getvalue())
    monkeypatch.setenv("NO_COLOR", "1")
    stream = _Terminal()
    monkeypatch.setattr(sys, "stdout", stream)
    _fit_printing(faces)
    assert not ANSI.search(stream.getvalue())


# ------------------------------------------------------------------- progress
def test_training_progress_counts_every_batch_of_every_epoch(faces, capsys):
    net = CNNClassifier(
        module__width=4,
        max_epochs=3,
        batch_size=16,
        validation_fraction=None,
        random_state=0,
        callbacks=[("progress", TrainingProgress(desc="refit"))],
    )
    net.fit(faces.images, faces.target)
    err = capsys.readouterr().err
    assert "refit" in err and "12/12" in err and "epoch=3/3" in err
    assert dict(net.callbacks_)["progress"].bar_ is None  # nothing unpicklable stays behind


def test_training_progress_disabled_prints_nothing(faces, capsys):
    net = CNNClassifier(
        module__width=4,
        max_epochs=1,
        validation_fraction=None,
        callbacks=[("progress", TrainingProgress(disable=True))],
    )
    net.fit(faces.images, faces.target)
    assert capsys.readouterr().err == ""


def test_pretrain_shows_progress_unless_quiet(tmp_path, monkeypatch):
    small = make_synthetic_faces(24, random_state=0).images
    monkeypatch.setattr(
        "fer_toolkit.cli.pretrain._unlabelled_images", lambda data, size, seed: small
    )
    args = ["pretrain", "synthetic", "--epochs", "2", "--batch-size", "8", "--device", "cpu"]
    shown = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a.pt")])
    assert shown.exit_code == 0, shown.output
    assert "rotation" in shown.output and "6/6" in shown.output and "epoch=2/2" in shown.output
    hidden = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b.pt"), "--no-progress"])
    assert hidden.exit_code == 0, hidden.output
    assert "6/6" not in hidden.output and "Wrote" in hidden.output
    # --quiet before the command works as after it: nothing but errors.
    silent = CliRunner().invoke(main, ["--quiet", *args, "--out", str(tmp_path / "c.pt")])
    assert silent.exit_code == 0 and silent.output == ""


# ------------------------------------------- BatchNorm statistics, chance level
class StaleStats(torch.nn.Module):
    """BatchNorm whose running statistics never move from a wrong start (momentum 0).

    In training mode it normalises with batch statistics and learns; in evaluation mode
    every activation is pushed below zero, so it predicts one class: the pattern of
    running statistics that did not converge, made certain.
    """

    def __init__(self, in_channels=1, n_classes=2, image_size=(48, 48)):
        super().__init__()
        nn = torch.nn
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, stride=2),
            nn.BatchNorm2d(16, momentum=0.0),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3),
            nn.BatchNorm2d(16, momentum=0.0),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(3),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(144, n_classes))
        for layer in (self.features[1], self.features[5]):
            layer.running_mean.fill_(50.0)

    def forward(self, x):
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def happy_sad():
    return make_synthetic_faces(n_samples=200, classes=["happy", "sad"], random_state=0)


def _fit_stale(faces, **params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = CNNClassifier(
            StaleStats, max_epochs=6, lr=0.01, batch_size=16, random_state=0, **params
        ).fit(faces.images, faces.target)
    return net, [w for w in caught if issubclass(w.category, ChanceLevelWarning)]


def test_chance_level_warning_when_the_loss_falls_but_validation_stays_at_chance(happy_sad):
    net, caught = _fit_stale(happy_sad, callbacks__batchnorm_stats=None)
    losses = net.history[:, "train_loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert net.score(happy_sad.images, happy_sad.target) == pytest.approx(0.5)
    assert len(caught) == 1
    assert "validation accuracy stayed at chance (0.50; chance 0.50)" in str(caught[0].message)


def test_recomputed_statistics_rescue_the_network_and_silence_the_warning(happy_sad):
    net, caught = _fit_stale(happy_sad)  # the default: statistics recomputed at the end of fit
    assert net.score(happy_sad.images, happy_sad.target) > 0.85
    assert caught == []


def test_chance_level_warning_can_be_turned_off(happy_sad):
    _, caught = _fit_stale(happy_sad, callbacks__batchnorm_stats=None, callbacks__chance_level=None)
    assert caught == []


def test_running_statistics_are_those_of_the_training_data(happy_sad):
    net = CNNClassifier(
        StaleStats, max_epochs=1, batch_size=20, validation_fraction=None, random_state=0
    ).fit(happy_sad.images, happy_sad.target)
    first = net.module_.features[1]
    seen = []
    hook = first.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    net.predict_proba(happy_sad.images)
    hook.remove()
    inputs = torch.cat(seen)
    # 10 batches of 20: the cumulative average of batch means is the mean over all images.
    assert torch.allclose(first.running_mean, inputs.mean(dim=(0, 2, 3)), atol=1e-5)
    assert first.momentum == 0.0  # the layer's own setting is put back


def test_frozen_blocks_keep_their_batchnorm_statistics(happy_sad):
    net = CNNClassifier(
        module__width=4, freeze=1, max_epochs=1, validation_fraction=None, random_state=0
    ).fit(happy_sad.images, happy_sad.target)
    norms = [m for m in net.module_.features.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert torch.equal(norms[0].running_mean, torch.zeros_like(norms[0].running_mean))
    assert torch.equal(norms[0].running_var, torch.ones_like(norms[0].running_var))
    assert not torch.equal(norms[1].running_mean, torch.zeros_like(norms[1].running_mean))


def test_an_interrupted_recompute_keeps_the_moving_averages(happy_sad, monkeypatch):
    net = CNNClassifier(
        StaleStats, max_epochs=1, batch_size=20, validation_fraction=None, random_state=0
    )
    calls = []
    original = CNNClassifier.infer

    def second_ctrl_c(self, x, **fit_params):
        if not self.module_.training and any(m.training for m in self.module_.modules()):
            calls.append(1)
            if len(calls) == 3:  # the third batch of the recompute pass
                raise KeyboardInterrupt
        return original(self, x, **fit_params)

    monkeypatch.setattr(CNNClassifier, "infer", second_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        net.fit(happy_sad.images, happy_sad.target)
    first = net.module_.features[1]
    assert torch.equal(first.running_mean, torch.full_like(first.running_mean, 50.0))
    assert first.momentum == 0.0 and not first.training
