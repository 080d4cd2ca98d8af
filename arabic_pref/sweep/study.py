"""The Optuna study of a sweep: storage, resume bookkeeping, heartbeats and the best trial.

Rules (documented in docs/sweeps.md):
- A trial is *finished* when COMPLETE, PRUNED, or FAIL because its job raised (user attribute `error`). A rerun
  of the same command asks for trials until `n_trials` are finished; finished trials are never rerun.
- A trial left RUNNING by a dead sweep process stops receiving heartbeats; after `grace_period` seconds the next
  run marks it FAIL as *interrupted* (no `error` attribute). Interrupted trials do not count towards
  `n_trials` (a Ctrl-C does not spend the budget), nor towards the failure budget.
- A trial is told to the study as soon as it ends, by its own job when it can (arabic_pref.sweep.trial), else by
  the driver; a trial found already finished (told by its job, or failed as stale by another worker while it ran)
  is an outcome to record, never an error (`tell_outcome`).
- Best trial: the best objective; ties go to the earlier trial (arabic_pref.sweep.selection, which also holds the
  noise-aware `selection: one_se` rule).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from arabic_pref.secrets import mask_text
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


# Storage-wide, not per study: creating the tables races whatever the study (see open_study).
_CREATE_LOCK_NAME = "<storage tables>"


def open_study(url: str, storage_factory: Any, **create_kwargs: Any) -> tuple[Any, optuna.Study]:
    """(storage, study): created, or loaded when another worker created it first.

    Two workers starting together on a new database both ran `RDBStorage(...)`, whose `create_all` issues
    CREATE TABLE from each: PostgreSQL then raises IntegrityError on its catalogue (`pg_type_typname_nsp_index`)
    or "relation already exists" in the loser (6 of 10 barrier-started pairs on Optuna 5.1). `load_if_exists`
    does not help: it only covers the study row. So tables, study row and metric names are made under the
    database's lock; a retry covers a process outside our lock (another tool opening the same database).
    """
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    from arabic_pref.sweep.coordination import study_lock

    for attempt in range(3):
        try:
            with study_lock(url, _CREATE_LOCK_NAME):
                storage = storage_factory()
                study = optuna.create_study(storage=storage, load_if_exists=True, **create_kwargs)
                return storage, study
        except (IntegrityError, ProgrammingError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


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


def tell_outcome(study: optuna.Study, trial: Any, kind: str, value: Any, n_objectives: int) -> TrialState:
    """Tell the study how a trial's job ended ("ok" with its value(s), or "error" with the exception); the state.

    A trial already finished is left as it is and its state returned: its job told it (the driver's tell comes
    second), or another worker failed it as stale while it ran (missed heartbeats). Telling it again raised
    "Cannot tell a FAIL trial" and killed the driver, taking the rest of the sweep with it.
    """
    from arabic_pref.upstream import stored_trial

    current = stored_trial(study, trial).state
    if current.is_finished():
        return current
    values = list(value) if isinstance(value, tuple | list) else [value]
    try:
        if kind == "ok" and len(values) == n_objectives and all(_finite(v) for v in values):
            study.tell(trial, [float(v) for v in values] if n_objectives > 1 else float(values[0]))
            return TrialState.COMPLETE
        if isinstance(value, optuna.TrialPruned):
            study.tell(trial, state=TrialState.PRUNED)
            return TrialState.PRUNED
        message = f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else f"bad value {value!r}"
        trial.set_user_attr(ERROR_ATTR, mask_text(message)[:1000])  # an error quoting a URL or a token
        study.tell(trial, state=TrialState.FAIL)
        return TrialState.FAIL
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
        # finished by another worker between our read and our write: its verdict stands
        state = stored_trial(study, trial).state
        if not state.is_finished():
            raise
        return state


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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
            missed = False
            for trial_id in self.trial_ids:
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception:  # a lock wait that ran out must not kill the sweep
                    missed = True
            # A missed beat (its lock wait ran out) is retried within a second, not an interval later: the heartbeat
            # is then never older than one interval plus the time the database refused writes, and with
            # grace_period > 2 x heartbeat_interval (arabic_pref.sweep.settings) one slow beat cannot get a live
            # trial failed. A longer outage can: tell_outcome then records the other worker's verdict.
            if self._stop.wait(min(1.0, self.interval) if missed else self.interval):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
