"""Continuing a killed run: which checkpoint it continues from, and which MLflow run it logs into.

A CLI run writes into a fresh Hydra folder. `resume=true output_dir=<the killed run's folder>` continues from the
last complete `checkpoint-N` there; `resume_from_checkpoint=<.../checkpoint-N>` from that one. transformers
restores the weights, optimizer, scheduler, RNG states and the position in the data from the checkpoint; the
MLflow run is found through `mlflow_run.json`, which every tracked run writes into its output folder when it
starts. A checkpoint is complete when it holds `trainer_state.json`: transformers writes that file last, so a
process killed in the middle of a save leaves a folder without it, which is skipped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from arabic_pref import tracking
from arabic_pref.errors import ConfigError
from arabic_pref.metadata import atomic_write_text

RUN_RECORD_FILE = "mlflow_run.json"
SETTINGS_FILE = "run_settings.json"  # what a run trains with, beside its checkpoints: a resume must match it
# Fields that change what trains: a resume with another value would continue a different run's checkpoint as if
# it were this one. Everything else (output, tracking, logging, evaluation, how long to train) may change.
TRAINING_KEYS = (
    "model_name",
    "ref_model_name",
    "load_in_4bit",
    "load_in_8bit",
    "bf16",
    "fp16",
    "dataset_path",
    "data_format",
    "normalize",
    "min_score_margin",
    "validation_split",
    "max_train_samples",
    "system_prompt",
    "test_split",
    "dataset_config_name",
    "dataset_split",
    "dataset_revision",
    "beta",
    "loss_type",
    "label_smoothing",
    "max_prompt_length",
    "max_length",
    "learning_rate",
    "learning_rate_override",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "warmup_ratio",
    "lr_scheduler_type",
    "weight_decay",
    "max_grad_norm",
    "seed",
    "use_lora",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "training_args",
)
CHECKPOINT_MARKER = "trainer_state.json"  # transformers' TRAINER_STATE_NAME, written last in a checkpoint
_CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")


def complete_checkpoints(folder: Path) -> list[Path]:
    """The complete `checkpoint-N` folders of `folder`, oldest step first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT_NAME.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found) if (p / CHECKPOINT_MARKER).is_file()]


def checkpoint_to_resume(config: Any) -> str | None:
    """The checkpoint this run continues from (None: a fresh run); ConfigError when there is none to resume."""
    if config.resume_from_checkpoint:
        path = Path(config.resume_from_checkpoint).expanduser()
        if not (path / CHECKPOINT_MARKER).is_file():
            raise ConfigError(
                "resume_from_checkpoint", f"{path} is not a complete checkpoint folder (no {CHECKPOINT_MARKER})"
            )
        return str(path)
    if not config.resume:
        return None
    found = complete_checkpoints(Path(config.output_dir))
    if not found:
        raise ConfigError(
            "resume",
            f"no complete checkpoint-N folder in output_dir={config.output_dir}; pass the killed run's output_dir "
            "(runs write checkpoints every save_steps updates)",
        )
    return str(found[-1])


def remember_run(output_dir: str | Path, run_id: str, tracking_uri: str) -> None:
    """Record the MLflow run of a run in its output folder, so that a resumed run logs into it."""
    from arabic_pref.secrets import mask_url

    record = {"run_id": run_id, "tracking_uri": mask_url(tracking_uri)}  # a store's password never lands on disk
    atomic_write_text(Path(output_dir) / RUN_RECORD_FILE, json.dumps(record, indent=2) + "\n")


def recorded_run(folder: str | Path) -> dict[str, str] | None:
    path = Path(folder) / RUN_RECORD_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def run_to_resume(config: Any) -> str | None:
    """The MLflow run id of the run being resumed (recorded next to its checkpoints), or None."""
    checkpoint = checkpoint_to_resume(config)
    if checkpoint is None or config.report_to != "mlflow":
        return None
    record = recorded_run(Path(checkpoint).parent)
    return record["run_id"] if record else None


def check_resume(config: Any, tracking_uri: str) -> str | None:
    """Before any model loads: the checkpoint exists and its MLflow run is in this store. Returns the checkpoint."""
    checkpoint = checkpoint_to_resume(config)
    check_resume_settings(config)
    run_id = run_to_resume(config)
    if run_id is not None:
        from mlflow.exceptions import MlflowException

        try:
            tracking.client(tracking_uri).get_run(run_id)
        except MlflowException:
            recorded = recorded_run(Path(checkpoint).parent) or {}
            raise ConfigError(
                "tracking_uri",
                f"the run being resumed ({run_id}) is not in {tracking_uri}; it logged to "
                f"{recorded.get('tracking_uri')}: pass tracking_uri=<that store>",
            ) from None
    return checkpoint


def _training_settings(config: Any) -> dict[str, Any]:
    from arabic_pref.secrets import mask

    values = config.to_dict()
    return json.loads(json.dumps(mask({k: values[k] for k in TRAINING_KEYS}), default=str))


def remember_settings(config: Any) -> None:
    """Record what this run trains with beside its checkpoints (on a resume: what the first part trained with)."""
    path = Path(config.output_dir) / SETTINGS_FILE
    if not path.is_file():
        atomic_write_text(path, json.dumps(_training_settings(config), indent=2, ensure_ascii=False) + "\n")


def check_resume_settings(config: Any) -> None:
    """A resume whose settings change what trains is refused (ConfigError naming the keys) unless
    `resume_allow_changes`: continuing a checkpoint with another loss, beta or data is another experiment."""
    checkpoint = checkpoint_to_resume(config)
    if checkpoint is None or config.resume_allow_changes:
        return
    path = Path(checkpoint).parent / SETTINGS_FILE
    if not path.is_file():
        return  # a checkpoint written by an older version or by hand: nothing to compare with
    recorded = json.loads(path.read_text(encoding="utf-8"))
    now = _training_settings(config)
    changed = sorted(k for k in TRAINING_KEYS if k in recorded and recorded[k] != now[k])
    if changed:
        listed = ", ".join(f"{k} ({recorded[k]!r} -> {now[k]!r})" for k in changed)
        raise ConfigError(
            "resume",
            f"the checkpoint was trained with other settings: {listed}; resume with the same values, or set "
            "resume_allow_changes=true to continue it with these",
        )
