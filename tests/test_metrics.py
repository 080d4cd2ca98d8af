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
