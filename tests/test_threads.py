"""Thread policy: OpenMP waits passively; small-kernel work uses the free cores, CNN work all."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from skimage import data

from fer_toolkit.detection import MTCNN
from fer_toolkit.estimators import CNNClassifier
from fer_toolkit.utils import threads


@pytest.fixture
def machine(monkeypatch):
    """Pretend the process has ``cpus`` cores and ``running`` runnable tasks (itself included)."""

    def set_state(cpus, running):
        monkeypatch.setattr(threads, "_cpus", lambda: cpus)
        monkeypatch.setattr(threads, "_runnable_tasks", lambda samples=3: running)
        monkeypatch.setattr(threads, "_cache", None)

    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    return set_state


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_configure_openmp_fills_only_missing_variables():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert threads.configure_openmp(env) == {"KMP_BLOCKTIME": "0"}
    assert env == {"OMP_WAIT_POLICY": "ACTIVE", "KMP_BLOCKTIME": "0"}
    assert threads.configure_openmp(env) == {}


@pytest.mark.parametrize(
    ("user", "expected"), [({}, "PASSIVE 0"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE 0")]
)
def test_importing_fer_toolkit_sets_the_wait_policy_before_torch(user, expected):
    env = {k: v for k, v in os.environ.items() if k not in threads.OPENMP_DEFAULTS} | user
    code = (
        "import os, sys, fer_toolkit; assert 'torch' not in sys.modules; "
        "print(os.environ['OMP_WAIT_POLICY'], os.environ['KMP_BLOCKTIME'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == expected.split()


@pytest.mark.parametrize(
    ("cpus", "running", "free"), [(2, 1, 2), (2, 2, 1), (2, 5, 1), (8, 3, 6), (4, None, 4)]
)
def test_free_cpus_counts_other_runnable_tasks(machine, cpus, running, free):
    machine(cpus, running)
    assert threads.free_cpus() == free


def test_free_cpus_reads_the_kernel():
    assert 1 <= threads.free_cpus() <= os.cpu_count()
    assert threads._runnable_tasks() >= 1  # at least this process


@pytest.mark.parametrize(
    ("running", "current", "expected"), [(1, 2, 2), (3, 2, 1), (1, 1, 1), (1, 4, 2)]
)
def test_auto_uses_at_most_the_current_count_and_the_free_cores(
    machine, running, current, expected
):
    machine(2, running)
    assert threads.resolve_num_threads(current=current) == expected


@pytest.mark.parametrize(
    ("cpus", "running", "current", "small", "large"),
    [
        (2, 1, 2, 2, 2),  # quiet: every core either way
        (2, 3, 2, 1, 2),  # 2 busy processes: small kernels drop to the free core
        (2, 9, 2, 1, 2),
        (2, 9, 1, 1, 1),  # never more than PyTorch's count (joblib's workers: 1)
        (2, 1, 4, 2, 2),  # nor more cores than the process has
        (8, 5, 8, 4, 8),
        (4, None, 4, 4, 4),  # no /proc/loadavg
    ],
)
def test_count_per_kind_of_work(machine, cpus, running, current, small, large):
    machine(cpus, running)
    assert threads.resolve_num_threads(current=current) == small  # the default
    assert threads.resolve_num_threads(current=current, work="small") == small
    assert threads.resolve_num_threads(current=current, work="large") == large


@pytest.mark.parametrize("work", threads.WORKLOADS)
def test_explicit_count_and_environment_win_for_every_kind(machine, monkeypatch, work):
    machine(2, 5)
    assert threads.resolve_num_threads(1, current=2, work=work) == 1
    assert threads.resolve_num_threads(3, current=2, work=work) == 3
    monkeypatch.setenv(threads.ENV_VAR, "1")
    assert threads.resolve_num_threads(current=2, work=work) == 1
    with threads.limit_threads(work=work) as used:
        assert used == torch.get_num_threads() == 1


def test_unknown_work_is_refused():
    with pytest.raises(ValueError, match=r"work must be one of.*'medium'"):
        threads.resolve_num_threads(current=2, work="medium")


def test_explicit_count_and_environment_win(machine, monkeypatch):
    machine(2, 5)
    assert threads.resolve_num_threads(3, current=2) == 3
    monkeypatch.setenv(threads.ENV_VAR, "2")
    assert threads.resolve_num_threads(current=1) == 2
    monkeypatch.setenv(threads.ENV_VAR, "auto")
    assert threads.resolve_num_threads(current=2) == 1


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_environment_value_is_named(monkeypatch, value):
    monkeypatch.setenv(threads.ENV_VAR, value)
    with pytest.raises(ValueError, match=f"FER_TOOLKIT_NUM_THREADS.*{value!r}"):
        threads.resolve_num_threads(current=2)


@pytest.mark.parametrize("value", [0, 1.0, True, "2"])
def test_bad_explicit_count(value):
    with pytest.raises(ValueError, match="n_threads must be an int >= 1"):
        threads.resolve_num_threads(value, current=2)


def test_limit_threads_restores_the_count(machine, two_threads):
    machine(2, 4)
    with threads.limit_threads() as used:
        assert used == torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), threads.limit_threads(1):
        raise RuntimeError
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    with threads.limit_threads(2, work="large") as used:
        assert used == torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1


def _threads_seen(module):
    seen = []
    module.register_forward_hook(lambda *args: seen.append(torch.get_num_threads()))
    return seen


@pytest.mark.parametrize(("running", "expected"), [(1, 2), (4, 1)])
def test_mtcnn_detects_with_the_free_cores(machine, two_threads, running, expected):
    machine(2, running)
    detector = MTCNN(device="cpu")
    seen = _threads_seen(detector._networks().pnet)
    assert len(detector.detect(data.astronaut()[::2, ::2])) == 1
    assert set(seen) == {expected}
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize(("running", "expected"), [(1, 2), (3, 2), (9, 2)])
def test_cnn_trains_and_predicts_on_every_core_busy_or_not(machine, two_threads, running, expected):
    machine(2, running)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(16, 48, 48), dtype=np.uint8)
    y = np.array(["happy", "sad"] * 8)
    clf = CNNClassifier(max_epochs=1, batch_size=8, device="cpu", random_state=0)
    seen = []
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda *args: seen.append(torch.get_num_threads())
    )
    try:
        clf.fit(X, y)
        trained = len(seen)
        clf.predict(X[:4])
    finally:
        hook.remove()
    assert 0 < trained < len(seen) and set(seen) == {expected}
    assert torch.get_num_threads() == 2
