"""dpo_metadata.json: the spec's keys plus what makes a run reproducible, always written atomically."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

METADATA_FILE = "dpo_metadata.json"
TRACKED_PACKAGES = ("arabic-pref", "torch", "transformers", "trl", "peft", "datasets", "accelerate")


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder and rename it over `path`: never a half-written file."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """`atomic_write_text` for bytes: a temporary file beside `path`, synced, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def build_dpo_metadata(
    config: Any, *, ref_model_name: str, dataset_hash: str | None, extra: dict | None = None
) -> dict:
    return {
        "training_method": "dpo",
        "beta": config.beta,
        "loss_type": config.loss_type,
        "label_smoothing": config.label_smoothing,
        "max_prompt_length": config.max_prompt_length,
        "max_length": config.max_length,
        "ref_model_name": ref_model_name,
        "training_completed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model_name": config.model_name,
        "dataset_path": config.dataset_path,
        "dataset_sha256": dataset_hash,
        "seed": config.seed,
        "use_lora": config.use_lora,
        "learning_rate": config.learning_rate,
        "package_versions": package_versions(),
        "git_commit": git_commit(),
        **(extra or {}),
    }


def write_dpo_metadata(output_dir: str | Path, metadata: dict) -> Path:
    from arabic_pref.secrets import mask

    path = Path(output_dir) / METADATA_FILE
    atomic_write_text(path, json.dumps(mask(metadata), ensure_ascii=False, indent=2) + "\n")
    return path


def read_dpo_metadata(output_dir: str | Path) -> dict:
    return json.loads((Path(output_dir) / METADATA_FILE).read_text(encoding="utf-8"))
