"""`python -m arabic_pref.train [overrides]`: one DPO run; `-m` runs a sweep.

`train(cfg)` is a plain function (tests call it with a composed config); `main` is the thin Hydra shim that
turns our validation errors into one clear line and exit code 2, and returns the optimized metric.
Nothing heavy is imported until the config and the data have been checked.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from arabic_pref import console
from arabic_pref.conf_store import register_configs
from arabic_pref.config import ConfigError, DPOConfig
from arabic_pref.resources import config_dir
from arabic_pref.secrets import install_log_masking, mask_file, mask_text, register_from

log = logging.getLogger("arabic_pref.train")
EXIT_CONFIG_ERROR = 2
EXIT_TRAINING_ERROR = 1
EXIT_INTERRUPTED = 130


def to_dpo_config(cfg: DictConfig | DPOConfig) -> DPOConfig:
    if isinstance(cfg, DPOConfig):
        return cfg
    return OmegaConf.to_object(cfg)  # runs DPOConfig.__post_init__ validation


def train(cfg: DictConfig | DPOConfig, trial: Any = None) -> dict[str, Any]:
    """Validate, then run one tracked DPO training; returns the run summary.

    `trial` (an `arabic_pref.sweep.trial.TrialContext`) makes it a sweep trial: its `TrialCallback` reports the
    objective at each evaluation and prunes, its tags nest the MLflow run under the sweep's parent run.
    """
    if trial is None:
        return _prepared_trainer(cfg).train()
    from arabic_pref.sweep.trial import TrialCallback, record_failure_without_run, share_cpu_threads

    share_cpu_threads(trial.n_jobs)
    callback = TrialCallback(trial)
    try:
        trainer = _prepared_trainer(
            cfg, callbacks=[callback], run_tags=trial.mlflow_tags(), objectives=trial.objective_names
        )
    except Exception as e:
        record_failure_without_run(cfg.tracking_uri, cfg.experiment_name, trial, e)
        _finish_quietly(callback, e)  # told now: a sweep killed later does not lose it
        raise
    return _train_trial(trainer, callback, trial)


def _prepared_trainer(cfg: DictConfig | DPOConfig, **trainer_kwargs: Any) -> Any:
    """A DPOTrainer whose config, data and model source were checked, before anything heavy loads."""
    config = to_dpo_config(cfg)
    from arabic_pref.distributed import align_config
    from arabic_pref.evaluation.runner import evaluation_for
    from arabic_pref.training.dpo_trainer import create_dpo_trainer

    align_config(config)  # torchrun / accelerate launch: rank 0's output_dir, settings that work across ranks
    from arabic_pref.training.output_folder import claim_output_dir

    claim_output_dir(config, clear=False)  # another run's folder: exit 2 now, not after the data and model load

    trainer = create_dpo_trainer(config, **trainer_kwargs)
    trainer.training_args = trainer.get_training_arguments()  # the one road to TRL: every check, once
    trainer.load_data()
    evaluation_for(trainer)  # eval_sets and the evaluation's prompt and text files, checked before any model loads
    trainer.resolve_model()
    from arabic_pref.training.resume import check_resume

    console.announce(trainer, check_resume(config, trainer.tracking_uri))
    return trainer


def _train_trial(trainer: Any, callback: Any, trial: Any) -> dict[str, Any]:
    """Train as a sweep trial; the outcome is told to the study and tagged on the trial's run as soon as it is
    known, here in the job, rather than by the sweep after its whole batch (arabic_pref.sweep.study)."""
    try:
        summary = trainer.train()
        value = trial.value_of(summary)
    except Exception as e:  # pruned, failed, or failed by another worker meanwhile
        _finish_quietly(callback, e)
        raise
    except BaseException:  # Ctrl-C: interrupted, not failed; the sweep marks it so
        callback.mark_run("FAIL")
        raise
    callback.record(summary, trainer.config)
    callback.finish("ok", value)
    return summary


def _finish_quietly(callback: Any, error: BaseException) -> None:
    """Tell a failed trial from the job; if that fails too, the sweep tells it, and the job's own error is the one
    the user needs to see."""
    try:
        callback.finish("error", error)
    except Exception as e:
        log.warning("could not record the trial's failure from the job (%s); the sweep will", e)


def print_summary(summary: dict[str, Any]) -> None:
    from arabic_pref.tracking import ui_command

    _print_masked(
        "\n".join(
            [
                "",
                "DPO run finished",
                "  preference_accuracy  "
                f"{summary['preference_accuracy_start']:.3f} -> {summary['preference_accuracy']:.3f}"
                f"{_ci(summary, 'preference_accuracy')}"
                f"   per token {summary['preference_accuracy_per_token_start']:.3f} -> "
                f"{summary['preference_accuracy_per_token']:.3f}{_ci(summary, 'preference_accuracy_per_token')}",
                f"  length-only baseline {summary['length_baseline_accuracy']:.3f}"
                f"{_ci(summary, 'length_baseline_accuracy')} (longer answer wins, same pairs)",
                f"  learning rate        {summary['learning_rate']:g}"
                + (
                    f" (requested {summary['learning_rate_requested']:g}, capped)"
                    if summary["learning_rate"] != summary["learning_rate_requested"]
                    else ""
                ),
                f"  train loss           {summary['train_loss']:.4f}   eval loss {summary['eval_loss']:.4f}",
                *(
                    [
                        f"  test split           {summary['test_metrics']['test/preference_accuracy']:.3f}"
                        f"{_ci(summary['test_metrics'], 'test/preference_accuracy')}   per token "
                        f"{summary['test_metrics']['test/preference_accuracy_per_token']:.3f} (held out)"
                    ]
                    if summary.get("test_metrics")
                    else []
                ),
                f"  steps                {summary['global_step']}",
                f"  model + metadata     {summary['output_dir']}",
                *(
                    [
                        f"  MLflow run           {summary['mlflow_run_id']} in {summary['tracking_uri']}",
                        f"  open the UI          {ui_command(summary['tracking_uri'])}",
                    ]
                    if summary["mlflow_run_id"] is not None  # report_to=none: nothing was tracked
                    else []
                ),
            ]
        ),
        flush=True,
    )


def _ci(metrics: dict[str, Any], name: str) -> str:
    """ " [low, high] of n pairs" (the 95% bootstrap interval over prompts), or nothing when not computed."""
    if f"{name}_ci_low" not in metrics:
        return ""
    n = metrics.get(f"{name}_n")
    pairs = f" of {int(n)} pairs" if n is not None else ""
    return f" [{metrics[f'{name}_ci_low']:.3f}, {metrics[f'{name}_ci_high']:.3f}]{pairs}"


def _print_masked(text: str, **kwargs: Any) -> None:
    print(mask_text(text), **kwargs)  # a store URL's password, a token: never on the console


def mask_hydra_outputs() -> None:
    """Hydra wrote the composed config, with every secret resolved, into the run folder (and a sweep's folder)
    before our code runs: mask them there, and in every log line from now on (arabic_pref.secrets)."""
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig

    install_log_masking()
    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    register_from(OmegaConf.to_container(hydra_cfg, resolve=False) or {})  # e.g. a sweep's storage URL
    folders = [Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir] if hydra_cfg.output_subdir else []
    folders.append(Path(hydra_cfg.sweep.dir))
    for folder in folders:
        for path in [*folder.glob("*.yaml")]:
            mask_file(path)


register_configs()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> float:
    """Returns the optimized metric (preference accuracy, or the sweep's objective) to Hydra's sweepers."""
    console.configure(verbose=cfg.verbose)
    mask_hydra_outputs()  # before anything else is written: .hydra/*.yaml, multirun.yaml, train.log, console
    trial = None
    try:
        if cfg.sweep_trial_id is not None:
            from arabic_pref.sweep.trial import context_from_hydra

            trial = context_from_hydra(cfg.sweep_trial_id)
        summary = train(cfg, trial)
    except ConfigError as e:
        log.error("invalid configuration: %s", e)
        print(f"error: {mask_text(str(e))}", file=sys.stderr, flush=True)
        if trial is not None:
            raise  # inside a sweep: the sweeper records the trial as failed and goes on
        sys.exit(EXIT_CONFIG_ERROR)
    except (FloatingPointError, KeyboardInterrupt) as e:
        if trial is not None:
            raise
        interrupted = isinstance(e, KeyboardInterrupt)
        message = f"interrupted (continue with resume=true output_dir={cfg.output_dir})" if interrupted else e
        print(f"error: {mask_text(str(message))}", file=sys.stderr, flush=True)
        sys.exit(EXIT_INTERRUPTED if interrupted else EXIT_TRAINING_ERROR)
    from arabic_pref.distributed import is_main_process

    if is_main_process():
        print_summary(summary)
    return trial.value_of(summary) if trial is not None else summary["preference_accuracy"]


if __name__ == "__main__":
    main()
