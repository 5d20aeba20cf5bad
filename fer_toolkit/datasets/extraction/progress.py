"""The tqdm progress bars of a face extraction: files of the run, frames of each video."""

from __future__ import annotations

import math
from pathlib import Path

from tqdm import tqdm

from ..video import video_info
from .sources import Source

__all__ = ["ProgressBars"]


class ProgressBars:
    """tqdm bars: files of the whole run, and frames of the video being read."""

    def __init__(self, n_files: int, n_done: int, single: bool, enabled: bool):
        self.enabled = enabled
        self.single = single
        self.files = tqdm(
            total=n_files, initial=n_done, unit="file", desc="files", disable=single or not enabled
        )
        self.frames = None
        self.video = None

    def frame_done(self, source: Source, index: int, every: int) -> None:
        if self.video != source.key:
            self._close_frames()
            total = video_info(source.path).frame_count if self.enabled else 0
            self.frames = tqdm(
                total=math.ceil(total / every) or None,
                initial=index // every,
                unit="frame",
                desc=Path(source.path).name,
                leave=self.single,
                disable=not self.enabled,
            )
            self.video = source.key
        self.frames.update(1)

    def file_done(self, source: Source) -> None:
        if self.video == source.key:
            self._close_frames()
        self.files.update(1)

    def _close_frames(self) -> None:
        if self.frames is not None:
            self.frames.close()
        self.frames = self.video = None

    def close(self) -> None:
        self._close_frames()
        self.files.close()
