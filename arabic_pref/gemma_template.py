"""Gemma's chat format, for a Gemma checkpoint that ships without a chat template (the 270M base model's GGUF).

Written into the converted tokenizer (`tokenizer.chat_template`) so the template-driven code (end_of_turn_token,
render_prompt, the generation stop) serves Gemma unchanged: `<start_of_turn>user\\n...<end_of_turn>\\n
<start_of_turn>model\\n`, each turn closed by `<end_of_turn>`. It is Gemma 3's own template restricted to text:
the role `assistant` is written `model`, and a system message has no turn of its own but is folded into the first
user turn, followed by a blank line, as Google's template does.

`<bos>`: Gemma's log-probs degrade silently without it (the first token becomes the attention sink) and with two
of them. The template writes it, as Google's does, because our prompts are rendered to text and then tokenized
with `add_special_tokens=False` (our generation and evaluation) or with the defaults (TRL's DPO tokenization of
string prompts). So the converted tokenizer must not add one of its own: `add_bos_token` is switched off at
conversion (the checkpoint table's `add_bos_token`), and every path sees exactly one `<bos>`
(tests/test_gemma3.py checks both).
"""

from __future__ import annotations

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
