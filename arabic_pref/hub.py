"""The Hugging Face hub as arabic-pref sees it: where it is, whether it can be reached, whether to try at all.

Model loading and hub datasets both ask these questions before anything heavy runs, so a missing model or data
set is a clear error at once instead of a long wait on the network. `HF_HUB_OFFLINE` is parsed here only, by
huggingface_hub's own rule (1, ON, YES or TRUE, any case, means offline), so both agree with the libraries.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

PROBE_TIMEOUT_S = 3.0
_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}  # huggingface_hub.constants.ENV_VARS_TRUE_VALUES


def host() -> tuple[str, int]:
    """Host and port of the hub, honouring HF_ENDPOINT like huggingface_hub does."""
    parsed = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return parsed.hostname or "huggingface.co", parsed.port or (443 if parsed.scheme == "https" else 80)


def offline_by_env() -> bool:
    """Whether HF_HUB_OFFLINE asks for the local cache only."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE_VALUES


def reachable() -> bool:
    try:
        socket.create_connection(host(), timeout=PROBE_TIMEOUT_S).close()
        return True
    except OSError:
        return False


def cached(repo_id: str) -> bool:
    """Whether a hub model's config.json is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(found, str) and Path(found).exists()


@contextmanager
def offline_mode(offline: bool):
    """Make `datasets` and `huggingface_hub` read only the local cache for the duration of one load.

    Both libraries read HF_HUB_OFFLINE once, at import, into module constants; a process that imported them
    before finding the hub unreachable must have those constants switched too, or the load retries the network.
    """
    if not offline:
        yield
        return
    import datasets.config
    import huggingface_hub.constants

    saved = (os.environ.get("HF_HUB_OFFLINE"), datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE)
    os.environ["HF_HUB_OFFLINE"] = "1"
    datasets.config.HF_HUB_OFFLINE = True
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved[0]
        datasets.config.HF_HUB_OFFLINE = saved[1]
        huggingface_hub.constants.HF_HUB_OFFLINE = saved[2]
