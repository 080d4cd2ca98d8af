"""Trivial baselines: how far surface features alone go on a split, so a trained model's score means something.

A preference accuracy is only informative next to what a rule with no understanding scores on the same pairs.
Two such rules, both deterministic and pure Python (no torch, no numpy):

- **Length**: the longer answer is preferred (ties count 1/2). A summed log-ratio objective rewards any
  per-token gain in proportion to length, so data where the chosen answer is usually longer lets a model score
  well by learning length. Measured in tokens of the given tokenizer (the response text plus the end token, as
  training sees it), or in characters when no tokenizer is given.
- **Bag of words**: a multinomial naive Bayes on the words of chosen vs rejected answers, fit on train; on
  another split, the answer whose words are on average more "chosen-like" (mean per-word log-odds, so length
  plays no part) is preferred, ties 1/2. It measures keyword and script shortcuts (English answers, insults).

Each is an accuracy over pairs in [0, 1]; 0.5 is chance.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arabic_pref.chat_format import response_text

WORD = re.compile(r"\w+", re.UNICODE)
SMOOTHING = 1.0  # Laplace smoothing of the word counts


def answer_length(response: Any, tokenizer: Any = None) -> int:
    """Length of one answer: tokens of its text plus the end token with a tokenizer, else characters."""
    text = response_text(response)
    if tokenizer is None:
        return len(text)
    return len(tokenizer(text + (tokenizer.eos_token or ""), add_special_tokens=False)["input_ids"])


def _pair_accuracy(margins: Sequence[float]) -> float:
    """Share of positive margins, a zero margin counting one half; NaN for no pairs."""
    if not margins:
        return math.nan
    return sum(1.0 if m > 0 else 0.5 if m == 0 else 0.0 for m in margins) / len(margins)


def length_baseline_accuracy(rows: Sequence[dict[str, Any]], tokenizer: Any = None) -> float:
    """Accuracy of "the longer answer wins" (ties 1/2): tokens with `tokenizer`, characters without."""
    return _pair_accuracy(
        [answer_length(r["chosen"], tokenizer) - answer_length(r["rejected"], tokenizer) for r in rows]
    )


def words(text: str) -> list[str]:
    return [w.casefold() for w in WORD.findall(text)]


@dataclass
class BagOfWords:
    """Naive Bayes word log-odds of the chosen class over the rejected class (Laplace-smoothed)."""

    log_odds: dict[str, float]
    unseen: float  # log-odds of a word never seen in train (both classes smoothed alike)

    @classmethod
    def fit(cls, rows: Sequence[dict[str, Any]]) -> BagOfWords:
        chosen: Counter = Counter()
        rejected: Counter = Counter()
        for row in rows:
            chosen.update(words(response_text(row["chosen"])))
            rejected.update(words(response_text(row["rejected"])))
        vocabulary = set(chosen) | set(rejected)
        size = len(vocabulary) + 1  # one slot for unseen words
        total_c = sum(chosen.values()) + SMOOTHING * size
        total_r = sum(rejected.values()) + SMOOTHING * size
        log_odds = {
            w: math.log((chosen[w] + SMOOTHING) / total_c) - math.log((rejected[w] + SMOOTHING) / total_r)
            for w in vocabulary
        }
        return cls(log_odds, math.log(total_r / total_c))

    def score(self, response: Any) -> float:
        """Mean per-word log-odds of being a chosen answer (0 for an answer without words)."""
        tokens = words(response_text(response))
        if not tokens:
            return 0.0
        return sum(self.log_odds.get(w, self.unseen) for w in tokens) / len(tokens)

    def accuracy(self, rows: Sequence[dict[str, Any]]) -> float:
        return _pair_accuracy([self.score(r["chosen"]) - self.score(r["rejected"]) for r in rows])


def bag_of_words_baseline_accuracy(train: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]]) -> float:
    """Accuracy on `rows` of a bag-of-words naive Bayes fit on `train` (chosen vs rejected answers)."""
    return BagOfWords.fit(train).accuracy(rows)


def baseline_metrics(
    train: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], tokenizer: Any = None
) -> dict[str, float]:
    """The baselines of one split as MLflow metrics: `baseline/length_accuracy`, `baseline/bow_accuracy`.

    Length is in tokens when `tokenizer` is given (what the trainer passes), else in characters. Empty splits
    give no metrics (an accuracy over no pairs is undefined).
    """
    if not rows:
        return {}
    return {
        "baseline/length_accuracy": length_baseline_accuracy(rows, tokenizer),
        "baseline/bow_accuracy": bag_of_words_baseline_accuracy(train, rows),
    }


def baseline_table(splits: dict[str, Sequence[dict[str, Any]]], tokenizer: Any = None) -> list[str]:
    """Report lines: both baselines on every non-empty split (bag of words always fit on train)."""
    unit = "tokens" if tokenizer is not None else "characters"
    model = BagOfWords.fit(splits["train"])
    cells = []
    for name, rows in splits.items():
        if rows:
            length = length_baseline_accuracy(rows, tokenizer)
            cells.append(f"{name} length {length:.3f}, bag-of-words {model.accuracy(rows):.3f}")
    return [
        f"baselines   {'; '.join(cells)}",
        f"            (accuracy of: the longer answer in {unit}; word naive Bayes fit on train; ties 1/2)",
    ]
