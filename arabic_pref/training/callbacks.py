"""Trainer callbacks of ours, attached to the TRL trainer."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from arabic_pref import tracking


class MlflowMetricsCallback(TrainerCallback):
    """Streams the trainer's logged metrics (TRL names: loss, rewards/accuracies, eval_loss, ...) to the active run."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        import mlflow

        if logs and mlflow.active_run() is not None:
            tracking.log_metrics(logs, step=state.global_step)


class EvalObjectiveCallback(TrainerCallback):
    """After each evaluation: preference accuracy and mean reward margin, logged and passed to the hooks.

    The hooks (`DPOTrainer.evaluation_hooks`) are how a sweep trial reports its objective and gets pruned.
    """

    def __init__(self, dpo_trainer: Any):
        self.dpo_trainer = dpo_trainer

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        accuracy, margin = self.dpo_trainer.preference_scores()
        self.dpo_trainer.last_scores = {"step": state.global_step, "accuracy": accuracy, "margin": margin}
        if self.dpo_trainer.config.report_to == "mlflow":
            import mlflow

            if mlflow.active_run() is not None:
                metrics = {"preference_accuracy": accuracy, "reward_margin": margin}
                tracking.log_metrics(metrics, step=state.global_step)
        for hook in self.dpo_trainer.evaluation_hooks:
            hook(state.global_step, accuracy, margin)
