"""skorch callbacks behind CNNClassifier's plain parameters."""

from __future__ import annotations

import copy
import math
import os
import re
import sys
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback, PrintLog
from skorch.dataset import unpack_data
from tqdm import tqdm

__all__ = [
    "ChanceLevelWatch",
    "PlainPrintLog",
    "RecomputeBatchNorm",
    "RestoreBestWeights",
    "TrainingProgress",
    "encoded_accuracy",
]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class PlainPrintLog(PrintLog):
    """skorch's epoch table, its best values coloured only when printed to a terminal.

    Redirected to a file or a pipe (or with the ``NO_COLOR`` environment
    variable set), the table is plain text, without ANSI escape codes.
    """

    def format_row(self, row, key, color):
        text = super().format_row(row, key, color)
        if isinstance(text, str) and not _colour_wanted(self.sink):
            return _ANSI.sub("", text)
        return text


def _colour_wanted(sink) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    stream = sys.stdout if sink is print else None
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


class RecomputeBatchNorm(Callback):
    """At the end of training, set BatchNorm running statistics to their training-set values.

    The running mean and variance that BatchNorm uses in evaluation mode are
    moving averages collected while the weights changed; with a slow momentum
    (Keras' 0.99) or a short run they are far from the statistics of the final
    network. This callback resets them and recomputes them as a cumulative
    average over one pass of the training part of the data (no shuffling, no
    augmentation, dropout off, no gradient), with the weights left as they are.
    BatchNorm layers that training left in evaluation mode (frozen blocks)
    keep their statistics. Networks without BatchNorm are untouched.

    It costs one forward pass over the training data per ``fit``.
    """

    def initialize(self):
        self.dataset_train_ = None
        return self

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        self.dataset_train_ = dataset_train

    def on_train_end(self, net, **kwargs):
        dataset, self.dataset_train_ = self.dataset_train_, None
        if dataset is None:
            return
        net._set_training(True)  # the modes training used: frozen blocks stay in eval mode
        layers = [
            module
            for module in net.module_.modules()
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)
            and module.training
            and module.track_running_stats
        ]
        net._set_training(False)
        if not layers:
            return
        momenta = [layer.momentum for layer in layers]
        saved = [{k: v.clone() for k, v in layer.state_dict().items()} for layer in layers]
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # cumulative average over the batches
            layer.train()
        n_batches = 0
        try:
            with torch.no_grad():
                for batch in net.get_iterator(dataset, training=False):
                    Xi, _ = unpack_data(batch)
                    if _batch_length(Xi) > 1:  # BatchNorm needs two values per channel
                        net.infer(Xi)
                        n_batches += 1
        except BaseException:  # a second Ctrl-C, an error: the moving averages, whole
            n_batches = 0
            raise
        finally:
            for layer, momentum, state in zip(layers, momenta, saved, strict=True):
                layer.momentum = momentum
                layer.eval()
                if not n_batches:
                    layer.load_state_dict(state)


def _batch_length(X):
    return len(next(iter(X.values()))) if isinstance(X, dict) else len(X)


class ChanceLevelWatch(Callback):
    """Warn when training loss falls while validation accuracy stays at chance.

    The sign of a network that fits its training data but predicts nothing
    useful in evaluation mode: BatchNorm statistics that did not converge,
    labels that do not match the images, validation data prepared unlike the
    training data. Checked once, when training ends: when the history shows
    the pattern, the final network (after :class:`RecomputeBatchNorm`) is
    scored on the validation data once more, and the warning comes only if
    it is still at chance.

    Parameters
    ----------
    min_epochs : int, default=3
        Fewer epochs say nothing about a trend: no check.
    loss_drop : float, default=0.25
        The training loss "falls" when the last epoch's is at most
        ``1 - loss_drop`` times the first epoch's.
    margin : float, default=0.1
        Validation accuracy is "at chance" when the mean of the last
        ``min_epochs`` epochs (and the final network's) is at most
        ``chance + margin * (1 - chance)``, ``chance`` being the share of
        the validation set's most frequent class (``1 / n_classes`` when
        that is unknown).

    Warns
    -----
    ChanceLevelWarning
        Silence it with ``warnings.filterwarnings("ignore", category=ChanceLevelWarning)``
        or drop the callback: ``CNNClassifier(..., callbacks__chance_level=None)``.
    """

    def __init__(self, min_epochs=3, loss_drop=0.25, margin=0.1):
        self.min_epochs = min_epochs
        self.loss_drop = loss_drop
        self.margin = margin

    def initialize(self):
        self.dataset_valid_ = None
        return self

    def on_epoch_begin(self, net, dataset_valid=None, **kwargs):
        self.dataset_valid_ = dataset_valid

    def on_train_end(self, net, **kwargs):
        dataset, self.dataset_valid_ = self.dataset_valid_, None
        history = net.history
        n_epochs = len(history)
        if n_epochs < self.min_epochs or "valid_acc" not in history[-1]:
            return
        losses = history[:, "train_loss"]
        if losses[-1] > (1 - self.loss_drop) * losses[0]:
            return
        y = _targets(dataset)
        if y is not None and len(y):
            chance = float(np.unique(y, return_counts=True)[1].max() / len(y))
        else:
            chance = 1 / len(net.classes_)
        threshold = chance + self.margin * (1 - chance)
        accuracy = float(np.mean(history[-self.min_epochs :, "valid_acc"]))
        if accuracy > threshold:
            return
        if y is not None and len(y):  # the history predates RecomputeBatchNorm: ask again
            accuracy = encoded_accuracy(net, dataset, y)
            if accuracy > threshold:
                return
        from .cnn import ChanceLevelWarning  # cnn imports this module: at call time

        warnings.warn(
            f"training loss fell from {losses[0]:.3g} to {losses[-1]:.3g} in {n_epochs} "
            f"epochs but validation accuracy stayed at chance ({accuracy:.2f}; chance "
            f"{chance:.2f}): the network does not generalise. Check that the labels match "
            "the images, that validation data is prepared like the training data, and the "
            "BatchNorm momentum (running statistics that lag behind the weights); try more "
            "epochs or another lr.",
            ChanceLevelWarning,
            stacklevel=2,
        )


