"""Trivial baselines: hand-computed values on tiny lists, and the shipped data where length must decide nothing."""

import math

import pytest

from arabic_pref.config import BUILTIN_DATASET
from arabic_pref.data import load_preference_data
from arabic_pref.data.baselines import (
    BagOfWords,
    bag_of_words_baseline_accuracy,
    baseline_metrics,
    length_baseline_accuracy,
)


def _pair(chosen, rejected, prompt="سؤال؟"):
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


class CharTokenizer:
    """A tokenizer with one token per word plus the end token: lengths a person can count."""

    eos_token = "<e>"

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [0] * (len(text.removesuffix(self.eos_token).split()) + 1)}


def test_length_baseline_counts_longer_chosen_wins_and_ties_as_half():
    rows = [_pair("جواب طويل جدًا", "لا"), _pair("نعم", "رد طويل وخاطئ"), _pair("abc", "xyz")]
    assert length_baseline_accuracy(rows) == pytest.approx((1 + 0 + 0.5) / 3)  # characters
    assert math.isnan(length_baseline_accuracy([]))
    # In tokens the order can differ from characters: 2 long words vs 4 short ones.
    words = [_pair("كلمتانطويلتان جدًاجدًاجدًا", "أ ب ت ث")]
    assert length_baseline_accuracy(words) == 1.0
    assert length_baseline_accuracy(words, CharTokenizer()) == 0.0
    conversational = [_pair([{"role": "assistant", "content": "جواب أطول"}], [{"role": "assistant", "content": "لا"}])]
    assert length_baseline_accuracy(conversational) == 1.0


def test_bag_of_words_fit_on_train_gives_hand_computed_log_odds_and_accuracy():
    train = [_pair("good", "bad")]
    model = BagOfWords.fit(train)
    # vocabulary {good, bad} + 1 unseen slot: each class has 1 word + 3 smoothing = 4
    assert model.log_odds["good"] == pytest.approx(math.log(2 / 4) - math.log(1 / 4))
    assert model.log_odds["bad"] == pytest.approx(-math.log(2))
    assert model.unseen == pytest.approx(0.0)
    rows = [_pair("Good good", "bad"), _pair("bad", "good"), _pair("new", "words"), _pair("good bad", "other")]
    # 1 (chosen-like), 0 (rejected-like), 1/2 (both unseen), 1/2 (mean log-odds 0 vs unseen 0)
    assert model.accuracy(rows) == pytest.approx(0.5)
    assert bag_of_words_baseline_accuracy(train, rows[:2]) == pytest.approx(0.5)
    assert model.score("good good") == pytest.approx(math.log(2))  # a mean per word: length plays no part


def test_baseline_metrics_names_and_empty_split():
    train = [_pair("جواب مفيد وصحيح", "خطأ"), _pair("نعم", "رد طويل وسيئ جدًا")]
    metrics = baseline_metrics(train, train)
    assert set(metrics) == {"baseline/length_accuracy", "baseline/bow_accuracy"}
    assert metrics["baseline/length_accuracy"] == 0.5 and metrics["baseline/bow_accuracy"] == 1.0
    assert baseline_metrics(train, []) == {}


def test_shipped_data_length_decides_nothing():
    data = load_preference_data(BUILTIN_DATASET)
    validation = length_baseline_accuracy(data.validation)
    assert 0.4 <= validation <= 0.6, validation
    assert 0.45 <= length_baseline_accuracy(data.train) <= 0.55
    assert 0.4 <= length_baseline_accuracy(data.test) <= 0.6
    for failure in ("wrong_fact", "evasive", "rude", "off_topic", "english_switch"):
        rows = [r for r in data.train + data.validation + data.test if r["failure"] == failure]
        longer_rejected = sum(len(r["rejected"]) > len(r["chosen"]) for r in rows)
        assert 0.5 <= longer_rejected / len(rows) <= 0.7, failure  # the balance comes from every other failure type
    assert all(len(r["rejected"]) < len(r["chosen"]) for r in data.train if r["failure"] == "too_terse")


@pytest.mark.slow
def test_shipped_data_length_baseline_in_qwen_tokens():
    from arabic_pref.data.token_stats import load_tokenizer

    tokenizer = load_tokenizer()
    data = load_preference_data(BUILTIN_DATASET)
    assert 0.4 <= baseline_metrics(data.train, data.validation, tokenizer)["baseline/length_accuracy"] <= 0.6
    assert 0.45 <= length_baseline_accuracy(data.train, tokenizer) <= 0.55
    assert 0.4 <= length_baseline_accuracy(data.test, tokenizer) <= 0.6
