"""Selection that respects the noise (arabic_pref.sweep.selection), on in-memory Optuna studies with fixed values.

Values and user attributes are set by hand, so every expected trial below follows from the documented rules.
"""

import optuna
import pytest

from arabic_pref.sweep.selection import (
    KL_ATTR,
    MOVED_ATTR,
    SE_ATTR,
    Paired,
    noise_line,
    one_se_candidates,
    paired_to_best,
    se_from_interval,
    select,
)


def _study(rows, direction="maximize"):
    """rows: (value, {user attrs}) per trial, in order."""
    study = optuna.create_study(direction=direction)
    for value, attrs in rows:
        trial = study.ask()
        for k, v in attrs.items():
            trial.set_user_attr(k, v)
        study.tell(trial, value)
    return study


def test_ties_go_to_the_earlier_trial_not_the_larger_margin():
    study = _study([(0.70, {"eval_logratio_margin_per_token": 0.1}), (0.70, {"eval_logratio_margin_per_token": 9.0})])
    assert select(study, "best").number == 0


def test_one_se_picks_the_least_drift_within_one_standard_error():
    # best #1 = 0.72 with SE 0.06: #0 (0.68) and #3 (0.67) are within 0.66..; #2 (0.60) is not
    study = _study(
        [
            (0.68, {MOVED_ATTR: 0.30}),
            (0.72, {MOVED_ATTR: 0.50, SE_ATTR: 0.06}),
            (0.60, {MOVED_ATTR: 0.01}),  # least drift but too far below the best
            (0.67, {MOVED_ATTR: 0.20}),
        ]
    )
    assert [t.number for t in one_se_candidates(study)] == [0, 1, 3]
    assert select(study, "best").number == 1
    assert select(study, "one_se").number == 3


def test_one_se_prefers_kl_when_every_candidate_has_it():
    study = _study(
        [
            (0.70, {MOVED_ATTR: 0.1, KL_ATTR: 0.09, SE_ATTR: 0.05}),
            (0.69, {MOVED_ATTR: 0.5, KL_ATTR: 0.02}),
        ]
    )
    assert select(study, "one_se").number == 1  # least KL, though it moved more by the log-ratio measure


def test_one_se_minimise_direction_and_unknown_se():
    study = _study([(0.30, {SE_ATTR: 0.05, MOVED_ATTR: 0.9}), (0.34, {MOVED_ATTR: 0.1})], direction="minimize")
    assert select(study, "one_se").number == 1  # 0.34 <= 0.30 + 0.05
    no_se = _study([(0.70, {MOVED_ATTR: 0.9}), (0.69, {MOVED_ATTR: 0.1})])
    assert select(no_se, "one_se").number == 0  # no standard error recorded: only the best qualifies
    with pytest.raises(ValueError, match="selection must be one of"):
        select(no_se, "median")


def test_se_from_interval():
    assert se_from_interval(0.49, 0.73) == pytest.approx(0.24 / (2 * 1.959964))


def _table(values):
    """A pair table whose per-token outcomes are `values` (1 win, 0 loss, 0.5 tie), one prompt per pair."""
    n = len(values)
    return {
        "columns": {
            "pair_id": [f"p{i}" for i in range(n)],
            "prompt_hash": [f"q{i}" for i in range(n)],
            "chosen_logratio": [1.0 if v == 1 else -1.0 if v == 0 else 0.0 for v in values],
            "rejected_logratio": [0.0] * n,
        }
    }


def test_paired_difference_marks_trials_within_noise():
    from functools import partial

    from arabic_pref.pair_records import per_pair_values

    best = [1.0] * 40 + [0.0] * 24  # 0.625
    near = [0.0] * 2 + [1.0] * 38 + [0.0] * 24  # loses 2 of the best's wins: -0.031, within noise
    far = [0.0] * 30 + [1.0] * 10 + [0.0] * 24  # loses 30 of them: -0.469, clearly worse
    tables = {0: _table(near), 1: _table(best), 2: _table(far), 3: None}
    paired = paired_to_best(tables, partial(per_pair_values, objective="preference_accuracy"), best_number=1)
    assert paired[1] == Paired(0.0, 0.0, 0.0, 64) and paired[1].within_noise
    assert paired[0].difference == pytest.approx(-2 / 64) and paired[0].within_noise
    assert paired[2].difference == pytest.approx(-30 / 64) and not paired[2].within_noise
    assert paired[3] is None
    assert noise_line(paired, 1).startswith("1 of 2 other trials are within noise of the best (#1")


def test_the_sweep_says_how_much_its_validation_set_can_resolve():
    from arabic_pref.sweep.conclusion import resolution_line, validation_pairs
    from tests.conftest import compose

    assert validation_pairs(compose([], shrink=False)) == 64  # the shipped data's validation split
    assert validation_pairs(compose(["max_eval_samples=24"], shrink=False)) == 24
    line = resolution_line(64)
    assert line.startswith("64 validation pairs: accuracy differences under 0.12 are noise (95%)")
    assert "resolving 0.05 needs 385 pairs" in line
    assert "under 0.35" in resolution_line(8)  # 1.96 * 0.5 / sqrt(8) = 0.346
