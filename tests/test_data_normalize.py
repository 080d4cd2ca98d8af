"""Arabic normalization and script shares, table-driven on real Arabic strings."""

import json
import unicodedata

import pytest

from arabic_pref.config import DPOConfig
from arabic_pref.data import load_preference_data
from arabic_pref.data.normalize import normalize_text
from arabic_pref.data.script import arabic_share

# (input, none, light, full): none is NFC alone; light fixes presentation forms and tatweel; full also strips
# harakat and Quranic marks and folds alef variants and alef maqsura.
TABLE = [
    # diacritics (harakat, shadda, tanwin): kept by light, stripped by full
    ("مُحَمَّدٌ", "مُحَمَّدٌ", "مُحَمَّدٌ", "محمد"),
    ("بِسْمِ ٱللَّهِ ٱلرَّحْمَٰنِ ٱلرَّحِيمِ", None, None, "بسم الله الرحمن الرحيم"),
    # superscript alef U+0670 and a Quranic pause mark U+06DA
    ("ذَٰلِكَ", None, None, "ذلك"),
    ("قُرْآنٌ ۚ", None, None, "قران "),
    # tatweel U+0640: removed by light
    ("العـــربية", None, "العربية", "العربية"),
    ("مـرحـبـا", None, "مرحبا", "مرحبا"),
    # presentation forms (U+FB50-U+FDFF, U+FE70-U+FEFF): NFKC by light
    ("ﻣﺮﺣﺒﺎ", None, "مرحبا", "مرحبا"),
    ("ﻻ ﺇﻟﻪ", None, "لا إله", "لا اله"),
    ("ﷲ", None, "الله", "الله"),
    ("كتابﹱ", None, "كتابً", "كتاب"),  # U+FE71: tatweel with fathatan; the tatweel goes too
    # alef variants and alef maqsura: folded by full only
    ("أحمد إبراهيم آمنة ٱلله", None, None, "احمد ابراهيم امنة الله"),
    ("مستشفى على", None, None, "مستشفي علي"),
    # NFC always: decomposed alef + madda / hamza below become one letter (then full folds it)
    ("\u0627\u0653", "آ", "آ", "ا"),
    ("\u0627\u0655", "إ", "إ", "ا"),
    # outside the Arabic presentation blocks nothing is NFKC'd: Latin ligature, superscript, Arabic digits
    ("ﬁ x² ١٢٣", None, None, None),
]


@pytest.mark.parametrize(("text", "none", "light", "full"), TABLE)
def test_normalization_table(text, none, light, full):
    nfc = unicodedata.normalize("NFC", text)
    assert normalize_text(text, "none") == (none if none is not None else nfc)
    assert normalize_text(text, "light") == (light if light is not None else nfc)
    assert normalize_text(text, "full") == (full if full is not None else normalize_text(text, "light"))


def test_normalization_is_idempotent_and_off_by_default(tmp_path):
    for row in TABLE:
        for mode in ("none", "light", "full"):
            once = normalize_text(row[0], mode)
            assert normalize_text(once, mode) == once
    assert DPOConfig().normalize == "none"
    rows = [{"prompt": f"سؤال {i}", "chosen": "العـــربية مُحَمَّد", "rejected": "لا"} for i in range(4)]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    data = load_preference_data(str(path))
    assert {r["chosen"] for r in data.train} == {"العـــربية مُحَمَّد"}  # untouched without normalize
    full = load_preference_data(str(path), normalize="full")
    assert {r["chosen"] for r in full.train} == {"العربية محمد"}
    assert full.report.changed == {"normalize": 4}


def test_normalization_can_make_sides_identical_and_that_is_a_counted_drop(tmp_path):
    rows = [{"prompt": f"سؤال {i}", "chosen": "جواب", "rejected": f"جواب {i}"} for i in range(9)]
    rows.append({"prompt": "ما اسمه؟", "chosen": "مُحَمَّد", "rejected": "محمد"})  # differ only by harakat
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    assert not load_preference_data(str(path)).report.dropped
    dropped = load_preference_data(str(path), normalize="full").report.dropped
    assert sum(dropped.values()) == 1 and next(iter(dropped)).endswith("/identical_chosen_rejected")


@pytest.mark.parametrize(
    ("text", "share"),
    [
        ("مرحبا بكم", 1.0),
        ("Hello there", 0.0),
        ("1958 - 2018", None),  # no letters, no script
        ("مرحبا hello", 0.5),
        ("قال: OK", 0.6),
        ("ﻣﺮﺣﺒﺎ", 1.0),  # presentation forms are Arabic script
        ("مُحَمَّد", 1.0),  # marks are not letters and do not dilute
        ("", None),
    ],
)
def test_arabic_share_counts_letters_only(text, share):
    assert arabic_share(text) == share
