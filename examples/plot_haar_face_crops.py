"""Crop faces from a real photo with a Haar cascade
====================================================

``HaarFaceCropper`` finds faces with one of OpenCV's stock cascades, keeps the
largest, adds a margin and resizes the crop. Here it runs on the astronaut
photo that ships with scikit-image; the figure shows the detection and the
48x48 grayscale face that a FER pipeline would see, for three cascades.

Run: ``python examples/plot_haar_face_crops.py [output.png]``
"""

import sys

from matplotlib.figure import Figure
from skimage import data
from sklearn.pipeline import make_pipeline

from fer_toolkit.plotting import plot_detections, save_figure
from fer_toolkit.preprocessing import Grayscale, HaarFaceCropper

photo = data.astronaut()
cascades = ["frontalface_default", "frontalface_alt2", "frontalface_alt"]

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

output = sys.argv[1] if len(sys.argv) > 1 else "haar_face_crops.png"
save_figure(fig, output)
print(f"wrote {output}")
