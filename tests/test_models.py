"""Model sources: the embedded default builds and loads by path; missing weights fail fast with exit 2."""

import time

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from arabic_pref.builtin.model import ensure_tiny_qwen
from arabic_pref.config import BUILTIN_MODEL, ConfigError
from arabic_pref.models import resolve_model_source
from tests.conftest import run_cli

UNREACHABLE_HUB = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"}


def test_embedded_default_is_a_saved_qwen2_with_qwen25_tokenizer():
    path = ensure_tiny_qwen()
    assert resolve_model_source(BUILTIN_MODEL) == str(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert model.config.model_type == "qwen2" and model.config.vocab_size == len(tokenizer) == 151665
    assert model.generation_config.eos_token_id == [151645, 151643]
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"


def test_embedded_build_is_deterministic(tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("ARABIC_PREF_CACHE", str(tmp_path))
    rebuilt = AutoModelForCausalLM.from_pretrained(ensure_tiny_qwen())
    assert str(tmp_path) in str(ensure_tiny_qwen())
    monkeypatch.undo()
    cached = AutoModelForCausalLM.from_pretrained(ensure_tiny_qwen())
    for (name, a), (_, b) in zip(rebuilt.state_dict().items(), cached.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_missing_local_path_and_unreachable_hub(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model_source(str(tmp_path / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no config.json"):
        resolve_model_source(str(tmp_path / "empty"))
    for key, value in UNREACHABLE_HUB.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ConfigError, match="unreachable"):
        resolve_model_source("Qwen/Qwen2.5-7B")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE"):
        resolve_model_source("Qwen/Qwen2.5-0.5B-Instruct")


@pytest.mark.parametrize("model", ["qwen2.5-7b", "qwen2.5-0.5b-instruct"])
def test_cli_hub_model_without_weights_exits_2_fast(model, tmp_path):
    start = time.monotonic()
    result = run_cli([f"model={model}"], cwd=tmp_path, timeout=60, env={**UNREACHABLE_HUB, "HF_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "not in the local Hugging Face cache" in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - start < 20
    assert not (tmp_path / "mlflow.db").exists()


# --- a checkpoint that is not a Qwen2: GPT-2 names, no pad token, pad == eos ---
def _tiny_gpt2_without_pad(folder):
    """A random GPT-2-architecture model (fused `c_attn`, `c_proj`) whose tokenizer has no pad token."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny_qwen())
    tokenizer.pad_token = None
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=256)
    config.eos_token_id = config.bos_token_id = tokenizer.eos_token_id
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert AutoTokenizer.from_pretrained(folder).pad_token is None
    return folder


def _gpt2_trainer(folder, tmp_path, **overrides):
    from arabic_pref.config import DPOConfig
    from arabic_pref.training.dpo_trainer import DPOTrainer
    from tests.conftest import DATA, FIT

    config = DPOConfig(
        model_name=str(folder),
        dataset_path=DATA,
        output_dir=str(tmp_path / "out"),
        report_to="none",
        learning_rate=5e-3,
        learning_rate_override=True,
        **{**FIT, "max_length": 64, "max_eval_samples": 4, "per_device_eval_batch_size": 4, **overrides},
    )
    return DPOTrainer(config)


def test_lora_on_gpt2_names_and_missing_pad_token_train(tmp_path):
    import math

    folder = _tiny_gpt2_without_pad(tmp_path / "gpt2")
    trainer = _gpt2_trainer(folder, tmp_path)  # lora_target_modules: the default q/k/v/o_proj
    trl_trainer = trainer.build()
    assert trainer.tokenizer.pad_token == trainer.tokenizer.eos_token == "<|im_end|>"
    lora_modules = {name.rsplit(".lora_A", 1)[0] for name, _ in trainer.model.named_modules() if ".lora_A" in name}
    assert lora_modules and all(name.endswith(("attn.c_attn", "attn.c_proj")) for name in lora_modules)
    assert any(name.endswith("attn.c_attn") for name in lora_modules)
    assert trainer.get_lora_config().target_modules == {"attn.c_attn", "attn.c_proj"}
    result = trl_trainer.train()
    assert math.isfinite(result.training_loss) and trl_trainer.state.global_step == 2


def test_end_of_turn_is_scored_when_pad_equals_eos(tmp_path):
    """TRL's labels (input_ids where completion_mask, else -100): each response's <|im_end|> is a label."""
    folder = _tiny_gpt2_without_pad(tmp_path / "gpt2")
    trainer = _gpt2_trainer(folder, tmp_path, precompute_ref_log_probs=False, max_length=160, max_train_samples=4)
    trl_trainer = trainer.build()
    assert trainer.format_counts["kept"] > 0 and not any(
        k in trainer.format_counts for k in ("truncated_chosen", "truncated_rejected")
    )
    end_id = trainer.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert trainer.tokenizer.pad_token_id == end_id
    batch = next(iter(trl_trainer.get_train_dataloader()))
    input_ids, completion_mask = batch["input_ids"], batch["completion_mask"]
    labels = input_ids.masked_fill(completion_mask == 0, -100)  # as TRL's compute_loss builds them
    padded_rows = 0
    for row_ids, row_labels, row_mask in zip(input_ids, labels, completion_mask, strict=True):
        last = int(row_mask.nonzero().max())
        assert row_labels[last] == end_id, "the response's end-of-turn token must be scored"
        assert (row_labels[last + 1 :] == -100).all()
        padded_rows += int((row_ids[last + 1 :] == end_id).any())  # padding with the same id stays masked
    assert padded_rows > 0  # the batch really mixes lengths, so pad == eos was exercised


def test_lora_target_resolution_all_linear_and_unknown(tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM as Auto

    from arabic_pref.lora_targets import resolve_target_modules

    model = Auto.from_pretrained(_tiny_gpt2_without_pad(tmp_path / "gpt2"))
    assert resolve_target_modules(["q_proj", "all-linear"], model) == "all-linear"
    assert resolve_target_modules(["c_attn", "up_proj"], model) == ["c_attn", "mlp.c_fc"]
    with pytest.raises(ConfigError, match="lora_target_modules: gpt2 has no module 'w_q'.*c_attn"):
        resolve_target_modules(["w_q"], model)
    peft_model = get_peft_model(model, LoraConfig(target_modules="all-linear", task_type="CAUSAL_LM"))
    adapted = {n.split(".")[-2] for n, _ in peft_model.named_modules() if n.endswith("lora_A")}
    assert adapted == {"c_attn", "c_proj", "c_fc"}  # every linear layer but the LM head
    qwen = Auto.from_pretrained(ensure_tiny_qwen())
    assert resolve_target_modules(["q_proj", "v_proj"], qwen) == ["q_proj", "v_proj"]


def test_qwen_base_tokenizer_ends_turns_with_im_end(tmp_path):
    """Qwen2.5 base models say eos = <|endoftext|>; their template (and our responses) end turns with <|im_end|>."""
    from arabic_pref.chat_format import end_of_turn_token, stop_token_ids
    from arabic_pref.data.formatting import tokenize_and_format
    from arabic_pref.models import load_tokenizer

    base = AutoTokenizer.from_pretrained(ensure_tiny_qwen())
    base.eos_token = "<|endoftext|>"
    base.save_pretrained(tmp_path / "qwen-base")
    raw = AutoTokenizer.from_pretrained(tmp_path / "qwen-base")
    assert raw.eos_token == "<|endoftext|>" and end_of_turn_token(raw) == "<|im_end|>"
    rows = [{"prompt": "ما عاصمة مصر؟", "chosen": "القاهرة.", "rejected": "لا أعرف."}]
    out, _ = tokenize_and_format(rows, raw, max_prompt_length=64, max_length=128, system_prompt=None)
    assert out[0]["chosen"] == "القاهرة.<|im_end|>"
    loaded = load_tokenizer(str(tmp_path / "qwen-base"))  # what training uses: TRL appends this eos
    assert loaded.eos_token == "<|im_end|>" and loaded.pad_token == "<|endoftext|>"
    assert stop_token_ids(raw) == [151645, 151643]


def test_unknown_builtin_model_is_a_config_error():
    with pytest.raises(ConfigError, match="model_name: unknown built-in model 'builtin:nope'.*smollm2"):
        resolve_model_source("builtin:nope")
