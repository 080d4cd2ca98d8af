"""Faults that used to lose work or hang a sweep (issue #24), each injected at a fixed point in real processes.

Kill points and a stale-trial verdict come from Hydra callbacks (tests/sweep_faults.py), a slowed lock from a
real SQLite write lock held by the test; every wait has a hard timeout. Storage is real (SQLite, PostgreSQL),
MLflow runs are read back with MlflowClient.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from arabic_pref.config import ConfigError
from arabic_pref.sweep.study import ERROR_ATTR, Heartbeat
from hydra_plugins.arabic_pref_optuna_sweeper.optuna_sweeper import ArabicPrefOptunaSweeperConf
from tests.test_sweep_e2e import FAST, _runs, _study

ROOT = Path(__file__).resolve().parents[1]
QUICK = [*FAST, "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3", "hydra.sweeper.pruner=null"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)  # tests.sweep_faults
    return {**env, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def _sweep(cwd: Path, *extra: str, timeout: int = 400) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "arabic_pref.train", "-m", "sweep=smoke", *QUICK, *extra]
    return subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _settings(**changes):
    return OmegaConf.merge(OmegaConf.structured(ArabicPrefOptunaSweeperConf), changes)


# --- settings: checked before the first trial -------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value",
    [
        ("n_jobs", 0),
        ("n_jobs", -1),
        ("n_trials", 0),
        ("max_failures", 0),
        ("heartbeat_interval", 0),
        ("retry_stale_trials", -1),
        ("grace_period", 20),  # not more than twice the default heartbeat_interval (10)
        ("study_name", " "),
        ("storage", "optuna.db"),
    ],
)
def test_bad_sweeper_setting_is_a_config_error_naming_the_key(key, value):
    from arabic_pref.sweep.settings import check_settings  # here: the e2e tests below also run on older code

    with pytest.raises(ConfigError) as error:
        check_settings(_settings(**{key: value}))
    assert error.value.key == f"hydra.sweeper.{key}"


def test_default_sweeper_settings_pass():
    from arabic_pref.sweep.settings import check_settings

    check_settings(_settings())


@pytest.mark.slow
@pytest.mark.parametrize("n_jobs", [0, -1])
def test_sweep_with_no_trials_per_batch_exits_2_before_any_trial(tmp_path, n_jobs):
    # before: the loop asked for min(n_jobs, free) <= 0 trials each round and slept forever (parent run RUNNING)
    result = _sweep(tmp_path, f"hydra.sweeper.n_jobs={n_jobs}", timeout=90)  # before: hung
    assert result.returncode == 2, result.stderr[-2000:]
    assert "hydra.sweeper.n_jobs" in result.stderr
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "mlflow.db").exists()  # nothing started


# --- a driver killed mid-batch ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_driver_killed_mid_batch_keeps_the_trial_that_finished(tmp_path):
    kill = ["+hydra.callbacks.kill._target_=tests.sweep_faults.KillAfterJob", "+hydra.callbacks.kill.job=0"]
    batch = ["hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2"]  # basic launcher: trials 0 then 1, in-process
    killed = _sweep(tmp_path, *batch, *kill)
    assert killed.returncode == -9, killed.stderr[-2000:]  # SIGKILL right after trial 0 returned, before trial 1
    first = _study(tmp_path).trials[0]
    assert first.state == TrialState.COMPLETE  # told by its job: before, RUNNING until the batch ended
    resumed = _sweep(tmp_path, *batch)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = _study(tmp_path).trials
    assert trials[0].params == first.params and trials[0].value == first.value  # kept, not rerun
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert ERROR_ATTR not in trials[1].user_attrs  # the trial the kill interrupted: not counted
    parents, children = _runs(tmp_path)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    states = {c.data.tags["trial_number"]: (c.data.tags["trial_state"], c.info.status) for c in children}
    assert states == {"0": ("COMPLETE", "FINISHED"), "2": ("COMPLETE", "FINISHED")}  # Optuna and MLflow agree


# --- a live trial failed as stale by another worker -------------------------------------------------------------


@pytest.mark.slow
def test_live_trial_failed_by_another_worker_is_an_outcome_not_a_crash(tmp_path):
    fail = ["+hydra.callbacks.stale._target_=tests.sweep_faults.FailTrialAtStart", "+hydra.callbacks.stale.job=0"]
    result = _sweep(tmp_path, "hydra.sweeper.n_trials=1", *fail)
    assert result.returncode == 0, result.stderr[-3000:]  # before: exit 1, UpdateFinishedTrialError in the sweep
    trials = _study(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert ERROR_ATTR not in trials[0].user_attrs  # interrupted, not a failure: the budget is not spent
    assert "marked FAIL by another worker" in result.stdout + result.stderr
    parents, children = _runs(tmp_path)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    states = {c.data.tags["trial_number"]: (c.data.tags["trial_state"], c.info.status) for c in children}
    assert states == {"0": ("FAIL", "FAILED"), "1": ("COMPLETE", "FINISHED")}


def test_telling_a_trial_another_worker_failed_returns_its_state(tmp_path):
    from arabic_pref.sweep.study import tell_outcome

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    other = optuna.load_study(study_name="s", storage=storage)  # another worker's stale check
    other._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    assert tell_outcome(study, trial, "ok", 0.5, 1) == TrialState.FAIL  # before: "Cannot tell a FAIL trial."
    assert tell_outcome(study, trial, "error", RuntimeError("x"), 1) == TrialState.FAIL
    assert ERROR_ATTR not in study.trials[0].user_attrs


def test_heartbeat_missed_under_a_lock_is_retried_at_once(tmp_path):
    """A beat whose lock wait runs out is retried within a second, not a heartbeat interval later."""
    path = tmp_path / "optuna.db"
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{path}")
    trial_id = study.ask()._trial_id
    # the storage's lock wait, shortened from 60 s so the test is short: the beat gives up after 0.2 s
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 0.2}})
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # the slowed lock: a writer holding the database
    released = threading.Event()

    def release() -> None:
        time.sleep(2.0)  # several times the 0.2 s lock wait: the first beat surely gave up
        holder.execute("COMMIT")
        released.set()

    threading.Thread(target=release, daemon=True).start()
    reader = sqlite3.connect(path, timeout=30)
    with Heartbeat(storage, [trial_id], interval=60):  # before: the next try came 60 s later
        assert released.wait(30)
        deadline = time.monotonic() + 15
        while not reader.execute("SELECT count(*) FROM trial_heartbeats").fetchone()[0]:
            assert time.monotonic() < deadline, "no heartbeat within 15 s of the lock's release"
            time.sleep(0.1)
    holder.close()
    reader.close()
