"""The interval helper (arabic_pref.intervals) against values computed by hand.

The bootstrap is checked where its answer is known: a constant has a zero-width interval; a proportion's percentile
interval is, on 64 pairs, close to the normal one p +- 1.96 sqrt(p(1-p)/n); duplicating pairs under one prompt
must not narrow the interval (clusters move together), while treating the duplicates as new prompts must.
"""

import math

import pytest

from arabic_pref.intervals import (
    bootstrap_mean,
    paired_difference,
    pairs_for_resolution,
    resolvable_difference,
)

# 39 wins of 64 pairs: the README's 0.609
WINS_64 = [1.0] * 39 + [0.0] * 25


def test_constant_values_have_a_zero_width_interval():
    ci = bootstrap_mean([1.0] * 10)
    assert (ci.estimate, ci.low, ci.high, ci.n) == (1.0, 1.0, 1.0, 10)
    ci = bootstrap_mean([0.5] * 7, clusters=list("aabbccd"))
    assert (ci.low, ci.high, ci.n, ci.clusters) == (0.5, 0.5, 7, 4)


def test_a_proportion_on_64_pairs_matches_the_normal_interval():
    p = 39 / 64
    half = 1.959964 * math.sqrt(p * (1 - p) / 64)  # 0.1195: [0.490, 0.729]
    ci = bootstrap_mean(WINS_64, n_resamples=20000)
    assert ci.estimate == pytest.approx(0.609375)
    assert ci.low == pytest.approx(p - half, abs=0.02)
    assert ci.high == pytest.approx(p + half, abs=0.02)
    assert ci.se == pytest.approx(math.sqrt(p * (1 - p) / 64), abs=0.005)


def test_pairs_sharing_a_prompt_move_together():
    values = [v for v in WINS_64 for _ in range(4)]  # every prompt has 4 pairs with the same outcome
    prompts = [i for i in range(64) for _ in range(4)]
    clustered = bootstrap_mean(values, prompts, n_resamples=20000)
    per_pair = bootstrap_mean(values, n_resamples=20000)
    plain = bootstrap_mean(WINS_64, n_resamples=20000)
    assert clustered.clusters == 64 and clustered.n == 256
    # 4 copies of one prompt's outcome are one piece of evidence: as wide as the 64 prompts alone
    assert clustered.high - clustered.low == pytest.approx(plain.high - plain.low, abs=0.02)
    # taken as 256 independent pairs the interval would halve (sqrt(4))
    assert per_pair.high - per_pair.low == pytest.approx((plain.high - plain.low) / 2, abs=0.02)


def test_two_clusters_of_unequal_size_enumerate_by_hand():
    # prompt a: 3 wins; prompt b: 1 loss. Resamples of 2 prompts: aa -> 1 (p 1/4), ab/ba -> 3/4 (1/2), bb -> 0 (1/4)
    ci = bootstrap_mean([1.0, 1.0, 1.0, 0.0], ["a", "a", "a", "b"], n_resamples=4000)
    assert ci.estimate == 0.75
    assert (ci.low, ci.high) == (0.0, 1.0)
    # mean of resamples 1/4 + 3/8 = 0.625; E[x^2] = 1/4 + 9/32 = 0.53125; sd = sqrt(0.53125 - 0.625^2) = 0.375
    assert ci.se == pytest.approx(0.375, abs=0.01)


def test_seeded_reruns_agree():
    assert bootstrap_mean(WINS_64, seed=3) == bootstrap_mean(WINS_64, seed=3)


def test_paired_difference():
    b = [0.0, 1.0, 0.5, 1.0, 0.0, 1.0]
    assert paired_difference(b, b).high == 0.0 and paired_difference(b, b).low == 0.0
    shifted = paired_difference([x + 0.25 for x in b], b)
    assert (shifted.estimate, shifted.low, shifted.high) == pytest.approx((0.25, 0.25, 0.25))
    # 64 pairs on which trial a wins 4 more than trial b and agrees elsewhere: the paired interval is narrow
    a = WINS_64
    b = [0.0] * 4 + WINS_64[4:]
    paired = paired_difference(a, b, n_resamples=20000)
    assert paired.estimate == pytest.approx(4 / 64)
    assert paired.low >= 0.0 and paired.high <= 0.16
    with pytest.raises(ValueError, match="same pairs"):
        paired_difference([1.0], [1.0, 0.0])


def test_the_difference_64_pairs_can_resolve():
    assert resolvable_difference(64) == pytest.approx(0.1225, abs=1e-4)
    assert resolvable_difference(400) == pytest.approx(0.049, abs=1e-3)
    assert pairs_for_resolution(0.05) == 385
    assert resolvable_difference(0) == math.inf
