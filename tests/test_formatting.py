"""Chat formatting and the spec's length limits, on the real Qwen2.5 tokenizer of the embedded default."""

import pytest
from transformers import AutoTokenizer

from arabic_pref.builtin.model import ensure_tiny_qwen
from arabic_pref.chat_format import render_prompt
from arabic_pref.config import DEFAULT_SYSTEM_PROMPT
from arabic_pref.data.formatting import tokenize_and_format


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


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_qwen_ids_and_end_of_turn_from_the_template(tokenizer):
    from arabic_pref.chat_format import end_of_turn_token

    assert end_of_turn_token(tokenizer) == "<|im_end|>"
    rows = [{"prompt": "ما عاصمة مصر؟", "chosen": "القاهرة.", "rejected": "لا أعرف."}]
    out, _ = tokenize_and_format(
        rows, tokenizer, max_prompt_length=64, max_length=128, system_prompt=DEFAULT_SYSTEM_PROMPT
    )
    prompt_ids = _ids(tokenizer, out[0]["prompt"])
    assert prompt_ids[:3] == [151644, 8948, 198]  # <|im_start|> system \n
    assert prompt_ids[-3:] == [151644, 77091, 198]  # <|im_start|> assistant \n
    assert _ids(tokenizer, out[0]["chosen"])[-1] == 151645  # <|im_end|>


# --- SmolLM2's own tokenizer and template (a checkpoint that is not ours; fetched once, see test_smollm2.py) ---
@pytest.fixture(scope="module")
def smollm2_tokenizer():
    from tests.smollm2_checkpoint import smollm2_or_skip

    return AutoTokenizer.from_pretrained(smollm2_or_skip())


@pytest.mark.slow
def test_smollm2_prompt_our_system_prompt_replaces_the_templates_default(smollm2_tokenizer):
    tok = smollm2_tokenizer
    text = render_prompt(tok, "ما عاصمة مصر؟", DEFAULT_SYSTEM_PROMPT)
    assert text == (
        f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}<|im_end|>\n"
        "<|im_start|>user\nما عاصمة مصر؟<|im_end|>\n<|im_start|>assistant\n"
    )
    assert "SmolLM" not in text
    own = render_prompt(tok, "ما عاصمة مصر؟", None)  # null: the template's own English default
    assert own.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face")
    ids = _ids(tok, text)
    assert ids[:2] == [1, 9690] and ids[-4:] == [1, 520, 9531, 198]  # <|im_start|>system ... <|im_start|>assistant\n
    assert tok.decode(ids) == text


@pytest.mark.slow
def test_smollm2_responses_end_with_its_end_of_turn_token(smollm2_tokenizer):
    from arabic_pref.chat_format import end_of_turn_token
    from tests.smollm2_checkpoint import SMOLLM2_END_OF_TURN_ID

    tok = smollm2_tokenizer
    assert end_of_turn_token(tok) == tok.eos_token == "<|im_end|>"
    rows = [{"prompt": "ما عاصمة مصر؟", "chosen": "القاهرة.", "rejected": "لا أعرف."}]
    out, counts = tokenize_and_format(rows, tok, max_prompt_length=64, max_length=128, system_prompt=None)
    assert out[0]["chosen"] == "القاهرة.<|im_end|>" and out[0]["rejected"] == "لا أعرف.<|im_end|>"
    assert _ids(tok, out[0]["chosen"])[-1] == SMOLLM2_END_OF_TURN_ID and counts == {"kept": 1}
    long_prompt = "هذا نص تمهيدي طويل جدا. " * 30 + "ما هي عاصمة مصر؟"
    out, counts = tokenize_and_format(
        [{**rows[0], "prompt": long_prompt}], tok, max_prompt_length=64, max_length=96, system_prompt=None
    )
    assert counts["truncated_prompt"] == 1 and len(_ids(tok, out[0]["prompt"])) <= 64
    assert "عاصمة مصر؟" in out[0]["prompt"] and out[0]["prompt"].endswith("<|im_start|>assistant\n")
