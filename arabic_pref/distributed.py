"""One DPO run across several processes (torchrun / accelerate launch): who does what, and what they share.

Every process trains (DDP, DeepSpeed or FSDP through TRL and accelerate); only the main process talks to the
outside world: it opens the MLflow run, logs, writes `dpo_metadata.json` and prints the summary. What the ranks
must agree on is decided by rank 0 and broadcast: the output folder (Hydra names its run folder by the time
of day, which differs by a second between processes), the MLflow run id and the staging folder of a save.

The launchers set RANK / WORLD_SIZE / LOCAL_RANK; we read them before any heavy import so a single-process run
never touches torch.distributed. The process group itself is accelerate's (`PartialState`), the same one the
transformers Trainer uses afterwards.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_distributed() -> bool:
    return world_size() > 1


def is_main_process() -> bool:
    return rank() == 0


def local_device() -> str:
    """This process's own accelerator (quantized weights must land there, not on cuda:0 for every rank)."""
    import torch

    if torch.cuda.is_available():
        return f"cuda:{local_rank()}"
    return "cpu"


def _state() -> Any:
    """accelerate's process state: creates the process group on first use (gloo on CPU, NCCL on GPUs)."""
    from accelerate import PartialState

    return PartialState()


def broadcast(value: Any) -> Any:
    """Rank 0's `value` on every rank (a picklable object); the value itself when single-process."""
    if not is_distributed():
        return value
    from accelerate.utils import broadcast_object_list

    _state()
    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]


def sum_across_processes(values: list[float]) -> list[float]:
    """Element-wise sums of every rank's `values` (same length on each), on every rank; the values when single."""
    if not is_distributed():
        return list(values)
    import torch
    import torch.distributed as dist

    state = _state()
    total = torch.tensor(values, dtype=torch.float64, device=state.device)  # NCCL needs the process's own GPU
    dist.all_reduce(total)
    return total.cpu().tolist()


def wait_for_everyone() -> None:
    if is_distributed():
        _state().wait_for_everyone()


def align_config(config: Any) -> None:
    """Make a multi-process run's config the same on every rank, and record what actually runs.

    - `output_dir`: rank 0's (Hydra's time-named run folder differs between processes).
    - `precompute_ref_log_probs` stays as asked: the crash of plain TRL here (its precompute writes a
      `datasets` cache file whose name, for an in-memory dataset, is random and in each process's own temporary
      folder, so the other ranks look for a file that does not exist) is gone, because the reference log-probs
      come from arabic-pref's on-disk cache (`training/ref_cache.py`), filled by rank 0 while the others wait.
    - `ref_model_device=cuda`: this process's GPU.
    """
    if not is_distributed():
        return
    _exit_on_sigterm()
    config.output_dir = broadcast(str(config.output_dir))
    if config.ref_model_device == "cuda":  # no index: each process's own GPU, never all on cuda:0
        config.ref_model_device = local_device()


def _exit_on_sigterm() -> None:
    """When one rank dies the launcher SIGTERMs the others: exit through `finally` blocks, so the main
    process's MLflow run ends FAILED instead of staying RUNNING."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
