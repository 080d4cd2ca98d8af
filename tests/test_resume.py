"""A run survives a crash: SIGKILL then resume, a NaN loss stops the run, Ctrl-C marks the MLflow run KILLED.

Real CLI processes on the embedded default (TRL training loop, checkpoints written by transformers, a real MLflow
SQLite store read back with MlflowClient).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from arabic_pref.config import ConfigError
from arabic_pref.train import to_dpo_config
from arabic_pref.training.resume import RUN_RECORD_FILE, checkpoint_to_resume, complete_checkpoints
from tests.conftest import SHRINK, compose, overrides_for, run_cli

# Checkpoints every 2 updates of a 10-update run; the loss is logged every update.
RESUMABLE = [*SHRINK, "max_steps=10", "save_steps=2", "max_train_samples=24"]
# A resumed run restores weights, optimizer, scheduler, RNG and data position: its final metrics equal an
# uninterrupted run's up to float rounding (measured: identical on CPU).
TOLERANCE = 1e-5


def _start_cli(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | {"PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "arabic_pref.train", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(
                f"run ended (rc {process.returncode}) before {path} appeared:\n{process.stdout.read()}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not appear in {timeout} s")
        time.sleep(0.02)


def _final_metrics(client: MlflowClient, run_id: str) -> dict[str, float]:
    metrics = client.get_run(run_id).data.metrics
    last_loss = max(client.get_metric_history(run_id, "loss"), key=lambda m: (m.step, m.timestamp))
    return {
        "eval_loss": metrics["eval_loss"],
        "preference_accuracy": metrics["preference_accuracy"],
        "reward_margin": metrics["reward_margin"],
        "loss_at_step_10": last_loss.value if last_loss.step == 10 else float("nan"),
    }


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_ends_like_an_uninterrupted_run(tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    killed_dir = tmp_path / "killed"
    process = _start_cli([*RESUMABLE, f"output_dir={killed_dir}", f"tracking_uri={store}"], tmp_path)
    _wait_for(killed_dir / "checkpoint-2" / "trainer_state.json", process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not (killed_dir / "dpo_metadata.json").exists(), "killed after the end: the test proves nothing"
    run_id = json.loads((killed_dir / RUN_RECORD_FILE).read_text())["run_id"]
    client = MlflowClient(store)
    assert client.get_run(run_id).info.status == "RUNNING"  # what SIGKILL leaves behind

    resumed = run_cli([*RESUMABLE, "resume=true", f"output_dir={killed_dir}", f"tracking_uri={store}"], tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming     from" in resumed.stdout and "checkpoint-" in resumed.stdout
    assert (killed_dir / "dpo_metadata.json").is_file()
    assert json.loads((killed_dir / "dpo_metadata.json").read_text())["mlflow_run_id"] == run_id

    whole = run_cli([*RESUMABLE, f"output_dir={tmp_path / 'whole'}", f"tracking_uri={store}"], tmp_path)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    whole_id = json.loads((tmp_path / "whole" / RUN_RECORD_FILE).read_text())["run_id"]

    experiment = client.get_experiment_by_name("arabic-pref")
    assert len(client.search_runs([experiment.experiment_id])) == 2, "the resumed run logs into the killed one"
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["resume"] == "False"  # params are logged once; the change is a tag
    assert run.data.tags["changed_on_resume.resume"] == "True"
    steps = {m.step for m in client.get_metric_history(run_id, "loss")}
    assert steps == set(range(1, 11)), "the killed and the resumed part together cover every step"
    resumed_metrics, whole_metrics = _final_metrics(client, run_id), _final_metrics(client, whole_id)
    for name, value in whole_metrics.items():
        assert resumed_metrics[name] == pytest.approx(value, abs=TOLERANCE), name


@pytest.mark.slow
def test_sigint_marks_the_mlflow_run_killed(tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "out"
    process = _start_cli(
        [*SHRINK, "max_steps=500", "save_steps=2", f"output_dir={out}", f"tracking_uri={store}"], tmp_path
    )
    _wait_for(out / "checkpoint-2" / "trainer_state.json", process)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "error: interrupted (continue with resume=true output_dir=" in output
    run_id = json.loads((out / RUN_RECORD_FILE).read_text())["run_id"]
    assert MlflowClient(store).get_run(run_id).info.status == "KILLED"


def test_nan_loss_stops_the_run_at_its_step_and_fails_the_mlflow_run(run_dirs):
    import torch

    from arabic_pref.training.dpo_trainer import create_dpo_trainer
    from arabic_pref.training.loss_guard import NonFiniteLossError

    config = to_dpo_config(compose([*overrides_for(run_dirs), "max_steps=4", "save_strategy=no"]))
    trainer = create_dpo_trainer(config)
    trl_trainer = trainer.build()
    training_forwards = []

    def poison_third_update(module, inputs, output):  # only training forwards run with gradients
        if torch.is_grad_enabled():
            training_forwards.append(1)
            if len(training_forwards) == 3:
                return output * float("nan")
        return output

    trl_trainer.model.get_input_embeddings().register_forward_hook(poison_third_update)
    with pytest.raises(NonFiniteLossError, match="training loss is nan at step 3"):
        trainer.train()
    run = MlflowClient(run_dirs["tracking_uri"]).get_run(trainer.run_id)
    assert run.info.status == "FAILED"
    assert not (Path(run_dirs["output_dir"]) / "dpo_metadata.json").exists()


def test_resume_without_a_complete_checkpoint_is_a_config_error(tmp_path: Path):
    (tmp_path / "checkpoint-4").mkdir()  # a save killed half-way: no trainer_state.json
    config = to_dpo_config(compose([f"output_dir={tmp_path}", "resume=true"]))
    assert complete_checkpoints(tmp_path) == []
    with pytest.raises(ConfigError, match="^resume: no complete checkpoint-N folder"):
        checkpoint_to_resume(config)
    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text("{}")
    assert checkpoint_to_resume(config) == str(tmp_path / "checkpoint-2")
    with pytest.raises(ConfigError, match="^resume_from_checkpoint: choose one"):
        to_dpo_config(compose([f"output_dir={tmp_path}", "resume=true", f"resume_from_checkpoint={tmp_path}"]))
