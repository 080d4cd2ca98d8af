"""Shared test fixtures: Hydra compose of the real conf/, shrunk to test size, and isolated run folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.servers import postgres_server  # noqa: F401  (one PostgreSQL server for the session)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
# Fast settings that still run the real stack: a few steps, short sequences, a few validation pairs.
SHRINK = [
    "max_steps=2",
    "max_length=64",
    "max_prompt_length=40",
    "max_train_samples=16",
    "max_eval_samples=4",
    "per_device_train_batch_size=2",
    "per_device_eval_batch_size=4",
    "logging_steps=1",
    "eval_max_new_tokens=8",  # the Arabic evaluation's answers: short in tests
]


def compose(overrides: list[str] | None = None, shrink: bool = True):
    """Compose conf/train.yaml exactly as the CLI does (Hydra's compose API), with test overrides."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from arabic_pref.conf_store import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=(SHRINK if shrink else []) + list(overrides or []))


@pytest.fixture(autouse=True)
def _isolated_mlflow_env(monkeypatch):
    """Each test starts without a tracking URI left over by another (mlflow exports it on set_tracking_uri)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def run_dirs(tmp_path: Path) -> dict[str, str]:
    """Overrides that send the model and the MLflow store of a run into tmp_path."""
    return {
        "output_dir": str(tmp_path / "out"),
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }


def overrides_for(run_dirs: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in run_dirs.items()]


def run_cli(args: list[str], cwd: Path, timeout: int = 300, env: dict | None = None):
    import subprocess

    # mlflow.set_tracking_uri() in earlier in-process tests exports MLFLOW_TRACKING_URI: do not inherit it.
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full_env.update({"PYTHONUNBUFFERED": "1", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "arabic_pref.train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


# --- the spec's code blocks (test_spec_api.py, test_spec_examples.py) ---
TINY = "builtin:tiny-qwen2"
DATA = "builtin:arabic-sample"
# CPU-sized run settings added to the spec's own arguments.
FIT = dict(
    max_steps=2,
    per_device_train_batch_size=2,
    per_device_eval_batch_size=16,
    gradient_accumulation_steps=1,
    max_train_samples=8,
    max_eval_samples=16,
    max_length=96,
    max_prompt_length=40,
    logging_steps=1,
    eval_max_new_tokens=8,
)
ARABIC_PROMPTS = [
    "ما هي أفضل طريقة لتعلم البرمجة؟",
    "اشرح مفهوم الاستدامة البيئية",
    "كيف يمكن تحسين التعليم في المدارس؟",
]


def eval_dataset() -> Any:
    from datasets import Dataset

    from arabic_pref.data import load_preference_data

    rows = load_preference_data(DATA).validation[:16]
    return Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])


# --- the comparison tests' shared store (one real sweep and run per session) ---
from tests.fixtures_store import compare_store  # noqa: E402,F401
