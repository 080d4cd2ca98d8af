"""The losses arabic-pref trains with, and the checks of each loss's parameters, before any model loads.

TRL 1.16 trains a weighted list of its losses (`trl.DPOConfig.loss_type`, `loss_weights`) with modifiers
(`label_smoothing`, `ld_alpha`, `use_weighting`, `f_divergence_type`, `discopop_tau`). Several of those settings are
silently ignored by some losses (TRL's `sigmoid` never reads `label_smoothing`; `discopop_tau` only matters to
`discopop`), so a run could record a value that did not train. Here every loss says which settings it reads, and a
setting a loss would ignore is refused with a `ConfigError` naming the key. `training/losses.py` turns a checked
config into TRL's list. Like `config_checks`, this module imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arabic_pref.errors import ConfigError


@dataclass(frozen=True)
class Loss:
    """One `loss_type` of ours: how it uses label smoothing, whether it sorts the batch, f-divergences."""

    label_smoothing: str = "no"  # "no" (ignored: refused), "optional" (0 = off), "required" (> 0)
    sorts_batch: bool = False  # pairs are matched by rank within a batch (AOT): needs more than one pair per batch
    f_divergence: bool = True  # TRL has an f-divergence form of it (reverse_kl is always allowed)


# ours -> TRL: `rpo` is TRL's sigmoid + sft; `sigmoid` and `rpo` with label smoothing are conservative DPO (cDPO),
# our own sigmoid + robust pair (training/losses.py). The others are TRL's losses of the same name.
LOSSES: dict[str, Loss] = {
    "sigmoid": Loss(label_smoothing="optional"),
    "rpo": Loss(label_smoothing="optional"),
    "hinge": Loss(),
    "ipo": Loss(),
    "sigmoid_norm": Loss(),
    "robust": Loss(label_smoothing="required"),
    "exo_pair": Loss(label_smoothing="required"),
    "nca_pair": Loss(f_divergence=False),
    "bco_pair": Loss(f_divergence=False),
    "sppo_hard": Loss(f_divergence=False),
    "apo_zero": Loss(f_divergence=False),
    "apo_down": Loss(f_divergence=False),
    "discopop": Loss(),
    "aot": Loss(label_smoothing="optional", sorts_batch=True, f_divergence=False),
    "aot_unpaired": Loss(label_smoothing="optional", sorts_batch=True, f_divergence=False),
}
LOSS_TYPES = tuple(LOSSES)
LOSSES_USING_LABEL_SMOOTHING = tuple(name for name, loss in LOSSES.items() if loss.label_smoothing != "no")
F_DIVERGENCE_TYPES = ("reverse_kl", "forward_kl", "js_divergence", "alpha_divergence")
DEFAULT_DISCOPOP_TAU = 0.05
DEFAULT_F_ALPHA = 0.5
# trl.DPOConfig fields derived from the loss fields above: never passed through `training_args`
DERIVED_TRL_LOSS_FIELDS = ("loss_type", "loss_weights", "label_smoothing", "ld_alpha", "discopop_tau")


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(key, message)


def check_loss(c: Any) -> None:
    """Every loss parameter of config `c`: in range, and read by the chosen loss (else refused, naming the key)."""
    _require(c.loss_type in LOSSES, "loss_type", f"must be one of {', '.join(LOSS_TYPES)}; got {c.loss_type!r}")
    loss, name = LOSSES[c.loss_type], c.loss_type
    _require(0 <= c.label_smoothing < 0.5, "label_smoothing", f"must be in [0, 0.5), got {c.label_smoothing}")
    _require(
        c.label_smoothing == 0 or loss.label_smoothing != "no",
        "label_smoothing",
        f"loss_type={name!r} ignores label smoothing; set label_smoothing=0 "
        f"(losses that use it: {', '.join(LOSSES_USING_LABEL_SMOOTHING)})",
    )
    _require(
        c.label_smoothing > 0 or loss.label_smoothing != "required",
        "label_smoothing",
        f"loss_type={name!r} needs label_smoothing > 0 (exo_pair: log(eps) is undefined at 0; robust at 0 is "
        "exactly sigmoid)",
    )
    _require(c.sft_weight >= 0, "sft_weight", f"must be >= 0, got {c.sft_weight}")
    _require(name != "rpo" or c.sft_weight > 0, "sft_weight", "loss_type='rpo' needs sft_weight > 0 (0 is sigmoid)")
    _require(
        name == "rpo" or c.sft_weight == 0,
        "sft_weight",
        f"only loss_type='rpo' adds the SFT term; loss_type={name!r} would ignore sft_weight={c.sft_weight}",
    )
    _require(c.discopop_tau > 0, "discopop_tau", f"must be > 0, got {c.discopop_tau}")
    _require(
        name == "discopop" or c.discopop_tau == DEFAULT_DISCOPOP_TAU,
        "discopop_tau",
        f"only loss_type='discopop' reads it; loss_type={name!r} would ignore discopop_tau={c.discopop_tau}",
    )
    _require(c.ld_alpha is None or 0 <= c.ld_alpha <= 1, "ld_alpha", f"must be in [0, 1] or null, got {c.ld_alpha}")
    _require(
        not loss.sorts_batch or c.per_device_train_batch_size >= 2,
        "per_device_train_batch_size",
        f"loss_type={name!r} matches pairs by rank within each device's batch: one pair per batch makes it plain "
        f"sigmoid; use >= 2 (larger is closer to the paper), got {c.per_device_train_batch_size}",
    )
    _require(
        not (c.use_weighting and loss.sorts_batch),
        "use_weighting",
        f"loss_type={name!r} sorts the batch, which would misalign the per-pair WPO weights (TRL refuses it)",
    )
    _require(
        c.f_divergence_type in F_DIVERGENCE_TYPES,
        "f_divergence_type",
        f"must be one of {', '.join(F_DIVERGENCE_TYPES)}; got {c.f_divergence_type!r}",
    )
    _require(
        c.f_divergence_type == "reverse_kl" or loss.f_divergence,
        "f_divergence_type",
        f"loss_type={name!r} has no f-divergence form in TRL; losses that have one: "
        f"{', '.join(n for n, x in LOSSES.items() if x.f_divergence)}",
    )
    _require(
        c.f_divergence_type == "alpha_divergence" or c.f_alpha_divergence_coef == DEFAULT_F_ALPHA,
        "f_alpha_divergence_coef",
        f"only f_divergence_type='alpha_divergence' reads it; {c.f_divergence_type!r} would ignore it",
    )
    passed = sorted(set(c.training_args) & {*DERIVED_TRL_LOSS_FIELDS, "use_weighting", "f_divergence_type"})
    _require(
        not passed,
        "training_args",
        f"{', '.join(passed)} are derived from loss_type, sft_weight, label_smoothing, ld_alpha, use_weighting, "
        "f_divergence_type and discopop_tau; set those instead",
    )
