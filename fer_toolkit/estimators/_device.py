"""Device, precision, memory format, seeding and persistence shared by the skorch estimators.

:class:`~fer_toolkit.estimators.CNNClassifier` and the pretext estimators read
``device``, ``amp``, ``channels_last`` and ``random_state`` the same way; the
mixin here holds that logic once.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from sklearn.utils import check_random_state

from ..utils.memory import retain_freed_memory
from ..utils.threads import limit_threads, refresh_threads

__all__ = ["DeviceMixin", "resolve_device"]


def resolve_device(device) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    Examples
    --------
    >>> from fer_toolkit.estimators._device import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    """
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class DeviceMixin:
    """``device="auto"``, AMP, channels-last, seeding and device-safe pickling for a skorch net.

    The host class stores ``device``, ``amp``, ``channels_last`` and
    ``random_state``; this mixin goes before the skorch class in its bases.
    Its ``__init__`` is the prologue that the estimators share: it passes the
    skorch parameters on, with no validation split and reshuffled training
    batches unless the caller says otherwise, and stores the three parameters
    skorch does not know. The estimators' own ``__init__`` name every
    parameter (scikit-learn reads them from its signature) and call it.
    """

    def __init__(
        self,
        module,
        *,
        criterion,
        optimizer,
        lr,
        max_epochs,
        batch_size,
        device,
        amp,
        channels_last,
        random_state,
        verbose,
        **kwargs,
    ):
        kwargs.setdefault("train_split", None)
        # Reshuffle the training data every epoch (skorch's own default is off).
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.amp = amp
        self.channels_last = channels_last
        self.random_state = random_state

    @contextlib.contextmanager
    def _concrete_device(self):
        """Within the block, ``self.device`` is a real device; ``"auto"`` is restored after.

        skorch reads ``self.device`` in many places; the parameter itself must
        keep the value the user gave (scikit-learn's contract). The block also
        runs with the CPU thread count of :func:`~fer_toolkit.utils.threads.limit_threads`
        for large kernels (the cores other processes leave free), chosen again
        at every batch (:meth:`on_batch_begin`).
        """
        requested = self.device
        with limit_threads(work="large"):
            if not (isinstance(requested, str) and requested == "auto"):
                yield
                return
            self.device = resolve_device(requested)
            try:
                yield
            finally:
                self.device = requested

    def _inference_memory(self, n_samples: int):
        """:func:`~fer_toolkit.utils.memory.retain_freed_memory` for an inference pass over
        ``n_samples`` when it takes several batches, else a context that does nothing.

        Over several batches the same large buffers come back at every batch: keep
        them. Not for one batch: a loop of small calls would give the memory back and
        fault it in again at every call.
        """
        batch_size = self.get_params_for("iterator_valid").get("batch_size", self.batch_size)
        return retain_freed_memory() if n_samples > batch_size else contextlib.nullcontext()

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        """skorch's hook, then the CPU thread count chosen again for the load now.

        See :func:`~fer_toolkit.utils.threads.refresh_threads`: a long fit follows
        other processes as they start and stop.
        """
        super().on_batch_begin(net, batch=batch, training=training, **kwargs)
        refresh_threads()

    def _on_cuda(self) -> bool:
        return torch.device(resolve_device(self.device)).type == "cuda"

    def _use_amp(self) -> bool:
        return self._on_cuda() if self.amp == "auto" else bool(self.amp)

    def _use_channels_last(self) -> bool:
        if self.channels_last != "auto":
            return bool(self.channels_last)
        # oneDNN's channels-last convolutions are faster on CPU too (measured in
        # benchmarks/bench_training.py: +32% training, +78% inference, baseline net).
        return self._on_cuda() or torch.backends.mkldnn.is_available()

    def _to_device_batch(self, x):
        """Move a batch (or a dict of them) to the device as float; uint8 becomes [0, 1] there."""
        if isinstance(x, Mapping):
            return {key: self._to_device_batch(batch) for key, batch in x.items()}
        x = torch.as_tensor(x).to(self.device, non_blocking=True)
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        if self._use_channels_last():
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @contextlib.contextmanager
    def _seeded(self, epochs_done=0):
        """Seed torch for the block only, leaving the caller's global random state intact.

        ``epochs_done`` (the length of the history a call continues from) enters
        the seed, so that a continued training (``partial_fit``, ``warm_start``)
        is reproducible without replaying the shuffles and augmentations of the
        epochs before it.
        """
        self.augment_rng_ = None  # every call starts a fresh augmentation stream
        if self.random_state is None:
            self.augment_seed_ = int(torch.randint(0, 2**31 - 1, ()).item())
            yield
            return
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        if epochs_done:
            seed = int(np.random.RandomState([seed, epochs_done]).randint(0, 2**31 - 1))
        self.augment_seed_ = seed + 1
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    @contextlib.contextmanager
    def _training(self, epochs_done=0):
        """The block of a training call: seeded (see ``_seeded``), on a concrete device,
        with freed memory kept for reuse (the network reallocates the same large
        buffers at every batch: :func:`~fer_toolkit.utils.memory.retain_freed_memory`).
        """
        with self._seeded(epochs_done), self._concrete_device(), retain_freed_memory():
            yield

    def _augment_generator(self) -> torch.Generator:
        """One generator per fit and device, seeded from ``random_state``."""
        key = (self.augment_seed_, str(self.device))
        cached = getattr(self, "augment_rng_", None)
        if cached is None or cached[0] != key:
            generator = torch.Generator(device=self.device).manual_seed(self.augment_seed_)
            cached = (key, generator)
            self.augment_rng_ = cached
        return cached[1]

    # ------------------------------------------------------------- persistence
    def set_params(self, **kwargs):
        if "device" in kwargs:
            # Set first and outside the block below, which would restore the old value.
            super().set_params(device=kwargs.pop("device"))
        with self._concrete_device():
            return super().set_params(**kwargs)

    def load_params(self, *args, **kwargs):
        with self._concrete_device():
            return super().load_params(*args, **kwargs)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("augment_rng_", None)
        return state

    def __setstate__(self, state):
        requested = state["device"]
        if not (isinstance(requested, str) and requested == "auto"):
            # A concrete device: skorch maps e.g. "cuda" to "cpu" on a machine without
            # one (with a DeviceWarning) and keeps that device for prediction.
            super().__setstate__(state)
            return
        state["device"] = resolve_device("auto")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "auto" moving to CPU is the plan, not news
            super().__setstate__(state)
        self.device = requested
