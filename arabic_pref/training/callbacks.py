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

    The per-pair log-probs come from TRL's own evaluation forward (`ArabicPrefDPOTrainer.eval_pair_scores`),
    not from a second pass; a TRL trainer without that seam falls back to scoring the eval set. Every metric of
    `arabic_pref.metrics.preference_metrics` is logged; the pair scores stay on `dpo_trainer.last_pair_scores`.
    The hooks (`DPOTrainer.evaluation_hooks`) are how a sweep trial reports its objective and gets pruned.
    """

    def __init__(self, dpo_trainer: Any):
        self.dpo_trainer = dpo_trainer

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from arabic_pref.metrics import preference_metrics

        dpo = self.dpo_trainer
        scores = getattr(dpo.trainer, "eval_pair_scores", None)
        if not scores:  # no captured pairs (another TRL trainer): score the eval set
            scores = dpo.score_pairs()
        metrics = preference_metrics(scores, dpo.config.beta)
        dpo.last_pair_scores = scores
        accuracy, margin = metrics["preference_accuracy"], metrics["reward_margin"]
        dpo.last_scores = {"step": state.global_step, "accuracy": accuracy, "margin": margin}
        if dpo.config.report_to == "mlflow":
            import mlflow

            if mlflow.active_run() is not None:
                tracking.log_metrics(metrics, step=state.global_step)
        for hook in dpo.evaluation_hooks:
            hook(state.global_step, accuracy, margin)
