"""How many CPU threads PyTorch work uses, so that a shared machine does not collapse it.

PyTorch's CPU kernels run on an OpenMP thread pool with one thread per core.
OpenMP threads spin (busy-wait) between parallel regions: fastest while the
cores are free, and a collapse when other processes hold them, because the
spinning threads then take time slices from the ones doing work (a 2-thread run
became 3-6 times slower than a 1-thread run on a 2-core machine with 2
CPU-bound background processes). So fer_toolkit never runs PyTorch work on a
core that another process is using:

* :func:`limit_threads`, around each fitting, prediction and detection call,
  sets PyTorch's thread count to the cores other processes leave free
  (:func:`free_cpus`: the CPU time other processes used on this process's cores
  over the last half second or more, from ``/proc/stat``, and no more cores than
  a container's CPU quota leaves after its other processes), at most the count PyTorch had
  (``torch.set_num_threads`` or ``OMP_NUM_THREADS``), and restores that count
  afterwards;
* :func:`refresh_threads`, at every batch of a training or prediction loop,
  chooses again inside that call, so a long fit follows the load as it changes.

On a quiet machine every core is used, with OpenMP's spinning threads at full
speed. When ``OMP_WAIT_POLICY=PASSIVE`` is set (idle threads sleep instead of
spinning), ``work="large"`` calls (CNN training and inference: few large
kernels) keep every core even when other processes hold them: a second
sleeping thread still gains there.

Thread pools whose idle threads sleep rather than spin (the cascade trainer's compiled loops,
``passive=True``) keep every core of the affinity and quota: a sleeping thread
takes nothing from a busy core.

``FER_TOOLKIT_NUM_THREADS=N`` fixes the count to ``N`` for every call (no
adaptation); ``FER_TOOLKIT_NUM_THREADS=auto`` (or unset) is the default.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

from .validation import InputError

__all__ = [
    "free_cpus",
    "limit_threads",
    "map_images",
    "refresh_threads",
    "resolve_num_threads",
]

#: Environment variable that fixes the thread count of every call.
ENV_VAR = "FER_TOOLKIT_NUM_THREADS"
#: The kinds of work :func:`limit_threads` guards (see :func:`resolve_num_threads`).
WORKLOADS = ("small", "large")
#: Seconds a measurement of the free cores is reused, and the shortest window measured.
_CACHE_SECONDS = 0.5
_MIN_WINDOW_SECONDS = 0.1
#: (time, cores other processes leave free, CPU quota, what other processes of its group
#: leave of it) of the last measurement.
_cache: tuple[float, int, float | None, float | None] | None = None
#: Guards ``_cache`` (made by :func:`_start_measuring`).
_cache_lock: threading.Lock


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


#: Where the kernel shows this process's control groups and mounts their files (Linux).
_PROC_CGROUP = "/proc/self/cgroup"
_CGROUP_ROOT = "/sys/fs/cgroup"


def _cgroup_limits(root: str, path: str, v2: bool) -> list[tuple[float, str]]:
    """``(limit, file of the group's CPU time)`` for the group ``path`` under ``root`` and
    each of its parents that sets a CPU limit.

    The CPU time is ``cpu.stat`` (cgroup v2), or v1's ``cpuacct.usage``: in the same
    folder where ``cpuacct`` is mounted with ``cpu``, else in the same group of the
    ``cpuacct`` hierarchy.
    """
    read = _bandwidth_v2 if v2 else _bandwidth_v1
    limits = []
    for folder in _up_from(root, path):
        if os.path.isdir(folder):
            try:
                limit = read(folder)
            except (OSError, ValueError, IndexError):
                continue
            if limit is None:
                continue
            if v2:
                usage = os.path.join(folder, "cpu.stat")
            elif os.path.exists(os.path.join(folder, "cpuacct.usage")):
                usage = os.path.join(folder, "cpuacct.usage")
            else:
                group = os.path.relpath(folder, root)
                usage = os.path.join(_CGROUP_ROOT, "cpuacct", group, "cpuacct.usage")
            limits.append((limit, os.path.normpath(usage)))
    return limits


def _bandwidth(quota: int, period: int) -> float | None:
    return quota / period if quota > 0 and period > 0 else None


def _bandwidth_v2(folder: str) -> float | None:
    with open(os.path.join(folder, "cpu.max")) as f:
        quota, period = f.read().split()[:2]
    return None if quota == "max" else _bandwidth(int(quota), int(period))


def _bandwidth_v1(folder: str) -> float | None:
    with open(os.path.join(folder, "cpu.cfs_quota_us")) as f:
        quota = int(f.read())
    with open(os.path.join(folder, "cpu.cfs_period_us")) as f:
        return _bandwidth(quota, int(f.read()))


def _up_from(root: str, path: str) -> list[str]:
    """``root`` joined with ``path`` and each of its parents, deepest first, then ``root``."""
    parts = [part for part in path.split("/") if part and part not in (".", "..")]
    return [os.path.join(root, *parts[:n]) for n in range(len(parts), -1, -1)]


def _quota_group() -> tuple[float, str] | None:
    """``(limit, file of the group's CPU time)`` of the control group whose CPU bandwidth
    limit binds this process, or None when no limit is set or none can be read.

    The limit is in cores' worth of CPU time. Containers limit CPU this way
    (``docker run --cpus 1.5``, Kubernetes CPU limits, systemd's ``CPUQuota``)
    while every core of the host stays in the process's affinity. The limit is
    ``cpu.max`` (cgroup v2) or ``cpu.cfs_quota_us / cpu.cfs_period_us`` (cgroup
    v1, ``cpu`` controller, mounted at ``cpu`` or under its controllers' names,
    e.g. ``cpu,cpuacct``), the smallest over the process's group and its parents:
    the group as ``/proc/self/cgroup`` names it under ``/sys/fs/cgroup``, and that
    folder's root itself (inside a container, the container's own group). The
    file of the CPU time: see :func:`_cgroup_limits`.
    """
    try:
        with open(_PROC_CGROUP) as f:
            groups = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError:
        return None
    limits = []
    for hierarchy, controllers, path in (g for g in groups if len(g) == 3):
        if hierarchy == "0" and not controllers:
            limits += _cgroup_limits(_CGROUP_ROOT, path, v2=True)
        elif "cpu" in controllers.split(","):
            # Mounted as "cpu,cpuacct", usually with a "cpu" link to it.
            for mount in dict.fromkeys(("cpu", controllers)):
                limits += _cgroup_limits(os.path.join(_CGROUP_ROOT, mount), path, v2=False)
    return min(limits, default=None, key=lambda found: found[0])


def _group_cpu_seconds(usage: str) -> float | None:
    """CPU seconds every process of a group used so far, from its ``usage`` file, or None.

    ``usage_usec`` of ``cpu.stat`` (cgroup v2), or ``cpuacct.usage`` (nanoseconds, v1).
    """
    try:
        with open(usage) as f:
            if os.path.basename(usage) == "cpuacct.usage":
                return int(f.read()) / 1e9
            for line in f:
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
    except (OSError, ValueError):
        pass
    return None


def _group_reading(group) -> tuple[float, str, float, float] | None:
    """(wall clock, file, CPU seconds, this process's CPU seconds) of ``group`` (from
    :func:`_quota_group`), or None (no limit, or its use cannot be read)."""
    used = None if group is None else _group_cpu_seconds(group[1])
    return None if used is None else (time.monotonic(), group[1], used, time.process_time())


def _group_others(group) -> float | None:
    """Cores' worth of CPU time other processes of the CPU-limited control group ``group``
    (from :func:`_quota_group`) used since the previous call (or this module's import),
    or None where it cannot be measured.

    Several processes of one container share its quota (the workers of
    ``GridSearchCV(n_jobs=2)``, a data loader's): on a host with more cores than
    the quota, the cores they run on are a few of many, and the free cores of
    :func:`_other_processes_cores` do not show them. Their use is the group's CPU
    time less this process's. None as well when the window is shorter than
    ``_MIN_WINDOW_SECONDS``; the reading then stays for the next call.
    """
    global _last_group_reading
    now, start = _group_reading(group), _last_group_reading
    if now is None or start is None or now[1] != start[1]:
        _last_group_reading = now
        return None
    if now[0] - start[0] < _MIN_WINDOW_SECONDS:
        return None
    _last_group_reading = now
    others = (now[2] - start[2]) - (now[3] - start[3])
    return max(0.0, others / (now[0] - start[0]))


def _within_quota(cores: int, quota: float | None, work: str) -> int:
    """``cores``, at most the CPU ``quota`` in whole cores for ``work`` (at least 1).

    Measured with 1.5 CPUs on 2 cores: two threads trained a CNN 1.2x faster than
    one, and ran MTCNN 1.2x slower. Large kernels round to the nearest core (halves
    up), many small kernels down.
    """
    if quota is None:
        return cores
    return min(cores, max(1, int(quota + 0.5) if work == "large" else int(quota)))


def _cores_busy_seconds() -> float | None:
    """CPU seconds spent so far on the cores of this process's affinity, or None.

    Every process's time counts (``user nice system irq softirq`` of the
    ``cpuN`` lines of ``/proc/stat``, Linux); idle, I/O wait and time stolen by
    a hypervisor do not.
    """
    try:
        cores = {f"cpu{n}" for n in os.sched_getaffinity(0)}
        with open("/proc/stat") as stat:
            rows = [line.split() for line in stat if line.startswith("cpu")]
        ticks = sum(
            sum(int(v) for v in (row[1], row[2], row[3], row[6], row[7]))
            for row in rows
            if row[0] in cores
        )
        return ticks / os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, ValueError, IndexError):
        return None


def _reading() -> tuple[float, float | None, float]:
    """(wall clock, busy seconds of this process's cores, this process's CPU seconds)."""
    return time.monotonic(), _cores_busy_seconds(), time.process_time()


def _start_measuring() -> None:
    """Take the readings the next measurement starts from: when this module loads, and
    again in a forked child, whose own CPU time starts again from 0 (the parent's
    readings would count the parent's CPU time as other processes')."""
    global _last_reading, _last_group_reading, _cache_lock
    _last_reading = _reading()
    _last_group_reading = _group_reading(_quota_group())
    _cache_lock = threading.Lock()  # another of the parent's threads may have held it


_start_measuring()
if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_start_measuring)


def _other_processes_cores() -> float | None:
    """Cores' worth of CPU time that other processes used on this process's cores since
    the previous call (or this module's import), or None where it cannot be measured.

    An average over the window, not a snapshot: a task that wakes for a few
    milliseconds (a daemon, the shell) does not count as a busy core, a CPU-bound
    process does. This process's own threads (OpenMP's spinning workers
    included) are left out. None as well when the window is shorter than
    ``_MIN_WINDOW_SECONDS`` (the kernel counts CPU time in ticks of 10 ms);
    the reading then stays for the next call.
    """
    global _last_reading
    now = _reading()
    start = _last_reading
    if now[1] is None or start[1] is None or now[0] - start[0] < _MIN_WINDOW_SECONDS:
        return None
    _last_reading = now
    others = (now[1] - start[1]) - (now[2] - start[2])
    return max(0.0, others / (now[0] - start[0]))


def free_cpus(work: str = "small") -> int:
    """Cores this process may use that other processes are not using (at least 1).

    The cores come from the process's CPU affinity, at most its control group's
    CPU quota (a container's ``--cpus``, cgroup v1 or v2, Linux) less what the
    group's other processes use of it (the group's CPU time, ``cpu.stat`` or
    ``cpuacct.usage``, less this process's own); the other processes' use of
    the cores from the CPU time the kernel counts on each (``/proc/stat``,
    Linux) less this process's own. Both are averaged since the previous
    measurement (at most every half second): a core counts as busy when other
    processes used at least half of it. Where ``/proc/stat`` does not exist, or
    the first measurement comes less than 0.1 s after
    ``fer_toolkit.utils.threads`` loaded, every usable core counts as free.

    Parameters
    ----------
    work : {"small", "large"}, default="small"
        How a fractional quota counts: for ``"large"`` work (few large kernels)
        to the nearest core, halves up; for ``"small"`` work (many small
        kernels, which a second throttled thread slows down) rounded down.

    Examples
    --------
    >>> from fer_toolkit.utils.threads import free_cpus
    >>> free_cpus() >= 1
    True
    """
    _check_work(work)
    free, _, quota_left = _measurement()
    return _within_quota(free, quota_left, work)


def _measurement() -> tuple[int, float | None, float | None]:
    """(cores other processes leave free, CPU quota, what other processes of its group leave
    of the quota), measured at most every half second."""
    global _cache
    now = time.monotonic()
    with _cache_lock:
        if _cache is None or now - _cache[0] >= _CACHE_SECONDS:
            cpus = _cpus()
            others = _other_processes_cores()
            if others is None:
                free = cpus if _cache is None else _cache[1]
            else:
                free = max(1, min(cpus, cpus - int(others + 0.5)))
            group = _quota_group()
            quota = None if group is None else group[0]
            in_group = _group_others(group)
            if quota is None:
                left = None
            elif in_group is not None:
                # As for the cores: a process holds a core when it uses at least half of one.
                left = quota - int(in_group + 0.5)
            else:
                left = quota if _cache is None or _cache[2] != quota else _cache[3]
            _cache = (now, free, quota, left)
        return _cache[1], _cache[2], _cache[3]


def _check_work(work) -> None:
    if work not in WORKLOADS:
        raise InputError(f"work must be one of {WORKLOADS}; got {work!r}.")


def _openmp_waits_passively() -> bool:
    return os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE"


def resolve_num_threads(
    n_threads=None, current: int | None = None, work: str = "small", passive: bool = False
) -> int:
    """The thread count a call uses.

    Parameters
    ----------
    n_threads : int or None
        A count chosen by the caller (used as is), or None: then
        ``FER_TOOLKIT_NUM_THREADS`` when it is set to an integer, else
        ``min(current, free_cpus(work))``.
    current : int, optional
        PyTorch's thread count now (default ``torch.get_num_threads()``).
    work : {"small", "large"}, default="small"
        What the call runs: ``"small"``, many small kernels (MTCNN's image
        pyramid, the cascade trainer); ``"large"``, few large kernels (CNN
        training and inference). Both use the free cores only (see
        :func:`free_cpus` for how each counts a fractional CPU quota), except
        that ``"large"`` keeps ``current`` (at most the cores of the process's
        affinity and its CPU quota) when ``OMP_WAIT_POLICY=PASSIVE`` is set: OpenMP threads
        then sleep instead of spinning, and a second thread still gains on
        a core that another process holds.
    passive : bool, default=False
        Whether the pool's idle threads sleep (block on a lock) rather than spin,
        as the cascade trainer's do: ``current`` is then kept, at most the cores
        of the process's affinity and its CPU quota, whatever other processes
        use (a sleeping thread takes nothing from a busy core; a working one
        takes its share of it).

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
    >>> 1 <= resolve_num_threads(current=2, passive=True) <= 2
    True
    """
    _check_work(work)
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
    if passive or (work == "large" and _openmp_waits_passively()):
        cores = _within_quota(_cpus(), _measurement()[1], work)
    else:
        cores = free_cpus(work)
    return max(1, min(current, cores))


#: The innermost :func:`limit_threads` block of each Python thread:
#: (n_threads, work, passive, the count before it, the pool's get, the pool's set).
_blocks = threading.local()


def _torch_pool():
    import torch

    return torch.get_num_threads, torch.set_num_threads


@contextlib.contextmanager
def limit_threads(n_threads=None, work: str = "small", pool=None, passive: bool = False):
    """Run the body with a thread pool's count from :func:`resolve_num_threads`, then restore it.

    Parameters
    ----------
    n_threads : int or None
        See :func:`resolve_num_threads`.
    work : {"small", "large"}, default="small"
        What the body runs, see :func:`resolve_num_threads`: ``"large"`` for
        convolutional networks on batches of images, ``"small"`` for many
        small kernels (and when in doubt).
    pool : (callable, callable) or None, default=None
        The thread pool's ``(get_num_threads, set_num_threads)``; None for
        PyTorch's. The cascade trainer passes its compiled loops'
        (``fer_toolkit.cascade._native``). The count before the block is the most the
        block uses.
    passive : bool, default=False
        Whether the pool's idle threads sleep rather than spin, see
        :func:`resolve_num_threads`.

    Examples
    --------
    >>> import torch
    >>> from fer_toolkit.utils.threads import limit_threads
    >>> before = torch.get_num_threads()
    >>> with limit_threads(1):
    ...     torch.get_num_threads()
    1
    >>> with limit_threads(work="large") as used:
    ...     1 <= used <= before
    True
    >>> torch.get_num_threads() == before
    True
    """
    get, set_ = _torch_pool() if pool is None else pool
    previous = get()
    stack = _blocks.__dict__.setdefault("stack", [])
    stack.append((n_threads, work, passive, previous, get, set_))
    try:
        yield refresh_threads()
    finally:
        stack.pop()
        if get() != previous:
            set_(previous)


def refresh_threads() -> int | None:
    """Choose the thread count of the innermost :func:`limit_threads` block again, for the load now.

    For loops inside such a block (the batches of a training or prediction
    call, of a cascade's negative mining): the block's rule is applied to the free
    cores of this moment, so a long call follows other processes as they start
    and stop. Cheap: the free cores are measured at most every half second.

    Returns
    -------
    n_threads : int or None
        The block's thread count now, or None outside a block (nothing changed).

    Examples
    --------
    >>> import torch
    >>> from fer_toolkit.utils.threads import limit_threads, refresh_threads
    >>> refresh_threads() is None
    True
    >>> with limit_threads(1):
    ...     refresh_threads()
    1
    """
    stack = getattr(_blocks, "stack", None)
    if not stack:
        return None
    n_threads, work, passive, cap, get, set_ = stack[-1]
    wanted = resolve_num_threads(n_threads, current=cap, work=work, passive=passive)
    if wanted != get():
        set_(wanted)
    return get()


@contextlib.contextmanager
def _opencv_threads(n_threads: int):
    """Run the block with OpenCV's own thread pool at ``n_threads``, then restore the count
    it found (also when the block changed it again).

    The count is set only when it differs (setting it restarts the pool). With 1: when
    fer_toolkit runs images on several threads, OpenCV's internal parallelism would
    oversubscribe the cores (the same reason scikit-learn limits BLAS threads inside
    its parallel loops).
    """
    import cv2  # not at module level: ``import fer_toolkit`` imports this module

    previous = cv2.getNumThreads()
    if n_threads != previous:
        cv2.setNumThreads(n_threads)
    try:
        yield
    finally:
        if cv2.getNumThreads() != previous:
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
