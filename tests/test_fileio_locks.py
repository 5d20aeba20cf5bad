"""Output-folder locks and the clean-up of temporaries that a killed writer leaves."""

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fer_toolkit.utils.fileio import atomic_path, folder_lock, remove_stale_temporaries

# File names users may have: anything without a path separator, not starting with a dot.
names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"),
    min_size=1,
    max_size=30,
).filter(lambda name: not name.startswith(".") and name not in {"..", "."})


@given(name=names)
def test_only_what_atomic_path_leaves_behind_is_removed(tmp_path_factory, name):
    folder = tmp_path_factory.mktemp("tmp")
    try:
        (folder / name).write_bytes(b"kept")
    except OSError:  # a name this file system refuses
        return
    with pytest.raises(KeyboardInterrupt), atomic_path(folder / "sub" / name) as tmp:
        leftover = tmp
        raise KeyboardInterrupt
    open(leftover, "wb").close()  # what a writer killed before its clean-up leaves
    assert remove_stale_temporaries(folder) == 1
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == [name]


def test_lock_is_exclusive_and_released_on_exit(tmp_path):
    with folder_lock(tmp_path):
        assert (tmp_path / ".lock").exists()
        with (
            pytest.raises(BlockingIOError, match=r"in use by a test \(it holds \.lock\)"),
            folder_lock(tmp_path, "a test"),
        ):
            pass
    assert not (tmp_path / ".lock").exists()
    with folder_lock(tmp_path):  # free again
        pass


def test_a_killed_holder_leaves_the_folder_usable(tmp_path):
    script = (
        "import os; from fer_toolkit.utils.fileio import folder_lock\n"
        f"with folder_lock({str(tmp_path)!r}):\n"
        "    os._exit(9)"
    )
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    assert (tmp_path / ".lock").exists()
    with folder_lock(tmp_path):
        pass


def test_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(NotADirectoryError, match="taken"), folder_lock(tmp_path / "taken"):
        pass
