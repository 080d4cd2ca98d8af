"""One Arabic evaluation of the policy against its reference, logged to the run's MLflow run.

`DPOTrainer` calls `evaluation_for(self)` three times: while building (which checks `eval_sets`, the prompt and
held-out files before any model loads, and returns the callback for `eval_at_eval_steps`), and once after the
final evaluation, `final(step)`, whose metrics go into the run summary (what a sweep objective reads).
A sweep trial runs only the parts its objective names, unless `eval_in_sweep_trials=true`.

Metrics: `gen/...` (generations, table `eval/generations.json`), `drift/kl_per_token`, `drift/ppl_ratio`,
`eval_set/<name>/...`, `mc/<name>/...` (the capability guard, `multiple_choice.py`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from transformers import TrainerCallback

from arabic_pref import tracking
from arabic_pref.evaluation import names
from arabic_pref.evaluation.eval_sets import load_eval_sets
from arabic_pref.evaluation.multiple_choice import load_mc_sets

GENERATIONS_TABLE = "eval/generations.json"
log = logging.getLogger("arabic_pref.evaluation")


class ArabicEvaluation:
    def __init__(self, dpo: Any):
        from arabic_pref.evaluation.drift import load_heldout_texts
        from arabic_pref.evaluation.generations import load_prompts

        self.dpo = dpo
        c = dpo.config
        self.eval_sets = load_eval_sets(c.eval_sets, c.normalize, c.max_eval_samples)
        self.mc_sets = load_mc_sets(c.eval_mc_sets)
        self.prompts = load_prompts(c.eval_prompts_path)  # both small: checked even when off, so a trial that
        self.heldout = load_heldout_texts(c.eval_heldout_path)  # needs them for its objective finds them good
        self._reference_answers: Any = None  # the reference is frozen: answered once per run
        self._kl_rows: Any = None
        self._last: dict[str, Any] = {}

    @property
    def parts(self) -> set[str]:
        """The parts this run computes: those switched on, or on a sweep trial those its objective needs."""
        c = self.dpo.config
        parts = {names.EVAL_SETS} if c.eval_sets else set()
        if c.eval_mc_sets:
            parts.add(names.MC)
        if c.eval_generations:
            parts.add(names.GENERATIONS)
        if c.eval_drift:
            parts |= {names.KL, names.PERPLEXITY}
        objective = self.dpo.objectives  # a sweep trial's objective metrics (None for a plain run)
        if objective is not None and not c.eval_in_sweep_trials:  # listed eval_sets count as asked for
            parts = names.parts_needed(objective) | (parts & {names.EVAL_SETS, names.MC})
        return parts

    def run(self, step: int) -> dict[str, float]:
        """Every enabled part at `step`; metrics logged to the active MLflow run, and returned."""
        dpo = self.dpo
        started = time.perf_counter()
        metrics: dict[str, float] = {}
        table = None
        if names.GENERATIONS in self.parts:
            table, generation = self._generations(step)
            metrics |= generation
        if names.KL in self.parts:
            from arabic_pref.evaluation.drift import chosen_rows, kl_metrics

            if self._kl_rows is None:
                self._kl_rows = chosen_rows(dpo.trainer)
            metrics |= kl_metrics(dpo.model, dpo.ref_model, self._kl_rows)
        if names.PERPLEXITY in self.parts:
            from arabic_pref.evaluation.drift import perplexity_ratio

            metrics |= perplexity_ratio(dpo.model, dpo.ref_model, dpo.tokenizer, self.heldout)
        if names.EVAL_SETS in self.parts:
            from arabic_pref.evaluation.eval_sets import score_eval_set

            for eval_set in self.eval_sets:
                metrics |= score_eval_set(dpo, eval_set)
        if names.MC in self.parts:
            from arabic_pref.evaluation.multiple_choice import score_mc_set

            mc_started = time.perf_counter()
            for mc_set in self.mc_sets:
                metrics |= score_mc_set(dpo, mc_set)
            metrics["eval/mc_seconds"] = time.perf_counter() - mc_started  # the guard's cost (BENCHMARKS.md)
        if metrics:
            metrics["eval/arabic_seconds"] = time.perf_counter() - started
            self._log(step, metrics, table)
            log.info("Arabic evaluation at step %d: %s", step, _brief(metrics))
        self._last = {"step": step, "metrics": metrics}
        return metrics

    def final(self, step: int) -> dict[str, float]:
        """The evaluation at the last step (reused when an evaluation during training already ran there)."""
        if self._last.get("step") == step:
            return self._last["metrics"]
        return self.run(step)

    def _generations(self, step: int) -> tuple[dict[str, list], dict[str, float]]:
        from arabic_pref.chat_format import render_prompt
        from arabic_pref.evaluation.generations import generate_batch, generation_metrics, generation_table

        dpo, c = self.dpo, self.dpo.config
        texts = [render_prompt(dpo.tokenizer, p["prompt"], c.system_prompt) for p in self.prompts]
        settings = dict(batch_size=c.per_device_eval_batch_size, **c.eval_generation_kwargs)
        policy = generate_batch(dpo.model, dpo.tokenizer, texts, c.eval_max_new_tokens, **settings)
        if self._reference_answers is None:
            self._reference_answers = generate_batch(
                dpo.ref_model, dpo.tokenizer, texts, c.eval_max_new_tokens, **settings
            )
        reference = self._reference_answers
        return generation_table(self.prompts, policy, reference, step), generation_metrics(
            policy, reference, c.eval_max_new_tokens
        )

    def _log(self, step: int, metrics: dict[str, float], table: dict[str, list] | None) -> None:
        import mlflow

        if self.dpo.config.report_to != "mlflow" or mlflow.active_run() is None:
            return
        tracking.log_metrics(metrics, step=step)
        if table is not None:
            mlflow.log_table(data=table, artifact_file=GENERATIONS_TABLE)  # appends: one row per prompt and step


class ArabicEvaluationCallback(TrainerCallback):
    """`eval_at_eval_steps=true`: the Arabic evaluation after each of TRL's evaluations too."""

    def __init__(self, evaluation: ArabicEvaluation):
        self.evaluation = evaluation

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kwargs: Any) -> None:
        found = self.evaluation.run(state.global_step)
        if metrics is not None:  # later callbacks (a sweep trial's pruning) read them as eval_<name>
            metrics.update({f"eval_{name}": value for name, value in found.items()})


def evaluation_for(dpo: Any) -> ArabicEvaluation:
    """The trainer's evaluation, created (and its inputs checked) on first use."""
    evaluation = getattr(dpo, "_arabic_evaluation", None)
    if evaluation is None:
        evaluation = ArabicEvaluation(dpo)
        dpo._arabic_evaluation = evaluation
    return evaluation


def evaluation_callbacks(dpo: Any) -> list:
    evaluation = evaluation_for(dpo)
    return [ArabicEvaluationCallback(evaluation)] if dpo.config.eval_at_eval_steps and evaluation.parts else []


def _brief(metrics: dict[str, float]) -> str:
    keys = ("gen/arabic_share", "gen/length_ratio", "gen/repetition", "drift/kl_per_token", "drift/ppl_ratio")
    return ", ".join(f"{k}={metrics[k]:.3f}" for k in keys if k in metrics) or f"{len(metrics)} metrics"
