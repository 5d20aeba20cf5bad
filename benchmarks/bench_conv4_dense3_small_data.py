"""Does README's suggested CNN learn on small data with its defaults? BatchNorm statistics.

``CNNClassifier(module="conv4_dense3")`` with default settings on the README split of
``make_synthetic_faces(n_samples=1400, random_state=0)`` (1,050 training and 350 test
faces, 7 classes, chance 0.14), one training per seed. Three test accuracies come from
each training, because BatchNorm's running statistics do not change what the network
computes in training mode (it normalises with batch statistics), so the weights are the
same whatever the momentum:

* ``keras_0.01``: running statistics with Keras' momentum (0.99, PyTorch's 0.01), the
  network's default before it changed; kept in shadow buffers during training;
* ``momentum_0.1``: the network's own statistics with its default ``bn_momentum=0.1``;
* ``recomputed``: after ``RecomputeBatchNorm`` (on by default in ``CNNClassifier``),
  which sets them to the training data's at the end of ``fit``.

Run: ``python benchmarks/bench_conv4_dense3_small_data.py --seeds 0 1 2`` (one full
training per seed; figures in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.model_selection import train_test_split

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import CNNClassifier
from fer_toolkit.estimators._callbacks import RecomputeBatchNorm

_BATCHNORM = torch.nn.modules.batchnorm._BatchNorm


class _ThreeWayScore(RecomputeBatchNorm):
    """Keeps Keras-momentum shadow statistics; scores the test set three ways at the end."""

    def __init__(self, X_test, y_test):
        self.X_test = X_test
        self.y_test = y_test

    def on_train_begin(self, net, **kwargs):
        self.shadow_ = {}
        for layer in net.module_.modules():
            if isinstance(layer, _BATCHNORM):
                self.shadow_[layer] = (
                    torch.zeros_like(layer.running_mean),
                    torch.ones_like(layer.running_var),
                )
                layer.register_forward_hook(self._follow)

    def _follow(self, layer, inputs, output):
        if not layer.training or layer not in self.shadow_:
            return
        x = inputs[0].detach().float()
        dims = [0, *range(2, x.dim())]
        mean, var = self.shadow_[layer]
        mean.mul_(0.99).add_(0.01 * x.mean(dim=dims))
        var.mul_(0.99).add_(0.01 * x.var(dim=dims, unbiased=True))

    def on_train_end(self, net, **kwargs):
        shadow, self.shadow_ = self.shadow_, {}  # stop following before the recompute pass
        own = {layer: (layer.running_mean.clone(), layer.running_var.clone()) for layer in shadow}
        for layer, (mean, var) in shadow.items():
            layer.running_mean.copy_(mean)
            layer.running_var.copy_(var)
        self.scores_ = {"keras_0.01": net.score(self.X_test, self.y_test)}
        for layer, (mean, var) in own.items():
            layer.running_mean.copy_(mean)
            layer.running_var.copy_(var)
        self.scores_["momentum_0.1"] = net.score(self.X_test, self.y_test)
        super().on_train_end(net, **kwargs)
        self.scores_["recomputed"] = net.score(self.X_test, self.y_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    faces = make_synthetic_faces(n_samples=1400, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(
        faces.images, faces.target, stratify=faces.target, random_state=0
    )
    print("seed  keras_0.01  momentum_0.1  recomputed  last_train_loss  seconds")
    for seed in args.seeds:
        start = time.perf_counter()
        probe = _ThreeWayScore(X_test, y_test)
        clf = CNNClassifier(
            module="conv4_dense3",
            random_state=seed,
            callbacks=[("three_way", probe)],
            callbacks__batchnorm_stats=None,  # the probe recomputes, after its other scores
        ).fit(X_train, y_train)
        scores = probe.scores_
        print(
            f"{seed:4d}  {scores['keras_0.01']:10.3f}  {scores['momentum_0.1']:12.3f}  "
            f"{scores['recomputed']:10.3f}  {clf.history[-1, 'train_loss']:15.3f}  "
            f"{time.perf_counter() - start:7.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
