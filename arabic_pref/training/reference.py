"""The reference model of a LoRA run, without a second copy of the weights.

With LoRA and no distinct `ref_model_name`, the reference *is* the frozen base under the adapters: TRL scores
it by disabling the adapters. `AdapterDisabledReference` gives the spec's `trainer.ref_model` that meaning as
an object: calling it or generating with it runs the shared model under `disable_adapter()`, and its
parameters and device are the base's, so code that inspects the reference keeps working. No tensor is copied.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


class AdapterDisabledReference:
    def __init__(self, model: Any):
        self.model = model

    def _disabled(self) -> contextlib.AbstractContextManager:
        disable = getattr(self.model, "disable_adapter", None)
        has_adapters = bool(getattr(self.model, "peft_config", None))
        return disable() if disable is not None and has_adapters else contextlib.nullcontext()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._disabled(), torch.no_grad():
            return self.model(*args, **kwargs)

    forward = __call__

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        with self._disabled(), torch.no_grad():
            return self.model.generate(*args, **kwargs)

    def named_parameters(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, torch.nn.Parameter]]:
        return ((n, p) for n, p in self.model.named_parameters(*args, **kwargs) if "lora_" not in n)

    def parameters(self, *args: Any, **kwargs: Any) -> Iterator[torch.nn.Parameter]:
        return (p for _, p in self.named_parameters(*args, **kwargs))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def training(self) -> bool:
        return False

    def eval(self) -> AdapterDisabledReference:
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def __repr__(self) -> str:
        return f"AdapterDisabledReference(base of {type(self.model).__name__}, no copy)"


def restore_lora_dropout(model: Any, p: float) -> float | None:
    """Give the LoRA layers back their dropout after TRL zeroed every dropout; return what they now apply.

    TRL's `disable_dropout=True` default sets `p = 0` on every `nn.Dropout` after PEFT wrapped the model, so
    `lora_dropout` would never act. The base model's dropouts stay off (TRL's intent: the policy and the reference
    see the same network); only PEFT's `lora_dropout` modules get `p` back. None when the model has no LoRA layers.
    """
    applied = None
    for name, module in model.named_modules():
        if ".lora_dropout." in f".{name}." and isinstance(module, torch.nn.Dropout):
            module.p = p
            applied = p
    return applied
