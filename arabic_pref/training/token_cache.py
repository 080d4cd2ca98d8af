"""TRL's tokenized preference data, kept on disk and reused across the trials of a sweep and across runs.

Our datasets live in memory, so `datasets` never caches TRL's tokenization of them: every trial re-tokenized
the same pairs. Here the result is stored under `<cache>/tokenized/<key>/` (`save_to_disk`, written to a
temporary folder and renamed: concurrent writers are safe), keyed like a `datasets` fingerprint but by content:
the pairs as formatted (chat template, system prompt, normalization and length limits already applied), the
tokenizer's digest (vocabulary, chat template, special tokens), TRL's length settings and the versions of TRL
and `datasets`. Any change of those is a new key. A folder that fails to load is removed and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


def cache_dir() -> Path:
    from arabic_pref.training.ref_cache import cache_dir as ref_dir

    return ref_dir().parent / "tokenized"


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """No `datasets` progress bars inside the block (restored after)."""
    from datasets.utils import logging as ds_logging

    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()


def dataset_key(dataset: Any, tokenizer: Any, args: Any) -> str:
    from importlib.metadata import version

    from arabic_pref.training.fingerprint import tokenizer_digest

    h = hashlib.sha256()
    h.update(json.dumps(dataset.to_dict(), sort_keys=True, ensure_ascii=False, default=str).encode())
    settings = {
        "format": FORMAT_VERSION,
        "tokenizer": tokenizer_digest(tokenizer) if hasattr(tokenizer, "backend_tokenizer") else repr(tokenizer),
        "max_length": args.max_length,
        "truncation_mode": args.truncation_mode,
        "trl": version("trl"),
        "datasets": version("datasets"),
    }
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()[:32]


def prepared(dataset: Any, tokenizer: Any, args: Any, prepare: Callable[[Any], Any]) -> Any:
    """`prepare(dataset)` (TRL's tokenization), from the cache when the same content was prepared before."""
    from datasets import Dataset

    if not isinstance(dataset, Dataset):  # iterable datasets: nothing to key by
        return prepare(dataset)
    folder = cache_dir() / dataset_key(dataset, tokenizer, args)
    with quiet_progress():
        if folder.is_dir():
            try:
                return Dataset.load_from_disk(str(folder))
            except Exception as err:  # partial or corrupt: rebuild
                log.warning("tokenized-data cache: %s unreadable (%s); rebuilding it", folder, err)
                shutil.rmtree(folder, ignore_errors=True)
        result = prepare(dataset)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent)
        try:
            result.save_to_disk(staging)
            os.rename(staging, folder)
        except OSError:  # another process stored the same key first: keep its copy
            if not folder.is_dir():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return result
