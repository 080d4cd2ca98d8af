"""Preference metrics from per-pair log-probabilities; pure Python, so they are testable without a model.

Every evaluation (step 0, during training, at the end, extra evaluation sets) produces one `PairScores`: for each
pair, the policy's and the reference's log-probability of the chosen and the rejected response, summed over the
response tokens, and how many tokens each response has. All metrics below derive from it:

- `preference_accuracy`: share of pairs whose implicit reward beta * (log pi - log pi_ref), summed over tokens, is
  higher for chosen than rejected. TRL's `rewards/accuracies` counts a tie as a miss, so an untrained policy
  (identical to its reference) would score 0.0; we count a tie as one half, so chance level reads 0.5.
- `preference_accuracy_per_token`: the same with the log-ratio averaged per response token. A summed log-ratio
  rewards any per-token gain in proportion to length, so on data where the chosen answer is longer the summed
  accuracy can rise without any preference being learned; the per-token one cannot. (It is also the margin that
  TRL's IPO loss trains on.)
- `logratio_margin_per_token`: mean over pairs of the per-token log-ratio margin, without beta: comparable across
  loss types and betas (the beta-scaled, summed `reward_margin` grows with beta and with length).
- `logratio_chosen`, `logratio_rejected`: mean summed log-ratio log pi - log pi_ref of the chosen and of the
  rejected responses, without beta: a margin can grow with the chosen answer's likelihood falling (losses differ
  here: nca_pair and apo_zero raise the chosen, apo_down lowers both).
- `length_baseline_accuracy`: "the longer answer wins" on the same pairs and the same tokens: what a model that only
  learned length would score. Report it next to the accuracies.
- per-slice accuracies: the two accuracies within each value of a tag (dialect, failure type, ...).
- `logratio_abs_per_token`: mean over pairs and both answers of |log pi - log pi_ref| per token: how far the policy
  moved on these pairs, whatever the direction (0 at the reference). A sweep's `selection: one_se` prefers the
  trial that moved least among those within noise of the best (see arabic_pref.sweep.selection).

Every accuracy comes with its 95% interval and pair count: `<name>_ci_low`, `<name>_ci_high`, `<name>_n`, from a
bootstrap that resamples prompts (`arabic_pref.intervals`): 64 pairs cannot tell 0.61 from 0.55, and a number
without its interval invites reading differences that are noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from arabic_pref.intervals import bootstrap_mean

# Objectives a sweep can optimise, with the direction that is better.
OBJECTIVES = {
    "preference_accuracy": "maximize",
    "preference_accuracy_per_token": "maximize",
    "logratio_margin_per_token": "maximize",
    "reward_margin": "maximize",
}


@dataclass
class PairScores:
    """Per-pair summed response log-probs of the policy and the reference, and response lengths in tokens."""

    policy_chosen: list[float] = field(default_factory=list)
    policy_rejected: list[float] = field(default_factory=list)
    ref_chosen: list[float] = field(default_factory=list)
    ref_rejected: list[float] = field(default_factory=list)
    chosen_tokens: list[int] = field(default_factory=list)
    rejected_tokens: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.policy_chosen)

    def extend(self, other: PairScores) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))

    def check(self) -> None:
        sizes = {name: len(getattr(self, name)) for name in self.__dataclass_fields__}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"pair scores of different lengths: {sizes}")
        if not len(self):
            raise ValueError("preference metrics of zero pairs are undefined")

    def chosen_logratios(self) -> list[float]:
        return [p - r for p, r in zip(self.policy_chosen, self.ref_chosen, strict=True)]

    def rejected_logratios(self) -> list[float]:
        return [p - r for p, r in zip(self.policy_rejected, self.ref_rejected, strict=True)]

    def subset(self, indices: Sequence[int]) -> PairScores:
        return PairScores(**{name: [getattr(self, name)[i] for i in indices] for name in self.__dataclass_fields__})


def pair_outcomes(chosen_rewards: Sequence[float], rejected_rewards: Sequence[float]) -> list[float]:
    """Each pair's contribution to the accuracy: 1 when chosen wins, 1/2 on a tie, 0 otherwise."""
    return [1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen_rewards, rejected_rewards, strict=True)]


def with_interval(name: str, outcomes: Sequence[float], clusters: Sequence[object] | None) -> dict[str, float]:
    """`name`, `name_ci_low`, `name_ci_high` (95%, prompts resampled together) and `name_n` of per-pair outcomes."""
    ci = bootstrap_mean(outcomes, clusters)
    return {name: ci.estimate, f"{name}_ci_low": ci.low, f"{name}_ci_high": ci.high, f"{name}_n": float(ci.n)}


