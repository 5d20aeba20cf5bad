"""The console script's entry (``fer_toolkit.__main__``): OpenBLAS's pool for cascade commands."""

import os
import subprocess
import sys

import pytest

from fer_toolkit.__main__ import blas_threads_default

#: A child that applies the entry's default to its arguments, imports what the cascade
#: trainer imports, and prints its thread count and each OpenBLAS's pool size.
PROBE = """
import os, sys
from fer_toolkit.__main__ import blas_threads_default
blas_threads_default(sys.argv[1:])
import cv2, numpy, threadpoolctl
pools = [p["num_threads"] for p in threadpoolctl.threadpool_info()
         if p["internal_api"] == "openblas"]
print(len(os.listdir("/proc/self/task")), *pools)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["cascade", "train", "-data", "d"],
        ["-v", "cascade", "detect"],
        ["-q", "--verbose", "cascade"],
    ],
)
def test_cascade_commands_start_openblas_on_one_thread(args):
    env = {}
    assert blas_threads_default(args, env)
    assert env == {"OPENBLAS_NUM_THREADS": "1"}


@pytest.mark.parametrize(
    "args", [[], ["--help"], ["--version"], ["train", "cascade"], ["crop", "x"], ["-v", "search"]]
)
def test_other_commands_leave_the_environment_alone(args):
    env = {"HOME": "/home/user"}
    assert not blas_threads_default(args, env)
    assert env == {"HOME": "/home/user"}


def test_a_users_own_setting_is_kept():
    env = {"OPENBLAS_NUM_THREADS": "4"}
    assert not blas_threads_default(["cascade", "train"], env)
    assert env == {"OPENBLAS_NUM_THREADS": "4"}


def _probe(*args):
    # OpenBLAS also takes its count from these when OPENBLAS_NUM_THREADS is unset.
    counts = {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"}
    env = {k: v for k, v in os.environ.items() if k not in counts}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True, env=env
    )
    threads, *pools = map(int, completed.stdout.split())
    return threads, pools


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS starts no pool on one core")
def test_numpy_and_opencv_start_no_idle_blas_workers_under_cascade():
    threads, pools = _probe("cascade", "train")
    assert pools and set(pools) == {1}
    assert threads == 1
    # Any other command: each OpenBLAS starts its own workers (the cost avoided above).
    threads, pools = _probe("train")
    assert min(pools) > 1
    assert threads > 1


def test_python_m_fer_toolkit_runs_the_command_line():
    completed = subprocess.run(
        [sys.executable, "-m", "fer_toolkit", "-v", "cascade", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "createsamples" in completed.stdout
    assert completed.stdout.startswith("Usage: python -m fer_toolkit cascade")


#: A child that imports a command line the console script's way and prints: whether the
#: collector ran during the imports, whether it is on after them, how many objects were
#: frozen, and whether the command's module was imported.
GC_PROBE = """
import gc, sys
from fer_toolkit.__main__ import _import_command
before = [g["collections"] for g in gc.get_stats()]
main = _import_command(sys.argv[1:])
ran = [g["collections"] for g in gc.get_stats()] != before
print(ran, gc.isenabled(), gc.get_freeze_count(), "fer_toolkit.cli.cascade" in sys.modules)
"""


def _gc_probe(*args):
    completed = subprocess.run(
        [sys.executable, "-c", GC_PROBE, *args], capture_output=True, text=True, check=True
    )
    ran, enabled, frozen, imported = completed.stdout.split()
    return ran == "True", enabled == "True", int(frozen), imported == "True"


def test_the_command_module_is_imported_with_the_collector_paused_then_frozen():
    ran, enabled, frozen, imported = _gc_probe("-q", "cascade", "train", "-data", "d")
    assert not ran and enabled and imported
    assert frozen > 10_000  # NumPy, OpenCV and click alone make more


@pytest.mark.parametrize("args", [["--version"], ["no-such-command"], []])
def test_without_a_known_command_only_the_group_is_imported(args):
    ran, enabled, frozen, imported = _gc_probe(*args)
    assert not ran and enabled and not imported
    assert frozen > 1_000


def test_cascade_training_starts_without_the_tools_and_executor_modules():
    # What `fer-toolkit cascade train` imports before training: running the OpenCV tools
    # (subprocess, signal), removing folders (shutil, which imports bz2 and lzma) and a
    # thread-pool executor (concurrent.futures, logging) are not among it.
    code = (
        "import sys; import fer_toolkit.cli.main, fer_toolkit.cli.cascade;"
        "from fer_toolkit.cascade import train, _kernels, _scan_kernels, negatives;"
        "print(*[m for m in ('subprocess', 'signal', 'shutil', 'bz2', 'lzma',"
        " 'concurrent.futures', 'logging') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
