"""Shaping checked pairs into the text TRL consumes: chat template, end token, and the spec's length limits.

TRL 1.x tokenizes raw strings itself and no longer knows `max_prompt_length`: a prompt that reaches
`max_length` makes it drop the pair silently. So we render each prompt with the model's chat template and
enforce the limits here, on tokens as the model sees them: a long prompt loses its *beginning* (the question
usually sits at the end; in a conversation the oldest turns go first), responses are cut to the room left,
and every truncation or drop is counted.

System prompts: the configured one is added only when the conversation has none of its own. Templates such as
Qwen2.5's and SmolLM2's inject their own (English) default system prompt when the first message is not a system
message, so a configured system prompt replaces that default, and TRL-style data that already carries a system
turn would otherwise get two (a known TRL/Qwen pitfall).

End of turn: each response ends with the chat template's own end-of-turn token (`arabic_pref.chat_format`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from arabic_pref.chat_format import Messages, end_of_turn_token, prompt_messages, render_messages, response_text


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _n_tokens(tokenizer: Any, text: str) -> int:
    return len(_ids(tokenizer, text))


def _keep_last_tokens(tokenizer: Any, text: str, n: int) -> str:
    return tokenizer.decode(_ids(tokenizer, text)[-n:]) if n > 0 else ""


def _keep_first_tokens(tokenizer: Any, text: str, n: int) -> str:
    return tokenizer.decode(_ids(tokenizer, text)[:n]) if n > 0 else ""


def fit_prompt(tokenizer: Any, messages: Messages, max_prompt_length: int) -> tuple[str, int, bool] | None:
    """Render `messages` within `max_prompt_length` tokens: (text, tokens, truncated), or None if impossible.

    Oldest non-system turns are dropped first; then the last user turn loses its beginning, a token at a
    time until the template around it fits. The system message is never cut.
    """
    text = render_messages(tokenizer, messages)
    length = _n_tokens(tokenizer, text)
    if length <= max_prompt_length:
        return text, length, False
    messages = [dict(m) for m in messages]
    first = 1 if messages[0].get("role") == "system" else 0
    while len(messages) - first > 1 and length > max_prompt_length:
        del messages[first]
        text = render_messages(tokenizer, messages)
        length = _n_tokens(tokenizer, text)
    last = messages[-1]["content"]
    overhead = _n_tokens(tokenizer, render_messages(tokenizer, messages[:-1] + [{**messages[-1], "content": ""}]))
    budget = max_prompt_length - overhead
    while budget > 0 and length > max_prompt_length:
        messages[-1] = {**messages[-1], "content": _keep_last_tokens(tokenizer, last, budget)}
        text = render_messages(tokenizer, messages)
        length = _n_tokens(tokenizer, text)
        budget -= 1
    return (text, length, True) if length <= max_prompt_length else None


def tokenize_and_format(
    rows: list[dict[str, Any]],
    tokenizer: Any,
    *,
    max_prompt_length: int,
    max_length: int,
    system_prompt: str | None,
) -> tuple[list[dict[str, str]], Counter]:
    """Return TRL-ready `{"prompt", "chosen", "rejected"}` texts and counts of truncated and dropped pairs.

    Rows are plain (strings) or conversational (message lists, as TRL accepts them). The prompt is the
    chat-templated text ending in the assistant header; each response is the assistant's text followed by the
    template's end-of-turn token (`end_of_turn_token`) so the trained model learns to stop.
    """
    eos = end_of_turn_token(tokenizer)
    counts: Counter = Counter()
    out = []
    for row in rows:
        fitted = fit_prompt(tokenizer, prompt_messages(row["prompt"], system_prompt), max_prompt_length)
        if fitted is None:
            counts["dropped_prompt_template_too_long"] += 1
            continue
        prompt_text, prompt_len, truncated = fitted
        if truncated:
            counts["truncated_prompt"] += 1
        room = max_length - prompt_len
        pair = {"prompt": prompt_text}
        for side in ("chosen", "rejected"):
            text = response_text(row[side])
            if _n_tokens(tokenizer, text) + 1 > room:
                pair[side] = _keep_first_tokens(tokenizer, text, room)  # no eos: the answer was cut, not finished
                counts[f"truncated_{side}"] += 1
            else:
                pair[side] = text + eos
        out.append(pair)
    counts["kept"] = len(out)
    return out, counts
