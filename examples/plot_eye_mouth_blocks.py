"""Eye and mouth blocks for prior attention
=========================================

:class:`~fer_toolkit.preprocessing.EyeMouthBlocks` cuts an upper block (eyes and eyebrows)
and a lower block (mouth) out of each face, to be fed to a network beside the whole face, as
in the prior-attention approach of
`iTerner/Facial-Emotion-Detection <https://github.com/iTerner/Facial-Emotion-Detection>`_.
The blocks come either from MTCNN's five landmarks (``locator="landmarks"``: they follow
head tilt and face proportions) or from fixed priors for aligned faces
(``locator="prior"``: FER2013-style crops, or ``MTCNNFaceCropper(align=True)``).
The approach is the prior attention of iTerner/Facial-Emotion-Detection
(https://github.com/iTerner/Facial-Emotion-Detection).

The three figures show:

1. the astronaut photo with MTCNN's detection; her face aligned onto the canonical template
   with the prior blocks; the face at native resolution with the landmark-located blocks;
   and the two 24x48 blocks themselves;
2. faces from scikit-image's LFW subset (25x25, upscaled 4x) with landmark-located blocks
   (a face MTCNN misses falls back to the priors);
3. synthetic FER-style faces with the priors and their true landmarks.

Run: ``python examples/plot_eye_mouth_blocks.py [output_prefix]`` (about ten seconds on two CPU
cores; the figures are saved when a prefix is given).
"""

import sys

import cv2
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from skimage import data

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.plotting import plot_detections, save_figure
from fer_toolkit.preprocessing import EyeMouthBlocks, MTCNNFaceCropper, crop_box

COLOURS = {"eyes": "deepskyblue", "mouth": "orange"}
N_COLUMNS = 5


def draw_regions(ax, image, regions, landmarks=None, title=""):
    """Show an image with its rotated block rectangles and, if given, landmarks."""
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
    for name, colour in COLOURS.items():
        corners = cv2.boxPoints(regions[name])
        ax.add_patch(Polygon(corners, closed=True, fill=False, edgecolor=colour, linewidth=1.5))
    if landmarks is not None:
        ax.plot(landmarks[:, 0], landmarks[:, 1], "o", color="red", markersize=2.5)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def show(ax, image, title):
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


# %%
# The astronaut
# -------------
# MTCNN finds the face and its five landmarks.
# :class:`~fer_toolkit.preprocessing.MTCNNFaceCropper` with ``align=True`` maps them onto
# :data:`~fer_toolkit.preprocessing.FACE_TEMPLATE`, where the prior blocks fit; on the
# unaligned crop, the landmarks place the blocks instead.

astronaut_fig = Figure(figsize=(2.2 * N_COLUMNS, 2.6), layout="constrained")
axes = astronaut_fig.subplots(1, N_COLUMNS)

photo = data.astronaut()
cropper = MTCNNFaceCropper(device="cpu", min_face_size=40)
(detections,) = cropper.detect([photo])
plot_detections(photo, detections, ax=axes[0])
axes[0].set_title("MTCNN on the astronaut", fontsize=8)

aligned = cropper.set_params(align=True, output_size=96).fit_transform([photo])
prior = EyeMouthBlocks(locator="prior")
draw_regions(axes[1], aligned[0], prior.locate(aligned)[0], title="aligned 96x96 + priors")

face = crop_box(photo, detections.boxes[0], margin=0.2)
by_landmarks = EyeMouthBlocks(locator="landmarks", device="cpu", min_face_size=40)
(regions,) = by_landmarks.locate([face])
(face_detections,) = cropper.detect([face])
draw_regions(
    axes[2], face, regions, face_detections.landmarks[0], title="face crop + landmark blocks"
)
blocks = by_landmarks.fit_transform([face])
show(axes[3], blocks["eyes"][0], "eyes block 24x48")
show(axes[4], blocks["mouth"][0], "mouth block 24x48")

# %%
# LFW faces
# ---------
# Upscaled from 25x25, these small faces test the landmark locator: MTCNN's landmarks
# locate the blocks, and a face it misses falls back to the priors (the title says which).

lfw = data.lfw_subset()[[0, 3, 8, 21, 40]]  # the first 100 images are faces
lfw = [cv2.resize(np.rint(im * 255).astype(np.uint8), (100, 100), cv2.INTER_CUBIC) for im in lfw]
lfw_landmarks = [d.landmarks[:1] for d in cropper.detect(lfw)]
lfw_fig = Figure(figsize=(2.2 * N_COLUMNS, 2.4), layout="constrained")
for ax, image, region, marks in zip(
    lfw_fig.subplots(1, N_COLUMNS), lfw, by_landmarks.locate(lfw), lfw_landmarks, strict=True
):
    draw_regions(
        ax, image, region, marks[0] if len(marks) else None, title=f"LFW: {region['source']}"
    )

# %%
# Synthetic faces
# ---------------
# :func:`~fer_toolkit.datasets.make_synthetic_faces` draws aligned 48x48 faces and returns
# their true landmarks (red): the fixed priors cover the eyes and the mouth.

faces = make_synthetic_faces(7, random_state=3)
names = [faces.target_names[t] for t in faces.target]
synthetic_fig = Figure(figsize=(2.2 * N_COLUMNS, 2.4), layout="constrained")
for ax, image, region, marks, name in zip(
    synthetic_fig.subplots(1, N_COLUMNS),
    faces.images,
    prior.locate(faces.images),
    faces.landmarks,
    names,
    strict=False,
):
    draw_regions(ax, image, region, marks, title=f"synthetic {name}: priors")

# %%
# With ``EyeMouthBlocks(output="dict")`` the face and both blocks go together to
# ``CNNClassifier(module="prior_attention")``; see the user guide's prior-attention page.

if len(sys.argv) > 1:
    for name, figure in [
        ("astronaut", astronaut_fig),
        ("lfw", lfw_fig),
        ("synthetic", synthetic_fig),
    ]:
        save_figure(figure, f"{sys.argv[1]}_{name}.png")
    print(f"wrote {sys.argv[1]}_astronaut.png, _lfw.png and _synthetic.png")
