"""The notebooks run top to bottom in a real Jupyter kernel (nbclient + ipykernel), as a user would run them.

compare_runs.ipynb reads the session's real store (tests/fixtures_store.py); quickstart.ipynb trains on the
embedded default in its own folder. Outputs are checked, and the notebooks in git carry no outputs.
"""

from __future__ import annotations

import base64
import json

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT
from tests.fixtures_store import SWEEP_TRIALS

NOTEBOOKS = ("compare_runs.ipynb", "quickstart.ipynb")


def execute_notebook(name: str, cwd, timeout: int = 600):
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return notebook


def notebook_outputs(notebook) -> list[dict]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def _pngs(notebook) -> list[bytes]:
    return [
        base64.b64decode(o["data"]["image/png"]) for o in notebook_outputs(notebook) if "image/png" in o.get("data", {})
    ]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_stored_without_outputs(name):
    notebook = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
    nbformat.validate(nbformat.from_dict(notebook))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.slow
def test_compare_runs_notebook_runs_in_a_kernel(compare_store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", compare_store.tracking_uri)
    monkeypatch.setenv("ARABIC_PREF_STUDY", "smoke")  # the store also holds a newer sweep whose trial failed
    monkeypatch.setenv("ARABIC_PREF_MAX_NEW_TOKENS", "8")
    notebook = execute_notebook("compare_runs.ipynb", ROOT / "notebooks")
    text = "".join(o.get("text", "") for o in notebook_outputs(notebook))
    board = text[text.index("sweep 'smoke'") :].splitlines()
    assert board[0].startswith(f"sweep 'smoke' of 'arabic-pref': {SWEEP_TRIALS} rows")
    assert [line.split()[1] for line in board[2 : 2 + SWEEP_TRIALS]] == ["COMPLETE"] * SWEEP_TRIALS
    pngs = _pngs(notebook)
    assert len(pngs) == 3 and all(p.startswith(b"\x89PNG") for p in pngs)  # beta, learning rate, curves
    html = "".join(o["data"].get("text/html", "") for o in notebook_outputs(notebook) if "data" in o)
    assert '<td dir="rtl" lang="ar"' in html and "ما هي عاصمة المغرب؟" in html  # Arabic laid out right to left


@pytest.mark.slow
def test_quickstart_notebook_runs_in_a_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("ARABIC_PREF_QUICKSTART_DIR", str(tmp_path))
    monkeypatch.setenv("ARABIC_PREF_QUICKSTART_STEPS", "2")
    notebook = execute_notebook("quickstart.ipynb", tmp_path)
    text = "".join(o.get("text", "") for o in notebook_outputs(notebook))
    assert "preference accuracy 0.500 ->" in text and "steps 2," in text
    assert "restored model, preference accuracy" in text
    assert "sigmoid b=0.1 lr=5e-3" in text  # the run's name in MLflow
    assert (tmp_path / "saved" / "dpo_metadata.json").is_file()
    assert _pngs(notebook)[-1].startswith(b"\x89PNG")  # the run's learning_curves.png artifact
