"""Both notebooks run top to bottom (nbclient) on their tiny built-in settings and are saved without outputs."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = ["walkthrough.ipynb", "results_explorer.ipynb"]


def load(name):
    return nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_saved_without_outputs(name):
    notebook = load(name)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code, f"{name} has no code"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"{name} was saved with outputs"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_runs_top_to_bottom(name, monkeypatch):
    monkeypatch.delenv("DEEP_SPARSE_SWEEP_DIR", raising=False)  # the explorer makes its own tiny sweep
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    notebook = load(name)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": ROOT}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    if name == "walkthrough.ipynb":
        assert "test error" in text and "zeros per layer" in text
        assert any("image/png" in o.get("data", {}) for o in outputs)  # the sparsity plot
    else:
        assert "of 6 networks kept" in text and "layer_3" in text
        assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # scatter and histograms
