"""Conservative DPO through TRL's own losses: the formula, the algebra, the TRL seam, and a real evaluation."""

import inspect
import math

import pytest

from arabic_pref.config import DPOConfig
from arabic_pref.training.losses import conservative_dpo_loss, trl_loss_arguments


@pytest.mark.parametrize(
    ("beta", "margin", "eps", "expected"),
    [
        # -(1-eps) log sigmoid(beta h) - eps log sigmoid(-beta h), worked by hand:
        # beta h = 0.2: log sigmoid(0.2) = -0.598139, log sigmoid(-0.2) = -0.798139
        (0.1, 2.0, 0.1, 0.9 * 0.598139 + 0.1 * 0.798139),
        (0.1, 2.0, 0.0, 0.598139),
        # beta h = -0.5: log sigmoid(-0.5) = -0.974077, log sigmoid(0.5) = -0.474077
        (0.5, -1.0, 0.05, 0.95 * 0.974077 + 0.05 * 0.474077),
        (1.0, 0.0, 0.3, math.log(2)),
    ],
)
def test_conservative_dpo_formula(beta, margin, eps, expected):
    assert conservative_dpo_loss(beta, margin, eps) == pytest.approx(expected, abs=2e-6)


def _trl_combination(beta, margin, eps):
    """Evaluate TRL's weighted sigmoid + robust losses as TRL 1.16 writes them (see the seam test below)."""
    args = trl_loss_arguments("sigmoid", eps)
    x = beta * margin
    a, b = -math.log(1 / (1 + math.exp(-x))), -math.log(1 / (1 + math.exp(x)))
    per_type = {"sigmoid": a, "robust": ((1 - eps) * a - eps * b) / (1 - 2 * eps)}
    weights = args.get("loss_weights", [1.0])
    types = args["loss_type"] if isinstance(args["loss_type"], list) else [args["loss_type"]]
    return sum(w * per_type[t] for t, w in zip(types, weights, strict=True))


@pytest.mark.parametrize("eps", [0.01, 0.1, 0.3])
@pytest.mark.parametrize("margin", [-3.0, 0.0, 0.7, 12.0])
def test_weighted_trl_losses_equal_cdpo(eps, margin):
    assert _trl_combination(0.1, margin, eps) == pytest.approx(conservative_dpo_loss(0.1, margin, eps), rel=1e-9)


def test_plain_losses_pass_through_with_explicit_weights():
    assert trl_loss_arguments("sigmoid", 0.0) == {"loss_type": ["sigmoid"], "loss_weights": [1.0], "label_smoothing": 0}
    assert trl_loss_arguments("ipo", 0.0)["loss_type"] == ["ipo"]
    assert trl_loss_arguments("rpo", 0.0, 0.2)["loss_type"] == ["sigmoid", "sft"]
    assert trl_loss_arguments("rpo", 0.0, 0.2)["loss_weights"] == [1.0, 0.2]


def test_rpo_with_label_smoothing_is_three_weighted_losses():
    args = trl_loss_arguments("rpo", 0.1, 0.2)
    assert args["loss_type"] == ["sigmoid", "robust", "sft"]
    assert args["loss_weights"] == pytest.approx([1.8, -0.8, 0.2])


def test_trl_seam_formulas_unchanged():
    """If a TRL upgrade rewrites these loss lines, cDPO's algebra may no longer hold: fail loudly."""
    from trl.trainer.dpo_trainer import DPOTrainer

    source = inspect.getsource(DPOTrainer._compute_loss)
    assert (
        'if loss_type == "sigmoid":\n                per_sequence_loss = -F.logsigmoid(self.beta * delta_score)'
        in source
    )
    assert "clean_loss_term = -(1 - self.label_smoothing) * F.logsigmoid(self.beta * delta_score)" in source
    assert "flipped_loss_term = -self.label_smoothing * F.logsigmoid(-self.beta * delta_score)" in source
    assert "per_sequence_loss = (clean_loss_term - flipped_loss_term) / (1 - 2 * self.label_smoothing)" in source
    assert "loss += per_sequence_loss.mean() * loss_weight" in source


def _trained_eval(tmp_path, eps):
    from arabic_pref.training.dpo_trainer import DPOTrainer
    from arabic_pref.training.scoring import pair_rewards

    config = DPOConfig(
        output_dir=str(tmp_path / f"eps{eps}"),
        report_to="none",
        loss_type="sigmoid",
        label_smoothing=eps,
        learning_rate=5e-2,
        learning_rate_override=True,
        max_steps=2,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=8,
        max_length=64,
        max_prompt_length=40,
        max_train_samples=8,
        max_eval_samples=8,
        gradient_checkpointing=False,
        save_strategy="no",
    )
    trainer = DPOTrainer(config)
    trl_trainer = trainer.build()
    trl_trainer.train()
    eval_loss = trl_trainer.evaluate()["eval_loss"]  # one batch: the mean over the 8 pairs
    chosen, rejected = pair_rewards(trl_trainer)
    margins = [(c - r) / config.beta for c, r in zip(chosen, rejected, strict=True)]
    return eval_loss, margins


def test_label_smoothing_really_applies_in_trl(tmp_path):
    eval_loss, margins = _trained_eval(tmp_path, 0.1)
    assert any(abs(m) > 0.1 for m in margins)  # trained: the formula below is not trivially log 2
    expected = sum(conservative_dpo_loss(0.1, m, 0.1) for m in margins) / len(margins)
    plain = sum(conservative_dpo_loss(0.1, m, 0.0) for m in margins) / len(margins)
    assert eval_loss == pytest.approx(expected, rel=1e-4)
    assert abs(eval_loss - plain) > 1e-3  # not the sigmoid loss TRL alone would compute
    eval_loss0, margins0 = _trained_eval(tmp_path, 0.0)  # eps = 0 is TRL's plain sigmoid
    assert eval_loss0 == pytest.approx(sum(conservative_dpo_loss(0.1, m, 0.0) for m in margins0) / 8, rel=1e-4)
