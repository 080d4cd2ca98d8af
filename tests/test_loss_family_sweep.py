"""sweeps/loss_family.yaml: one search unit means the same target per-token margin for every loss it searches."""

from __future__ import annotations

import pytest
import yaml

from arabic_pref.errors import ConfigError
from arabic_pref.sweep.space import SearchSpace
from tests.conftest import ROOT

MEAN_RESPONSE_TOKENS = 40  # shipped data, Qwen2.5 tokenizer: chosen 40.2, rejected 35.0 (`arabic-pref data stats`)


def implied_margin_per_token(loss: str, beta: float) -> float:
    """The per-token log-ratio margin m at which each loss's push levels off (docs/sweeps.md#comparing-losses)."""
    if loss == "ipo":
        return 1 / (2 * beta)  # IPO's fixed point, per token
    if loss == "sigmoid_norm":
        return 1 / beta  # logit beta * m = 1, per token
    if loss == "apo_zero":
        return 2 / (beta * MEAN_RESPONSE_TOKENS)  # each side's logit beta * l = 1: margin 2 / beta, summed
    return 1 / (beta * MEAN_RESPONSE_TOKENS)  # logit (hinge: zero point) beta * h = 1; sppo_hard: h = 1/beta


def _space() -> SearchSpace:
    sweeper = yaml.safe_load((ROOT / "sweeps" / "loss_family.yaml").read_text(encoding="utf-8"))["hydra"]["sweeper"]
    return SearchSpace(sweeper["params"], sweeper["conditional_params"])


def test_searches_at_least_six_losses_with_comparable_betas():
    space = _space()
    losses = space.dimensions["loss"].choices
    assert len(losses) >= 6
    beta = next(c for c in space.conditionals if c.name == "beta")
    for u in (0.0, 0.3, 1.0):
        margins = {loss: implied_margin_per_token(loss, beta.ranges[loss].from_unit(u)) for loss in losses}
        assert max(margins.values()) == pytest.approx(min(margins.values()), rel=1e-9), margins


def test_sft_weight_is_searched_in_rpo_trials_only():
    import optuna

    space = _space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(40):
        values = space.suggest(study.ask())
        seen.add(values["loss"])
        assert ("sft_weight" in values) == (values["loss"] == "rpo")
        if values["loss"] == "rpo":
            assert 0.05 <= values["sft_weight"] <= 1.0
    assert "rpo" in seen and len(seen) > 1


def test_a_partial_range_must_be_declared():
    with pytest.raises(ConfigError, match="partial"):
        SearchSpace(
            {"loss": "choice(sigmoid, rpo)"}, {"sft_weight": {"given": "loss", "ranges": {"rpo": "interval(0.1, 1)"}}}
        )
