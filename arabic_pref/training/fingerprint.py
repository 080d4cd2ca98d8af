"""Fast, stable dataset fingerprints for maps that take the tokenizer.

`datasets` fingerprints every `map` by pickling its function and arguments; TRL's dataset preparation passes
the tokenizer, and pickling Qwen's 151,665-token tokenizer costs ~6 s per call, four or more calls per run:
most of a small run's set-up and of every sweep trial. We teach `datasets`' pickler to reduce a tokenizer to a
digest of what defines its behaviour (its serialized backend, chat template and special tokens), computed once
per tokenizer object. Fingerprints stay deterministic, so caching keeps working.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

DIGEST_ATTR = "_arabic_pref_digest"


def tokenizer_digest(tokenizer: Any) -> str:
    digest = getattr(tokenizer, DIGEST_ATTR, None)
    if digest is None:
        h = hashlib.sha256()
        h.update(tokenizer.backend_tokenizer.to_str().encode())
        h.update(str(getattr(tokenizer, "chat_template", "")).encode())
        h.update(json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str).encode())
        h.update(f"{tokenizer.padding_side}|{tokenizer.truncation_side}|{tokenizer.model_max_length}".encode())
        digest = h.hexdigest()
        setattr(tokenizer, DIGEST_ATTR, digest)
    return digest


def _digest_placeholder(digest: str) -> str:
    return digest


def _save_tokenizer(pickler: Any, obj: Any) -> None:
    pickler.save_reduce(_digest_placeholder, (tokenizer_digest(obj),), obj=obj)


def register_fast_tokenizer_hashing(tokenizer: Any) -> None:
    """Make `datasets` hash tokenizers of this class by digest (idempotent)."""
    if not hasattr(tokenizer, "backend_tokenizer"):
        return
    from arabic_pref.upstream import register_datasets_reducer

    register_datasets_reducer(type(tokenizer), _save_tokenizer)
