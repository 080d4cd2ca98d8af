"""Every loss group trains for real (TRL, the tiny default model), and our per-pair scores agree with TRL's.

One session fixture trains each group for one step in this process, at the smallest settings of
tests/fixtures_store.py's TINY_RUN, then evaluates once: about 17 tiny runs, ~2-4 s each on a 2-core CPU. What it
checks per group: TRL trained the loss list and weights we recorded; the loss is finite; our preference accuracy
(ties 1/2) equals TRL's `rewards/accuracies` (ties lost) on tie-free pairs; our per-pair policy and reference
log-probs give TRL's logged means (`logps/chosen`, `rewards/chosen`), LD-DPO's weighting included, both with the
reference precomputed and without; and a separate scoring pass (`scoring.pair_scores`, the step-0 and eval-set
path) gives the same pairs as TRL's own evaluation forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from arabic_pref.loss_checks import LOSS_TYPES
from arabic_pref.metrics import PairScores, preference_accuracy, preference_metrics
from tests.conftest import compose

pytestmark = pytest.mark.slow

TINY = [
    "max_steps=1",
    "max_length=64",
    "max_prompt_length=40",
    "max_train_samples=8",
    "max_eval_samples=8",
    "per_device_train_batch_size=2",
    "per_device_eval_batch_size=8",
    "gradient_accumulation_steps=1",
    "learning_rate=5e-2",
    "save_strategy=no",
    "report_to=none",
    "eval_generations=false",
    "eval_drift=false",
]
# every loss group, and LD-DPO also without a precomputed reference (the reference forward runs inside the loss)
GROUPS = {**{name: [f"loss={name}"] for name in LOSS_TYPES}, "ld_dpo": ["loss=ld_dpo"]}
GROUPS["ld_dpo_live_reference"] = ["loss=ld_dpo", "precompute_ref_log_probs=false"]


@dataclass
class Trained:
    config: object
    trl_loss_type: list
    trl_loss_weights: list
    train_loss: float
    eval_metrics: dict
    captured: PairScores  # TRL's evaluation forward
    rescored: PairScores  # our separate scoring pass


@pytest.fixture(scope="session")
def trained_groups(tmp_path_factory) -> dict[str, Trained]:
    from arabic_pref.train import to_dpo_config
    from arabic_pref.training.dpo_trainer import DPOTrainer
    from arabic_pref.training.scoring import pair_scores

    out = {}
    for group, overrides in GROUPS.items():
        folder = tmp_path_factory.mktemp(group)
        config = to_dpo_config(compose([*overrides, *TINY, f"output_dir={folder}"], shrink=False))
        trainer = DPOTrainer(config).build()
        trainer.train()
        train_loss = next(e["loss"] for e in trainer.state.log_history if "loss" in e)
        metrics = trainer.evaluate()
        out[group] = Trained(
            config,
            list(trainer.args.loss_type),
            list(trainer.args.loss_weights),
            train_loss,
            metrics,
            trainer.eval_pair_scores,
            pair_scores(trainer),
        )
    return out


@pytest.mark.parametrize("group", GROUPS)
def test_group_trains_the_recorded_loss(trained_groups, group):
    run = trained_groups[group]
    assert math.isfinite(run.train_loss)
    assert len(run.trl_loss_type) == len(run.trl_loss_weights)
    expected = {"rpo": ["sigmoid", "sft"], "ld_dpo": ["sigmoid"], "ld_dpo_live_reference": ["sigmoid"]}
    assert run.trl_loss_type == expected.get(group, [group])


@pytest.mark.parametrize("group", GROUPS)
def test_our_scores_are_trls(trained_groups, group):
    run, beta = trained_groups[group], trained_groups[group].config.beta
    s, m = run.captured, run.eval_metrics
    assert len(s) == 8
    chosen, rejected = s.chosen_logratios(), s.rejected_logratios()
    ties = sum(c == r for c, r in zip(chosen, rejected, strict=True))
    assert ties == 0  # one step at lr 5e-2 moves every pair: the comparison below is tie-free
    assert preference_accuracy(chosen, rejected) == pytest.approx(m["eval_rewards/accuracies"], abs=1e-6)
    assert sum(s.policy_chosen) / 8 == pytest.approx(m["eval_logps/chosen"], rel=1e-4)
    assert sum(s.policy_rejected) / 8 == pytest.approx(m["eval_logps/rejected"], rel=1e-4)
    assert beta * sum(chosen) / 8 == pytest.approx(m["eval_rewards/chosen"], rel=1e-3, abs=1e-6)
    assert beta * sum(rejected) / 8 == pytest.approx(m["eval_rewards/rejected"], rel=1e-3, abs=1e-6)
    ours = preference_metrics(s, beta)
    assert ours["logratio_chosen"] == pytest.approx(sum(chosen) / 8)
    assert ours["logratio_rejected"] == pytest.approx(sum(rejected) / 8)


@pytest.mark.parametrize("group", GROUPS)
def test_a_separate_scoring_pass_gives_the_same_pairs(trained_groups, group):
    run = trained_groups[group]
    for name in ("policy_chosen", "policy_rejected", "ref_chosen", "ref_rejected"):
        assert getattr(run.rescored, name) == pytest.approx(getattr(run.captured, name), rel=1e-4, abs=1e-4), name


def test_ld_alpha_changes_the_scores(trained_groups):
    """LD-DPO's weighting reached our scores: its summed log-probs differ from plain sigmoid's on the same pairs."""
    plain, ld = trained_groups["sigmoid"].captured, trained_groups["ld_dpo"].captured
    assert plain.ref_chosen != pytest.approx(ld.ref_chosen, abs=1e-3) or plain.ref_rejected != pytest.approx(
        ld.ref_rejected, abs=1e-3
    )


def test_sigmoid_norm_margin_sign_is_our_per_token_accuracy(trained_groups):
    """sigmoid_norm trains the per-token margin; our per-token accuracy reads the same margin's sign."""
    run = trained_groups["sigmoid_norm"]
    s = run.captured
    per_token = [
        (pc - rc) / nc - (pr - rr) / nr
        for pc, rc, nc, pr, rr, nr in zip(
            s.policy_chosen,
            s.ref_chosen,
            s.chosen_tokens,
            s.policy_rejected,
            s.ref_rejected,
            s.rejected_tokens,
            strict=True,
        )
    ]
    wins = sum(1.0 if x > 0 else 0.5 if x == 0 else 0.0 for x in per_token) / len(per_token)
    assert preference_metrics(s, run.config.beta)["preference_accuracy_per_token"] == pytest.approx(wins)
    # and TRL's eval loss is the mean of -log sigmoid(beta * per-token margin) over those pairs
    beta = run.config.beta
    want = sum(math.log1p(math.exp(-beta * x)) for x in per_token) / len(per_token)
    assert run.eval_metrics["eval_loss"] == pytest.approx(want, rel=1e-4)
