"""Preference accuracy from per-pair implicit rewards; pure Python so it is testable without a model.

TRL's `rewards/accuracies` counts a tie as a miss, so an untrained policy (identical to its reference, every
reward 0) scores 0.0. We count a tie as one half: chance level reads 0.5, which makes "learned something"
and sweep objectives comparable from step 0.
"""

from __future__ import annotations

from collections.abc import Sequence


def preference_accuracy(chosen_rewards: Sequence[float], rejected_rewards: Sequence[float]) -> float:
    """Share of pairs whose chosen reward beats the rejected one; ties count 1/2. Empty input is an error."""
    if len(chosen_rewards) != len(rejected_rewards):
        raise ValueError(f"{len(chosen_rewards)} chosen rewards but {len(rejected_rewards)} rejected")
    if not chosen_rewards:
        raise ValueError("preference accuracy of zero pairs is undefined")
    score = sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen_rewards, rejected_rewards, strict=True))
    return score / len(chosen_rewards)


def mean_margin(chosen_rewards: Sequence[float], rejected_rewards: Sequence[float]) -> float:
    return sum(c - r for c, r in zip(chosen_rewards, rejected_rewards, strict=True)) / len(chosen_rewards)
