"""Training and inference throughput of CNNClassifier vs a plain PyTorch loop on the same network.

Draws 48x48 uint8 faces with ``make_synthetic_faces`` (kept as uint8 on the
host and scaled to float /255 batch by batch in every variant), then times, in
one run, ``--repeats`` interleaved rounds (every variant once per round, the
first variant of a round rotating):

* training, for the ``baseline`` and ``conv4_dense3`` networks (same class, same
  constructor arguments, AdamW at the same learning rate, batch 64, shuffled
  batches, no validation split, no augmentation, ``device`` as given):

  - ``ours``: ``CNNClassifier(...).fit(X, y)`` with ``validation_fraction=None``
    and ``iterator_train__shuffle=True``;
  - ``plain DataLoader``: the loop a user writes, a ``DataLoader`` over a
    ``TensorDataset``, ``model.train()``, zero_grad / forward /
    ``CrossEntropyLoss`` / backward / step (and ``loss.item()`` per batch);
  - ``plain slicing``: the same loop over slices of a ``randperm`` of a tensor.

  Each timed run builds the model and the optimizer and trains ``--epochs``
  epochs, as ``fit`` does. ``ours`` and ``plain DataLoader`` start from the same
  seed and draw the same shuffles and dropout masks, so the script checks that
  they end with the same weights (bit for bit on CPU) after the same number of
  optimizer steps;
* inference (``predict_proba``, batch 256) of the trained network vs a plain
  ``model.eval(); torch.no_grad()`` loop over slices (same probabilities,
  checked);
* one epoch of a FER2013-sized training set (28,709 images) for ``conv4_dense3``
  through ``CNNClassifier(max_epochs=1)``.

Throughputs are the best of the rounds. Training is reported end to end (wall
time of the run) and in steady state (median interval between the starts of
consecutive batches). A ratio ours / plain is the median over the rounds of the
ratio of the two runs of that round: the shared 2-core CPU this was written on
has faster and slower phases lasting seconds to minutes (up to 25% apart, for
every variant alike), and a ratio of best times can pair runs from different
phases. The share of CPU time used by other processes is printed per section.

With ``--device cuda`` every comparison is repeated for AMP (bfloat16 autocast)
and channels-last memory format off and on (``--amp``, ``--channels-last``);
the same flags work on CPU. ``--quick`` is a smoke test (tiny sizes, one round):
its figures mean nothing.

Usage::

    python benchmarks/bench_training.py [--threads 2] [--repeats 15] [--epochs 1]
        [--n-baseline 2048] [--n-conv4-dense3 512] [--n-predict 1024]
        [--skip-fer2013-epoch] [--quick] [--device cpu|cuda]
        [--amp off|on|both] [--channels-last off|on|both]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import os
import platform
import time
from dataclasses import dataclass

import numpy as np
import skorch
import torch
from skorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import CNNClassifier
from fer_toolkit.models import get_model

BATCH_SIZE = 64
PREDICT_BATCH_SIZE = 256
LR = 1e-3
RANDOM_STATE = 0
FER2013_TRAIN_SIZE = 28_709


@dataclass(frozen=True)
class Config:
    device: str
    amp: bool
    channels_last: bool

    def __str__(self) -> str:
        return (
            f"device={self.device}, amp={'on' if self.amp else 'off'}, "
            f"channels_last={'on' if self.channels_last else 'off'}"
        )


def cpu_name() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


class OtherLoad:
    """Share of the machine's CPU time used by *other* processes while the block runs (Linux).

    A benchmark on a shared machine is only trustworthy when this stays near 0%.
    """

    @staticmethod
    def _busy_seconds() -> float:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(
                int, stat.readline().split()[1:9]
            )
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        self.share = float("nan")
        with contextlib.suppress(OSError, ValueError):
            self._start = (self._busy_seconds(), sum(os.times()[:2]), time.perf_counter())
        return self

    def __exit__(self, *exc_info):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            busy, own, wall = self._start
            others = (self._busy_seconds() - busy) - (sum(os.times()[:2]) - own)
            self.share = max(others, 0.0) / ((time.perf_counter() - wall) * os.cpu_count())
        return False


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def torch_seed() -> int:
    """The torch seed CNNClassifier derives from ``random_state`` (see ``_seeded``)."""
    return int(np.random.RandomState(RANDOM_STATE).randint(0, 2**31 - 1))


def autocast(cfg: Config):
    if not cfg.amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(cfg.device).type, dtype=torch.bfloat16)


# ---------------------------------------------------------------------- ours
class BatchClock(Callback):
    """Time stamps at the start of every training batch (after it is loaded)."""

    def initialize(self):
        self.stamps = []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.stamps.append(time.perf_counter())


def make_ours(model: str, cfg: Config, epochs: int, callbacks=None) -> CNNClassifier:
    return CNNClassifier(
        model,
        lr=LR,
        batch_size=BATCH_SIZE,
        max_epochs=epochs,
        validation_fraction=None,
        device=cfg.device,
        amp=cfg.amp,
        channels_last=cfg.channels_last,
        random_state=RANDOM_STATE,
        iterator_train__shuffle=True,
        iterator_valid__batch_size=PREDICT_BATCH_SIZE,
        callbacks=callbacks,
    )


def ours_train(model: str, X: np.ndarray, y: np.ndarray, cfg: Config, epochs: int):
    clock = BatchClock()
    clf = make_ours(model, cfg, epochs, callbacks=[("batch_clock", clock)]).fit(X, y)
    synchronize(cfg.device)
    steps = sum(row["train_batch_count"] for row in clf.history)
    return clf.module_, steps, clock.stamps


# --------------------------------------------------------------------- plain
def plain_train(model: str, X, y, cfg: Config, epochs: int, *, loader: str):
    """What a user writes by hand: build the model and AdamW, loop over shuffled batches."""
    device = cfg.device
    n_classes = int(y.max()) + 1
    torch.manual_seed(torch_seed())
    net = get_model(model)(
        in_channels=X.shape[1], image_size=tuple(X.shape[2:]), n_classes=n_classes
    )
    net = net.to(device)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=LR)
    criterion = nn.CrossEntropyLoss()
    if loader == "dataloader":
        batches = DataLoader(TensorDataset(X, y), batch_size=BATCH_SIZE, shuffle=True)
    steps, stamps = 0, []
    for _ in range(epochs):
        if loader == "slicing":
            order = torch.randperm(len(X))
            batches = (
                (X[idx], y[idx])
                for idx in (order[i : i + BATCH_SIZE] for i in range(0, len(X), BATCH_SIZE))
            )
        net.train()
        running_loss = 0.0
        for xb, yb in batches:
            stamps.append(time.perf_counter())
            xb = xb.to(device, non_blocking=True).float().div_(255.0)
            if cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yb = yb.to(device, non_blocking=True)
            optimizer.zero_grad()
            with autocast(cfg):
                logits = net(xb)
            loss = criterion(logits.float(), yb)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * len(xb)
            steps += 1
    synchronize(device)
    return net, steps, stamps


def plain_predict_proba(net: nn.Module, X: torch.Tensor, cfg: Config) -> np.ndarray:
    net.eval()
    probas = []
    with torch.no_grad():
        for i in range(0, len(X), PREDICT_BATCH_SIZE):
            xb = X[i : i + PREDICT_BATCH_SIZE].to(cfg.device, non_blocking=True)
            xb = xb.float().div_(255.0)
            if cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast(cfg):
                logits = net(xb)
            probas.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(probas)


# ------------------------------------------------------------------- timing
def interleaved(variants: dict, repeats: int) -> tuple[dict, dict]:
    """Wall times and results of every variant in ``repeats`` interleaved rounds.

    Each round starts with the next variant in turn, so no variant always runs first.
    Returns ``{name: [seconds per round]}`` and ``{name: [result per round]}``.
    """
    times = {name: [] for name in variants}
    results = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            results[name].append(variants[name]())
            times[name].append(time.perf_counter() - start)
    return times, results


def paired_ratio(ours: list[float], plain: list[float]) -> float:
    """Median over the rounds of plain time / ours time (throughput ratio ours / plain).

    This CPU runs in slower and faster phases lasting seconds to minutes; runs of
    one round are next to each other in time, so their ratio is steadier than a
    ratio of best times.
    """
    return float(np.median(np.asarray(plain) / np.asarray(ours)))


def max_weight_difference(a: nn.Module, b: nn.Module) -> float:
    diff = 0.0
    for (key, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        if va.is_floating_point():
            diff = max(diff, (va.float().cpu() - vb.float().cpu()).abs().max().item())
        elif not torch.equal(va.cpu(), vb.cpu()):
            raise AssertionError(f"{key} differs between ours and the plain loop")
    return diff


def bench_model(model: str, n: int, n_predict: int, cfg: Config, args) -> None:
    faces = make_synthetic_faces(n, image_size=48, random_state=0)
    X_np, y_np = faces.images, faces.target
    # uint8 (n, 1, 48, 48) sharing memory with X_np. unsqueeze gives standard strides; a
    # NumPy view (X_np[:, np.newaxis], or a fancy index of it) can leave the size-1 channel
    # axis with stride 0 or 1, and stride 1 makes the input, hence the whole network,
    # channels-last for oneDNN: much faster on CPU, so no longer the same work.
    X_t = torch.from_numpy(X_np).unsqueeze(1)
    y_t = torch.from_numpy(y_np)
    expected_steps = -(-n // BATCH_SIZE) * args.epochs

    variants = {
        "ours (CNNClassifier.fit)": lambda: ours_train(model, X_np, y_np, cfg, args.epochs),
        "plain DataLoader": lambda: plain_train(
            model, X_t, y_t, cfg, args.epochs, loader="dataloader"
        ),
        "plain slicing": lambda: plain_train(model, X_t, y_t, cfg, args.epochs, loader="slicing"),
    }
    ours_train(model, X_np[:256], y_np[:256], cfg, 1)  # warm up kernels and allocators
    times, results = interleaved(variants, args.repeats)
    for name, runs in results.items():
        for _, steps, _ in runs:
            assert steps == expected_steps, f"{name}: {steps} steps, {expected_steps} wanted"
    ours_net = results["ours (CNNClassifier.fit)"][0][0]
    plain_net = results["plain DataLoader"][0][0]
    weight_diff = max_weight_difference(ours_net, plain_net)
    if cfg.device == "cpu" and not cfg.amp:
        assert weight_diff == 0.0, f"weights differ by {weight_diff}"

    n_params = sum(p.numel() for p in ours_net.parameters())
    print(
        f"\n[{model}] {n_params:,} parameters; training: {n} images x {args.epochs} epoch(s), "
        f"batch {BATCH_SIZE}, {expected_steps} optimizer steps in every variant; "
        f"max |ours - plain DataLoader| weight difference after training: {weight_diff:.3g}"
    )
    # Steady state: the median interval between the starts of consecutive batches (one
    # step, its bookkeeping and the loading of the next batch) of each run.
    batch_s = {
        name: [float(np.median(np.diff(stamps))) for _, _, stamps in runs]
        for name, runs in results.items()
    }
    samples = n * args.epochs
    print(
        f"  {'best of the rounds:':28s} {'fit wall':>8s}  {'end to end':>10s}   "
        f"{'median batch':>12s}  steady state"
    )
    for name, seconds in times.items():
        wall, batch = min(seconds), min(batch_s[name])
        print(
            f"  {name:28s} {wall:7.2f} s  {samples / wall:10.1f}/s   "
            f"{1e3 * batch:9.2f} ms  {BATCH_SIZE / batch:10.1f}/s"
        )
    ours = "ours (CNNClassifier.fit)"
    for name in ("plain DataLoader", "plain slicing"):
        print(
            f"  ratio ours / {name} (samples/s), median of per-round ratios: "
            f"end to end {paired_ratio(times[ours], times[name]):.3f}, steady state "
            f"{paired_ratio(batch_s[ours], batch_s[name]):.3f}; ratio of bests "
            f"{min(times[name]) / min(times[ours]):.3f}"
        )

    # Inference on fresh faces with the network trained by ``ours``.
    X_pred = make_synthetic_faces(n_predict, image_size=48, random_state=1).images
    X_pred_t = torch.from_numpy(X_pred).unsqueeze(1)
    clf = make_ours(model, cfg, 1)
    clf.initialize_for(X_pred[:1], np.arange(int(y_np.max()) + 1))
    clf.module_.load_state_dict(ours_net.state_dict())
    plain_net = copy.deepcopy(clf.module_)
    infer = {
        "ours (predict_proba)": lambda: clf.predict_proba(X_pred),
        "plain no_grad loop": lambda: plain_predict_proba(plain_net, X_pred_t, cfg),
    }
    clf.predict_proba(X_pred[:PREDICT_BATCH_SIZE])  # warm up
    times, results = interleaved(infer, args.repeats)
    tolerance = 1e-2 if cfg.amp else 1e-5  # bfloat16 autocast: looser
    np.testing.assert_allclose(
        results["ours (predict_proba)"][0],
        results["plain no_grad loop"][0],
        rtol=0,
        atol=tolerance,
    )
    print(
        f"  inference: {n_predict} images, batch {PREDICT_BATCH_SIZE}; same probabilities; "
        "best of the rounds:"
    )
    for name, seconds in times.items():
        print(f"  {name:28s} {min(seconds):7.2f} s  {n_predict / min(seconds):10.1f}/s")
    ours_s, plain_s = times.values()
    print(
        f"  ratio ours / plain (images/s), median of per-round ratios: "
        f"{paired_ratio(ours_s, plain_s):.3f}; ratio of bests {min(plain_s) / min(ours_s):.3f}"
    )


def fer2013_epoch(cfg: Config) -> None:
    X, y = make_synthetic_faces(FER2013_TRAIN_SIZE, image_size=48, random_state=2, return_X_y=True)
    clf = make_ours("conv4_dense3", cfg, 1)
    start = time.perf_counter()
    clf.fit(X, y)
    synchronize(cfg.device)
    seconds = time.perf_counter() - start
    print(
        f"\n[FER2013-sized epoch] conv4_dense3, {FER2013_TRAIN_SIZE:,} images 48x48, batch "
        f"{BATCH_SIZE}, CNNClassifier(max_epochs=1, validation_fraction=None).fit: "
        f"{seconds:.1f} s wall ({FER2013_TRAIN_SIZE / seconds:.1f} samples/s), "
        f"skorch epoch 'dur' {clf.history[-1, 'dur']:.1f} s"
    )


def on_off(value: str) -> list[bool]:
    return {"off": [False], "on": [True], "both": [False, True]}[value]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1...")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=1, help="epochs per timed training run")
    parser.add_argument("--n-baseline", type=int, default=2048, help="training images, baseline")
    parser.add_argument(
        "--n-conv4-dense3", type=int, default=512, help="training images, conv4_dense3"
    )
    parser.add_argument("--n-predict", type=int, default=1024, help="images for inference")
    parser.add_argument("--amp", choices=["off", "on", "both"], help="default: off on CPU")
    parser.add_argument("--channels-last", choices=["off", "on", "both"])
    parser.add_argument("--skip-fer2013-epoch", action="store_true")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: tiny sizes, 1 repeat, no FER2013 epoch"
    )
    args = parser.parse_args(argv)
    on_cuda = torch.device(args.device).type == "cuda"
    if on_cuda and not torch.cuda.is_available():
        parser.error("--device cuda but no CUDA device is visible")
    default_flag = "both" if on_cuda else "off"
    configs = [
        Config(args.device, amp, cl)
        for amp, cl in itertools.product(
            on_off(args.amp or default_flag), on_off(args.channels_last or default_flag)
        )
    ]
    if args.quick:
        args.repeats, args.epochs = 1, 1
        args.n_baseline, args.n_conv4_dense3, args.n_predict = 512, 128, 512
        args.skip_fer2013_epoch = True
    torch.set_num_threads(args.threads)

    gpu = f", GPU {torch.cuda.get_device_name(args.device)}" if on_cuda else ""
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}, "
        f"skorch {skorch.__version__}, Python {platform.python_version()}"
    )
    print(
        f"torch threads: {torch.get_num_threads()} intra-op, "
        f"{torch.get_num_interop_threads()} inter-op; {args.repeats} interleaved rounds; "
        f"1-min load average at start {os.getloadavg()[0]:.2f}"
    )
    for cfg in configs:
        print(f"\n=== {cfg} ===")
        for model, n in (("baseline", args.n_baseline), ("conv4_dense3", args.n_conv4_dense3)):
            with OtherLoad() as other:
                bench_model(model, n, args.n_predict, cfg, args)
            print(f"  other processes used {100 * other.share:.1f}% of the CPU meanwhile")
    if not args.skip_fer2013_epoch:
        with OtherLoad() as other:
            fer2013_epoch(configs[0])
        print(f"  other processes used {100 * other.share:.1f}% of the CPU meanwhile")


if __name__ == "__main__":
    main()
