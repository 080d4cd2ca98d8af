"""One DPO run across two CPU processes (torchrun, gloo) against the same run in one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_cli

# Two processes x batch 2 = one process x batch 4: the same global batch, so the same updates. 5 validation pairs
# do not divide by 2 processes: the per-pair scores must still count each pair once. LoRA dropout off: its masks
# come from per-process random streams.
COMMON = [
    "max_steps=2",
    "max_length=64",
    "max_prompt_length=40",
    "max_train_samples=16",
    "max_eval_samples=5",
    "per_device_eval_batch_size=2",
    "gradient_accumulation_steps=1",
    "logging_steps=1",
    "lora_dropout=0",
    "learning_rate=5e-3",
    "learning_rate_override=true",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args: list[str], cwd: Path, nproc: int = 2, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    command += ["--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "arabic_pref.train", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def _only_run(uri: str):
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("arabic-pref").experiment_id])
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return client, runs[0]


def _history(client: MlflowClient, run_id: str, key: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


@pytest.mark.slow
def test_two_torchrun_processes_match_one_process_with_the_same_global_batch(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    single = run_cli(
        [*COMMON, "per_device_train_batch_size=4", f"output_dir={one / 'out'}"],
        cwd=one,
        env={"OMP_NUM_THREADS": "1"},
    )
    assert single.returncode == 0, single.stderr[-3000:]
    # no output_dir: each process's Hydra run folder is named by its own clock; rank 0's must be used by all
    multi = _torchrun([*COMMON, "per_device_train_batch_size=2"], cwd=two)
    assert multi.returncode == 0, (multi.stdout + multi.stderr)[-5000:]

    assert multi.stdout.count("DPO run finished") == 1  # the summary is printed by the main process only
    saved = list((two / "outputs").rglob("dpo_metadata.json"))
    assert len(saved) == 1, saved
    out = saved[0].parent
    assert (out / "adapter_model.safetensors").is_file() and (out / "generation_config.json").is_file()
    assert not list(out.glob(".saving-*")) and not (out / "training_args.bin").exists()

    client_one, run_one = _only_run(f"sqlite:///{one / 'mlflow.db'}")
    client_two, run_two = _only_run(f"sqlite:///{two / 'mlflow.db'}")
    assert run_two.info.status == "FINISHED"
    metadata = json.loads(saved[0].read_text())
    assert metadata["mlflow_run_id"] == run_two.info.run_id
    # reference log-probs precomputed under two processes: rank 0 fills arabic-pref's on-disk cache, the other
    # rank reads it (plain TRL crashes here: its precompute file is per process for an in-memory dataset)
    assert run_two.data.params["precompute_ref_log_probs"] == "True"
    assert run_two.data.params["output_dir"] == str(out)
    assert {a.path for a in client_two.list_artifacts(run_two.info.run_id)} >= {"dpo_metadata.json", "config.json"}

    # same updates: per-step losses and the final train loss agree to float32 reduction order (rel 1e-4)
    losses_one = _history(client_one, run_one.info.run_id, "loss")
    losses_two = _history(client_two, run_two.info.run_id, "loss")
    assert len(losses_two) == 2 and losses_two == pytest.approx(losses_one, rel=1e-4)
    assert run_two.data.metrics["train_loss"] == pytest.approx(run_one.data.metrics["train_loss"], rel=1e-4)
    # per-pair scores gathered across both processes: all 5 pairs, each once (a duplicate would make k/6)
    accuracy_one = _history(client_one, run_one.info.run_id, "preference_accuracy")
    accuracy_two = _history(client_two, run_two.info.run_id, "preference_accuracy")
    assert accuracy_two == accuracy_one and accuracy_two[0] == 0.5
    margins_one = _history(client_one, run_one.info.run_id, "reward_margin")
    margins_two = _history(client_two, run_two.info.run_id, "reward_margin")
    assert margins_two == pytest.approx(margins_one, rel=1e-4, abs=1e-6)
    # drift passes split between the ranks and summed: every validation pair's chosen answer once (rank 0's shard
    # alone holds 3 of the 5 pairs), and each held-out text once
    drift_one, drift_two = run_one.data.metrics, run_two.data.metrics
    assert drift_two["drift/kl_tokens"] == drift_one["drift/kl_tokens"] > 0
    for key in ("drift/kl_per_token", "drift/ppl_policy", "drift/ppl_reference", "drift/ppl_ratio"):
        assert drift_two[key] == pytest.approx(drift_one[key], rel=1e-3, abs=1e-7), key
