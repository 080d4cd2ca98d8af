"""The Pareto front of a multi-objective sweep: in the parent MLflow run (table and plot) and in the summary.

With several objectives there is no single best trial: Optuna's `study.best_trials` is the set of completed
trials that no other trial beats on every objective at once. The parent run gets that set as an MLflow table
(`pareto_front.json`, readable with `mlflow.load_table`), a plot of every trial with the front highlighted
(`pareto_front.png`, for 2 or 3 objectives), a metric `pareto_size` and a tag `pareto_trials`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

PARETO_TABLE = "pareto_front.json"
PARETO_PLOT = "pareto_front.png"


def objective_names(study: Any) -> list[str]:
    return list(study.metric_names or [f"objective_{i}" for i in range(len(study.directions))])


def pareto_trials(study: Any) -> list[Any]:
    return sorted(study.best_trials, key=lambda t: t.number)


def pareto_table(study: Any) -> dict[str, list]:
    from arabic_pref.sweep.study import best_params

    names = objective_names(study)
    trials = pareto_trials(study)
    table: dict[str, list] = {"trial_number": [t.number for t in trials]}
    for i, name in enumerate(names):
        table[name] = [t.values[i] for t in trials]
    table["params"] = [json.dumps(best_params(t), ensure_ascii=False) for t in trials]
    table["mlflow_run_id"] = [str(t.user_attrs.get("mlflow_run_id", "")) for t in trials]
    table["output_dir"] = [str(t.user_attrs.get("output_dir", "")) for t in trials]
    return table


def log_pareto_front(client: Any, run_id: str, study: Any) -> None:
    trials = pareto_trials(study)
    client.log_metric(run_id, "pareto_size", len(trials))
    client.set_tag(run_id, "pareto_trials", ",".join(str(t.number) for t in trials))
    if not trials:
        return
    client.log_table(run_id, data=pareto_table(study), artifact_file=PARETO_TABLE)
    if 2 <= len(study.directions) <= 3:
        with tempfile.TemporaryDirectory() as folder:
            path = _plot(study, Path(folder))
            if path is not None:
                client.log_artifact(run_id, str(path))


def _plot(study: Any, folder: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    try:
        axes = optuna_plots.plot_pareto_front(study, target_names=objective_names(study))
    except (ValueError, RuntimeError):
        return None
    path = folder / PARETO_PLOT
    axes.figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(axes.figure)
    return path


def pareto_summary_lines(study: Any, parent_run_id: str) -> list[str]:
    """The end-of-sweep listing of the Pareto-optimal trials."""
    from arabic_pref.sweep.study import best_params

    names = objective_names(study)
    trials = pareto_trials(study)
    if not trials:
        return ["  no trial completed"]
    lines = [f"  Pareto front  {len(trials)} trials ({', '.join(names)}); parent MLflow run {parent_run_id}"]
    for t in trials:
        values = ", ".join(f"{n} = {v:.4f}" for n, v in zip(names, t.values, strict=True))
        lines.append(f"  trial #{t.number}  {values}")
        lines.append(f"      params {json.dumps(best_params(t), ensure_ascii=False)}")
        lines.append(f"      MLflow run {t.user_attrs.get('mlflow_run_id')}  output {t.user_attrs.get('output_dir')}")
    return lines
