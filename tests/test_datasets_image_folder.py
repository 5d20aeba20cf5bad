"""Listing labelled image folders: layout detection, split selection, filtering, errors."""

import os

import numpy as np
import pytest

from fer_toolkit.datasets.image_folder import IMAGE_EXTENSIONS, load_image_folder, load_images


def make_tree(root, relative_paths):
    """Create empty files (the loader lists files; it never reads them)."""
    for relative in relative_paths:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return root


def relative(data, root):
    return [os.path.relpath(name, root) for name in data.filenames]


SPLIT_TREE = [
    "train/happy/b.png",
    "train/happy/a.png",
    "train/sad/c.jpg",
    "validation/happy/d.jpeg",
    "validation/surprise/e.bmp",
    "test/neutral/f.tif",
]


def test_split_layout(tmp_path):
    data = load_image_folder(make_tree(tmp_path, SPLIT_TREE))
    assert relative(data, tmp_path) == [
        "test/neutral/f.tif",
        "train/happy/a.png",
        "train/happy/b.png",
        "train/sad/c.jpg",
        "validation/happy/d.jpeg",
        "validation/surprise/e.bmp",
    ]
    assert data.target.tolist() == ["neutral", "happy", "happy", "sad", "happy", "surprise"]
    assert data.split.tolist() == ["test", "train", "train", "train", "validation", "validation"]
    assert data.target_names == ("happy", "neutral", "sad", "surprise")
    assert isinstance(data.filenames, np.ndarray)
    assert all(name.startswith(str(tmp_path)) for name in data.filenames)


def test_split_selection_keeps_all_target_names(tmp_path):
    make_tree(tmp_path, SPLIT_TREE)
    train = load_image_folder(tmp_path, split="train")
    assert train.target.tolist() == ["happy", "happy", "sad"]
    assert train.split.tolist() == ["train"] * 3
    assert train.target_names == ("happy", "neutral", "sad", "surprise")
    both = load_image_folder(tmp_path, split=["validation", "test"])
    assert both.split.tolist() == ["test", "validation", "validation"]


def test_unknown_split_lists_available_ones(tmp_path):
    make_tree(tmp_path, SPLIT_TREE)
    with pytest.raises(ValueError, match=r"Unknown split 'val'.*test, train, validation"):
        load_image_folder(tmp_path, split="val")
    with pytest.raises(ValueError, match="empty"):
        load_image_folder(tmp_path, split=[])


def test_flat_layout(tmp_path):
    make_tree(tmp_path, ["sad/2.png", "happy/1.png", "happy/0.png", "contempt/x.PNG"])
    data = load_image_folder(tmp_path)
    assert relative(data, tmp_path) == ["contempt/x.PNG", "happy/0.png", "happy/1.png", "sad/2.png"]
    assert data.target.tolist() == ["contempt", "happy", "happy", "sad"]
    assert data.target_names == ("contempt", "happy", "sad")
    assert data.split is None
    with pytest.raises(ValueError, match=r"no split folders.*split=None"):
        load_image_folder(tmp_path, split="train")


def test_layout_is_structural_not_by_folder_names(tmp_path):
    # Folders named like splits but holding images are classes (flat layout).
    make_tree(tmp_path, ["train/a.png", "test/b.png"])
    data = load_image_folder(tmp_path)
    assert data.split is None
    assert data.target_names == ("test", "train")


def test_hidden_non_image_and_empty_folders_are_skipped(tmp_path):
    make_tree(
        tmp_path,
        [
            "train/happy/a.png",
            "train/happy/.b.png",
            "train/happy/notes.txt",
            "train/.cache/c.png",
            ".git/objects/d.png",
            "train/sad/readme.md",
            "test/happy/e.JPG",
        ],
    )
    (tmp_path / "train" / "angry").mkdir()
    data = load_image_folder(tmp_path)
    assert relative(data, tmp_path) == ["test/happy/e.JPG", "train/happy/a.png"]
    assert data.target_names == ("happy",)


def test_extensions_parameter(tmp_path):
    make_tree(tmp_path, ["happy/a.png", "happy/b.webp", "sad/c.WEBP"])
    assert load_image_folder(tmp_path, extensions="webp").target.tolist() == ["happy", "sad"]
    assert len(load_image_folder(tmp_path, extensions=(".PNG", "webp")).filenames) == 3
    assert ".png" in IMAGE_EXTENSIONS
    for bad in ([], "", ["."], [3]):
        with pytest.raises(ValueError, match="extensions must be"):
            load_image_folder(tmp_path, extensions=bad)


def test_relative_root(tmp_path, monkeypatch):
    make_tree(tmp_path, ["data/happy/a.png"])
    monkeypatch.chdir(tmp_path)
    data = load_image_folder("data")
    assert data.filenames.tolist() == [os.path.join("data", "happy", "a.png")]


def test_only_files_directly_in_class_folders_are_listed(tmp_path):
    make_tree(tmp_path, ["train/happy/a.png", "train/happy/deeper/b.png"])
    assert relative(load_image_folder(tmp_path), tmp_path) == ["train/happy/a.png"]


def test_mixed_layout_is_rejected(tmp_path):
    make_tree(tmp_path, ["happy/a.png", "train/sad/b.png"])
    with pytest.raises(ValueError, match=r"mixes layouts: .*happy holds images .*train holds"):
        load_image_folder(tmp_path)


def test_folder_with_images_and_class_folders_is_rejected(tmp_path):
    make_tree(tmp_path, ["happy/a.png", "happy/more/b.png"])
    with pytest.raises(ValueError, match="mixes layouts"):
        load_image_folder(tmp_path)


def test_images_directly_in_root_are_rejected(tmp_path):
    make_tree(tmp_path, ["stray.png", "happy/a.png"])
    with pytest.raises(ValueError, match=r"holds images directly \('stray.png'"):
        load_image_folder(tmp_path)


def test_missing_root_file_root_and_no_images(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match=r"file\.png"):
        load_image_folder(tmp_path / "file.png")
    empty = tmp_path / "empty"
    make_tree(empty, ["happy/readme.txt"])
    with pytest.raises(ValueError, match=r"No images \(\.png, .*\) found in .*empty"):
        load_image_folder(empty)


def test_one_lister_for_image_folders(tmp_path):
    """load_images, cascade.find_images and the CLI's media search list a folder alike."""
    from fer_toolkit.cascade import find_images
    from fer_toolkit.cli._faces import find_media

    for name in ["z.png", "a/b.png", "trip.png", "trip/c.PNG", ".h/x.png", ".y.png", "v.mp4"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    expected = ["a/b.png", "trip/c.PNG", "trip.png", "z.png"]  # by path parts, hidden skipped
    listed = [os.path.relpath(f, tmp_path) for f in load_images(tmp_path).filenames]
    assert listed == expected
    found = find_images(tmp_path, recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == expected
    media = [os.path.relpath(path, tmp_path) for path, _ in find_media([tmp_path])]
    assert media == [*expected[:3], "v.mp4", "z.png"]
