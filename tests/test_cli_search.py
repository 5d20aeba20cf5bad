"""``fer-toolkit search``: grid files, the three strategies, a real Dask cluster, bad input."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from fer_toolkit.cli import main
from fer_toolkit.cli._grid import load_param_grid, parse_param_grid
from fer_toolkit.cli._model import load_model
from fer_toolkit.utils.validation import InputError

FIXED = ["--set", "max_epochs=1", "--set", "batch_size=32"]


def search(*args):
    return CliRunner().invoke(main, ["search", *map(str, args)])


def write(path, text):
    path.write_text(text)
    return path


def test_grid_search_writes_table_plot_and_best_model(tmp_path):
    grid = write(tmp_path / "grid.json", '{"lr": [0.002, 0.01], "module__width": [2, 4]}')
    out = tmp_path / "out"
    result = search("--data", "synthetic:140", "--grid", grid, *FIXED, "--cv", "2", "--out", out)
    assert result.exit_code == 0, result.output
    assert "GridSearchCV over lr, module__width with 2-fold" in result.output
    with open(out / "cv_results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4
    assert [int(row["rank_test_score"]) for row in table] == sorted(
        int(row["rank_test_score"]) for row in table
    )
    for row in table:
        folds = [float(row["split0_test_score"]), float(row["split1_test_score"])]
        assert float(row["mean_test_score"]) == pytest.approx(np.mean(folds))
    assert {row["param_cnn__module__width"] for row in table} == {"2", "4"}
    summary = json.loads((out / "search.json").read_text())
    assert summary["n_candidates"] == 4 and summary["search"] == "GridSearchCV"
    assert summary["best_score"] == pytest.approx(float(table[0]["mean_test_score"]))
    best_row = {k.removeprefix("cnn__"): v for k, v in json.loads(table[0]["params"]).items()}
    assert summary["best_params"] == best_row  # named as in --set and the grid file
    assert (out / "search_scores.png").stat().st_size > 0
    model = load_model(out, device="cpu")  # the refit best candidate, pickle-free
    assert model.pipeline[-1].module__width == summary["best_params"]["module__width"]
    assert model.spec.params["lr"] == summary["best_params"]["lr"]


def test_random_search_from_yaml_with_distributions(tmp_path):
    grid = write(
        tmp_path / "grid.yaml",
        "lr:\n  loguniform: [0.001, 0.01]\nmodule__width: [2, 3]\n",
    )
    out = tmp_path / "out"
    result = search(
        "--data", "synthetic:140", "--grid", grid, "--strategy", "random", "--n-iter", "3",
        "--cv", "2", *FIXED, "--no-refit", "--out", out, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(out / "cv_results.csv", newline="") as f:
        lrs = [float(row["param_cnn__lr"]) for row in csv.DictReader(f)]
    assert len(lrs) == 3 and all(0.001 <= lr <= 0.01 for lr in lrs)
    assert not (out / "model.json").exists()  # --no-refit


def test_successive_halving_over_epochs(tmp_path):
    grid = write(tmp_path / "grid.json", '{"lr": [0.001, 0.003, 0.01]}')
    out = tmp_path / "out"
    result = search(
        "--data", "synthetic:140", "--grid", grid, "--strategy", "halving", "--resource",
        "max_epochs", "--set", "max_epochs=3", "--set", "module__width=2", "--cv", "2",
        "--no-refit", "--out", out, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(out / "cv_results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    resources = sorted({int(row["n_resources"]) for row in table})
    assert resources == [1, 3]  # factor 3: three candidates at 1 epoch, the best at 3
    assert sum(row["iter"] == "1" for row in table) == 1


def test_search_runs_on_a_real_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    grid = write(tmp_path / "grid.json", '{"lr": [0.002, 0.01]}')
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
        distributed.get_task_stream(client) as tasks,
    ):
        result = search(
            "--data", "synthetic:140", "--grid", grid, *FIXED, "--set", "module__width=2",
            "--cv", "2", "--no-refit", "--dask-scheduler", cluster.scheduler_address,
            "--out", tmp_path / "out",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "2 workers, 2 threads" in result.output
        workers = set(client.scheduler_info()["workers"])
    names = [task["key"] if isinstance(task["key"], str) else task["key"][0] for task in tasks.data]
    fits = [name for name in names if "fit_and_score" in name]
    assert fits, names  # the cross-validation fits ran as tasks on the cluster's workers
    assert {task["worker"] for task in tasks.data} <= workers


def test_unreachable_dask_scheduler_is_one_line(tmp_path):
    pytest.importorskip("distributed")
    grid = write(tmp_path / "grid.json", '{"lr": [0.002]}')
    result = search(
        "--data", "synthetic:70", "--grid", grid, "--dask-scheduler", "nonsense://nowhere",
        "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot connect to the Dask scheduler at")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("grid", "args", "code", "message"),
    [
        ('{"lr": [0.001', [], 1, "grid.json, line 1, column 14: invalid JSON"),
        ('{"lr": []}', [], 1, "'lr' has an empty list of values"),
        ('{"lrr": [0.1]}', [], 1, "unknown parameter 'lrr' (did you mean 'lr'?)"),
        ("[]", [], 1, "the list of grids is empty"),
        ('{"lr": {"normal": [0, 1]}}', [], 1, "unknown distribution 'normal'"),
        ('{"lr": {"loguniform": [0, 1]}}', [], 1, "loguniform needs low > 0"),
        ('{"lr": {"uniform": [0.1, 0.01]}}', [], 1, "finite numbers low < high"),
        ('{"lr": {"uniform": [0.01, 0.1]}}', [], 2, "need --strategy random or halving-random"),
        ('{"lr": [-1.0]}', ["--cv", "2"], 1, "The 'lr' parameter of CNNClassifier"),
        ('{"lr": [0.01]}', ["--scoring", "acuracy"], 2, "(did you mean 'accuracy'?)"),
        ('{"lr": [0.01]}', ["--resource", "max_epochs"], 2, "--resource applies to"),
        ('{"lr": [0.01]}', ["--cv", "1"], 2, "Invalid value for '--cv'"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, grid, args, code, message):
    path = write(tmp_path / "grid.json", grid)
    result = search("--data", "synthetic:70", "--grid", path, *FIXED, *args, "--out", tmp_path)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_grid_that_is_not_utf8_is_an_input_error(tmp_path):
    path = tmp_path / "grid.json"
    path.write_bytes('{"lr": [0.1], "caf\xe9": [1]}'.encode("latin-1"))
    with pytest.raises(InputError, match=r"grid\.json is not UTF-8 text"):
        load_param_grid(path)


def test_yaml_errors_name_the_line(tmp_path):
    path = write(tmp_path / "grid.yaml", "lr: [0.1, 0.2]\nmodule__width: [2, 4\n")
    with pytest.raises(ValueError, match=r"grid\.yaml, line \d+, column \d+: invalid YAML"):
        load_param_grid(path)


names = st.from_regex(r"[a-z][a-z_]{0,8}(__[a-z]{1,6})?", fullmatch=True)
plain_values = st.lists(
    st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=4),
    min_size=1,
    max_size=4,
)
grids = st.dictionaries(names, plain_values, min_size=1, max_size=4)


@given(st.one_of(grids, st.lists(grids, min_size=1, max_size=3)))
def test_json_grid_files_round_trip(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("grid") / "grid.json"
    path.write_text(json.dumps(document))
    expected = document if isinstance(document, list) else [document]
    assert load_param_grid(path) == expected


@given(st.one_of(st.integers(), st.text(), st.dictionaries(names, st.integers(), min_size=1)))
def test_anything_else_is_rejected_with_the_file_named(value):
    document = value if isinstance(value, dict) else {"lr": value}
    with pytest.raises(ValueError, match=r"^where"):
        parse_param_grid(document, "where")
