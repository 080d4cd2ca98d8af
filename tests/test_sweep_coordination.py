"""Workers of one study: the database lock and the per-worker seeds, on real Optuna storage."""

from __future__ import annotations

import multiprocessing
import time

import optuna
from omegaconf import OmegaConf

from arabic_pref.sweep.coordination import WorkerSeeds, study_lock

SAMPLER = {"_target_": "optuna.samplers.RandomSampler", "seed": 42}


def _ask(study: optuna.Study, seeds: WorkerSeeds) -> float:
    seeds.reseed(study)
    trial = study.ask()
    seeds.asked(trial)
    value = trial.suggest_float("x", 0.0, 1.0)
    study.tell(trial, value)
    return value


def test_one_worker_keeps_the_plain_seeded_sequence(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    plain = optuna.create_study(study_name="plain", storage=storage, sampler=optuna.samplers.RandomSampler(seed=42))
    expected = [_ask(plain, WorkerSeeds(None)) for _ in range(3)]
    study = optuna.create_study(study_name="s", storage=storage, sampler=optuna.samplers.RandomSampler(seed=42))
    seeds = WorkerSeeds(OmegaConf.create(SAMPLER))
    assert [_ask(study, seeds) for _ in range(3)] == expected


def test_two_workers_with_the_same_seed_draw_different_parameters(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    workers = []
    for _ in range(2):  # the same command on two machines: same sampler, same seed
        study = optuna.create_study(
            study_name="s", storage=storage, sampler=optuna.samplers.RandomSampler(seed=42), load_if_exists=True
        )
        workers.append((study, WorkerSeeds(OmegaConf.create(SAMPLER))))
    values = [_ask(*workers[i % 2]) for i in range(6)]  # interleaved asks
    assert len(set(values)) == 6


def _hold(url: str, seconds: float, started) -> None:
    with study_lock(url, "s"):
        started.set()
        time.sleep(seconds)


def test_study_lock_excludes_another_process(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    started = multiprocessing.get_context("spawn").Event()
    holder = multiprocessing.get_context("spawn").Process(target=_hold, args=(url, 2.0, started))
    holder.start()
    try:
        assert started.wait(60)
        begin = time.monotonic()
        with study_lock(url, "s"):
            waited = time.monotonic() - begin
        assert waited > 1.0  # blocked until the other process left its block
    finally:
        holder.join(60)
    assert holder.exitcode == 0
