"""Text metrics of generated answers, model-free so each can be checked by hand.

They watch for DPO's classic failures, which DPO loss does not show: the policy drifts into English
(`latin_switch_share`, `arabic_share`) or into another script altogether (`other_script_share`: CJK, Cyrillic,
... — Qwen's common failure is a drift into Chinese), writes Persian or Urdu letters in an Arabic answer
(`persian_urdu_share`), answers grow longer than the reference's (`length_ratio`), text degenerates into loops
(`repetition`), the end-of-turn token is never produced (`eot_share`) or the answer budget cuts it
(`capped_share`, in generations.py).

Script shares count letters only, classified here and not with the data loader's `arabic_pref.data.script`
(which filters training pairs and keeps its own, documented rule): tatweel (U+0640, a letter-stretching mark
that Unicode files as a modifier letter) and every non-letter carry no script, so "ـــــ" is not Arabic.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from arabic_pref.data.script import is_arabic_char

# A response "switches to Latin script" when at least this share of its letters is Latin.
LATIN_SWITCH_SHARE = 0.25
# Repetition is measured on word n-grams of this size.
REPETITION_N = 3
TATWEEL = "\u0640"
# Letters of the Arabic block that Arabic does not use but Persian and Urdu do (پ چ ژ گ ک ی ٹ ڈ ڑ ں ہ ھ ے ۓ ۃ):
# in an Arabic answer they mean the model slipped into another language written in the same script.
PERSIAN_URDU_LETTERS = frozenset(
    "\u067e\u0686\u0698\u06af\u06a9\u06cc\u0679\u0688\u0691\u06ba\u06c1\u06be\u06d2\u06d3\u06c3"
)
_WORD_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def letters(text: str) -> list[str]:
    """The letters of a text that carry a script: Unicode letters, tatweel excluded."""
    return [ch for ch in text if ch != TATWEEL and unicodedata.category(ch).startswith("L")]


def script_of(letter: str) -> str:
    """arabic, latin or other (CJK, Cyrillic, Greek, Hebrew, Devanagari, ...)."""
    if is_arabic_char(letter):
        return "arabic"
    if unicodedata.name(letter, "").startswith("LATIN "):
        return "latin"
    return "other"


def script_shares(text: str) -> dict[str, float] | None:
    """{"arabic", "latin", "other"} shares of a text's letters, or None for a text without letters."""
    found = letters(text)
    if not found:
        return None
    scripts = [script_of(ch) for ch in found]
    return {name: scripts.count(name) / len(found) for name in ("arabic", "latin", "other")}


def latin_share(text: str) -> float | None:
    """Latin letters / all letters, or None for a text without letters."""
    shares = script_shares(text)
    return shares["latin"] if shares else None


def switches_to_latin(text: str, threshold: float = LATIN_SWITCH_SHARE) -> bool:
    share = latin_share(text)
    return share is not None and share >= threshold


def has_persian_urdu_letters(text: str) -> bool:
    return any(ch in PERSIAN_URDU_LETTERS for ch in text)


def words(text: str) -> list[str]:
    """Whitespace-separated words with punctuation stripped from their edges ("مصر،" and "مصر" are one word)."""
    stripped = (_WORD_EDGES.sub("", w) for w in text.split())
    return [w for w in stripped if w]


def ngram_counts(sequence: Sequence[str], n: int) -> tuple[int, int]:
    """(n-grams, distinct n-grams) of a word sequence."""
    grams = [tuple(sequence[i : i + n]) for i in range(len(sequence) - n + 1)]
    return len(grams), len(set(grams))


def repetition(texts: Sequence[str], n: int = REPETITION_N) -> float:
    """Share of word n-grams that repeat an earlier n-gram of the same text, pooled over `texts` (0 = none).

    "a b a b a b" with n=2: n-grams ab ba ab ba ab, 2 distinct of 5, so 3/5 = 0.6 are repeats.
    """
    total = distinct = 0
    for text in texts:
        t, d = ngram_counts(words(text), n)
        total, distinct = total + t, distinct + d
    return (total - distinct) / total if total else 0.0


def pooled_shares(texts: Sequence[str]) -> dict[str, float]:
    """Script shares over every text's letters together; zeros when there is no letter at all."""
    return script_shares("\n".join(texts)) or {"arabic": 0.0, "latin": 0.0, "other": 0.0}


def pooled_arabic_share(texts: Sequence[str]) -> float | None:
    """Arabic letters / all letters over every text together (None: no letters at all)."""
    shares = script_shares("\n".join(texts))
    return shares["arabic"] if shares else None


def share(flags: Sequence[bool]) -> float:
    return sum(map(bool, flags)) / len(flags) if flags else 0.0


def length_ratio(lengths: Sequence[int], reference_lengths: Sequence[int]) -> float | None:
    """Total response length over the reference's on the same prompts (1.0 = as long; None: reference empty)."""
    ref = sum(reference_lengths)
    return sum(lengths) / ref if ref else None


def response_metrics(
    texts: Sequence[str], tokens: Sequence[int], ended: Sequence[bool], budget: int | None = None
) -> dict[str, float]:
    """Metrics of one model's answers: scripts, repetition, end-of-turn, budget and switch shares, mean length.

    `capped_share` is the share of answers stopped by the answer budget (`budget` new tokens, no end of turn):
    when it is high for both models, `length_ratio` and `eot_share` cannot show a change in length.
    """
    shares = pooled_shares(texts)
    metrics = {
        "arabic_share": shares["arabic"],  # answers without any letter hold no Arabic either
        "other_script_share": shares["other"],
        "persian_urdu_share": share([has_persian_urdu_letters(t) for t in texts]),
        "repetition": repetition(texts),
        "eot_share": share(ended),
        "latin_switch_share": share([switches_to_latin(t) for t in texts]),
        "mean_tokens": sum(tokens) / len(tokens) if tokens else 0.0,
    }
    if budget is not None:
        metrics["capped_share"] = share([not e and n >= budget for e, n in zip(ended, tokens, strict=True)])
    return metrics
