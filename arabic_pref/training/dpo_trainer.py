"""DPOTrainer: the spec's API (`arabic_pref.training.dpo_trainer`), with TRL's DPOTrainer doing the DPO maths.

`train()` runs one whole, tracked DPO run, in named steps: check the arguments and claim the output folder, open
the MLflow run, build data, model and reference, log the inputs and baselines, score step 0, train, save the
model (with dpo_metadata.json) before anything else can fail, evaluate (validation, Arabic evaluation, test
split), then the model card with the metrics, push and merge, and log the outputs and learning curves. A failure
after the save (an evaluation, the reference cache on a full disk) marks the MLflow run FAILED with its reason
and leaves the saved model in place.
"""

from __future__ import annotations

import math
from typing import Any

from arabic_pref import distributed, tracking
from arabic_pref.config import DPOConfig
from arabic_pref.metadata import METADATA_FILE, build_dpo_metadata, read_dpo_metadata
from arabic_pref.plots import log_learning_curves
from arabic_pref.training.base_trainer import BaseTrainer
from arabic_pref.training.callbacks import PreferenceMetricsCallback
from arabic_pref.training.data_adapter import pair_rows
from arabic_pref.training.evaluation import PreferenceEvaluation
from arabic_pref.training.hub_push import push_saved_folder
from arabic_pref.training.loss_guard import guard_non_finite_loss
from arabic_pref.training.model_card import card_metrics
from arabic_pref.training.output_folder import claim_output_dir
from arabic_pref.training.reference import AdapterDisabledReference, restore_lora_dropout
from arabic_pref.training.resume import (
    check_resume_settings,
    checkpoint_to_resume,
    remember_run,
    remember_settings,
)
from arabic_pref.training.trl_args import TRL_ARGS_FILE, effective_params, trl_args_dict


