"""One rule per DPOConfig field: what kind of value it is and the range it must lie in, checked the same way.

Before this table a bad value surfaced wherever it was first used: `beta=inf` as NaN losses, `seed=-1` as a numpy
traceback, `weight_decay=-1` inside the optimizer, each only after the model had loaded. Here every field is
declared once with its kind (number, choice, name, path, device, ...) and every value is checked by the same
code when a DPOConfig is built, before anything heavy is imported. `tests/test_config_rules.py` walks the fields
of DPOConfig, so a new field without a rule fails the suite; other checks (cross-field rules) stay in
`arabic_pref.config_checks`, which calls `check_rules` first.

Kinds:
- `number`: finite, in [low, high] (`low_open`/`high_open` exclude an end); `extra` values (e.g. -1 = off) allowed.
- `choice`: one of `choices`.
- `flag`: a bool (the type check covers it).
- `text`: free text (a name shown to people, a prompt, a scheduler name TRL checks before any model loads).
- `source`: a model or dataset: builtin name, local path or hub id, resolved by its loader before a model loads.
- `path_in`: a file or folder that must exist and be readable when set.
- `path_out`: a folder that is created: its nearest existing parent must be a writable folder.
- `device`: `cpu`, `cuda`, `cuda:N`, `mps` (presence is checked before the model loads: `models.check_device`).
- `metric_names`: names that become part of metric names (`eval_set/NAME/...`, `slice/NAME/...`).
- `texts`: a list of free text entries.
- `mapping`: a free-form mapping with its own checker (pass-through arguments, generation settings).
- `uri`: a store URL or path (a password in it is masked wherever it is written: `arabic_pref.secrets`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arabic_pref.errors import ConfigError
from arabic_pref.loss_checks import F_DIVERGENCE_TYPES, LOSS_TYPES

# metric names (MLflow: letters, digits, _ - . / space); ours: no path tricks ("..", leading "." or "/")
METRIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
# generate() settings an evaluation may pass: sampling and search only. Anything else could load and run code
# (custom_generate, trust_remote_code), replace the model's inputs or outputs (streamer, assistant_model) or
# clash with what the evaluation sets itself (batch_size, max_new_tokens, eos/pad ids).
GENERATION_KEYS = frozenset(
    {
        "do_sample",
        "temperature",
        "top_k",
        "top_p",
        "min_p",
        "typical_p",
        "epsilon_cutoff",
        "eta_cutoff",
        "repetition_penalty",
        "no_repeat_ngram_size",
        "num_beams",
        "num_beam_groups",
        "diversity_penalty",
        "length_penalty",
        "early_stopping",
        "num_return_sequences",
        "min_new_tokens",
        "encoder_repetition_penalty",
        "bad_words_ids",
        "suppress_tokens",
    }
)
# The learning rate above which a run that keeps its learning rate (learning_rate_override) is warned about.
LEARNING_RATE_WARN = 1e-3


@dataclass(frozen=True)
class Rule:
    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    extra: tuple = ()  # special values allowed outside the range (e.g. -1 = off)
    choices: tuple = ()

    def describe(self) -> str:
        if self.kind == "number":
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            text = f"{left}{_g(self.low)}, {_g(self.high)}{right}"
            return text + "".join(f" or {_g(v)}" for v in self.extra)
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        return self.kind


def _g(v: float | None) -> str:
    if v is None:
        return "inf"
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e12 else f"{v:g}"


def number(low=None, high=None, *, low_open=False, high_open=False, extra=()) -> Rule:  # noqa: ANN001
    return Rule("number", low, high, low_open, high_open, tuple(extra))


def choice(*values: Any) -> Rule:
    return Rule("choice", choices=tuple(values))


FLAG, TEXT, SOURCE, PATH_IN, PATH_OUT = Rule("flag"), Rule("text"), Rule("source"), Rule("path_in"), Rule("path_out")
DEVICE_RULE, NAMES, TEXTS, MAPPING, URI = (
    Rule("device"),
    Rule("metric_names"),
    Rule("texts"),
    Rule("mapping"),
    Rule("uri"),
)
BIG = 1e9  # a count no run reaches: the upper end of counts that have no natural one
STRATEGIES = ("no", "steps", "epoch")

RULES: dict[str, Rule] = {
    # model
    "model_name": SOURCE,
    "ref_model_name": SOURCE,
    "load_in_4bit": FLAG,
    "load_in_8bit": FLAG,
    "bf16": FLAG,
    "fp16": FLAG,
    "ref_model_device": DEVICE_RULE,
    # data
    "dataset_path": SOURCE,
    "data_format": choice("auto", "jsonl", "json", "folder", "hf_disk", "parquet", "csv", "hub"),
    "normalize": choice("none", "light", "full"),
    "min_score_margin": number(-BIG, BIG),
    "validation_split": number(0, 1, low_open=True, high_open=True),
    "max_train_samples": number(1, BIG),
    "max_eval_samples": number(1, BIG),
    "system_prompt": TEXT,
    "test_split": number(0, 1, low_open=True, high_open=True),
    "dataset_config_name": TEXT,
    "dataset_split": TEXT,
    "dataset_revision": TEXT,
    # DPO
    "beta": number(0, 1000, low_open=True),
    "loss_type": choice(*LOSS_TYPES),
    "label_smoothing": number(0, 0.5, high_open=True),
    "sft_weight": number(0, BIG),  # > 0 for rpo: loss_checks
    "ld_alpha": number(0, 1),
    "use_weighting": FLAG,
    "f_divergence_type": choice(*F_DIVERGENCE_TYPES),
    "f_alpha_divergence_coef": number(-BIG, BIG),  # which values TRL's alpha-divergence takes: loss_checks
    "discopop_tau": number(0, BIG, low_open=True),
    "max_prompt_length": number(4, 1_048_576),
    "max_length": number(8, 1_048_576),
    # training
    "output_dir": PATH_OUT,
    "overwrite_output_dir": FLAG,
    "learning_rate": number(0, 1, low_open=True),
    "learning_rate_override": FLAG,
    "num_train_epochs": number(0, 10_000, low_open=True),
    "max_steps": number(1, BIG, extra=(-1,)),
    "per_device_train_batch_size": number(1, 1_000_000),
    "per_device_eval_batch_size": number(1, 1_000_000),
    "gradient_accumulation_steps": number(1, 1_000_000),
    "warmup_ratio": number(0, 1, high_open=True),
    "lr_scheduler_type": TEXT,
    "weight_decay": number(0, 1),
    "max_grad_norm": number(0, BIG, low_open=True),
    "seed": number(0, 2**32 - 1),  # numpy's seed range
    "gradient_checkpointing": FLAG,
    "remove_unused_columns": FLAG,
    "dataloader_num_workers": number(0, 1024),
    "dataloader_pin_memory": FLAG,
    "ddp_find_unused_parameters": FLAG,
    "logging_steps": number(1, BIG),
    "precompute_ref_log_probs": FLAG,
    "fast_cpu_logprob": FLAG,
    # evaluation and saving
    "eval_strategy": choice(*STRATEGIES),
    "evaluation_strategy": choice(*STRATEGIES),
    "eval_steps": number(1, BIG),
    "save_strategy": choice(*STRATEGIES),
    "save_steps": number(1, BIG),
    "save_total_limit": number(1, BIG),
    "load_best_model_at_end": FLAG,
    "metric_for_best_model": TEXT,
    "early_stopping_patience": number(1, BIG),
    # Arabic evaluation
    "eval_generations": FLAG,
    "eval_prompts_path": PATH_IN,
    "eval_max_new_tokens": number(1, 65_536),
    "eval_generation_kwargs": MAPPING,
    "eval_drift": FLAG,
    "eval_heldout_path": PATH_IN,
    "eval_sets": TEXTS,  # NAME=PATH entries: names and paths checked by config_checks.parse_eval_set_entries
    "eval_mc_sets": TEXTS,  # NAME=PATH entries: names and files checked by evaluation.multiple_choice before a model
    "eval_at_eval_steps": FLAG,
    "eval_in_sweep_trials": FLAG,
    # LoRA
    "use_lora": FLAG,
    "lora_r": number(1, 65_536),
    "lora_alpha": number(1, 1_000_000),
    "lora_dropout": number(0, 1, high_open=True),
    "merge_adapter": FLAG,
    "lora_target_modules": TEXTS,
    # tracking
    "report_to": choice("mlflow", "none"),
    "run_name": TEXT,
    "tracking_uri": URI,
    "experiment_name": TEXT,
    "sweep_trial_id": number(0, BIG),
    "eval_slices": NAMES,
    # lifecycle
    "resume": FLAG,
    "resume_from_checkpoint": PATH_IN,
    "resume_allow_changes": FLAG,
    "verbose": FLAG,
    # pass-through
    "training_args": MAPPING,
}


def check_rules(cfg: Any) -> None:
    """Every field against its rule (types were checked before); ConfigError naming the first bad key."""
    for name, rule in RULES.items():
        value = getattr(cfg, name)
        if value is None or rule.kind in ("flag", "text", "source", "texts", "uri"):
            continue
        message = _violation(name, rule, value)
        if message:
            raise ConfigError(name, message)


def _violation(name: str, rule: Rule, value: Any) -> str | None:
    if rule.kind == "number":
        return _number_violation(rule, value)
    if rule.kind == "choice":
        return None if value in rule.choices else f"must be {rule.describe()}; got {value!r}"
    if rule.kind == "path_in":
        path = Path(value).expanduser()
        if not path.exists():
            return f"{path}: no such file or folder"
        return None if os.access(path, os.R_OK) else f"{path}: not readable"
    if rule.kind == "path_out":
        return _path_out_violation(Path(value).expanduser())
    if rule.kind == "device":
        return None if DEVICE.match(value) else f"must be cpu, cuda, cuda:N or mps; got {value!r}"
    if rule.kind == "metric_names":
        bad = [v for v in value if not is_metric_name(v)]
        return f"{bad[0]!r} is not a safe metric name (letters, digits, '_', '-', '.'; no '..')" if bad else None
    if rule.kind == "mapping" and name == "eval_generation_kwargs":
        return generation_kwargs_violation(value)
    return None


def _number_violation(rule: Rule, value: Any) -> str | None:
    if value in rule.extra:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number in {rule.describe()}, got {value}"
    also = "".join(f" or {_g(v)}" for v in rule.extra)
    if rule.low is not None and not (value > rule.low if rule.low_open else value >= rule.low):
        return f"must be {'>' if rule.low_open else '>='} {_g(rule.low)}{also}, got {value}"
    if rule.high is not None and not (value < rule.high if rule.high_open else value <= rule.high):
        return f"must be {'<' if rule.high_open else '<='} {_g(rule.high)}{also}, got {value}"
    return None


def _path_out_violation(path: Path) -> str | None:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder, so {path} cannot be created there"
    return None if os.access(existing, os.W_OK) else f"{existing} is not writable"


def is_metric_name(name: str) -> bool:
    return bool(METRIC_NAME.match(name)) and ".." not in name


def generation_kwargs_violation(kwargs: Any) -> str | None:
    unknown = sorted(set(kwargs) - GENERATION_KEYS)
    if unknown:
        return (
            f"{', '.join(map(str, unknown))} not allowed (they could run remote code or break the evaluation); "
            f"allowed: {', '.join(sorted(GENERATION_KEYS))}"
        )
    for key, value in kwargs.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"{key} must be finite, got {value}"
    return None
