"""DPOConfig: the one typed description of a DPO run.

The same dataclass is the spec's Python API (`DPOConfig(model_name=..., beta=0.1)`) and the Hydra schema
(registered in Hydra's ConfigStore by `arabic_pref.conf_store`), so a field is declared and documented once,
here, and both paths validate it the same way in `__post_init__` (the checks live in
`arabic_pref.config_checks`). This module imports nothing heavy: a config error must be reported before torch,
trl or mlflow are imported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from arabic_pref.config_checks import (  # noqa: F401  (re-exported: the names users import from here)
    BUILTIN_DATASET,
    BUILTIN_MODEL,
    DATA_FORMATS,
    DEFAULT_SYSTEM_PROMPT,
    LOSS_TYPES,
    NORMALIZE_MODES,
    ConfigError,
    check_types,
    check_values,
    warn_outside_recommended,
)
from arabic_pref.secrets import register_from


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
        "A .jsonl/.json/.parquet/.csv file, a folder (train.jsonl, validation.jsonl, test.jsonl), a "
        "datasets.save_to_disk folder, or a hub dataset id org/name; `builtin:arabic-sample` ships with us.",
    )
    data_format: str = _f(
        "auto",
        "auto (detect), jsonl, json ({'train': [...], 'validation': [...], 'test': [...]}), folder, hf_disk, "
        "parquet, csv, hub.",
    )
    normalize: str = _f(
        "none", "Arabic normalization: none, light (presentation forms, tatweel), full (also harakat, alef)."
    )
    min_score_margin: float | None = _f(None, "Keep pairs with chosen_score - rejected_score >= this (None = all).")
    validation_split: float = _f(0.1, "Fraction held out for validation when the data has no validation split; (0, 1).")
    max_train_samples: int | None = _f(None, "Use at most this many training pairs (None = all); >= 1.")
    max_eval_samples: int | None = _f(None, "Use at most this many validation (and test) pairs (None = all); >= 1.")
    system_prompt: str | None = _f(
        DEFAULT_SYSTEM_PROMPT, "System message of every prompt; null = the chat template's own (Qwen2.5: English)."
    )
    # --- data sources and test split ---
    test_split: float | None = _f(
        None,
        "Fraction held out from train as a test split when the data has none (whole prompts, seeded); "
        "null = no test split; (0, 1).",
    )
    dataset_config_name: str | None = _f(None, "Hub dataset: config (subset) name, e.g. 'ar'; null = the default.")
    dataset_split: str | None = _f(
        None, "Hub dataset: the split to train on (e.g. 'train_prefs'); null = its 'train' split."
    )
    dataset_revision: str | None = _f(None, "Hub dataset: branch, tag or commit to load; null = the main branch.")

    # --- DPO ---
    beta: float = _f(
        0.1, "DPO temperature (KL strength); (0, 1000], recommended 0.01-1.0. Higher stays closer to the reference."
    )
    loss_type: str = _f(
        "sigmoid",
        "sigmoid (DPO), hinge, ipo, rpo (sigmoid + SFT), sigmoid_norm, robust, exo_pair, nca_pair, bco_pair, "
        "sppo_hard, apo_zero, apo_down, discopop, aot, aot_unpaired (conf/loss/ says what each optimises).",
    )
    label_smoothing: float = _f(
        0.0,
        "Label-noise rate; [0, 0.5), recommended <= 0.1. sigmoid/rpo: conservative DPO; robust, exo_pair "
        "(both need > 0), aot, aot_unpaired: their own use; the other losses refuse it.",
    )
    sft_weight: float = _f(0.0, "Weight of the SFT (chosen NLL) term of loss_type=rpo; > 0 there, 0 otherwise.")
    ld_alpha: float | None = _f(
        None, "LD-DPO: weight of response tokens past the shorter response's length; [0, 1]; null = off (1)."
    )
    use_weighting: bool = _f(False, "WPO: weight each pair's loss by the policy's probability of both responses.")
    f_divergence_type: str = _f(
        "reverse_kl", "f-DPO divergence: reverse_kl (DPO), forward_kl, js_divergence, alpha_divergence."
    )
    f_alpha_divergence_coef: float = _f(0.5, "alpha of f_divergence_type=alpha_divergence (only there).")
    discopop_tau: float = _f(0.05, "DiscoPOP temperature of its loss mix; > 0; loss_type=discopop only.")
    max_prompt_length: int = _f(256, "Maximum prompt tokens after the chat template; >= 4, and max_length - 4 at most.")
    max_length: int = _f(512, "Maximum prompt + response tokens; > max_prompt_length.")

    # --- training ---
    output_dir: str = _f(
        "./checkpoints/dpo",
        "Where the model, tokenizer and dpo_metadata.json are written; a folder holding another run's outputs is "
        "refused unless overwrite_output_dir.",
    )
    overwrite_output_dir: bool = _f(
        False, "Clear an output_dir that holds another run's model or checkpoints, instead of refusing it."
    )
    learning_rate: float = _f(5e-7, "Peak learning rate; (0, 1]. Capped at 5e-7 unless learning_rate_override.")
    learning_rate_override: bool = _f(False, "Keep learning_rate as given instead of capping it at 5e-7.")
    num_train_epochs: float = _f(1.0, "Epochs over the training pairs (ignored when max_steps > 0); (0, 10000].")
    max_steps: int = _f(-1, "Optimizer updates; overrides num_train_epochs when > 0; -1 = off.")
    per_device_train_batch_size: int = _f(2, "Pairs per device per forward; >= 1.")
    per_device_eval_batch_size: int = _f(8, "Pairs per device per evaluation forward; >= 1.")
    gradient_accumulation_steps: int = _f(8, "Forwards per optimizer update; >= 1.")
    warmup_ratio: float = _f(0.0, "Share of steps for linear warm-up; [0, 1).")
    lr_scheduler_type: str = _f("linear", "transformers scheduler name (linear, cosine, constant, ...).")
    weight_decay: float = _f(0.0, "AdamW weight decay; [0, 1].")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm; > 0.")
    seed: int = _f(42, "Seed for model init, data split and training; [0, 2**32 - 1].")
    gradient_checkpointing: bool = _f(True, "Recompute activations in backward to save memory.")
    remove_unused_columns: bool = _f(False, "Must stay False for DPO (TRL needs the pair columns).")
    dataloader_num_workers: int = _f(0, "DataLoader worker processes; [0, 1024].")
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

    # --- Arabic evaluation ---
    eval_generations: bool = _f(
        True, "Answer the shipped Arabic prompts with policy and reference at the end; log a table and gen/ metrics."
    )
    eval_prompts_path: str | None = _f(None, "JSONL of {'prompt': ...} for eval_generations; null = the shipped 28.")
    eval_max_new_tokens: int = _f(48, "New tokens per evaluation answer (stops earlier at the end-of-turn); >= 1.")
    eval_generation_kwargs: dict[str, Any] = _f(
        {}, "Extra generate() sampling/search settings for evaluation answers (greedy if {}); see config_rules."
    )
    eval_drift: bool = _f(
        True, "Log drift/kl_per_token (validation chosen answers) and drift/ppl_ratio (shipped held-out text)."
    )
    eval_heldout_path: str | None = _f(None, "JSONL of {'text': ...} for drift/ppl_ratio; null = the shipped texts.")
    eval_sets: list[str] = _f([], "Extra pair files scored at the end, as PATH or NAME=PATH; metrics eval_set/NAME/.")
    eval_mc_sets: list[str] = _f(
        ["builtin:arabic-mc"],
        "Multiple-choice sets (JSONL of question, choices, gold) scored for reference and trained model, as PATH, "
        "NAME=PATH or builtin:arabic-mc (24 shipped questions); metrics mc/NAME/accuracy, delta. [] = off.",
    )
    eval_at_eval_steps: bool = _f(False, "Also run the Arabic evaluation at each evaluation during training.")
    eval_in_sweep_trials: bool = _f(
        False, "Sweep trials run every enabled Arabic evaluation, not only what their objective needs."
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

    # --- evaluation metrics ---
    eval_slices: list[str] = _f(
        ["dialect", "register", "failure"],
        "Tags of the validation pairs to report preference accuracy per value of (those a pair file carries).",
    )

    # --- lifecycle: resume after a crash, console ---
    resume: bool = _f(
        False, "Continue the run in output_dir from its last complete checkpoint, logging into its MLflow run."
    )
    resume_from_checkpoint: str | None = _f(
        None, "Continue from this checkpoint-N folder (MLflow run: the one of the folder holding it)."
    )
    resume_allow_changes: bool = _f(
        False,
        "Let a resumed run change what trains (loss, beta, learning rate, data, model, ...); refused by default.",
    )
    verbose: bool = _f(False, "Console: also library warnings, info logs and data-preparation progress bars.")

    # --- pass-through ---
    training_args: dict[str, Any] = _f({}, "Extra trl.DPOConfig fields not named above, passed through unchanged.")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Type and cross-field checks (each failure a ConfigError naming the key), and range warnings."""
        check_types(self)
        if self.evaluation_strategy is not None:
            self.eval_strategy = self.evaluation_strategy
        check_values(self)
        register_from(self.to_dict())  # its tokens and URL passwords are masked wherever written (secrets.py)
        warn_outside_recommended(self)
        object.__setattr__(self, "_validated", self.to_dict())

    def ensure_valid(self) -> None:
        """Validate again only if a field changed since the last validation: the spec's examples assign fields
        after construction, and the trainer must check those before a model loads, but a config is checked (and
        warned about) once."""
        if getattr(self, "_validated", None) != self.to_dict():
            self.validate()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_help() -> dict[str, str]:
    """Field name -> documentation, for the configuration reference (docs/configuration.md) and listings."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(DPOConfig)}
