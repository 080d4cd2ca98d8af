"""Chat formatting and the spec's length limits, on the real Qwen2.5 tokenizer of the embedded default."""

import pytest
from transformers import AutoTokenizer

from arabic_pref.config import DEFAULT_SYSTEM_PROMPT
from arabic_pref.data.formatting import render_prompt, tokenize_and_format
from arabic_pref.embedded import ensure_tiny_qwen


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(ensure_tiny_qwen())


def _len(tokenizer, text):
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_prompt_uses_qwen_template_with_one_arabic_system_prompt(tokenizer):
    text = render_prompt(tokenizer, "ما عاصمة مصر؟", DEFAULT_SYSTEM_PROMPT)
    assert text == (
        f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}<|im_end|>\n"
        "<|im_start|>user\nما عاصمة مصر؟<|im_end|>\n<|im_start|>assistant\n"
    )
    assert text.count("<|im_start|>system") == 1 and "Alibaba" not in text
    assert "Alibaba" in render_prompt(tokenizer, "سؤال", None)  # null: the template's own English default


def test_responses_end_with_im_end_so_models_learn_to_stop(tokenizer):
    rows = [{"prompt": "ما عاصمة مصر؟", "chosen": "القاهرة.", "rejected": "لا أعرف."}]
    out, counts = tokenize_and_format(
        rows, tokenizer, max_prompt_length=64, max_length=128, system_prompt=DEFAULT_SYSTEM_PROMPT
    )
    assert out[0]["chosen"] == "القاهرة.<|im_end|>" and out[0]["rejected"] == "لا أعرف.<|im_end|>"
    assert counts == {"kept": 1}


def test_long_prompt_keeps_its_end_and_long_response_is_cut(tokenizer):
    question = "ما هي عاصمة مصر؟"
    long_prompt = "هذا نص تمهيدي طويل جدا. " * 30 + question
    long_answer = "القاهرة مدينة كبيرة وجميلة. " * 30
    rows = [{"prompt": long_prompt, "chosen": long_answer, "rejected": "لا."}]
    out, counts = tokenize_and_format(rows, tokenizer, max_prompt_length=40, max_length=64, system_prompt="")
    assert counts["truncated_prompt"] == 1 and counts["truncated_chosen"] == 1 and counts["kept"] == 1
    prompt = out[0]["prompt"]
    assert _len(tokenizer, prompt) <= 40
    assert question in prompt and prompt.endswith("<|im_start|>assistant\n")  # the beginning went, not the question
    assert _len(tokenizer, prompt) + _len(tokenizer, out[0]["chosen"]) <= 64
    assert not out[0]["chosen"].endswith("<|im_end|>")  # a cut answer is not a finished one
    assert out[0]["rejected"] == "لا.<|im_end|>"


def test_prompt_limit_below_template_overhead_drops_and_counts(tokenizer):
    rows = [{"prompt": "سؤال", "chosen": "جواب", "rejected": "رد"}]
    out, counts = tokenize_and_format(
        rows, tokenizer, max_prompt_length=5, max_length=64, system_prompt=DEFAULT_SYSTEM_PROMPT
    )
    assert out == [] and counts["dropped_prompt_template_too_long"] == 1 and counts["kept"] == 0
