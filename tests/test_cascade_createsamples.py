"""createsamples on real images: info -> .vec crops, distorted samples, test images, show."""

import re
import warnings

import cv2
import numpy as np
import pytest
from skimage import data

from fer_toolkit.cascade import (
    create_samples,
    read_info,
    read_vec,
    samples_from_image,
    samples_from_info,
    show_vec,
    vec_count,
    write_bg,
    write_vec,
)

FACE_BOX = (177, 66, 95, 95)  # the astronaut's face, as OpenCV's stock cascade finds it
NO_DISTORTION = {"max_x_angle": 0.0, "max_y_angle": 0.0, "max_z_angle": 0.0}


@pytest.fixture(scope="module")
def lfw_faces():
    faces = data.lfw_subset()[:100]  # the first 100 are faces
    return (faces * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def face():
    x, y, w, h = FACE_BOX
    return cv2.cvtColor(data.astronaut()[y : y + h, x : x + w], cv2.COLOR_RGB2GRAY)


@pytest.fixture(scope="module")
def backgrounds():
    """Face-free grayscale photos from skimage.data."""
    return [
        cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2GRAY),
        cv2.cvtColor(data.rocket(), cv2.COLOR_RGB2GRAY),
        data.brick(),
        data.grass()[:300],
    ]


@pytest.fixture
def bg_list(tmp_path, backgrounds):
    paths = []
    for i, image in enumerate(backgrounds):
        paths.append(tmp_path / "neg" / f"bg{i}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        assert cv2.imwrite(str(paths[-1]), image)
    write_bg(tmp_path / "bg.txt", paths)
    return tmp_path / "bg.txt"


def _opencv_crop(image, box, width, height):
    x, y, w, h = box
    interpolation = cv2.INTER_AREA if w >= width and h >= height else cv2.INTER_LINEAR_EXACT
    return cv2.resize(image[y : y + h, x : x + w], (width, height), interpolation=interpolation)


# --------------------------------------------------------------------------- from -info


@pytest.fixture
def info_file(tmp_path, lfw_faces):
    """Twelve lfw face files (one colour) and a description file with 14 boxes."""
    (tmp_path / "img").mkdir()
    lines, boxes = [], []
    for i in range(12):
        cv2.imwrite(str(tmp_path / "img" / f"f{i}.png"), lfw_faces[i])
        box = (0, 0, 25, 25) if i % 3 else (2, 3, 21, 19)
        lines.append(f"img/f{i}.png 1 {' '.join(map(str, box))}")
        boxes.append((f"img/f{i}.png", box))
    x, y, w, h = FACE_BOX
    colour = np.ascontiguousarray(data.astronaut()[y - 20 : y + h + 20, x - 20 : x + w + 20, ::-1])
    cv2.imwrite(str(tmp_path / "img" / "astronaut.png"), colour)
    lines.append("img/astronaut.png 2 20 20 95 95 0 0 60 40")
    boxes += [("img/astronaut.png", (20, 20, 95, 95)), ("img/astronaut.png", (0, 0, 60, 40))]
    (tmp_path / "info.lst").write_text("\n".join(lines) + "\n")
    return tmp_path / "info.lst", boxes


@pytest.mark.parametrize(("width", "height"), [(20, 20), (32, 24)])
def test_info_to_vec_holds_opencv_crops(tmp_path, info_file, width, height):
    info, boxes = info_file
    vec = tmp_path / "pos.vec"
    samples = create_samples(info=info, vec=vec, width=width, height=height)
    expected = [
        _opencv_crop(cv2.imread(str(tmp_path / name), cv2.IMREAD_GRAYSCALE), box, width, height)
        for name, box in boxes
    ]
    assert vec_count(vec) == (14, width * height)
    np.testing.assert_array_equal(read_vec(vec, width, height), np.stack(expected))
    np.testing.assert_array_equal(samples, np.stack(expected))


def test_num_stops_early_or_warns(tmp_path, info_file):
    info, _ = info_file
    all_samples = samples_from_info(info, width=20, height=20)
    first = create_samples(info=info, vec=tmp_path / "5.vec", num=5, width=20, height=20)
    np.testing.assert_array_equal(first, all_samples[:5])
    assert vec_count(tmp_path / "5.vec") == (5, 400)
    # OpenCV would write 9000 into the header of a 14-sample file; we warn and write 14.
    with pytest.warns(UserWarning, match="has 14 boxes, fewer than num=9000; making 14"):
        create_samples(info=info, vec=tmp_path / "all.vec", num=9000, width=20, height=20)
    assert vec_count(tmp_path / "all.vec") == (14, 400)


def test_info_errors_name_line_and_write_nothing(tmp_path, info_file):
    info, _ = info_file
    lines = info.read_text().splitlines()
    lines[2] = "img/f2.png 1 10 10 20 20"  # reaches x = 30 in a 25-wide image
    info.write_text("\n".join(lines))
    vec = tmp_path / "pos.vec"
    with pytest.raises(ValueError, match=re.escape(f"{info}, line 3: box 1 (x=10, y=10, w=20")):
        create_samples(info=info, vec=vec, width=20, height=20)
    assert not vec.exists()
    lines[2] = "img/nothere.png 1 0 0 5 5"
    info.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=re.escape(f"{info}, line 3: image ")):
        samples_from_info(info)


