"""DPOConfig: the one typed description of a DPO run.

The same dataclass is the spec's Python API (`DPOConfig(model_name=..., beta=0.1)`) and the Hydra schema
(registered in Hydra's ConfigStore by `arabic_pref.conf_store`), so a field is declared and documented once,
here, and both paths validate it the same way in `__post_init__`. This module imports nothing heavy: a config
error must be reported before torch, trl or mlflow are imported.
"""

from __future__ import annotations

import dataclasses
import logging
import types
import typing
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

BUILTIN_MODEL = "builtin:tiny-qwen2"
BUILTIN_DATASET = "builtin:arabic-sample"
LOSS_TYPES = ("sigmoid", "hinge", "ipo")
DATA_FORMATS = ("auto", "jsonl", "json", "folder", "hf_disk")
NORMALIZE_MODES = ("none", "light", "full")
# Losses whose TRL implementation reads label_smoothing; for the others a non-zero value would be ignored.
LOSSES_USING_LABEL_SMOOTHING: tuple[str, ...] = ("sigmoid",)  # conservative DPO, see training/losses.py
RECOMMENDED_BETA = (0.01, 1.0)
RECOMMENDED_LABEL_SMOOTHING = (0.0, 0.1)
# Arabic default system prompt ("You are a helpful assistant."): short, and it stops Qwen2.5's template from
# injecting its English default system prompt.
DEFAULT_SYSTEM_PROMPT = "أنت مساعد مفيد."


