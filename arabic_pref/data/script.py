"""How Arabic a text is: the share of its letters that are in the Arabic script.

Arabic preference data scraped or translated at scale often hides answers in another script (an English
reply to an Arabic question, transliterated "Arabizi", code). DPO would then teach the model to switch
language. We count letters only (Unicode category L*): digits, punctuation, spaces and marks say nothing
about the language, and an answer such as "1958" has no script at all (share None, never flagged).
"""

from __future__ import annotations

import unicodedata

# Arabic, Arabic Supplement, Arabic Extended-B/A, and the two presentation-form blocks.
ARABIC_RANGES = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x0870, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))
# A text is "Arabic" when at least this share of its letters is Arabic.
ARABIC_MAJORITY = 0.5


def is_arabic_char(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in ARABIC_RANGES)


def arabic_share(text: str) -> float | None:
    """Arabic letters / all letters, or None for a text without letters."""
    letters = arabic = 0
    for ch in text:
        if unicodedata.category(ch).startswith("L"):
            letters += 1
            arabic += is_arabic_char(ch)
    return arabic / letters if letters else None


def is_mostly_arabic(share: float | None) -> bool:
    return share is not None and share >= ARABIC_MAJORITY


def is_mostly_other_script(share: float | None) -> bool:
    return share is not None and share < ARABIC_MAJORITY
