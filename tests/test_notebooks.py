"""Both notebooks run top to bottom (nbclient) on their built-in settings (the walkthrough on a small
MNIST subset) and are saved without outputs; the results explorer runs on every folder of results/."""
import os

import matplotlib
import matplotlib.pyplot as plt
import nbformat
import pytest
from nbclient import NotebookClient

from deep_sparse import results_io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = ["walkthrough.ipynb", "results_explorer.ipynb"]
RESULTS = os.path.join(ROOT, "results")


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
    monkeypatch.delenv("DEEP_SPARSE_RESULTS_DIR", raising=False)  # the explorer makes its own tiny sweep
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    notebook = load(name)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": ROOT}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    if name == "walkthrough.ipynb":
        assert "test error" in text and "zeros per layer" in text
        assert images == 3  # the network's curves, the sweep's logged curves, the sparsity plot
        # the network learns on the MNIST subset: its last validation error is well below chance (90%)
        last_valid = float(text.split("\n6 ")[1].split()[0])  # the logged curves' epoch-6 row
        assert 0 < last_valid < 0.5
    else:
        assert "of 6 networks kept" in text and "layer_3" in text and "12 network-epochs of 6 networks" in text
        assert images == 3  # scatter, histograms, learning curves


def results_layouts() -> list[str]:
    """results/ itself and each folder directly in it holding a sweep at some depth: every layout the
    committed runs have (one sweep, a run with one sweep per data set, folders of sweeps, empty sweeps)."""
    tops = {path.split(os.sep)[0] for path in results_io.recorded_folders(RESULTS) if path != "."}
    return [".", *sorted(tops)]


@pytest.mark.parametrize("folder", results_layouts())
def test_results_explorer_reads_every_results_layout(folder, monkeypatch, capsys):
    """The explorer's code cells, run in this process (no kernel: seconds for every folder), on a
    folder of results/."""
    monkeypatch.setenv("DEEP_SPARSE_RESULTS_DIR", os.path.join(RESULTS, folder))
    monkeypatch.setattr(plt, "show", lambda: None)
    matplotlib.use("Agg")
    namespace: dict = {}
    for cell in load("results_explorer.ipynb").cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, f"results_explorer.ipynb ({folder})", "exec"), namespace)
    plt.close("all")
    frame = namespace["frame"]
    expected = sum(len(results_io.read_json(os.path.join(RESULTS, folder, path, "results.json")).get("rows", []))
                   for path in results_io.recorded_folders(os.path.join(RESULTS, folder)))
    assert len(frame) == expected
    assert f"{expected} networks in" in capsys.readouterr().out
