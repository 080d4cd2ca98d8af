"""What a CLI run prints: what will run, one training progress bar, the evaluations, the summary.

Before training starts, the libraries print a lot that a user cannot act on: bitsandbytes' note about the
optional `kernels` package, transformers' FutureWarnings, a `datasets` progress bar per map (adding EOS,
tokenizing, dropping, flattening), bars for loading and writing weights, info logs. By default
(`verbose=false`) they are hidden; `verbose=true` shows them all. TRL's bar for the one-off reference log-prob
pass stays: on a large dataset that phase takes minutes. Our own warnings and errors always reach the console,
and Hydra's log file (`<run folder>/train.log`) keeps the info logs either
way: only the console handler is raised to WARNING.

The settings are environment variables as well as filters in this process, so that sweep workers started by the
joblib launcher are as quiet as the main process; they must be applied before the libraries are imported.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

# Read by the libraries when they are imported (here and in worker processes).
QUIET_ENVIRONMENT = {
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # also transformers' own bars (loading weights, writing shards)
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # mlflow sets its logger's level when imported
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "PYTHONWARNINGS": "ignore::FutureWarning,ignore::DeprecationWarning",
}
QUIET_LOGGERS = ("bitsandbytes", "transformers", "datasets", "peft", "trl", "accelerate", "torch", "mlflow", "alembic")


def configure(verbose: bool) -> None:
    """Quiet console unless `verbose`; call before torch, transformers or datasets are imported."""
    if verbose:
        return
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=r".*\bkernels\b.*")  # bitsandbytes: optional `kernels` package
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for handler in logging.getLogger().handlers:  # Hydra's console handler; its file handler keeps INFO
        if type(handler) is logging.StreamHandler:
            handler.setLevel(logging.WARNING)


def announce(trainer: Any, checkpoint: str | None) -> None:
    """The few lines saying what will run, printed before the model loads."""
    c = trainer.config
    data = trainer.data
    learning_rate = trainer.training_args.learning_rate  # what TRL will train with (trl_args.to_trl_config)
    capped = "" if learning_rate == c.learning_rate else f" (capped from {c.learning_rate:g})"
    steps = f"{c.max_steps} steps" if c.max_steps > 0 else f"{c.num_train_epochs:g} epochs"
    batch = c.per_device_train_batch_size * c.gradient_accumulation_steps
    lines = [
        "DPO run",
        f"  model        {c.model_name}" + (f" (LoRA r={c.lora_r})" if c.use_lora else " (full fine-tuning)"),
        f"  data         {c.dataset_path}: {len(data.train)} train, {len(data.validation)} validation pairs",
        f"  loss         {c.loss_type}, beta {c.beta:g}"
        + (f", label smoothing {c.label_smoothing:g}" if c.label_smoothing else ""),
        f"  training     learning rate {learning_rate:g}{capped}, {steps}, {batch} pairs per update, seed {c.seed}",
        f"  outputs      {c.output_dir}",
    ]
    if c.report_to == "mlflow":
        lines.append(f"  MLflow       {trainer.tracking_uri} (experiment {c.experiment_name})")
    if checkpoint is not None:
        lines.append(f"  resuming     from {checkpoint}")
    from arabic_pref.secrets import mask_text

    print(mask_text("\n".join(lines)), flush=True)
