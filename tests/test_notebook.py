"""The tutorial notebook runs from top to bottom on the offline sample, in a scratch folder."""

from __future__ import annotations

import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "three_exercises.ipynb"
# one phrase every LSTM's verdict sentence contains (lstmbt/study/verdict.py)
VERDICT = "buy-and-hold after costs"


def _outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def _texts(nb: nbformat.NotebookNode) -> str:
    parts = []
    for out in _outputs(nb):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts += [out.data.get("text/plain", ""), out.data.get("text/html", "")]
    return "\n".join(parts)


def test_notebook_is_stored_clean():
    """Outputs stay out of git: the notebook is a small, reviewable diff."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
def test_notebook_runs_and_shows_plots_and_verdict(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # "python3" is ipykernel's native kernel, started with the interpreter running this test
    # (a python3 kernelspec whose argv is "python" is rewritten to sys.executable); this extra
    # cell proves it, so the notebook cannot silently test another installation of lstmbt.
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint('PREFIX=' + sys.prefix)"))
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error

    errors = [out for out in _outputs(nb) if out.output_type == "error"]
    assert not errors
    assert f"PREFIX={sys.prefix}" in _texts(nb)
    images = [out for out in _outputs(nb) if "image/png" in out.get("data", {})]
    assert images, "no inline figure was displayed"
    assert VERDICT in _texts(nb), "the verdict was not printed"
    # exercise (c) five days ahead: a column per later day, the per-step table with the path
    texts = _texts(nb)
    assert "multifeature:lstm@t+5" in texts and "realised@t+5" in texts
    html = [out.get("data", {}).get("text/html", "") for out in _outputs(nb)]
    assert any("<th>t+5</th>" in h and "<th>path</th>" in h for h in html), "no per-step table"
    # run_study writes nothing unless asked, and the report goes to a temporary folder
    assert not any(tmp_path.iterdir()), sorted(p.name for p in tmp_path.iterdir())
