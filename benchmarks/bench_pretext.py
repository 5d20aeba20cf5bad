"""Pretext-task training throughput: RotationPretext / JigsawPretext / JointPretext vs plain loops.

Draws 48x48 uint8 faces with ``make_synthetic_faces`` (unlabelled: the labels
are made per batch on the device) and times, in one run, ``--repeats``
interleaved rounds (every variant once per round, the first variant rotating)
of pretext training for each task (rotation, jigsaw, joint) and backbone
(``baseline``, ``conv4_dense3``):

* ``ours``: ``RotationPretext(...)`` / ``JigsawPretext(...)`` /
  ``JointPretext(...)`` ``.fit(X)``, AdamW, batch 64, shuffled, no validation;
* ``plain``: the loop a user writes around the same network and the same
  batch generation: seed torch, build the backbone and heads
  (:class:`~fer_toolkit.estimators.pretext.PretextNetwork`) and AdamW, then per
  batch of a shuffled ``DataLoader`` over a ``TensorDataset``: scale to float
  /255, make the rotated images and the puzzles with the functions of
  ``fer_toolkit.estimators._pretext_data``, zero_grad / forward /
  cross-entropy per task / backward / step, and ``loss.item()``.

Both start from the same seed and draw the same shuffles and pretext labels,
so the script checks that they end with the same weights (bit for bit on CPU
without AMP) after the same number of optimizer steps: the ratio ours / plain
measures the estimator's overhead (skorch's loop, callbacks, history), not a
different amount of work.

Jigsaw puzzles are 3x3 tiles of 13x13 pixels (``tile_crop=0.85`` of 16-pixel
cells); ``conv4_dense3`` needs inputs of at least 46x46, so its tiles are resized to
46x46 (``tile_size=46``): nine 46x46 tiles per image, about nine times the work
of one image. ``n_permutations`` is 100.

Throughputs are images per second end to end (``n`` images x epochs / wall
time of the run, model construction included, as ``fit`` does), best of the
rounds; a ratio ours / plain is the median over the rounds of the ratio of the
two runs of that round (see ``bench_training.py``: this shared CPU has faster
and slower phases). The share of CPU time used by other processes is printed
per section, and the 1-minute load average at the start.

Usage::

    python benchmarks/bench_pretext.py [--threads 2] [--repeats 5] [--epochs 1]
        [--n-baseline 1024] [--n-conv4-dense3 256] [--device cpu|cuda]
        [--amp off|on] [--channels-last off|on] [--tasks rotation jigsaw joint]
        [--models baseline conv4_dense3] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform

import numpy as np
import skorch
import torch
from bench_training import OtherLoad, cpu_name, interleaved, paired_ratio, synchronize
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import (
    Backbone,
    JigsawPretext,
    JointPretext,
    RotationPretext,
    jigsaw_permutations,
)
from fer_toolkit.estimators._pretext_data import (
    N_ROTATIONS,
    jigsaw_geometry,
    random_jigsaw,
    random_rotations,
)
from fer_toolkit.estimators.pretext import PretextNetwork

BATCH_SIZE = 64
LR = 1e-3
RANDOM_STATE = 0
N_PERMUTATIONS = 100
TILE_CROP = 0.85
TASKS = {
    "rotation": (RotationPretext, ("rotation",)),
    "jigsaw": (JigsawPretext, ("jigsaw",)),
    "joint": (JointPretext, ("rotation", "jigsaw")),
}
TILE_SIZE = {"baseline": None, "conv4_dense3": 46}


def torch_seed() -> int:
    """The torch seed the estimators derive from ``random_state`` (CNNClassifier._seeded)."""
    return int(np.random.RandomState(RANDOM_STATE).randint(0, 2**31 - 1))


def ours(task, model, X, args):
    cls, _ = TASKS[task]
    jigsaw = {} if task == "rotation" else {"n_permutations": N_PERMUTATIONS}
    if task != "rotation":
        jigsaw.update(tile_crop=TILE_CROP, tile_size=TILE_SIZE[model])
    pretext = cls(
        model,
        lr=LR,
        batch_size=BATCH_SIZE,
        max_epochs=args.epochs,
        device=args.device,
        amp=args.amp == "on",
        channels_last=args.channels_last == "on",
        random_state=RANDOM_STATE,
        **jigsaw,
    ).fit(X)
    synchronize(args.device)
    steps = sum(row["train_batch_count"] for row in pretext.history)
    return pretext.module_, steps


def plain(task, model, X, args):
    """Build the same network by hand and train it in a hand-written loop."""
    _, tasks = TASKS[task]
    device, amp, cl = args.device, args.amp == "on", args.channels_last == "on"
    seed = torch_seed()
    torch.manual_seed(seed)
    height, width = X.shape[2:]
    geometry = jigsaw_geometry(height, width, TILE_CROP)
    tile = TILE_SIZE[model] or geometry.tile_h
    size = tile if "jigsaw" in tasks else height
    backbone = Backbone(model, {"in_channels": 1, "image_size": [size, size]})
    with torch.no_grad():
        feature_dim = backbone.eval()(torch.zeros(1, 1, size, size)).shape[1]
    backbone.train()
    n_classes = {"rotation": N_ROTATIONS, "jigsaw": N_PERMUTATIONS}
    net = PretextNetwork(backbone, feature_dim, {t: n_classes[t] for t in tasks}).to(device)
    if cl:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=LR)
    criterion = nn.CrossEntropyLoss()
    permutations = torch.as_tensor(jigsaw_permutations(N_PERMUTATIONS), device=device)
    generator = torch.Generator(device=device).manual_seed(seed + 1)
    memory_format = torch.channels_last if cl else torch.contiguous_format
    loader = DataLoader(TensorDataset(X), batch_size=BATCH_SIZE, shuffle=True)
    steps = 0
    for _ in range(args.epochs):
        net.train()
        for (xb,) in loader:
            x = xb.to(device).float().div_(255.0).contiguous(memory_format=memory_format)
            inputs, targets = {}, {}
            if "rotation" in tasks:
                rotated, targets["rotation"] = random_rotations(x, generator)
                inputs["rotation"] = rotated.contiguous(memory_format=memory_format)
            if "jigsaw" in tasks:
                puzzles, targets["jigsaw"] = random_jigsaw(
                    x, geometry, permutations, generator, TILE_SIZE[model]
                )
                inputs["jigsaw"] = puzzles.flatten(0, 1).contiguous(memory_format=memory_format)
            optimizer.zero_grad()
            autocast = (
                torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
                if amp
                else contextlib.nullcontext()
            )
            with autocast:
                logits = net(**inputs)
            loss = sum(criterion(logits[t].float(), targets[t]) for t in tasks)
            loss.backward()
            optimizer.step()
            loss.item()
            steps += 1
    synchronize(device)
    return net, steps


def max_weight_difference(a: nn.Module, b: nn.Module) -> float:
    diff = 0.0
    for (key, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        if va.is_floating_point():
            diff = max(diff, (va.float().cpu() - vb.float().cpu()).abs().max().item())
        elif not torch.equal(va.cpu(), vb.cpu()):
            raise AssertionError(f"{key} differs between ours and the plain loop")
    return diff


def bench(task: str, model: str, n: int, args) -> dict:
    faces = make_synthetic_faces(n, image_size=48, random_state=0).images
    X_np = faces[:, np.newaxis].copy()  # (n, 1, 48, 48), standard strides
    X_t = torch.from_numpy(X_np)
    ours(task, model, X_np[:BATCH_SIZE], argparse.Namespace(**{**vars(args), "epochs": 1}))
    variants = {
        "ours": lambda: ours(task, model, X_np, args),
        "plain": lambda: plain(task, model, X_t, args),
    }
    times, results = interleaved(variants, args.repeats)
    expected = -(-n // BATCH_SIZE) * args.epochs
    for name, runs in results.items():
        for _, steps in runs:
            assert steps == expected, f"{name}: {steps} steps, {expected} wanted"
    diff = max_weight_difference(results["ours"][0][0], results["plain"][0][0])
    if torch.device(args.device).type == "cpu" and args.amp == "off":
        assert diff == 0.0, f"{task}/{model}: weights differ by {diff}"
    images = n * args.epochs
    row = {
        "task": task,
        "model": model,
        "ours": images / min(times["ours"]),
        "plain": images / min(times["plain"]),
        "ratio": paired_ratio(times["ours"], times["plain"]),
        "diff": diff,
    }
    print(
        f"  {task:8s} {model:8s} {n:5d} images x {args.epochs} epoch(s), {expected} steps: "
        f"ours {row['ours']:8.1f} images/s, plain {row['plain']:8.1f} images/s, "
        f"ours/plain {row['ratio']:.3f} (median of rounds), max weight diff {diff:.3g}"
    )
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1...")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1, help="epochs per timed run")
    parser.add_argument("--n-baseline", type=int, default=1024, help="images, baseline")
    parser.add_argument("--n-conv4-dense3", type=int, default=256, help="images, conv4_dense3")
    parser.add_argument("--amp", choices=["off", "on"], help="default: on for CUDA, else off")
    parser.add_argument("--channels-last", choices=["off", "on"], default="on", help="default: on")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--models", nargs="+", choices=list(TILE_SIZE), default=list(TILE_SIZE))
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 1 round")
    args = parser.parse_args(argv)
    on_cuda = torch.device(args.device).type == "cuda"
    if on_cuda and not torch.cuda.is_available():
        parser.error("--device cuda but no CUDA device is visible")
    args.amp = args.amp or ("on" if on_cuda else "off")
    if args.quick:
        args.repeats, args.epochs, args.n_baseline, args.n_conv4_dense3 = 1, 1, 128, 64
    torch.set_num_threads(args.threads)

    gpu = f", GPU {torch.cuda.get_device_name(args.device)}" if on_cuda else ""
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}, "
        f"skorch {skorch.__version__}, Python {platform.python_version()}"
    )
    print(
        f"device={args.device}, amp={args.amp}, channels_last={args.channels_last}; torch threads "
        f"{torch.get_num_threads()}; {args.repeats} interleaved rounds; batch {BATCH_SIZE}, "
        f"48x48 faces, {N_PERMUTATIONS} permutations; 1-min load average at start "
        f"{os.getloadavg()[0]:.2f}"
    )
    rows = []
    sizes = {"baseline": args.n_baseline, "conv4_dense3": args.n_conv4_dense3}
    for model in args.models:
        n = sizes[model]
        with OtherLoad() as other:
            rows += [bench(task, model, n, args) for task in args.tasks]
        print(f"  other processes used {100 * other.share:.1f}% of the CPU meanwhile")
    print("\n| task | backbone | ours (images/s) | plain (images/s) | ours / plain |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['task']} | {row['model']} | {row['ours']:,.0f} | {row['plain']:,.0f} | "
            f"{row['ratio']:.3f} |"
        )
    print(f"1-min load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