class RestoreBestWeights(Callback):
    """Keep the module weights of the best epoch in memory; restore them when training ends.

    Parameters
    ----------
    monitor : str, default="valid_loss"
        History key to minimise; the epoch with the lowest value wins.
    """

    def __init__(self, monitor="valid_loss"):
        self.monitor = monitor

    def initialize(self):
        self.best_state_ = None
        self.best_epoch_ = None
        return self

    def on_epoch_end(self, net, **kwargs):
        if net.history[-1, f"{self.monitor}_best"]:
            self.best_epoch_ = len(net.history)
            self.best_state_ = {
                key: value.detach().to("cpu", copy=True)
                for key, value in net.module_.state_dict().items()
            }

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(copy.deepcopy(self.best_state_))


def _targets(dataset):
    """The targets of a skorch ``Dataset`` or a ``Subset`` of one, or None."""
    if isinstance(dataset, torch.utils.data.Subset):
        targets = _targets(dataset.dataset)
        return None if targets is None else targets[np.asarray(dataset.indices)]
    targets = getattr(dataset, "y", None)
    return None if targets is None else np.asarray(targets)


class TrainingProgress(Callback):
    """A tqdm bar (on stderr) over the training batches of a whole ``fit``.

    The bar counts ``max_epochs`` epochs of batches and shows the epoch and
    the last training loss; it closes when training ends (early stopping
    included).

    Parameters
    ----------
    desc : str, default="training"
        Label in front of the bar.
    disable : bool, default=False
        No bar (``--quiet``, ``--no-progress``).
    """

    def __init__(self, desc="training", disable=False):
        self.desc = desc
        self.disable = disable

    def initialize(self):
        self.bar_ = None
        self.epochs_done_ = 0
        return self

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.bar_ is not None:
            return
        batch_size = net.get_params_for("iterator_train").get("batch_size", net.batch_size)
        try:
            total = net.max_epochs * math.ceil(len(dataset_train) / batch_size)
        except TypeError:  # a dataset without a length
            total = None
        self.bar_ = tqdm(total=total, desc=self.desc, unit="batch", disable=self.disable)
        self.epochs_done_ = 0

    def on_batch_end(self, net, training=False, **kwargs):
        if training and self.bar_ is not None:
            self.bar_.update(1)

    def on_epoch_end(self, net, **kwargs):
        if self.bar_ is not None:
            self.epochs_done_ += 1
            row = net.history[-1]
            postfix = {"epoch": f"{self.epochs_done_}/{net.max_epochs}"}
            if "train_loss" in row:
                postfix["train_loss"] = f"{row['train_loss']:.3f}"
            self.bar_.set_postfix(postfix, refresh=False)

    def on_train_end(self, net, **kwargs):
        if self.bar_ is not None:
            self.bar_.close()
        self.bar_ = None  # a fitted estimator pickles without the bar


def encoded_accuracy(net, X, y):
    """Accuracy against the integer-encoded targets skorch sees during ``fit``.

    The estimator's public ``predict`` returns the original labels; inside the
    training loop the targets are their codes, so scoring compares codes.
    """
    y_pred = np.asarray(net.predict_proba(X)).argmax(axis=1)
    return float(np.mean(y_pred == np.asarray(y)))
