"""How far the policy moved from its reference: per-token KL on chosen responses, perplexity on held-out text.

- `kl_per_token`: mean over every response position of the validation pairs' chosen answers of the full-
  vocabulary KL(policy || reference) of the next-token distributions (the quantity DPO's beta restrains).
  Only the response positions' logits are computed (`logits_to_keep`), one row at a time, so memory stays at
  (response tokens x vocabulary) floats even with Qwen's 151k-token vocabulary.
- `perplexity_ratio`: perplexity of the policy over the reference's on the shipped held-out Arabic texts
  (`arabic_pref/data/heldout_text`, see its card): above 1, DPO made plain Arabic less likely.

Under several processes (torchrun, accelerate launch) both passes split their rows between the ranks and add the
sums across them: the figures are those of one process, with each validation pair and text counted once
(tests/test_distributed.py).

The reference of a LoRA run is the base with adapters disabled (`arabic_pref.training.reference`); a model
compared with itself gives KL 0 and ratio 1 exactly (tests/test_evaluation_drift.py).
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from arabic_pref import distributed
from arabic_pref.evaluation.inputs import read_text_rows

HELDOUT_KEY = "eval_heldout_path"
HELDOUT_MAX_TOKENS = 128


def shipped_heldout_path() -> Path:
    return Path(str(resources.files("arabic_pref") / "data" / "heldout_text" / "heldout.jsonl"))


def load_heldout_texts(path: str | None) -> list[str]:
    file = Path(path).expanduser() if path else shipped_heldout_path()
    return [row["text"] for _, row in read_text_rows(file, HELDOUT_KEY, "text")]


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _tail_logits(model: Any, ids: torch.Tensor, keep: int) -> torch.Tensor:
    """Float32 logits of the last `keep` positions of one unpadded row [1, L]."""
    out = model(input_ids=ids.to(_device(model)), logits_to_keep=keep, use_cache=False)
    return out.logits[0].float().cpu()


@torch.no_grad()
def kl_on_responses(policy: Any, reference: Any, rows: list[tuple[torch.Tensor, int]]) -> tuple[float, int]:
    """(mean per-token KL(policy || reference), response tokens) over `rows` of (token ids [L], response start).

    Under several processes each rank scores its share of `rows` (every rank holds all of them, see
    `chosen_rows`) and the sums are added across ranks, so each validation pair counts once.
    """
    total, count = distributed.sum_across_processes(_kl_sums(policy, reference, _my_share(rows)))
    return (total / count if count else float("nan")), int(count)


def _kl_sums(policy: Any, reference: Any, rows: list[tuple[torch.Tensor, int]]) -> list[float]:
    """[summed KL, response tokens] of `rows`.

    The distribution that predicts the token at position t is read at t - 1, so a response starting at s
    needs the logits of positions s-1 .. L-2.
    """
    total, count = 0.0, 0
    for ids, start in rows:
        n = ids.numel() - start
        if n <= 0 or start < 1:
            continue
        row = ids.unsqueeze(0)
        # logits_to_keep=n+1 returns positions L-n-1 .. L-1; the last one predicts beyond the response
        p = torch.log_softmax(_tail_logits(policy, row, n + 1)[:-1], dim=-1)
        q = torch.log_softmax(_tail_logits(reference, row, n + 1)[:-1], dim=-1)
        total += float((p.exp() * (p - q)).sum())
        count += n
    return [total, float(count)]


@torch.no_grad()
def mean_nll(model: Any, token_rows: list[list[int]]) -> tuple[float, int]:
    """(mean negative log-likelihood per predicted token, predicted tokens) of plain token sequences; under
    several processes each rank scores its share and the sums are added across ranks."""
    total, count = 0.0, 0
    for tokens in _my_share(token_rows):
        if len(tokens) < 2:
            continue
        ids = torch.tensor([tokens])
        logits = model(input_ids=ids.to(_device(model)), use_cache=False).logits[0, :-1].float().cpu()
        total += float(torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum"))
        count += len(tokens) - 1
    total, count = distributed.sum_across_processes([total, float(count)])
    return (total / count if count else float("nan")), int(count)


def _my_share(rows: list) -> list:
    """This process's rows: every world_size-th from its rank (all of them in a single process)."""
    return rows[distributed.rank() :: distributed.world_size()]


def perplexity_ratio(policy: Any, reference: Any, tokenizer: Any, texts: list[str]) -> dict[str, float]:
    """Perplexities of policy and reference on `texts` (each cut at HELDOUT_MAX_TOKENS tokens) and their ratio."""
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"][:HELDOUT_MAX_TOKENS] for t in texts]
    policy_nll, _ = _eval_mode(policy, lambda: mean_nll(policy, rows))
    reference_nll, _ = _eval_mode(reference, lambda: mean_nll(reference, rows))
    return {
        "drift/ppl_policy": math.exp(policy_nll),
        "drift/ppl_reference": math.exp(reference_nll),
        "drift/ppl_ratio": math.exp(policy_nll - reference_nll),
    }


def _eval_mode(model: Any, fn: Any) -> Any:
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        return fn()
    finally:
        if was_training:
            model.train()


def chosen_rows(trl_trainer: Any, dataset: Any = None) -> list[tuple[torch.Tensor, int]]:
    """(prompt + chosen ids, response start) of every pair of TRL's eval dataset, as TRL's collator cuts them.

    Under several processes the eval dataloader is sharded and pads an uneven last batch with repeated pairs;
    `gather_for_metrics` joins the shards and drops that padding, so every rank holds every pair exactly once.
    """
    rows = []
    for batch in trl_trainer.get_eval_dataloader(dataset):
        half = batch["input_ids"].shape[0] // 2  # chosen rows first, then rejected
        batch_rows = []
        for ids, mask, completion in zip(
            batch["input_ids"][:half], batch["attention_mask"][:half], batch["completion_mask"][:half], strict=True
        ):
            keep = mask.bool()
            ids, completion = ids[keep].cpu(), completion[keep].cpu()
            positions = completion.nonzero()
            # a pair with no completion token still takes its place, so the gather's padding count stays right
            batch_rows.append((ids[: int(positions[-1]) + 1], int(positions[0])) if len(positions) else None)
        if distributed.is_distributed():
            batch_rows = trl_trainer.accelerator.gather_for_metrics(batch_rows, use_gather_object=True)
        rows += [row for row in batch_rows if row is not None]
    return rows


def kl_metrics(policy: Any, reference: Any, rows: list[tuple[torch.Tensor, int]]) -> dict[str, float]:
    kl, tokens = _eval_mode(policy, lambda: kl_on_responses(policy, reference, rows))
    return {"drift/kl_per_token": kl, "drift/kl_tokens": float(tokens)}
