"""Stop training at the first NaN or infinite loss, naming the step.

transformers' `logging_nan_inf_filter` (on by default) replaces a non-finite step loss by the running mean before
it is logged, and the optimizer step that follows turns the weights into NaN, so such a run used to go on to the
end and report nonsense. The loss is checked where it is computed: `Trainer.training_step` (a public method meant
to be overridden) is wrapped on the TRL trainer instance to raise `NonFiniteLossError` right after the backward
pass of the offending micro-batch, before the optimizer applies its gradients. The check is one device-to-host
read of a scalar per micro-batch, the same one transformers' own filter already does.
"""

from __future__ import annotations

import math
from typing import Any


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite at `step` (1-based optimizer update)."""

    def __init__(self, step: int, value: float):
        self.step = step
        self.value = value
        super().__init__(
            f"training loss is {value} at step {step}: training stopped (lower learning_rate, check the data for "
            "extreme pairs, or use bf16 instead of fp16)"
        )


def guard_non_finite_loss(trl_trainer: Any) -> Any:
    """Make `trl_trainer` raise NonFiniteLossError on the first micro-batch whose loss is not finite."""
    inner = trl_trainer.training_step

    def training_step(*args: Any, **kwargs: Any) -> Any:
        loss = inner(*args, **kwargs)
        value = float(loss.detach().float().sum())
        if not math.isfinite(value):
            raise NonFiniteLossError(trl_trainer.state.global_step + 1, value)
        return loss

    trl_trainer.training_step = training_step
    return trl_trainer
