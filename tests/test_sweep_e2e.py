"""Real sweeps: Hydra multirun with our Optuna sweeper, SQLite Optuna storage and MLflow store, tiny default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError

from tests.conftest import run_cli

# Shortest settings that still train, evaluate once (for pruning) and save.
FAST = [
    "max_steps=2",
    "eval_steps=2",
    "max_length=64",
    "max_prompt_length=40",
    "max_train_samples=8",
    "max_eval_samples=8",
    "per_device_train_batch_size=2",
]


def _sweep(tmp_path: Path, *extra: str, timeout: int = 600) -> subprocess.CompletedProcess:
    result = run_cli(["-m", "sweep=smoke", *FAST, *extra], cwd=tmp_path, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _study(tmp_path: Path, name: str = "smoke") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/optuna.db")


def _runs(tmp_path: Path) -> tuple[list, list]:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("arabic-pref")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("arabic_pref.sweep") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


@pytest.mark.slow
def test_four_trial_sweep_nests_four_child_runs_under_one_parent(tmp_path):
    result = _sweep(tmp_path, "hydra.sweeper.n_trials=4", "hydra.sweeper.pruner=null")
    study = _study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    parents, children = _runs(tmp_path)
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    for child in children:
        assert child.data.tags["trial_state"] == "COMPLETE" and child.data.tags["study"] == "smoke"
        for metric in ("preference_accuracy", "reward_margin", "loss", "rewards/margins", "eval_loss"):
            assert metric in child.data.metrics, metric
        assert "dpo_metadata.json" in {
            a.path for a in MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").list_artifacts(child.info.run_id)
        }
    artifacts = {a.path for a in MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "optimization_history.png", "param_importances.png", "objective_vs_beta.png"} <= artifacts
    assert parent.data.metrics["trials_complete"] == 4 and "best_params" in parent.data.tags
    # selected on validation, then scored on the held-out test split; trials themselves never score it
    assert 0 <= parent.data.metrics["selected_test/preference_accuracy"] <= 1
    assert "selected_test/preference_accuracy_ci_low" in parent.data.metrics
    assert not any(k.startswith("test/") for c in children for k in c.data.metrics)
    assert not any("test" in k for t in study.trials for k in t.user_attrs)
    assert "test split   #" in result.stdout and "within noise of the best" in result.stdout
    assert "best trial   #" in result.stdout and "mlflow ui --backend-store-uri" in result.stdout
    # every trial reported an intermediate objective (what pruning needs)
    assert all(t.intermediate_values for t in study.trials)
    # beta was searched per loss type and recorded at its real value
    for t in study.trials:
        low, high = (0.05, 0.5) if t.params["loss"] == "sigmoid" else (0.1, 1.0)
        assert low <= t.user_attrs["beta"] <= high


@pytest.mark.slow
def test_killed_sweep_resumes_without_rerunning_trials(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "PYTHONUNBUFFERED": "1"}
    args = [
        sys.executable,
        "-m",
        "arabic_pref.train",
        "-m",
        "sweep=smoke",
        *FAST,
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=3",
        "hydra.sweeper.pruner=null",
    ]
    process = subprocess.Popen(
        args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 400
    try:
        while time.monotonic() < deadline:
            time.sleep(1)
            if not (tmp_path / "optuna.db").exists():
                continue
            try:
                done = [t for t in _study(tmp_path).trials if t.state == TrialState.COMPLETE]
            except (KeyError, SQLAlchemyError):  # the file exists before the study (and its tables) do
                continue
            if len(done) >= 2:
                break
        else:
            pytest.fail("the sweep never finished two trials")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    first = {t.number: t.params for t in _study(tmp_path).trials if t.state == TrialState.COMPLETE}
    time.sleep(4)  # past the grace period: the trial the kill interrupted is now stale
    _sweep(
        tmp_path,
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=3",
        "hydra.sweeper.pruner=null",
    )
    study = _study(tmp_path)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4
    assert all(study.trials[n].params == p for n, p in first.items())  # the finished ones were kept, not rerun
    interrupted = [t for t in study.trials if t.state == TrialState.FAIL]
    assert all("error" not in t.user_attrs for t in interrupted)  # marked as interrupted, not as failures
    parents, children = _runs(tmp_path)
    assert len(parents) == 1  # the rerun reused the sweep's parent run
    states = [c.data.tags["trial_state"] for c in children]
    assert states.count("COMPLETE") == 4
    assert all(c.info.status != "RUNNING" for c in children)  # the killed trial's run was closed FAILED


@pytest.mark.slow
def test_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path):
    _sweep(
        tmp_path,
        "hydra.sweeper.n_trials=2",
        "~hydra.sweeper.conditional_params.beta",
        "~hydra.sweeper.params.learning_rate",
        "~hydra.sweeper.params.loss",
        "hydra.sweeper.sampler._target_=optuna.samplers.RandomSampler",
        "hydra.sweeper.sampler.seed=0",  # proposes -1.0 first, then 1.0
        "+hydra.sweeper.params.max_grad_norm='choice(1.0,-1.0)'",  # -1 is a bad sampled value: the job raises
    )
    study = _study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]  # it went on after the failure
    assert "max_grad_norm: must be > 0" in study.trials[0].user_attrs["error"]
    _, children = _runs(tmp_path)
    states = {c.data.tags["trial_number"]: (c.data.tags["trial_state"], c.info.status) for c in children}
    assert states == {"0": ("FAIL", "FAILED"), "1": ("COMPLETE", "FINISHED")}


@pytest.mark.slow
def test_hopeless_trial_is_pruned_in_optuna_and_mlflow(tmp_path):
    _sweep(
        tmp_path,
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner",
        "~hydra.sweeper.pruner.n_startup_trials",
        "~hydra.sweeper.pruner.n_warmup_steps",
        "+hydra.sweeper.pruner.lower=1.01",  # no accuracy reaches it: pruned at the first evaluation
        "hydra.sweeper.prune_from_evaluation=1",  # the default waits for a second evaluation
    )
    study = _study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.PRUNED]
    _, children = _runs(tmp_path)
    assert len(children) == 1
    assert children[0].data.tags["trial_state"] == "PRUNED" and children[0].info.status == "KILLED"


@pytest.mark.slow
def test_two_joblib_processes_share_one_sqlite_study(tmp_path):
    _sweep(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=2",
        timeout=900,
    )
    study = _study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    parents, children = _runs(tmp_path)
    assert len(children) == 2 and {c.data.tags["trial_number"] for c in children} == {"0", "1"}
