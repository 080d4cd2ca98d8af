"""Arabic text normalization: `none`, `light` and `full`, written here rather than borrowed.

pyarabic is GPL-3.0 (it would change this MIT project's licence) and camel-tools needs native builds and
online data, so the few rules we need live in this module, each one spelled out as code points:

- always: Unicode NFC, the form Qwen's tokenizer expects (its pre-tokenizer NFC-normalizes too), so that a
  composed and a decomposed spelling of the same word are one text, one token sequence and one duplicate key;
- `light`: NFKC applied *only* to the Arabic presentation-form blocks (U+FB50-U+FDFF, U+FE70-U+FEFF), which
  turns legacy glyph codes (isolated/final forms, lam-alef ligatures) back into letters, and removal of the
  tatweel (U+0640), a stretching stroke with no meaning. NFKC is not applied to the whole text, because it
  would also rewrite digits, superscripts and compatibility characters in other scripts;
- `full`: `light`, then strip the harakat and Quranic marks (U+064B-U+065F, U+0670, U+06D6-U+06ED) and fold
  the alef variants أ إ آ ٱ to ا and alef maqsura ى to ي. This loses information (vocalization, hamza
  spelling), which is why it is opt-in and `none` is the default.
"""

from __future__ import annotations

import unicodedata

from arabic_pref.config import NORMALIZE_MODES

TATWEEL = "\u0640"
PRESENTATION_RANGES = ((0xFB50, 0xFDFF), (0xFE70, 0xFEFF))
MARK_RANGES = ((0x064B, 0x065F), (0x0670, 0x0670), (0x06D6, 0x06ED))
# Alef with hamza above/below, alef with madda, alef wasla -> bare alef; alef maqsura -> yeh.
LETTER_FOLDS = {0x0623: "\u0627", 0x0625: "\u0627", 0x0622: "\u0627", 0x0671: "\u0627", 0x0649: "\u064a"}


def _in(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in ranges)


def _light(text: str) -> str:
    out = []
    for ch in text:
        if _in(ord(ch), PRESENTATION_RANGES):
            ch = unicodedata.normalize("NFKC", ch)  # a ligature becomes several letters
        out.append(ch)
    # After NFKC: U+FE71 and its kin decompose into a tatweel carrying a mark.
    return unicodedata.normalize("NFC", "".join(out).replace(TATWEEL, ""))


def _full(text: str) -> str:
    out = []
    for ch in _light(text):
        code = ord(ch)
        if _in(code, MARK_RANGES):
            continue
        out.append(LETTER_FOLDS.get(code, ch))
    return "".join(out)


def normalize_text(text: str, mode: str = "none") -> str:
    """NFC, then the `light` or `full` Arabic rules; `none` is NFC alone."""
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {', '.join(NORMALIZE_MODES)}; got {mode!r}")
    text = unicodedata.normalize("NFC", text)
    if mode == "light":
        return _light(text)
    if mode == "full":
        # NFC first composed alef + hamza/madda into one letter, so folding catches both spellings; a stray
        # combining hamza (U+0654/U+0655) is a mark and is stripped.
        return unicodedata.normalize("NFC", _full(text))
    return text
