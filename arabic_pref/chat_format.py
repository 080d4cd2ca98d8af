"""What a model's chat template says: how a prompt is rendered, where an assistant turn ends, when to stop.

These are tokenizer facts, read from the template rather than assumed per model, and every layer above needs
them: the data formatting (each answer ends with the end-of-turn token), the model loader (a tokenizer without a
pad token), the checkpoint conversions, generation and evaluation. So they live here, below all of them, and
import nothing of the package.

End of turn: each response ends with the token that the model's own chat template writes after an assistant
turn (`end_of_turn_token`), not with `eos_token` and not with a Qwen name. They differ in base models whose eos is
the pre-training document end (Qwen2.5-7B: eos `<|endoftext|>`, template `<|im_end|>`); a model trained to end
with the wrong token never stops in a chat.
"""

from __future__ import annotations

from typing import Any

Messages = list[dict[str, str]]


def prompt_messages(prompt: str | Messages, system_prompt: str | None) -> Messages:
    """The messages of a prompt, with `system_prompt` first unless it is None or the prompt has its own."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    has_system = any(m.get("role") == "system" for m in messages)
    if system_prompt is not None and not has_system:
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def render_prompt(tokenizer: Any, prompt: str | Messages, system_prompt: str | None) -> str:
    """A plain prompt or a list of messages, rendered with the chat template up to the assistant header."""
    return render_messages(tokenizer, prompt_messages(prompt, system_prompt))


def render_messages(tokenizer: Any, messages: Messages) -> str:
    """Messages rendered with the chat template, ending in the assistant header."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def response_text(response: str | Messages) -> str:
    """A response's text: the string itself, or the content of its (single) assistant message."""
    if isinstance(response, str):
        return response
    return "".join(m["content"] for m in response if m.get("role", "assistant") == "assistant")


_TURN_PROBE = "arabicpref-turn-probe"


def end_of_turn_token(tokenizer: Any) -> str:
    """The special token the chat template writes right after an assistant message (eos without a template).

    Rendered, not assumed: `<|im_end|>` for Qwen2.5 (instruct and base) and SmolLM2, `<|eot_id|>` for Llama 3,
    `<end_of_turn>` for Gemma.
    """
    if getattr(tokenizer, "chat_template", None):
        conversation = [{"role": "user", "content": "?"}, {"role": "assistant", "content": _TURN_PROBE}]
        text = tokenizer.apply_chat_template(conversation, tokenize=False)
        tail = text.split(_TURN_PROBE, 1)[1] if _TURN_PROBE in text else ""
        special = set(tokenizer.all_special_ids) | {
            i for i, added in tokenizer.added_tokens_decoder.items() if added.special
        }
        for token_id in _ids(tokenizer, tail):
            if token_id in special:
                return tokenizer.convert_ids_to_tokens(token_id)
    return tokenizer.eos_token


def stop_token_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """Where a generated turn ends: the chat template's end-of-turn token, eos, and the model's own stop ids.

    The end of turn is read from the model's template (`<|im_end|>` for Qwen2.5 and SmolLM2), never assumed;
    eos and the generation config's eos ids stay stops too (Qwen2.5 also stops at `<|endoftext|>`).
    """
    ids = [tokenizer.convert_tokens_to_ids(end_of_turn_token(tokenizer)), tokenizer.eos_token_id]
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids += configured if isinstance(configured, list) else [configured]
    return list(dict.fromkeys(i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id))


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


# Gemma's chat format, for a Gemma checkpoint that ships without a chat template (the 270M base model's GGUF).
# Written into the converted tokenizer (`tokenizer.chat_template`) so the template-driven code (end_of_turn_token,
# render_prompt, the generation stop) serves Gemma unchanged: `<start_of_turn>user\\n...<end_of_turn>\\n
# <start_of_turn>model\\n`, each turn closed by `<end_of_turn>`. It is Gemma 3's own template restricted to text:
# the role `assistant` is written `model`, and a system message has no turn of its own but is folded into the first
# user turn, followed by a blank line, as Google's template does.
# `<bos>`: Gemma's log-probs degrade silently without it (the first token becomes the attention sink) and with two
# of them. The template writes it, as Google's does, because our prompts are rendered to text and then tokenized
# with `add_special_tokens=False` (our generation and evaluation) or with the defaults (TRL's DPO tokenization of
# string prompts). So the converted tokenizer must not add one of its own: `add_bos_token` is switched off at
# conversion (the checkpoint table's `add_bos_token`), and every path sees exactly one `<bos>`
# (tests/test_gemma3.py checks both).
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}"
    "{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] | trim }}"
    "{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)
