"""The launcher configs we ship parse and validate with their own tools (accelerate, Hydra + submitit).

DeepSpeed and NCCL cannot run here (CI never builds DeepSpeed: it ships as source and its build pulls a CUDA
torch), so these stop at what `accelerate launch` computes before it starts processes: the validated arguments
and the environment each process would get.
"""

from __future__ import annotations

import pytest
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

from tests.conftest import ROOT, compose

EXPECTED = {
    "ddp": {"ACCELERATE_MIXED_PRECISION": "bf16"},
    "deepspeed_zero2": {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"},
    "deepspeed_zero3": {
        "ACCELERATE_USE_DEEPSPEED": "true",
        "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3",
        "ACCELERATE_DEEPSPEED_ZERO3_INIT": "true",
        "ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL": "true",
    },
    "fsdp": {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_STATE_DICT_TYPE": "FULL_STATE_DICT"},
}


def test_every_shipped_accelerate_config_is_tested():
    assert {p.stem for p in (ROOT / "conf" / "accelerate").glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_accelerate_config_validates_and_yields_the_launch_environment(name):
    path = ROOT / "conf" / "accelerate" / f"{name}.yaml"
    parser = launch_command_parser()
    args = parser.parse_args(["--config_file", str(path), "-m", "arabic_pref.train", "max_steps=2"])
    args, defaults, mixed_precision_from_config = _validate_launch_command(args)
    assert args.num_processes == 8 and args.mixed_precision == "bf16" and args.module
    if args.use_deepspeed:  # what `accelerate launch` does before its DeepSpeed launcher
        fields = list(defaults.deepspeed_config)
        args.deepspeed_fields_from_accelerate_config = ",".join(fields + ["mixed_precision"])
        _, env = prepare_deepspeed_cmd_env(args)  # one machine: torch.distributed.run starts the processes
    else:
        assert args.multi_gpu or args.use_fsdp
        env = prepare_multi_gpu_env(args)
    for key, value in EXPECTED[name].items():
        assert env.get(key) == value, (key, env.get(key))


def test_slurm_launcher_config_composes_on_submitit():
    compose(["hydra/launcher=slurm"], shrink=False)  # registers our schema as the CLI does
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.gpus_per_node == 1 and launcher.timeout_min == 120


@pytest.mark.slow
def test_sweep_trials_run_as_submitit_jobs_with_its_local_executor(tmp_path):
    """The SLURM launcher's plugin, with submitit's local executor: trials run as submitted jobs."""
    import optuna
    from mlflow.tracking import MlflowClient
    from optuna.trial import TrialState

    from tests.conftest import run_cli

    result = run_cli(
        ["-m", "sweep=smoke", "max_steps=2", "eval_steps=2", "max_length=64", "max_prompt_length=40"]
        + ["max_train_samples=8", "max_eval_samples=8", "per_device_train_batch_size=2"]
        + ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=15", "hydra.sweeper.n_trials=1"]
        + ["hydra.sweeper.pruner=null"],
        cwd=tmp_path,
        timeout=900,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    study = optuna.load_study(study_name="smoke", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]
    assert list(tmp_path.rglob(".submitit/*/*_result.pkl"))  # the trial ran as a submitit job
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("arabic-pref").experiment_id])
    assert sorted(r.data.tags.get("trial_state", "parent") for r in runs) == ["COMPLETE", "parent"]
