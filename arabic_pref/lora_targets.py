"""Which modules get LoRA adapters, per architecture.

`lora_target_modules` is written in Llama/Qwen names (`q_proj`, `v_proj`, ...), but other architectures name
their projections differently (GPT-2: one fused `c_attn` for q, k and v, `c_proj` for the output; GPT-NeoX and
Falcon: `query_key_value`, `dense`), and PEFT then stops with "target modules not found". So the configured
names are resolved against the model: `all-linear` anywhere in the list is PEFT's own "every linear layer but
the output head"; names the model has are kept; the others are translated through a table by `model_type`;
a name that is still unknown is a ConfigError naming it.
"""

from __future__ import annotations

from typing import Any

from arabic_pref.errors import ConfigError

ALL_LINEAR = "all-linear"

# Llama/Qwen projection names -> the module name (a suffix, as PEFT matches it) of each architecture.
_LLAMA_TO_GPT2 = {
    "q_proj": "attn.c_attn",
    "k_proj": "attn.c_attn",
    "v_proj": "attn.c_attn",
    "o_proj": "attn.c_proj",
    "gate_proj": "mlp.c_fc",
    "up_proj": "mlp.c_fc",
    "down_proj": "mlp.c_proj",
}
_LLAMA_TO_NEOX = {
    "q_proj": "query_key_value",
    "k_proj": "query_key_value",
    "v_proj": "query_key_value",
    "o_proj": "attention.dense",
    "up_proj": "dense_h_to_4h",
    "gate_proj": "dense_h_to_4h",
    "down_proj": "dense_4h_to_h",
}
TARGET_NAME_TABLE: dict[str, dict[str, str]] = {
    "gpt2": _LLAMA_TO_GPT2,
    "gpt_neox": _LLAMA_TO_NEOX,
    "falcon": {**_LLAMA_TO_NEOX, "o_proj": "self_attention.dense"},
    "bloom": {**_LLAMA_TO_NEOX, "o_proj": "self_attention.dense"},
}


def resolve_target_modules(configured: list[str], model: Any) -> str | list[str]:
    """PEFT's `target_modules` for `model`: `"all-linear"`, or the configured names in the model's own names."""
    names = list(configured)
    if ALL_LINEAR in names:
        return ALL_LINEAR
    present = _module_names(model)
    model_type = getattr(model.config, "model_type", "?")
    table = TARGET_NAME_TABLE.get(model_type, {})
    resolved: list[str] = []
    for name in names:
        target = name if _has_module(present, name) else table.get(name)
        if target is None or not _has_module(present, target):
            raise ConfigError(
                "lora_target_modules",
                f"{model_type} has no module {name!r} (and no translation for it); name its modules "
                f"(e.g. {', '.join(_linear_suffixes(model)[:6])}) or use [{ALL_LINEAR}]",
            )
        if target not in resolved:
            resolved.append(target)
    return resolved


def _module_names(model: Any) -> list[str]:
    return [name for name, _ in model.named_modules()]


def _has_module(present: list[str], suffix: str) -> bool:
    return any(name == suffix or name.endswith("." + suffix) for name in present)


def _linear_suffixes(model: Any) -> list[str]:
    import torch
    from transformers.pytorch_utils import Conv1D

    found: list[str] = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear | Conv1D) and name.split(".")[-1] not in found:
            found.append(name.split(".")[-1])
    return found
