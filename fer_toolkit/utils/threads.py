"""How many CPU threads PyTorch work uses, so that a shared machine does not collapse it.

PyTorch's CPU kernels run on an OpenMP thread pool with one thread per core.
By default OpenMP threads spin (busy-wait) between parallel regions; when other
processes hold the cores, the spinning threads take time slices from the ones
doing work, and a 2-thread run becomes 3-6 times slower than a 1-thread run
(measured on a 2-core machine with 2 CPU-bound background processes). Two
measures, both overridable:

* :func:`configure_openmp`, run when ``fer_toolkit`` is imported: sets
  ``OMP_WAIT_POLICY=PASSIVE`` (GNU and LLVM OpenMP: idle threads sleep instead
  of spinning) and ``KMP_BLOCKTIME=0`` (Intel OpenMP) unless they are set
  already. OpenMP reads them once, when its library loads, i.e. when
  ``torch`` is first imported: they have no effect when ``torch`` was imported
  before ``fer_toolkit``.
* :func:`limit_threads`, around each fitting, prediction and detection call,
  sets PyTorch's thread count for the kind of work it guards, at most the
  count PyTorch had (``torch.set_num_threads`` or ``OMP_NUM_THREADS``), and
  restores that count afterwards:

  - ``work="large"`` (CNN training and inference: few large convolutions)
    keeps every core PyTorch has, even when other processes hold them: a
    second passively waiting thread still gains there under load;
  - ``work="small"`` (MTCNN's image pyramid, the cascade trainer: many small
    kernels, whose threads meet often) uses only the cores that other
    processes leave free (the kernel's count of runnable tasks,
    ``/proc/loadavg``).

  On a quiet machine both use every core.

``FER_TOOLKIT_NUM_THREADS=N`` fixes the count to ``N`` for every call (no
adaptation); ``FER_TOOLKIT_NUM_THREADS=auto`` (or unset) is the default.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

__all__ = [
    "configure_openmp",
    "free_cpus",
    "limit_threads",
    "map_images",
    "resolve_num_threads",
]

#: Environment variable that fixes the thread count of every call.
ENV_VAR = "FER_TOOLKIT_NUM_THREADS"
#: The kinds of work :func:`limit_threads` guards (see :func:`resolve_num_threads`).
WORKLOADS = ("small", "large")
#: Set at import unless the user set them: idle OpenMP threads sleep instead of spinning.
OPENMP_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
#: Seconds a measurement of the free cores is reused.
_CACHE_SECONDS = 0.5
_cache_lock = threading.Lock()
_cache: tuple[float, int] | None = None


def configure_openmp(environ=None) -> dict[str, str]:
    """Make idle OpenMP threads sleep, unless the user chose otherwise.

    Sets ``OMP_WAIT_POLICY=PASSIVE`` and ``KMP_BLOCKTIME=0`` in ``environ``
    (default ``os.environ``) where they are not set. Must run before ``torch``
    is imported to have an effect (OpenMP reads its settings when loaded).

    Returns
    -------
    applied : dict
        The variables this call set (empty when all were set already).

    Examples
    --------
    >>> from fer_toolkit.utils.threads import configure_openmp
    >>> configure_openmp({"OMP_WAIT_POLICY": "ACTIVE"})
    {'KMP_BLOCKTIME': '0'}
    """
    environ = os.environ if environ is None else environ
    applied = {}
    for name, value in OPENMP_DEFAULTS.items():
        if name not in environ:
            environ[name] = value
            applied[name] = value
    return applied


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _runnable_tasks(samples: int = 3) -> int | None:
    """Tasks runnable right now on the machine (fewest of a few readings), or None.

    The readings follow each other without sleeping (they used to be 1 ms
    apart): on a busy machine a sleeping thread may wait for a core to wake
    up again. MTCNN detection measured no difference either way (6 alternated
    rounds, load average 9-11), so this only saves the 2 ms.
    """
    counts = []
    for _ in range(samples):
        try:
            with open("/proc/loadavg") as f:
                counts.append(int(f.read().split()[3].split("/")[0]))
        except (OSError, ValueError, IndexError):
            return None
    return min(counts)


def free_cpus() -> int:
    """Cores this process may use that no other runnable task is using now (at least 1).

    The count of runnable tasks comes from ``/proc/loadavg`` (Linux; it
    includes the calling thread, which is not counted as a competitor); the
    cores from the process's CPU affinity. Where ``/proc/loadavg`` does not
    exist, every core counts as free. Measurements are reused for half a
    second.

    Examples
    --------
    >>> from fer_toolkit.utils.threads import free_cpus
    >>> free_cpus() >= 1
    True
    """
    global _cache
    now = time.monotonic()
    with _cache_lock:
        if _cache is not None and now - _cache[0] < _CACHE_SECONDS:
            return _cache[1]
    cpus = _cpus()
    running = _runnable_tasks()
    free = cpus if running is None else max(1, min(cpus, cpus - (running - 1)))
    with _cache_lock:
        _cache = (now, free)
    return free


def resolve_num_threads(n_threads=None, current: int | None = None, work: str = "small") -> int:
    """The thread count a call uses.

    Parameters
    ----------
    n_threads : int or None
        A count chosen by the caller (used as is), or None: then
        ``FER_TOOLKIT_NUM_THREADS`` when it is set to an integer, else a
        count for ``work``.
    current : int, optional
        PyTorch's thread count now (default ``torch.get_num_threads()``).
    work : {"small", "large"}, default="small"
        What the call runs. ``"small"``: many small kernels (MTCNN's image
        pyramid, the cascade trainer), ``min(current, free_cpus())``: a
        thread that waits for a busy core holds the others up at every
        kernel. ``"large"``: few large kernels (CNN training and inference),
        ``current`` (at most the cores of the process's affinity), whether or
        not other processes hold the cores: with the passive OpenMP wait of
        :func:`configure_openmp`, the second thread then still gains.

    Raises
    ------
    ValueError
        If ``n_threads`` or ``FER_TOOLKIT_NUM_THREADS`` is not an integer >= 1
        (or ``"auto"`` for the latter), or ``work`` is neither ``"small"``
        nor ``"large"``.

    Examples
    --------
    >>> from fer_toolkit.utils.threads import resolve_num_threads
    >>> resolve_num_threads(3, current=2)
    3
    >>> 1 <= resolve_num_threads(current=2) <= 2
    True
    >>> resolve_num_threads(current=1, work="large")
    1
    """
    # Imported here: fer_toolkit imports this module first, before numpy is needed.
    from .validation import InputError

    if work not in WORKLOADS:
        raise InputError(f"work must be one of {WORKLOADS}; got {work!r}.")
    if n_threads is not None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
            raise InputError(f"n_threads must be an int >= 1 or None; got {n_threads!r}.")
        return n_threads
    fixed = os.environ.get(ENV_VAR, "auto").strip().lower()
    if fixed not in ("", "auto"):
        if not fixed.isdigit() or int(fixed) < 1:
            raise InputError(
                f"{ENV_VAR} must be 'auto' or an integer >= 1; got {os.environ[ENV_VAR]!r}."
            )
        return int(fixed)
    if current is None:
        import torch

        current = torch.get_num_threads()
    return max(1, min(current, _cpus() if work == "large" else free_cpus()))


@contextlib.contextmanager
def limit_threads(n_threads=None, work: str = "small"):
    """Run the body with PyTorch's thread count from :func:`resolve_num_threads`, then restore it.

    Parameters
    ----------
    n_threads : int or None
        See :func:`resolve_num_threads`.
    work : {"small", "large"}, default="small"
        What the body runs, see :func:`resolve_num_threads`: ``"large"`` for
        convolutional networks on batches of images, ``"small"`` for many
        small kernels (and when in doubt: it never uses a busy core).

    Examples
    --------
    >>> import torch
    >>> from fer_toolkit.utils.threads import limit_threads
    >>> before = torch.get_num_threads()
    >>> with limit_threads(1):
    ...     torch.get_num_threads()
    1
    >>> with limit_threads(work="large") as used:
    ...     used == before
    True
    >>> torch.get_num_threads() == before
    True
    """
    import torch

    previous = torch.get_num_threads()
    wanted = resolve_num_threads(n_threads, current=previous, work=work)
    if wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        if wanted != previous:
            torch.set_num_threads(previous)


@contextlib.contextmanager
def _opencv_threads(n_threads: int):
    """Run the block with OpenCV's own thread pool at ``n_threads``, then restore its count.

    The count is left alone when it is already ``n_threads`` (setting it restarts the
    pool). With 1: when fer_toolkit runs images on several threads, OpenCV's internal
    parallelism would oversubscribe the cores (the same reason scikit-learn limits BLAS
    threads inside its parallel loops).
    """
    import cv2  # not at module level: ``import fer_toolkit`` imports this module

    previous = cv2.getNumThreads()
    if n_threads != previous:
        cv2.setNumThreads(n_threads)
    try:
        yield
    finally:
        if n_threads != previous:
            cv2.setNumThreads(previous)


def map_images(func, items, n_jobs=None):
    """Apply ``func`` to every item, in chunks on up to ``n_jobs`` threads (the free cores).

    The per-image loop of the image transformers, face detection over files and
    cascade evaluation.

    Threads, not processes: OpenCV and scikit-image release the GIL in their
    kernels, and images then never need to be pickled to a worker.

    If ``func`` raises, the error of the *first* failing item (in batch order)
    is raised, whatever the number of threads, and only once every thread has
    stopped: no worker is left running in the background.

    Examples
    --------
    >>> from fer_toolkit.utils.threads import map_images
    >>> map_images(lambda v: v * 10, [1, 2, 3, 4, 5], n_jobs=2)
    [10, 20, 30, 40, 50]
    """
    from concurrent.futures import ThreadPoolExecutor  # here: kept out of ``import fer_toolkit``

    from joblib import effective_n_jobs

    items = list(items)
    # n_jobs is an upper bound: no more threads than the cores other processes leave
    # free (inside GridSearchCV(n_jobs=2), each worker gets one).
    n_workers = min(effective_n_jobs(n_jobs), len(items), free_cpus())
    if n_workers <= 1:
        return [func(item) for item in items]
    out = [None] * len(items)
    failure = {"index": len(items), "error": None}
    lock = threading.Lock()

    def run(start):
        # Interleaved chunks balance the load when image sizes vary along the batch.
        for i in range(start, len(items), n_workers):
            if i > failure["index"]:  # a failure at a smaller index will be reported
                return
            try:
                out[i] = func(items[i])
            except BaseException as exc:
                with lock:
                    if i < failure["index"]:
                        failure["index"], failure["error"] = i, exc
                return

    # Not joblib: on an error it abandons the other (daemon) workers, which then run
    # on in OpenCV and abort the interpreter at exit; this pool joins them all.
    with _opencv_threads(1), ThreadPoolExecutor(n_workers) as pool:
        for future in [pool.submit(run, start) for start in range(n_workers)]:
            future.result()
    if failure["error"] is not None:
        raise failure["error"]
    return out
