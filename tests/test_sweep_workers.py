"""Sweep workers on several "machines": one PostgreSQL study, one MLflow tracking server, a worker killed mid-trial.

Each worker is the same command a user starts on each machine (`python -m arabic_pref.train -m sweep=...
hydra.sweeper.storage=postgresql://...`), here from its own folder; they share only the database and the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.servers import mlflow_server
from tests.test_sweep_e2e import FAST  # the shortest settings that still train, evaluate once and save
from tests.test_sweep_faults import ROOT


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def _runs(uri: str) -> tuple[list, list]:
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("arabic-pref").experiment_id])
    parents = [r for r in runs if r.data.tags.get("arabic_pref.sweep") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


@pytest.mark.slow
def test_two_workers_one_killed_share_one_postgres_study_and_one_mlflow_server(tmp_path, postgres_server):
    storage = postgres_server.create_database("optuna")
    with mlflow_server(postgres_server.create_database("mlflow"), tmp_path / "artifacts") as tracking_uri:
        command = [sys.executable, "-m", "arabic_pref.train", "-m", "sweep=smoke", *FAST]
        command += ["hydra.sweeper.n_trials=3", f"hydra.sweeper.storage='{storage}'", f"tracking_uri='{tracking_uri}'"]
        command += ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=5", "hydra.sweeper.pruner=null"]
        workers, logs = [], []
        for name in ("a", "b"):  # started together: the parent-run creation races
            folder = tmp_path / name
            folder.mkdir()
            logs.append(open(folder / "worker.log", "wb"))  # noqa: SIM115
            workers.append(
                subprocess.Popen(
                    command, cwd=folder, env=_env(), stdout=logs[-1], stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        survivor, victim = workers
        victim_trial = None
        try:
            deadline = time.monotonic() + 400
            while victim_trial is None and time.monotonic() < deadline:
                time.sleep(1)
                assert victim.poll() is None and survivor.poll() is None, (tmp_path / "b" / "worker.log").read_text()
                try:
                    study = optuna.load_study(study_name="smoke", storage=storage)
                except KeyError:  # the study does not exist yet
                    continue
                for trial in study.get_trials(states=(TrialState.RUNNING,)):
                    if trial.user_attrs.get("worker", "").endswith(f":{victim.pid}") and trial.params:
                        victim_trial = trial.number
            assert victim_trial is not None, "the second worker never started a trial"
            time.sleep(3)  # mid-trial
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            assert survivor.wait(timeout=900) == 0, (tmp_path / "a" / "worker.log").read_text()[-4000:]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
            for log in logs:
                log.close()

        study = optuna.load_study(study_name="smoke", storage=storage)
        trials = study.get_trials()
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        assert len(complete) == 3  # n_trials finished in total
        # the killed trial: failed by the other worker's heartbeat check, as interrupted (not spent), not rerun
        killed = study.trials[victim_trial]
        assert killed.state == TrialState.FAIL and "error" not in killed.user_attrs
        assert [t.number for t in trials if t.state != TrialState.COMPLETE] == [victim_trial]
        assert len(trials) == 4 and all(t.state != TrialState.RUNNING for t in trials)
        assert {t.user_attrs["worker"].rsplit(":", 1)[1] for t in trials} == {str(survivor.pid), str(victim.pid)}
        # same command and sampler seed on both workers, yet no parameters drawn twice
        assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)

        parents, children = _runs(tracking_uri)
        assert len(parents) == 1  # one parent run for the study, though both workers started together
        parent = parents[0]
        assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
        done = [c for c in children if c.data.tags["trial_state"] == "COMPLETE"]
        assert sorted(int(c.data.tags["trial_number"]) for c in done) == sorted(t.number for t in complete)
        assert all(c.info.status == "FINISHED" for c in done)
        killed_runs = [c for c in children if c.data.tags["trial_number"] == str(victim_trial)]
        assert [(r.data.tags["trial_state"], r.info.status) for r in killed_runs] in ([], [("FAIL", "FAILED")])
        client = MlflowClient(tracking_uri=tracking_uri)
        for child in done:  # params, metrics and dpo_metadata.json reached the server from the workers
            assert child.data.params["loss_type"] and "preference_accuracy" in child.data.metrics
            assert "dpo_metadata.json" in {a.path for a in client.list_artifacts(child.info.run_id)}
        plots = {a.path for a in client.list_artifacts(parent.info.run_id)}
        assert {"trials.csv", "optimization_history.png", "objective_vs_beta.png"} <= plots
        assert parent.data.metrics["trials_complete"] == 3


PARENT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import optuna
    from arabic_pref.sweep import report
    from arabic_pref.sweep.coordination import study_lock
    storage, uri, barrier, n = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    study = optuna.load_study(study_name="race", storage=storage)
    (barrier / str(time.time_ns())).touch()
    while len(list(barrier.iterdir())) < n:  # every process leaves the barrier at the same moment
        time.sleep(0.01)
    with study_lock(storage, "race"):
        print(report.open_parent_run(uri, "arabic-pref", study, {"objective": "preference_accuracy"}))
    """
)


