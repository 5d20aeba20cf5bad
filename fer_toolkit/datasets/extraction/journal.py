"""The write-ahead journal of a face extraction: what is done, so that a rerun resumes.

``index.csv`` gets its rows as frames finish; ``progress.jsonl`` records, at
each checkpoint, the committed length of the index and the files and video
frames it covers; ``extraction.json`` holds the settings a rerun must repeat.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import time

from ...utils.fileio import atomic_write
from ...utils.validation import InputError
from .output import FACES_DIR, INDEX_COLUMNS, INDEX_NAME, REJECTED_DIR

__all__ = [
    "PROGRESS_NAME",
    "SETTINGS_NAME",
    "START_OVER",
    "Journal",
    "check_same_settings",
    "count_index",
    "read_settings",
]

SETTINGS_NAME = "extraction.json"
PROGRESS_NAME = "progress.jsonl"

#: How to get past a refusal to resume, for error messages.
START_OVER = (
    "start over with resume=False (--restart on the command line), or use another output folder"
)
# A checkpoint (index fsync + one progress line) after this many frames or seconds,
# whichever comes first: a kill loses at most that much work.
_CHECKPOINT_FRAMES = 100
_CHECKPOINT_SECONDS = 5.0
#: Settings added after extraction.json existed, with the value earlier runs used.
_LATER_SETTINGS = {"align": False}


class Journal:
    """The index, settings and checkpoint log of an output folder.

    Rows are appended to ``index.csv`` as frames finish. A checkpoint fsyncs the
    index, then appends one JSON line to ``progress.jsonl`` holding the index's
    committed length and the files finished / video frames reached since the
    previous line. Reopening replays the valid lines (a half-written last line
    is ignored) and cuts the index back to the committed length, so rows that
    were written after the last checkpoint are redone, never duplicated.
    """

    def __init__(self, out_dir: str, settings: dict, resume: bool):
        if os.path.exists(out_dir) and not os.path.isdir(out_dir):
            raise NotADirectoryError(f"output folder {out_dir!r} exists and is a file.")
        os.makedirs(out_dir, exist_ok=True)
        self.index_path = os.path.join(out_dir, INDEX_NAME)
        settings_path = os.path.join(out_dir, SETTINGS_NAME)
        progress_path = os.path.join(out_dir, PROGRESS_NAME)
        self.done: set[str] = set()
        self.partial: dict[str, int] = {}
        previous = read_settings(settings_path)
        if previous is not None and not resume:
            for name in (FACES_DIR, REJECTED_DIR):
                shutil.rmtree(os.path.join(out_dir, name), ignore_errors=True)
            for path in (progress_path, self.index_path, settings_path):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
            previous = None
        if previous is not None and os.path.isfile(self.index_path):
            check_same_settings(previous, settings, out_dir)
            self._committed = self._replay(progress_path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(progress_path)
            with atomic_write(self.index_path, newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(INDEX_COLUMNS)
            with atomic_write(settings_path, encoding="utf-8") as f:
                json.dump(settings, f, indent=2)
            self._committed = os.path.getsize(self.index_path)
        os.truncate(self.index_path, self._committed)
        self._index = open(self.index_path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._index)
        self._log = open(progress_path, "ab")  # noqa: SIM115
        self._new_done: list[str] = []
        self._new_partial: dict[str, int] = {}
        self._frames = 0
        self._since = time.monotonic()

    def _replay(self, progress_path: str) -> int:
        """Apply the valid checkpoint lines; return the committed index length."""
        with open(self.index_path, newline="", encoding="utf-8") as f:
            header = f.readline()
        if next(csv.reader([header]), None) != list(INDEX_COLUMNS):
            raise InputError(
                f"{self.index_path!r} does not start with the index header {INDEX_COLUMNS}; "
                f"{START_OVER}."
            )
        committed, valid = len(header.encode("utf-8")), 0
        with contextlib.suppress(FileNotFoundError), open(progress_path, "rb") as f:
            for line in f:
                try:
                    entry = json.loads(line) if line.endswith(b"\n") else None
                    offset = int(entry["index_bytes"])
                    partial, done = dict(entry["next_frame"]), list(entry["done"])
                except (ValueError, TypeError, KeyError):
                    break
                self.partial.update(partial)
                for key in done:
                    self.done.add(key)
                    self.partial.pop(key, None)
                committed, valid = offset, valid + len(line)
        if os.path.exists(progress_path):
            os.truncate(progress_path, valid)
        if os.path.getsize(self.index_path) < committed:
            raise InputError(
                f"{self.index_path!r} is shorter than its progress record: it was modified "
                f"after the extraction; {START_OVER}."
            )
        return committed

    def add_rows(self, rows) -> None:
        self._writer.writerows(rows)

    def advance(self, key: str, next_frame: int) -> None:
        self.partial[key] = self._new_partial[key] = next_frame

    def finish(self, key: str) -> None:
        self.done.add(key)
        self.partial.pop(key, None)
        self._new_partial.pop(key, None)
        self._new_done.append(key)

    def checkpoint(self, n_frames: int) -> None:
        """Commit when enough frames or time have passed since the last commit."""
        self._frames += n_frames
        due = time.monotonic() - self._since >= _CHECKPOINT_SECONDS
        if self._frames >= _CHECKPOINT_FRAMES or due:
            self.commit()

    def commit(self) -> None:
        """Make every row written so far durable and record the progress that they cover."""
        self._frames, self._since = 0, time.monotonic()
        if not (self._new_done or self._new_partial):
            return
        self._index.flush()
        os.fsync(self._index.fileno())
        size = os.fstat(self._index.fileno()).st_size
        entry = {"index_bytes": size, "next_frame": self._new_partial, "done": self._new_done}
        self._log.write(json.dumps(entry).encode("utf-8") + b"\n")
        self._log.flush()
        os.fsync(self._log.fileno())
        self._committed = size
        self._new_done, self._new_partial = [], {}

    def close(self) -> None:
        """Close the files, dropping index rows that no checkpoint covers (after an error)."""
        self._index.flush()
        self._index.truncate(self._committed)
        self._index.close()
        self._log.close()


def read_settings(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            settings = json.load(f)
    except FileNotFoundError:
        return None
    except ValueError:
        settings = None
    if not isinstance(settings, dict):
        raise InputError(
            f"{path!r} is not an extract_faces settings file (a JSON object): it was "
            f"modified, or is not from extract_faces; {START_OVER}."
        )
    return settings


def check_same_settings(previous: dict, settings: dict, out_dir: str) -> None:
    for name, value in settings.items():
        before = previous.get(name, _LATER_SETTINGS.get(name))
        if before != value:
            raise InputError(
                f"{out_dir!r} holds an extraction made with {name}={before!r}, not "
                f"{value!r}; rerun with the same settings to resume it, or {START_OVER}."
            )


def count_index(index_path: str) -> tuple[int, int]:
    """Kept and rejected rows of the index, streamed."""
    kept = rejected = 0
    column = INDEX_COLUMNS.index("kept")
    with open(index_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            if row[column] == "1":
                kept += 1
            else:
                rejected += 1
    return kept, rejected
