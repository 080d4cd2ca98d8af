"""Every bad setting stops early: one rule per DPOConfig field, checked before anything heavy loads (model-free)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path

import pytest

from arabic_pref.config import ConfigError, DPOConfig
from arabic_pref.config_rules import RULES, Rule
from arabic_pref.train import to_dpo_config
from tests.conftest import compose, run_cli


def test_every_field_has_a_rule():
    """A new field without a declared kind and range fails here (add it to config_rules.RULES)."""
    fields = {f.name for f in dataclasses.fields(DPOConfig)}
    assert fields == set(RULES), f"without a rule: {sorted(fields - set(RULES))}; stale: {sorted(set(RULES) - fields)}"
    for name, rule in RULES.items():
        assert isinstance(rule, Rule)
        if rule.kind == "number":
            assert rule.low is not None and rule.high is not None, f"{name}: a number needs both ends of its range"


TYPES = {f.name: str(f.type) for f in dataclasses.fields(DPOConfig)}


def _numeric_fields(float_only: bool = False) -> list[str]:
    return [n for n, r in RULES.items() if r.kind == "number" and (not float_only or "float" in TYPES[n])]


@pytest.mark.parametrize("name", _numeric_fields(float_only=True))  # an int field cannot hold inf or nan
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_every_float_field_refuses_non_finite(name, value):
    with pytest.raises(ConfigError) as err:
        DPOConfig(**{name: value})
    assert err.value.key == name


@pytest.mark.parametrize("name", _numeric_fields())
def test_every_numeric_field_refuses_values_past_its_ends(name):
    rule = RULES[name]
    cast = int if "int" in TYPES[name] else float
    for bad in (rule.low - 1, rule.high + 1):
        if bad in rule.extra:
            continue
        with pytest.raises(ConfigError) as err:
            DPOConfig(**{name: cast(bad)})
        assert err.value.key == name, (name, bad)


# the list: each of these used to fail (or NaN) only after the model had loaded
EARLY = [
    ("beta=inf", "beta"),
    ("num_train_epochs=inf", "num_train_epochs"),
    ("weight_decay=-1", "weight_decay"),
    ("seed=-1", "seed"),
    ("dataloader_num_workers=-1", "dataloader_num_workers"),
    ("max_prompt_length=1 max_length=2", "max_prompt_length"),
    ("max_prompt_length=62 max_length=64", "max_prompt_length"),  # no room left for an answer
    ("learning_rate=1e9 learning_rate_override=true", "learning_rate"),
    ("+eval_generation_kwargs.custom_generate=org/repo", "eval_generation_kwargs"),
    ("+eval_generation_kwargs.trust_remote_code=true", "eval_generation_kwargs"),
    ("+eval_generation_kwargs.batch_size=3", "eval_generation_kwargs"),
    ("+eval_generation_kwargs.temperature=inf", "eval_generation_kwargs"),
    ("eval_sets=['..=x.jsonl']", "eval_sets"),
    ("eval_sets=['.hidden=x.jsonl']", "eval_sets"),
    ("eval_slices=['a/../b']", "eval_slices"),
    ("eval_prompts_path=/no/such/prompts.jsonl", "eval_prompts_path"),
    ("resume_from_checkpoint=/no/such/checkpoint-3", "resume_from_checkpoint"),
    ("ref_model_device=gpu0", "ref_model_device"),
    ("output_dir=/proc/version/out", "output_dir"),  # a file, not a folder: nothing can be created under it
]


@pytest.mark.parametrize(("override", "key"), EARLY)
def test_bad_settings_name_their_key_when_composed(override, key):
    with pytest.raises(ConfigError) as err:
        to_dpo_config(compose(override.split() if "output_dir" in override else [*override.split(), "output_dir=x"]))
    assert err.value.key == key, str(err.value)


def test_learning_rate_far_above_the_cap_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="arabic_pref.config"):
        DPOConfig(learning_rate=0.5, learning_rate_override=True)
    assert "learning_rate=0.5 is far above" in caplog.text


def test_eval_prompts_with_invalid_utf8_name_file_and_line(tmp_path: Path):
    from arabic_pref.evaluation.generations import load_prompts

    path = tmp_path / "prompts.jsonl"
    path.write_bytes(json.dumps({"prompt": "سؤال"}).encode() + b'\n{"prompt": "\xff\xfe"}\n')
    with pytest.raises(ConfigError) as err:
        load_prompts(str(path))
    assert err.value.key == "eval_prompts_path" and f"{path}:2: not UTF-8" in str(err.value)


def test_a_line_over_the_cap_is_refused_without_reading_it_whole(tmp_path: Path, monkeypatch):
    """A JSONL 'line' of gigabytes: refused at the cap (lowered here to 1 MB), naming file and line."""
    from arabic_pref.data import load_preference_data
    from arabic_pref.data.bounded import MAX_LINE_ENV
    from arabic_pref.errors import DataError
    from arabic_pref.evaluation.drift import load_heldout_texts

    monkeypatch.setenv(MAX_LINE_ENV, str(1_000_000))
    pair = {"prompt": "سؤال", "chosen": "جواب جيد", "rejected": "جواب"}
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(pair, ensure_ascii=False) + "\n" + json.dumps(pair | {"chosen": "x" * 2_000_000}) + "\n")
    with pytest.raises(DataError, match=r"pairs.jsonl:2: line 2 is longer than 1000000 bytes"):
        load_preference_data(str(path))
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text(json.dumps({"text": "y" * 1_500_000}) + "\n")
    with pytest.raises(ConfigError, match=r"heldout.jsonl:1: line 1 is longer than 1000000 bytes"):
        load_heldout_texts(str(heldout))


def test_cli_refuses_a_non_finite_beta_with_exit_2_before_loading(tmp_path: Path):
    result = run_cli(["beta=inf", f"output_dir={tmp_path}/out"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "beta: must be a finite number" in result.stderr and "Traceback" not in result.stderr


def test_a_device_that_is_not_there_is_refused_before_loading():
    import torch

    from arabic_pref.models import check_device

    check_device("cpu")
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU, on any machine
    with pytest.raises(ConfigError, match=f"^ref_model_device: {missing} is not present"):
        check_device(missing)
