"""DPOTrainer: the spec's API (`arabic_pref.training.dpo_trainer`), with TRL's DPOTrainer doing the DPO maths.

`train()` runs one whole, tracked DPO run: data checks, model, reference, preference accuracy at step 0,
TRL training, final evaluation, save with dpo_metadata.json, all inside one MLflow run.
"""

from __future__ import annotations

import math
from typing import Any

from arabic_pref import tracking
from arabic_pref.config import DPOConfig
from arabic_pref.metadata import METADATA_FILE, build_dpo_metadata, read_dpo_metadata
from arabic_pref.training.base_trainer import BaseTrainer
from arabic_pref.training.losses import trl_loss_arguments
from arabic_pref.training.reference import AdapterDisabledReference

SPEC_LR_CAP = 5e-7
DPO_LABEL_NAMES = [
    "chosen_labels",
    "rejected_labels",
    "chosen_input_ids",
    "rejected_input_ids",
    "chosen_attention_mask",
    "rejected_attention_mask",
]


class DPOTrainer(BaseTrainer):
    """Trainer for Direct Preference Optimization (DPO)."""

    def __init__(self, config: DPOConfig):
        if not isinstance(config, DPOConfig):
            raise TypeError(f"config must be a DPOConfig, got {type(config).__name__}")
        super().__init__(config)

    def _get_training_method(self) -> str:
        return "dpo"

    @property
    def ref_model_name(self) -> str:
        return self.config.ref_model_name or self.config.model_name

    # --- reference ---
    def setup_reference_model(self) -> None:
        """Frozen reference in eval mode. LoRA without a distinct reference: the policy's own base, no copy."""
        c = self.config
        if c.use_lora and c.ref_model_name is None:
            self.ref_model = AdapterDisabledReference(self.setup_model())
            return
        from arabic_pref.models import load_causal_lm, resolve_model_source

        source = resolve_model_source(self.ref_model_name, key="ref_model_name")
        ref = load_causal_lm(
            source,
            bf16=c.bf16,
            fp16=c.fp16,
            load_in_4bit=c.load_in_4bit,
            load_in_8bit=c.load_in_8bit,
            device=c.ref_model_device,
        )
        ref.eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        self.ref_model = ref

    # --- TRL arguments and trainer ---
    def get_training_arguments(self) -> Any:
        from trl import DPOConfig as TRLDPOConfig

        c = self.config
        kwargs = self.common_training_arguments()
        if not c.learning_rate_override and c.learning_rate > SPEC_LR_CAP:
            self.logger.warning(
                "learning_rate capped from %g to %g (the spec's DPO stability cap); set "
                "learning_rate_override=true to keep %g",
                c.learning_rate,
                SPEC_LR_CAP,
                c.learning_rate,
            )
            kwargs["learning_rate"] = SPEC_LR_CAP
        if c.early_stopping_patience and c.metric_for_best_model is None:
            kwargs["metric_for_best_model"] = "eval_loss"
        kwargs.update(
            remove_unused_columns=False,
            label_names=list(DPO_LABEL_NAMES),
            beta=c.beta,
            max_length=c.max_length,
            precompute_ref_log_probs=c.precompute_ref_log_probs,
            **trl_loss_arguments(c.loss_type, c.label_smoothing),
        )
        return TRLDPOConfig(**kwargs)

    def create_trainer(self, dataset: Any, training_args: Any, callbacks: list | None) -> Any:
        """A configured `trl.DPOTrainer` on `dataset` ({"train", "validation"} of raw pairs)."""
        from peft import PeftModel
        from trl import DPOTrainer as TRLDPOTrainer

        from arabic_pref import fast_logprob

        fast_logprob.install() if self.config.fast_cpu_logprob else fast_logprob.uninstall()
        self.setup_tokenizer()
        self.setup_model()
        self.setup_reference_model()
        lora_config = self.get_lora_config()
        if isinstance(self.model, PeftModel):  # restored by load_model: TRL must see the bare base (see there)
            lora_config = self.model.peft_config["default"]
            lora_config.inference_mode = False
            self.model = self.model.unload()
        self.format_counts = {}
        train = self._format_dataset(dataset["train"])
        validation = self._format_dataset(dataset["validation"]) if dataset.get("validation") is not None else None
        use_base_as_ref = isinstance(self.ref_model, AdapterDisabledReference)
        self.trainer = TRLDPOTrainer(
            model=self.model,
            ref_model=None if use_base_as_ref else self.ref_model,
            args=training_args,
            train_dataset=train,
            eval_dataset=validation,
            processing_class=self.tokenizer,
            callbacks=callbacks,
            peft_config=lora_config,
        )
        self.logger.info("formatting: %s", ", ".join(f"{k}={v}" for k, v in sorted(self.format_counts.items())))
        self.model = self.trainer.model
        if use_base_as_ref:
            self.ref_model = AdapterDisabledReference(self.model)
        if self._adapter_state is not None:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.model, self._adapter_state)
            self._adapter_state = None
        return self.trainer

    def build(self) -> Any:
        """Data, tokenizer, model and TRL trainer, without training: what evaluation-only use needs."""
        from datasets import Dataset
        from transformers import EarlyStoppingCallback

        from arabic_pref.evaluation.runner import evaluation_callbacks
        from arabic_pref.training.callbacks import EvalObjectiveCallback, MlflowMetricsCallback

        self.config.validate()  # fields may have been assigned after construction, as the spec's examples do
        data = self.data or self.load_data()
        dataset = {
            "train": Dataset.from_list(_pairs(data.train)),
            "validation": Dataset.from_list(_pairs(data.validation)),
        }
        callbacks: list = [MlflowMetricsCallback()] if self.config.report_to == "mlflow" else []
        if self.config.eval_strategy != "no":
            callbacks.append(EvalObjectiveCallback(self))
        if self.config.early_stopping_patience:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=self.config.early_stopping_patience))
        callbacks += evaluation_callbacks(self)  # Arabic evaluation at eval steps, if asked; checks its inputs
        return self.create_trainer(dataset, self.get_training_arguments(), callbacks)

    # --- evaluation ---
    def compute_preference_accuracy(self, eval_dataset: Any = None) -> float:
        """Share (0-1) of pairs whose implicit reward is higher for chosen than rejected; ties count 1/2."""
        return self.preference_scores(eval_dataset)[0]

    def preference_scores(self, eval_dataset: Any = None) -> tuple[float, float]:
        """(preference accuracy, mean reward margin) of every pair of `eval_dataset` (default: validation)."""
        metrics = self.preference_metrics(eval_dataset)
        return metrics["preference_accuracy"], metrics["reward_margin"]

    def preference_metrics(self, eval_dataset: Any = None) -> dict[str, float]:
        """Every metric of `arabic_pref.metrics.preference_metrics` on `eval_dataset` (default: validation)."""
        from arabic_pref.metrics import preference_metrics

        return preference_metrics(self.score_pairs(eval_dataset), self.config.beta)

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
        trainer = self.trainer
        prepared = trainer._prepare_dataset(self._format_dataset(eval_dataset), self.tokenizer, trainer.args, "eval")
        if trainer.precompute_ref_logps:
            batch_size = trainer.args.precompute_ref_batch_size or trainer.args.per_device_eval_batch_size
            prepared = trainer._precompute_ref_logps(prepared, "eval", batch_size)
        return prepared

    # --- generation ---
    def generate_comparison(self, prompt: str, max_length: int = 512, **kwargs: Any) -> dict[str, str]:
        """Trained and reference responses to `prompt` (chat template; `max_length` new tokens; stops at <|im_end|>)."""
        from arabic_pref.training.generation import compare

        if self.ref_model is None:
            self.setup_tokenizer()
            self.setup_reference_model()
        return compare(
            self.setup_model(), self.ref_model, self.tokenizer, prompt, self.config.system_prompt, max_length, **kwargs
        )

    # --- the whole run ---
    def train(self) -> dict[str, Any]:
        c = self.config
        with self.tracking_run() as run:
            self.run_id = run.info.run_id if run is not None else None
            trainer = self.trainer or self.build()
            if run is not None:
                tracking.log_params(c.to_dict())
                used = {"data/train_used": len(self.data.train), "data/validation_used": len(self.data.validation)}
                tracking.log_metrics(
                    self.data.report.as_metrics() | used | _prefixed(self.format_counts, "data/format/")
                )
            start_acc, start_margin = self.preference_scores()
            if run is not None:
                tracking.log_metrics({"preference_accuracy": start_acc, "reward_margin": start_margin}, step=0)
            self.logger.info("preference_accuracy at step 0: %.3f", start_acc)
            result = trainer.train()
            if not math.isfinite(result.training_loss):
                raise FloatingPointError(f"training loss is {result.training_loss}")
            step = trainer.state.global_step
            eval_metrics, final_acc, final_margin = self._final_evaluation(trainer, step)
            if run is not None:
                tracking.log_metrics({"preference_accuracy": final_acc, "reward_margin": final_margin}, step=step)
            arabic_eval = _arabic_evaluation(self, step)  # gen/, drift/, eval_set/ metrics (arabic_pref.evaluation)
            self.save_model()
            if c.merge_adapter:
                self.merge_and_save()
            if run is not None:
                tracking.log_json_artifact(read_dpo_metadata(self.output_dir), METADATA_FILE)
                tracking.log_json_artifact(c.to_dict(), "config.json")
        return {
            "preference_accuracy_start": start_acc,
            "preference_accuracy": final_acc,
            "reward_margin": final_margin,
            "train_loss": result.training_loss,
            "eval_loss": eval_metrics.get("eval_loss"),
            "global_step": step,
            "output_dir": str(self.output_dir),
            "mlflow_run_id": self.run_id,
            "tracking_uri": self.tracking_uri,
            "eval_metrics": eval_metrics,
        } | arabic_eval

    def training_metadata(self) -> dict[str, Any]:
        """dpo_metadata.json: the spec's keys plus what makes the run reproducible."""
        extra = {
            "data_counts": self.data.report.as_metrics() if self.data else {},
            "format_counts": self.format_counts,
            "mlflow_run_id": self.run_id,
        }
        data_hash = self.data.content_hash if self.data else None
        return build_dpo_metadata(self.config, ref_model_name=self.ref_model_name, dataset_hash=data_hash, extra=extra)

    def _final_evaluation(self, trainer: Any, step: int) -> tuple[dict[str, float], float, float]:
        """TRL's eval metrics and our scores at the last step; reused when training just evaluated there."""
        last_eval = next((e for e in reversed(trainer.state.log_history) if "eval_loss" in e), None)
        if last_eval is not None and last_eval.get("step") == step and self.last_scores.get("step") == step:
            metrics = {k: v for k, v in last_eval.items() if k.startswith("eval_")}
            return metrics, self.last_scores["accuracy"], self.last_scores["margin"]
        metrics = trainer.evaluate()
        return metrics, *self.preference_scores()


def _arabic_evaluation(trainer: DPOTrainer, step: int) -> dict[str, float]:
    from arabic_pref.evaluation.runner import evaluation_for

    return evaluation_for(trainer).final(step)


def _pairs(rows: list[dict]) -> list[dict]:
    return [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]


def _prefixed(counts: dict[str, int], prefix: str) -> dict[str, int]:
    return {f"{prefix}{k}": v for k, v in counts.items()}


def create_dpo_trainer(config: DPOConfig) -> DPOTrainer:
    """Factory of the spec: a DPOTrainer for `config`."""
    return DPOTrainer(config)


__all__ = ["BaseTrainer", "DPOTrainer", "create_dpo_trainer"]
