"""The tutorial notebook (examples/tutorial.ipynb) runs cell by cell in a Jupyter kernel of
this interpreter, importing this checkout, and shows its diagrams and plots as SVG."""

import os
from pathlib import Path

import pytest

import visualize

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "tutorial.ipynb"

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the [dev] extra")


def test_notebook_is_valid_and_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 8
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
def test_tutorial_notebook_runs_every_cell_and_shows_svg(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the [dev] extra")
    pytest.importorskip("ipykernel", reason="the notebook test needs the [dev] extra")
    pytest.importorskip("matplotlib", reason="the notebook's plots need the [plots] extra")
    # the kernel imports this checkout's graphrnn and visualize, and writes under tmp_path
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT)] + ([path] if path else [])))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    diagrams = 4 if visualize.dot_available() else 0  # folded, unrolled, gradient, flow
    assert len(svgs) == diagrams + 2  # and the heat map and the training history
    assert (tmp_path / "out" / "tutorial_history.svg").exists()
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "state  h[t] = tanh(h[t-1] @ W + x[t] @ U + b)" in printed
    assert "gradcheck passed" in printed
