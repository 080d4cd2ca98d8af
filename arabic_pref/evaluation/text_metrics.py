"""Text metrics of generated answers, model-free so each can be checked by hand.

They watch for DPO's classic failures, which DPO loss does not show: the policy drifts into English
(`latin_switch_share`, `arabic_share`), answers grow longer than the reference's (`length_ratio`), text
degenerates into loops (`repetition`), and the end-of-turn token is never produced (`eot_share`). Letters are
counted with `arabic_pref.data.script` (Unicode letters only: digits, punctuation and marks carry no script).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from arabic_pref.data.script import arabic_share

# A response "switches to Latin script" when at least this share of its letters is Latin.
LATIN_SWITCH_SHARE = 0.25
# Repetition is measured on word n-grams of this size.
REPETITION_N = 3


def is_latin_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L") and unicodedata.name(ch, "").startswith("LATIN ")


def latin_share(text: str) -> float | None:
    """Latin letters / all letters, or None for a text without letters."""
    letters = [ch for ch in text if unicodedata.category(ch).startswith("L")]
    return sum(map(is_latin_letter, letters)) / len(letters) if letters else None


def switches_to_latin(text: str, threshold: float = LATIN_SWITCH_SHARE) -> bool:
    share = latin_share(text)
    return share is not None and share >= threshold


def ngram_counts(words: Sequence[str], n: int) -> tuple[int, int]:
    """(n-grams, distinct n-grams) of a word sequence."""
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(grams), len(set(grams))


def repetition(texts: Sequence[str], n: int = REPETITION_N) -> float:
    """Share of word n-grams that repeat an earlier n-gram of the same text, pooled over `texts` (0 = none).

    "a b a b a b" with n=2: n-grams ab ba ab ba ab, 2 distinct of 5, so 3/5 = 0.6 are repeats.
    """
    total = distinct = 0
    for text in texts:
        t, d = ngram_counts(text.split(), n)
        total, distinct = total + t, distinct + d
    return (total - distinct) / total if total else 0.0


def pooled_arabic_share(texts: Sequence[str]) -> float | None:
    """Arabic letters / all letters over every text together (None: no letters at all)."""
    return arabic_share("\n".join(texts))


def share(flags: Sequence[bool]) -> float:
    return sum(map(bool, flags)) / len(flags) if flags else 0.0


def length_ratio(lengths: Sequence[int], reference_lengths: Sequence[int]) -> float | None:
    """Total response length over the reference's on the same prompts (1.0 = as long; None: reference empty)."""
    ref = sum(reference_lengths)
    return sum(lengths) / ref if ref else None


def response_metrics(texts: Sequence[str], tokens: Sequence[int], ended: Sequence[bool]) -> dict[str, float]:
    """Metrics of one model's answers: script, repetition, end-of-turn and Latin-switch shares, mean length."""
    return {
        "arabic_share": pooled_arabic_share(texts) or 0.0,  # answers without any letter hold no Arabic either
        "repetition": repetition(texts),
        "eot_share": share(ended),
        "latin_switch_share": share([switches_to_latin(t) for t in texts]),
        "mean_tokens": sum(tokens) / len(tokens) if tokens else 0.0,
    }
