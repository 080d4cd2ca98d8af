"""Faults injected into real sweep processes at fixed points, as Hydra callbacks (`+hydra.callbacks.NAME._target_=`).

Hydra runs these in the sweep and job processes at named moments, so a test picks the exact point of a fault
(no sleeps racing the code under test) and needs no hook in the code under test: the same test runs on code
before and after a fix. Each waits with a hard timeout, never forever.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback


class Barrier(Callback):
    """Every sweep process leaves `on_multirun_start` at the same moment: workers "started together"."""

    def __init__(self, path: str, parties: int, timeout: float = 120.0):
        self.path, self.parties, self.timeout = Path(path), int(parties), float(timeout)

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / str(os.getpid())).touch()
        deadline = time.monotonic() + self.timeout
        while len(list(self.path.iterdir())) < self.parties:
            if time.monotonic() > deadline:
                raise TimeoutError(f"barrier {self.path}: {self.parties} processes never arrived")
            time.sleep(0.005)


def _job_num() -> int:
    from hydra.core.hydra_config import HydraConfig

    return int(HydraConfig.get().job.num)


class KillAfterJob(Callback):
    """SIGKILL the process (the sweep itself, with the basic launcher) right after job `job` has returned."""

    def __init__(self, job: int):
        self.job = int(job)

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        if _job_num() == self.job:
            os.kill(os.getpid(), signal.SIGKILL)


class FailTrialAtStart(Callback):
    """When job `job` starts, its trial is marked FAIL in storage, the one write another worker's stale check
    (`optuna.storages.fail_stale_trials`) makes when it judges a trial dead: here for a live trial, as happens
    when its heartbeats were delayed past the grace period."""

    def __init__(self, job: int):
        self.job = int(job)

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        if _job_num() != self.job:
            return
        from hydra.core.hydra_config import HydraConfig
        from optuna.storages import RDBStorage
        from optuna.trial import TrialState

        from arabic_pref.sweep.study import resolve_storage

        storage = RDBStorage(resolve_storage(HydraConfig.get().sweeper.storage))
        storage.set_trial_state_values(int(config.sweep_trial_id), state=TrialState.FAIL)
