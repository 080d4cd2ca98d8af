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
