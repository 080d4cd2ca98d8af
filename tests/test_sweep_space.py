"""Search-space parsing and sampling, and the study rules, without training anything."""

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from arabic_pref.config import ConfigError
from arabic_pref.sweep.space import Interval, SearchSpace, parse_dimension, to_overrides
from arabic_pref.sweep.study import ERROR_ATTR, best_trial, finished_trials

CONDITIONAL = {
    "beta": {
        "given": "loss",
        "ranges": {"sigmoid": "tag(log, interval(0.01, 0.5))", "ipo": "tag(log, interval(0.1, 2.0))"},
    }
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("tag(log, interval(0.01, 1.0))", FloatDistribution(0.01, 1.0, log=True)),
        ("interval(0.0, 0.2)", FloatDistribution(0.0, 0.2)),
        ("tag(int, interval(1, 100))", IntDistribution(1, 100)),
        ("choice(sigmoid, hinge, ipo)", CategoricalDistribution(["sigmoid", "hinge", "ipo"])),
        ("choice(8, 16, 32)", CategoricalDistribution([8, 16, 32])),
        ("range(20, 100, step=20)", CategoricalDistribution([20, 40, 60, 80])),
    ],
)
def test_stock_plugin_grammar(expression, expected):
    assert parse_dimension("x", expression) == expected


@pytest.mark.parametrize(
    ("params", "conditional", "message"),
    [
        ({"beta": "tag(log, interval(0, 1))"}, None, "start > 0"),
        ({"beta": "0.1"}, None, "expected choice(), range() or interval()"),
        ({"loss": "choice(sigmoid, ipo)"}, {"beta": {"given": "lr", "ranges": {}}}, "must name a parameter"),
        (
            {"loss": "choice(sigmoid, hinge)"},
            {"beta": {"given": "loss", "ranges": {"sigmoid": "interval(0.1, 0.2)"}}},
            "missing ['hinge']",
        ),
    ],
)
def test_bad_spaces_are_named(params, conditional, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        SearchSpace(params, conditional)


def test_interval_mapping_is_log_linear():
    interval = Interval(0.01, 1.0, log=True)
    assert interval.from_unit(0.0) == pytest.approx(0.01)
    assert interval.from_unit(0.5) == pytest.approx(0.1)
    assert interval.from_unit(1.0) == pytest.approx(1.0)
    assert Interval(0.0, 10.0).from_unit(0.25) == pytest.approx(2.5)


def _propose(seed: int, n: int) -> list[dict]:
    space = SearchSpace(
        {"loss": "choice(sigmoid, ipo)", "learning_rate": "tag(log, interval(1e-4, 1e-2))"}, CONDITIONAL
    )
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), direction="maximize")
    proposals = []
    for _ in range(n):
        trial = study.ask()
        values = space.suggest(trial)
        proposals.append(values)
        study.tell(trial, 0.5)
    return proposals


def test_conditional_beta_stays_in_the_range_of_its_loss_and_is_normalised_for_optuna():
    space = SearchSpace({"loss": "choice(sigmoid, ipo)"}, CONDITIONAL)
    study = optuna.create_study()
    for _ in range(20):
        trial = study.ask()
        values = space.suggest(trial)
        low, high = (0.01, 0.5) if values["loss"] == "sigmoid" else (0.1, 2.0)
        assert low <= values["beta"] <= high
        assert 0 <= trial.params["beta_unit"] <= 1  # what Optuna searches: one distribution for every trial
        assert trial.params["beta"] == trial.user_attrs["beta"] == values["beta"]  # the real beta, by its name
        study.tell(trial, 0.5)
    importances = optuna.importance.get_param_importances(study)
    assert "beta_unit" in importances  # the importance plot keeps the search variable


def test_seeded_sampler_proposes_the_same_trials_twice():
    assert _propose(42, 5) == _propose(42, 5)
    assert _propose(42, 5) != _propose(43, 5)


def test_overrides_keep_full_float_precision():
    assert to_overrides({"beta": 0.1234567890123, "loss": "ipo"}) == ["beta=0.1234567890123", "loss=ipo"]


def test_finished_counting_and_tie_break():
    study = optuna.create_study(direction="maximize")
    for value, margin in ((0.75, 0.1), (0.75, 0.4), (0.5, 0.9)):
        trial = study.ask()
        trial.set_user_attr("eval_logratio_margin_per_token", margin)  # how far it moved: no longer a tie-break
        study.tell(trial, value)
    pruned = study.ask()
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    failed = study.ask()
    failed.set_user_attr(ERROR_ATTR, "ValueError: bad")
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    interrupted = study.ask()
    study.tell(interrupted, state=optuna.trial.TrialState.FAIL)  # no error attribute: a dead process
    assert len(finished_trials(study)) == 5
    assert best_trial(study).number == 0  # same accuracy: the earlier trial, whatever its margin
    assert not math.isnan(best_trial(study).value)


def test_sweep_config_errors_exit_2_before_any_trial(tmp_path):
    from tests.conftest import run_cli

    result = run_cli(["-m", "sweep=smoke", "hydra.sweeper.objective=loss"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "error: hydra.sweeper.objective: unknown metric 'loss'; use one of preference_accuracy" in result.stderr
    result = run_cli(["-m", "sweep=smoke", "beta=0.1,0.2"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "put search spaces in hydra.sweeper.params" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()