class ConfigError(ValueError):
    """A configuration value is invalid; `key` names the offending field."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


def _f(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, list | dict):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class DPOConfig:
    """Configuration of one DPO run. Every field: type, default, meaning, range (in `help`)."""

    # --- model ---
    model_name: str = _f(
        BUILTIN_MODEL, "Hub id or local path of the policy model; `builtin:tiny-qwen2` is the offline default."
    )
    ref_model_name: str | None = _f(
        None, "Reference model (hub id or path); None = the base model (LoRA: adapters off)."
    )
    load_in_4bit: bool = _f(
        False, "Quantize with bitsandbytes NF4. With LoRA: QLoRA base; full fine-tune: the reference only."
    )
    load_in_8bit: bool = _f(False, "Quantize with bitsandbytes int8 (same rules as load_in_4bit; not both).")
    bf16: bool = _f(False, "bfloat16 mixed precision.")
    fp16: bool = _f(False, "float16 mixed precision (not with bf16).")
    ref_model_device: str | None = _f(None, "Device for a separately loaded reference model, e.g. 'cuda:0' or 'cpu'.")

    # --- data ---
    dataset_path: str = _f(
        BUILTIN_DATASET,
        "A .jsonl/.json file, a folder (train.jsonl, validation.jsonl) or a datasets.save_to_disk folder; "
        "`builtin:arabic-sample` ships with us.",
    )
    data_format: str = _f(
        "auto", "auto (detect), jsonl, json ({'train': [...], 'validation': [...]}), folder, hf_disk."
    )
    normalize: str = _f(
        "none", "Arabic normalization: none, light (presentation forms, tatweel), full (also harakat, alef)."
    )
    min_score_margin: float | None = _f(None, "Keep pairs with chosen_score - rejected_score >= this (None = all).")
    validation_split: float = _f(0.1, "Fraction held out for validation when the data has no validation split; (0, 1).")
    max_train_samples: int | None = _f(None, "Use at most this many training pairs (None = all); >= 1.")
    max_eval_samples: int | None = _f(None, "Use at most this many validation pairs (None = all); >= 1.")
    system_prompt: str | None = _f(
        DEFAULT_SYSTEM_PROMPT, "System message of every prompt; null = the chat template's own (Qwen2.5: English)."
    )

    # --- DPO ---
    beta: float = _f(
        0.1, "DPO temperature (KL strength); > 0, recommended 0.01-1.0. Higher stays closer to the reference."
    )
    loss_type: str = _f("sigmoid", "One of sigmoid (DPO), hinge, ipo.")
    label_smoothing: float = _f(0.0, "Conservative-DPO smoothing; [0, 0.5), recommended <= 0.1.")
    max_prompt_length: int = _f(256, "Maximum prompt tokens after the chat template; < max_length.")
    max_length: int = _f(512, "Maximum prompt + response tokens; > max_prompt_length.")

    # --- training ---
    output_dir: str = _f("./checkpoints/dpo", "Where the model, tokenizer and dpo_metadata.json are written.")
    learning_rate: float = _f(5e-7, "Peak learning rate; > 0. Capped at 5e-7 unless learning_rate_override.")
    learning_rate_override: bool = _f(False, "Keep learning_rate as given instead of capping it at 5e-7.")
    num_train_epochs: float = _f(1.0, "Epochs over the training pairs (ignored when max_steps > 0); > 0.")
    max_steps: int = _f(-1, "Optimizer updates; overrides num_train_epochs when > 0; -1 = off.")
    per_device_train_batch_size: int = _f(2, "Pairs per device per forward; >= 1.")
    per_device_eval_batch_size: int = _f(8, "Pairs per device per evaluation forward; >= 1.")
    gradient_accumulation_steps: int = _f(8, "Forwards per optimizer update; >= 1.")
    warmup_ratio: float = _f(0.0, "Share of steps for linear warm-up; [0, 1).")
    lr_scheduler_type: str = _f("linear", "transformers scheduler name (linear, cosine, constant, ...).")
    weight_decay: float = _f(0.0, "AdamW weight decay; >= 0.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm; > 0.")
    seed: int = _f(42, "Seed for model init, data split and training.")
    gradient_checkpointing: bool = _f(True, "Recompute activations in backward to save memory.")
    remove_unused_columns: bool = _f(False, "Must stay False for DPO (TRL needs the pair columns).")
    dataloader_num_workers: int = _f(0, "DataLoader worker processes; >= 0.")
    dataloader_pin_memory: bool = _f(True, "Pin host memory for faster GPU transfer.")
    ddp_find_unused_parameters: bool | None = _f(None, "DDP find_unused_parameters (multi-GPU).")
    logging_steps: int = _f(10, "Log train metrics every N updates; >= 1.")
    precompute_ref_log_probs: bool = _f(
        True, "Score the reference once before training (exact; no reference forward per step)."
    )
    fast_cpu_logprob: bool = _f(
        True, "On CPU, score only completion tokens with arabic_pref's LM-head path (same values)."
    )

    # --- evaluation and saving ---
    eval_strategy: str = _f("no", "When to evaluate during training: no, steps, epoch. (Always evaluated at the end.)")
    evaluation_strategy: str | None = _f(None, "Old transformers name of eval_strategy; mapped onto it.")
    eval_steps: int | None = _f(None, "Updates between evaluations when eval_strategy=steps; >= 1.")
    save_strategy: str = _f("steps", "When to write checkpoints during training: no, steps, epoch.")
    save_steps: int = _f(500, "Updates between checkpoints when save_strategy=steps; >= 1.")
    save_total_limit: int | None = _f(None, "Keep at most this many checkpoints; >= 1.")
    load_best_model_at_end: bool = _f(False, "Reload the best checkpoint (by metric_for_best_model) at the end.")
    metric_for_best_model: str | None = _f(None, "Metric that picks the best checkpoint, e.g. eval_loss.")
    early_stopping_patience: int | None = _f(
        None, "Stop after this many evaluations without improving metric_for_best_model (default eval_loss); >= 1."
    )

    # --- LoRA ---
    use_lora: bool = _f(True, "Train LoRA adapters (reference = base with adapters off) instead of all weights.")
    lora_r: int = _f(16, "LoRA rank; >= 1.")
    lora_alpha: int = _f(32, "LoRA scaling numerator; >= 1.")
    lora_dropout: float = _f(0.1, "LoRA dropout; [0, 1).")
    merge_adapter: bool = _f(False, "Also write the LoRA adapter merged into a full model, to output_dir/merged.")
    lora_target_modules: list[str] = _f(
        ["q_proj", "v_proj", "k_proj", "o_proj"],
        "Module names that get adapters, in Llama/Qwen names (translated per architecture, e.g. GPT-2 c_attn); "
        "an `all-linear` entry = every linear layer but the LM head.",
    )

    # --- tracking ---
    report_to: str = _f("mlflow", "mlflow or none.")
    run_name: str | None = _f(None, "MLflow run name (None = generated).")
    tracking_uri: str | None = _f(
        None, "MLflow store; None -> $MLFLOW_TRACKING_URI -> sqlite:///mlflow.db in the launch folder."
    )
    experiment_name: str = _f("arabic-pref", "MLflow experiment.")

    sweep_trial_id: int | None = _f(None, "Set by the Optuna sweeper on the jobs it launches; leave null.")

    # --- pass-through ---
    training_args: dict[str, Any] = _f({}, "Extra trl.DPOConfig fields not named above, passed through unchanged.")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Type and cross-field checks; rerun by the trainer because the spec's examples assign fields later."""
        _check_types(self)
        if self.evaluation_strategy is not None:
            self.eval_strategy = self.evaluation_strategy
        _check_values(self)
        _warn_outside_recommended(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_help() -> dict[str, str]:
    """Field name -> documentation, for the README's config reference and `--help`-style listings."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(DPOConfig)}


def _check_types(cfg: DPOConfig) -> None:
    hints = typing.get_type_hints(DPOConfig)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        expected = hints[f.name]
        allowed = typing.get_args(expected) if isinstance(expected, types.UnionType) else (expected,)
        if value is None and type(None) in allowed:
            continue
        origin = [typing.get_origin(a) or a for a in allowed if a is not type(None)][0]
        if origin is float and isinstance(value, int) and not isinstance(value, bool):
            setattr(cfg, f.name, float(value))
            continue
        ok = isinstance(value, origin) and not (origin is int and isinstance(value, bool))
        if origin is list:
            ok = ok and all(isinstance(v, str) for v in value)
        if origin is dict:
            ok = isinstance(value, dict) or hasattr(value, "items")
        if not ok:
            raise ConfigError(f.name, f"expected {_type_name(expected)}, got {value!r} ({type(value).__name__})")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) if isinstance(tp, type) else str(tp).replace("NoneType", "None")


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(key, message)


def _check_values(c: DPOConfig) -> None:
    _require(c.beta > 0, "beta", f"must be > 0, got {c.beta}")
    _require(c.loss_type in LOSS_TYPES, "loss_type", f"must be one of {', '.join(LOSS_TYPES)}; got {c.loss_type!r}")
    _require(0 <= c.label_smoothing < 0.5, "label_smoothing", f"must be in [0, 0.5), got {c.label_smoothing}")
    _require(
        c.label_smoothing == 0 or c.loss_type in LOSSES_USING_LABEL_SMOOTHING,
        "label_smoothing",
        f"loss_type={c.loss_type!r} ignores label smoothing; set label_smoothing=0 "
        f"(losses that use it: {', '.join(LOSSES_USING_LABEL_SMOOTHING) or 'none'})",
    )
    _require(c.max_length >= 2, "max_length", f"must be >= 2, got {c.max_length}")
    _require(
        0 < c.max_prompt_length < c.max_length,
        "max_prompt_length",
        f"must be > 0 and < max_length ({c.max_length}), got {c.max_prompt_length}",
    )
    _require(c.lora_r > 0, "lora_r", f"must be >= 1, got {c.lora_r}")
    _require(c.lora_alpha > 0, "lora_alpha", f"must be >= 1, got {c.lora_alpha}")
    _require(0 <= c.lora_dropout < 1, "lora_dropout", f"must be in [0, 1), got {c.lora_dropout}")
    _require(not c.use_lora or bool(c.lora_target_modules), "lora_target_modules", "must not be empty with use_lora")
    _require(c.learning_rate > 0, "learning_rate", f"must be > 0, got {c.learning_rate}")
    _require(c.max_steps == -1 or c.max_steps > 0, "max_steps", f"must be -1 (off) or >= 1, got {c.max_steps}")
    _require(c.num_train_epochs > 0, "num_train_epochs", f"must be > 0, got {c.num_train_epochs}")
    _require(
        c.data_format in DATA_FORMATS, "data_format", f"must be one of {', '.join(DATA_FORMATS)}; got {c.data_format!r}"
    )
    _require(
        c.normalize in NORMALIZE_MODES, "normalize", f"must be one of {', '.join(NORMALIZE_MODES)}; got {c.normalize!r}"
    )
    _require(0 < c.validation_split < 1, "validation_split", f"must be in (0, 1), got {c.validation_split}")
    _require(0 <= c.warmup_ratio < 1, "warmup_ratio", f"must be in [0, 1), got {c.warmup_ratio}")
    _require(c.max_grad_norm > 0, "max_grad_norm", f"must be > 0, got {c.max_grad_norm}")
    for key in (
        "per_device_train_batch_size",
        "per_device_eval_batch_size",
        "gradient_accumulation_steps",
        "logging_steps",
        "save_steps",
    ):
        _require(getattr(c, key) >= 1, key, f"must be >= 1, got {getattr(c, key)}")
    for key in ("max_train_samples", "max_eval_samples", "eval_steps", "save_total_limit", "early_stopping_patience"):
        value = getattr(c, key)
        _require(value is None or value >= 1, key, f"must be >= 1 or null, got {value}")
    _require(not (c.load_in_4bit and c.load_in_8bit), "load_in_8bit", "choose one of load_in_4bit and load_in_8bit")
    _require(not (c.bf16 and c.fp16), "fp16", "choose one of bf16 and fp16")
    _require(c.report_to in ("mlflow", "none"), "report_to", f"must be mlflow or none, got {c.report_to!r}")
    for key in ("eval_strategy", "save_strategy"):
        value = getattr(c, key)
        _require(value in ("no", "steps", "epoch"), key, f"must be no, steps or epoch, got {value!r}")
    _require(c.eval_strategy != "steps" or c.eval_steps is not None, "eval_steps", "required when eval_strategy=steps")
    _require(
        c.early_stopping_patience is None or c.eval_strategy != "no",
        "early_stopping_patience",
        "needs evaluations during training: set eval_strategy=steps (with eval_steps) or epoch",
    )
    _require(not c.merge_adapter or c.use_lora, "merge_adapter", "only applies with use_lora=true")
    if c.load_best_model_at_end:
        _require(c.eval_strategy != "no", "load_best_model_at_end", "needs eval_strategy steps or epoch")
        _require(
            c.save_strategy == c.eval_strategy,
            "save_strategy",
            f"must equal eval_strategy ({c.eval_strategy!r}) with load_best_model_at_end, got {c.save_strategy!r}",
        )
        _require(
            c.eval_strategy != "steps" or c.save_steps % (c.eval_steps or 1) == 0,
            "save_steps",
            f"must be a multiple of eval_steps ({c.eval_steps}) with load_best_model_at_end, got {c.save_steps}",
        )
    clash = sorted(set(c.training_args) & {f.name for f in dataclasses.fields(c)})
    _require(not clash, "training_args", f"{', '.join(clash)} are top-level fields; set them directly")


def _warn_outside_recommended(c: DPOConfig) -> None:
    low, high = RECOMMENDED_BETA
    if not low <= c.beta <= high:
        log.warning("beta=%s is outside the recommended range %s-%s", c.beta, low, high)
    low, high = RECOMMENDED_LABEL_SMOOTHING
    if not low <= c.label_smoothing <= high:
        log.warning("label_smoothing=%s is outside the recommended range %s-%s", c.label_smoothing, low, high)


def markdown_reference() -> str:
    """The README's configuration table, generated from the fields: `python -m arabic_pref.config`."""
    hints = typing.get_type_hints(DPOConfig)
    lines = ["| field | type | default | meaning, range |", "|---|---|---|---|"]
    for f in dataclasses.fields(DPOConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kind = _type_name(hints[f.name]).replace(" | None", " or null")
        shown = "null" if default is None else default
        lines.append(f"| `{f.name}` | {kind} | `{shown}` | {f.metadata['help'].replace('|', '/')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_reference())
