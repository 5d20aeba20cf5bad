"""Keep freed memory in the process while a network trains, instead of faulting it in again.

A convolutional network allocates and frees the same large activation and
gradient buffers at every batch. glibc's ``malloc`` serves a request above its
mmap threshold with a fresh ``mmap`` and unmaps it on ``free``; the threshold
starts at 128 KiB and follows the sizes the program frees, but never above
32 MiB. Larger buffers -- ``conv4_dense3``'s first activations for a batch of
64 48x48 images are 38 MB -- are mapped anew at every batch, and every page of
them costs a page fault and zero-filling. Measured with
``benchmarks/bench_threads.py --tasks fer_epoch`` (``conv4_dense3``, one epoch
over 28,709 48x48 images, 2 threads, a 2-core virtual machine): 36 million
page faults, 89.5 s of system time and 194.3 s in all without it, 82,000
page faults, 4.8 s and 138.2 s with it (``docs/benchmarks.md``).

:func:`retain_freed_memory` turns glibc's ``mmap`` off and its heap trimming
down (``mallopt``) for the duration of a block. The estimators' ``fit`` and
``partial_fit`` run inside it, and ``CNNClassifier``'s predictions over more
than one batch; a prediction of one batch does not (a loop of such calls
would give the memory back and fault it in again at every call). At the end of the
last running block, ``mmap`` comes back with the threshold and trim
threshold at the top of glibc's own adaptive range (32 and 64 MiB: where
glibc's rule leaves a program that has freed a 32 MiB buffer), and the free
memory goes back to the system (``malloc_trim``). The cost is a higher peak
resident size while training (about +100 MB for 2,048 such images).

It does nothing where the C library is not glibc (macOS, Windows, musl),
when the user tuned the same settings (``MALLOC_MMAP_MAX_``,
``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, or the matching
``glibc.malloc`` entries of ``GLIBC_TUNABLES``) or preloads another allocator
(jemalloc, tcmalloc, mimalloc in ``LD_PRELOAD``), or with
``FER_TOOLKIT_RETAIN_MEMORY=0``. ``mallopt`` settings belong to the whole
process: blocks running at the same time (threads) share one setting, made
by the first to enter and undone by the last to leave. Once a block has run,
glibc no longer adapts its thresholds for the rest of the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

__all__ = ["retain_freed_memory"]

#: Environment variable that turns :func:`retain_freed_memory` off when ``0``.
ENV_VAR = "FER_TOOLKIT_RETAIN_MEMORY"
# mallopt parameters and glibc's defaults for them (malloc.h, malloc/malloc.c).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_DEFAULT_MMAP_MAX = 65536
#: The top of glibc's adaptive mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX on
#: 64-bit systems) and the trim threshold its rule pairs with it (twice).
_TOP_MMAP_THRESHOLD = 32 * 1024 * 1024
_TOP_TRIM_THRESHOLD = 2 * _TOP_MMAP_THRESHOLD
#: Largest value ``mallopt`` takes (an ``int``): keep up to 2 GiB of free heap.
_NO_TRIM = 2**31 - 1

_lock = threading.Lock()
_depth = 0
_libc = None


#: What a user sets to tune the same glibc parameters (environment, tunables).
_USER_SETTINGS = ("MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
_USER_TUNABLES = ("glibc.malloc.mmap_max", "glibc.malloc.mmap_threshold", "glibc.malloc.trim")
_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")


def _user_tuned_malloc(environ) -> bool:
    """Whether the user chose these allocator settings, or another allocator."""
    tunables, preload = environ.get("GLIBC_TUNABLES", ""), environ.get("LD_PRELOAD", "")
    return (
        any(name in environ for name in _USER_SETTINGS)
        or any(name in tunables for name in _USER_TUNABLES)
        or any(name in preload for name in _ALLOCATORS)
    )


def _glibc():
    """glibc with ``mallopt`` and ``malloc_trim``, or None (another C library)."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None)  # the symbols the process has loaded: its C library
                libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
                libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
                libc.malloc_trim.argtypes = (ctypes.c_size_t,)
                _libc = libc
            except (OSError, AttributeError):
                pass
    return _libc or None


def _applies() -> bool:
    if os.environ.get(ENV_VAR, "1").strip() == "0" or _user_tuned_malloc(os.environ):
        return False
    return _glibc() is not None


@contextlib.contextmanager
def retain_freed_memory():
    """Within the block, memory freed by the process stays in its heap for reuse.

    On exit (of the last such block running), ``mmap`` comes back and the
    free heap memory is returned to the system. See the module documentation
    for when it applies, what it leaves set and what it costs.

    Yields
    ------
    applied : bool
        Whether the allocator settings were changed for this block.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.utils.memory import retain_freed_memory
    >>> with retain_freed_memory():
    ...     total = sum(float(np.ones(1 << 20).sum()) for _ in range(3))
    >>> total
    3145728.0
    """
    global _depth
    if not _applies():
        yield False
        return
    libc = _glibc()
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, _NO_TRIM)
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_MMAP_THRESHOLD, _TOP_MMAP_THRESHOLD)
                libc.mallopt(_M_TRIM_THRESHOLD, _TOP_TRIM_THRESHOLD)
                libc.malloc_trim(0)
