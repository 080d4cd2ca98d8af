"""The job side of a sweep trial: find our Optuna trial, report the objective, prune, tag the MLflow run.

The sweeper passes only `sweep_trial_id=<id>` to the job; everything else (storage, study, pruner, objective,
parent MLflow run) comes from the sweeper's own config and the study's attributes in storage. So the same code
serves the basic launcher (in-process) and joblib workers (other processes): the trial is rebuilt from storage
by its id, and its intermediate values reach the pruner through the shared database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

PARENT_RUN_ATTR = "mlflow_parent_run_id"
OBJECTIVES = ("preference_accuracy", "reward_margin")  # the ones reported at each evaluation (pruning)


@dataclass
class TrialContext:
    storage_url: str
    study_name: str
    trial_id: int
    objective: str | list[str]  # several metrics: a multi-objective study (no reports, no pruning)
    pruner: Any
    n_jobs: int = 1

    @property
    def objective_names(self) -> tuple[str, ...]:
        return (self.objective,) if isinstance(self.objective, str) else tuple(self.objective)

    def value_of(self, summary: dict[str, Any]) -> Any:
        """The objective's value(s) in a run summary: a float, or a tuple for a multi-objective study."""
        from arabic_pref.sweep.objectives import objective_value

        return objective_value(summary, self.objective_names)

    def load(self) -> tuple[Any, Any]:
        """(study, trial) rebuilt from storage; the study carries the configured pruner."""
        import optuna

        from arabic_pref.sweep.study import make_storage

        study = optuna.load_study(
            study_name=self.study_name, storage=make_storage(self.storage_url), pruner=self.pruner
        )
        return study, optuna.trial.Trial(study, self.trial_id)

    def mlflow_tags(self) -> dict[str, str]:
        study, trial = self.load()
        tags = {"trial_number": str(trial.number), "study": self.study_name, "trial_state": "RUNNING"}
        parent = study.user_attrs.get(PARENT_RUN_ATTR)
        if parent:
            tags["mlflow.parentRunId"] = parent
        return tags


def context_from_hydra(trial_id: int | None) -> TrialContext | None:
    """The trial context of a job launched by our sweeper; None for a plain run."""
    if trial_id is None:
        return None
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from arabic_pref.sweep.study import resolve_storage

    hydra_cfg = HydraConfig.get()
    sweeper = hydra_cfg.sweeper
    launcher = hydra_cfg.launcher
    objective = sweeper.objective if isinstance(sweeper.objective, str) else OmegaConf.to_container(sweeper.objective)
    single = isinstance(objective, str) or len(objective) == 1
    return TrialContext(
        storage_url=resolve_storage(sweeper.storage),
        study_name=sweeper.study_name,
        trial_id=trial_id,
        objective=objective if isinstance(objective, str) else objective[0] if single else objective,
        pruner=instantiate(sweeper.pruner) if sweeper.get("pruner") and single else None,
        n_jobs=int(launcher.get("n_jobs", 1) or 1),
    )


def share_cpu_threads(n_jobs: int) -> None:
    """Each of n parallel trial processes gets its share of the cores, not all of them."""
    if n_jobs > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // n_jobs))


class TrialReporter:
    """Receives each evaluation's objective: reports it to the trial and prunes hopeless trials."""

    def __init__(self, context: TrialContext):
        self.context = context
        self.study, self.trial = context.load()

    def __call__(self, step: int, accuracy: float, margin: float) -> None:
        import optuna

        self.trial.set_user_attr("eval_reward_margin", margin)
        if self.context.objective not in OBJECTIVES:  # other metrics and multi-objective studies: no reports
            return
        value = accuracy if self.context.objective == "preference_accuracy" else margin
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"trial {self.trial.number} pruned at step {step} ({value:.4f})")


def record(reporter: TrialReporter, trainer: Any, summary: dict[str, Any]) -> None:
    """What the sweep report and the best-trial line need, stored on the trial."""
    trial, c = reporter.trial, trainer.config
    trial.set_user_attr("eval_reward_margin", summary["reward_margin"])
    trial.set_user_attr("mlflow_run_id", summary["mlflow_run_id"])
    trial.set_user_attr("output_dir", summary["output_dir"])
    trial.set_user_attr("config_beta", c.beta)
    trial.set_user_attr("loss_type", c.loss_type)


def record_failure_without_run(
    tracking_uri: str, experiment_name: str, context: TrialContext, error: BaseException
) -> None:
    """A trial that failed before its run started (e.g. a bad sampled value) still gets a FAILED child run."""
    from mlflow.tracking import MlflowClient

    from arabic_pref import tracking

    uri = tracking.resolve_tracking_uri(tracking_uri)
    experiment_id = tracking.ensure_experiment(experiment_name, uri)
    tags = {**context.mlflow_tags(), "trial_state": "FAIL", "error": f"{type(error).__name__}: {error}"[:5000]}
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(experiment_id, run_name=f"trial-{tags['trial_number']}", tags=tags)
    client.set_terminated(run.info.run_id, status="FAILED")


def mark_run(trainer: Any, state: str) -> None:
    """Tag the trial's MLflow run with its Optuna state; a pruned run ends KILLED rather than FAILED."""
    if trainer.run_id is None:
        return
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=trainer.tracking_uri)
    client.set_tag(trainer.run_id, "trial_state", state)
    if state == "PRUNED":
        client.set_terminated(trainer.run_id, status="KILLED")
