"""Search ranges that fit the model: composed with Hydra exactly as the CLI composes them, ranges checked resolved.

The learning rate is searched as a factor of the run group's own rate; the rank sweep keeps alpha/r fixed; a trial
is never pruned at its first evaluation, however eval_steps is overridden.
"""

from __future__ import annotations

import optuna
import pytest
from omegaconf import OmegaConf

from arabic_pref.errors import ConfigError
from arabic_pref.sweep.space import SearchSpace
from tests.conftest import ROOT


def _compose(overrides: list[str]):
    """The job config with its hydra node (the sweeper's settings), from conf/train.yaml."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from arabic_pref.conf_store import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


def _space(cfg) -> SearchSpace:
    sweeper = cfg.hydra.sweeper
    space = SearchSpace(OmegaConf.to_container(sweeper.params), OmegaConf.to_container(sweeper.conditional_params))
    space.check_against(cfg)
    return space


@pytest.mark.parametrize(
    ("model", "low", "high"),
    [("tiny_qwen", 5e-4, 5e-2), ("qwen2.5-0.5b-instruct", 5e-7, 5e-5), ("qwen2.5-7b", 5e-8, 5e-6)],
)
def test_learning_rate_range_brackets_the_run_groups_own_rate(model, low, high):
    for sweep in ("beta_lr_loss", "lora_rank"):
        space = _space(_compose([f"sweep={sweep}", f"model={model}"]))
        assert space.learning_rate_range() == pytest.approx((low, high)), (sweep, model)


def test_a_factor_sets_the_learning_rate_that_trains_and_records_it():
    space = _space(_compose(["sweep=beta_lr_loss", "model=qwen2.5-7b"]))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        values = space.suggest(trial)
        assert "lr_factor" not in values  # the job gets learning_rate=..., not a field it does not have
        assert values["learning_rate"] == pytest.approx(trial.params["lr_factor"] * 5e-7)
        assert trial.params["learning_rate"] == trial.user_attrs["learning_rate"] == values["learning_rate"]
        assert 5e-8 * 0.999 <= values["learning_rate"] <= 5e-6 * 1.001
        study.tell(trial, 0.5)


def test_the_cap_rule_for_a_factor():
    # the sweep files lift the cap: qwen2.5-7b (5e-7, capped group) may train above 5e-7 in a sweep
    assert _compose(["sweep=beta_lr_loss", "model=qwen2.5-7b"]).learning_rate_override is True
    # with the cap on, a factor range that would cross it is refused (training would flatten it to 5e-7)
    capped = _compose(["sweep=beta_lr_loss", "model=qwen2.5-7b", "learning_rate_override=false"])
    with pytest.raises(ConfigError, match="lr_factor reaches 5e-06"):
        _space(capped)
    below = _compose(["sweep=beta_lr_loss", "model=qwen2.5-7b", "learning_rate_override=false"])
    below.hydra.sweeper.params.lr_factor = "tag(log, interval(0.1, 1.0))"  # a top of 1x: never above the cap
    assert _space(below).learning_rate_range() == pytest.approx((5e-8, 5e-7))


def test_ipo_keeps_its_beta_range():
    space = _space(_compose(["sweep=beta_lr_loss"]))
    ranges = {c.name: c.ranges for c in space.conditionals}["beta"]
    assert (ranges["ipo"].low, ranges["ipo"].high) == (0.05, 2.0)
    assert (ranges["sigmoid"].low, ranges["sigmoid"].high) == (0.01, 1.0)


@pytest.mark.parametrize(("lora", "rank"), [("r8", 4), ("r16", 64), ("r32_all", 8), ("r32_all", 32)])
def test_the_rank_sweep_keeps_alpha_over_r_fixed(lora, rank):
    from arabic_pref.train import to_dpo_config
    from tests.conftest import compose

    config = to_dpo_config(compose(["sweep=lora_rank", f"lora={lora}", f"lora_r={rank}", "output_dir=x"], False))
    assert config.lora_r == rank and config.lora_alpha == 2 * rank


def test_pruning_starts_at_the_second_evaluation(tmp_path):
    """A real Optuna storage and pruner: a hopeless trial reports at its first evaluation and is not pruned; at
    its second it is. eval_steps=3 here (the sweep file says 10): evaluations are counted, not steps."""
    from arabic_pref.sweep.trial import TrialCallback, TrialContext

    cfg = _compose(["sweep=beta_lr_loss", "eval_steps=3"])
    assert cfg.hydra.sweeper.prune_from_evaluation == 2 and cfg.hydra.sweeper.pruner.n_warmup_steps == 0
    storage = f"sqlite:///{tmp_path}/optuna.db"
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize", pruner=pruner)
    good = study.ask()
    for step in (3, 6, 9):
        good.report(0.9, step)
    study.tell(good, 0.9)
    hopeless = study.ask()
    context = TrialContext(storage, "s", hopeless._trial_id, "preference_accuracy", pruner, prune_from_evaluation=2)
    callback = TrialCallback(context)

    class State:
        global_step = 3

    callback.on_evaluate(None, State, None, metrics={"eval_preference_accuracy": 0.1})  # first: reported only
    assert study.trials[1].intermediate_values == {3: 0.1}
    State.global_step = 6
    with pytest.raises(optuna.TrialPruned, match="pruned at step 6"):
        callback.on_evaluate(None, State, None, metrics={"eval_preference_accuracy": 0.1})
