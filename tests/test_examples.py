"""Every gallery example runs, draws its figures, and is laid out for sphinx-gallery.

The documentation build in CI skips running the gallery (``-D plot_gallery=0``); this test
runs each script instead, small (``FER_TOOLKIT_EXAMPLE_SIZE=small``), and checks the PNGs it
writes when given an output prefix.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


def test_examples_are_found():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.stem)
def test_example_is_a_gallery_page(script):
    source = script.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source))
    title, underline, *story = docstring.splitlines()
    assert underline == "=" * len(underline) and len(underline) >= len(title) > 10
    assert len(" ".join(story).split()) > 30, "a short story under the title"
    assert "\n# %%\n" in source, "code cells separated by '# %%'"
    assert "seed 00" not in source.lower()


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.stem)
def test_example_runs_and_draws(script, tmp_path):
    env = {
        **os.environ,
        "FER_TOOLKIT_EXAMPLE_SIZE": "small",
        "MPLBACKEND": "agg",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    prefix = tmp_path / script.stem
    result = subprocess.run(
        [sys.executable, str(script), str(prefix)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = sorted(tmp_path.glob("*.png"))
    assert figures, f"{script.name} wrote no figure:\n{result.stdout}"
    assert all(path.name.startswith(script.stem + "_") for path in figures)
    for path in figures:
        pixels = imread(path)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 200
        assert np.ptp(pixels[..., :3]) > 0.5, f"{path.name} is blank"