@pytest.mark.slow
def test_workers_starting_together_create_one_parent_run(tmp_path, postgres_server):
    storage = postgres_server.create_database("race")
    optuna.create_study(study_name="race", storage=storage)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("arabic-pref")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PARENT_SCRIPT, storage, uri, str(barrier), "4"],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err[-2000:] for _, err in outputs]
    run_ids = {out.strip().splitlines()[-1] for out, _ in outputs}
    parents, _ = _runs(uri)
    assert len(run_ids) == 1 and [p.info.run_id for p in parents] == list(run_ids)


@pytest.mark.slow
def test_two_workers_started_together_in_one_folder_on_a_new_study(tmp_path, postgres_server):
    """The same command started twice in the same second from one folder, on a study that does not exist yet.

    Before: one worker often exited 1 (IntegrityError: both created the storage's tables at once), and both
    numbered their jobs from 0 in the same `multirun/<date>/<time>/` folder, so two trials shared each folder.
    The barrier releases both at one moment; the fixed `hydra.sweep.dir` is what "the same second" gives.
    """
    storage = postgres_server.create_database("together")
    with mlflow_server(postgres_server.create_database("mlflow"), tmp_path / "artifacts") as tracking_uri:
        command = [sys.executable, "-m", "arabic_pref.train", "-m", "sweep=smoke", *FAST]
        command += ["hydra.sweeper.n_trials=4", f"hydra.sweeper.storage='{storage}'", f"tracking_uri='{tracking_uri}'"]
        # no worker dies here: a grace period far above any CPU-starved heartbeat gap on a loaded 2-core machine
        command += ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=60", "hydra.sweeper.pruner=null"]
        command += ["hydra.sweep.dir=multirun/together", "+hydra.callbacks.start._target_=tests.sweep_faults.Barrier"]
        command += [f"+hydra.callbacks.start.path={tmp_path / 'barrier'}", "+hydra.callbacks.start.parties=2"]
        folder = tmp_path / "launch"
        folder.mkdir()
        env = {**_env(), "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        logs = [open(folder / f"worker{i}.log", "wb") for i in range(2)]  # noqa: SIM115
        workers = [
            subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            for log in logs
        ]
        try:
            codes = [w.wait(timeout=600) for w in workers]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
            for log in logs:
                log.close()
        assert codes == [0, 0], [(folder / f"worker{i}.log").read_text()[-3000:] for i in range(2)]

        trials = optuna.load_study(study_name="smoke", storage=storage).get_trials()
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 4  # exactly the requested trials
        folders = [Path(t.user_attrs["output_dir"]) for t in trials]
        assert len(set(folders)) == 4  # one folder per trial, named by its number in the study
        assert sorted(f.name for f in folders) == ["0", "1", "2", "3"]
        assert all((f / "adapter_model.safetensors").is_file() for f in folders)  # each holds its own model
        assert {f.parent for f in folders} == {folder / "multirun" / "together"}
        parents, children = _runs(tracking_uri)
        assert len(parents) == 1 and parents[0].info.status == "FINISHED"
        assert sorted(c.data.tags["trial_number"] for c in children) == ["0", "1", "2", "3"]
        assert all((c.data.tags["trial_state"], c.info.status) == ("COMPLETE", "FINISHED") for c in children)
