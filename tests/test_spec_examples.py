"""The spec's usage, configuration, performance and troubleshooting examples, run on the embedded default.

Adapted only as the spec's acceptance allows (see test_spec_api.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from arabic_pref.config import DPOConfig
from arabic_pref.training.dpo_trainer import DPOTrainer, create_dpo_trainer
from tests.conftest import DATA, FIT, TINY
from tests.conftest import eval_dataset as _eval_dataset


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ./checkpoints, ./models and mlflow.db of the examples land here


# --- Usage Examples ---
def test_basic_dpo_training_example():
    config = DPOConfig(
        model_name=TINY,
        dataset_path=DATA,
        output_dir="./checkpoints/dpo_arabic",
        beta=0.1,
        max_prompt_length=40,
        max_length=64,
        learning_rate=5e-7,
        num_train_epochs=1,
        per_device_train_batch_size=2,
        **{k: v for k, v in FIT.items() if k not in ("max_prompt_length", "max_length", "per_device_train_batch_size")},
    )
    trainer = create_dpo_trainer(config)
    trainer.train()
    results = trainer.evaluate_model()
    print(f"DPO Loss: {results['eval_loss']:.4f}")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=trainer.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("arabic-pref").experiment_id])
    assert len(runs) == 1 and "eval_loss" in runs[0].data.metrics  # evaluate_model logged into the same run


def test_advanced_dpo_training_example(tmp_path):
    sft = DPOTrainer(DPOConfig(model_name=TINY))  # stands in for "./checkpoints/sft_arabic"
    sft.setup_tokenizer()
    from arabic_pref.training.persistence import publish_pretrained

    publish_pretrained(sft.setup_model(), sft.tokenizer, Path("./checkpoints/sft_arabic"))
    config = DPOConfig(
        model_name="./checkpoints/sft_arabic",
        dataset_path=DATA,
        output_dir="./checkpoints/dpo_advanced",
        beta=0.05,
        loss_type="sigmoid",
        label_smoothing=0.01,
        max_prompt_length=40,
        max_length=64,
        learning_rate=1e-7,
        num_train_epochs=2,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=2,
        warmup_ratio=0.05,
        use_lora=True,
        lora_r=32,
        lora_alpha=64,
        lora_target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        evaluation_strategy="steps",
        eval_steps=2,
        save_steps=4,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        report_to="mlflow",
        run_name="arabic_dpo_advanced",
        max_steps=4,
        max_train_samples=8,
        max_eval_samples=4,
    )
    trainer = create_dpo_trainer(config)
    summary = trainer.train()
    assert summary["global_step"] == 4 and Path("checkpoints/dpo_advanced/checkpoint-4").is_dir()
    from mlflow.tracking import MlflowClient

    run = MlflowClient(tracking_uri=summary["tracking_uri"]).get_run(summary["mlflow_run_id"])
    assert run.info.run_name == "arabic_dpo_advanced" and run.data.params["label_smoothing"] == "0.01"
    assert trainer.trainer.args.loss_type == ["sigmoid", "robust"]  # conservative DPO really applied


def test_custom_dpo_trainer_example(caplog):
    class CustomDPOTrainer(DPOTrainer):
        def create_trainer(self, dataset, training_args, callbacks):
            # Custom preprocessing
            def custom_format_dpo(examples):
                prompts = examples["prompt"]
                chosen = examples["chosen"]
                rejected = examples["rejected"]

                # Add custom formatting
                formatted_prompts = [f"السؤال: {p}\nالجواب: " for p in prompts]

                return {"prompt": formatted_prompts, "chosen": chosen, "rejected": rejected}

            # Apply custom formatting
            if isinstance(dataset, dict):
                dataset["train"] = dataset["train"].map(custom_format_dpo, batched=True)

            return super().create_trainer(dataset, training_args, callbacks)

        def compute_preference_accuracy(self, eval_dataset):
            # Custom accuracy computation
            accuracy = super().compute_preference_accuracy(eval_dataset)

            # Add custom metrics
            self.logger.info(f"Custom preference accuracy: {accuracy:.4f}")

            return accuracy

    trainer = CustomDPOTrainer(DPOConfig(model_name=TINY, dataset_path=DATA, report_to="none", **FIT))
    trainer.build()
    prompts = [trainer.tokenizer.decode(row["prompt_ids"]) for row in trainer.trainer.train_dataset]
    assert all("\nالجواب: <|im_end|>" in p for p in prompts)  # (long prompts lose their beginning, not this)
    with caplog.at_level(logging.INFO):
        accuracy = trainer.compute_preference_accuracy(_eval_dataset())
    assert accuracy == pytest.approx(0.5) and "Custom preference accuracy: 0.5000" in caplog.text


# --- Configuration, Performance Optimization, Troubleshooting ---
def test_full_configuration_example_builds():
    config = DPOConfig(
        model_name=TINY,
        dataset_path=DATA,
        output_dir="./checkpoints/dpo",
        beta=0.1,
        loss_type="sigmoid",
        label_smoothing=0.0,
        max_prompt_length=40,
        max_length=64,
        ref_model_name=None,
        learning_rate=5e-7,
        num_train_epochs=1,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=8,
        gradient_checkpointing=True,
        remove_unused_columns=False,
        use_lora=True,
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.1,
        lora_target_modules=["q_proj", "v_proj", "k_proj", "o_proj"],
        max_train_samples=4,
        max_eval_samples=4,
    )
    trl_trainer = create_dpo_trainer(config).build()
    assert trl_trainer.args.gradient_accumulation_steps == 8 and trl_trainer.args.learning_rate == 5e-7


def test_memory_optimization_example_trains_qlora_on_cpu():
    config = DPOConfig(model_name=TINY, dataset_path=DATA, report_to="none", **{**FIT, "max_steps": 1})
    config.gradient_checkpointing = True
    config.per_device_train_batch_size = 1
    config.gradient_accumulation_steps = 2
    config.use_lora = True
    config.lora_r = 8
    config.load_in_4bit = True
    trainer = create_dpo_trainer(config)
    trainer.train()
    import bitsandbytes as bnb

    assert any(isinstance(m, bnb.nn.Linear4bit) for m in trainer.model.modules())  # QLoRA: base is 4-bit


def test_speed_optimization_example_runs_bf16_on_cpu():
    config = DPOConfig(model_name=TINY, dataset_path=DATA, report_to="none", **{**FIT, "max_steps": 1})
    config.bf16 = True
    config.dataloader_num_workers = 2
    config.dataloader_pin_memory = True
    config.eval_steps = 1000
    summary = create_dpo_trainer(config).train()
    assert summary["global_step"] == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"learning_rate": 1e-7},  # Training Instability
        {"beta": 0.2},
        {"max_grad_norm": 0.3},
        {"label_smoothing": 0.01},
        {"per_device_train_batch_size": 1, "gradient_accumulation_steps": 32},  # Memory Issues
        {"load_in_4bit": True},
        {"max_length": 256, "max_prompt_length": 128},
        {"beta": 0.05, "loss_type": "hinge"},  # Poor Preference Learning
    ],
)
def test_troubleshooting_snippets_are_accepted(changes):
    config = DPOConfig(model_name=TINY, dataset_path=DATA)
    for key, value in changes.items():
        setattr(config, key, value)
    config.validate()
    args = DPOTrainer(config).get_training_arguments()
    for key in set(changes) & {"max_grad_norm", "gradient_accumulation_steps", "beta", "max_length"}:
        assert getattr(args, key) == changes[key]


def test_assigning_a_bad_value_later_is_still_caught():
    from arabic_pref.config import ConfigError

    config = DPOConfig(model_name=TINY, dataset_path=DATA)
    config.loss_type = "hinge"
    config.label_smoothing = 0.01
    with pytest.raises(ConfigError, match="ignores label smoothing"):
        create_dpo_trainer(config).build()


def test_early_stopping_stops_a_run_that_stopped_improving():
    config = DPOConfig(
        model_name=TINY,
        dataset_path=DATA,
        report_to="none",
        **{**FIT, "max_steps": 10, "max_eval_samples": 4},
        learning_rate=1e-12,  # nothing moves: eval_loss never improves after the first evaluation
        learning_rate_override=True,
        eval_strategy="steps",
        eval_steps=1,
        save_strategy="no",
        early_stopping_patience=2,
    )
    summary = create_dpo_trainer(config).train()
    assert summary["global_step"] == 3  # evaluations at steps 1, 2, 3: two without improvement, then stop
