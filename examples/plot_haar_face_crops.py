"""Crop faces from a real photo with a Haar cascade
====================================================

:class:`~fer_toolkit.preprocessing.HaarFaceCropper` finds faces with one of OpenCV's stock
cascades, keeps the largest, adds a margin and resizes the crop. Here it runs on the
astronaut photo that ships with scikit-image, with three cascades: each finds the face at a
slightly different box, and the 48x48 grayscale crop that a FER pipeline sees changes with
it.

Run: ``python examples/plot_haar_face_crops.py [output_prefix]`` (a few seconds; the figure is
saved when a prefix is given).
"""

import sys

from matplotlib.figure import Figure
from skimage import data
from sklearn.pipeline import make_pipeline

from fer_toolkit.plotting import plot_detections, save_figure
from fer_toolkit.preprocessing import Grayscale, HaarFaceCropper

photo = data.astronaut()
cascades = ["frontalface_default", "frontalface_alt2", "frontalface_alt"]

# %%
# Detect, then crop
# -----------------
# ``detect`` returns the boxes a cascade finds (a
# :class:`~fer_toolkit.detection.Detections` per image); ``fit_transform`` crops the kept box
# with a 15% margin and resizes it. Followed by :class:`~fer_toolkit.preprocessing.Grayscale`
# in a pipeline, the result is what a FER2013-trained network expects.

fig = Figure(figsize=(10, 6.5), layout="constrained")
grid = fig.add_gridspec(2, len(cascades), height_ratios=[3, 1.4])
for column, cascade in enumerate(cascades):
    cropper = HaarFaceCropper(cascade=cascade, margin=0.15, output_size=48)
    (detections,) = cropper.detect([photo])
    plot_detections(photo, detections, ax=fig.add_subplot(grid[0, column]))
    fig.axes[-1].set_title(cascade, fontsize=10)

    face = make_pipeline(cropper, Grayscale()).fit_transform([photo])[0]
    ax = fig.add_subplot(grid[1, column])
    ax.imshow(face, cmap="gray", vmin=0, vmax=255)
    ax.set_title(
        f"crop {face.shape[1]}x{face.shape[0]}, box {detections.boxes[0].tolist()}", fontsize=8
    )
    ax.set_axis_off()

# %%
# The three boxes overlap but differ by a few pixels, and so do the crops: a model trained on
# one cascade's crops should be used with that cascade.

if len(sys.argv) > 1:
    save_figure(fig, f"{sys.argv[1]}_crops.png")
    print(f"wrote {sys.argv[1]}_crops.png")
