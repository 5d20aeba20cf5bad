"""``fer-toolkit train``: fit a face pipeline and a CNN, write the model and its reports."""

from __future__ import annotations

import time

import click
import numpy as np
from sklearn.model_selection import PredefinedSplit, train_test_split

from ..utils.fileio import replaced_folder
from ..utils.validation import InputError
from ._common import FerCommand, echo, fit_options, is_quiet
from ._data import LabelledData, LabelSet, data_options
from ._model import build_pipeline, model_faces, save_model
from ._report import epoch_rows, write_evaluation, write_history
from ._transfer import backbone_info, describe_transfer, model_options

__all__ = ["train"]

#: Exit status of a training stopped with Ctrl-C (128 + SIGINT), after its outputs are saved.
INTERRUPTED_STATUS = 130


class ValidationParam(click.ParamType):
    """A fraction in (0, 1), ``dataset`` or ``none``."""

    name = "FRACTION|dataset|none"

    def convert(self, value, param, ctx):
        if isinstance(value, float) or value in ("dataset", "none"):
            return value
        try:
            fraction = float(value)
        except ValueError:
            fraction = -1.0
        if not 0.0 < fraction < 1.0:
            self.fail(
                f"{value!r}: use a fraction in (0, 1) such as 0.1, 'dataset' or 'none'.",
                param,
                ctx,
            )
        return fraction


def concat_images(first, second):
    """Two image batches as one: an ndarray when they stack, else a list."""
    if (
        isinstance(first, np.ndarray)
        and isinstance(second, np.ndarray)
        and first.shape[1:] == second.shape[1:]
    ):
        return np.concatenate([first, second])
    return [*first, *second]


def split_validation(train: LabelledData, validation, data: LabelledData, seed: int):
    """``(training part, validation part or None)`` as ``--validation`` asks."""
    if validation == "none":
        return train, None
    if validation == "dataset":
        if not data.has_role("validation"):
            splits = ", ".join(data.split_names()) or "none"
            raise InputError(
                f"{data.description} has no validation split (FER2013 PublicTest, a "
                f"validation/ folder; its splits: {splits}); use --validation 0.1."
            )
        return train, data.select("validation")
    index = np.arange(len(train))
    try:
        kept, held = train_test_split(
            index, test_size=validation, stratify=train.labels, random_state=seed
        )
    except ValueError as exc:
        raise InputError(
            f"--validation {validation}: cannot hold out a stratified part of "
            f"{len(train)} training images ({exc}); use more data, another fraction, or "
            "--validation none."
        ) from None
    return train.subset(np.isin(index, kept)), train.subset(np.isin(index, held))


def fit_pipeline(pipeline, train: LabelledData, valid: LabelledData | None):
    """Fit on ``train``; the network monitors ``valid`` (skorch's validation split) when given."""
    from skorch.dataset import ValidSplit

    if valid is None:
        pipeline.fit(train.images, train.labels)
        return pipeline
    fold = np.r_[np.full(len(train), -1), np.zeros(len(valid), dtype=int)]
    pipeline.set_params(cnn__train_split=ValidSplit(PredefinedSplit(fold)))
    pipeline.fit(concat_images(train.images, valid.images), np.r_[train.labels, valid.labels])
    # The split only served training; it need not travel with the saved model.
    pipeline.set_params(cnn__train_split=None)
    return pipeline


def stopped_early(cnn) -> bool:
    from skorch.callbacks import EarlyStopping

    return any(
        isinstance(callback, EarlyStopping) and callback.misses_ >= callback.patience
        for _, callback in cnn.callbacks_
    )


