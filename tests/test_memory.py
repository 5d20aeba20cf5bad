"""Freed memory kept in the heap during training (fer_toolkit.utils.memory)."""

import contextlib
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from fer_toolkit.estimators import CNNClassifier, RotationPretext
from fer_toolkit.utils import memory

glibc_only = pytest.mark.skipif(memory._glibc() is None, reason="needs glibc's mallopt")

# Where a fresh process's 64 MB and 1 MB tensors live, before, inside and after a block:
# "[heap]" (glibc's brk heap) or "mmap" (a mapping of their own).
_WHERE = r"""
import json, torch
from fer_toolkit.utils.memory import retain_freed_memory

def region(tensor):
    address = tensor.data_ptr()
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            low, high = (int(v, 16) for v in fields[0].split("-"))
            if low <= address < high:
                return "[heap]" if fields[-1] == "[heap]" else "mmap"

def sizes():
    return [region(torch.ones(size, dtype=torch.uint8)) for size in (64 << 20, 1 << 20)]

before = sizes()
with retain_freed_memory() as applied:
    inside = sizes()
print(json.dumps(dict(applied=applied, before=before, inside=inside, after=sizes())))
"""


def _where(**environ):
    env = {k: v for k, v in os.environ.items() if k != memory.ENV_VAR} | environ
    out = subprocess.run(
        [sys.executable, "-c", _WHERE], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout)


@glibc_only
def test_large_buffers_come_from_the_heap_inside_the_block_only():
    seen = _where()
    assert seen["applied"] is True
    # glibc maps a 64 MB buffer of its own (above its 32 MiB ceiling), a 1 MB one too
    # while its adaptive threshold is still at 128 KiB.
    assert seen["before"] == ["mmap", "mmap"]
    assert seen["inside"] == ["[heap]", "[heap]"]
    # After: mmap is back for what exceeds 32 MiB; below that, the heap.
    assert seen["after"] == ["mmap", "[heap]"]


@glibc_only
@pytest.mark.parametrize(
    "environ",
    [
        {memory.ENV_VAR: "0"},
        {"MALLOC_MMAP_MAX_": "65536"},
        {"MALLOC_TRIM_THRESHOLD_": "131072"},
        {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"},
    ],
)
def test_the_users_choice_is_left_alone(environ):
    seen = _where(**environ)
    assert seen["applied"] is False
    assert seen["inside"][0] == seen["before"][0] == "mmap"


@pytest.mark.parametrize(
    ("environ", "tuned"),
    [
        ({}, False),
        ({"MALLOC_ARENA_MAX": "2"}, False),  # another setting: no conflict
        ({"MALLOC_MMAP_THRESHOLD_": "0"}, True),
        ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, True),
        ({"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}, False),
        ({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}, True),
    ],
)
def test_user_tuning_is_recognised(environ, tuned):
    assert memory._user_tuned_malloc(environ) is tuned


def test_without_glibc_nothing_changes(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    with memory.retain_freed_memory() as applied:
        assert applied is False


class _RecordingLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("trim", pad))
        return 1


def test_concurrent_blocks_set_once_and_restore_once(monkeypatch):
    libc = _RecordingLibc()
    monkeypatch.setattr(memory, "_glibc", lambda: libc)
    monkeypatch.delenv(memory.ENV_VAR, raising=False)
    inside, release = threading.Barrier(3), threading.Event()

    def block():
        with memory.retain_freed_memory():
            inside.wait()
            release.wait()

    workers = [threading.Thread(target=block) for _ in range(2)]
    for worker in workers:
        worker.start()
    inside.wait()
    assert libc.calls == [(memory._M_MMAP_MAX, 0), (memory._M_TRIM_THRESHOLD, memory._NO_TRIM)]
    release.set()
    for worker in workers:
        worker.join()
    assert libc.calls[2:] == [
        (memory._M_MMAP_MAX, memory._DEFAULT_MMAP_MAX),
        (memory._M_MMAP_THRESHOLD, 32 << 20),
        (memory._M_TRIM_THRESHOLD, 64 << 20),
        ("trim", 0),
    ]
    assert memory._depth == 0


def test_an_error_in_the_block_still_restores(monkeypatch):
    libc = _RecordingLibc()
    monkeypatch.setattr(memory, "_glibc", lambda: libc)
    monkeypatch.delenv(memory.ENV_VAR, raising=False)
    with pytest.raises(KeyError), memory.retain_freed_memory():
        raise KeyError
    assert libc.calls[-1] == ("trim", 0) and memory._depth == 0


@pytest.mark.parametrize(
    "make",
    [lambda: CNNClassifier(max_epochs=1, batch_size=8), lambda: RotationPretext(max_epochs=1)],
)
def test_training_and_predicting_over_batches_run_in_the_block(monkeypatch, make):
    import fer_toolkit.estimators._device as device_module

    state = {"inside": False}

    @contextlib.contextmanager
    def recording():
        state["inside"] = True
        try:
            yield True
        finally:
            state["inside"] = False

    monkeypatch.setattr(device_module, "retain_freed_memory", recording)
    seen = []
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda *args: seen.append(state["inside"])
    )
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(16, 48, 48), dtype=np.uint8)
    y = np.array(["happy", "sad"] * 8)
    estimator = make().set_params(device="cpu", random_state=0, batch_size=8)
    infer = getattr(estimator, "predict" if hasattr(estimator, "predict") else "transform")
    try:
        estimator.fit(X, y)
        trained = len(seen)
        estimator.partial_fit(X, y)
        continued = len(seen)
        infer(X[:8])  # one batch: left alone
        one_batch = len(seen)
        infer(X)  # two batches of 8
    finally:
        hook.remove()
    assert 0 < trained < continued < one_batch < len(seen)
    assert all(seen[:continued]) and not any(seen[continued:one_batch])
    assert all(seen[one_batch:])
