"""Every private name of another library that arabic-pref relies on, in one place, next to the versions it was read
from (`pyproject.toml` pins the same ranges).

Each function below wraps one private API, says why we need it, and is exercised by `tests/test_upstream.py`,
which fails loudly when the upstream name or its behaviour changes: upgrading TRL, transformers, datasets, Hydra or
bitsandbytes is this file's work. Nothing else in the package touches a private name of those libraries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

# The versions these seams were read from (the ranges of pyproject.toml).
READ_FROM = {
    "trl": "1.16",
    "transformers": "5.24",
    "datasets": "5.2",
    "hydra-core": "1.3",
    "bitsandbytes": "0.50",
}


# --- TRL: the fused LM-head log-prob function and its "compact" switch (arabic_pref.fast_logprob) ---
def trl_logprob_seam() -> tuple[Any, Any]:
    """(TRL's `_ChunkedLogProbFunction`, its `_use_triton` predicate), as `add_fused_lm_head` calls them.

    TRL's fused LM head calls `trl.trainer.utils._ChunkedLogProbFunction.apply(...)` and scores only labelled
    positions when `_use_triton(device)`; our CPU path replaces the first and turns the second on for CPUs.
    """
    import trl.trainer.utils as trl_utils

    return trl_utils._ChunkedLogProbFunction, trl_utils._use_triton


def set_trl_logprob_seam(function: Any, use_compact: Callable[[Any], bool]) -> None:
    import trl.trainer.utils as trl_utils

    trl_utils._ChunkedLogProbFunction = function
    trl_utils._use_triton = use_compact


@contextlib.contextmanager
def trl_logprobs_only() -> Iterator[None]:
    """Inside the block, TRL's fused LM head computes only log-probs (no entropy, mean logit, top-1).

    The reference pass needs nothing else; the same function on the same tiles as the policy's forward, so the
    values are bit-identical to the policy path for the same weights (an untrained LoRA policy ties exactly).
    """
    function, use_triton = trl_logprob_seam()

    class _LogProbsOnly:
        @staticmethod
        def apply(hidden, weight, bias, targets, temperature, chunk_size, softcap, logit_scale, outputs):
            return function.apply(
                hidden, weight, bias, targets, temperature, chunk_size, softcap, logit_scale, ("log_probs",)
            )

    set_trl_logprob_seam(_LogProbsOnly, use_triton)
    try:
        yield
    finally:
        set_trl_logprob_seam(function, use_triton)


@contextlib.contextmanager
def trl_without_policy_hash() -> Iterator[None]:
    """`trl.DPOTrainer.__init__` hashes every weight of the policy (`hash_module`) to key its precompute cache;
    ours is keyed by the reference's weight files instead (training/ref_cache.py), so the hash is skipped."""
    import trl.trainer.dpo_trainer as trl_dpo

    original = trl_dpo.hash_module
    trl_dpo.hash_module = lambda module: "arabic-pref-ref-cache"
    try:
        yield
    finally:
        trl_dpo.hash_module = original


# --- TRL: the DPOTrainer methods training/trl_dpo.py overrides (its seams; names checked by the tests) ---
# `_push_from_checkpoint` (transformers' Trainer): the per-checkpoint hub push, routed through our model-files-only
# upload (arabic_pref.training.hub_push), which also waits on `_finish_current_push` before the final upload.
TRL_DPO_OVERRIDES = (
    "_precompute_ref_logps",
    "_prepare_dataset",
    "compute_loss",
    "evaluate",
    "train",
    "_push_from_checkpoint",
    "_finish_current_push",
)


# --- optuna: the storage id of a trial (the sweep passes it to its jobs) ---
def optuna_trial_id(trial: Any) -> int:
    """`Trial._trial_id`: the id storage methods take (heartbeats, rebuilding the trial in a job process)."""
    return trial._trial_id


def stored_trial(study: Any, trial: Any) -> Any:
    """`Study._storage.get_trial`: the trial as the storage holds it now (another worker may have finished it)."""
    return study._storage.get_trial(optuna_trial_id(trial))


# --- transformers: moving a collated batch to the trainer's device (arabic_pref.training.scoring) ---
def prepare_inputs(trainer: Any, batch: dict) -> dict:
    """`Trainer._prepare_inputs`: the device placement (and DeepSpeed/FSDP dtype handling) TRL's loss sees."""
    return trainer._prepare_inputs(batch)


# --- TRL: tokenizing an evaluation set the way the trainer's own eval set was ---
def trl_prepare_dataset(trainer: Any, dataset: Any, name: str) -> Any:
    """`trl.DPOTrainer._prepare_dataset`: the tokenization TRL applies to train/eval sets in its constructor.

    Needed to score an evaluation set given after the trainer was built (`evaluate_model(ds)`, extra eval sets)
    exactly like the trainer's own validation set.
    """
    return trainer._prepare_dataset(dataset, trainer.processing_class, trainer.args, name)


# --- datasets: hashing tokenizers by digest in dataset fingerprints (arabic_pref.training.fingerprint) ---
def register_datasets_reducer(cls: type, reducer: Callable[[Any, Any], None]) -> None:
    """Teach `datasets`' fingerprint pickler (`datasets.utils._dill`) to reduce objects of `cls` with `reducer`."""
    from datasets.utils._dill import Pickler, pklregister

    if cls not in Pickler.dispatch:
        pklregister(cls)(reducer)


# --- Hydra: the exception a failed job raised (the sweeper plugin) ---
def hydra_job_exception(job_return: Any) -> BaseException | None:
    """The exception of a failed `JobReturn`; `JobReturn.return_value` re-raises it instead of returning it."""
    value = job_return._return_value
    return value if isinstance(value, BaseException) else None


# --- bitsandbytes: 4-bit weights that stay trainable on CPU (BaseTrainer.setup_model) ---
def keep_bnb_cpu_layout_trainable(model: Any) -> int:
    """bitsandbytes 0.50 repacks 4-bit CPU weights for inference the first time a layer runs in eval mode (our
    step-0 evaluation) and keeps that layout, whose kernel then fails in training; its per-layer flag
    `support_avx512bf16_for_cpu` turns the repacking off. Returns how many layers were set."""
    n = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            n += 1
    return n


# --- transformers: waiting for a checkpoint's hub push still in flight (arabic_pref.training.hub_push) ---
def finish_current_push(trainer: Any) -> None:
    """`Trainer._finish_current_push`: the final upload must not race a checkpoint push still running."""
    trainer._finish_current_push()
