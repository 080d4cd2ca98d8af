"""One real store for the comparison tests: a 3-trial sweep, a sweep whose only trial failed, and a single run.

Built once per test session by the real CLI (Hydra multirun with our Optuna sweeper, SQLite Optuna storage and
MLflow store in one launch folder), at the smallest settings that still train, evaluate and log curves; the
compare command, the notebooks and the MLflow UI test all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

# Two steps of two pairs, an evaluation at the last step, a train metric at every step.
TINY_RUN = [
    "max_steps=2",
    "eval_steps=2",
    "logging_steps=1",
    "max_length=64",
    "max_prompt_length=40",
    "max_train_samples=8",
    "max_eval_samples=8",
    "per_device_train_batch_size=2",
]
SWEEP_TRIALS = 3


@dataclass(frozen=True)
class Store:
    folder: Path
    tracking_uri: str
    storage: str
    sweep_output: str  # the sweep's console output (its best-trial lines)


def _ok(result, what: str) -> None:
    assert result.returncode == 0, f"{what} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"


@pytest.fixture(scope="session")
def compare_store(tmp_path_factory) -> Store:
    from tests.conftest import run_cli  # conftest imports this module: no import cycle at load time

    folder = tmp_path_factory.mktemp("compare_store")
    sweep = run_cli(
        ["-m", "sweep=smoke", f"hydra.sweeper.n_trials={SWEEP_TRIALS}", "hydra.sweeper.pruner=null", *TINY_RUN],
        cwd=folder,
        timeout=900,
    )
    _ok(sweep, "the sweep")
    # max_length below max_prompt_length: the trial fails its config check before any model loads.
    broken = [
        "-m",
        "sweep=smoke",
        "hydra.sweeper.study_name=broken",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.max_failures=1",
        *TINY_RUN,
        "max_length=16",
    ]
    _ok(run_cli(broken, cwd=folder, timeout=300), "the broken sweep")
    _ok(run_cli([*TINY_RUN, "loss=sigmoid", "beta=0.1"], cwd=folder, timeout=300), "the single run")
    return Store(folder, f"sqlite:///{folder / 'mlflow.db'}", f"sqlite:///{folder / 'optuna.db'}", sweep.stdout)