class DPOTrainer(PreferenceEvaluation, BaseTrainer):
    """Trainer for Direct Preference Optimization (DPO): the spec's API, and the one that runs a whole tracked run.

    Three classes share the name's idea; this is ours. `trl.DPOTrainer` is TRL's, which does the DPO maths;
    `arabic_pref.training.trl_dpo.ArabicPrefDPOTrainer` is our subclass of it (reference cache, fast CPU log-probs),
    built by `create_trainer` and kept as `self.trainer`. `train()` reads as the run's story: each step a method.
    """

    def __init__(
        self,
        config: DPOConfig,
        callbacks: list | None = None,
        run_tags: dict[str, str] | None = None,
        objectives: tuple[str, ...] | None = None,
    ):
        if not isinstance(config, DPOConfig):
            raise TypeError(f"config must be a DPOConfig, got {type(config).__name__}")
        super().__init__(config, callbacks, run_tags)
        # a sweep trial's objective metrics: its Arabic evaluation computes only what these need
        self.objectives = objectives
        self.metrics_callback = PreferenceMetricsCallback(self._evaluation_metrics)
        self._claimed_output_dir: str | None = None

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
        from arabic_pref.models import resolve_model_source

        source = resolve_model_source(self.ref_model_name, key="ref_model_name")
        ref = self.load_lm(source, quantized=True, device=c.ref_model_device)
        ref.eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        self.ref_model = ref

    # --- TRL arguments and trainer ---
    def get_training_arguments(self) -> Any:
        """The trl.DPOConfig this run trains with (`arabic_pref.training.trl_args.to_trl_config`: the one road)."""
        from arabic_pref.training.trl_args import to_trl_config

        return to_trl_config(self.config)

    def create_trainer(self, dataset: Any, training_args: Any, callbacks: list | None) -> Any:
        """A configured `trl.DPOTrainer` on `dataset` ({"train", "validation"} of raw pairs)."""
        from peft import PeftModel

        from arabic_pref import fast_logprob
        from arabic_pref.training.ref_cache import reference_identity
        from arabic_pref.training.trl_dpo import ArabicPrefDPOTrainer

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
        cached_ref = reference_identity(self, training_args) if training_args.precompute_ref_log_probs else None
        self.trainer = ArabicPrefDPOTrainer(
            model=self.model,
            ref_model=None if use_base_as_ref else self.ref_model,
            args=training_args,
            train_dataset=train,
            eval_dataset=validation,
            processing_class=self.tokenizer,
            callbacks=callbacks,
            peft_config=lora_config,
            reference_identity=cached_ref,
        )
        self.logger.info("formatting: %s", ", ".join(f"{k}={v}" for k, v in sorted(self.format_counts.items())))
        self.model = self.trainer.model
        self.lora_dropout_applied = restore_lora_dropout(self.model, self.config.lora_dropout)
        if use_base_as_ref:
            self.ref_model = AdapterDisabledReference(self.model)
        if self._adapter_state is not None:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.model, self._adapter_state)
            self._adapter_state = None
        return self.trainer

    def build(self, training_args: Any = None) -> Any:
        """Data, tokenizer, model and TRL trainer, without training: what evaluation-only use needs."""
        from datasets import Dataset
        from transformers import EarlyStoppingCallback

        from arabic_pref.evaluation.runner import evaluation_callbacks
        from arabic_pref.training.callbacks import DurableCheckpointCallback, MlflowMetricsCallback

        # fields may have been assigned after construction, as the spec's examples do: check before a model loads
        training_args = training_args or self.get_training_arguments()
        data = self.data or self.load_data()
        slices = self.config.eval_slices
        dataset = {
            "train": Dataset.from_list(pair_rows(data.train)),
            "validation": Dataset.from_list(pair_rows(data.validation, slices)),
        }
        callbacks: list = [MlflowMetricsCallback()] if self.config.report_to == "mlflow" else []
        # ours first: later callbacks (the caller's, e.g. a sweep trial) see our metrics in on_evaluate
        callbacks += [self.metrics_callback, DurableCheckpointCallback(), *evaluation_callbacks(self), *self.callbacks]
        if self.config.early_stopping_patience:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=self.config.early_stopping_patience))
        return guard_non_finite_loss(self.create_trainer(dataset, training_args, callbacks))

    # --- generation ---
    def generate_comparison(self, prompt: str, max_length: int = 512, **kwargs: Any) -> dict[str, str]:
        """Trained and reference responses to `prompt` (chat template; `max_length` new tokens; stops at <|im_end|>)."""
        from arabic_pref.generation import compare

        if self.ref_model is None:
            self.setup_tokenizer()
            self.setup_reference_model()
        return compare(
            self.setup_model(), self.ref_model, self.tokenizer, prompt, self.config.system_prompt, max_length, **kwargs
        )

    # --- the whole run: one tracked DPO run, step by step ---
    def train(self) -> dict[str, Any]:
        """Train and evaluate inside one MLflow run; returns the run summary (see `_summary`)."""
        training_args = self._checked_training_args()
        if self._claimed_output_dir != self.config.output_dir:  # once per folder: a second train() continues ours
            claim_output_dir(self.config)  # another run's folder is refused (or cleared when asked), before a run opens
            check_resume_settings(self.config)  # a resumed run trains what the killed one trained
            if distributed.is_main_process():
                remember_settings(self.config)
            self._claimed_output_dir = self.config.output_dir
        with self.tracking_run() as run:
            tracked = run is not None
            self._remember_run(run)
            trainer = self.trainer or self.build(training_args)
            if tracked:
                self._log_run_inputs(trainer)
            start = self._score_step_zero(tracked)
            result = self._fit(trainer)
            self.save_model()  # the trained model first: nothing that runs after this can lose it
            try:
                _raise_cache_error(trainer)
                step = trainer.state.global_step
                eval_metrics, final = self._final_evaluation(trainer, step)  # logged by our metrics callback
                arabic_eval = _arabic_evaluation(self, step)  # gen/, drift/, eval_set/ (arabic_pref.evaluation)
                test = self._score_test_split(tracked, step)
                self.final_metrics = card_metrics(start, final, result.training_loss, eval_metrics, test)
                self._save_outputs(trainer)
                if tracked:
                    self._log_run_outputs()
            except Exception as e:
                self.logger.error("the run failed after the model was saved in %s: %s", self.output_dir, e)
                raise
        self.run_id = distributed.broadcast(self.run_id)  # every rank reports the main process's run
        return self._summary(trainer, start, final, result, eval_metrics, test) | arabic_eval

    def _checked_training_args(self) -> Any:
        """Every check, before a run or a model exists (the CLI has already run them: see arabic_pref.train). A
        trainer built earlier keeps its own arguments: building new ones would reset accelerate's shared state."""
        if self.trainer is not None:
            return self.trainer.args
        return self.training_args or self.get_training_arguments()

    def _remember_run(self, run: Any) -> None:
        """The run's id, and beside the checkpoints which run they belong to (so `resume=true` finds it)."""
        self.run_id = run.info.run_id if run is not None else None
        if self.run_id is not None:
            remember_run(self.output_dir, self.run_id, self.tracking_uri)

    def _log_run_inputs(self, trainer: Any) -> None:
        """Params (what trains), TRL's whole argument set, the data counts and the baselines on validation."""
        from arabic_pref.data.baselines import baseline_metrics

        tracking.log_params_once(self.effective_params())
        tracking.log_json_artifact(trl_args_dict(trainer.args), TRL_ARGS_FILE)
        used = {"data/train_used": len(self.data.train), "data/validation_used": len(self.data.validation)}
        baselines = baseline_metrics(self.data.train, self.data.validation, self.tokenizer)
        tracking.log_metrics(
            self.data.report.as_metrics()
            | used
            | _prefixed(self.format_counts, "data/format/")
            | baselines  # what "longer wins" and a bag of words score on validation
        )

    def _score_step_zero(self, tracked: bool) -> dict[str, float]:
        """Preference accuracy before any update: the point every later number is compared with."""
        start = self.preference_metrics(split="validation_step0")
        if tracked:
            tracking.log_metrics(start, step=0)
        self.logger.info(
            "step 0: preference_accuracy %.3f (per token %.3f; length-only baseline %.3f)",
            start["preference_accuracy"],
            start["preference_accuracy_per_token"],
            start["length_baseline_accuracy"],
        )
        return start

    def _fit(self, trainer: Any) -> Any:
        """TRL's training loop, from the checkpoint to resume when there is one."""
        result = trainer.train(resume_from_checkpoint=checkpoint_to_resume(self.config))
        if not math.isfinite(result.training_loss):
            raise FloatingPointError(f"training loss is {result.training_loss}")
        return result

    def _score_test_split(self, tracked: bool, step: int) -> dict[str, float]:
        """The held-out test split, scored once. A sweep trial does not score it at all: the sweep scores the test
        split of the trial(s) it selects, when it ends (arabic_pref.sweep.sealed_test), so no trial's test number
        can be seen, or used, while trials are compared."""
        if self.config.sweep_trial_id is not None:
            return {}
        test = self.test_metrics()
        if tracked and test:
            tracking.log_metrics(test, step=step)
        return test

    def _save_outputs(self, trainer: Any) -> None:
        """The model card with the final metrics; then the hub push and the merged model when asked for."""
        if distributed.is_main_process():
            self.write_model_card()
        push_saved_folder(trainer, self.output_dir)
        if self.config.merge_adapter and distributed.is_main_process():
            self.merge_and_save()

    def _log_run_outputs(self) -> None:
        """The metadata and the config as artifacts, and the learning curves drawn from what MLflow holds."""
        tracking.log_json_artifact(read_dpo_metadata(self.output_dir), METADATA_FILE)
        tracking.log_json_artifact(self.config.to_dict(), "config.json")
        log_learning_curves(self.tracking_uri, self.run_id)

    def _summary(
        self, trainer: Any, start: dict, final: dict, result: Any, eval_metrics: dict, test: dict
    ) -> dict[str, Any]:
        return {
            **final,
            "preference_accuracy_start": start["preference_accuracy"],
            "preference_accuracy_per_token_start": start["preference_accuracy_per_token"],
            "train_loss": result.training_loss,
            "eval_loss": eval_metrics.get("eval_loss"),
            "global_step": trainer.state.global_step,
            "learning_rate": trainer.args.learning_rate,
            "learning_rate_requested": self.config.learning_rate,
            "output_dir": str(self.output_dir),
            "mlflow_run_id": self.run_id,
            "tracking_uri": self.tracking_uri,
            "eval_metrics": eval_metrics,
            "test_metrics": test,
        }

    def effective_params(self) -> dict[str, Any]:
        """The run's MLflow params: what trained (see `arabic_pref.training.trl_args.effective_params`)."""
        args = self.trainer.args if self.trainer is not None else self.get_training_arguments()
        return effective_params(self.config, args, lora_dropout=self.lora_dropout_applied)

    def training_metadata(self) -> dict[str, Any]:
        """dpo_metadata.json: the spec's keys plus what makes the run reproducible, with effective values."""
        params = self.effective_params()
        extra = {
            "learning_rate": params["learning_rate"],
            "learning_rate_requested": params["learning_rate_requested"],
            "lora_dropout": params["lora_dropout"] if self.config.use_lora else None,
            "data_counts": self.data.report.as_metrics() if self.data else {},
            "format_counts": self.format_counts,
            "mlflow_run_id": self.run_id,
        }
        data_hash = self.data.content_hash if self.data else None
        return build_dpo_metadata(self.config, ref_model_name=self.ref_model_name, dataset_hash=data_hash, extra=extra)


def _raise_cache_error(trainer: Any) -> None:
    """A reference-cache flush that failed after training (see ArabicPrefDPOTrainer.train), now the model is saved."""
    error = getattr(trainer, "reference_cache_error", None)
    if error is not None:
        raise OSError(f"writing the reference log-prob cache failed: {error}") from error


def _arabic_evaluation(trainer: DPOTrainer, step: int) -> dict[str, float]:
    from arabic_pref.evaluation.runner import evaluation_for

    return evaluation_for(trainer).final(step)


def _prefixed(counts: dict[str, int], prefix: str) -> dict[str, int]:
    return {f"{prefix}{k}": v for k, v in counts.items()}


def create_dpo_trainer(config: DPOConfig, **kwargs: Any) -> DPOTrainer:
    """Factory of the spec: a DPOTrainer for `config` (keyword arguments: `callbacks`, `run_tags`)."""
    return DPOTrainer(config, **kwargs)


__all__ = ["BaseTrainer", "DPOTrainer", "create_dpo_trainer"]
