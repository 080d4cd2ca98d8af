"""The offline default model: a tiny, seeded Qwen2ForCausalLM with the real Qwen2.5 tokenizer.

The hub is out of reach on many machines (CI included), yet every feature must run end to end on a real Qwen2
architecture and the real Qwen2.5 vocabulary. So we build one: random weights from a fixed seed, small enough
to train on two CPU cores, saved once with `save_pretrained` into a cache folder and then loaded by path
like any other model. The build is atomic (a temporary folder renamed into place), so concurrent sweep workers
and interrupted builds never leave a half-written model behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

CACHE_ENV = "ARABIC_PREF_CACHE"
# Bump when the architecture or the tokenizer build changes, so stale caches are not reused.
TINY_QWEN_VERSION = "v1"
TINY_QWEN_SEED = 1234
TINY_QWEN_DIMS = {
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
}


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "arabic-pref").expanduser()


def tiny_qwen_path() -> Path:
    return cache_root() / f"tiny-qwen2-{TINY_QWEN_VERSION}"


def ensure_tiny_qwen() -> Path:
    """Return the folder of the embedded model, building it on first use."""
    target = tiny_qwen_path()
    if not (target / "config.json").exists():
        build_atomically(target, _build_into)
    return target


def build_atomically(target: Path, build: Callable[[Path], None]) -> None:
    """Build a model folder in a hidden staging folder beside `target`, then rename it into place: a crash
    never leaves a half-built model, and when two processes build at once the first rename wins."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(staging)
        try:
            staging.rename(target)
        except OSError:  # another process finished first: keep its copy
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build_into(folder: Path) -> None:
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from arabic_pref.builtin.tokenizer import build_qwen25_tokenizer

    tokenizer = build_qwen25_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        bos_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TINY_QWEN_DIMS,
    )
    torch.manual_seed(TINY_QWEN_SEED)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.pad_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.pad_token_id],
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
