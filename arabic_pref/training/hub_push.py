"""Hub pushes send the model folder only: weights, config, tokenizer, generation config, model card, metadata.

A run's output folder holds much more than the model: Hydra's `.hydra/*.yaml` (every setting, a tracking URI, a
sweep's database URL), `train.log`, `mlflow_run.json`, checkpoints with optimizer state and `training_args.bin`
(a pickle of every training argument, tokens included). transformers' Trainer uploads the whole output folder at
each checkpoint when `push_to_hub` is set (`Trainer._push_from_checkpoint`, ignoring only `_*` and
`checkpoint-*`), so all of that went to the hub. Here both pushes, per checkpoint and final, upload exactly the
files `files_to_push` names, from a staging folder (checkpoints) or with those names as `allow_patterns` (the
final save). `ArabicPrefDPOTrainer._push_from_checkpoint` routes the Trainer's own push through `push_checkpoint`.
"""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
from pathlib import Path
from typing import Any

# What a model folder is made of (transformers, PEFT, tokenizers, ours); nothing else is ever pushed.
MODEL_FILE_PATTERNS = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "adapter_config.json",
    "adapter_model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "README.md",
    "dpo_metadata.json",
)
# Never, whatever a pattern above says (defence in depth).
NEVER_PUSHED = ("training_args.bin", "mlflow_run.json", "*.log", ".*", "optimizer.pt", "scheduler.pt", "rng_state*")


def files_to_push(folder: str | Path) -> list[str]:
    """The names of the files in `folder` (top level only) that a push uploads."""
    names = sorted(p.name for p in Path(folder).iterdir() if p.is_file())
    return [
        n
        for n in names
        if any(fnmatch.fnmatchcase(n, p) for p in MODEL_FILE_PATTERNS)
        and not any(fnmatch.fnmatchcase(n, p) for p in NEVER_PUSHED)
    ]


def _api() -> Any:
    from huggingface_hub import HfApi

    return HfApi()


def push_saved_folder(trl_trainer: Any, folder: str | Path) -> Any:
    """With `training_args.push_to_hub`, upload the final save (card included) to the hub repo TRL's Trainer uses.

    TRL's Trainer pushes each checkpoint (through `push_checkpoint`); the final save is ours, uploaded here with
    the Trainer's repo naming and privacy settings (`hub_model_id`, `hub_private_repo`); the token comes from
    `huggingface-cli login` or `HF_TOKEN` (a `hub_token` setting is refused). No network call runs without the flag.
    """
    if trl_trainer is None or not trl_trainer.args.push_to_hub:
        return None
    if trl_trainer.hub_model_id is None:
        trl_trainer.init_hf_repo()
    from arabic_pref.upstream import finish_current_push

    finish_current_push(trl_trainer)  # a checkpoint push still in flight would race this commit
    return _api().upload_folder(
        repo_id=trl_trainer.hub_model_id,
        folder_path=str(folder),
        commit_message="arabic-pref: final model and model card",
        allow_patterns=files_to_push(folder),
        revision=trl_trainer.args.hub_revision,
    )


def push_checkpoint(trl_trainer: Any, checkpoint_folder: str | Path, commit_message: str) -> Any:
    """The model files of one checkpoint, and the tokenizer, uploaded from a staging folder (blocking)."""
    with tempfile.TemporaryDirectory(prefix="arabic-pref-push-") as staging:
        for name in files_to_push(checkpoint_folder):
            shutil.copy(Path(checkpoint_folder) / name, Path(staging) / name)
        if trl_trainer.processing_class is not None:
            trl_trainer.processing_class.save_pretrained(staging)
        return _api().upload_folder(
            repo_id=trl_trainer.hub_model_id,
            folder_path=staging,
            commit_message=commit_message,
            allow_patterns=files_to_push(staging),
            revision=trl_trainer.args.hub_revision,
        )
