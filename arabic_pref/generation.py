"""Side-by-side generations of the trained policy and its reference, the way the chat model is prompted.

Prompts are rendered with the model's own chat template and generation stops at the template's end-of-turn
token, so the same code serves Qwen2.5, SmolLM2 or any other chat checkpoint.
"""

from __future__ import annotations

from typing import Any

import torch

from arabic_pref.chat_format import render_prompt, stop_token_ids


@torch.no_grad()
def generate_text(model: Any, tokenizer: Any, prompt_text: str, max_new_tokens: int, **kwargs: Any) -> str:
    inputs = tokenizer(prompt_text, return_tensors="pt", add_special_tokens=False)
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in inputs.items()}
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    settings = {
        "max_new_tokens": max_new_tokens,
        "eos_token_id": stop_token_ids(tokenizer, model),
        "pad_token_id": tokenizer.pad_token_id,
        **kwargs,
    }
    try:
        output = model.generate(**inputs, **settings)
    finally:
        if was_training:
            model.train()
    new_tokens = output[0, inputs["input_ids"].shape[1] :]
    return tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


def compare(
    policy: Any, reference: Any, tokenizer: Any, prompt: str, system_prompt: str | None, max_length: int, **kwargs: Any
) -> dict[str, str]:
    """The spec's comparison dict; `max_length` counts new tokens, generation stops at the end of the turn."""
    text = render_prompt(tokenizer, prompt, system_prompt)
    return {
        "prompt": prompt,
        "trained_model_response": generate_text(policy, tokenizer, text, max_length, **kwargs),
        "reference_model_response": generate_text(reference, tokenizer, text, max_length, **kwargs),
    }
