"""The spec's evaluation methods of a preference trainer, and the per-pair scoring under them.

Mixed into `DPOTrainer` (`arabic_pref.training.dpo_trainer`): building and training live there, everything that
scores pairs lives here. Every metric derives from one `arabic_pref.metrics.PairScores` per evaluation: during
training from the pairs of TRL's own evaluation forward (`trl_dpo.ArabicPrefDPOTrainer.eval_pair_scores`, no
second pass), otherwise from `arabic_pref.training.scoring.pair_scores`.
"""

from __future__ import annotations

from typing import Any

from arabic_pref.training.data_adapter import pair_rows


class PreferenceEvaluation:
    """Needs of the host class: `config`, `trainer`, `build()`, `data`, `tokenizer`, `_format_dataset()`,
    `metrics_callback`."""

    def compute_preference_accuracy(self, eval_dataset: Any = None) -> float:
        """Share (0-1) of pairs whose implicit reward is higher for chosen than rejected; ties count 1/2."""
        return self.preference_scores(eval_dataset)[0]

    def preference_scores(self, eval_dataset: Any = None) -> tuple[float, float]:
        """(preference accuracy, mean reward margin) of every pair of `eval_dataset` (default: validation)."""
        metrics = self.preference_metrics(eval_dataset)
        return metrics["preference_accuracy"], metrics["reward_margin"]

    def preference_metrics(self, eval_dataset: Any = None, split: str | None = None) -> dict[str, float]:
        """`arabic_pref.metrics.preference_metrics` on `eval_dataset` (default: validation), with per-slice accuracies
        for the `eval_slices` tags the dataset carries; `split` names the `pair_scores/<split>.json` artifact."""
        from arabic_pref.training.scoring import pair_scores

        trainer = self.trainer or self.build()
        dataset = self._prepare_eval(eval_dataset) if eval_dataset is not None else trainer.eval_dataset
        scores = pair_scores(trainer, dataset, relative=True)  # the metrics read policy - reference only
        return self._metrics_of(scores, dataset, split)

    def _evaluation_metrics(self) -> dict[str, float]:
        """The preference metrics of the evaluation that just ran, from the pairs of its own forward pass."""
        trainer = self.trainer
        scores = getattr(trainer, "eval_pair_scores", None)
        if not scores:  # a TRL trainer without our capture seam: score the eval set
            return self.preference_metrics(split="validation")
        dataset = getattr(trainer, "evaluated_dataset", None) or trainer.eval_dataset
        return self._metrics_of(scores, dataset if len(dataset) == len(scores) else None, "validation")

    def _metrics_of(self, scores: Any, dataset: Any, split: str | None) -> dict[str, float]:
        """Metrics with intervals (prompts resampled together) and, for a named split, the per-pair table."""
        from arabic_pref.metrics import preference_metrics, slice_metrics
        from arabic_pref.pair_records import log_pair_table, pair_table

        columns = dataset.column_names if dataset is not None else []
        prompts = _prompts(dataset) if dataset is not None else None
        tags = {t: dataset[t] for t in self.config.eval_slices if t in columns}
        metrics = preference_metrics(scores, self.config.beta, prompts) | slice_metrics(scores, tags, prompts)
        if split is not None and self.config.report_to == "mlflow":
            keys = _pair_keys(dataset, prompts) if dataset is not None else None
            step = self.trainer.state.global_step if self.trainer is not None else None
            log_pair_table(split, pair_table(scores, prompts, keys, tags, step))
        return metrics

    def score_pairs(self, eval_dataset: Any = None) -> Any:
        """Per-pair policy/reference log-probs and lengths (`arabic_pref.metrics.PairScores`), in dataset order."""
        from arabic_pref.training.scoring import pair_scores

        trainer = self.trainer or self.build()
        return pair_scores(trainer, self._prepare_eval(eval_dataset))

    def evaluate_model(self, eval_dataset: Any = None) -> dict[str, float]:
        """TRL's evaluation (eval_loss, eval_runtime, eval_samples_per_second, eval_rewards/...) in our MLflow run."""
        trainer = self.trainer or self.build()
        # TRL's evaluate tokenizes (and precomputes reference log-probs for) a dataset it is given
        formatted = None if eval_dataset is None else self._format_dataset(eval_dataset)
        with self.tracking_run():
            return trainer.evaluate(formatted)

    def _prepare_eval(self, eval_dataset: Any) -> Any:
        """Raw pairs -> the tokenized form TRL evaluates (with reference log-probs when precomputed)."""
        if eval_dataset is None or "prompt_ids" in eval_dataset.column_names:
            return eval_dataset
        from arabic_pref.upstream import trl_prepare_dataset

        trainer = self.trainer
        prepared = trl_prepare_dataset(trainer, self._format_dataset(eval_dataset), "eval")
        if trainer.precompute_ref_logps:
            batch_size = trainer.args.precompute_ref_batch_size or trainer.args.per_device_eval_batch_size
            prepared = trainer._precompute_ref_logps(prepared, "eval", batch_size)
        return prepared

    def test_metrics(self) -> dict[str, float]:
        """Preference metrics on the data's held-out `test` split as `test/<name>`; {} when it has none.

        Never used for selection: a sweep picks its best trial on validation and reports this for that trial only.
        """
        from datasets import Dataset

        if not self.data or not self.data.test:
            return {}
        rows = Dataset.from_list(pair_rows(self.data.test, self.config.eval_slices))
        return {f"test/{k}": v for k, v in self.preference_metrics(rows, split="test").items()}

    def _final_evaluation(self, trainer: Any, step: int) -> tuple[dict[str, float], dict[str, float]]:
        """TRL's eval metrics and our preference metrics at the last step; reused when training just evaluated."""
        last_eval = next((e for e in reversed(trainer.state.log_history) if "eval_loss" in e), None)
        latest = self.metrics_callback.latest
        if last_eval is not None and last_eval.get("step") == step and latest is not None and latest[0] == step:
            return {k: v for k, v in last_eval.items() if k.startswith("eval_")}, latest[1]
        metrics = trainer.evaluate()  # our callback scores the pairs and logs the preference metrics
        return {k: v for k, v in metrics.items() if k.startswith("eval_")}, self.metrics_callback.latest[1]


def _prompts(dataset: Any) -> list[Any] | None:
    """Each pair's prompt (text, else its token ids): the cluster a bootstrap resamples together."""
    if "prompt" in dataset.column_names:
        return list(dataset["prompt"])
    if "prompt_ids" in dataset.column_names:
        return [tuple(ids) for ids in dataset["prompt_ids"]]
    return None


def _pair_keys(dataset: Any, prompts: list[Any] | None) -> list[Any] | None:
    """What identifies a pair across runs: its texts (else its token ids), not its position."""
    for columns in (("prompt", "chosen", "rejected"), ("prompt_ids", "chosen_ids", "rejected_ids")):
        if all(c in dataset.column_names for c in columns):
            return [tuple(map(str, row)) for row in zip(*(dataset[c] for c in columns), strict=True)]
    return None if prompts is None else [(p, i) for i, p in enumerate(prompts)]