def test_samples_from_entries(tmp_path, lfw_faces):
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), lfw_faces[0])
    samples = samples_from_info([(path, [[0, 0, 25, 25], [5, 5, 10, 10]])], width=25, height=25)
    np.testing.assert_array_equal(samples[0], lfw_faces[0])
    np.testing.assert_array_equal(
        samples[1],
        cv2.resize(lfw_faces[0][5:15, 5:15], (25, 25), interpolation=cv2.INTER_LINEAR_EXACT),
    )
    with pytest.raises(ValueError, match="no boxes"):
        samples_from_info([(path, [])])


# --------------------------------------------------------------------------- from -img


def test_distorted_samples_shape_and_reproducibility(tmp_path, face, bg_list):
    kwargs = {"img": face, "bg": bg_list, "num": 40, "width": 24, "height": 20}
    create_samples(vec=tmp_path / "a.vec", random_state=3, **kwargs)
    create_samples(vec=tmp_path / "b.vec", random_state=3, **kwargs)
    create_samples(vec=tmp_path / "c.vec", random_state=4, **kwargs)
    assert (tmp_path / "a.vec").read_bytes() == (tmp_path / "b.vec").read_bytes()
    assert (tmp_path / "a.vec").read_bytes() != (tmp_path / "c.vec").read_bytes()
    samples = read_vec(tmp_path / "a.vec", 24, 20)
    assert samples.shape == (40, 20, 24) and samples.dtype == np.uint8
    assert len({s.tobytes() for s in samples}) == 40  # every sample distorted differently


def test_undistorted_sample_is_the_resized_object(face):
    opaque = np.maximum(face, 1)  # no pixel equals bg_color 0, so nothing is transparent
    expected = cv2.resize(opaque, (24, 24), interpolation=cv2.INTER_AREA).astype(int)
    samples = samples_from_image(
        opaque, 6, 24, 24, bg_thresh=0, max_intensity_dev=0, random_state=0, **NO_DISTORTION
    )
    inner = (slice(None), slice(2, -2), slice(2, -2))  # the blurred mask edge aside
    # OpenCV's final bilinear shrink (95 -> 24 px) aliases, so compare loosely.
    assert np.abs(samples.astype(int) - expected)[inner].mean() < 8
    for sample in samples:
        assert np.corrcoef(sample[2:-2, 2:-2].ravel(), expected[2:-2, 2:-2].ravel())[0, 1] > 0.9
    inverted = samples_from_image(
        opaque, 6, 24, 24, bg_thresh=0, max_intensity_dev=0, inv=True, **NO_DISTORTION
    )
    np.testing.assert_array_equal(inverted[inner], 255 - samples[inner])
    shifted = samples_from_image(
        opaque, 30, 24, 24, bg_thresh=0, max_intensity_dev=30, random_state=0, **NO_DISTORTION
    )
    offsets = shifted[inner].mean(axis=(1, 2)) - samples[0][inner[1:]].mean()
    assert np.abs(offsets).max() <= 31 and offsets.std() > 8


def test_rotation_changes_the_outline(face):
    opaque = np.maximum(face, 1)
    common = {"bg_thresh": 0, "max_intensity_dev": 0, "random_state": 0}
    flat = samples_from_image(opaque, 1, 24, 24, **common, **NO_DISTORTION)
    turned = samples_from_image(
        opaque, 1, 24, 24, **common, max_x_angle=0.0, max_y_angle=0.0, max_z_angle=0.5
    )
    # A z-rotation pulls a corner of the object in, showing bg_color there.
    assert (flat[0] > 0).all()
    assert (turned[0] == 0).sum() > 10