def preference_accuracy(chosen_rewards: Sequence[float], rejected_rewards: Sequence[float]) -> float:
    """Share of pairs whose chosen reward beats the rejected one; ties count 1/2. Empty input is an error."""
    if len(chosen_rewards) != len(rejected_rewards):
        raise ValueError(f"{len(chosen_rewards)} chosen rewards but {len(rejected_rewards)} rejected")
    if not chosen_rewards:
        raise ValueError("preference accuracy of zero pairs is undefined")
    return sum(pair_outcomes(chosen_rewards, rejected_rewards)) / len(chosen_rewards)


def mean_margin(chosen_rewards: Sequence[float], rejected_rewards: Sequence[float]) -> float:
    return sum(c - r for c, r in zip(chosen_rewards, rejected_rewards, strict=True)) / len(chosen_rewards)


def _per_token(values: Sequence[float], tokens: Sequence[int]) -> list[float]:
    return [v / max(n, 1) for v, n in zip(values, tokens, strict=True)]


def length_baseline_accuracy(chosen_tokens: Sequence[int], rejected_tokens: Sequence[int]) -> float:
    """'The longer response wins' (ties 1/2): the accuracy a length-only preference gets on these pairs."""
    return preference_accuracy([float(n) for n in chosen_tokens], [float(n) for n in rejected_tokens])


def per_pair_outcomes(scores: PairScores) -> dict[str, list[float]]:
    """Per-pair outcome vectors whose means are the accuracies (the unit of paired comparisons between runs)."""
    chosen, rejected = scores.chosen_logratios(), scores.rejected_logratios()
    return {
        "preference_accuracy": pair_outcomes(chosen, rejected),
        "preference_accuracy_per_token": pair_outcomes(
            _per_token(chosen, scores.chosen_tokens), _per_token(rejected, scores.rejected_tokens)
        ),
        "length_baseline_accuracy": pair_outcomes(
            [float(n) for n in scores.chosen_tokens], [float(n) for n in scores.rejected_tokens]
        ),
    }


def preference_metrics(scores: PairScores, beta: float, clusters: Sequence[object] | None = None) -> dict[str, float]:
    """Every headline metric of one evaluation (names as logged to MLflow and used as sweep objectives), each
    accuracy with its interval; `clusters` labels each pair's prompt (None: every pair its own prompt)."""
    scores.check()
    chosen, rejected = scores.chosen_logratios(), scores.rejected_logratios()
    chosen_pt = _per_token(chosen, scores.chosen_tokens)
    rejected_pt = _per_token(rejected, scores.rejected_tokens)
    out: dict[str, float] = {}
    for name, outcomes in per_pair_outcomes(scores).items():
        out |= with_interval(name, outcomes, clusters)
    moved = [abs(c) for c in chosen_pt] + [abs(r) for r in rejected_pt]
    return out | {
        # beta > 0 scales both rewards alike, so the sign of the margin (and the accuracy) does not depend on it
        "reward_margin": beta * mean_margin(chosen, rejected),
        "logratio_margin_per_token": mean_margin(chosen_pt, rejected_pt),
        "logratio_abs_per_token": sum(moved) / len(moved),
        # where the margin comes from: chosen up, rejected down, or both down (APO-down, sppo_hard move them apart)
        "logratio_chosen": sum(chosen) / len(chosen),
        "logratio_rejected": sum(rejected) / len(rejected),
    }


def slice_metrics(
    scores: PairScores, tags: Mapping[str, Sequence[object]], clusters: Sequence[object] | None = None
) -> dict[str, float]:
    """Per-slice accuracies: `tags` maps a tag name to one value per pair (None = untagged, skipped).

    Keys: `slice/<tag>/<value>/preference_accuracy`, `.../preference_accuracy_per_token` (each with `_ci_low`,
    `_ci_high`, `_n`), `.../pairs`.
    """
    out: dict[str, float] = {}
    for tag, values in tags.items():
        if len(values) != len(scores):
            raise ValueError(f"tag {tag!r} has {len(values)} values for {len(scores)} pairs")
        groups: dict[str, list[int]] = {}
        for i, value in enumerate(values):
            if value is not None and value != "":
                groups.setdefault(_metric_safe(str(value)), []).append(i)
        for value, indices in sorted(groups.items()):
            part = scores.subset(indices)
            part_clusters = None if clusters is None else [clusters[i] for i in indices]
            outcomes = per_pair_outcomes(part)
            prefix = f"slice/{tag}/{value}"
            for name in ("preference_accuracy", "preference_accuracy_per_token"):
                out |= with_interval(f"{prefix}/{name}", outcomes[name], part_clusters)
            out[f"{prefix}/pairs"] = float(len(indices))
    return out


def _metric_safe(value: str) -> str:
    """MLflow metric names allow letters, digits, _ - . / and spaces."""
    return "".join(ch if ch.isalnum() or ch in "_-. " else "_" for ch in value)[:100]
