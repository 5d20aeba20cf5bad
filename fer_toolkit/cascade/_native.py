"""The cascade's compiled loops (C, built at install) and the threads that run them.

The loops live in ``csrc/`` and are compiled into the extension ``_ckernels`` when the
package is installed; this module loads that library with :mod:`ctypes` and declares
each function's arguments. A ctypes call releases the GIL, so :func:`parallel_for` runs
a loop's independent parts on several Python threads at once: nothing is compiled at
run time and no JIT runtime is loaded (numba, which compiled these loops before,
took about 0.7 s to load in each process).

The thread count works as numba's and PyTorch's: :func:`set_num_threads` sets it for the
calling thread (at most the CPUs this process may use), :func:`get_num_threads` reads
it, and :func:`parallel_for` uses it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import threading

import numpy as np

from ..utils import threads
from . import _ckernels

lib = ctypes.CDLL(_ckernels.__file__)

#: The letters of :func:`declare`'s signatures: an array's address (``None`` for
#: ``NULL``), an int64, a float32 scalar.
_TYPES = {"p": ctypes.c_void_p, "i": ctypes.c_int64, "f": ctypes.c_float}


def declare(name: str, signature: str, returns=None) -> None:
    """Declare the C function ``name``'s arguments, one letter each (``"p"`` pointer,
    ``"i"`` int64, ``"f"`` float32; spaces ignored) and its return type (None: void)."""
    function = getattr(lib, name)
    function.argtypes = [_TYPES[letter] for letter in signature.replace(" ", "")]
    function.restype = returns


def ptr(array: np.ndarray) -> int:
    """Address of a C-contiguous array's first element (``None`` passes ``NULL``)."""
    if array is None:
        return None
    if not array.flags.c_contiguous:
        raise ValueError(
            f"the compiled loops need C-contiguous arrays, got strides {array.strides}"
        )
    return array.ctypes.data


def output(array: np.ndarray, dtype, name: str) -> np.ndarray:
    """``array`` itself, which a loop writes: it must be a C-contiguous ``dtype`` array."""
    if not (isinstance(array, np.ndarray) and array.dtype == dtype and array.flags.c_contiguous):
        raise ValueError(f"{name} must be a C-contiguous {np.dtype(dtype)} array")
    return array


#: Most threads a loop may run on: the CPUs this process may use when first loaded.
MAX_THREADS = threads._cpus()
_local = threading.local()


def get_num_threads() -> int:
    """Threads the loops called from this thread run on (default: :data:`MAX_THREADS`)."""
    return getattr(_local, "n_threads", MAX_THREADS)


def set_num_threads(n_threads: int) -> None:
    """Run the loops called from this thread on ``n_threads`` threads (1 to :data:`MAX_THREADS`)."""
    _local.n_threads = max(1, min(int(n_threads), MAX_THREADS))


def limit_threads(n_threads=None, *, opencv: bool = False):
    """:func:`fer_toolkit.utils.threads.limit_threads` for these loops' threads.

    :func:`~fer_toolkit.utils.threads.refresh_threads` chooses the count again inside
    the block; :func:`get_num_threads` tells it to code that runs its own threads
    (negative mining). With ``opencv``, OpenCV's own thread pool (``cv2.setNumThreads``,
    process-wide) runs on ``n_threads`` inside the block, on one thread when it is None,
    and gets its own count back at the end: the cascade trainer's resizes run on it,
    and its idle worker waits actively, so on a loaded machine a second OpenCV thread
    took the trainer's share of a core (it ran 9 ms and sat 1.06 s in the run queue
    of a 1.2 s training); on a quiet one the LBP recipe trained as fast with one
    OpenCV thread as with two.

    The loops' threads sleep between parts (``passive`` in
    :func:`~fer_toolkit.utils.threads.resolve_num_threads`): the count is every core of
    the process's affinity and CPU quota, also while other processes use them. With
    two busy processes on 2 cores, the LBP recipe of ``benchmarks/bench_cascade.py``
    trained 3-8% faster on two threads than on the one free core.
    """
    if opencv:
        return _with_opencv_pool(n_threads)
    return threads.limit_threads(n_threads, pool=(get_num_threads, set_num_threads), passive=True)


@contextlib.contextmanager
def _with_opencv_pool(n_threads):
    with (
        threads._opencv_threads(1 if n_threads is None else n_threads),
        limit_threads(n_threads) as used,
    ):
        yield used


class _Helpers:
    """The threads that help the calling thread through :func:`parallel_for`'s parts:
    each runs the callables put in a queue, one after the other.

    Daemon threads: a process exits without joining them (they wait in the queue, all
    their parts done, whenever the caller is past :func:`parallel_for`), and no
    executor machinery (:mod:`concurrent.futures`, which imports :mod:`logging`) is
    imported at start-up.
    """

    def __init__(self, n_threads: int):
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        for i in range(n_threads):
            threading.Thread(target=self._serve, name=f"fer_toolkit_{i}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            self.tasks.get()()  # _Parts.work: it keeps its own errors for the caller

    def submit(self, task) -> None:
        self.tasks.put(task)


_pool: _Helpers | None = None
_pool_lock = threading.Lock()


def _helpers() -> _Helpers:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _Helpers(MAX_THREADS - 1)
        return _pool


def _forget_pool() -> None:
    """A forked child has none of its parent's threads: it starts its own pool."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_forget_pool)


class _Parts:
    """Contiguous parts of ``range(n)`` taken in turn by whichever thread is free."""

    def __init__(self, n: int, n_parts: int, run):
        self.bounds = [n * i // n_parts for i in range(n_parts + 1)]
        self.run = run
        self.lock = threading.Lock()
        self.next = 0
        self.left = n_parts
        self.done = threading.Event()
        self.error: BaseException | None = None

    def work(self) -> None:
        end = len(self.bounds) - 1
        while True:
            with self.lock:
                i = self.next
                if i >= end:
                    return
                self.next += 1
            try:
                self.run(self.bounds[i], self.bounds[i + 1])
            except BaseException as error:  # raised by the caller
                with self.lock:
                    self.error = self.error or error
                    self.left -= end - self.next  # hand out no more parts
                    self.next = end
            with self.lock:
                self.left -= 1
                if self.left == 0:
                    self.done.set()


def parallel_for(n: int, run, n_threads: int | None = None, parts_per_thread: int = 4) -> None:
    """Call ``run(begin, end)`` over contiguous parts of ``range(n)`` on ``n_threads``
    threads (default :func:`get_num_threads`), the calling thread one of them.

    Each thread takes the next part when it finishes one, so a thread on a busy core
    does fewer. The call returns when every part is done (the pool's threads that start
    late find none left, so nested calls cannot deadlock); the first exception raised
    by ``run`` is raised here.
    """
    n_threads = get_num_threads() if n_threads is None else max(1, int(n_threads))
    if n_threads <= 1 or n <= 1:
        if n > 0:
            run(0, n)
        return
    parts = _Parts(n, min(n, n_threads * parts_per_thread), run)
    pool = _helpers()
    for _ in range(min(n_threads, MAX_THREADS) - 1):
        pool.submit(parts.work)
    parts.work()
    parts.done.wait()
    if parts.error is not None:
        raise parts.error
