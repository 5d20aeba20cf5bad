"""The native cascade trainer: ``opencv_traincascade`` in PyTorch.

:func:`train_cascade` follows ``CvCascadeClassifier::train``
(``apps/traincascade/cascadeclassifier.cpp``) stage by stage:

1. **Positives**: the ``.vec`` is read again from its start and the first
   ``num_pos`` samples the current cascade accepts are kept (``POS count :
   consumed``). Each stage rejects a few positives, so later stages consume
   more of the file: ``num_pos`` must stay below the ``.vec`` count.
2. **Negatives**: windows of the background images (OpenCV's walk, see
   :mod:`~fer_toolkit.cascade.negatives`) that the current cascade wrongly
   accepts, ``num_neg`` of them (``NEG count : acceptanceRatio``).
3. **Stops**, each with a message saying why: the acceptance ratio reached
   ``max_false_alarm_rate ** num_stages / max_depth`` (the cascade is done),
   or ``accept_ratio_break_value``; the negatives ran out (the message says how
   many windows of how many images were tried); the positives ran out.
4. **Boosting** of the stage on the feature values of those samples
   (:func:`~fer_toolkit.cascade.boost.boost_stage`), with OpenCV's table of
   ``N | HR | FA`` per weak tree.
5. ``params.xml`` (first stage) and ``stageN.xml`` are written into ``data``
   after each stage, ``cascade.xml`` at the end, all atomically.

Positives and negatives are judged as ``opencv_traincascade`` judges them
(:meth:`~fer_toolkit.cascade.model.Cascade.accepts` with ``training=True``), and
the walk over the backgrounds goes on from stage to stage as OpenCV's does, so
the same ``.vec`` and ``bg.txt`` give each stage the same samples as OpenCV as
long as the stages agree. Positives too flat for ``cv2.CascadeClassifier``
(pixel standard deviation not above about 10 grey levels) are trained on, as
in OpenCV, with a warning: the detector never evaluates such windows.

**Resuming.** Started again on the same ``data`` folder, training picks up the
stage files there (refusing, with the differences listed, when ``params.xml``
disagrees with the parameters given), and replays the loaded stages' negative
mining to bring the walk to where the uninterrupted run had it, so a run that
is killed and resumed produces the same cascade as an uninterrupted one.
(OpenCV restarts the walk at the first image on resume, so its resumed runs
differ from uninterrupted ones.)
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils.threads import refresh_threads
from ..utils.validation import InputError, check_int, check_real
from .boost import FeatureValues, boost_stage
from .features import HAAR_MODES, make_features
from .flags import TRAINCASCADE
from .integral import integral_batch
from .model import Cascade, CascadeParams, StageParams
from .negatives import MAX_NEG_WINDOWS, Backgrounds, NegativeWalk, mine_negatives
from .vec import read_vec
from .xml import read_params, read_stage, write_cascade, write_params, write_stage

__all__ = ["StageReport", "TrainingResult", "train_cascade"]


@dataclass
class StageReport:
    """What happened in one trained stage.

    Attributes
    ----------
    index : int
        Stage number (0-based).
    weak_count : int
        Weak trees in the stage.
    hit_rate, false_alarm : float
        On the stage's training samples, after its last tree.
    pos_count, pos_consumed : int
        Positives used, and ``.vec`` samples read to find them.
    neg_count, neg_tried : int
        Negatives used, and background windows tried to find them.
    acceptance_ratio : float
        ``neg_count / neg_tried``: the false-alarm rate of the cascade before
        this stage on background windows.
    seconds : float
        Wall time of the stage.

    Examples
    --------
    The ``stages`` of a :class:`TrainingResult` hold one per stage trained:

    >>> from fer_toolkit.cascade import StageReport
    >>> report = StageReport(index=0, weak_count=3, hit_rate=1.0, false_alarm=0.4,
    ...                      pos_count=30, pos_consumed=30, neg_count=30, neg_tried=30,
    ...                      acceptance_ratio=1.0, seconds=0.2)
    >>> report.pos_consumed - report.pos_count  # positives the cascade had rejected
    0
    """

    index: int
    weak_count: int
    hit_rate: float
    false_alarm: float
    pos_count: int
    pos_consumed: int
    neg_count: int
    neg_tried: int
    acceptance_ratio: float
    seconds: float


@dataclass
class TrainingResult:
    """The outcome of :func:`train_cascade`.

    Attributes
    ----------
    cascade : Cascade
        Every stage, loaded ones included, over the full feature table.
    path : pathlib.Path
        The ``cascade.xml`` written.
    stages : list of StageReport
        The stages trained by this call (not the loaded ones).
    loaded_stages : int
        Stages read back from ``data`` when resuming.
    stop_reason : str
        Why training ended, in words (``"numStages reached"`` when all stages
        were trained).
    acceptance_ratio : float or None
        The last acceptance ratio measured (also when it stopped training).

    Examples
    --------
    :func:`train_cascade` returns one (its example trains a small cascade).
    Here, that of a training that stopped before its first stage:

    >>> from pathlib import Path
    >>> from fer_toolkit.cascade import Cascade, StageParams, TrainingResult, haar_features
    >>> empty = Cascade(width=8, height=8, feature_type="HAAR", mode="BASIC",
    ...                 stage_params=StageParams(), stages=[],
    ...                 features=haar_features(8, 8, "BASIC"))
    >>> result = TrainingResult(empty, Path("data/cascade.xml"),
    ...                         stop_reason="Required leaf false alarm rate achieved.",
    ...                         acceptance_ratio=0.0)
    >>> len(result.cascade.stages), len(result.stages), result.loaded_stages
    (0, 0, 0)
    """

    cascade: Cascade
    path: Path
    stages: list[StageReport] = field(default_factory=list)
    loaded_stages: int = 0
    stop_reason: str = ""
    acceptance_ratio: float | None = None


class _Stop(Exception):
    """A clean, explained end of training."""


def _load_positives(vec, width: int, height: int) -> tuple[np.ndarray, str]:
    if isinstance(vec, (str, bytes, os.PathLike)):
        return read_vec(vec, width, height), os.fspath(vec)
    samples = np.asarray(vec)
    if samples.ndim != 3 or samples.shape[1:] != (height, width) or samples.dtype != np.uint8:
        raise InputError(
            f"vec has shape {samples.shape} and dtype {samples.dtype}; expected a .vec path or "
            f"uint8 samples of shape (n, {height}, {width})."
        )
    return np.ascontiguousarray(samples), "the positive samples"


def _params_differences(saved: CascadeParams, wanted: CascadeParams) -> list[str]:
    """Differences between params.xml and the call, float rates compared as float32."""
    diffs = []
    for name in ("width", "height", "feature_type", "mode"):
        a, b = getattr(saved, name), getattr(wanted, name)
        if a != b:
            diffs.append(f"{name}: {a!r} in params.xml, {b!r} given")
    for name in ("boost_type", "max_depth", "max_weak_count"):
        a, b = getattr(saved.stage_params, name), getattr(wanted.stage_params, name)
        if a != b:
            diffs.append(f"{name}: {a!r} in params.xml, {b!r} given")
    for name in ("min_hit_rate", "max_false_alarm_rate", "weight_trim_rate"):
        a, b = getattr(saved.stage_params, name), getattr(wanted.stage_params, name)
        if np.float32(a) != np.float32(b):
            diffs.append(f"{name}: {float(np.float32(a)):g} in params.xml, {b:g} given")
    return diffs


def _elapsed(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 86400} days {s // 3600 % 24} hours {s // 60 % 60} minutes {s % 60} seconds"


def train_cascade(
    data,
    vec,
    bg,
    num_pos: int,
    num_neg: int,
    num_stages: int = TRAINCASCADE.defaults.num_stages,
    width: int = TRAINCASCADE.defaults.width,
    height: int = TRAINCASCADE.defaults.height,
    feature_type: str = TRAINCASCADE.defaults.feature_type,
    mode: str = TRAINCASCADE.defaults.mode,
    boost_type: str = TRAINCASCADE.defaults.boost_type,
    min_hit_rate: float = TRAINCASCADE.defaults.min_hit_rate,
    max_false_alarm_rate: float = TRAINCASCADE.defaults.max_false_alarm_rate,
    weight_trim_rate: float = TRAINCASCADE.defaults.weight_trim_rate,
    max_depth: int = TRAINCASCADE.defaults.max_depth,
    max_weak_count: int = TRAINCASCADE.defaults.max_weak_count,
    precalc_val_buf_size: float = TRAINCASCADE.defaults.precalc_val_buf_size,
    precalc_idx_buf_size: float = TRAINCASCADE.defaults.precalc_idx_buf_size,
    num_threads: int | None = TRAINCASCADE.defaults.num_threads,
    accept_ratio_break_value: float = TRAINCASCADE.defaults.accept_ratio_break_value,
    device="auto",
    random_state: int | None = None,
    max_neg_windows: int = MAX_NEG_WINDOWS,
    progress: Callable[[str], object] | None = print,
) -> TrainingResult:
    """Train a boosted cascade as ``opencv_traincascade`` does; write OpenCV's XML files.

    Parameters
    ----------
    data : str or os.PathLike
        ``-data``: output folder (created if missing). Holds ``params.xml``,
        ``stageN.xml`` and, at the end, ``cascade.xml``; stage files already
        there are resumed from.
    vec : str, os.PathLike or ndarray of shape (n, height, width)
        ``-vec``: positive samples, a ``.vec`` file or uint8 windows.
    bg : str, os.PathLike or sequence
        ``-bg``: background list file, or background image paths or arrays.
    num_pos, num_neg : int
        ``-numPos`` / ``-numNeg``: positives and negatives per stage.
    num_stages : int, default=20
        ``-numStages``.
    width, height : int, default=24
        ``-w`` / ``-h``: the window (the ``.vec`` samples' size).
    feature_type : {"HAAR", "LBP"}, default="HAAR"
        ``-featureType``.
    mode : {"BASIC", "CORE", "ALL"}, default="BASIC"
        ``-mode``: Haar feature set (ignored for LBP).
    boost_type : {"GAB", "DAB", "RAB", "LB"}, default="GAB"
        ``-bt``.
    min_hit_rate : float, default=0.995
        ``-minHitRate``: per stage, in (0, 1).
    max_false_alarm_rate : float, default=0.5
        ``-maxFalseAlarmRate``: per stage, in (0, 1).
    weight_trim_rate : float, default=0.95
        ``-weightTrimRate``.
    max_depth : int, default=1
        ``-maxDepth`` of the weak trees (1: stumps).
    max_weak_count : int, default=100
        ``-maxWeakCount`` per stage.
    precalc_val_buf_size, precalc_idx_buf_size : float, default=1024
        ``-precalcValBufSize`` / ``-precalcIdxBufSize`` in MB: feature values
        (4 bytes each) and sorted orders (2 bytes per sample) kept between weak
        trees, as many features as fit, as OpenCV counts them (the rest is
        recomputed); they bound the trainer's memory beyond its fixed part.
    num_threads : int or None, default=None
        ``-numThreads``: CPU threads for the compiled loops (feature values, split
        search), the sorting and the negative mining during the call (None: every
        core of the process's affinity and CPU quota, also while other processes use
        them, since these threads sleep between parts; chosen again at every batch of
        negative mining and before every stage's boosting, see
        :func:`fer_toolkit.utils.threads.resolve_num_threads`). OpenCV's own thread
        pool (``cv2.setNumThreads``, process-wide) runs on ``num_threads`` during the
        call (on one thread when it is None: its idle workers wait actively) and gets
        its count back after it. The cascade does not depend on the counts.
    accept_ratio_break_value : float, default=-1.0
        ``-acceptanceRatioBreakValue``: stop when the acceptance ratio falls to
        this value (negative: never).
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where the stages' feature values are computed: ``"cpu"`` with compiled
        loops (C; PyTorch is not imported), ``"cuda"`` with PyTorch on the GPU.
        Boosting and the split search run on the CPU either way, and the cascade
        is the same. ``"auto"`` is ``"cuda"`` when PyTorch sees a GPU; it imports
        PyTorch to ask only when PyTorch is imported already or a GPU driver is
        loaded (``/proc/driver/nvidia`` or ``/dev/kfd``), else it is ``"cpu"``.
    random_state : int or None, default=None
        None starts the walk over the backgrounds where OpenCV's starts (first
        image, first pass), so that both trainers see the same negatives; an
        int starts it at an image and pass drawn from that seed instead.
        Training is deterministic either way, also across a resume.
    max_neg_windows : int, default=20_000_000
        Most background windows tried per stage. OpenCV's own limit is
        ``(numNeg + 1) / (maxFalseAlarmRate ** numStages / maxDepth)``
        windows, which for late stages of long cascades is practically
        endless; the lower of the two applies.
    progress : callable or None, default=print
        Called with each line of OpenCV-style progress output.

    Returns
    -------
    TrainingResult

    Raises
    ------
    ValueError
        For invalid parameters; when ``num_pos`` exceeds the usable samples
        of the ``.vec``; when ``params.xml`` in ``data`` disagrees with the
        parameters (delete the folder's files to start afresh); when not
        even the first stage can be trained (the message says why).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from fer_toolkit.cascade import train_cascade
    >>> rng = np.random.default_rng(0)
    >>> faces = np.tile(np.r_[np.full(6, 40), np.full(6, 210)].astype(np.uint8), (40, 12, 1))
    >>> faces = np.clip(faces + rng.integers(-5, 6, faces.shape), 0, 255).astype(np.uint8)
    >>> bg = [rng.integers(0, 256, (60, 80), dtype=np.uint8) for _ in range(3)]
    >>> result = train_cascade(tempfile.mkdtemp(), faces, bg, num_pos=30, num_neg=30,
    ...                        num_stages=2, width=12, height=12, random_state=0,
    ...                        progress=None)
    >>> len(result.cascade.stages), result.path.name  # one stage rejects all the noise
    (1, 'cascade.xml')
    >>> result.stop_reason.split(".")[0]
    'Required leaf false alarm rate achieved'

    """
    num_pos = check_int(num_pos, "num_pos")
    num_neg = check_int(num_neg, "num_neg")
    num_stages = check_int(num_stages, "num_stages")
    max_neg_windows = check_int(max_neg_windows, "max_neg_windows")
    accept_ratio_break_value = check_real(accept_ratio_break_value, "accept_ratio_break_value")
    if num_threads is not None:
        num_threads = check_int(num_threads, "num_threads")
    for name, value in (
        ("min_hit_rate", min_hit_rate),
        ("max_false_alarm_rate", max_false_alarm_rate),
    ):
        if not 0 < check_real(value, name) < 1:
            raise InputError(f"{name} must lie in (0, 1); got {value!r}.")
    if feature_type == "HAAR" and mode not in HAAR_MODES:
        raise InputError(f"mode must be one of {HAAR_MODES}; got {mode!r}.")
    params = CascadeParams(
        width=width,
        height=height,
        feature_type=feature_type,
        mode=mode if feature_type == "HAAR" else None,
        stage_params=StageParams(
            boost_type=boost_type,
            min_hit_rate=min_hit_rate,
            max_false_alarm_rate=max_false_alarm_rate,
            weight_trim_rate=weight_trim_rate,
            max_depth=max_depth,
            max_weak_count=max_weak_count,
        ),
    )
    if random_state is not None:
        random_state = check_int(random_state, "random_state", low=0)
    trainer = _Trainer(
        data=Path(data),
        params=params,
        num_pos=num_pos,
        num_neg=num_neg,
        num_stages=num_stages,
        precalc=(precalc_val_buf_size, precalc_idx_buf_size),
        accept_ratio_break_value=accept_ratio_break_value,
        device=_resolve_device(device),
        seed=random_state,
        max_neg_windows=max_neg_windows,
        emit=progress or (lambda line: None),
    )
    from . import _native  # the compiled loops' threads: imported on first use

    with _native.limit_threads(num_threads, opencv=True):
        return trainer.run(vec, bg)


def _gpu_driver_present() -> bool:
    """Whether an NVIDIA (or ROCm) driver is loaded: without one CUDA cannot be available."""
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/kfd")


def _resolve_device(device) -> str:
    """The device name: ``"auto"`` is ``"cuda"`` when PyTorch sees a GPU, else ``"cpu"``.

    ``"auto"`` asks PyTorch only when it is imported already or a GPU driver is
    loaded: where there is none, CUDA cannot be available, and importing PyTorch
    just to hear so would cost seconds and hundreds of megabytes.
    """
    name = str(device)
    if name == "auto":
        if "torch" not in sys.modules and not _gpu_driver_present():
            return "cpu"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda'; got {device!r}.")
    return name


@dataclass
class _Trainer:
    data: Path
    params: CascadeParams
    num_pos: int
    num_neg: int
    num_stages: int
    precalc: tuple[float, float]
    accept_ratio_break_value: float
    device: str
    seed: int | None
    max_neg_windows: int
    emit: Callable[[str], object]
    _values_fn: Callable | None = field(default=None, init=False, repr=False)
    # The precalculation caches' memory, handed from stage to stage.
    _precalc_storage: tuple | None = field(default=None, init=False, repr=False)

    def _values_of(self, table):
        """The table's CPU feature values, its linear map built on the first stage only."""
        if self._values_fn is None:
            self._values_fn = table._values_of(self.params.width, self.params.height)
        return self._values_fn

    def run(self, vec, bg) -> TrainingResult:
        started = time.perf_counter()
        p = self.params
        positives, vec_name = _load_positives(vec, p.width, p.height)
        backgrounds = Backgrounds(bg)
        table = make_features(p.feature_type, p.width, p.height, p.mode or "BASIC")
        self.data.mkdir(parents=True, exist_ok=True)
        stages = self._load_stages()
        cascade = Cascade.from_params(p, stages, table)
        usable = Cascade.from_params(p, [], table).accepts(positives)
        n_flat = int((~usable).sum())
        if n_flat:
            warnings.warn(
                f"{n_flat} of the {len(positives)} samples in {vec_name} have a pixel standard "
                "deviation of at most about 10 grey levels; they are trained on (as OpenCV "
                "does), but cv2.CascadeClassifier rejects such windows, so it can never find "
                "them.",
                stacklevel=3,
            )
        if self.num_pos > len(positives):
            raise InputError(
                f"numPos too large for the .vec: num_pos={self.num_pos} but {vec_name} holds "
                f"{len(positives)} samples. Use a smaller num_pos (each stage also rejects a "
                "few positives, so leave a margin)."
            )
        self._print_parameters(vec_name, backgrounds, len(table), len(stages))
        sp = p.stage_params
        required = sp.max_false_alarm_rate**self.num_stages / sp.max_depth
        result = TrainingResult(cascade=cascade, path=self.data / "cascade.xml")
        result.loaded_stages = len(stages)
        walk = self._walk(backgrounds)
        for index in range(len(stages)):
            # Replay the loaded stages' mining: the walk goes on where it stood after them.
            self._mine(Cascade.from_params(p, stages[:index], table), walk, required)
        try:
            for index in range(len(stages), self.num_stages):
                stage_start = time.perf_counter()
                self.emit("")
                self.emit(f"===== TRAINING {index}-stage =====")
                self.emit("<BEGIN")
                pos, pos_consumed = self._fill_positives(cascade, positives, vec_name, index)
                self.emit(f"POS count : consumed   {len(pos)} : {pos_consumed}")
                mined = self._mine(cascade, walk, required)
                result.acceptance_ratio = mined.acceptance_ratio
                n_neg, ratio = len(mined.samples), mined.acceptance_ratio
                self.emit(f"NEG count : acceptanceRatio    {n_neg} : {ratio:g}")
                self._check_negatives(mined, required, backgrounds)
                stage, boosted = self._train_stage(table, pos, mined.samples)
                self.emit("END>")
                if index == 0 or not (self.data / "params.xml").exists():
                    write_params(p, self.data / "params.xml")
                stage_path = self.data / f"stage{index}.xml"
                write_stage(stage, stage_path)
                # Continue with the stage exactly as its file holds it, as a resumed run does.
                stages.append(read_stage(stage_path))
                cascade = Cascade.from_params(p, stages, table)
                result.cascade = cascade
                result.stages.append(
                    StageReport(
                        index=index,
                        weak_count=len(stage.weak),
                        hit_rate=boosted.hit_rate,
                        false_alarm=boosted.false_alarm,
                        pos_count=len(pos),
                        pos_consumed=pos_consumed,
                        neg_count=len(mined.samples),
                        neg_tried=mined.tried,
                        acceptance_ratio=mined.acceptance_ratio,
                        seconds=time.perf_counter() - stage_start,
                    )
                )
                self.emit(
                    f"Training until now has taken {_elapsed(time.perf_counter() - started)}."
                )
            result.stop_reason = "numStages reached"
        except _Stop as stop:
            result.stop_reason = str(stop)
            self.emit(str(stop))
        if not cascade.stages:
            raise InputError(f"Cascade classifier can't be trained: {result.stop_reason}")
        write_cascade(cascade, result.path)
        return result

    def _load_stages(self) -> list:
        params_path = self.data / "params.xml"
        if not params_path.exists():
            return []
        diffs = _params_differences(read_params(params_path), self.params)
        if diffs:
            raise InputError(
                f"{params_path} was written with other parameters ("
                + "; ".join(diffs)
                + "). Resume with the same parameters, or empty the folder to start afresh."
            )
        stages = []
        for index in range(self.num_stages):
            path = self.data / f"stage{index}.xml"
            if not path.exists():
                break
            stages.append(read_stage(path))
        return stages

    def _print_parameters(self, vec_name, backgrounds, n_features, n_loaded) -> None:
        p, sp = self.params, self.params.stage_params
        if n_loaded:
            self.emit("-" * 81)
            self.emit("Training parameters are pre-loaded from the parameter file in data folder!")
            self.emit(
                "Please empty this folder if you want to use a NEW set of training parameters."
            )
            self.emit("-" * 81)
        lines = [
            "PARAMETERS:",
            f"cascadeDirName: {self.data}",
            f"vecFileName: {vec_name}",
            f"bgFileName: {backgrounds.source or f'{len(backgrounds)} background images'}",
            f"numPos: {self.num_pos}",
            f"numNeg: {self.num_neg}",
            f"numStages: {self.num_stages}",
            f"precalcValBufSize[Mb] : {self.precalc[0]:g}",
            f"precalcIdxBufSize[Mb] : {self.precalc[1]:g}",
            f"acceptanceRatioBreakValue : {self.accept_ratio_break_value:g}",
            "stageType: BOOST",
            f"featureType: {p.feature_type}",
            f"sampleWidth: {p.width}",
            f"sampleHeight: {p.height}",
            f"boostType: {sp.boost_type}",
            f"minHitRate: {sp.min_hit_rate:g}",
            f"maxFalseAlarmRate: {sp.max_false_alarm_rate:g}",
            f"weightTrimRate: {sp.weight_trim_rate:g}",
            f"maxDepth: {sp.max_depth}",
            f"maxWeakCount: {sp.max_weak_count}",
        ]
        if p.mode is not None:
            lines.append(f"mode: {p.mode}")
        lines.append(
            f"Number of unique features given windowSize [{p.width},{p.height}] : {n_features}"
        )
        lines.append(f"Device: {self.device}")
        for line in lines:
            self.emit(line)
        if n_loaded:
            self.emit("")
            self.emit(
                f"Stages 0-{n_loaded - 1} are loaded" if n_loaded > 1 else "Stage 0 is loaded"
            )

    def _fill_positives(self, cascade, positives, vec_name, index):
        """The first ``num_pos`` samples the cascade accepts, and how many were read."""
        accepted = np.flatnonzero(cascade.accepts(positives, training=True))
        if len(accepted) < self.num_pos:
            raise _Stop(
                f"Positives exhausted: stage {index} needs num_pos={self.num_pos} positives that "
                f"stages 0-{index - 1} accept, but only {len(accepted)} of the "
                f"{len(positives)} samples in {vec_name} pass them. Training stops here; to "
                "train more stages, use a smaller num_pos or a larger .vec (OpenCV: 'Can not "
                "get new positive sample')."
            )
        chosen = accepted[: self.num_pos]
        return positives[chosen], int(chosen[-1]) + 1

    def _walk(self, backgrounds) -> NegativeWalk:
        p = self.params
        if self.seed is None:
            return NegativeWalk(backgrounds, p.width, p.height)
        rng = np.random.default_rng(self.seed)
        return NegativeWalk(
            backgrounds,
            p.width,
            p.height,
            start=int(rng.integers(len(backgrounds))),
            round_=int(rng.integers(p.width * p.height)),
        )

    def _mine(self, cascade, walk, required):
        return mine_negatives(
            cascade,
            walk,
            self.num_neg,
            min_acceptance_ratio=required,
            max_windows=self.max_neg_windows,
        )

    def _check_negatives(self, mined, required, backgrounds) -> None:
        ratio = mined.acceptance_ratio
        if mined.stop == "ratio" or (mined.tried and ratio <= required):
            raise _Stop(
                "Required leaf false alarm rate achieved. Branch training terminated. "
                f"(acceptance ratio {ratio:g} <= maxFalseAlarmRate^numStages / maxDepth = "
                f"{required:g})"
            )
        if self.accept_ratio_break_value >= 0 and ratio <= self.accept_ratio_break_value:
            raise _Stop(
                "The required acceptanceRatio for the model has been reached to avoid "
                "overfitting of trainingdata. Branch training terminated. (acceptance ratio "
                f"{ratio:g} <= acceptanceRatioBreakValue {self.accept_ratio_break_value:g})"
            )
        if len(mined.samples) < self.num_neg:
            if mined.stop == "budget":
                cause = f"the per-stage limit of {self.max_neg_windows} windows was reached"
                remedy = "raise max_neg_windows (--max-neg-windows), add background images"
            else:
                cause = "no background image is readable and at least as large as the window"
                remedy = "add background images"
            raise _Stop(
                f"Negatives exhausted: {mined.tried} windows tried in {mined.images} of the "
                f"{len(backgrounds)} background images, only {len(mined.samples)} accepted by "
                "the cascade "
                f"(num_neg={self.num_neg}); {cause}. Training stops here; {remedy} "
                "(without the object) or lower num_neg to train further."
            )

    def _train_stage(self, table, pos, neg):
        refresh_threads()  # mining chooses again at every batch, boosting once per stage
        p, sp = self.params, self.params.stage_params
        samples = np.concatenate([pos, neg])
        labels = np.r_[np.ones(len(pos), dtype=np.int64), np.zeros(len(neg), dtype=np.int64)]
        precalc_start = time.perf_counter()
        batch = integral_batch(samples, tilted=p.mode == "ALL", device=self.device)

        def compute(idx: np.ndarray, out: np.ndarray) -> None:
            if isinstance(batch.sum, np.ndarray):
                self._values_of(table)(batch, idx, out)
            else:  # a batch on a CUDA device gives tensors there; boosting runs on the CPU
                out[...] = table.evaluate(batch, idx).T.cpu().numpy()

        features = FeatureValues(
            compute,
            len(table),
            len(samples),
            categorical=p.feature_type == "LBP",
            precalc_val_buf_size=self.precalc[0],
            precalc_idx_buf_size=self.precalc[1],
            storage=self._precalc_storage,
        )
        self._precalc_storage = features.storage
        self.emit(f"Precalculation time: {time.perf_counter() - precalc_start:.3f}")
        boosted = boost_stage(
            features,
            labels,
            boost_type=sp.boost_type,
            min_hit_rate=sp.min_hit_rate,
            max_false_alarm_rate=sp.max_false_alarm_rate,
            weight_trim_rate=sp.weight_trim_rate,
            max_depth=sp.max_depth,
            max_weak_count=sp.max_weak_count,
            progress=self.emit,
        )
        if boosted is None:
            raise _Stop(
                "The stage cannot be trained: no feature splits its positives from its "
                "negatives any better than a single leaf."
            )
        return boosted.to_stage(), boosted
