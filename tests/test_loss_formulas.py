"""Every loss we offer, as TRL computes it, against a hand-written formula of TRL's own definition.

Model-free: TRL's `DPOTrainer._compute_loss` runs on a minimal trainer object (the attributes TRL's `__init__` sets,
from the trl.DPOConfig our `to_trl_config` builds) and a stand-in forward that returns fixed per-token log-probs.
So the whole road is checked — our config, our mapping onto TRL's weighted list, TRL's maths — and a TRL upgrade
that changes a loss, or a mapping that swaps one loss for another, fails here (the formulas are pairwise distinct
on these numbers: see `test_the_formulas_tell_every_loss_apart`). Departures of TRL from the papers are noted in
conf/loss/*.yaml.
"""

from __future__ import annotations

import inspect
import math
from collections import defaultdict
from contextlib import nullcontext
from types import SimpleNamespace

import pytest
import torch

from arabic_pref.config import DPOConfig
from arabic_pref.loss_checks import LOSS_TYPES
from arabic_pref.training.losses import conservative_dpo_loss, length_desensitized_logps
from arabic_pref.training.trl_args import to_trl_config

# Three pairs; rows 0-2 chosen, 3-5 rejected (TRL's [chosen; rejected] batch). Position 0 is the prompt token.
MASKS = [
    [0, 1, 1, 1, 0, 0],
    [0, 1, 1, 1, 1, 1],
    [0, 1, 1, 0, 0, 0],
    [0, 1, 1, 1, 1, 0],
    [0, 1, 1, 0, 0, 0],
    [0, 1, 1, 1, 1, 1],
]
# per-token log-probs of the policy at the completion positions (shifted: MASKS[r][1:]); 0 elsewhere, as TRL's
# fused head returns them
TOKENS = [
    [-0.5, -1.2, -0.3],
    [-0.2, -0.4, -0.9, -1.1, -0.6],
    [-2.0, -0.1],
    [-1.5, -0.7, -0.8, -0.4],
    [-0.3, -0.6],
    [-0.9, -1.3, -0.2, -0.5, -1.0],
]
REF_CHOSEN = [-2.3, -3.9, -1.6]
REF_REJECTED = [-4.5, -1.4, -2.9]  # margins ranked unlike the policy's: AOT's sort matters
# log sum_v p(v)^2 at each completion token, for WPO's weights
SUM_SQ = [-0.4, -0.6, -0.5, -0.3, -0.7]
BETA = 0.5


def _per_token() -> torch.Tensor:
    out = torch.zeros(6, 5)
    for r, (mask, values) in enumerate(zip(MASKS, TOKENS, strict=True)):
        positions = [i for i, m in enumerate(mask[1:]) if m]
        out[r, positions] = torch.tensor(values)
    return out


class _Accelerator:
    device = torch.device("cpu")

    def gather_for_metrics(self, x):
        return x

    gather = gather_for_metrics

    def autocast(self):
        return nullcontext()


def _forward(**_kwargs):
    """TRL's fused-head output for our fixed batch (only the fields `_compute_loss` reads)."""
    n = _per_token().shape
    return SimpleNamespace(
        log_probs=_per_token(),
        entropy=torch.zeros(n),
        mean_logits=torch.zeros(n),
        is_top1=torch.zeros(n, dtype=torch.bool),
        log_sum_sq_probs=torch.tensor([SUM_SQ] * 6) * torch.tensor(MASKS)[:, 1:],
    )


def trl_loss(tmp_path, **fields) -> tuple[float, dict]:
    """TRL's loss on the fixed batch for our DPOConfig(**fields), and TRL's logged eval metrics."""
    config = DPOConfig(output_dir=str(tmp_path), report_to="none", beta=BETA, **fields)
    args = to_trl_config(config)
    trainer = SimpleNamespace(  # what trl.DPOTrainer.__init__ sets from args (pinned by the seam test below)
        model=SimpleNamespace(training=False),
        accelerator=_Accelerator(),
        aux_loss_enabled=False,
        beta=args.beta,
        precompute_ref_logps=True,
        loss_types=args.loss_type,
        loss_weights=args.loss_weights or [1.0] * len(args.loss_type),
        ld_alpha=args.ld_alpha,
        f_divergence_type=args.f_divergence_type,
        f_alpha_divergence_coef=args.f_alpha_divergence_coef,
        label_smoothing=args.label_smoothing,
        use_weighting=args.use_weighting,
        args=args,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
    )
    mask = torch.tensor(MASKS)
    inputs = {
        "input_ids": torch.ones_like(mask),
        "attention_mask": torch.ones_like(mask),
        "completion_mask": mask,
        "ref_chosen_logps": torch.tensor(REF_CHOSEN),
        "ref_rejected_logps": torch.tensor(REF_REJECTED),
    }
    from trl import DPOTrainer

    loss = DPOTrainer._compute_loss(trainer, _forward, inputs, False)
    return float(loss), {k: v[-1] for k, v in trainer._metrics["eval"].items()}


