"""Preference scores from TRL's own evaluation forward: one pass per evaluation, the same numbers as a separate one.

Real TRL runs of the embedded tiny Qwen2; the forward passes are counted with a hook on the policy.
"""

from __future__ import annotations

import pytest

from arabic_pref.config import DPOConfig
from arabic_pref.metrics import preference_metrics
from arabic_pref.training import ref_cache
from arabic_pref.training.dpo_trainer import DPOTrainer
from arabic_pref.training.scoring import pair_scores, policy_is_reference
from tests.conftest import DATA, FIT, TINY

N_EVAL, EVAL_BATCH = 8, 4


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(ref_cache.CACHE_ENV, str(tmp_path / "ref-cache"))
    monkeypatch.chdir(tmp_path)


def _trainer(tmp_path, **overrides) -> DPOTrainer:
    fields = {
        **FIT,
        "model_name": TINY,
        "dataset_path": DATA,
        "output_dir": str(tmp_path / "out"),
        "report_to": "none",
        "max_train_samples": 8,
        "per_device_train_batch_size": 4,  # 2 steps x 4 cover the 8 train pairs: their reference is precomputed
        "max_eval_samples": N_EVAL,
        "per_device_eval_batch_size": EVAL_BATCH,
        "eval_strategy": "steps",
        "eval_steps": 1,
        "save_strategy": "no",
        "learning_rate": 5e-3,
        "learning_rate_override": True,
        # the Arabic evaluation's generations, KL and multiple-choice run their own forwards: this file counts
        # scoring passes
        "eval_generations": False,
        "eval_drift": False,
        "eval_mc_sets": [],
    }
    return DPOTrainer(DPOConfig(**{**fields, **overrides}))


class _EvalForwards:
    """Counts the policy's forward passes made in eval mode (scoring and evaluation, not training)."""

    def __init__(self, model):
        self.model, self.count = model, 0
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, module, args, output):
        if not self.model.training:
            self.count += 1


@pytest.mark.slow
def test_a_whole_run_scores_each_evaluation_in_trl_s_own_forward(tmp_path):
    dpo = _trainer(tmp_path)
    trl_trainer = dpo.build()
    counter = _EvalForwards(trl_trainer.model)
    summary = dpo.train()
    counter.handle.remove()
    evaluations, batches = 2, N_EVAL // EVAL_BATCH  # steps 1 and 2; step 0 needs no forward (policy == reference)
    # the held-out test split (N_EVAL pairs too) is scored once at the end: its reference pass (LoRA: the same
    # model, adapters off) and its policy pass
    test_passes = 2 * batches
    assert counter.count == evaluations * batches + test_passes  # the old code made 2 + 2 x (2 + 2) = 10 + test
    assert summary["test_metrics"]["test/preference_accuracy"] >= 0
    assert summary["preference_accuracy_start"] == 0.5  # exact ties, not approximately

    captured = trl_trainer.eval_pair_scores
    separate = pair_scores(trl_trainer)  # a second pass, only for this comparison
    assert len(captured) == len(separate) == N_EVAL
    for name in captured.__dataclass_fields__:
        assert getattr(captured, name) == pytest.approx(getattr(separate, name), abs=1e-5), name
    ours = preference_metrics(captured, dpo.config.beta)
    assert summary["preference_accuracy"] == ours["preference_accuracy"]
    assert summary["reward_margin"] == pytest.approx(ours["reward_margin"])
    last_eval = [e for e in trl_trainer.state.log_history if "eval_rewards/margins" in e][-1]
    assert last_eval["eval_rewards/margins"] == pytest.approx(ours["reward_margin"], abs=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("lora", [True, False])
def test_step_zero_scores_without_a_forward_and_ties_exactly(tmp_path, lora):
    dpo = _trainer(tmp_path, use_lora=lora)
    trl_trainer = dpo.build()
    assert policy_is_reference(trl_trainer)
    counter = _EvalForwards(trl_trainer.model)
    accuracy, margin = dpo.preference_scores()
    counter.handle.remove()
    assert counter.count == 0 and accuracy == 0.5 and margin == 0.0
    trl_trainer.train()
    assert not policy_is_reference(trl_trainer)  # trained: scored by a real forward again


@pytest.mark.slow
def test_step_zero_needs_no_forward_without_precomputed_reference_either(tmp_path):
    dpo = _trainer(tmp_path, precompute_ref_log_probs=False)
    trl_trainer = dpo.build()
    assert policy_is_reference(trl_trainer)
    counter = _EvalForwards(trl_trainer.model)
    metrics = dpo.preference_metrics()
    assert counter.count == 0  # the metrics read policy - reference, which is exactly 0
    assert metrics["preference_accuracy"] == 0.5 and metrics["logratio_margin_per_token"] == 0.0
    scores = dpo.score_pairs()  # the public per-pair scores carry real log-probs: one pass, as the two are equal
    counter.handle.remove()
    assert counter.count == N_EVAL // EVAL_BATCH
    assert all(x < 0 for x in scores.policy_chosen) and scores.policy_chosen == scores.ref_chosen
