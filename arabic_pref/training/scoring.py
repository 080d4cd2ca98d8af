"""Per-pair implicit rewards beta * (log pi(y|x) - log pi_ref(y|x)), scored the way TRL scores them.

TRL only logs batch means, but preference accuracy with ties counted as half (and per-dialect slices) needs
every pair's rewards. Evaluations inside training get them from TRL's own evaluation forward (see
`trl_dpo.ArabicPrefDPOTrainer.eval_pair_scores`); this module scores a dataset outside TRL's evaluation (step 0,
extra evaluation sets). We reuse TRL's tokenized eval dataset, its collator and its fused LM head (log-probs only),
so the numbers are the ones TRL's loss sees; the reference log-probs come from the dataset's cached columns, or
from the adapter-disabled base under LoRA / the separate frozen reference otherwise.

When the policy provably equals its reference (LoRA adapters whose B matrices are all zero, as at step 0, or a
full fine-tune whose weights are bitwise those of the reference), the policy's log-probs *are* the reference's:
every pair is an exact tie (accuracy 0.5), whatever batching computed the cached values. No policy forward runs;
and when only the log-ratios are wanted (`relative=True`, as preference metrics want them) no forward runs at
all, even without precomputed reference log-probs: the step-0 metrics of a run cost one pass of the collator.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from accelerate.utils import is_peft_model
from trl.trainer.utils import use_adapter

from arabic_pref import upstream
from arabic_pref.metrics import PairScores
from arabic_pref.training.losses import length_desensitized_logps


def _sequence_logps(model: Any, batch: dict[str, torch.Tensor], ld_alpha: float | None = None) -> torch.Tensor:
    """Summed log-probs of the completion tokens of each row (TRL's fused LM head, TRL's masking and LD weights)."""
    from arabic_pref.training.trl_dpo import lean_fused_head

    completion_mask = batch["completion_mask"]
    labels = batch["input_ids"].masked_fill(completion_mask == 0, -100)
    with lean_fused_head():
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=labels,
            fused_lm_head=True,
            use_cache=False,
        )
    seq_len = completion_mask.size(1) - 1
    return length_desensitized_logps(out.log_probs[:, -seq_len:], completion_mask[:, 1:], ld_alpha)


def _reference_context(trainer: Any) -> tuple[Any, Any]:
    """(module to call, context manager) that yields reference log-probs."""
    if trainer.ref_model is None and is_peft_model(trainer.model):
        unwrapped = trainer.accelerator.unwrap_model(trainer.model)
        adapter = "ref" if "ref" in unwrapped.peft_config else None
        return trainer.model, use_adapter(unwrapped, adapter_name=adapter)
    return trainer.ref_model or trainer.model, contextlib.nullcontext()


def policy_is_reference(trainer: Any) -> bool:
    """True when the policy's log-probs are exactly its reference's (checked on the weights, not assumed)."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    if trainer.ref_model is None and is_peft_model(model):
        if "ref" in model.peft_config or any(getattr(c, "modules_to_save", None) for c in model.peft_config.values()):
            return False
        lora_b = [p for n, p in model.named_parameters() if "lora_B" in n or "lora_embedding_B" in n]
        return bool(lora_b) and all(not p.any() for p in lora_b)
    ref = trainer.ref_model
    if ref is None or trainer.state.global_step > 0:
        return False
    ref = trainer.accelerator.unwrap_model(ref)
    ours, theirs = dict(model.named_parameters()), dict(ref.named_parameters())
    if ours.keys() != theirs.keys():
        return False
    return all(
        a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b.to(a.device))
        for n, a in ours.items()
        for b in [theirs[n]]
    )


@torch.no_grad()
def pair_scores(trainer: Any, dataset: Any = None, relative: bool = False) -> PairScores:
    """Policy and reference log-probs and response lengths of every pair of `dataset` (default: the eval set).

    `relative=True`: only policy - reference matters to the caller; when the two are provably identical, both are
    recorded as 0 (their exact difference) without a forward.
    """
    model = trainer.model
    was_training = model.training
    model.eval()
    scores = PairScores()
    ld_alpha = trainer.ld_alpha  # the reference columns carry TRL's LD weighting already; the forwards below too
    try:
        identical = policy_is_reference(trainer)
        for batch in trainer.get_eval_dataloader(dataset):
            batch = upstream.prepare_inputs(trainer, batch)
            if "ref_chosen_logps" in batch:
                reference = torch.cat([batch["ref_chosen_logps"], batch["ref_rejected_logps"]])
                policy = reference if identical else _sequence_logps(model, batch, ld_alpha)
            elif identical and relative:
                policy = reference = batch["input_ids"].new_zeros(batch["input_ids"].size(0), dtype=torch.float32)
            elif identical:
                policy = reference = _sequence_logps(model, batch, ld_alpha)
            else:
                policy = _sequence_logps(model, batch, ld_alpha)
                ref_module, ctx = _reference_context(trainer)
                with ctx:
                    reference = _sequence_logps(ref_module, batch, ld_alpha)
            tokens = batch["completion_mask"][:, 1:].sum(dim=1)
            parts = (*policy.float().chunk(2), *reference.float().chunk(2), *tokens.chunk(2))
            # every rank scores its shard; gather_for_metrics drops the padding of an uneven last batch,
            # so each validation pair counts exactly once whatever the number of processes
            gathered = trainer.accelerator.gather_for_metrics(tuple(part.contiguous() for part in parts))
            scores.extend(PairScores(*(t.cpu().tolist() for t in gathered)))
    finally:
        model.train(was_training)
    return scores


def pair_rewards(trainer: Any, dataset: Any = None) -> tuple[list[float], list[float]]:
    """Chosen and rejected implicit rewards beta * (log pi - log pi_ref) of every pair of `dataset`."""
    scores = pair_scores(trainer, dataset)
    beta = trainer.beta
    return [beta * x for x in scores.chosen_logratios()], [beta * x for x in scores.rejected_logratios()]
