"""Drift and generation on the real tiny Qwen2: a model against itself drifts by exactly nothing."""

from __future__ import annotations

import copy

import pytest
import torch

from arabic_pref.builtin.model import ensure_tiny_qwen
from arabic_pref.chat_format import render_prompt
from arabic_pref.evaluation.drift import kl_on_responses, load_heldout_texts, perplexity_ratio
from arabic_pref.evaluation.generations import generate_batch, load_prompts
from arabic_pref.models import load_causal_lm, load_tokenizer


@pytest.fixture(scope="module")
def tiny():
    path = str(ensure_tiny_qwen())
    return load_causal_lm(path).eval(), load_tokenizer(path)


def _rows(tokenizer, n=3):
    texts = load_heldout_texts(None)[:n]
    return [(torch.tensor(tokenizer(t)["input_ids"][:40]), 8) for t in texts]


def test_kl_of_a_model_with_itself_is_zero_and_of_a_changed_model_positive(tiny):
    model, tokenizer = tiny
    rows = _rows(tokenizer)
    kl, tokens = kl_on_responses(model, model, rows)
    assert tokens == sum(len(ids) - 8 for ids, _ in rows)
    assert abs(kl) < 1e-6
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.lm_head.weight.add_(0.05 * torch.randn_like(changed.lm_head.weight))
    kl_changed, _ = kl_on_responses(changed, model, rows)
    assert kl_changed > 1e-3


def test_perplexity_ratio_of_a_model_with_itself_is_one(tiny):
    model, tokenizer = tiny
    texts = load_heldout_texts(None)[:4]
    m = perplexity_ratio(model, model, tokenizer, texts)
    assert m["drift/ppl_ratio"] == pytest.approx(1.0, abs=1e-9)
    # a random tiny model over a 151k vocabulary: perplexity in the order of the vocabulary size
    assert 1e3 < m["drift/ppl_policy"] < 1e6


def test_batched_left_padded_generation_equals_one_prompt_at_a_time(tiny):
    model, tokenizer = tiny
    prompts = [render_prompt(tokenizer, p["prompt"], "أنت مساعد مفيد.") for p in load_prompts(None)[:3]]
    batched = generate_batch(model, tokenizer, prompts, max_new_tokens=8, batch_size=3)
    single = [generate_batch(model, tokenizer, [p], max_new_tokens=8) for p in prompts]
    assert batched.texts == [s.texts[0] for s in single]
    assert batched.tokens == [s.tokens[0] for s in single]
    assert all(n <= 8 for n in batched.tokens) and len(batched.ended) == 3
