"""``fer-toolkit search``: hyper-parameter search with cross-validation, locally or on Dask."""

from __future__ import annotations

import contextlib
import time

import click
import joblib
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.metrics import get_scorer_names
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    RandomizedSearchCV,
)

from ..utils.fileio import replaced_folder
from ..utils.validation import InputError
from ._common import FerCommand, closest, echo, fit_options, is_quiet
from ._data import LabelSet, data_options
from ._grid import has_distributions, load_param_grid
from ._model import build_pipeline, check_spec_params, route_params, save_model
from ._report import print_cv_table, write_cv_results, write_history, write_json
from ._transfer import backbone_info, model_options

__all__ = ["search"]

STRATEGIES = ("grid", "random", "halving", "halving-random")
_DASK_TIMEOUT = 10


def _check_scoring(ctx, param, value):
    if value not in get_scorer_names():
        raise click.BadParameter(
            f"{value!r} is not a scikit-learn scorer{closest(value, get_scorer_names())}."
        )
    return value


@contextlib.contextmanager
def dask_backend(address: str):
    """Run joblib's parallel loops (the search's fits) on the Dask cluster at ``address``."""
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(
            "--dask-scheduler needs Dask's distributed package: pip install 'fer_toolkit[dask]'."
        ) from None
    try:
        client = Client(address, timeout=_DASK_TIMEOUT)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot connect to the Dask scheduler at {address!r}: {exc}") from None
    with client:
        workers = client.scheduler_info()["workers"].values()
        threads = sum(worker["nthreads"] for worker in workers)
        echo(f"Dask cluster at {address}: {len(workers)} workers, {threads} threads")
        with joblib.parallel_backend("dask"):
            yield client


def make_search(
    strategy,
    pipeline,
    grids,
    *,
    cv,
    scoring,
    n_iter,
    factor,
    resource,
    seed,
    n_jobs,
    refit,
    verbose,
):
    """The scikit-learn search object for ``strategy``."""
    common = {
        "cv": cv,
        "scoring": scoring,
        "n_jobs": n_jobs,
        "refit": refit,
        "verbose": verbose,
        "error_score": "raise",
    }
    if strategy in ("grid", "halving") and has_distributions(grids):
        raise click.UsageError(
            f"--strategy {strategy} takes lists of values; distributions such as "
            "loguniform need --strategy random or halving-random."
        )
    if strategy == "grid":
        return GridSearchCV(pipeline, grids, **common)
    if strategy == "random":
        return RandomizedSearchCV(pipeline, grids, n_iter=n_iter, random_state=seed, **common)
    halving = {"factor": factor, "random_state": seed}
    if resource == "max_epochs":
        halving.update(resource="cnn__max_epochs", max_resources=pipeline[-1].max_epochs)
    if strategy == "halving":
        return HalvingGridSearchCV(pipeline, grids, **halving, **common)
    return HalvingRandomSearchCV(pipeline, grids, n_candidates=n_iter, **halving, **common)


def _as_setting(name: str) -> str:
    """``cnn__lr`` -> ``lr``: the name ``--set`` and grid files use."""
    return name.removeprefix("cnn__")


