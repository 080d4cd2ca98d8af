"""Model sources: the embedded default builds and loads by path; missing weights fail fast with exit 2."""

import time

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from arabic_pref.config import BUILTIN_MODEL, ConfigError
from arabic_pref.embedded import ensure_tiny_qwen
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
