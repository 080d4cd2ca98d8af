"""Shaping checked pairs into the text TRL consumes: chat template, end token, and the spec's length limits.

TRL 1.x tokenizes raw strings itself and no longer knows `max_prompt_length`: a prompt that reaches
`max_length` makes it drop the pair silently. So we render each prompt with the model's chat template and
enforce the limits here, on tokens as the model sees them: a long prompt loses its *beginning* (the question
usually sits at the end), responses are cut to the room left, and every truncation or drop is counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


def render_prompt(tokenizer: Any, prompt: str, system_prompt: str | None) -> str:
    messages = [] if system_prompt is None else [{"role": "system", "content": system_prompt}]
    messages.append({"role": "user", "content": prompt})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _n_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _keep_last_tokens(tokenizer: Any, text: str, n: int) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer.decode(ids[-n:]) if n > 0 else ""


def _keep_first_tokens(tokenizer: Any, text: str, n: int) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer.decode(ids[:n]) if n > 0 else ""


def tokenize_and_format(
    rows: list[dict[str, Any]],
    tokenizer: Any,
    *,
    max_prompt_length: int,
    max_length: int,
    system_prompt: str | None,
) -> tuple[list[dict[str, str]], Counter]:
    """Return TRL-ready `{"prompt", "chosen", "rejected"}` texts and counts of truncated and dropped pairs.

    The prompt is the chat-templated text ending in the assistant header; each response ends with the
    template's end token (the tokenizer's eos, `<|im_end|>` for Qwen) so the trained model learns to stop.
    """
    eos = tokenizer.eos_token
    overhead = _n_tokens(tokenizer, render_prompt(tokenizer, "", system_prompt))
    counts: Counter = Counter()
    out = []
    for row in rows:
        prompt_text = render_prompt(tokenizer, row["prompt"], system_prompt)
        prompt_len = _n_tokens(tokenizer, prompt_text)
        if prompt_len > max_prompt_length:
            budget = max_prompt_length - overhead
            while budget > 0 and prompt_len > max_prompt_length:
                content = _keep_last_tokens(tokenizer, row["prompt"], budget)
                prompt_text = render_prompt(tokenizer, content, system_prompt)
                prompt_len = _n_tokens(tokenizer, prompt_text)
                budget -= 1
            if budget <= 0 and prompt_len > max_prompt_length:
                counts["dropped_prompt_template_too_long"] += 1
                continue
            counts["truncated_prompt"] += 1
        room = max_length - prompt_len
        pair = {"prompt": prompt_text}
        for side in ("chosen", "rejected"):
            text = row[side]
            if _n_tokens(tokenizer, text) + 1 > room:
                pair[side] = _keep_first_tokens(tokenizer, text, room)  # no eos: the answer was cut, not finished
                counts[f"truncated_{side}"] += 1
            else:
                pair[side] = text + eos
        out.append(pair)
    counts["kept"] = len(out)
    return out, counts
