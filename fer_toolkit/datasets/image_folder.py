"""Image folders: labelled ``root/<class>/*`` and ``root/<split>/<class>/*``, or plain.

:func:`load_image_folder` lists the image files and their labels without reading
them, :func:`load_images` the files of an unlabelled folder; put an
``ImageReader`` step first in a pipeline to read the paths.
"""

from __future__ import annotations

import os

import numpy as np
from sklearn.utils import Bunch

from ..utils.validation import InputError

__all__ = ["IMAGE_EXTENSIONS", "load_image_folder", "load_images"]

#: File name endings recognised as images by default (compared case-insensitively).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def load_image_folder(root, split=None, extensions=IMAGE_EXTENSIONS):
    """List the images of a folder dataset with their class (and split) names.

    Two layouts are recognised, from the structure alone (folder names do not
    matter):

    * **flat**, ``root/<class>/<image>``: some sub-folder of ``root`` holds
      images directly;
    * **split**, ``root/<split>/<class>/<image>``: no sub-folder of ``root`` holds
      images directly, and some hold class folders that do (e.g. the
      ``train/``, ``validation/``, ``test/`` of the Facial Emotion Recognition
      project, https://github.com/muscak/Facial-Emotion-Recognition).

    A tree mixing both (one sub-folder with images, another with class folders of
    images, or one folder with both) is ambiguous and rejected. Only images
    directly inside class folders are listed; hidden files and folders (name
    starting with ``.``) and files with other extensions are skipped.

    Parameters
    ----------
    root : str or os.PathLike
        The dataset folder.
    split : str, sequence of str or None, default=None
        Keep only these splits (split layout only); ``None`` keeps all.
    extensions : str or sequence of str, default=IMAGE_EXTENSIONS
        File name endings of images, compared case-insensitively (the leading dot
        is optional).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``filenames``
            ndarray of str: ``root`` joined with the relative path of each image,
            sorted by split, class, then file name.
        ``target``
            ndarray of str: the class (folder) name of each image.
        ``target_names``
            Sorted tuple of the class names that hold at least one image in any
            split (the same whichever ``split`` is selected).
        ``split``
            ndarray of str: the split of each image; ``None`` for the flat layout.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist.
    NotADirectoryError
        If ``root`` is not a folder.
    ValueError
        If no image is found, the layout is ambiguous, images lie directly in
        ``root``, or ``split`` names a split that does not exist (the message lists
        the available ones) or is used with the flat layout.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.datasets.image_folder import load_image_folder
    >>> root = tempfile.mkdtemp()
    >>> for part in ["train/happy/a.png", "train/sad/b.jpg", "test/happy/c.PNG"]:
    ...     os.makedirs(os.path.dirname(os.path.join(root, part)), exist_ok=True)
    ...     open(os.path.join(root, part), "wb").close()  # listing does not read them
    >>> data = load_image_folder(root, split="train")
    >>> data.target.tolist(), data.target_names, data.split.tolist()
    (['happy', 'sad'], ('happy', 'sad'), ['train', 'train'])
    >>> [os.path.relpath(f, root) for f in load_image_folder(root).filenames]
    ['test/happy/c.PNG', 'train/happy/a.png', 'train/sad/b.jpg']
    """
    root = _check_root(root)
    suffixes = _check_extensions(extensions)
    groups = _scan(root, suffixes)
    splits = sorted({group_split for group_split, _ in groups})
    selected = _check_split_param(split, splits, root)
    target_names = tuple(sorted({class_name for _, class_name in groups}))
    filenames, target, split_of = [], [], []
    for (group_split, class_name), names in sorted(groups.items(), key=_group_order):
        if selected is not None and group_split not in selected:
            continue
        folder = os.path.join(root, group_split or "", class_name)
        filenames.extend(os.path.join(folder, name) for name in names)
        target.extend([class_name] * len(names))
        split_of.extend([group_split] * len(names))
    return Bunch(
        filenames=np.array(filenames, dtype=str),
        target=np.array(target, dtype=str),
        target_names=target_names,
        split=None if splits == [None] else np.array(split_of, dtype=str),
    )


def load_images(root, extensions=IMAGE_EXTENSIONS, recursive=True):
    """List the images of an unlabelled folder (photos to crop, to predict on...).

    The sibling of :func:`load_image_folder` for folders without class
    folders: every image file under ``root`` (in sub-folders too, unless
    ``recursive=False``), whatever the layout. Hidden files and folders (name
    starting with ``.``) and files with other extensions are skipped.

    Parameters
    ----------
    root : str or os.PathLike
        The folder.
    extensions : str or sequence of str, default=IMAGE_EXTENSIONS
        File name endings of images, compared case-insensitively.
    recursive : bool, default=True
        Also list the images of sub-folders.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``filenames``: ndarray of str, ``root`` joined with each image's
        relative path, sorted by that path.

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        If ``root`` does not exist or is not a folder.
    ValueError
        If no image is found.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.datasets import load_images
    >>> root = tempfile.mkdtemp()
    >>> for part in ["b.jpg", "a.png", "trip/c.PNG", ".hidden.png", "notes.txt"]:
    ...     os.makedirs(os.path.dirname(os.path.join(root, part)), exist_ok=True)
    ...     open(os.path.join(root, part), "wb").close()
    >>> [os.path.relpath(f, root) for f in load_images(root).filenames]
    ['a.png', 'b.jpg', 'trip/c.PNG']
    """
    root = _check_root(root)
    suffixes = _check_extensions(extensions)
    found = list_files(root, suffixes, recursive=recursive)
    if not found:
        raise InputError(f"No images ({', '.join(suffixes)}) found in {root}.")
    return Bunch(filenames=np.array(found, dtype=str))