def test_randinv_inverts_about_half(face):
    opaque = np.maximum(face, 1)
    samples = samples_from_image(
        opaque,
        40,
        24,
        24,
        bg_thresh=0,
        max_intensity_dev=0,
        randinv=True,
        random_state=5,
        **NO_DISTORTION,
    )
    reference = cv2.resize(opaque, (24, 24), interpolation=cv2.INTER_AREA).ravel()
    signs = [np.corrcoef(s.ravel(), reference)[0, 1] < 0 for s in samples]
    assert 8 <= sum(signs) <= 32


def test_transparent_pixels_show_the_background(face, backgrounds):
    window = (24, 24)
    transparent = np.maximum(face, 1)
    transparent[30:65, 30:65] = 0  # a see-through square in the middle of the face
    common = {"bg": backgrounds, "bg_thresh": 0, "max_intensity_dev": 0, **NO_DISTORTION}
    samples = samples_from_image(transparent, 20, *window, random_state=11, **common)
    # With every pixel see-through, the same seed gives the bare background windows.
    windows = samples_from_image(np.zeros_like(face), 20, *window, random_state=11, **common)
    hole = (slice(None), slice(9, 15), slice(9, 15))  # 30:65 of 95 is 7.6:17.7 of 24
    np.testing.assert_array_equal(samples[hole], windows[hole])
    assert np.abs(samples.astype(int) - windows)[:, :6, :].mean() > 20  # opaque forehead
    # The first window is the top-left corner of a background shrunk until the window fits.
    corners = []
    for image in backgrounds:
        rows, cols = image.shape
        scale = max(24 / cols, 24 / rows)
        size = (int(scale * cols + 0.5), int(scale * rows + 0.5))
        corners.append(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR_EXACT)[:24, :24])
    assert any(np.array_equal(windows[0], corner) for corner in corners)
    # Without backgrounds, see-through pixels take bg_color.
    plain = samples_from_image(
        transparent, 3, *window, bg_color=0, bg_thresh=0, random_state=1, **NO_DISTORTION
    )
    assert (plain[hole] == 0).all()


def test_bg_thresh_makes_near_bg_color_transparent(face, backgrounds):
    common = {"bg": backgrounds[:1], "max_intensity_dev": 0, "random_state": 2, **NO_DISTORTION}
    dark = np.full_like(face, 70)  # within 80 of bg_color 0: transparent by default
    windows = samples_from_image(np.zeros_like(face), 3, 24, 24, **common)
    np.testing.assert_array_equal(samples_from_image(dark, 3, 24, 24, **common), windows)
    kept = samples_from_image(dark, 3, 24, 24, bg_thresh=60, **common)
    assert (kept[:, 3:-3, 3:-3] == 70).all()


def test_image_file_and_errors(tmp_path, face, bg_list):
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), face)
    from_file = samples_from_image(path, 5, bg=bg_list, random_state=0)
    np.testing.assert_array_equal(
        from_file, samples_from_image(face, 5, bg=bg_list, random_state=0)
    )
    with pytest.raises(ValueError, match="no background image is at least 24x24"):
        samples_from_image(face, 2, bg=[np.zeros((10, 40), np.uint8)])
    with pytest.raises(ValueError, match="bg_color must be an int in \\[0, 255\\]; got 300"):
        samples_from_image(face, 2, bg_color=300)
    with pytest.raises(ValueError, match="max_x_angle must be a finite angle >= 0"):
        samples_from_image(face, 2, max_x_angle=-1.0)
    with pytest.raises(ValueError, match="num must be an int >= 1; got 0"):
        samples_from_image(face, 0)
    with pytest.raises(ValueError, match="img is 1x5 pixels"):
        samples_from_image(np.zeros((5, 1), np.uint8), 2)
    with pytest.raises(ValueError, match="max_scale must be a finite number"):
        create_samples(img=face, bg=bg_list, info_out=tmp_path / "i.lst", max_scale=np.inf)
    with pytest.raises(ValueError, match=r"img: .*does not exist"):
        samples_from_image(tmp_path / "nope.png", 2)


# --------------------------------------------------------------------------- test images


