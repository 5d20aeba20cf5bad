"""skorch callbacks behind CNNClassifier's plain parameters."""

from __future__ import annotations

import copy

import numpy as np
from skorch.callbacks import Callback

__all__ = ["RestoreBestWeights", "encoded_accuracy"]


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


def encoded_accuracy(net, X, y):
    """Accuracy against the integer-encoded targets skorch sees during ``fit``.

    The estimator's public ``predict`` returns the original labels; inside the
    training loop the targets are their codes, so scoring compares codes.
    """
    y_pred = np.asarray(net.predict_proba(X)).argmax(axis=1)
    return float(np.mean(y_pred == np.asarray(y)))
