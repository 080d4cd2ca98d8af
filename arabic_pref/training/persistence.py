"""Writing and reading trained models so they also work outside our API.

A save is staged in a hidden folder and moved into place file by file (atomic renames), dpo_metadata.json
last, so a crash never leaves a half-written file and the metadata marks a complete save. What is saved is
plain transformers/PEFT: an adapter folder loads with `AutoPeftModelForCausalLM`, a full or merged model with
`AutoModelForCausalLM`, and the generation config stops at `<|im_end|>`.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from arabic_pref.errors import ConfigError


def publish_pretrained(model: Any, tokenizer: Any, target: Path, extra_files: dict[str, str] | None = None) -> None:
    """Save into a staging folder, then move each file into `target`; `extra_files` (name -> text, e.g. the model
    card README.md) are written into the staging folder last, replacing what save_pretrained wrote there."""
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".saving-", dir=target) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        generation_config = getattr(model, "generation_config", None)
        if generation_config is not None:
            generation_config.save_pretrained(staging)
        for name, text in (extra_files or {}).items():
            (Path(staging) / name).write_text(text, encoding="utf-8")
        for item in sorted(Path(staging).iterdir()):
            os.replace(item, target / item.name)


def merged_copy(peft_model: Any) -> Any:
    """The adapter folded into a copy of the base weights; the training model is left untouched."""
    base = peft_model.get_base_model()
    if getattr(base, "is_loaded_in_4bit", False) or getattr(base, "is_loaded_in_8bit", False):
        raise ConfigError("merge_adapter", "cannot merge into a 4/8-bit quantized base; merge from a bf16/fp32 base")
    return copy.deepcopy(peft_model).merge_and_unload()


def is_adapter_folder(path: Path) -> bool:
    return (path / "adapter_config.json").is_file()


def adapter_base_name(path: Path, metadata: dict) -> str:
    """The base a saved adapter was trained on: our metadata first, PEFT's adapter_config second."""
    if metadata.get("model_name"):
        return metadata["model_name"]
    from peft import PeftConfig

    return PeftConfig.from_pretrained(str(path)).base_model_name_or_path


def publish_with_trainer(trl_trainer: Any, target: Path, extra_files: dict[str, str] | None = None) -> None:
    """Multi-process save: called on every rank, through the trainer's own save.

    `Trainer.save_model` gathers ZeRO-3 and FSDP shards (a collective every rank must join) and writes on the
    main process only; it writes into a staging folder named by rank 0, and rank 0 moves the files into place
    as `publish_pretrained` does, so the save stays atomic.
    """
    from arabic_pref import distributed

    main = distributed.is_main_process()
    if main:
        target.mkdir(parents=True, exist_ok=True)
    staging = Path(distributed.broadcast(tempfile.mkdtemp(prefix=".saving-", dir=target) if main else None))
    try:
        trl_trainer.save_model(str(staging))
        if main:
            (staging / "training_args.bin").unlink(missing_ok=True)  # the same files as a one-process save
            generation_config = getattr(trl_trainer.model, "generation_config", None)
            if generation_config is not None:
                generation_config.save_pretrained(staging)
            for name, text in (extra_files or {}).items():
                (staging / name).write_text(text, encoding="utf-8")
            for item in sorted(staging.iterdir()):
                os.replace(item, target / item.name)
    finally:
        if main:
            shutil.rmtree(staging, ignore_errors=True)
    distributed.wait_for_everyone()  # no rank reads the folder before it is complete