def test_test_images_contain_the_pasted_object(tmp_path, face, bg_list, backgrounds):
    info = tmp_path / "test" / "info.lst"
    entries = create_samples(img=face, bg=bg_list, info=info, num=None, random_state=0)
    assert len(entries) == len(backgrounds)
    assert read_info(info) == entries  # images exist, boxes lie inside them
    for entry in entries:
        (x, y, w, h) = entry.boxes[0].tolist()
        assert entry.path.name == f"{entry.path.name[:4]}_{x:04d}_{y:04d}_{w:04d}_{h:04d}.jpg"
        assert w == h and w >= 24
        image = cv2.imread(str(entry.path), cv2.IMREAD_GRAYSCALE)
        source = min(
            (b for b in backgrounds if b.shape == image.shape),
            key=lambda b: np.abs(b.astype(int) - image).mean(),
        )
        changed = np.abs(image.astype(int) - source) > 40
        inside = np.zeros_like(changed)
        inside[y : y + h, x : x + w] = True
        assert changed[inside].mean() > 0.15  # the object is there
        assert changed[inside].sum() / changed.sum() > 0.97  # and nowhere else


def test_test_images_are_reproducible_and_skip_small_backgrounds(tmp_path, face, bg_list):
    tiny = tmp_path / "neg" / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((20, 20), np.uint8))
    with open(bg_list, "a") as f:
        f.write("neg/tiny.png\n")
    runs = []
    for name in ("a", "b"):
        with pytest.warns(UserWarning, match="1 of 5 background images tried are too small"):
            entries = create_samples(
                img=face,
                bg=bg_list,
                info_out=tmp_path / name / "info.lst",
                num=None,
                random_state=9,
            )
        runs.append([e.path.read_bytes() for e in entries])
    assert runs[0] == runs[1] and len(runs[0]) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # when tiny.png comes up among the first
        two = create_samples(img=face, bg=bg_list, info_out=tmp_path / "c" / "i.lst", num=2)
    assert len(two) == 2


def test_max_scale_bounds_the_object_size(tmp_path, face, bg_list):
    small = create_samples(img=face, bg=bg_list, info_out=tmp_path / "a.lst", max_scale=1.5)
    assert all(24 <= e.boxes[0, 2] <= 36 for e in small)
    auto = create_samples(img=face, bg=bg_list, info_out=tmp_path / "b.lst", max_scale=-1)
    assert max(e.boxes[0, 2] for e in auto) > 36  # OpenCV's -1: up to 0.7 of the photo


def test_dispatch_errors(tmp_path, face, bg_list):
    with pytest.raises(ValueError, match="nothing to create"):
        create_samples(vec=tmp_path / "x.vec")
    with pytest.raises(ValueError, match="nothing to create"):
        create_samples(img=face)
    with pytest.raises(ValueError, match="both name the description file"):
        create_samples(img=face, bg=bg_list, info=tmp_path / "a.lst", info_out=tmp_path / "b.lst")


# --------------------------------------------------------------------------- show


def test_show_vec_tiles_samples(tmp_path, lfw_faces):
    vec = tmp_path / "faces.vec"
    samples = lfw_faces[:10, :24, :20]
    write_vec(vec, samples)
    png = tmp_path / "tile.png"
    tile = show_vec(vec, width=20, height=24, path=png, columns=4, scale=2)
    assert tile.shape == (3 * 49 + 1, 4 * 41 + 1) and tile.dtype == np.uint8
    np.testing.assert_array_equal(cv2.imread(str(png), cv2.IMREAD_UNCHANGED), tile)
    for i in range(10):
        r, c = divmod(i, 4)
        cell = tile[1 + r * 49 : r * 49 + 49, 1 + c * 41 : c * 41 + 41]
        np.testing.assert_array_equal(cell, samples[i].repeat(2, 0).repeat(2, 1))
    assert (tile[1 + 2 * 49 :, 1 + 2 * 41 :] == 128).all()  # two unused cells
    labelled = show_vec(samples, width=20, height=24, columns=4, scale=3, labels=True)
    assert not np.array_equal(labelled, show_vec(samples, 20, 24, columns=4, scale=3))
    assert show_vec(vec, 20, 24, max_samples=4).shape == (2 * 25 + 1, 2 * 21 + 1)
    with pytest.raises(ValueError, match="unsupported image format"):
        show_vec(vec, 20, 24, path=tmp_path / "tile.nope")
    with pytest.raises(ValueError, match="stores samples of 480 pixels"):
        show_vec(vec, 24, 24)
