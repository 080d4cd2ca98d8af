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

from transformers import TrainerCallback

from arabic_pref import tracking
from arabic_pref.secrets import mask_text
from arabic_pref.sweep.selection import CI_ATTR, KL_ATTR, MC_DROP_ATTR, MOVED_ATTR, SE_ATTR, mc_drop, se_from_interval

PARENT_RUN_ATTR = "mlflow_parent_run_id"


@dataclass
class TrialContext:
    storage_url: str
    study_name: str
    trial_id: int
    objective: str | list[str]  # several metrics: a multi-objective study (no reports, no pruning)
    pruner: Any
    n_jobs: int = 1
    prune_from_evaluation: int = 2  # evaluations before this one report but never prune
    max_mc_drop: float | None = None  # the capability guard's constraint (see TrialCallback._record)

    def may_prune(self, evaluation: int) -> bool:
        """Pruning starts at the `prune_from_evaluation`-th evaluation (1-based), whatever eval_steps is."""
        return evaluation >= self.prune_from_evaluation

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
        prune_from_evaluation=int(sweeper.get("prune_from_evaluation", 2) or 1),
        max_mc_drop=sweeper.get("max_mc_drop"),
    )


def share_cpu_threads(n_jobs: int) -> None:
    """Each of n parallel trial processes gets its share of the cores, not all of them."""
    if n_jobs > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // n_jobs))


class TrialTakenOver(RuntimeError):
    """The study no longer lets this trial report: another worker failed it as stale while it ran."""


class TrialCallback(TrainerCallback):
    """A sweep trial's side of training, as a transformers callback: report the objective at each evaluation, prune
    hopeless trials, and tag the trial's MLflow run with its final state.

    It reads the objective from the evaluation's metrics (`eval_<objective>`, put there by
    `arabic_pref.training.callbacks.PreferenceMetricsCallback`) and the run from MLflow's active run: it needs
    nothing else of the trainer.
    """

    def __init__(self, context: TrialContext):
        self.context = context
        self.study, self.trial = context.load()
        self.run_id: str | None = None
        self.tracking_uri: str | None = None
        self.evaluations = 0  # evaluations reported so far: the pruning warm-up counts these, not steps

    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import mlflow

        run = mlflow.active_run()
        if run is not None:
            self.run_id, self.tracking_uri = run.info.run_id, mlflow.get_tracking_uri()

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kwargs: Any) -> None:
        import optuna

        if len(self.context.objective_names) > 1:  # multi-objective trials cannot report or prune
            return
        metrics = metrics or {}
        value = metrics.get(f"eval_{self.context.objective}")
        if value is None:  # computed only at the end of the run (e.g. gen/ without eval_at_eval_steps)
            return
        try:
            self.trial.report(value, state.global_step)
        except optuna.exceptions.UpdateFinishedTrialError:
            # another worker failed this trial as stale while it ran: training on could no longer be told
            raise TrialTakenOver(
                f"trial {self.trial.number} was marked FAIL by another worker (heartbeats late); stopped"
            ) from None
        self.evaluations += 1
        if self.context.may_prune(self.evaluations) and self.trial.should_prune():
            raise optuna.TrialPruned(f"trial {self.trial.number} pruned at step {state.global_step} ({value:.4f})")

    def record(self, summary: dict[str, Any], config: Any) -> None:
        """What the sweep report and its selection rules need, stored on the trial (validation only: a trial
        never scores the test split, see arabic_pref.sweep.sealed_test)."""
        import contextlib

        import optuna

        # failed as stale by another worker meanwhile: finish() records that
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            self._record(summary, config)

    def _record(self, summary: dict[str, Any], config: Any) -> None:
        trial = self.trial
        trial.set_user_attr("mlflow_run_id", summary["mlflow_run_id"])
        trial.set_user_attr("output_dir", summary["output_dir"])
        trial.set_user_attr("config_beta", config.beta)
        trial.set_user_attr("loss_type", config.loss_type)
        objective = self.context.objective_names[0]
        if f"{objective}_ci_low" in summary:  # the one-SE rule's standard error
            low, high = summary[f"{objective}_ci_low"], summary[f"{objective}_ci_high"]
            trial.set_user_attr(CI_ATTR, [low, high])
            trial.set_user_attr(SE_ATTR, se_from_interval(low, high))
        for name in (MOVED_ATTR, KL_ATTR):  # the one-SE rule's measures of drift
            if summary.get(name) is not None:
                trial.set_user_attr(name, summary[name])
        if self.context.max_mc_drop is not None:  # on the live trial, before it is told: samplers read it then
            drop = mc_drop(summary)
            trial.set_user_attr(MC_DROP_ATTR, drop)
            trial.set_constraint(MC_DROP_ATTR, drop - self.context.max_mc_drop)  # feasible when <= 0

    def finish(self, kind: str, value: Any) -> str:
        """Tell the study how this trial ended, then tag its MLflow run: the trial is recorded the moment it ends,
        so a sweep process killed after it (while other trials of its batch run) does not lose it."""
        from optuna.trial import TrialState

        from arabic_pref.sweep.study import ERROR_ATTR, tell_outcome
        from arabic_pref.upstream import stored_trial

        state = tell_outcome(self.study, self.trial, kind, value, len(self.context.objective_names))
        note = None
        if state == TrialState.FAIL:  # with no error of its own: failed as stale by another worker while it ran
            attrs = stored_trial(self.study, self.trial).user_attrs
            note = None if ERROR_ATTR in attrs else "marked FAIL by another worker while running (heartbeats late)"
        self.mark_run(state.name, note=note)
        return state.name

    def mark_run(self, state: str, note: str | None = None) -> None:
        """Tag the trial's MLflow run with its Optuna state; a pruned run ends KILLED rather than FAILED."""
        if self.run_id is None:
            return
        client = tracking.client(self.tracking_uri)
        client.set_tag(self.run_id, "trial_state", state)
        if note:
            client.set_tag(self.run_id, "error", note)
        if state == "PRUNED":
            client.set_terminated(self.run_id, status="KILLED")
        elif state == "FAIL":
            client.set_terminated(self.run_id, status="FAILED")


def record_failure_without_run(
    tracking_uri: str, experiment_name: str, context: TrialContext, error: BaseException
) -> None:
    """A trial that failed before its run started (e.g. a bad sampled value) still gets a FAILED child run."""
    uri = tracking.resolve_tracking_uri(tracking_uri)
    experiment_id = tracking.ensure_experiment(experiment_name, uri)
    tags = {
        **context.mlflow_tags(),
        "trial_state": "FAIL",
        "error": mask_text(f"{type(error).__name__}: {error}")[:5000],
    }
    client = tracking.client(uri)
    run = client.create_run(experiment_id, run_name=f"t{int(tags['trial_number']):02d} failed", tags=tags)
    client.set_terminated(run.info.run_id, status="FAILED")
