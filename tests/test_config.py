"""Composition and validation of the config, without loading any model."""

import dataclasses
import logging
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from arabic_pref.config import ConfigError, DPOConfig, field_help
from arabic_pref.train import to_dpo_config
from tests.conftest import ROOT, compose, run_cli

GROUPS = {g: sorted(p.stem for p in (ROOT / "conf" / g).glob("*.yaml")) for g in ("model", "data", "loss", "lora")}


def test_groups_offer_what_the_design_promises():
    assert {"tiny_qwen", "qwen2.5-0.5b-instruct", "qwen2.5-7b"} <= set(GROUPS["model"])
    assert {"arabic_sample", "jsonl"} <= set(GROUPS["data"])
    assert {"sigmoid", "hinge", "ipo", "rpo", "ld_dpo", "aot", "discopop"} <= set(GROUPS["loss"])
    assert {"none", "r8", "r16", "r32_all"} <= set(GROUPS["lora"])


@pytest.mark.parametrize("group,option", [(g, o) for g, opts in GROUPS.items() for o in opts])
def test_every_group_option_composes_and_validates(group, option, tmp_path):
    extra = [f"dataset_path={tmp_path}/pairs.jsonl"] if option in ("jsonl", "hub") else []
    cfg = compose([f"{group}={option}", f"output_dir={tmp_path}", *extra], shrink=False)
    config = to_dpo_config(cfg)
    assert isinstance(config, DPOConfig)
    if group == "loss":
        assert config.loss_type == {"ld_dpo": "sigmoid"}.get(option, option)
    if group == "lora":
        assert config.use_lora == (option != "none")


def test_composed_config_is_flat_with_spec_names():
    cfg = compose(["loss=ipo", "beta=0.05", "learning_rate=1e-5", "output_dir=x"], shrink=False)
    assert cfg.loss_type == "ipo" and cfg.beta == 0.05 and cfg.learning_rate == 1e-5
    assert compose(["loss=ipo", "output_dir=x"], shrink=False).beta == 0.5  # the group's IPO default
    spec_fields = {
        "model_name",
        "dataset_path",
        "output_dir",
        "beta",
        "loss_type",
        "label_smoothing",
        "max_prompt_length",
        "max_length",
        "learning_rate",
        "use_lora",
        "lora_r",
    }
    assert spec_fields <= set(cfg.keys())
    assert all(not OmegaConf.is_dict(cfg[k]) for k in spec_fields)


def test_default_is_cpu_sized_and_offline():
    cfg = compose(["output_dir=x"], shrink=False)
    assert cfg.model_name == "builtin:tiny-qwen2" and cfg.dataset_path == "builtin:arabic-sample"
    assert 0 < cfg.max_steps <= 100 and cfg.max_length <= 128 and cfg.learning_rate_override


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("beta=0", "beta"),
        ("beta=-0.1", "beta"),
        ("label_smoothing=0.5", "label_smoothing"),
        ("label_smoothing=-0.1", "label_smoothing"),
        ("loss=ipo label_smoothing=0.05", "label_smoothing"),  # IPO ignores label smoothing
        ("early_stopping_patience=2", "early_stopping_patience"),  # needs evaluations during training
        ("lora=none merge_adapter=true", "merge_adapter"),
        ("lora_r=0", "lora_r"),
        ("max_prompt_length=64", "max_prompt_length"),  # == max_length (64 in the shrunk config)
        ("loss_type=dpo_v2", "loss_type"),
        ("max_steps=0", "max_steps"),
        ("validation_split=1.0", "validation_split"),
        ("test_split=0", "test_split"),
        ("test_split=0.5 validation_split=0.5", "test_split"),  # nothing would be left to train on
        ("data_format=xlsx", "data_format"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        to_dpo_config(compose([*override.split(), "output_dir=x"]))
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: ")


def test_python_api_validates_and_maps_old_names():
    with pytest.raises(ConfigError, match="beta"):
        DPOConfig(beta=0)
    with pytest.raises(ConfigError, match="lora_r: expected int"):
        DPOConfig(lora_r="16")
    with pytest.raises(TypeError):
        DPOConfig(not_a_field=1)
    config = DPOConfig(evaluation_strategy="steps", eval_steps=10)
    assert config.eval_strategy == "steps"
    assert DPOConfig().output_dir == "./checkpoints/dpo"
    with pytest.raises(ConfigError, match="save_steps: must be a multiple of eval_steps"):
        DPOConfig(
            load_best_model_at_end=True, eval_strategy="steps", save_strategy="steps", eval_steps=10, save_steps=15
        )


def test_out_of_recommended_range_only_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="arabic_pref.config"):
        config = DPOConfig(beta=2.0)
    assert config.beta == 2.0
    assert "outside the recommended range" in caplog.text


def test_every_field_is_documented():
    docs = field_help()
    assert set(docs) == {f.name for f in dataclasses.fields(DPOConfig)}
    assert all(len(text) > 10 for text in docs.values())


def test_cli_config_error_exits_2_before_any_model_loads(tmp_path: Path):
    start = time.monotonic()
    result = run_cli(
        ["beta=-1", f"tracking_uri=sqlite:///{tmp_path}/mlflow.db", f"output_dir={tmp_path}/out"],
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "beta: must be > 0, got -1.0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow.db").exists()
    assert time.monotonic() - start < 30  # no model load, no trl import


def test_cli_missing_dataset_and_model_exit_2(tmp_path: Path):
    result = run_cli([f"dataset_path={tmp_path}/nope.jsonl", f"output_dir={tmp_path}/out"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "nope.jsonl: no such file or folder" in result.stderr
    result = run_cli([f"model_name={tmp_path}/no-model", f"output_dir={tmp_path}/out"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "model_name: model path" in result.stderr and "does not exist" in result.stderr


def test_cli_hydra_errors_keep_hydra_message(tmp_path: Path):
    result = run_cli(["not_a_key=1"], cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert "not_a_key" in result.stderr and "Could not override" in result.stderr
    result = run_cli(["beta=abc"], cwd=tmp_path, timeout=120)
    assert result.returncode == 1 and "beta" in result.stderr


def test_cli_prints_composed_config(tmp_path: Path):
    result = run_cli(["--cfg", "job", "loss=ipo", "beta=0.05"], cwd=tmp_path, timeout=120)
    assert result.returncode == 0
    assert "loss_type: ipo" in result.stdout and "beta: 0.05" in result.stdout


def test_training_args_pass_through_is_checked_against_trl(tmp_path):
    from arabic_pref.train import train

    with pytest.raises(ConfigError, match="training_args: not_a_trl_field not fields of trl.DPOConfig"):
        train(compose(["+training_args.not_a_trl_field=1", f"output_dir={tmp_path}/out"]))
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="beta are top-level fields"):
        to_dpo_config(compose(["+training_args.beta=0.2", "output_dir=x"]))


def test_tracking_uri_resolution(tmp_path, monkeypatch):
    from arabic_pref.tracking import artifact_location, resolve_tracking_uri

    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere/m.db")
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path}/elsewhere/m.db"
    assert resolve_tracking_uri("http://mlflow:5000") == "http://mlflow:5000"
    assert artifact_location(f"sqlite:///{tmp_path}/m.db") == (tmp_path / "mlartifacts").as_uri()
