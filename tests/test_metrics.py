import pytest

from arabic_pref.metrics import mean_margin, preference_accuracy


@pytest.mark.parametrize(
    ("chosen", "rejected", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], 1.0),
        ([0.0, 0.0], [1.0, 1.0], 0.0),
        ([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], 0.5),  # untrained policy == reference: chance level
        ([1.0, 0.0, -1.0, 0.5], [0.0, 0.0, 0.0, 2.0], (1 + 0.5 + 0 + 0) / 4),
    ],
)
def test_preference_accuracy_counts_ties_as_half(chosen, rejected, expected):
    assert preference_accuracy(chosen, rejected) == pytest.approx(expected)


def test_preference_accuracy_rejects_bad_input():
    with pytest.raises(ValueError, match="undefined"):
        preference_accuracy([], [])
    with pytest.raises(ValueError, match="rejected"):
        preference_accuracy([1.0], [1.0, 2.0])


def test_mean_margin():
    assert mean_margin([1.0, 3.0], [0.0, 2.0]) == pytest.approx(1.0)


def _scores():
    from arabic_pref.metrics import PairScores

    # pair 0: chosen log-ratio +2 over 4 tokens (0.5/token), rejected +1 over 1 token (1/token)
    # pair 1: chosen 0 over 2 tokens, rejected -3 over 3 tokens (-1/token)
    # pair 2: chosen -1 over 1 token, rejected -1 over 1 token (a tie both ways)
    return PairScores(
        policy_chosen=[-10.0, -5.0, -3.0],
        policy_rejected=[-4.0, -9.0, -2.0],
        ref_chosen=[-12.0, -5.0, -2.0],
        ref_rejected=[-5.0, -6.0, -1.0],
        chosen_tokens=[4, 2, 1],
        rejected_tokens=[1, 3, 1],
    )


def test_preference_metrics_by_hand():
    from arabic_pref.metrics import preference_metrics

    m = preference_metrics(_scores(), beta=0.1)
    assert m["preference_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)  # summed: 2 > 1, 0 > -3, tie
    assert m["preference_accuracy_per_token"] == pytest.approx((0 + 1 + 0.5) / 3)  # 0.5 < 1 flips pair 0
    assert m["reward_margin"] == pytest.approx(0.1 * ((2 - 1) + (0 + 3) + 0) / 3)
    assert m["logratio_margin_per_token"] == pytest.approx(((0.5 - 1) + (0 + 1) + 0) / 3)
    assert m["length_baseline_accuracy"] == pytest.approx((1 + 0 + 0.5) / 3)  # 4>1, 2<3, 1=1


def test_reward_margin_scales_with_beta_but_accuracies_do_not():
    from arabic_pref.metrics import preference_metrics

    low, high = preference_metrics(_scores(), beta=0.1), preference_metrics(_scores(), beta=1.0)
    assert high["reward_margin"] == pytest.approx(10 * low["reward_margin"])
    for key in ("preference_accuracy", "preference_accuracy_per_token", "logratio_margin_per_token"):
        assert high[key] == pytest.approx(low[key])


def test_slice_metrics_by_hand():
    from arabic_pref.metrics import slice_metrics

    m = slice_metrics(_scores(), {"dialect": ["msa", "gulf", "msa"], "topic": [None, "x", ""]})
    assert m["slice/dialect/msa/preference_accuracy"] == pytest.approx((1 + 0.5) / 2)
    assert m["slice/dialect/msa/preference_accuracy_per_token"] == pytest.approx((0 + 0.5) / 2)
    assert m["slice/dialect/gulf/preference_accuracy"] == 1.0 and m["slice/dialect/gulf/pairs"] == 1
    assert m["slice/topic/x/pairs"] == 1 and not any("None" in k for k in m)
    with pytest.raises(ValueError, match="3 pairs"):
        slice_metrics(_scores(), {"dialect": ["msa"]})


def test_pair_scores_reject_ragged_or_empty():
    from arabic_pref.metrics import PairScores, preference_metrics

    with pytest.raises(ValueError, match="undefined"):
        preference_metrics(PairScores(), beta=0.1)
    with pytest.raises(ValueError, match="different lengths"):
        preference_metrics(PairScores([1.0], [1.0], [1.0], [1.0], [1], []), beta=0.1)


def test_every_accuracy_has_its_interval_and_pair_count():
    """All-tied pairs (step 0): each accuracy is 0.5 with a zero-width interval; 4 pairs of 2 prompts."""
    from arabic_pref.metrics import PairScores, preference_metrics, slice_metrics

    scores = PairScores([-1.0] * 4, [-2.0] * 4, [-1.0] * 4, [-2.0] * 4, [3, 3, 1, 1], [1, 1, 3, 3])
    m = preference_metrics(scores, beta=0.1, clusters=["p", "p", "q", "q"])
    for name in ("preference_accuracy", "preference_accuracy_per_token"):
        assert (m[name], m[f"{name}_ci_low"], m[f"{name}_ci_high"], m[f"{name}_n"]) == (0.5, 0.5, 0.5, 4.0)
    # length baseline: prompt p's chosen is longer (2 wins), q's shorter (2 losses). Resampling the 2 prompts:
    # pp -> 1, pq/qp -> 0.5, qq -> 0, so the 95% interval is [0, 1]; by pairs it would be narrower
    assert m["length_baseline_accuracy"] == 0.5
    assert (m["length_baseline_accuracy_ci_low"], m["length_baseline_accuracy_ci_high"]) == (0.0, 1.0)
    assert m["logratio_abs_per_token"] == 0.0
    sliced = slice_metrics(scores, {"dialect": ["msa", "msa", "egy", "egy"]})
    assert sliced["slice/dialect/msa/preference_accuracy_ci_low"] == 0.5
    assert sliced["slice/dialect/msa/preference_accuracy_n"] == 2.0


def test_logratio_abs_per_token_measures_how_far_the_policy_moved():
    from arabic_pref.metrics import preference_metrics

    m = preference_metrics(_scores(), beta=0.1)
    # |per-token log-ratios|: chosen 0.5, 0, 1; rejected 1, 1, 1 -> mean 4.5 / 6
    assert m["logratio_abs_per_token"] == pytest.approx(4.5 / 6)
    assert m["preference_accuracy_ci_low"] <= m["preference_accuracy"] <= m["preference_accuracy_ci_high"]
