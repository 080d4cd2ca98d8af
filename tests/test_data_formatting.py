"""Conversational pairs through the chat template, on the real Qwen2.5 tokenizer of the embedded default."""

import json

import pytest

from arabic_pref.chat_format import render_prompt
from arabic_pref.config import DEFAULT_SYSTEM_PROMPT
from arabic_pref.data import load_preference_data
from arabic_pref.data.formatting import tokenize_and_format
from arabic_pref.data.token_stats import length_stats, load_tokenizer, percentile, token_lengths

END = "<|im_end|>"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def _len(tokenizer, text):
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _user(text):
    return {"role": "user", "content": text}


def _assistant(text):
    return [{"role": "assistant", "content": text}]


def _format(tokenizer, rows, system_prompt=DEFAULT_SYSTEM_PROMPT, max_prompt_length=128, max_length=256):
    return tokenize_and_format(
        rows, tokenizer, max_prompt_length=max_prompt_length, max_length=max_length, system_prompt=system_prompt
    )


def test_conversation_without_system_gets_the_arabic_one_once(tokenizer):
    row = {"prompt": [_user("ما عاصمة مصر؟")], "chosen": _assistant("القاهرة."), "rejected": _assistant("لا أعرف.")}
    out, counts = _format(tokenizer, [row])
    assert out == [
        {
            "prompt": f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}{END}\n"
            f"<|im_start|>user\nما عاصمة مصر؟{END}\n<|im_start|>assistant\n",
            "chosen": f"القاهرة.{END}",
            "rejected": f"لا أعرف.{END}",
        }
    ]
    assert counts == {"kept": 1}
    plain = {"prompt": "ما عاصمة مصر؟", "chosen": "القاهرة.", "rejected": "لا أعرف."}
    assert _format(tokenizer, [plain])[0] == out  # the same pair, plain or conversational, renders the same


@pytest.mark.parametrize("system_prompt", [DEFAULT_SYSTEM_PROMPT, None, ""])
def test_conversation_with_its_own_system_never_gets_two(tokenizer, system_prompt):
    prompt = [{"role": "system", "content": "أجب بالعامية المصرية."}, _user("إزيك؟")]
    text = render_prompt(tokenizer, prompt, system_prompt)
    assert text.count("<|im_start|>system") == 1 and "Alibaba" not in text
    assert text.startswith("<|im_start|>system\nأجب بالعامية المصرية.<|im_end|>")


def test_null_system_prompt_keeps_the_template_default(tokenizer):
    text = render_prompt(tokenizer, [_user("مرحبا")], None)
    assert text.count("<|im_start|>system") == 1 and "You are Qwen, created by Alibaba Cloud" in text


def test_long_conversation_loses_its_oldest_turns_first_and_keeps_the_system(tokenizer):
    history = []
    for i in range(12):
        history += [_user(f"هذه رسالة قديمة طويلة نوعا ما رقمها {i}."), _assistant(f"رد قديم رقم {i}.")[0]]
    question = "فما هي عاصمة المغرب إذن؟"
    prompt = [{"role": "system", "content": "أنت خبير جغرافيا."}, *history, _user(question)]
    row = {"prompt": prompt, "chosen": _assistant("الرباط."), "rejected": _assistant("مراكش.")}
    out, counts = _format(tokenizer, [row], max_prompt_length=60, max_length=80)
    text = out[0]["prompt"]
    assert counts == {"truncated_prompt": 1, "kept": 1}
    assert _len(tokenizer, text) <= 60 and text.count("<|im_start|>system\nأنت خبير جغرافيا.") == 1
    assert question in text and "رقمها 0." not in text and text.endswith("<|im_start|>assistant\n")
    assert out[0]["chosen"] == f"الرباط.{END}"


def test_long_last_turn_loses_its_beginning_and_too_long_system_drops(tokenizer):
    question = "ما هي عاصمة مصر؟"
    row = {
        "prompt": [_user("هذا نص تمهيدي طويل جدا. " * 30 + question)],
        "chosen": _assistant("القاهرة مدينة كبيرة وجميلة. " * 30),
        "rejected": _assistant("لا."),
    }
    out, counts = _format(tokenizer, [row], max_prompt_length=40, max_length=64)
    assert counts == {"truncated_prompt": 1, "truncated_chosen": 1, "kept": 1}
    assert question in out[0]["prompt"] and _len(tokenizer, out[0]["prompt"]) <= 40
    assert not out[0]["chosen"].endswith(END) and out[0]["rejected"] == f"لا.{END}"
    huge_system = {**row, "prompt": [{"role": "system", "content": "تعليمات طويلة. " * 40}, _user("سؤال")]}
    out, counts = _format(tokenizer, [huge_system], max_prompt_length=40, max_length=64)
    assert out == [] and counts == {"dropped_prompt_template_too_long": 1, "kept": 0}


def test_loaded_conversational_file_flows_into_trl_ready_text(tokenizer, tmp_path):
    rows = [
        {"prompt": [_user(f"سؤال {i}؟")], "chosen": _assistant(f"جواب {i}."), "rejected": _assistant("لا.")}
        for i in range(10)
    ]
    path = tmp_path / "conv.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    data = load_preference_data(str(path))
    out, counts = _format(tokenizer, data.train)
    assert counts == {"kept": 9} and all(isinstance(v, str) for pair in out for v in pair.values())
    assert all(pair["chosen"].endswith(END) and pair["prompt"].count("<|im_start|>system") == 1 for pair in out)


def test_token_length_statistics(tokenizer):
    rows = [{"prompt": "سؤال " * n, "chosen": "نعم", "rejected": "لا " * n} for n in (1, 5, 50)]
    lengths = token_lengths(rows, tokenizer, DEFAULT_SYSTEM_PROMPT)
    assert lengths["chosen"] == [2, 2, 2]  # "نعم" + <|im_end|>
    stats = length_stats(lengths, max_prompt_length=40, max_length=60)
    assert stats["over_max_prompt_length"] == 1 and stats["over_max_length"] == 1
    assert stats["prompt"]["max"] == max(lengths["prompt"]) and stats["pairs"] == 3
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 99) == 4 and percentile([7], 50) == 7
