"""``fer-toolkit evaluate``: a trained model on labelled data -> metrics, matrices, mistakes."""

from __future__ import annotations

from pathlib import Path

import click

from ..utils.validation import InputError
from ._common import FerCommand, device_option, echo, n_jobs_option, seed_option
from ._data import LabelSet, data_options
from ._model import ModelParam, load_model, model_faces
from ._report import write_evaluation

__all__ = ["evaluate"]


@click.command(cls=FerCommand)
@click.argument("model_path", metavar="MODEL", type=ModelParam())
@data_options
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder for the metrics, the report and the figures.",
)
@click.option(
    "--max-misclassified",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Most misclassified images shown in misclassified.png.",
)
@seed_option
@device_option
@n_jobs_option("Threads reading images and detecting faces")
def evaluate(
    model_path,
    data_opts,
    out_dir,
    max_misclassified,
    seed,
    device,
    n_jobs,
):
    """Measure a trained MODEL (a train or search output folder, or a pretrained
    network such as mini_xception_fer2013) on labelled data.

    The data's test split is used (FER2013 Usage 'PrivateTest', a test/
    folder, the last 15% of synthetic data drawn with the same --seed; all of
    the data when it has no splits), or the splits named by --split. Labels
    are mapped as the model's were in training (its label set), unless
    --label-set is given; samples of other classes are left out.

    Outputs in OUT: metrics.json (accuracy; precision, recall, F1 and support
    per class; macro and weighted averages; the confusion matrix),
    classification_report.txt, predictions.csv (per sample: true and
    predicted label, probabilities), confusion_matrix.png (counts),
    confusion_matrix_normalized.png (per true class) and misclassified.png
    (the most confident mistakes).

    \b
    Examples:
      fer-toolkit evaluate runs/conv4_dense3 --data fer2013.csv --out runs/conv4_dense3/test
      fer-toolkit evaluate runs/demo --data synthetic:700 --out runs/demo/test
      fer-toolkit evaluate runs/blocks --data photos/ --split validation --out runs/blocks/val
    """
    model = load_model(model_path, device=device)
    labels = LabelSet(
        classes=model.labels.classes or tuple(model.classes.tolist()),
        mapping=model.labels.mapping,
    )
    data = data_opts.load(seed=seed, n_jobs=n_jobs, label_set=labels)
    part = data.select("test", data_opts.splits)
    unknown = sorted(set(part.labels.tolist()) - set(model.classes.tolist()))
    if unknown:
        raise InputError(
            f"{part.description} has labels the model does not know: {', '.join(unknown)} "
            f"(its classes: {', '.join(map(str, model.classes))}); choose --label-set."
        )
    echo(f"evaluating {model.path} on {len(part)} images of {part.description}")
    prepared, faces = model_faces(model.pipeline, part.images)
    metrics = write_evaluation(
        out_dir,
        part.labels,
        model.pipeline[-1].predict_proba(prepared),
        model.classes,
        faces=faces,
        names=part.names,
        title=f"{Path(model.path).name or model.path} on {part.description}",
        max_misclassified=max_misclassified,
        model=model.path,
        data=part.description,
        splits=part.split_names(),
    )
    echo(f"accuracy {metrics['accuracy']:.3f} on {len(part)} images; outputs in {out_dir}/")
