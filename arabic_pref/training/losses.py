"""How our loss options map onto TRL's losses, so TRL keeps doing the DPO maths.

Conservative DPO (cDPO, Mitchell 2023) assumes each preference label is flipped with probability eps:
    loss = -(1 - eps) * log sigmoid(beta * h) - eps * log sigmoid(-beta * h)
with h the policy-minus-reference log-ratio margin. TRL 1.16 has no such loss, and its `sigmoid` loss silently
ignores `label_smoothing`. It does combine losses with weights, and its `robust` loss (Chowdhury 2024) is
    ((1 - eps) * A - eps * B) / (1 - 2 eps),   A = -log sigmoid(beta h),  B = -log sigmoid(-beta h),
so   cDPO = 2 (1 - eps) * sigmoid + (-(1 - 2 eps)) * robust   exactly. We hand TRL that weighted pair instead of
patching its loss code; tests/test_losses.py pins both TRL formulas (the seam) and checks the result against
the cDPO formula on hand-computed values.
"""

from __future__ import annotations

import math
from typing import Any


def trl_loss_arguments(loss_type: str, label_smoothing: float, sft_weight: float = 0.0) -> dict[str, Any]:
    """trl.DPOConfig's loss list and weights for our `loss_type` (checked by loss_checks), always explicit.

    `rpo` is TRL's sigmoid plus `sft_weight` times its sft loss; `sigmoid` and `rpo` with label smoothing use the cDPO
    pair above, so rpo with smoothing is three losses: sigmoid + robust + sft. Every other loss is TRL's own.
    """
    eps = label_smoothing
    base = "sigmoid" if loss_type == "rpo" else loss_type
    if base == "sigmoid" and eps > 0:
        types, weights = ["sigmoid", "robust"], [2 * (1 - eps), -(1 - 2 * eps)]
    else:
        types, weights = [base], [1.0]
    if loss_type == "rpo":
        types, weights = [*types, "sft"], [*weights, sft_weight]
    return {"loss_type": types, "loss_weights": weights, "label_smoothing": eps}


def length_desensitized_logps(per_token_logps: Any, shift_completion_mask: Any, ld_alpha: float | None) -> Any:
    """Summed log-probs of each row of a [chosen; rejected] batch, as TRL's loss and reference passes sum them.

    With `ld_alpha` (LD-DPO, Liu et al. 2024) the tokens of a response past the shorter response of its pair count
    `ld_alpha` times; TRL applies this to policy and reference alike (`_compute_loss`, `compute_ref_log_probs`), so
    our per-pair scores must too, or preference accuracy would judge other log-ratios than the ones that trained.
    `per_token_logps` is 0 outside the completion, as TRL's fused head returns it.
    """
    import torch

    if ld_alpha is None:
        return (per_token_logps * shift_completion_mask).sum(dim=1)
    positions = shift_completion_mask.cumsum(dim=1)
    chosen_lens, rejected_lens = shift_completion_mask.sum(dim=1).long().chunk(2, dim=0)
    shared = torch.minimum(chosen_lens, rejected_lens).repeat(2).to(per_token_logps.device).unsqueeze(1)
    shared_mask = (positions > 0) & (positions <= shared) & shift_completion_mask.bool()
    tail_mask = (positions > shared) & shift_completion_mask.bool()
    return (per_token_logps * shared_mask).sum(dim=1) + ld_alpha * (per_token_logps * tail_mask).sum(dim=1)


def conservative_dpo_loss(beta: float, margin: float, eps: float) -> float:
    """The cDPO loss of one pair, in plain floats: the reference our TRL combination is tested against."""

    def log_sigmoid(x: float) -> float:
        return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))

    return -(1 - eps) * log_sigmoid(beta * margin) - eps * log_sigmoid(-beta * margin)
