"""The one road from our `DPOConfig` to TRL's: `to_trl_config(config) -> trl.DPOConfig`.

Every value TRL trains with is derived here, once: our field names mapped onto transformers/TRL names, the spec's
learning-rate cap, the loss (cDPO as a weighted pair of TRL losses, see losses.py), DPO's label names, CPU/GPU
settings, and the pass-through `training_args` (checked against TRL's fields). The CLI and the Python API both
call it before any model loads, and what it returns is what is logged as the run's effective configuration
(`effective_params` -> MLflow params, `trl_args_dict` -> the `trl_args.json` artifact), so a recorded value is
the value that trained.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from arabic_pref.config import DPOConfig
from arabic_pref.config_checks import SPEC_LR_CAP, effective_learning_rate, learning_rate_is_capped
from arabic_pref.errors import ConfigError
from arabic_pref.training.losses import trl_loss_arguments

log = logging.getLogger(__name__)

TRL_ARGS_FILE = "trl_args.json"
DPO_LABEL_NAMES = [
    "chosen_labels",
    "rejected_labels",
    "chosen_input_ids",
    "rejected_input_ids",
    "chosen_attention_mask",
    "rejected_attention_mask",
]
# trl.DPOConfig fields that shape a run and that users compare across runs: logged as `trl.<name>` params.
COMPARED_TRL_FIELDS = (
    "loss_type",
    "loss_weights",
    "label_smoothing",
    "ld_alpha",
    "use_weighting",
    "f_divergence_type",
    "warmup_steps",
    "optim",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "precompute_ref_log_probs",
    "disable_dropout",
    "truncation_mode",
    "use_cpu",
    "bf16",
    "fp16",
)


def training_arguments(config: DPOConfig) -> dict[str, Any]:
    """The transformers TrainingArguments every preference method shares, from our field names."""
    import torch

    c = config
    cuda = torch.cuda.is_available()
    return {
        "output_dir": c.output_dir,
        "learning_rate": effective_learning_rate(c),
        "num_train_epochs": c.num_train_epochs,
        "max_steps": c.max_steps,
        "per_device_train_batch_size": c.per_device_train_batch_size,
        "per_device_eval_batch_size": c.per_device_eval_batch_size,
        "gradient_accumulation_steps": c.gradient_accumulation_steps,
        "warmup_steps": c.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the total steps
        "lr_scheduler_type": c.lr_scheduler_type,
        "weight_decay": c.weight_decay,
        "max_grad_norm": c.max_grad_norm,
        "seed": c.seed,
        "data_seed": c.seed,
        "gradient_checkpointing": c.gradient_checkpointing,
        "remove_unused_columns": False,  # DPO needs the pair columns; config validation refuses True
        "bf16": c.bf16,
        "fp16": c.fp16,
        "use_cpu": not cuda,
        "dataloader_num_workers": c.dataloader_num_workers,
        "dataloader_pin_memory": c.dataloader_pin_memory and cuda,
        "ddp_find_unused_parameters": c.ddp_find_unused_parameters,
        "logging_steps": c.logging_steps,
        "logging_first_step": True,
        "eval_strategy": c.eval_strategy,
        "eval_steps": c.eval_steps,
        "save_strategy": c.save_strategy,
        "save_steps": c.save_steps,
        "save_total_limit": c.save_total_limit,
        "load_best_model_at_end": c.load_best_model_at_end,
        "metric_for_best_model": c.metric_for_best_model or ("eval_loss" if c.early_stopping_patience else None),
        "report_to": "none",  # MLflow is driven by arabic_pref.tracking, see there why
        "run_name": c.run_name,
    }


def dpo_arguments(config: DPOConfig) -> dict[str, Any]:
    """The DPO-specific trl.DPOConfig fields."""
    c = config
    return {
        "label_names": list(DPO_LABEL_NAMES),
        "beta": c.beta,
        "max_length": c.max_length,
        "precompute_ref_log_probs": c.precompute_ref_log_probs,
        **trl_loss_arguments(c.loss_type, c.label_smoothing, c.sft_weight),
        "ld_alpha": c.ld_alpha,
        "use_weighting": c.use_weighting,
        "f_divergence_type": c.f_divergence_type,
        "f_alpha_divergence_coef": c.f_alpha_divergence_coef,
        "discopop_tau": c.discopop_tau,
    }


# trl.DPOConfig fields (TRL 1.16, read in trl/trainer/dpo_trainer.py) that change which reference the log-probs are
# measured against, so that our per-pair metrics (policy log-prob minus reference log-prob, ties 1/2) would no longer
# describe what trains: TR-DPO moves the reference during training (sync_ref_model, ref_model_mixup_alpha,
# ref_model_sync_steps), so log-ratios of different steps are against different references and cached ones go stale.
# The modifiers that reweight the log-probs (ld_alpha, use_weighting, f_divergence_type) are top-level fields whose
# metrics follow TRL (arabic_pref.loss_checks); through `training_args` they are refused as derived.
# A value equal to TRL's default changes nothing and passes.
LOGPROB_CHANGING_FIELDS = ("sync_ref_model", "ref_model_mixup_alpha", "ref_model_sync_steps")


def check_pass_through(config: DPOConfig) -> None:
    """Every `training_args` key must be a trl.DPOConfig field, must not shadow a value derived here, and must not
    change what the log-probs our metrics read mean (LOGPROB_CHANGING_FIELDS)."""
    from trl import DPOConfig as TRLDPOConfig

    fields = {f.name: f for f in dataclasses.fields(TRLDPOConfig)}
    unknown = sorted(set(config.training_args) - set(fields))
    if unknown:
        raise ConfigError("training_args", f"{', '.join(unknown)} not fields of trl.DPOConfig")
    derived = sorted(set(config.training_args) & (set(dpo_arguments(config)) | {"learning_rate", "output_dir"}))
    if derived:
        raise ConfigError("training_args", f"{', '.join(derived)} are set from top-level fields; set those instead")
    for name in LOGPROB_CHANGING_FIELDS:
        if name in config.training_args and config.training_args[name] != fields[name].default:
            raise ConfigError(
                f"training_args.{name}",
                f"{name}={config.training_args[name]!r} changes what the log-probs mean (TRL default "
                f"{fields[name].default!r}); our preference metrics (summed log pi - log pi_ref per pair, ties 1/2) "
                "would then not describe what trains, so it is refused",
            )


def to_trl_config(config: DPOConfig) -> Any:
    """The trl.DPOConfig a run trains with. Raises ConfigError (naming the key) on anything TRL would refuse."""
    from trl import DPOConfig as TRLDPOConfig

    config.ensure_valid()
    check_pass_through(config)
    if learning_rate_is_capped(config):
        log.warning(
            "learning_rate capped from %g to %g (the spec's DPO stability cap); set learning_rate_override=true to "
            "keep %g. MLflow and dpo_metadata.json record %g as learning_rate, %g as learning_rate_requested.",
            config.learning_rate,
            SPEC_LR_CAP,
            config.learning_rate,
            SPEC_LR_CAP,
            config.learning_rate,
        )
    kwargs = training_arguments(config) | dpo_arguments(config) | dict(config.training_args)
    try:
        return TRLDPOConfig(**kwargs)
    except (ValueError, TypeError) as e:  # TRL/transformers cross-field checks: name the pass-through as the key
        raise ConfigError("training_args", f"trl.DPOConfig refused the arguments: {e}") from None


def trl_args_dict(trl_args: Any) -> dict[str, Any]:
    """JSON-safe dict of every field of the trl.DPOConfig that trained (the `trl_args.json` artifact)."""
    return json.loads(json.dumps(trl_args.to_dict(), default=str))


def effective_params(config: DPOConfig, trl_args: Any, *, lora_dropout: float | None = None) -> dict[str, Any]:
    """MLflow params: every config field with the value that trained, plus the requested values that differ.

    `learning_rate` is the effective peak learning rate (after the cap) and `learning_rate_requested` what was
    asked; `lora_dropout` is the dropout the LoRA layers actually apply. MLflow params cannot be rewritten, so
    this is decided before anything is logged.
    """
    params = config.to_dict()
    params["learning_rate_requested"] = config.learning_rate
    params["learning_rate"] = trl_args.learning_rate
    if lora_dropout is not None:
        params["lora_dropout"] = lora_dropout
    args = trl_args.to_dict()
    for name in COMPARED_TRL_FIELDS:
        if name in args:
            params[f"trl.{name}"] = args[name]
    params["effective_batch_size"] = (
        trl_args.per_device_train_batch_size * trl_args.gradient_accumulation_steps * max(trl_args.world_size, 1)
    )
    return params
