"""Which trial a sweep selects, and which trials are within noise of the best.

Why not simply the best value: on 64 validation pairs an accuracy's 95% interval is about +-0.12, so the best of
many similar trials is mostly the luckiest, and its lead over the runner-up is often noise. Two rules, both
reported, chosen by the sweeper setting `selection`:
- `best` (default): the best objective; ties go to the earlier trial (not to the larger log-ratio margin, which
  measures how far the policy moved, not how good it is).
- `one_se`: the one-standard-error rule. Among the trials whose objective is within one standard error of the
  best (the best trial's bootstrap standard error, recorded as `objective_se`), the most regularised one: the
  least `drift/kl_per_token` when every candidate has it, else the least `logratio_abs_per_token` (mean
  |log pi - log pi_ref| per token on validation, which every trial records), then the earlier trial.

Within noise: a trial is *within noise* of the best when the paired-bootstrap 95% interval of its per-pair
difference to the best trial on the same validation pairs (`arabic_pref.intervals.paired_difference`, from the
runs' `pair_scores/validation.json`) contains 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from arabic_pref.intervals import Z95, paired_difference

SELECTIONS = ("best", "one_se")
MC_DROP_ATTR = "mc_drop"  # user attribute and constraint name of the capability guard
SE_ATTR = "objective_se"
CI_ATTR = "objective_ci"  # [low, high]: the 95% interval of the trial's objective on validation
KL_ATTR = "drift/kl_per_token"
MOVED_ATTR = "logratio_abs_per_token"


def complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials that meet every constraint (the capability guard's `max_mc_drop`): the ones to select from."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    return [t for t in done if is_feasible(t)]


def is_feasible(trial: FrozenTrial) -> bool:
    """Optuna's rule: every constraint value <= 0 (a trial without constraints is feasible)."""
    return all(value <= 0 for value in trial.constraints.values())


def mc_drop(summary: dict) -> float:
    """How far the worst multiple-choice set fell below the reference (-delta; positive = capability lost).

    A run that scored no set cannot show it kept its capability: infinitely far, so never feasible."""
    deltas = [v for k, v in summary.items() if k.startswith("mc/") and k.endswith("/delta")]
    return max(-d for d in deltas) if deltas else math.inf


def _sign(study: optuna.Study) -> float:
    return 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0


def best_by_value(study: optuna.Study) -> FrozenTrial | None:
    """The best objective; ties go to the earlier trial."""
    if len(study.directions) > 1:  # multi-objective: no single best, see arabic_pref.sweep.pareto
        return None
    complete = complete_trials(study)
    if not complete:
        return None
    sign = _sign(study)
    return max(complete, key=lambda t: (sign * t.value, -t.number))


def se_from_interval(low: float, high: float) -> float:
    """A standard error read off a 95% interval (its half-width / 1.96)."""
    return (high - low) / (2 * Z95)


def interval_text(trial: FrozenTrial) -> str:
    """' [low, high]' of a trial's objective, when it recorded one."""
    ci = trial.user_attrs.get(CI_ATTR)
    return f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""


def one_se_candidates(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials within one standard error of the best (just the best when its SE is unknown)."""
    best = best_by_value(study)
    if best is None:
        return []
    se = best.user_attrs.get(SE_ATTR)
    if se is None or not math.isfinite(se):
        return [best]
    sign = _sign(study)
    return [t for t in complete_trials(study) if sign * t.value >= sign * best.value - se - 1e-12]


def regulariser(candidates: list[FrozenTrial]) -> str:
    """The measure of drift the one-SE rule minimises: KL per token when every candidate has it."""
    return KL_ATTR if all(KL_ATTR in t.user_attrs for t in candidates) else MOVED_ATTR


def one_se_trial(study: optuna.Study) -> FrozenTrial | None:
    candidates = one_se_candidates(study)
    if not candidates:
        return None
    measure = regulariser(candidates)
    return min(candidates, key=lambda t: (t.user_attrs.get(measure, math.inf), t.number))


def select(study: optuna.Study, rule: str = "best") -> FrozenTrial | None:
    if rule not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {rule!r}")
    return best_by_value(study) if rule == "best" else one_se_trial(study)


@dataclass(frozen=True)
class Paired:
    """A trial against the best trial on the same pairs."""

    difference: float  # trial - best (per-pair mean), in objective units
    low: float
    high: float
    pairs: int

    @property
    def within_noise(self) -> bool:
        return self.low <= 0.0 <= self.high


def paired_to_best(
    tables: dict[int, dict[str, Any] | None], values_of: Any, best_number: int
) -> dict[int, Paired | None]:
    """For each trial number, its paired difference to `best_number` on the pairs both were scored on.

    `tables` maps trial number to its `pair_scores/validation.json` (None: none logged); `values_of(table)` gives
    {pair_id: per-pair value} (see arabic_pref.pair_records.per_pair_values), or None.
    """
    from arabic_pref.pair_records import clusters_of

    best_table = tables.get(best_number)
    best_values = values_of(best_table) if best_table else None
    out: dict[int, Paired | None] = {}
    for number, table in tables.items():
        values = values_of(table) if table else None
        if best_values is None or values is None:
            out[number] = None
            continue
        common = [p for p in best_values if p in values]
        if not common:
            out[number] = None
            continue
        clusters = clusters_of(best_table)
        ci = paired_difference(
            [values[p] for p in common], [best_values[p] for p in common], [clusters[p] for p in common]
        )
        out[number] = Paired(ci.estimate, ci.low, ci.high, ci.n)
    return out


def noise_line(paired: dict[int, Paired | None], best_number: int) -> str:
    """'3 of 4 trials are within noise of the best (#2): #0, #1, #3' (the best itself not counted)."""
    known = {n: p for n, p in paired.items() if p is not None and n != best_number}
    within = sorted(n for n, p in known.items() if p.within_noise)
    listed = ", ".join(f"#{n}" for n in within) or "none"
    return (
        f"{len(within)} of {len(known)} other trials are within noise of the best (#{best_number}; paired 95% "
        f"interval of the difference contains 0): {listed}"
    )
