"""Cascade training on the CPU and Cascade detection import neither PyTorch nor scikit-learn."""

import json
import subprocess
import sys
from unittest import mock

import pytest

from fer_toolkit.cascade import train

# In a fresh interpreter: train a small Haar and a small LBP cascade on lfw faces and
# face-free skimage photos (the data of test_cascade_train), on the CPU and with
# device="auto" (no GPU driver here, or PyTorch is asked and says no), read one back and
# detect with it, then list the heavy modules loaded.
PROBE = """
import json, sys, tempfile
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from fer_toolkit.cascade import read_cascade, train_cascade

faces = (data.lfw_subset()[:60] * 255).round().astype(np.uint8)
faces = np.stack([cv2.resize(f, (16, 16), interpolation=cv2.INTER_AREA) for f in faces])
photos = [data.coffee(), data.rocket(), data.grass()]
bg = [cv2.resize(cv2.cvtColor(p, cv2.COLOR_RGB2GRAY) if p.ndim == 3 else p, (160, 120))
      for p in photos]
folder = Path(tempfile.mkdtemp())
for feature_type, device in (("HAAR", "cpu"), ("LBP", "auto")):
    result = train_cascade(folder / feature_type, faces, bg, num_pos=50, num_neg=100,
                           num_stages=2, width=16, height=16, feature_type=feature_type,
                           device=device, progress=None)
cascade = read_cascade(result.path)
cascade.detect_multiscale(cv2.resize(data.astronaut()[..., 0], (96, 96)))
heavy = ["torch", "sklearn", "scipy.stats", "fer_toolkit.preprocessing", "skorch"]
print(json.dumps(sorted(set(heavy) & set(sys.modules))))
"""


def test_cpu_training_and_detection_load_no_torch_nor_scikit_learn():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_auto_device_asks_pytorch_only_when_it_can_answer_yes(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(train, "_gpu_driver_present", lambda: False)
    monkeypatch.delitem(sys.modules, "torch")
    with mock.patch.object(torch.cuda, "is_available", return_value=True) as asked:
        assert train._resolve_device("auto") == "cpu"  # no driver, torch not imported
        asked.assert_not_called()
        monkeypatch.setitem(sys.modules, "torch", torch)
        assert train._resolve_device("auto") == "cuda"  # torch imported: it is asked
        monkeypatch.setattr(train, "_gpu_driver_present", lambda: True)
        asked.return_value = False
        assert train._resolve_device("auto") == "cpu"
    assert train._resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu' or 'cuda'; got 'gpu'"):
        train._resolve_device("gpu")