# --- the formulas, in plain floats, as TRL 1.16 defines each loss ---


def logsig(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def sig(x: float) -> float:
    return math.exp(logsig(x))


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def sums(ld_alpha: float | None = None) -> list[float]:
    """Summed policy log-probs per row; with ld_alpha, tokens past the shorter response of the pair weigh ld_alpha."""
    out = []
    for r, values in enumerate(TOKENS):
        shared = min(len(TOKENS[r % 3]), len(TOKENS[r % 3 + 3]))
        alpha = 1.0 if ld_alpha is None else ld_alpha
        out.append(sum(values[:shared]) + alpha * sum(values[shared:]))
    return out


def pairs(ld_alpha: float | None = None):
    """(chosen log-ratio, rejected log-ratio, chosen tokens, rejected tokens) of each pair."""
    s = sums(ld_alpha)
    return [(s[i] - REF_CHOSEN[i], s[i + 3] - REF_REJECTED[i], len(TOKENS[i]), len(TOKENS[i + 3])) for i in range(3)]


def sft() -> float:
    chosen = [v for values in TOKENS[:3] for v in values]
    return -sum(chosen) / len(chosen)


def aot(eps: float, unpaired: bool) -> float:
    s = sums()
    if unpaired:
        left, right = sorted(lc for lc, _, _, _ in pairs()), sorted(lr for _, lr, _, _ in pairs())
    else:
        left = sorted(s[i] - s[i + 3] for i in range(3))
        right = sorted(REF_CHOSEN[i] - REF_REJECTED[i] for i in range(3))
    deltas = [x - y for x, y in zip(left, right, strict=True)]
    return mean(-(1 - eps) * logsig(BETA * d) - eps * logsig(-BETA * d) for d in deltas)


def exo(h: float, eps: float) -> float:
    q = sig(BETA * h)
    return q * (logsig(BETA * h) - math.log(1 - eps)) + (1 - q) * (logsig(-BETA * h) - math.log(eps))


def discopop(h: float, tau: float) -> float:
    x = BETA * h
    m = sig(x / tau)
    return -logsig(x) * (1 - m) + math.exp(-x) * m


b = BETA
PER_PAIR = {  # loss name -> per-pair loss of (lc, lr, nc, nr); TRL means it over the batch
    "sigmoid": lambda lc, lr, nc, nr: -logsig(b * (lc - lr)),
    "hinge": lambda lc, lr, nc, nr: max(0.0, 1 - b * (lc - lr)),
    "ipo": lambda lc, lr, nc, nr: (lc / nc - lr / nr - 1 / (2 * b)) ** 2,
    "sigmoid_norm": lambda lc, lr, nc, nr: -logsig(b * (lc / nc - lr / nr)),
    "robust": lambda lc, lr, nc, nr: (0.9 * -logsig(b * (lc - lr)) - 0.1 * -logsig(-b * (lc - lr))) / 0.8,
    "exo_pair": lambda lc, lr, nc, nr: exo(lc - lr, 1e-3),
    "nca_pair": lambda lc, lr, nc, nr: -logsig(b * lc) - 0.5 * logsig(-b * lc) - 0.5 * logsig(-b * lr),
    "bco_pair": lambda lc, lr, nc, nr: -logsig(b * lc) - logsig(-b * lr),
    "sppo_hard": lambda lc, lr, nc, nr: (lc - 0.5 / b) ** 2 + (lr + 0.5 / b) ** 2,
    "apo_zero": lambda lc, lr, nc, nr: (1 - sig(b * lc)) + sig(b * lr),
    "apo_down": lambda lc, lr, nc, nr: sig(b * lc) + (1 - sig(b * (lc - lr))),
    "discopop": lambda lc, lr, nc, nr: discopop(lc - lr, 0.05),
}
# what each loss group needs beyond its name (our checks refuse a missing one)
EXTRA = {
    "robust": {"label_smoothing": 0.1},
    "exo_pair": {"label_smoothing": 1e-3},
    "rpo": {"sft_weight": 0.2},
}


def expected(name: str) -> float:
    if name in PER_PAIR:
        return mean(PER_PAIR[name](*p) for p in pairs())
    if name == "rpo":
        return expected("sigmoid") + 0.2 * sft()
    return aot(0.0, unpaired=name == "aot_unpaired")


@pytest.mark.parametrize("name", LOSS_TYPES)
def test_trl_loss_equals_its_formula(tmp_path, name):
    value, _ = trl_loss(tmp_path, loss_type=name, **EXTRA.get(name, {}))
    assert value == pytest.approx(expected(name), rel=1e-5)


def test_the_formulas_tell_every_loss_apart():
    """A loss swapped for another would fail the test above: no two formulas agree on these numbers."""
    values = {name: expected(name) for name in LOSS_TYPES}
    for x in values:
        for y in values:
            assert x == y or abs(values[x] - values[y]) > 1e-3, (x, y, values[x])
    policy_rank = sorted(range(3), key=lambda i: sums()[i] - sums()[i + 3])
    assert policy_rank != sorted(range(3), key=lambda i: REF_CHOSEN[i] - REF_REJECTED[i])


@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_cdpo_and_rpo_with_label_smoothing(tmp_path, eps):
    cdpo = mean(conservative_dpo_loss(BETA, lc - lr, eps) for lc, lr, _, _ in pairs())
    assert trl_loss(tmp_path, loss_type="sigmoid", label_smoothing=eps)[0] == pytest.approx(cdpo, rel=1e-5)
    value, _ = trl_loss(tmp_path, loss_type="rpo", label_smoothing=eps, sft_weight=0.3)
    assert value == pytest.approx(cdpo + 0.3 * sft(), rel=1e-5)
    for name in ("aot", "aot_unpaired"):
        value, _ = trl_loss(tmp_path, loss_type=name, label_smoothing=eps)
        assert value == pytest.approx(aot(eps, unpaired=name == "aot_unpaired"), rel=1e-5)


def test_ld_alpha_weights_the_tail_and_our_scores_match(tmp_path):
    value, metrics = trl_loss(tmp_path, loss_type="sigmoid", ld_alpha=0.25)
    assert value == pytest.approx(mean(-logsig(b * (lc - lr)) for lc, lr, _, _ in pairs(0.25)), rel=1e-5)
    assert abs(value - expected("sigmoid")) > 1e-3  # the weighting changed something
    ours = length_desensitized_logps(_per_token(), torch.tensor(MASKS)[:, 1:], 0.25)
    assert ours.tolist() == pytest.approx(sums(0.25), rel=1e-6)
    assert metrics["rewards/chosen"] == pytest.approx(b * mean(lc for lc, _, _, _ in pairs(0.25)), rel=1e-5)
    assert metrics["rewards/rejected"] == pytest.approx(b * mean(lr for _, lr, _, _ in pairs(0.25)), rel=1e-5)
    plain = length_desensitized_logps(_per_token(), torch.tensor(MASKS)[:, 1:], None)
    assert plain.tolist() == pytest.approx(sums(), rel=1e-6)


def test_wpo_weighting(tmp_path):
    def weight(row: int) -> float:
        values = TOKENS[row]
        return math.exp(mean(v - SUM_SQ[i] for i, v in enumerate(values)))

    want = mean(-logsig(b * (lc - lr)) * weight(i) * weight(i + 3) for i, (lc, lr, _, _) in enumerate(pairs()))
    assert trl_loss(tmp_path, loss_type="sigmoid", use_weighting=True)[0] == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize(
    ("divergence", "score"),
    [
        ("forward_kl", lambda x: 1 - math.exp(-x)),
        ("js_divergence", lambda x: math.log(2) + logsig(x)),
        ("alpha_divergence", lambda x: (math.exp(-0.5 * x) - 1) / -0.5),
    ],
)
def test_f_divergences(tmp_path, divergence, score):
    want = mean(-logsig(b * (score(lc) - score(lr))) for lc, lr, _, _ in pairs())
    value, metrics = trl_loss(tmp_path, loss_type="sigmoid", f_divergence_type=divergence)
    assert value == pytest.approx(want, rel=1e-5)
    # TRL's rewards stay beta * log-ratio whatever the divergence: our metrics read the same rewards
    assert metrics["rewards/margins"] == pytest.approx(b * mean(lc - lr for lc, lr, _, _ in pairs()), rel=1e-5)


def test_trl_init_sets_what_the_minimal_trainer_sets():
    """If TRL's __init__ derives the loss attributes differently, the minimal trainer above is wrong: fail."""
    from trl import DPOTrainer

    source = inspect.getsource(DPOTrainer.__init__)
    for line in (
        "self.loss_types = args.loss_type",
        "self.loss_weights = args.loss_weights or [1.0] * len(self.loss_types)",
        "self.ld_alpha = args.ld_alpha",
        "self.f_divergence_type = args.f_divergence_type",
        "self.label_smoothing = args.label_smoothing",
        "self.use_weighting = args.use_weighting",
        "self.precompute_ref_logps = args.precompute_ref_log_probs",
    ):
        assert line in source, line


def test_the_mean_log_ratios_are_logged_beside_the_margins():
    """Hand values: chosen log-ratios +2, 0, -1 and rejected +1, -3, 0 (pairs as in tests/test_metrics.py)."""
    from arabic_pref.metrics import PairScores, preference_metrics

    scores = PairScores(
        [-10.0, -5.0, -3.0], [-4.0, -9.0, -1.0], [-12.0, -5.0, -2.0], [-5.0, -6.0, -1.0], [4, 2, 1], [1, 3, 1]
    )
    m = preference_metrics(scores, beta=0.1)
    assert m["logratio_chosen"] == pytest.approx((2 + 0 - 1) / 3)
    assert m["logratio_rejected"] == pytest.approx((1 - 3 + 0) / 3)
    assert m["reward_margin"] == pytest.approx(0.1 * (m["logratio_chosen"] - m["logratio_rejected"]))
