"""Whose output folder is it: a run refuses a folder that holds another run's outputs, unless asked to overwrite.

Reusing an `output_dir` used to overwrite another run silently: `load_model` picked up its stale adapter,
checkpoint rotation (`save_total_limit`) deleted its checkpoints, `resume=true` continued its checkpoint. Now a
run claims its folder before the MLflow run opens and before any model loads: empty, or holding only what Hydra
writes into its own run folder (`.hydra/`, `*.log`), is fine; a folder being resumed is fine; anything else is a
ConfigError on `output_dir` (exit 2) unless `overwrite_output_dir=true`, which clears the other run's outputs
first (only from a folder that looks like a run's: it holds a checkpoint, a model or our run records).
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path
from typing import Any

from arabic_pref.errors import ConfigError

KEY = "output_dir"
# What Hydra writes into its run folder before our code runs (output_dir defaults to that folder).
HYDRA_ENTRIES = (".hydra", "*.log")
# What marks a folder as a run's: checkpoints, a saved model, our records.
RUN_MARKERS = (
    "checkpoint-*",
    "mlflow_run.json",
    "run_settings.json",
    "dpo_metadata.json",
    "adapter_config.json",
    "config.json",
    "*.safetensors",
    "merged",
)


def other_runs_entries(folder: Path) -> list[str]:
    """Names in `folder` that are not Hydra's own files for this job: another run's outputs, or anything else."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not any(fnmatch.fnmatch(p.name, h) for h in HYDRA_ENTRIES))


def _resuming(config: Any, folder: Path) -> bool:
    if config.resume:
        return True
    if config.resume_from_checkpoint:
        return Path(config.resume_from_checkpoint).expanduser().resolve().parent == folder.resolve()
    return False


def claim_output_dir(config: Any, *, clear: bool = True) -> None:
    """Refuse (ConfigError) or, with overwrite_output_dir and `clear`, empty an output_dir holding another run.

    Decided by the main process and broadcast: in a multi-process run every rank gets the same verdict, and no
    rank can mistake what rank 0 has just started writing for another run's files."""
    from arabic_pref import distributed

    problem = _claim(config, clear) if distributed.is_main_process() else None
    problem = distributed.broadcast(problem)
    if problem is not None:
        raise ConfigError(KEY, problem)


def _claim(config: Any, clear: bool) -> str | None:
    folder = Path(config.output_dir).expanduser()
    if _resuming(config, folder):
        return None
    entries = other_runs_entries(folder)
    if not entries:
        return None
    shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
    if not config.overwrite_output_dir:
        return (
            f"{folder} already holds another run's outputs ({shown}); choose a new folder, continue that run with "
            "resume=true, or set overwrite_output_dir=true to clear it first"
        )
    if not any(fnmatch.fnmatch(e, m) for e in entries for m in RUN_MARKERS):
        return (
            f"{folder} is not empty ({shown}) and holds no run outputs; overwrite_output_dir only clears a run's "
            "folder: choose an empty or new folder"
        )
    if clear:
        for name in entries:
            path = folder / name
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    return None
