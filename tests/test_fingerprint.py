"""Tokenizer hashing for dataset fingerprints: stable across loads, sensitive to what changes behaviour."""

from datasets.fingerprint import Hasher
from transformers import AutoTokenizer

from arabic_pref.builtin.model import ensure_tiny_qwen
from arabic_pref.training.fingerprint import DIGEST_ATTR, register_fast_tokenizer_hashing


def _tokenizer():
    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny_qwen())
    register_fast_tokenizer_hashing(tokenizer)
    return tokenizer


def test_same_tokenizer_same_fingerprint_and_digest_is_cached():
    first, second = _tokenizer(), _tokenizer()
    assert Hasher.hash({"processing_class": first}) == Hasher.hash({"processing_class": second})
    assert getattr(first, DIGEST_ATTR) == getattr(second, DIGEST_ATTR)


def test_a_different_chat_template_or_special_token_changes_the_fingerprint():
    base = _tokenizer()
    templated = _tokenizer()
    templated.chat_template = "{{ messages[0]['content'] }}"
    padded = _tokenizer()
    padded.pad_token = "<|im_end|>"
    hashes = {Hasher.hash(t) for t in (base, templated, padded)}
    assert len(hashes) == 3
