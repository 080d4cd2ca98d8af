"""Trainer callbacks of ours, attached to the TRL trainer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

from arabic_pref import tracking


class MlflowMetricsCallback(TrainerCallback):
    """Streams the trainer's logged metrics (TRL names: loss, rewards/accuracies, eval_loss, ...) to the active run."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        import mlflow

        if logs and mlflow.active_run() is not None:
            tracking.log_metrics(logs, step=state.global_step)


class PreferenceMetricsCallback(TrainerCallback):
    """After each evaluation: our preference metrics (`arabic_pref.metrics`), logged to the active MLflow run and
    added to the evaluation's metrics as `eval_<name>`.

    Transformers hands the same metrics dict to every later callback and to `metric_for_best_model`, so early
    stopping, best-checkpoint selection and a sweep trial's pruning (`arabic_pref.sweep.trial.TrialCallback`) all
    read `eval_preference_accuracy` & co. from there: the one interface between training and its observers.
    """

    def __init__(self, score: Callable[[], dict[str, float]]):
        self.score = score
        self.latest: tuple[int, dict[str, float]] | None = None  # (step, metrics) of the last evaluation

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kwargs: Any) -> None:
        import mlflow

        scores = self.score()
        self.latest = (state.global_step, scores)
        if mlflow.active_run() is not None:
            tracking.log_metrics(scores, step=state.global_step)
        if metrics is not None:
            metrics.update({f"eval_{name}": value for name, value in scores.items()})


class DurableCheckpointCallback(TrainerCallback):
    """After each checkpoint save: `trainer_state.json` (the "complete checkpoint" marker, written last) and its
    folder are synced to disk, so a power loss cannot leave a marker that names weights which never reached it."""

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import os
        from pathlib import Path

        from arabic_pref.training.resume import CHECKPOINT_MARKER

        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        marker = folder / CHECKPOINT_MARKER
        if not marker.is_file():
            return
        for path, flags in ((marker, os.O_RDONLY), (folder, os.O_RDONLY), (folder.parent, os.O_RDONLY)):
            fd = os.open(path, flags)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
