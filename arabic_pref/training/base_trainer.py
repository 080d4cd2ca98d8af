"""BaseTrainer: what every preference trainer shares, around a TRL trainer that does the maths.

Loading the tokenizer and model (LoRA, QLoRA), reading and formatting the data, the training arguments
common to all methods, the train -> evaluate -> save sequence, and one MLflow run that holds all of it.
Subclasses (DPOTrainer) name their method, their reference model and their TRL trainer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from arabic_pref import distributed, tracking
from arabic_pref.config import DPOConfig
from arabic_pref.data import PreferenceData, load_preference_data
from arabic_pref.data.loading import load_settings
from arabic_pref.metadata import METADATA_FILE, read_dpo_metadata, write_dpo_metadata
from arabic_pref.models import load_causal_lm, load_tokenizer, resolve_model_source
from arabic_pref.run_names import run_name_for
from arabic_pref.training.data_adapter import DataLoaderAdapter
from arabic_pref.training.reference import AdapterDisabledReference
from arabic_pref.training.resume import run_to_resume

log = logging.getLogger(__name__)


class BaseTrainer:
    def __init__(self, config: DPOConfig, callbacks: list | None = None, run_tags: dict[str, str] | None = None):
        self.config = config
        # transformers.TrainerCallback objects for the TRL trainer: how a caller (e.g. a sweep trial) plugs into
        # training. They run after ours, so `on_evaluate` sees our preference metrics as `eval_<name>`.
        self.callbacks = list(callbacks or [])
        self.run_tags = dict(run_tags or {})  # extra MLflow tags, e.g. a sweep trial's parent run and number
        self.logger = logging.getLogger(f"arabic_pref.{type(self).__name__}")
        self.model: Any = None
        self.tokenizer: Any = None
        self.trainer: Any = None  # the TRL trainer, once created
        self.data: PreferenceData | None = None
        self.format_counts: dict[str, int] = {}
        self.model_source: str | None = None
        self.run_id: str | None = None
        self.ref_model: Any = None
        self._adapter_state: dict | None = None  # weights of an adapter restored by load_model
        self.data_loader = DataLoaderAdapter(self)
        self.tracking_uri = tracking.resolve_tracking_uri(config.tracking_uri)
        self.lora_dropout_applied: float | None = None  # what the LoRA layers apply once TRL has built the model
        self.training_args: Any = None  # the trl.DPOConfig of the run, once checked (see DPOTrainer.train)

    # --- identity ---
    def _get_training_method(self) -> str:
        raise NotImplementedError

    # --- loading ---
    def load_data(self) -> PreferenceData:
        c = self.config
        self.data = load_preference_data(c.dataset_path, **load_settings(c))
        if c.max_train_samples:
            self.data.train = self.data.train[: c.max_train_samples]
        if c.max_eval_samples:
            self.data.validation = self.data.validation[: c.max_eval_samples]
            self.data.test = self.data.test[: c.max_eval_samples]
        self.logger.info("data %s: %s", self.data.source, self.data.report.summary())
        if c.max_train_samples or c.max_eval_samples:
            self.logger.info("using %d train and %d validation pairs", len(self.data.train), len(self.data.validation))
        return self.data

    def resolve_model(self) -> str:
        if self.model_source is None:
            from arabic_pref.models import check_device

            check_device(self.config.ref_model_device)  # a device that is not there: before any model loads
            self.model_source = resolve_model_source(self.config.model_name)
        return self.model_source

    def setup_tokenizer(self) -> Any:
        if self.tokenizer is None:
            from arabic_pref.training.fingerprint import register_fast_tokenizer_hashing

            self.tokenizer = load_tokenizer(self.resolve_model())
            register_fast_tokenizer_hashing(self.tokenizer)
        return self.tokenizer

    def setup_model(self) -> Any:
        """Load the policy. With LoRA, quantization applies to it (QLoRA); without, to the reference only."""
        if self.model is None:
            c = self.config
            quantize = c.use_lora
            self.model = self.load_lm(self.resolve_model(), quantized=quantize)
            if quantize and (c.load_in_4bit or c.load_in_8bit):
                from peft import prepare_model_for_kbit_training

                from arabic_pref.upstream import keep_bnb_cpu_layout_trainable

                keep_bnb_cpu_layout_trainable(self.model)  # see there: bitsandbytes repacks CPU weights for eval

                self.model = prepare_model_for_kbit_training(
                    self.model, use_gradient_checkpointing=c.gradient_checkpointing
                )
        return self.model

    def load_lm(self, source: str, *, quantized: bool, device: str | None = None) -> Any:
        """A causal LM in the config's dtype, 4/8-bit when `quantized` and the config asks for it."""
        c = self.config
        return load_causal_lm(
            source,
            bf16=c.bf16,
            fp16=c.fp16,
            load_in_4bit=quantized and c.load_in_4bit,
            load_in_8bit=quantized and c.load_in_8bit,
            device=device,
        )

    def get_lora_config(self) -> Any:
        c = self.config
        if not c.use_lora:
            return None
        from peft import LoraConfig

        from arabic_pref.lora_targets import resolve_target_modules

        return LoraConfig(
            r=c.lora_r,
            lora_alpha=c.lora_alpha,
            lora_dropout=c.lora_dropout,
            target_modules=resolve_target_modules(c.lora_target_modules, self.setup_model()),
            task_type="CAUSAL_LM",
        )

    # --- training arguments shared by every method ---
    def common_training_arguments(self) -> dict[str, Any]:
        """TrainingArguments every preference method shares (see arabic_pref.training.trl_args)."""
        from arabic_pref.training.trl_args import training_arguments

        return training_arguments(self.config)

    # --- tracking ---
    def tracking_tags(self) -> dict[str, str]:
        c = self.config
        return {
            "model": c.model_name,
            "loss_type": c.loss_type,
            "dataset": c.dataset_path,
            "training_method": self._get_training_method(),
            "use_lora": str(c.use_lora),
            **self.run_tags,
        }

    def tracking_run(self) -> Any:
        """Open this trainer's MLflow run: a new one the first time, the same one afterwards."""
        import contextlib

        import mlflow

        c = self.config
        if c.report_to != "mlflow" or not distributed.is_main_process():  # one run, opened by the main process
            return contextlib.nullcontext()
        if mlflow.active_run() is not None and self.run_id == mlflow.active_run().info.run_id:
            return contextlib.nullcontext(mlflow.active_run())
        self.run_id = self.run_id or run_to_resume(c)
        if self.run_id is not None:
            mlflow.set_tracking_uri(self.tracking_uri)
            return tracking.reopened_run(self.run_id)
        name = run_name_for(c, self.run_tags.get("trial_number"))
        return tracking.mlflow_run(self.tracking_uri, c.experiment_name, name, self.tracking_tags())

    # --- data shaping shared by every method ---
    def _add_format_counts(self, counts: dict[str, int]) -> None:
        for key, n in counts.items():
            self.format_counts[key] = self.format_counts.get(key, 0) + n

    def _format_dataset(self, dataset: Any) -> Any:
        """Chat template, end token and length limits (see arabic_pref.data.formatting); counts kept."""
        columns = [c for c in dataset.column_names if c not in ("prompt", "chosen", "rejected")]
        return dataset.map(
            self.data_loader.tokenize_and_format,
            batched=True,
            remove_columns=columns,
            load_from_cache_file=False,
            desc="Formatting pairs",
        )

    def training_metadata(self) -> dict[str, Any]:
        raise NotImplementedError

    # --- persistence ---
    def save_model(self, output_dir: str | None = None) -> None:
        """Weights (or LoRA adapter), tokenizer, generation config, then the metadata file (atomic, last)."""
        from arabic_pref.secrets import mask_text
        from arabic_pref.training.model_card import CARD_FILE, model_card_for
        from arabic_pref.training.persistence import publish_pretrained, publish_with_trainer

        target = Path(output_dir or self.config.output_dir)
        metadata = self.training_metadata()
        card = {CARD_FILE: mask_text(model_card_for(self, metadata))}
        if distributed.is_distributed() and self.trainer is not None:
            publish_with_trainer(self.trainer, target, card)  # every rank joins; only the main process writes
            if not distributed.is_main_process():
                return
        else:
            model = self.trainer.model if self.trainer is not None else self.model
            publish_pretrained(model, self.tokenizer, target, card)
        write_dpo_metadata(target, metadata)
        self.logger.info("model and %s saved to %s", METADATA_FILE, target)

    def write_model_card(self) -> None:
        """Rewrite the saved model's card (README.md) with what is known now: the final metrics once evaluated."""
        from arabic_pref.metadata import atomic_write_text
        from arabic_pref.secrets import mask_text
        from arabic_pref.training.model_card import CARD_FILE, model_card_for

        card = model_card_for(self, read_dpo_metadata(self.output_dir))
        atomic_write_text(self.output_dir / CARD_FILE, mask_text(card))

    def merge_and_save(self, output_dir: str | None = None) -> Path:
        """Write the adapter merged into a full model (default: output_dir/merged), for serving without PEFT."""
        from arabic_pref.training.persistence import merged_copy, publish_pretrained

        target = Path(output_dir) if output_dir else self.output_dir / "merged"
        merged = merged_copy(self.trainer.model if self.trainer is not None else self.model)
        publish_pretrained(merged, self.tokenizer, target)
        self.logger.info("merged full model saved to %s", target)
        return target

    def load_model(self, path: str) -> None:
        """Restore a saved run (adapter or full model) for evaluation and generation."""
        from arabic_pref.training.persistence import adapter_base_name, is_adapter_folder

        folder = Path(path)
        metadata = read_dpo_metadata(folder) if (folder / METADATA_FILE).is_file() else {}
        c = self.config
        self.tokenizer = load_tokenizer(str(folder))
        self.trainer = None
        if is_adapter_folder(folder):
            from peft import PeftModel, get_peft_model_state_dict

            c.use_lora, c.model_name = True, adapter_base_name(folder, metadata)
            self.model_source = None
            base = self.load_lm(self.resolve_model(), quantized=True)
            self.model = PeftModel.from_pretrained(base, str(folder))
            # TRL would treat a loaded adapter as the reference; create_trainer rebuilds it on the bare base
            self._adapter_state = get_peft_model_state_dict(self.model)
            self.ref_model = AdapterDisabledReference(self.model)
        else:
            c.use_lora = False
            c.ref_model_name = metadata.get("ref_model_name") or c.ref_model_name
            self.model = self.load_lm(str(resolve_model_source(str(folder))), quantized=False)
            self.ref_model = None
        self.logger.info("restored %s from %s", "adapter" if c.use_lora else "model", folder)

    @property
    def output_dir(self) -> Path:
        return Path(self.config.output_dir)
