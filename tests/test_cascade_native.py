"""The cascade's compiled loops: loading, and the threads that run their parts."""

import subprocess
import sys
import threading

import numpy as np
import pytest

from fer_toolkit.cascade import _native


def test_the_loops_load_without_numba_or_a_compiler_at_run_time():
    code = (
        "import sys; from fer_toolkit.cascade import _kernels, _scan_kernels;"
        "print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
@pytest.mark.parametrize("n_threads", [1, 2, 3, 8])
def test_parallel_for_covers_the_range_once(n, n_threads):
    seen = np.zeros(n, dtype=np.int64)
    lock = threading.Lock()

    def run(begin, end):
        assert 0 <= begin < end <= n
        with lock:
            seen[begin:end] += 1

    _native.parallel_for(n, run, n_threads)
    np.testing.assert_array_equal(seen, 1)


def test_parallel_for_raises_the_first_error_after_the_running_parts_end():
    running = []

    def run(begin, end):
        running.append(begin)
        if begin == 0:
            raise ValueError("part 0 failed")

    with pytest.raises(ValueError, match="part 0 failed"):
        _native.parallel_for(100, run, 2)
    assert 0 in running


def test_nested_parallel_loops_finish_when_every_pool_thread_waits():
    # Each outer part runs an inner loop: the pool's threads are all busy with outer
    # parts, so the inner loops' callers do their own parts rather than wait.
    total = []

    def inner(begin, end):
        total.append(end - begin)

    def outer(begin, end):
        for _ in range(begin, end):
            _native.parallel_for(10, inner, 4)

    done = threading.Event()
    worker = threading.Thread(target=lambda: (_native.parallel_for(16, outer, 8), done.set()))
    worker.start()
    assert done.wait(30), "nested parallel_for deadlocked"
    assert sum(total) == 16 * 10


@pytest.mark.skipif(_native.MAX_THREADS < 2, reason="no helper threads on one CPU")
def test_the_helpers_are_daemon_threads():
    # A process exits without joining them.
    _native.parallel_for(64, lambda begin, end: None, 2)
    helpers = [t for t in threading.enumerate() if t.name.startswith("fer_toolkit_")]
    assert len(helpers) == _native.MAX_THREADS - 1
    assert all(t.daemon and t.is_alive() for t in helpers)


def test_the_thread_count_is_per_calling_thread():
    before = _native.get_num_threads()
    _native.set_num_threads(1)
    seen = []
    other = threading.Thread(target=lambda: seen.append(_native.get_num_threads()))
    other.start()
    other.join()
    assert _native.get_num_threads() == 1
    assert seen == [_native.MAX_THREADS]
    _native.set_num_threads(10**6)
    assert _native.get_num_threads() == _native.MAX_THREADS
    _native.set_num_threads(before)


@pytest.mark.parametrize("loops_before", [1, None])
def test_opencvs_pool_takes_the_loops_count_in_the_block_and_gets_its_own_back(loops_before):
    import cv2

    opencv_before, native_before = cv2.getNumThreads(), _native.get_num_threads()
    if loops_before is not None:  # the loops already run on the block's count
        _native.set_num_threads(loops_before)
    cv2.setNumThreads(3)
    try:
        with _native.limit_threads(1, opencv=True):
            assert (_native.get_num_threads(), cv2.getNumThreads()) == (1, 1)
        assert cv2.getNumThreads() == 3
        with _native.limit_threads(1):  # without opencv=True, OpenCV's pool is left alone
            assert (_native.get_num_threads(), cv2.getNumThreads()) == (1, 3)
    finally:
        cv2.setNumThreads(opencv_before)
        _native.set_num_threads(native_before)


def test_the_loops_keep_every_core_while_other_processes_use_them(monkeypatch):
    # Their threads sleep between parts: a busy core costs nothing until they work.
    import cv2

    from fer_toolkit.utils import threads

    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    monkeypatch.setattr(threads, "_quota_group", lambda: None)
    monkeypatch.setattr(threads, "_other_processes_cores", lambda: float(_native.MAX_THREADS))
    monkeypatch.setattr(threads, "_cache", None)
    assert threads.free_cpus() == 1
    before, opencv_before = _native.get_num_threads(), cv2.getNumThreads()
    _native.set_num_threads(_native.MAX_THREADS)
    try:
        cv2.setNumThreads(3)
        for opencv in (False, True):
            with _native.limit_threads(opencv=opencv) as used:
                assert used == _native.get_num_threads() == _native.MAX_THREADS
                # OpenCV's idle workers wait actively: its pool runs on one thread.
                assert cv2.getNumThreads() == (1 if opencv else 3)
            assert cv2.getNumThreads() == 3
    finally:
        _native.set_num_threads(before)
        cv2.setNumThreads(opencv_before)


def test_the_loops_refuse_arrays_that_are_not_contiguous():
    from fer_toolkit.cascade._kernels import argsort_rows

    values = np.zeros((4, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        argsort_rows(values[:, ::2], np.empty((4, 3), np.int32), np.empty((4, 3), np.float32))


def test_a_forked_child_runs_parallel_loops():
    code = """
import os, numpy as np
from fer_toolkit.cascade import _native
_native.parallel_for(8, lambda b, e: None, 2)  # the parent's pool has started
pid = os.fork()
if pid == 0:
    seen = []
    _native.parallel_for(100, lambda b, e: seen.append(e - b), 2)
    os._exit(0 if sum(seen) == 100 else 1)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "0"