@click.command(cls=FerCommand)
@data_options
@click.option(
    "--grid",
    "grid_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Parameter grid: JSON (or YAML) {name: [values]} or a list of them; names as in "
    '--set (lr, module__width, crop__margin); random searches also take {"loguniform": '
    "[low, high]}, uniform, randint.",
)
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default="grid",
    show_default=True,
    help="Exhaustive grid, random sampling, or successive halving over the grid / random "
    "candidates.",
)
@click.option(
    "--n-iter",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Candidates drawn by random and halving-random.",
)
@click.option(
    "--cv",
    type=click.IntRange(min=2),
    default=3,
    show_default=True,
    help="Cross-validation folds (stratified).",
)
@click.option(
    "--scoring",
    default="accuracy",
    show_default=True,
    callback=_check_scoring,
    help="scikit-learn scorer name: accuracy, balanced_accuracy, f1_macro...",
)
@click.option(
    "--resource",
    type=click.Choice(["n_samples", "max_epochs"]),
    default="n_samples",
    show_default=True,
    help="Successive halving: what grows from round to round, training images or epochs "
    "(as Hyperband).",
)
@click.option(
    "--factor",
    type=click.FloatRange(min=1.0, min_open=True),
    default=3.0,
    show_default=True,
    help="Successive halving: a third (1/factor) of the candidates survive each round.",
)
@click.option(
    "--refit/--no-refit",
    default=True,
    show_default=True,
    help="Train the best candidate on all the training data and save it as a model.",
)
@click.option(
    "--dask-scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run the fits on this Dask cluster (tcp://host:8786) through joblib; needs "
    "'fer_toolkit[dask]'.",
)
@model_options
@fit_options(
    out_help="Output folder: cv_results.csv, search_scores.png, search.json, the best model.",
    n_jobs_help="Parallel fits [default: 1; all cluster threads with --dask-scheduler]",
)
def search(
    data_opts,
    grid_path,
    strategy,
    n_iter,
    cv,
    scoring,
    resource,
    factor,
    refit,
    dask_scheduler,
    model_opts,
    out_dir,
    seed,
    device,
    n_jobs,
):
    """Search hyper-parameters of the train pipeline with cross-validation.

    The training split of the data (as in train) is cross-validated for every
    candidate of the grid file; --set fixes the other hyper-parameters.
    Outputs in OUT: cv_results.csv (every candidate, best first: rank, mean
    and std score, each fold's score, fit time), search_scores.png,
    search.json (best parameters and score), and with --refit the best
    candidate trained on all the training data, saved as train saves models
    (model.json, model_params.pt, model.joblib, history, learning curve).

    \b
    Examples:
      fer-toolkit search --data fer2013.csv --grid grid.json --set max_epochs=20 --out runs/grid
      fer-toolkit search --data synthetic:700 --grid grid.yaml --strategy halving \\
          --resource max_epochs --set max_epochs=27 --out runs/halving
      fer-toolkit search --data fer2013.csv --grid grid.json --strategy random --n-iter 40 \\
          --dask-scheduler tcp://scheduler:8786 --out runs/dask
      fer-toolkit search --data labelled/ --backbone backbone.pt --grid transfer.json \\
          --set max_epochs=12 --out runs/transfer

    With --backbone every candidate starts from the pretrained backbone; a
    grid such as {"freeze": ["none", 2, "backbone"], "backbone_lr": [null,
    0.0001]} compares ways of fine-tuning it.
    """
    spec, backbone = model_opts.build()
    if resource == "max_epochs" and not strategy.startswith("halving"):
        raise click.UsageError("--resource applies to --strategy halving and halving-random.")
    grids = load_param_grid(grid_path)
    for grid in grids:  # the best values join model.json: the same names as --set
        try:
            check_spec_params(dict.fromkeys(grid))
        except ValueError as exc:
            raise InputError(f"{grid_path}: {exc}") from None
    pipeline = build_pipeline(spec, device=device, random_state=seed, backbone=backbone)
    routed = [route_params(grid, pipeline) for grid in grids]
    # Locked from the start; OUT is replaced only once every output is complete.
    with replaced_folder(out_dir, "another fer-toolkit search run") as staging:
        with contextlib.ExitStack() as stack:
            if dask_scheduler is not None:  # connect first: fail before loading any data
                stack.enter_context(dask_backend(dask_scheduler))
                n_jobs = -1 if n_jobs is None else n_jobs
            data = data_opts.load(seed=seed)
            train_part = data.select("train", data_opts.splits)
            searcher = make_search(
                strategy,
                pipeline,
                routed,
                cv=cv,
                scoring=scoring,
                n_iter=n_iter,
                factor=factor,
                resource=resource,
                seed=seed,
                n_jobs=n_jobs,
                refit=refit,
                verbose=0 if is_quiet() else 2,
            )
            echo(
                f"{type(searcher).__name__} over {', '.join(_as_setting(n) for n in routed[0])} "
                f"with {cv}-fold cross-validation on {len(train_part)} images of {data.description}"
            )
            start = time.perf_counter()
            searcher.fit(train_part.images, train_part.labels)
        seconds = time.perf_counter() - start
        print_cv_table(searcher)
        write_cv_results(staging, searcher)
        best = {_as_setting(name): value for name, value in searcher.best_params_.items()}
        summary = {
            "strategy": strategy,
            "search": type(searcher).__name__,
            "scoring": scoring,
            "cv": cv,
            "n_candidates": len(searcher.cv_results_["params"]),
            "best_params": best,
            "best_score": float(searcher.best_score_),
            "seconds": round(seconds, 1),
            "dask_scheduler": dask_scheduler,
            "data": str(data_opts.data_source),
            "n_samples": len(train_part),
        }
        write_json(staging / "search.json", summary)
        if refit:
            spec.params.update(best)
            cnn = searcher.best_estimator_[-1]
            write_history(staging, cnn.history_, title=f"best candidate, refit: {best}")
            save_model(
                staging,
                searcher.best_estimator_,
                spec,
                data_opts.label_set or LabelSet(classes=tuple(cnn.classes_.tolist())),
                data=str(data_opts.data_source),
                n_train=len(train_part),
                seed=seed,
                backbone=backbone_info(model_opts.backbone_path, backbone),
                search=summary,
            )
    echo(
        f"best {scoring} {searcher.best_score_:.3f} with {best} after {seconds:.0f} s; "
        f"results in {out_dir}/"
    )
