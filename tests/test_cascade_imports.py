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


# The command line: `fer-toolkit cascade train` (native backend) on the same kind of data,
# written by the test to a .vec and a bg.txt; the probe lists heavy modules at exit.
CLI_PROBE = """
import atexit, json, sys

heavy = ["torch", "sklearn", "scipy.stats", "fer_toolkit.preprocessing", "skorch",
         "matplotlib", "pandas"]
atexit.register(lambda: print(json.dumps(sorted(set(heavy) & set(sys.modules)))))
from fer_toolkit.cli.main import main

main(sys.argv[1:], prog_name="fer-toolkit")
"""


def test_cascade_train_command_loads_no_torch_scikit_learn_nor_matplotlib(tmp_path):
    cv2 = pytest.importorskip("cv2")
    np = pytest.importorskip("numpy")
    from skimage import data

    from fer_toolkit.cascade import write_vec

    faces = (data.lfw_subset()[:60] * 255).round().astype(np.uint8)
    write_vec(
        tmp_path / "pos.vec",
        np.stack([cv2.resize(f, (16, 16), interpolation=cv2.INTER_AREA) for f in faces]),
    )
    names = []
    for name in ("coffee", "rocket", "grass"):
        photo = getattr(data, name)()
        gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY) if photo.ndim == 3 else photo
        cv2.imwrite(str(tmp_path / f"{name}.png"), cv2.resize(gray, (160, 120)))
        names.append(f"{name}.png")
    (tmp_path / "bg.txt").write_text("\n".join(names) + "\n")
    command = [sys.executable, "-c", CLI_PROBE, "cascade", "train", "-data", "out"]
    command += ["-vec", "pos.vec", "-bg", "bg.txt", "-numPos", "50", "-numNeg", "100"]
    command += ["-numStages", "2", "-w", "16", "-h", "16", "-featureType", "LBP"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "cascade.xml").is_file()
    assert json.loads(result.stdout.splitlines()[-1]) == []
