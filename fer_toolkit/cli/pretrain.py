"""``fer-toolkit pretrain``: self-supervised pretraining on unlabelled faces, to a backbone file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import click
import numpy as np

from ..datasets import IMAGE_EXTENSIONS, load_fer2013, make_synthetic_faces
from ..datasets.image_folder import list_files
from ..preprocessing import Grayscale, ImageReader, Resize
from ..utils.fileio import atomic_path, file_lock, remove_stale_temporaries
from ..utils.validation import InputError
from ._common import (
    FerCommand,
    device_option,
    echo,
    no_progress_option,
    seed_option,
    show_progress,
)
from ._model import ModelChoice

__all__ = ["pretrain"]

_TASKS = ("jigsaw", "joint", "rotation")
_SYNTHETIC_SAMPLES = 2000


def _unlabelled_images(data: str, size: int, seed: int) -> np.ndarray:
    """Grayscale ``size x size`` uint8 faces from a folder, a FER2013 CSV or ``synthetic``."""
    if data == "synthetic":
        return make_synthetic_faces(_SYNTHETIC_SAMPLES, image_size=size, random_state=seed).images
    path = Path(data)
    if path.is_dir():
        files = list_files(path, IMAGE_EXTENSIONS)
        if not files:
            raise InputError(f"{data}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder.")
        images = ImageReader().transform(files)
    elif path.is_file():
        images = load_fer2013(data).images  # the emotion labels are ignored
    else:
        raise FileNotFoundError(f"{data}: no such folder or file (or use 'synthetic').")
    return Resize((size, size)).transform(Grayscale().transform(images))


@click.command(cls=FerCommand)
@click.argument("data")
@click.option(
    "--task",
    type=click.Choice(_TASKS),
    default="rotation",
    show_default=True,
    help="Pretext task: rotation prediction, jigsaw puzzles, or both jointly.",
)
@click.option(
    "--model",
    type=ModelChoice(),
    default="baseline",
    show_default=True,
    help="Registry network whose features are pretrained.",
)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Backbone file.")
@click.option(
    "--size",
    type=click.IntRange(24),
    default=48,
    show_default=True,
    help="Images are made grayscale and resized to SIZE x SIZE.",
)
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option(
    "--n-permutations",
    type=click.IntRange(2, 362880),
    default=100,
    show_default=True,
    help="Jigsaw permutation set size (jigsaw and joint).",
)
@device_option
@seed_option
@no_progress_option
def pretrain(data, task, model, out, size, epochs, batch_size, n_permutations, device, seed):
    """Pretrain a backbone on unlabelled faces and write it to --out.

    DATA is a folder of images (searched recursively; labels, if any, are
    ignored), a FER2013-format CSV (labels ignored) or ``synthetic``. Next to
    the backbone, OUT.json records the pretext accuracy and the history.
    Fine-tune it with ``fer-toolkit train --backbone backbone.pt`` or
    ``CNNClassifier(backbone="backbone.pt")``.

    \b
    Examples:
      fer-toolkit pretrain faces/ --task joint --epochs 20 --out backbone.pt
      fer-toolkit train --data labelled/ --backbone backbone.pt --freeze backbone \\
          --out runs/transfer
    """
    from ..estimators import JigsawPretext, JointPretext, RotationPretext
    from ..estimators._callbacks import TrainingProgress

    pretext = {"jigsaw": JigsawPretext, "joint": JointPretext, "rotation": RotationPretext}[task]
    images = _unlabelled_images(data, size, seed)
    options = {"n_permutations": n_permutations} if task != "rotation" else {}
    estimator = pretext(
        model,
        max_epochs=epochs,
        batch_size=batch_size,
        device=device,
        random_state=seed,
        callbacks=[("progress", TrainingProgress(desc=task, disable=not show_progress()))],
        **options,
    )
    report_path = f"{os.fspath(out)}.json"
    # Locked while it trains and writes: a second run on the same --out fails at once.
    with file_lock(out, "another fer-toolkit pretrain run"):
        names = {os.path.basename(os.fspath(p)) for p in (out, report_path)}
        remove_stale_temporaries(os.path.dirname(os.path.abspath(out)), names)
        _pretrain_and_save(estimator, images, out, report_path, data, task, model, size)


def _pretrain_and_save(estimator, images, out, report_path, data, task, model, size):
    echo(f"Pretraining {model!r} on {task} with {len(images)} images of {size}x{size}...")
    estimator.fit(images)
    report = {
        "data": data,
        "n_images": len(images),
        "task": task,
        "model": model,
        "pretext_accuracy": estimator.task_scores(images),
        "history": [
            {key: row[key] for key in row if key != "batches"} for row in estimator.history
        ],
    }
    # Both files are complete on disk before either replaces its predecessor (the backbone
    # first, then the report), and the report names the backbone by its sha256: a crash
    # never leaves a half-written file, and a report always tells which backbone it is of.
    with atomic_path(report_path) as report_tmp, atomic_path(out) as backbone_tmp:
        estimator.save_backbone(backbone_tmp)
        with open(backbone_tmp, "rb") as f:
            report["backbone_sha256"] = hashlib.sha256(f.read()).hexdigest()
        with open(report_tmp, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2, default=float)
    scores = ", ".join(f"{k} {v:.3f}" for k, v in report["pretext_accuracy"].items())
    echo(f"Wrote {out} and {report_path} (pretext accuracy: {scores}).")
