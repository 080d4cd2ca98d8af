"""The notebooks run top to bottom against a real MLflow store of real runs."""

import json

from tests.conftest import ROOT, compose, overrides_for


def test_compare_runs_notebook(run_dirs, monkeypatch):
    from arabic_pref.train import train

    for loss in ("sigmoid", "ipo"):
        train(compose([f"loss={loss}", "max_steps=1", *overrides_for(run_dirs)]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", run_dirs["tracking_uri"])
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = json.loads((ROOT / "notebooks" / "compare_runs.ipynb").read_text())
    namespace: dict = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "compare_runs.ipynb", "exec"), namespace)
    table = namespace["table"]
    assert sorted(table["params.loss_type"]) == ["ipo", "sigmoid"]
    assert table["metrics.preference_accuracy"].between(0, 1).all()
    assert len(namespace["fig"].axes[0].lines) == 2  # one loss curve per run