@click.command(cls=FerCommand)
@data_options
@click.option(
    "--validation",
    type=ValidationParam(),
    default="0.1",
    show_default=True,
    help="Held-out data that monitors training (best epoch, early stopping) and gets the "
    "report: a stratified fraction of the training split, 'dataset' (its own validation "
    "split: FER2013 PublicTest, a validation/ folder) or 'none'.",
)
@model_options
@fit_options(
    out_help="Output folder: the model, its history, report and plots.",
    n_jobs_help="Threads reading images and detecting faces",
)
def train(data_opts, validation, model_opts, out_dir, seed, device, n_jobs):
    """Train a CNN emotion classifier and write it with its history, report and plots.

    The data's training split (FER2013 Usage 'Training', a train/ folder; all
    of it when it has no splits, or the splits named by --split) trains the
    pipeline [face cropper] -> [grayscale] -> resize -> [eye/mouth blocks] ->
    CNNClassifier. The network keeps the weights of its best epoch (lowest
    validation loss; set restore_best=false to keep the last ones).

    Outputs in OUT: model.json + model_params.pt (the model without pickle:
    what evaluate and predict load), model.joblib, history.json/.csv,
    learning_curve.png, and on the validation data (the training data with
    --validation none): classification_report.txt, metrics.json,
    predictions.csv, confusion_matrix.png, confusion_matrix_normalized.png,
    misclassified.png.

    --backbone starts the network from a pretrained backbone (fer-toolkit
    pretrain); --freeze, --backbone-lr and --unfreeze-every choose what of it
    trains and how fast. The saved model holds all the weights: evaluate and
    predict do not need the backbone file.

    Ctrl-C stops training at once: the best weights so far and every output
    are still written, and the exit status is 130. OUT is locked against a
    second run and replaced only once every output is written: an error or a
    second Ctrl-C while saving leaves the previous OUT as it was.

    \b
    Examples:
      fer-toolkit train --data fer2013.csv --label-set angry_happy_sad_surprise_neutral \\
          --model conv4_dense3 --validation dataset --set max_epochs=30 \\
          --set early_stopping=5 --out runs/conv4_dense3
      fer-toolkit train --data fer2013.csv --ferplus fer2013new.csv --model vgg_fer \\
          --out runs/ferplus
      fer-toolkit train --data photos/ --cropper mtcnn --align --blocks --out runs/blocks
      fer-toolkit train --data synthetic:700 --set max_epochs=5 --set lr=0.005 --out runs/demo
      fer-toolkit pretrain faces/ --task rotation --out backbone.pt
      fer-toolkit train --data labelled/ --backbone backbone.pt --freeze 2 --backbone-lr 1e-4 \\
          --unfreeze-every 3 --set max_epochs=12 --out runs/transfer
    """
    spec, backbone = model_opts.build()
    spec.params.setdefault("restore_best", True)
    # Before the data loads: an unknown --set name fails at once.
    pipeline = build_pipeline(
        spec, device=device, random_state=seed, n_jobs=n_jobs, backbone=backbone
    )
    # Locked from the start (a second run fails at once); written to a staging folder that
    # replaces OUT only when every output is complete (Ctrl-C twice or a crash: OUT unchanged).
    with replaced_folder(out_dir, "another fer-toolkit train run") as staging:
        start = time.perf_counter()
        data = data_opts.load(seed=seed, n_jobs=n_jobs)
        train_part, valid_part = split_validation(
            data.select("train", data_opts.splits), validation, data, seed
        )
        classes, counts = np.unique(train_part.labels, return_counts=True)
        echo(
            f"training on {len(train_part)} images of {data.description} ("
            + ", ".join(f"{c} {n}" for c, n in zip(classes, counts, strict=True))
            + ")"
            + (f", validating on {len(valid_part)}" if valid_part is not None else "")
        )
        pipeline.set_params(cnn__verbose=0 if is_quiet() else 1)
        if backbone is not None:
            echo(f"starting from {describe_transfer(model_opts.backbone_path, backbone, spec)}")
        fit_pipeline(pipeline, train_part, valid_part)
        cnn = pipeline[-1]
        rows = epoch_rows(cnn.history_)
        interrupted = not stopped_early(cnn) and (
            len(rows) < cnn.max_epochs or len(rows) < len(cnn.history_)
        )
        if not rows:
            click.echo("Interrupted before the first epoch finished: nothing to save.", err=True)
            click.get_current_context().exit(INTERRUPTED_STATUS)
        monitor = "valid_loss" if valid_part is not None else "train_loss"
        best = min(rows, key=lambda row: row[monitor])["epoch"]
        kept = best if cnn.restore_best else rows[-1]["epoch"]

        report_part = valid_part if valid_part is not None else train_part
        what = "validation data" if valid_part is not None else "training data (no validation)"
        prepared, faces = model_faces(pipeline, report_part.images)
        write_evaluation(
            staging,
            report_part.labels,
            cnn.predict_proba(prepared),
            cnn.classes_,
            faces=faces,
            names=report_part.names,
            title=f"{what}, epoch {kept}",
            data=report_part.description,
            evaluated_on=what,
        )
        write_history(staging, cnn.history_, title=f"{spec.model}: {len(rows)} epochs")
        save_model(
            staging,
            pipeline,
            spec,
            data_opts.label_set or _labels_of(train_part),
            data=str(data_opts.data_source),
            ferplus=data_opts.ferplus,
            splits=data_opts.splits,
            validation=validation,
            n_train=len(train_part),
            n_validation=0 if valid_part is None else len(valid_part),
            seed=seed,
            backbone=backbone_info(model_opts.backbone_path, backbone),
            epochs=len(rows),
            kept_epoch=kept,
            interrupted=interrupted,
            seconds=round(time.perf_counter() - start, 1),
        )
    status = "interrupted" if interrupted else "trained"
    echo(
        f"{status} {len(rows)} epochs in {time.perf_counter() - start:.0f} s; kept the weights "
        f"of epoch {kept}"
        + (f" (lowest {monitor})" if cnn.restore_best else "")
        + f"; model and reports in {out_dir}/"
    )
    if interrupted:
        click.echo(
            f"Interrupted: saved the model of epoch {kept} and every report in {out_dir}/.",
            err=True,
        )
        click.get_current_context().exit(INTERRUPTED_STATUS)


def _labels_of(data: LabelledData) -> LabelSet:
    return LabelSet(classes=tuple(np.unique(data.labels).tolist()))
