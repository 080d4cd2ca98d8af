"""Which values are secret, and masking them wherever a value is written or printed.

A run writes its settings to many places: MLflow params, tags and artifacts, `dpo_metadata.json`, the model card,
`mlflow_run.json`, Hydra's `.hydra/*.yaml` copies and `train.log`, the console, the error texts a sweep stores in
its Optuna study. Three kinds of values must never reach any of them: token fields (`hub_token`, anything named
`*_token`, `*password*`, `*secret*`, `*api_key*`), the password of a URL (`postgresql://user:PASSWORD@host/db`,
`https://user:PASSWORD@mlflow.example`), and secrets that came from the environment (`${oc.env:HF_TOKEN}` is
resolved by Hydra before any of our code sees it, so the value is masked wherever it appears, whatever the key).
Every writer calls `mask` (structures), `mask_text` (text) or `mask_url`; this module is the one place that decides.
Nothing heavy is imported: it sits at the bottom of the package.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MASK = "***"
# Key names whose values are secret. `*_token` is also transformers' own rule (TrainingArguments.to_dict).
SECRET_KEY = re.compile(r"(^|[._])token$|_token$|password|passwd|secret|api_?key|credential", re.IGNORECASE)
# Environment variables that hold secrets: their values are masked wherever they appear.
SECRET_ENV = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACE_HUB_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "PGPASSWORD",
    "DATABRICKS_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
)
# scheme://user:PASSWORD@host — the password is everything between the first ':' after the user and the '@'
URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s'\"]*:)(?P<password>[^@/\s'\"]+)(?=@)")
MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words
_registered: set[str] = set()


def is_secret_key(name: str) -> bool:
    return bool(SECRET_KEY.search(str(name)))


def register(value: Any) -> None:
    """Remember `value` as a secret: from now on it is masked in every text, whatever key it appears under."""
    if isinstance(value, str) and len(value) >= MIN_SECRET_CHARS:
        _registered.add(value)


def register_from(mapping: Mapping[str, Any]) -> None:
    """Register the secrets a configuration holds: values of secret-named keys and URL passwords, at any depth."""
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            register_from(value)
        elif isinstance(value, str):
            if is_secret_key(key):
                register(value)
            for match in URL_PASSWORD.finditer(value):
                register(match.group("password"))


def known_secrets() -> list[str]:
    """Registered values and those of the secret environment variables, longest first (so none is cut in two)."""
    found = set(_registered)
    found |= {v for k in SECRET_ENV if len(v := os.environ.get(k, "")) >= MIN_SECRET_CHARS}
    return sorted(found, key=len, reverse=True)


def mask_url(url: str) -> str:
    return URL_PASSWORD.sub(lambda m: m.group("head") + MASK, url)


def mask_text(text: str) -> str:
    """`text` without URL passwords and without any known secret value."""
    text = mask_url(text)
    for secret in known_secrets():
        text = text.replace(secret, MASK)
    return text


def mask(value: Any) -> Any:
    """A copy of a structure (mappings, lists, strings) with secret-named keys and secret values masked."""
    if isinstance(value, Mapping):
        return {k: (MASK if is_secret_key(k) and v not in (None, "") else mask(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask(v) for v in value)
    if isinstance(value, str):
        return mask_text(value)
    return value


def mask_file(path: Path) -> None:
    """Rewrite a text file (e.g. Hydra's `.hydra/config.yaml`) with its secrets masked; no-op when it has none."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    masked = mask_text(text)
    if masked != text:
        path.write_text(masked, encoding="utf-8")


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in every record a handler writes (console, Hydra's train.log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_masking() -> None:
    """Mask secrets in what every handler of the root logger writes (idempotent)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
