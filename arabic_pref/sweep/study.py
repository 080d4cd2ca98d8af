"""The Optuna study of a sweep: storage, resume bookkeeping, heartbeats and the best trial.

Rules (documented in docs/sweeps.md):
- A trial is *finished* when COMPLETE, PRUNED, or FAIL because its job raised (user attribute `error`). A rerun
  of the same command asks for trials until `n_trials` are finished; finished trials are never rerun.
- A trial left RUNNING by a dead sweep process stops receiving heartbeats; after `grace_period` seconds the next
  run marks it FAIL as *interrupted* (no `error` attribute). Interrupted trials do not count towards
  `n_trials` (a Ctrl-C does not spend the budget), nor towards the failure budget.
- Best trial: the best objective; ties go to the earlier trial (arabic_pref.sweep.selection, which also holds the
  noise-aware `selection: one_se` rule).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from arabic_pref.sweep.space import unit_name

ERROR_ATTR = "error"


def resolve_storage(url: str | None) -> str:
    """Default: sqlite:///optuna.db in the launch folder; relative SQLite paths become absolute."""
    from arabic_pref.tracking import absolute_sqlite_url

    return absolute_sqlite_url(url, "optuna.db")


def make_storage(
    url: str, heartbeat_interval: int | None = None, grace_period: int | None = None, retry_stale_trials: int = 0
) -> Any:
    """Optuna's RDB storage; `retry_stale_trials` > 0 requeues a trial whose worker died (up to that many times)."""
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    retry = RetryHeartbeatStaleTrialCallback(max_retry=retry_stale_trials) if retry_stale_trials else None
    return RDBStorage(
        url,
        engine_kwargs=engine_kwargs,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        heartbeat_stale_trial_callback=retry,
    )


def running_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials in flight, on this worker or another (a dead worker's stop counting once marked stale)."""
    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def is_finished(trial: FrozenTrial) -> bool:
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and ERROR_ATTR in trial.user_attrs


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if is_finished(t)]


def failed_trials(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs]


def fail_interrupted(study: optuna.Study) -> list[FrozenTrial]:
    """Mark trials of dead processes FAIL (Optuna's heartbeat + grace period); return them."""
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    optuna.storages.fail_stale_trials(study)
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if t.number in before]


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best objective, ties to the earlier trial; None for a multi-objective study (see selection.py)."""
    from arabic_pref.sweep.selection import best_by_value

    return best_by_value(study)


def best_params(trial: FrozenTrial) -> dict[str, Any]:
    """The params a trial trained with: conditional ones at their real value, without their normalised twin."""
    hidden = {unit_name(k) for k in trial.params}
    return {k: trial.user_attrs.get(k, v) for k, v in trial.params.items() if k not in hidden}


class Heartbeat:
    """Records heartbeats of the trials in flight while their jobs run (in this or in launcher processes)."""

    def __init__(self, storage: Any, trial_ids: list[int], interval: float):
        self.storage, self.trial_ids, self.interval = storage, trial_ids, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while True:
            for trial_id in self.trial_ids:
                with contextlib.suppress(Exception):  # a transient database lock must not kill the sweep
                    self.storage.record_heartbeat(trial_id)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
