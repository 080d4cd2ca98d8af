"""Where a model comes from, and loading it the way a DPO run needs.

`resolve_model_source` runs before anything heavy: a missing local path, or a hub id that is neither cached nor
reachable, is a ConfigError (exit 2) instead of a long hang on the network followed by a library traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from arabic_pref import hub
from arabic_pref.config import BUILTIN_MODEL, ConfigError

log = logging.getLogger(__name__)


def resolve_model_source(name: str, key: str = "model_name") -> str:
    """Map a configured model name to something `from_pretrained` loads without surprises."""
    if name == BUILTIN_MODEL:
        from arabic_pref.builtin.model import ensure_tiny_qwen

        return str(ensure_tiny_qwen())
    if name.startswith("builtin:"):
        from arabic_pref.checkpoints import CACHED_CHECKPOINTS

        if name not in CACHED_CHECKPOINTS:
            known = ", ".join([BUILTIN_MODEL, *CACHED_CHECKPOINTS])
            raise ConfigError(key, f"unknown built-in model {name!r}; built-in models: {known}")
        return str(CACHED_CHECKPOINTS[name](key))
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ConfigError(key, f"{path} exists but holds no config.json (not a saved model folder)")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise ConfigError(key, f"model path {name} does not exist (expected a saved model folder or a hub id)")
    if hub.cached(name):
        return name
    if hub.offline_by_env():
        raise ConfigError(key, f"{name} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    if not hub.reachable():
        raise ConfigError(
            key,
            f"{name} is not in the local Hugging Face cache and the hub ({hub.host()[0]}) is unreachable; "
            "download it where there is network, or pass a local folder as model_name "
            f"(the offline default is model_name={BUILTIN_MODEL})",
        )
    return name


def quantization_config(load_in_4bit: bool, load_in_8bit: bool, compute_dtype: Any) -> Any:
    """BitsAndBytesConfig for NF4 (4-bit) or int8, or None."""
    if not (load_in_4bit or load_in_8bit):
        return None
    from transformers import BitsAndBytesConfig

    if load_in_4bit:
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def torch_dtype(bf16: bool, fp16: bool) -> Any:
    import torch

    return torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32


def load_causal_lm(
    source: str,
    *,
    bf16: bool = False,
    fp16: bool = False,
    load_in_4bit: bool = False,
    load_in_8bit: bool = False,
    device: str | None = None,
) -> Any:
    from transformers import AutoModelForCausalLM

    dtype = torch_dtype(bf16, fp16)
    kwargs: dict[str, Any] = {"dtype": dtype}
    quant = quantization_config(load_in_4bit, load_in_8bit, dtype)
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": device or _default_device()}
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if device is not None and quant is None:
        model = model.to(device)
    return model


def load_tokenizer(source: str) -> Any:
    """The checkpoint's tokenizer, with eos = the chat template's end-of-turn token and a pad token.

    TRL appends `eos_token` to every response that does not already end with it, so a base model whose eos is
    not its template's end of turn (Qwen2.5-7B: `<|endoftext|>` vs `<|im_end|>`) would train on responses ending
    in both, and generations would not stop at the end of the turn. A tokenizer without a pad token pads with
    eos; TRL masks padding with its completion mask, not by token id, so the end token is still scored.
    """
    from transformers import AutoTokenizer

    from arabic_pref.chat_format import end_of_turn_token

    tokenizer = AutoTokenizer.from_pretrained(source)
    end_of_turn = end_of_turn_token(tokenizer)
    if end_of_turn != tokenizer.eos_token:
        log.info("eos_token %s -> %s, the chat template's end of turn", tokenizer.eos_token, end_of_turn)
        tokenizer.eos_token = end_of_turn
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _default_device() -> str:
    from arabic_pref.distributed import local_device

    return local_device()  # cuda:<LOCAL_RANK> under torchrun/accelerate: each process's own GPU


def check_device(device: str | None, key: str = "ref_model_device") -> None:
    """Before any model loads: the named device exists on this machine (ConfigError naming the key)."""
    if device is None:
        return
    import torch

    kind, _, index = device.partition(":")
    if kind == "cuda":
        count = torch.cuda.device_count()
        if count == 0 or (index and int(index) >= count):
            raise ConfigError(key, f"{device} is not present ({count} CUDA device(s) on this machine)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(key, "mps is not available on this machine")
