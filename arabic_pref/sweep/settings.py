"""The sweeper's own settings, checked before the study is touched or any trial runs.

A bad value must stop the sweep with one line and exit 2 (the project's ConfigError path), not start it: with
`n_jobs <= 0` the loop asked for no trial each round and waited forever with the parent MLflow run RUNNING.
"""

from __future__ import annotations

import math
from typing import Any

from arabic_pref.errors import ConfigError

PREFIX = "hydra.sweeper"
# key: (smallest value, what it means); each must be a whole number
_COUNTS = {
    "n_trials": (1, "finished trials to reach"),
    "n_jobs": (1, "trials per batch"),
    "max_failures": (1, "trials that may raise before the sweep stops"),
    "heartbeat_interval": (1, "seconds between heartbeats"),
    "grace_period": (1, "seconds without a heartbeat before a trial counts as dead"),
    "retry_stale_trials": (0, "retries of a dead worker's trial"),
}


def _whole(key: str, value: Any, low: int, meaning: str) -> int:
    # bool is an int in Python: `n_jobs: true` would otherwise pass as 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{PREFIX}.{key}", f"{meaning}: must be a whole number >= {low}, got {value!r}")
    return value


def check_settings(settings: Any) -> None:
    """Raise ConfigError naming the first bad key of `hydra.sweeper`."""
    values = {key: settings.get(key) for key in _COUNTS}
    if values["retry_stale_trials"] is None:
        values["retry_stale_trials"] = 0
    for key, (low, meaning) in _COUNTS.items():
        _whole(key, values[key], low, meaning)
    # A trial is declared dead after grace_period seconds without a heartbeat. A beat that waits on a storage
    # lock lands late; with less than two intervals of slack one late beat is enough for another worker to fail
    # a live trial (see arabic_pref.sweep.study.Heartbeat).
    if values["grace_period"] <= 2 * values["heartbeat_interval"]:
        raise ConfigError(
            f"{PREFIX}.grace_period",
            f"must be more than twice heartbeat_interval ({values['heartbeat_interval']}), got "
            f"{values['grace_period']}: a heartbeat delayed by a lock wait would let another worker fail a live trial",
        )
    drop = settings.get("max_mc_drop")
    if drop is not None and (isinstance(drop, bool) or not isinstance(drop, int | float) or not math.isfinite(drop)):
        raise ConfigError(f"{PREFIX}.max_mc_drop", f"must be null or a finite number (0.02 = two points), got {drop!r}")
    name = settings.get("study_name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{PREFIX}.study_name", f"must be a non-empty name, got {name!r}")
    storage = settings.get("storage")
    if storage is not None and (not isinstance(storage, str) or "://" not in storage):
        raise ConfigError(f"{PREFIX}.storage", f"must be null or an SQLAlchemy URL (postgresql://...), got {storage!r}")
    for key in ("sampler", "pruner"):
        spec = settings.get(key)
        if spec is not None and (not hasattr(spec, "get") or not spec.get("_target_")):
            raise ConfigError(f"{PREFIX}.{key}", f"must be null or a config with _target_, got {spec!r}")
