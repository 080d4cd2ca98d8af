"""Per-pair implicit rewards beta * (log pi(y|x) - log pi_ref(y|x)), scored the way TRL scores them.

TRL only logs batch means, but preference accuracy with ties counted as half (and, later, per-dialect
slices) needs every pair's rewards. We reuse TRL's tokenized eval dataset, its collator and its fused LM head
forward, so the numbers are the ones TRL's loss sees; the reference is the adapter-disabled base under LoRA
or the separate frozen reference model otherwise.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from accelerate.utils import is_peft_model
from trl.trainer.utils import use_adapter


def _sequence_logps(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    completion_mask = batch["completion_mask"]
    labels = batch["input_ids"].masked_fill(completion_mask == 0, -100)
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        labels=labels,
        fused_lm_head=True,
        use_cache=False,
    )
    seq_len = completion_mask.size(1) - 1
    return out.log_probs[:, -seq_len:].sum(dim=1)


def _reference_context(trainer: Any) -> tuple[Any, Any]:
    """(module to call, context manager) that yields reference log-probs."""
    if trainer.ref_model is None and is_peft_model(trainer.model):
        unwrapped = trainer.accelerator.unwrap_model(trainer.model)
        adapter = "ref" if "ref" in unwrapped.peft_config else None
        return trainer.model, use_adapter(unwrapped, adapter_name=adapter)
    return trainer.ref_model or trainer.model, contextlib.nullcontext()


@torch.no_grad()
def pair_rewards(trainer: Any, dataset: Any = None) -> tuple[list[float], list[float]]:
    """Chosen and rejected implicit rewards of every pair of `dataset` (default: the trainer's eval set)."""
    model = trainer.model
    was_training = model.training
    model.eval()
    chosen: list[float] = []
    rejected: list[float] = []
    try:
        for batch in trainer.get_eval_dataloader(dataset):
            batch = trainer._prepare_inputs(batch)
            policy = _sequence_logps(model, batch)
            if "ref_chosen_logps" in batch:
                reference = torch.cat([batch["ref_chosen_logps"], batch["ref_rejected_logps"]])
            else:
                ref_module, ctx = _reference_context(trainer)
                with ctx:
                    reference = _sequence_logps(ref_module, batch)
            rewards = (trainer.beta * (policy - reference)).float()
            # every rank scores its shard; gather_for_metrics drops the padding of an uneven last batch,
            # so each validation pair counts exactly once whatever the number of processes
            c, r = trainer.accelerator.gather_for_metrics(tuple(part.contiguous() for part in rewards.chunk(2)))
            chosen.extend(c.cpu().tolist())
            rejected.extend(r.cpu().tolist())
    finally:
        model.train(was_training)
    return chosen, rejected
