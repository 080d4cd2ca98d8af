"""The checks every DPOConfig passes, on the Python API and the CLI alike: types, ranges, cross-field rules.

Kept apart from the field declarations (`arabic_pref.config`) so each reads on its own; like them, nothing heavy
is imported here: a config error is reported before torch, trl or mlflow load. Each failure is a `ConfigError`
naming the key, which the CLI turns into one line and exit code 2.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import types
import typing
from pathlib import Path
from typing import Any

from arabic_pref.config_rules import LEARNING_RATE_WARN, check_rules, is_metric_name
from arabic_pref.errors import ConfigError
from arabic_pref.loss_checks import LOSS_TYPES, LOSSES_USING_LABEL_SMOOTHING, check_loss  # noqa: F401  (re-exported)

log = logging.getLogger("arabic_pref.config")

BUILTIN_MODEL = "builtin:tiny-qwen2"
BUILTIN_DATASET = "builtin:arabic-sample"
DATA_FORMATS = ("auto", "jsonl", "json", "folder", "hf_disk", "parquet", "csv", "hub")
NORMALIZE_MODES = ("none", "light", "full")
RECOMMENDED_BETA = (0.01, 1.0)
# The spec's learning-rate cap: a larger learning_rate trains at this value unless learning_rate_override.
SPEC_LR_CAP = 5e-7
RECOMMENDED_LABEL_SMOOTHING = (0.0, 0.1)
# Arabic default system prompt ("You are a helpful assistant."): short, and it stops Qwen2.5's template from
# injecting its English default system prompt.
DEFAULT_SYSTEM_PROMPT = "أنت مساعد مفيد."
EVAL_SETS_KEY = "eval_sets"
# an eval set's name becomes part of metric names (eval_set/NAME/...) and of nothing else
EVAL_SET_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# tokens a pair needs beyond its prompt: at least a few answer tokens and the end-of-turn token
MIN_COMPLETION_TOKENS = 4


def learning_rate_is_capped(config: Any) -> bool:
    return not config.learning_rate_override and config.learning_rate > SPEC_LR_CAP


def effective_learning_rate(config: Any) -> float:
    """The peak learning rate a run trains with: the spec's 5e-7 cap applies unless `learning_rate_override`."""
    return SPEC_LR_CAP if learning_rate_is_capped(config) else float(config.learning_rate)


def check_types(cfg: Any) -> None:
    hints = typing.get_type_hints(type(cfg))
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
            raise ConfigError(f.name, f"expected {type_name(expected)}, got {value!r} ({type(value).__name__})")


def type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) if isinstance(tp, type) else str(tp).replace("NoneType", "None")


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(key, message)


def check_values(c: Any) -> None:
    check_rules(c)  # every field: its kind and range (arabic_pref.config_rules)
    _require(
        c.max_length - c.max_prompt_length >= MIN_COMPLETION_TOKENS,
        "max_prompt_length",
        f"must leave at least {MIN_COMPLETION_TOKENS} tokens of max_length ({c.max_length}) for the answer, "
        f"got {c.max_prompt_length}",
    )
    _require(c.beta > 0, "beta", f"must be > 0, got {c.beta}")
    check_loss(c)  # each loss's own parameters: arabic_pref/loss_checks.py
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
    _require(
        c.test_split is None or 0 < c.test_split < 1, "test_split", f"must be in (0, 1) or null, got {c.test_split}"
    )
    _require(
        c.test_split is None or c.test_split + c.validation_split < 1,
        "test_split",
        f"test_split + validation_split must be < 1, got {c.test_split} + {c.validation_split}",
    )
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
    _require(
        not (c.merge_adapter and (c.load_in_4bit or c.load_in_8bit)),
        "merge_adapter",
        "cannot merge into a 4/8-bit quantized base; train in bf16/fp32 to merge, or merge later from a full base",
    )
    _require(
        c.use_lora or c.ref_model_name is not None or not (c.load_in_4bit or c.load_in_8bit),
        "load_in_4bit" if c.load_in_4bit else "load_in_8bit",
        "with full fine-tuning (use_lora=false) only the reference would be quantized, so at step 0 the implicit "
        "reward would be log pi_full - log pi_quantized instead of 0; use LoRA (QLoRA) or name a distinct "
        "ref_model_name",
    )
    _require(
        not c.remove_unused_columns, "remove_unused_columns", "must stay false for DPO (TRL needs the pair columns)"
    )
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
    _require(
        not (c.resume and c.resume_from_checkpoint),
        "resume_from_checkpoint",
        "choose one of resume=true (last checkpoint of output_dir) and resume_from_checkpoint=PATH",
    )
    _require(c.eval_max_new_tokens >= 1, "eval_max_new_tokens", f"must be >= 1, got {c.eval_max_new_tokens}")
    parse_eval_set_entries(c.eval_sets)
    _require(
        "hub_token" not in c.training_args,
        "training_args",
        "hub_token is not accepted (it would be saved with the run: training_args.bin, logs); log in once with "
        "`huggingface-cli login` or set the environment variable HF_TOKEN",
    )
    _require(
        str(c.training_args.get("hub_strategy", "every_save")) in ("every_save", "end"),
        "training_args",
        "hub_strategy checkpoint/all_checkpoints would upload optimizer state and training arguments; "
        "arabic-pref pushes the model folder only: use every_save or end",
    )
    clash = sorted(set(c.training_args) & {f.name for f in dataclasses.fields(c)})
    _require(not clash, "training_args", f"{', '.join(clash)} are top-level fields; set them directly")


def warn_outside_recommended(c: Any) -> None:
    low, high = RECOMMENDED_BETA
    if not low <= c.beta <= high:
        log.warning("beta=%s is outside the recommended range %s-%s", c.beta, low, high)
    if c.learning_rate_override and c.learning_rate > LEARNING_RATE_WARN:
        log.warning(
            "learning_rate=%g is far above DPO's usual range (<= %g) and kept (learning_rate_override): "
            "expect the loss to diverge",
            c.learning_rate,
            LEARNING_RATE_WARN,
        )
    low, high = RECOMMENDED_LABEL_SMOOTHING
    if not low <= c.label_smoothing <= high:
        log.warning("label_smoothing=%s is outside the recommended range %s-%s", c.label_smoothing, low, high)


def parse_eval_set_entries(entries: list[str]) -> list[tuple[str, str]]:
    """(name, path) of each entry; ConfigError for an empty entry, a bad or repeated name."""
    parsed = []
    for entry in entries:
        name, sep, path = entry.partition("=")
        if not sep:
            name, path = Path(entry).stem, entry
        name, path = name.strip(), path.strip()
        if not path:
            raise ConfigError(EVAL_SETS_KEY, f"entry {entry!r} has no path (use PATH or NAME=PATH)")
        if not EVAL_SET_NAME.match(name) or not is_metric_name(name):
            raise ConfigError(
                EVAL_SETS_KEY,
                f"name {name!r} of {entry!r}: use letters, digits, '_', '-' and '.' only, "
                "starting with a letter or digit, no '..'",
            )
        if name in {n for n, _ in parsed}:
            raise ConfigError(EVAL_SETS_KEY, f"name {name!r} is used twice; give one as NAME=PATH")
        parsed.append((name, path))
    return parsed
