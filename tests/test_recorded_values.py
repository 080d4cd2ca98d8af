"""What MLflow and dpo_metadata.json record is what trained: effective values, every TRL argument, refusals.

Real TRL runs on the embedded default, MLflow read back with MlflowClient.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from arabic_pref.config import ConfigError, DPOConfig
from arabic_pref.metadata import read_dpo_metadata
from arabic_pref.training.dpo_trainer import create_dpo_trainer
from tests.conftest import DATA, FIT, TINY, compose, run_cli


def _config(tmp_path: Path, **changes) -> DPOConfig:
    return DPOConfig(
        model_name=TINY,
        dataset_path=DATA,
        output_dir=str(tmp_path / "out"),
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        **{**FIT, "max_steps": 1, **changes},
    )


def test_capped_learning_rate_and_lora_dropout_are_recorded_as_trained(tmp_path):
    config = _config(tmp_path, learning_rate=5e-3, learning_rate_override=False, lora_dropout=0.2)
    trainer = create_dpo_trainer(config)
    summary = trainer.train()
    # what trained
    assert trainer.trainer.optimizer.param_groups[0]["initial_lr"] == pytest.approx(5e-7)
    lora_dropouts = [m.p for n, m in trainer.model.named_modules() if n.endswith("lora_dropout.default")]
    assert lora_dropouts and set(lora_dropouts) == {0.2}  # TRL zeroed them; we gave them back
    # what is recorded
    assert summary["learning_rate"] == pytest.approx(5e-7) and summary["learning_rate_requested"] == 5e-3
    metadata = read_dpo_metadata(config.output_dir)
    assert metadata["learning_rate"] == pytest.approx(5e-7) and metadata["learning_rate_requested"] == 5e-3
    assert metadata["lora_dropout"] == 0.2
    client = MlflowClient(tracking_uri=summary["tracking_uri"])
    run = client.get_run(summary["mlflow_run_id"])
    params = run.data.params
    assert float(params["learning_rate"]) == pytest.approx(5e-7) and float(params["learning_rate_requested"]) == 5e-3
    assert float(params["lora_dropout"]) == 0.2 and params["trl.loss_type"] == '["sigmoid"]'
    assert int(params["effective_batch_size"]) == FIT["per_device_train_batch_size"]
    # every TRL argument, as trained
    folder = client.download_artifacts(run.info.run_id, "trl_args.json", str(tmp_path))
    trl_args = json.loads(Path(folder).read_text())
    assert trl_args["learning_rate"] == pytest.approx(5e-7) and trl_args["beta"] == config.beta
    assert trl_args["disable_dropout"] is True and trl_args["remove_unused_columns"] is False
    # the metrics that separate skill from length, at step 0 and at the end
    metrics = run.data.metrics
    for name in ("preference_accuracy_per_token", "length_baseline_accuracy", "logratio_margin_per_token"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, name)] == [0, 1], name
    assert client.get_metric_history(run.info.run_id, "preference_accuracy_per_token")[0].value == 0.5
    assert any(k.startswith("slice/dialect/") and k.endswith("/preference_accuracy") for k in metrics)
    assert 0 <= metrics["length_baseline_accuracy"] <= 1


def test_python_api_checks_training_args_before_a_model_or_run_exists(tmp_path):
    trainer = create_dpo_trainer(_config(tmp_path, training_args={"not_a_trl_field": 1}))
    with pytest.raises(ConfigError, match="training_args: not_a_trl_field not fields of trl.DPOConfig"):
        trainer.train()
    assert trainer.model is None and not (tmp_path / "mlflow.db").exists()
    with pytest.raises(ConfigError, match="training_args: learning_rate"):
        create_dpo_trainer(_config(tmp_path, training_args={"learning_rate": 1.0})).build()


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"merge_adapter": True, "load_in_4bit": True}, "merge_adapter"),
        ({"use_lora": False, "load_in_8bit": True}, "load_in_8bit"),
        ({"use_lora": False, "load_in_4bit": True}, "load_in_4bit"),
        ({"remove_unused_columns": True}, "remove_unused_columns"),
    ],
)
def test_combinations_that_would_misreport_are_refused_up_front(changes, key):
    with pytest.raises(ConfigError) as error:
        DPOConfig(model_name=TINY, dataset_path=DATA, **changes)
    assert error.value.key == key


def test_quantized_distinct_reference_with_full_finetuning_is_allowed():
    config = DPOConfig(model_name=TINY, dataset_path=DATA, use_lora=False, load_in_4bit=True, ref_model_name=TINY)
    assert config.load_in_4bit  # a distinct reference: its step-0 rewards are not 0 by construction anyway


def test_python_api_and_cli_defaults_agree():
    """One source of truth: the CLI's composed value equals the dataclass default, except the run group's
    CPU-sized bundle that the model chooses (documented per field in the config reference)."""
    from omegaconf import OmegaConf

    from arabic_pref.config_reference import RUN_GROUP_FIELDS

    composed = OmegaConf.to_object(compose(["output_dir=x"], shrink=False))
    default = DPOConfig()
    differ = {k for k, v in default.to_dict().items() if getattr(composed, k) != v} - {"output_dir"}
    assert differ <= set(RUN_GROUP_FIELDS), differ - set(RUN_GROUP_FIELDS)
    assert composed.lora_dropout == default.lora_dropout == 0.1


@pytest.mark.slow
def test_sweep_searching_a_capped_learning_rate_exits_2(tmp_path):
    result = run_cli(["-m", "sweep=smoke", "learning_rate_override=false", "max_steps=1"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "error: learning_rate_override: the sweep searches learning_rate" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()
