"""The capability guard as a sweep constraint (`max_mc_drop`): infeasible trials are never selected.

Selection is tested on in-memory studies with fixed values (on the tiny random model a 2-point threshold is
noise); one real sweep forces infeasibility with `max_mc_drop=-1` (no trial can gain more than 100%).
"""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from arabic_pref.errors import ConfigError
from arabic_pref.sweep.selection import MC_DROP_ATTR, best_by_value, is_feasible, mc_drop
from arabic_pref.sweep.settings import check_settings
from tests.conftest import run_cli


def _study(trials: list[tuple[float, float | None]]) -> optuna.Study:
    """(objective, constraint or None) per trial, told in order."""
    study = optuna.create_study(direction="maximize")
    for value, constraint in trials:
        trial = study.ask()
        if constraint is not None:
            trial.set_constraint(MC_DROP_ATTR, constraint)
        study.tell(trial, value)
    return study


def test_the_best_trial_is_drawn_from_feasible_trials_only():
    study = _study([(0.70, -0.01), (0.90, 0.03), (0.80, 0.0)])  # #1 lost 5 points against a limit of 2
    assert best_by_value(study).number == 2
    assert [is_feasible(t) for t in study.trials] == [True, False, True]
    assert study.best_trial.number == 2  # Optuna agrees


def test_no_feasible_trial_means_no_best_rather_than_an_error():
    assert best_by_value(_study([(0.9, 0.5), (0.8, 0.1)])) is None
    assert best_by_value(_study([(0.9, None)])).number == 0  # unconstrained studies are unchanged


def test_the_worst_set_decides_and_an_unscored_run_is_never_feasible():
    assert mc_drop({"mc/a/delta": 0.01, "mc/b/delta": -0.04, "mc/a/accuracy": 0.5}) == pytest.approx(0.04)
    assert mc_drop({"preference_accuracy": 0.7}) == math.inf


def test_max_mc_drop_must_be_a_finite_number():
    base = {
        "n_trials": 2,
        "n_jobs": 1,
        "max_failures": 1,
        "heartbeat_interval": 10,
        "grace_period": 30,
        "study_name": "s",
    }
    check_settings(base | {"max_mc_drop": 0.02})
    for bad in ("two", float("nan"), True):
        with pytest.raises(ConfigError, match="hydra.sweeper.max_mc_drop"):
            check_settings(base | {"max_mc_drop": bad})


@pytest.mark.slow
def test_a_sweep_with_max_mc_drop_marks_its_trials_infeasible_and_selects_none(tmp_path):
    tiny = ["max_steps=1", "max_train_samples=8", "max_eval_samples=8", "max_length=64", "max_prompt_length=40"]
    args = [
        "-m",
        "sweep=smoke",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.pruner=null",
        "+hydra.sweeper.max_mc_drop=-1",
    ]
    result = run_cli([*args, "eval_generations=false", "eval_drift=false", *tiny], cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no feasible trial: each of the 2 completed trials" in result.stdout
    study = optuna.load_study(study_name="smoke", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 2 and not any(is_feasible(t) for t in complete)
    assert all(t.user_attrs[MC_DROP_ATTR] >= -1 for t in complete)
