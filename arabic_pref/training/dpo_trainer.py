"""DPOTrainer: the spec's API (`arabic_pref.training.dpo_trainer`), with TRL's DPOTrainer doing the DPO maths.

`train()` runs one whole, tracked DPO run: data checks, model, reference, preference accuracy at step 0,
TRL training, final evaluation, save with dpo_metadata.json, all inside one MLflow run.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from arabic_pref import tracking
from arabic_pref.config import DPOConfig
from arabic_pref.data.formatting import tokenize_and_format
from arabic_pref.metadata import build_dpo_metadata, write_dpo_metadata
from arabic_pref.training.base_trainer import BaseTrainer

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
        super().__init__(config)
        if not isinstance(config, DPOConfig):
            raise TypeError(f"config must be a DPOConfig, got {type(config).__name__}")
        self.ref_model: Any = None

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
            policy = self.setup_model()
            self.ref_model = policy  # the adapter-free base; TRL disables adapters when it scores the reference
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
        kwargs.update(
            remove_unused_columns=False,
            label_names=list(DPO_LABEL_NAMES),
            beta=c.beta,
            loss_type=c.loss_type,
            label_smoothing=c.label_smoothing,
            max_length=c.max_length,
            precompute_ref_log_probs=c.precompute_ref_log_probs,
        )
        return TRLDPOConfig(**kwargs)

    def format_dataset(self, dataset: Any) -> Any:
        """Chat template, end token and length limits (see arabic_pref.data.formatting); counts kept."""
        from datasets import Dataset

        c = self.config
        rows, counts = tokenize_and_format(
            list(dataset),
            self.setup_tokenizer(),
            max_prompt_length=c.max_prompt_length,
            max_length=c.max_length,
            system_prompt=c.system_prompt,
        )
        for key, n in counts.items():
            self.format_counts[key] = self.format_counts.get(key, 0) + n
        return Dataset.from_list(rows)

    def create_trainer(self, dataset: Any, training_args: Any, callbacks: list | None) -> Any:
        """A configured `trl.DPOTrainer` on `dataset` ({"train", "validation"} of raw pairs)."""
        from trl import DPOTrainer as TRLDPOTrainer

        from arabic_pref import fast_logprob

        fast_logprob.install() if self.config.fast_cpu_logprob else fast_logprob.uninstall()
        self.setup_model()
        self.setup_reference_model()
        self.format_counts = {}
        train = self.format_dataset(dataset["train"])
        validation = self.format_dataset(dataset["validation"]) if dataset.get("validation") is not None else None
        use_base_as_ref = self.config.use_lora and self.config.ref_model_name is None
        self.trainer = TRLDPOTrainer(
            model=self.model,
            ref_model=None if use_base_as_ref else self.ref_model,
            args=training_args,
            train_dataset=train,
            eval_dataset=validation,
            processing_class=self.tokenizer,
            callbacks=callbacks,
            peft_config=self.get_lora_config(),
        )
        self.model = self.trainer.model
        if use_base_as_ref:
            self.ref_model = self.model  # zero-copy handle: scoring it runs under disable_adapter()
        return self.trainer

    def build(self) -> Any:
        """Data, tokenizer, model and TRL trainer, without training: what evaluation-only use needs."""
        from datasets import Dataset

        from arabic_pref.training.callbacks import MlflowMetricsCallback

        data = self.data or self.load_data()
        self.setup_tokenizer()
        dataset = {
            "train": Dataset.from_list(_pairs(data.train)),
            "validation": Dataset.from_list(_pairs(data.validation)),
        }
        return self.create_trainer(dataset, self.get_training_arguments(), [MlflowMetricsCallback()])

    # --- evaluation ---
    def compute_preference_accuracy(self, eval_dataset: Any = None) -> float:
        """Share (0-1) of pairs whose implicit reward is higher for chosen than rejected; ties count 1/2."""
        from arabic_pref.metrics import preference_accuracy
        from arabic_pref.training.scoring import pair_rewards

        prepared = None if eval_dataset is None else self._prepare_eval(eval_dataset)
        chosen, rejected = pair_rewards(self.trainer or self.build(), prepared)
        return preference_accuracy(chosen, rejected)

    def evaluate_model(self, eval_dataset: Any = None) -> dict[str, float]:
        """TRL's evaluation (eval_loss, eval_runtime, eval_samples_per_second, eval_rewards/...) in our MLflow run."""
        trainer = self.trainer or self.build()
        prepared = None if eval_dataset is None else self._prepare_eval(eval_dataset)
        with self.tracking_run():
            metrics = trainer.evaluate(prepared)
        return metrics

    def _prepare_eval(self, eval_dataset: Any) -> Any:
        if "prompt_ids" in eval_dataset.column_names:
            return eval_dataset
        formatted = self.format_dataset(eval_dataset)
        return self.trainer._prepare_dataset(formatted, self.tokenizer, self.trainer.args, "eval")

    # --- the whole run ---
    def train(self) -> dict[str, Any]:
        c = self.config
        with self.tracking_run() as run:
            self.run_id = run.info.run_id if run is not None else None
            trainer = self.trainer or self.build()
            if run is not None:
                tracking.log_params(c.to_dict())
                tracking.log_metrics(self.data.report.as_metrics() | _prefixed(self.format_counts, "data/format/"))
            start_acc = self.compute_preference_accuracy()
            tracking.log_metrics({"preference_accuracy": start_acc}, step=0) if run else None
            self.logger.info("preference_accuracy at step 0: %.3f", start_acc)
            result = trainer.train()
            eval_metrics = trainer.evaluate()
            final_acc = self.compute_preference_accuracy()
            step = trainer.state.global_step
            if run is not None:
                tracking.log_metrics({"preference_accuracy": final_acc}, step=step)
            self.save_model()
            if run is not None:
                tracking.log_json_artifact(
                    json.loads((self.output_dir / "dpo_metadata.json").read_text()), "dpo_metadata.json"
                )
                tracking.log_json_artifact(c.to_dict(), "config.json")
        train_loss = result.training_loss
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss is {train_loss}")
        return {
            "preference_accuracy_start": start_acc,
            "preference_accuracy": final_acc,
            "train_loss": train_loss,
            "eval_loss": eval_metrics.get("eval_loss"),
            "global_step": step,
            "output_dir": str(self.output_dir),
            "mlflow_run_id": self.run_id,
            "tracking_uri": self.tracking_uri,
            "eval_metrics": eval_metrics,
        }

    # --- persistence ---
    def save_model(self, output_dir: str | None = None) -> None:
        """Weights (or LoRA adapter), tokenizer, generation config, then dpo_metadata.json.

        Files are written to a hidden staging folder and moved into place one by one with an atomic rename,
        metadata last: a crash leaves no half-written file, and dpo_metadata.json marks a complete save.
        """
        target = Path(output_dir or self.config.output_dir)
        target.mkdir(parents=True, exist_ok=True)
        model = self.trainer.model if self.trainer is not None else self.model
        with tempfile.TemporaryDirectory(prefix=".saving-", dir=target) as staging:
            model.save_pretrained(staging)
            self.tokenizer.save_pretrained(staging)
            generation_config = getattr(model, "generation_config", None)
            if generation_config is not None:
                generation_config.save_pretrained(staging)
            for item in sorted(Path(staging).iterdir()):
                os.replace(item, target / item.name)
        extra = {
            "data_counts": self.data.report.as_metrics() if self.data else {},
            "format_counts": self.format_counts,
            "mlflow_run_id": self.run_id,
        }
        metadata = build_dpo_metadata(
            self.config,
            ref_model_name=self.ref_model_name,
            dataset_hash=self.data.content_hash if self.data else None,
            extra=extra,
        )
        write_dpo_metadata(target, metadata)
        self.logger.info("model and dpo_metadata.json saved to %s", target)


def _pairs(rows: list[dict]) -> list[dict]:
    return [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]


def _prefixed(counts: dict[str, int], prefix: str) -> dict[str, int]:
    return {f"{prefix}{k}": v for k, v in counts.items()}


def create_dpo_trainer(config: DPOConfig) -> DPOTrainer:
    """Factory of the spec: a DPOTrainer for `config`."""
    return DPOTrainer(config)
