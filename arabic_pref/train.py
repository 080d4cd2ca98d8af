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

from arabic_pref.conf_store import register_configs
from arabic_pref.config import ConfigError, DPOConfig

log = logging.getLogger("arabic_pref.train")
EXIT_CONFIG_ERROR = 2


def to_dpo_config(cfg: DictConfig | DPOConfig) -> DPOConfig:
    if isinstance(cfg, DPOConfig):
        return cfg
    return OmegaConf.to_object(cfg)  # runs DPOConfig.__post_init__ validation


def check_training_args(config: DPOConfig) -> None:
    """Every `training_args` key must be a trl.DPOConfig field (checked before any model loads)."""
    if not config.training_args:
        return
    import dataclasses

    from trl import DPOConfig as TRLDPOConfig

    known = {f.name for f in dataclasses.fields(TRLDPOConfig)}
    unknown = sorted(set(config.training_args) - known)
    if unknown:
        raise ConfigError("training_args", f"{', '.join(unknown)} not fields of trl.DPOConfig")


def train(cfg: DictConfig | DPOConfig, trial: Any = None) -> dict[str, Any]:
    """Validate, then run one tracked DPO training; returns the run summary.

    `trial` (an `arabic_pref.sweep.trial.TrialContext`) makes it a sweep trial: nested MLflow run, objective
    reported at each evaluation, pruning, and the trial's final state tagged on the run.
    """
    if trial is None:
        return _prepared_trainer(cfg).train()
    from arabic_pref.sweep.trial import record_failure_without_run

    try:
        trainer = _prepared_trainer(cfg)
    except Exception as e:
        record_failure_without_run(cfg.tracking_uri, cfg.experiment_name, trial, e)
        raise
    return _train_trial(trainer, trial)


def _prepared_trainer(cfg: DictConfig | DPOConfig) -> Any:
    """A DPOTrainer whose config, data and model source were checked, before anything heavy loads."""
    config = to_dpo_config(cfg)
    from arabic_pref.evaluation.runner import evaluation_for
    from arabic_pref.training.dpo_trainer import create_dpo_trainer

    trainer = create_dpo_trainer(config)
    trainer.load_data()
    evaluation_for(trainer)  # eval_sets and the evaluation's prompt and text files, checked before any model loads
    trainer.resolve_model()
    check_training_args(config)
    return trainer


def _train_trial(trainer: Any, trial: Any) -> dict[str, Any]:
    """Train as a sweep trial: nested run, objective hooks, final state tagged on the run."""
    from arabic_pref.sweep.trial import TrialReporter, mark_run, record, share_cpu_threads

    share_cpu_threads(trial.n_jobs)
    trainer.extra_tags.update(trial.mlflow_tags())
    trainer.objective_metrics = trial.objective_names  # the trial's Arabic evaluation runs only what these need
    reporter = TrialReporter(trial)
    trainer.evaluation_hooks.append(reporter)
    try:
        summary = trainer.train()
    except BaseException as e:
        mark_run(trainer, "PRUNED" if type(e).__name__ == "TrialPruned" else "FAIL")
        raise
    record(reporter, trainer, summary)
    mark_run(trainer, "COMPLETE")
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    from arabic_pref.tracking import ui_command

    print(
        "\n".join(
            [
                "",
                "DPO run finished",
                "  preference_accuracy  "
                f"{summary['preference_accuracy_start']:.3f} -> {summary['preference_accuracy']:.3f}",
                f"  train loss           {summary['train_loss']:.4f}   eval loss {summary['eval_loss']:.4f}",
                f"  steps                {summary['global_step']}",
                f"  model + metadata     {summary['output_dir']}",
                f"  MLflow run           {summary['mlflow_run_id']} in {summary['tracking_uri']}",
                f"  open the UI          {ui_command(summary['tracking_uri'])}",
            ]
        ),
        flush=True,
    )


register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Returns the optimized metric (preference accuracy, or the sweep's objective) to Hydra's sweepers."""
    trial = None
    try:
        if cfg.sweep_trial_id is not None:
            from arabic_pref.sweep.trial import context_from_hydra

            trial = context_from_hydra(cfg.sweep_trial_id)
        summary = train(cfg, trial)
    except ConfigError as e:
        log.error("invalid configuration: %s", e)
        print(f"error: {e}", file=sys.stderr, flush=True)
        if trial is not None:
            raise  # inside a sweep: the sweeper records the trial as failed and goes on
        sys.exit(EXIT_CONFIG_ERROR)
    print_summary(summary)
    return trial.value_of(summary) if trial is not None else summary["preference_accuracy"]


if __name__ == "__main__":
    main()
