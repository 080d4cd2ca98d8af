"""A two-objective sweep (preference accuracy up, KL to the reference down): Optuna's Pareto set in MLflow."""

from __future__ import annotations

import mlflow
import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_cli
from tests.test_sweep_e2e import FAST

TWO_OBJECTIVES = [
    "hydra.sweeper.objective=[preference_accuracy,drift/kl_per_token]",
    "hydra.sweeper.direction=[maximize,minimize]",
]


@pytest.mark.slow
def test_two_objective_sweep_stores_the_pareto_front_in_the_parent_run(tmp_path, capsys):
    result = run_cli(
        ["-m", "sweep=smoke", *FAST, "hydra.sweeper.n_trials=3", *TWO_OBJECTIVES], cwd=tmp_path, timeout=900
    )
    assert result.returncode == 0, result.stderr[-4000:]
    study = optuna.load_study(study_name="smoke", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["preference_accuracy", "drift/kl_per_token"]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3 and all(len(t.values) == 2 and t.values[1] >= 0 for t in complete)
    assert all(not t.intermediate_values for t in complete)  # multi-objective trials never report: no pruning
    pareto = sorted(t.number for t in study.best_trials)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("arabic-pref")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("arabic_pref.sweep") == "parent")
    assert parent.info.status == "FINISHED" and parent.data.metrics["pareto_size"] == len(pareto)
    assert parent.data.tags["pareto_trials"] == ",".join(map(str, pareto))
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"pareto_front.json", "pareto_front.png", "trials.csv"} <= artifacts
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")  # load_table searches the global store
    table = client.load_table(experiment.experiment_id, "pareto_front.json", run_ids=[parent.info.run_id])
    assert sorted(table["trial_number"]) == pareto
    for _, row in table.iterrows():
        values = study.trials[row["trial_number"]].values
        assert row["preference_accuracy"] == pytest.approx(values[0])
        assert row["drift/kl_per_token"] == pytest.approx(values[1])
    # each trial ran only what its objective needs: KL, no generations
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 3
    for child in children:
        assert "drift/kl_per_token" in child.data.metrics
        assert not [k for k in child.data.metrics if k.startswith("gen/") or k == "drift/ppl_ratio"]
    assert "Pareto front" in result.stdout and f"trial #{pareto[0]}" in result.stdout
    # the compare command lists the same Pareto-optimal trials
    from arabic_pref.compare.cli import main as compare

    code = compare(
        ["--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--storage", f"sqlite:///{tmp_path}/optuna.db"]
    )
    out = capsys.readouterr().out
    assert code == 0
    front = ", ".join(f"#{n}" for n in pareto)
    assert f"Pareto-optimal trials (preference_accuracy / drift/kl_per_token): {front}" in out


@pytest.mark.slow
def test_bad_multi_objective_is_refused_before_any_trial(tmp_path):
    bad = ["hydra.sweeper.objective=[preference_accuracy,drift/kl_per_token]", "hydra.sweeper.direction=maximize"]
    result = run_cli(["-m", "sweep=smoke", *FAST, *bad], cwd=tmp_path, timeout=300)
    assert result.returncode == 2
    assert "error: hydra.sweeper.objective: 2 metrics but 1 directions" in result.stderr
    result = run_cli(
        ["-m", "sweep=smoke", *FAST, "hydra.sweeper.objective=eval_set/nope/preference_accuracy"], cwd=tmp_path
    )
    assert result.returncode == 2 and "error: hydra.sweeper.objective: unknown metric" in result.stderr