def list_files(root, extensions=IMAGE_EXTENSIONS, *, recursive=True) -> list[str]:
    """The visible files in folder ``root`` whose names end in one of ``extensions``.

    fer_toolkit's one file lister: :func:`load_images`,
    :func:`fer_toolkit.cascade.find_images` and the media search of
    ``fer-toolkit predict`` / ``crop`` list folders with it. Hidden files and
    folders (name starting with ``.``) are skipped; the paths are ``root``
    joined with each file's path below it, sorted by that path's parts (a
    folder's files and sub-folders by name). Extensions compare
    case-insensitively.
    """
    suffixes = _check_extensions(extensions)
    root = os.fspath(root)
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")] if recursive else []
        found += [
            os.path.relpath(os.path.join(folder, name), root)
            for name in files
            if not name.startswith(".") and name.lower().endswith(suffixes)
        ]
    return [os.path.join(root, rel) for rel in sorted(found, key=lambda rel: rel.split(os.sep))]


def _group_order(item):
    (group_split, class_name), _ = item
    return ("" if group_split is None else group_split, class_name)


def _check_root(root):
    root = os.fspath(root)
    if not os.path.exists(root):
        raise FileNotFoundError(f"Image folder not found: {root!r}.")
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root!r} is not a folder; expected an image folder dataset.")
    return root


def _check_extensions(extensions):
    values = (extensions,) if isinstance(extensions, str) else tuple(extensions)
    if not values or not all(isinstance(value, str) and value.strip(".") for value in values):
        raise InputError(
            f"extensions must be a non-empty sequence of file endings such as '.png', "
            f"got {extensions!r}."
        )
    return tuple(
        value.lower() if value.startswith(".") else f".{value.lower()}" for value in values
    )


def _list_folder(folder, suffixes):
    """Sorted names of the visible sub-folders and image files directly inside ``folder``."""
    folders, images = [], []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                folders.append(entry.name)
            elif entry.is_file() and entry.name.lower().endswith(suffixes):
                images.append(entry.name)
    return sorted(folders), sorted(images)


def _scan(root, suffixes):
    """Map ``(split or None, class)`` to the sorted image names of that class folder."""
    subfolders, images = _list_folder(root, suffixes)
    if images:
        raise InputError(
            f"{root} holds images directly ({images[0]!r}...), outside any class folder; "
            "expected root/<class>/<image> or root/<split>/<class>/<image>. For a folder "
            "of unlabelled images use load_images(root)."
        )
    flat, nested = {}, {}
    for name in subfolders:
        children, own_images = _list_folder(os.path.join(root, name), suffixes)
        if own_images:
            flat[name] = own_images
        classes = _class_folders(os.path.join(root, name), children, suffixes)
        if classes:
            nested[name] = classes
    _check_layout(root, flat, nested, suffixes)
    if nested:
        return {
            (split, class_name): names
            for split, classes in nested.items()
            for class_name, names in classes.items()
        }
    return {(None, class_name): names for class_name, names in flat.items()}


def _class_folders(folder, children, suffixes):
    """Image names of each sub-folder of ``folder`` that holds images directly."""
    classes = {}
    for child in children:
        _, images = _list_folder(os.path.join(folder, child), suffixes)
        if images:
            classes[child] = images
    return classes


def _check_layout(root, flat, nested, suffixes):
    if flat and nested:
        with_images, with_classes = next(iter(flat)), next(iter(nested))
        raise InputError(
            f"{root} mixes layouts: {os.path.join(root, with_images)} holds images directly "
            f"(root/<class>/<image>) but {os.path.join(root, with_classes)} holds class "
            "folders of images (root/<split>/<class>/<image>); use one layout."
        )
    if not flat and not nested:
        raise InputError(
            f"No images ({', '.join(suffixes)}) found in {root}; expected "
            "root/<class>/<image> or root/<split>/<class>/<image>."
        )


def _check_split_param(split, splits, root):
    """``None`` or the set of requested splits, each of which must exist."""
    if split is None:
        return None
    if splits == [None]:
        raise InputError(
            f"{root} has no split folders (layout root/<class>/<image>); pass split=None."
        )
    requested = (split,) if isinstance(split, str) else tuple(split)
    if not requested:
        raise InputError("split selects no images: got an empty sequence.")
    for value in requested:
        if value not in splits:
            raise InputError(
                f"Unknown split {value!r} in {root}; available splits: {', '.join(splits)}."
            )
    return set(requested)
