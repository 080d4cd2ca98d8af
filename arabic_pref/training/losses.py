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


def trl_loss_arguments(loss_type: str, label_smoothing: float) -> dict[str, Any]:
    """Arguments for trl.DPOConfig implementing our `loss_type` with `label_smoothing` applied where it should be."""
    if loss_type == "sigmoid" and label_smoothing > 0:
        eps = label_smoothing
        return {
            "loss_type": ["sigmoid", "robust"],
            "loss_weights": [2 * (1 - eps), -(1 - 2 * eps)],
            "label_smoothing": eps,
        }
    return {"loss_type": loss_type, "label_smoothing": label_smoothing}


def conservative_dpo_loss(beta: float, margin: float, eps: float) -> float:
    """The cDPO loss of one pair, in plain floats: the reference our TRL combination is tested against."""

    def log_sigmoid(x: float) -> float:
        return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))

    return -(1 - eps) * log_sigmoid(beta * margin) - eps * log_sigmoid(-beta * margin)
