"""README.md promises: its test command is the one CI runs, and its code example runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_second():
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [
        line
        for block in re.findall(r"```bash\n(.*?)```", quick_start, re.DOTALL)
        for line in block.strip().splitlines()
    ]
    assert len(commands) == 2
    assert "fer-toolkit quickstart" in commands[0] and "pip install" in commands[0]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert ci_lines[-1] == commands[1]


def test_code_example_runs():
    (example,) = _blocks("python")
    namespace = {}
    exec(compile(example, "README.md", "exec"), namespace)
    assert namespace["search"].score(namespace["X_test"], namespace["y_test"]) > 0.3


def test_the_suggested_cnn_swap_makes_a_valid_search():
    """README: swap the last two steps for the CNN and the grid for its own: every grid point
    must be a parameter of the swapped pipeline (no training here, only the parameters)."""
    from sklearn.model_selection import ParameterGrid
    from sklearn.pipeline import Pipeline

    from fer_toolkit.estimators import CNNClassifier
    from fer_toolkit.preprocessing import Grayscale, Resize

    in_code = README.split("## In code", 1)[1].split("\n## ", 1)[0]
    step = re.search(r'Swap the last two steps for `(\("cnn", .*?\))`', in_code, re.DOTALL)
    grid = re.search(r"and the grid for\s+`(\{.*?\})`", in_code, re.DOTALL)
    assert step and grid, "README no longer says how to swap in the CNN"
    namespace = {"CNNClassifier": CNNClassifier}
    cnn_step = eval(step[1], namespace)
    pipe = Pipeline([("gray", Grayscale()), ("resize", Resize(size=48)), cnn_step])
    for params in ParameterGrid(eval(grid[1], namespace)):
        pipe.set_params(**params)  # raises for a parameter the pipeline does not have


def _docs_blocks():
    pages = [ROOT / "docs" / "user_guide.md", *sorted((ROOT / "docs").glob("user_guide/*.md"))]
    for page in pages:
        if page.exists():
            text = page.read_text(encoding="utf-8")
            for block in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
                yield page.name, block


def test_user_guide_weights_only_sharing_snippet_runs_as_written(tmp_path, monkeypatch):
    (name, snippet), *_ = [(n, b) for n, b in _docs_blocks() if "save_params(" in b]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(snippet, name, "exec"), namespace)
    restored, cnn, faces = namespace["restored"], namespace["cnn"], namespace["faces"]
    assert (restored.predict_proba(faces.images) == cnn.predict_proba(faces.images)).all()
