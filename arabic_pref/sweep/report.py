"""The sweep's MLflow parent run: what was searched, how trials went, the best one, and plots.

One parent run per study (its id is kept in the study, so a resumed sweep reuses it); each trial's run is a
child (tag `mlflow.parentRunId`). Plots use `optuna.visualization.matplotlib` and plain matplotlib, saved as
PNG (plotly's image export needs a browser).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from arabic_pref import tracking
from arabic_pref.plots import objective_scatter
from arabic_pref.sweep.study import best_params, best_trial
from arabic_pref.sweep.trial import PARENT_RUN_ATTR


def open_parent_run(uri: str, experiment_name: str, study: Any, description: dict[str, Any]) -> str:
    client = tracking.client(uri)
    run_id = study.user_attrs.get(PARENT_RUN_ATTR)
    if run_id:
        client.update_run(run_id, status="RUNNING")
        return run_id
    experiment_id = tracking.ensure_experiment(experiment_name, uri)
    run = client.create_run(
        experiment_id,
        run_name=f"sweep-{study.study_name}",
        tags={tracking.SWEEP_TAG: "parent", "study": study.study_name},
    )
    params = {
        "study_name": study.study_name,
        "direction": ", ".join(d.name.lower() for d in study.directions),
        **{f"space.{k}": v for k, v in description.get("space", {}).items()},
        "sampler": description.get("sampler", ""),
        "pruner": description.get("pruner", ""),
        "objective": description.get("objective", ""),
    }
    for key, value in params.items():
        client.log_param(run.info.run_id, key, str(value)[: tracking.MAX_PARAM_CHARS])
    study.set_user_attr(PARENT_RUN_ATTR, run.info.run_id)
    return run.info.run_id


def fail_child_runs(uri: str, experiment_name: str, study_name: str, trial_numbers: list[int]) -> None:
    """Child runs of trials whose process died: FAILED in MLflow too."""
    if not trial_numbers:
        return
    client = tracking.client(uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.study = '{study_name}'")
    for run in runs:
        if run.data.tags.get("trial_number") in {str(n) for n in trial_numbers} and run.info.status == "RUNNING":
            client.set_tag(run.info.run_id, "trial_state", "FAIL")
            client.set_terminated(run.info.run_id, status="FAILED")


def finalize_parent_run(uri: str, run_id: str, study: Any, status: str = "FINISHED", conclusion: Any = None) -> None:
    from optuna.trial import TrialState

    client = tracking.client(uri)
    trials = study.get_trials(deepcopy=False)
    counts = {
        s.name.lower(): sum(t.state == s for t in trials)
        for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    for name, n in counts.items():
        client.log_metric(run_id, f"trials_{name}", n)
    best = best_trial(study)
    if best is not None:
        client.log_metric(run_id, "best_value", best.value)
        client.set_tag(run_id, "best_trial_number", str(best.number))
        client.set_tag(run_id, "best_params", json.dumps(best_params(best), ensure_ascii=False))
        for key in ("mlflow_run_id", "output_dir"):
            if key in best.user_attrs:
                client.set_tag(run_id, f"best_{key}", str(best.user_attrs[key]))
    if conclusion is not None:  # the selected trial(s) on the test split they were not selected on: to quote
        from arabic_pref.sweep.conclusion import log_conclusion

        log_conclusion(client, run_id, conclusion)
    with tempfile.TemporaryDirectory() as folder:
        for path in write_artifacts(study, Path(folder)):
            client.log_artifact(run_id, str(path))
    if len(study.directions) > 1:
        from arabic_pref.sweep.pareto import log_pareto_front

        log_pareto_front(client, run_id, study)
    client.set_terminated(run_id, status=status)


def _searched_importances(study: Any) -> Any:
    """Importances of the searched variables only: a conditional param's real value (e.g. `beta`, a one-point
    distribution per trial) would be drawn with importance 0; its normalised twin (`beta_unit`) carries it."""
    from optuna.search_space import intersection_search_space
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as optuna_plots

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return optuna_plots.plot_param_importances(study, params=sorted(intersection_search_space(complete)))


def write_artifacts(study: Any, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as optuna_plots

    paths = []
    table = folder / "trials.csv"
    study.trials_dataframe().to_csv(table, index=False)
    paths.append(table)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    plots = {"optimization_history.png": optuna_plots.plot_optimization_history}
    if len(complete) >= 2 and len({k for t in complete for k in t.params}) >= 1:
        plots["param_importances.png"] = _searched_importances
    for name, plot in plots.items():
        try:
            axes = plot(study)
        except (ValueError, RuntimeError):  # e.g. importances of parameters that never varied
            continue
        axes.figure.savefig(folder / name, dpi=100, bbox_inches="tight")
        plt.close(axes.figure)
        paths.append(folder / name)
    if complete and len(study.directions) == 1:  # multi-objective: the Pareto front instead (pareto.py)
        fig = objective_scatter(
            _objective_by_loss(complete), "beta", "objective (validation)", "objective against beta per loss type"
        )
        fig.savefig(folder / "objective_vs_beta.png", dpi=100, bbox_inches="tight")
        paths.append(folder / "objective_vs_beta.png")
    return paths


def _objective_by_loss(trials: list[Any]) -> dict[str, list[tuple[float, float]]]:
    """(beta that trained, objective) of each completed trial, grouped by loss type."""
    by_loss: dict[str, list[tuple[float, float]]] = {}
    for t in trials:
        beta = t.user_attrs.get("beta", t.params.get("beta", t.user_attrs.get("config_beta")))
        if beta is not None:
            loss = str(t.params.get("loss", t.user_attrs.get("loss_type", "?")))
            by_loss.setdefault(loss, []).append((beta, t.value))
    return by_loss
