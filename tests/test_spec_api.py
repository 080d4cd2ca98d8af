"""The spec's (DPOTrainer-api.md) API sections run on the embedded default; its usage examples: test_spec_examples.py.

Adapted only as the spec's acceptance allows: `arabic_pref.` for `src.`, the tiny model and shipped data,
step counts and generation lengths that fit a CPU, `cpu` for CUDA device names, MLflow instead of wandb.
Each test names the spec section it runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from arabic_pref.config import DPOConfig
from arabic_pref.training.dpo_trainer import DPOTrainer, create_dpo_trainer
from tests.conftest import ARABIC_PROMPTS, DATA, FIT, TINY
from tests.conftest import eval_dataset as _eval_dataset


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ./checkpoints, ./models and mlflow.db of the examples land here


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> DPOTrainer:
    """Basic DPO Training, trained once and shared by the evaluation, generation and saving examples."""
    folder = tmp_path_factory.mktemp("trained")
    config = DPOConfig(
        model_name=TINY,
        dataset_path=DATA,
        output_dir=str(folder / "dpo_arabic"),
        tracking_uri=f"sqlite:///{folder}/mlflow.db",
        beta=0.1,
        learning_rate=5e-3,
        learning_rate_override=True,
        num_train_epochs=1,
        **{**FIT, "max_steps": 6, "per_device_train_batch_size": 4, "max_train_samples": 24},
    )
    trainer = create_dpo_trainer(config)
    trainer.train()
    return trainer


# --- Initialization ---
def test_constructor_example():
    config = DPOConfig(model_name=TINY, dataset_path=DATA, output_dir="./checkpoints/dpo", beta=0.1)
    trainer = DPOTrainer(config)
    assert trainer.ref_model is None and trainer.config is config
    assert trainer._get_training_method() == "dpo"
    with pytest.raises(TypeError, match="DPOConfig"):
        DPOTrainer({"model_name": TINY})


# --- Reference Model Setup ---
def test_setup_reference_model_lora_is_a_zero_copy_base():
    trainer = DPOTrainer(DPOConfig(model_name=TINY, dataset_path=DATA))
    trainer.setup_reference_model()
    print(f"Reference model loaded: {trainer.ref_model}")
    print(f"Reference model device: {next(trainer.ref_model.parameters()).device}")
    assert next(trainer.ref_model.parameters()).device == torch.device("cpu")
    policy_ptrs = {p.data_ptr() for p in trainer.model.parameters()}
    assert all(p.data_ptr() in policy_ptrs for p in trainer.ref_model.parameters())  # no second copy


@pytest.mark.parametrize("bits", [4, 8])
def test_setup_reference_model_quantized_on_cpu(bits):
    import bitsandbytes as bnb

    config = DPOConfig(model_name=TINY, dataset_path=DATA, use_lora=False)
    config.ref_model_name = TINY  # "Can be different from main model"
    config.load_in_4bit = bits == 4
    config.load_in_8bit = bits == 8
    trainer = DPOTrainer(config)
    trainer.setup_reference_model()
    layer = bnb.nn.Linear4bit if bits == 4 else bnb.nn.Linear8bitLt
    assert any(isinstance(m, layer) for m in trainer.ref_model.modules())
    assert not trainer.ref_model.training
    assert not any(p.requires_grad for p in trainer.ref_model.parameters())
    assert trainer.model is None  # full fine-tuning: the policy is not quantized (loaded on demand)


def test_multi_gpu_settings_pin_the_reference_device():
    config = DPOConfig(model_name=TINY, dataset_path=DATA, use_lora=False, ref_model_name=TINY)
    config.per_device_train_batch_size = 1
    config.gradient_accumulation_steps = 8
    config.ddp_find_unused_parameters = False
    config.ref_model_device = "cpu"  # the spec pins "cuda:0"
    trainer = DPOTrainer(config)
    trainer.setup_reference_model()
    assert next(trainer.ref_model.parameters()).device == torch.device("cpu")
    assert trainer.get_training_arguments().ddp_find_unused_parameters is False


# --- Trainer Creation, Training Arguments, Dataset Processing ---
def test_create_trainer_and_dataset_processing():
    from trl import DPOTrainer as TRLDPOTrainer

    dpo_trainer = DPOTrainer(DPOConfig(model_name=TINY, dataset_path=DATA, **FIT))
    data = dpo_trainer.load_data()
    train_dataset = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in data.train[:8]])
    formatted = train_dataset.map(
        dpo_trainer.data_loader.tokenize_and_format,
        batched=True,
        remove_columns=train_dataset.column_names,
        desc="Tokenizing training data",
    )
    assert formatted.column_names == ["prompt", "chosen", "rejected"]
    assert "<|im_start|>assistant" in formatted[0]["prompt"] and dpo_trainer.format_counts["kept"] == 8
    finished = sum(c.endswith("<|im_end|>") for c in formatted["chosen"])
    assert finished == 8 - dpo_trainer.format_counts.get("truncated_chosen", 0) > 0  # cut answers get no end token

    dataset = {"train": train_dataset, "validation": _eval_dataset()}
    training_args = dpo_trainer.get_training_arguments()
    trainer_instance = dpo_trainer.create_trainer(dataset, training_args, [])
    print(f"DPO trainer created with {len(dataset['train'])} samples")
    assert isinstance(trainer_instance, TRLDPOTrainer) and len(trainer_instance.train_dataset) == 8


def test_training_arguments_and_learning_rate_cap(caplog):
    args = DPOTrainer(DPOConfig(model_name=TINY, learning_rate=1e-5)).get_training_arguments()
    assert args.remove_unused_columns is False and args.gradient_checkpointing is True
    assert args.label_names == [
        "chosen_labels",
        "rejected_labels",
        "chosen_input_ids",
        "rejected_input_ids",
        "chosen_attention_mask",
        "rejected_attention_mask",
    ]
    assert args.learning_rate == 5e-7
    assert "learning_rate capped from 1e-05 to 5e-07" in caplog.text  # never silent
    kept = DPOTrainer(DPOConfig(model_name=TINY, learning_rate=1e-5, learning_rate_override=True))
    assert kept.get_training_arguments().learning_rate == 1e-5


# --- Evaluation ---
def test_evaluate_model_example(trained):
    results = trained.evaluate_model()
    print(f"DPO Loss: {results['eval_loss']:.4f}")
    print(f"Evaluation time: {results['eval_runtime']:.2f}s")
    assert {"eval_loss", "eval_runtime", "eval_samples_per_second", "eval_rewards/accuracies"} <= set(results)


def test_compute_preference_accuracy_equals_trl_rewards_accuracies(trained):
    eval_dataset = _eval_dataset()
    accuracy = trained.compute_preference_accuracy(eval_dataset)
    print(f"Preference accuracy: {accuracy:.2%}")
    from arabic_pref.training.scoring import pair_rewards

    chosen, rejected = pair_rewards(trained.trainer, trained._prepare_eval(eval_dataset))
    assert all(c != r for c, r in zip(chosen, rejected, strict=True))  # no ties: TRL's strict count applies
    trl_accuracy = trained.evaluate_model(eval_dataset)["eval_rewards/accuracies"]  # one batch of 16 pairs
    assert accuracy == pytest.approx(trl_accuracy)


# --- Text Generation and Comparison ---
def test_generate_comparison_examples(trained):
    comparison = trained.generate_comparison(
        prompt="اشرح مفهوم الذكاء الاصطناعي",
        max_length=24,
        do_sample=True,
        temperature=0.7,
        top_p=0.9,
        repetition_penalty=1.1,
    )
    assert set(comparison) == {"prompt", "trained_model_response", "reference_model_response"}
    comparison = trained.generate_comparison("What are the benefits of renewable energy?", max_length=24)
    print(f"Prompt: {comparison['prompt']}")
    print(f"\nTrained Model: {comparison['trained_model_response']}")
    print(f"\nReference Model: {comparison['reference_model_response']}")
    if len(comparison["trained_model_response"]) > len(comparison["reference_model_response"]):
        print("\nTrained model provides more detailed response")
    assert "<|im_end|>" not in comparison["trained_model_response"]


def test_generation_stops_at_im_end(trained):
    from arabic_pref.chat_format import stop_token_ids

    assert stop_token_ids(trained.tokenizer, trained.model) == [151645, 151643]


# --- Model Saving, DPO Metadata ---
def test_save_model_examples_and_metadata_round_trip(trained):
    trained.save_model()
    trained.save_model("./models/arabic_dpo_v1")
    for folder in (Path(trained.config.output_dir), Path("models/arabic_dpo_v1")):
        metadata = json.loads((folder / "dpo_metadata.json").read_text())
        assert metadata["training_method"] == "dpo" and metadata["beta"] == 0.1
        assert metadata["loss_type"] == "sigmoid" and metadata["label_smoothing"] == 0.0
        assert metadata["max_prompt_length"] == 40 and metadata["max_length"] == 96
        assert metadata["ref_model_name"] == TINY
        assert (folder / "adapter_model.safetensors").is_file() and not list(folder.glob(".saving-*"))
    from arabic_pref.metadata import read_dpo_metadata, write_dpo_metadata

    write_dpo_metadata("roundtrip", metadata)
    assert read_dpo_metadata("roundtrip") == metadata


# --- Model Comparison and Analysis ---
def test_model_comparison_example_after_load_model(trained):
    eval_dataset = _eval_dataset()
    before = trained.compute_preference_accuracy(eval_dataset)
    config = DPOConfig(model_name=TINY, dataset_path=DATA, **FIT)
    trainer = DPOTrainer(config)
    trainer.load_model(trained.config.output_dir)
    for prompt in ARABIC_PROMPTS:
        comparison = trainer.generate_comparison(prompt, max_length=16, temperature=0.7)
        print(f"Prompt: {prompt}")
        print(f"Trained: {comparison['trained_model_response']}")
        print(f"Reference: {comparison['reference_model_response']}")
        print("-" * 50)
    accuracy = trainer.compute_preference_accuracy(eval_dataset)
    print(f"Preference Accuracy: {accuracy:.2%}")
    assert accuracy == pytest.approx(before)  # the restored adapter scores exactly as the trained one


def test_saved_adapter_and_merged_model_work_without_our_api(trained, tmp_path):
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(trained.config.output_dir)
    merged_dir = trained.merge_and_save(str(tmp_path / "merged"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "مرحبا"}], tokenize=False, add_generation_prompt=True
    )
    inputs = tokenizer(text, return_tensors="pt")
    adapter_model = AutoPeftModelForCausalLM.from_pretrained(folder)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    assert merged.generation_config.eos_token_id == [151645, 151643]
    with torch.no_grad():
        a = adapter_model(**inputs).logits
        b = merged(**inputs).logits
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)  # merging changes nothing the model computes
    out = merged.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert out.shape[1] <= inputs["input_ids"].shape[1] + 8
