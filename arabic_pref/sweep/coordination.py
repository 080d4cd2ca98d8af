"""Several sweep workers on one study (one command started on several machines): the database settles races.

Workers share only the Optuna storage. Two steps must not interleave between workers, or a study gets two MLflow
parent runs or more than `n_trials` trials: "is there a parent run yet? if not, create it" and "how many trials
are finished or running? then ask for one more". Optuna has no atomic test-and-set for either (a user attribute
is a plain upsert), so both run under a lock held by the database itself, one per study:

- PostgreSQL: a session advisory lock (`pg_advisory_lock`), released by the server when the holder's
  connection ends, so a worker killed with SIGKILL cannot leave it held;
- MySQL: `GET_LOCK`, with the same property;
- SQLite (one machine): an `flock` on a file beside the database, released by the kernel when the process dies.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

WORKER_ATTR = "worker"  # host:pid of the worker that ran a trial


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _lock_key(study_name: str) -> int:
    """A signed 64-bit key for pg_advisory_lock, stable across machines (Python's hash() is salted)."""
    return int.from_bytes(hashlib.sha256(f"arabic_pref.sweep:{study_name}".encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def study_lock(storage_url: str, study_name: str) -> Iterator[None]:
    """Exclusive, across every worker of the study, for the duration of the block."""
    if storage_url.startswith("sqlite"):
        with _file_lock(Path(storage_url.split(":///", 1)[1] + f".{_lock_key(study_name):x}.lock")):
            yield
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(storage_url, poolclass=NullPool)
    dialect = engine.dialect.name
    if dialect == "postgresql":
        acquire, release = "SELECT pg_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)"
        params: dict = {"key": _lock_key(study_name)}
    elif dialect in ("mysql", "mariadb"):
        acquire, release = "SELECT GET_LOCK(:key, -1)", "SELECT RELEASE_LOCK(:key)"
        params = {"key": f"arabic_pref.sweep:{study_name}"[:64]}
    else:  # no lock primitive we know of: a single worker is safe, several may race
        engine.dispose()
        yield
        return
    try:
        with engine.connect() as connection:
            connection.execute(text(acquire), params)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text(release), params)
                connection.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class WorkerSeeds:
    """A seeded sampler per worker that does not repeat the other workers' proposals.

    Every worker starts with the same command, so with `sampler.seed` set they would all draw the same parameters
    in the same order (and a worker resuming a study would redraw those of its finished trials). When trials
    not asked by this worker have appeared since its last ask, the sampler is rebuilt with seed + the number of
    trials in the study; that number is read under the study lock, so two workers never reseed alike. One worker
    on a fresh study never reseeds: its sequence is the plain seeded one.
    """

    def __init__(self, sampler_config: Any):
        self.config = sampler_config
        self.base_seed = sampler_config.get("seed") if sampler_config is not None else None
        self.own: set[int] = set()
        self.others_seen = 0

    def reseed(self, study: Any) -> None:
        """Call under the study lock, before `study.ask()`."""
        if self.base_seed is None:
            return
        total = len(study.get_trials(deepcopy=False))
        others = total - len(self.own)
        if others != self.others_seen:
            from hydra.utils import instantiate

            self.others_seen = others
            study.sampler = instantiate(self.config, seed=int(self.base_seed) + total)

    def asked(self, trial: Any) -> None:
        self.own.add(trial.number)
