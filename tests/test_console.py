"""A quiet console by default, and the model card a run saves as README.md."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from arabic_pref.config import DPOConfig
from arabic_pref.training.model_card import render_model_card
from tests.conftest import SHRINK, run_cli

# What the libraries print before training unless verbose=true.
NOISE = [
    r"kernels",  # bitsandbytes: the optional `kernels` package is missing
    r"FutureWarning",
    r"\bMap\b",  # datasets progress bars (adding EOS, tokenizing, ...)
    r"Adding EOS|Tokenizing|Formatting pairs",
    r"Loading weights",
    r"INFO mlflow",
    r"\[INFO\]",  # our info logs stay in Hydra's log file
]


@pytest.mark.slow
def test_default_run_prints_what_runs_one_bar_and_the_summary_and_saves_a_model_card(tmp_path: Path):
    out = tmp_path / "out"
    result = run_cli([*SHRINK, f"output_dir={out}", f"tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"], tmp_path)
    printed = result.stdout + result.stderr
    assert result.returncode == 0, printed
    for pattern in NOISE:
        assert not re.search(pattern, printed), f"{pattern!r} printed:\n{printed}"
    for line in (
        "DPO run\n",
        "  model        builtin:tiny-qwen2 (LoRA r=16)",
        "  data         builtin:arabic-sample: 16 train, 4 validation pairs",
        "  loss         sigmoid, beta 0.1",
        "  training     learning rate 0.005, 2 steps",
        f"  outputs      {out}",
        "DPO run finished",
    ):
        assert line in printed, f"{line!r} missing:\n{printed}"
    assert printed.index("  model ") < printed.index("{'loss'") < printed.index("DPO run finished")
    (log_file,) = tmp_path.glob("outputs/*/*/train.log")  # Hydra's run folder keeps the info logs
    assert "[INFO]" in log_file.read_text()

    card = (out / "README.md").read_text()
    front, body = _front_matter(card)
    assert front["library_name"] == "peft" and "dpo" in front["tags"] and "base_model" not in front
    assert "[More Information Needed]" not in body
    assert re.search(r"SHA-256 `[0-9a-f]{64}`", body) and "| pairs | 16 train, 4 validation used (256 train" in body
    assert "| loss | `sigmoid`, beta 0.1" in body and "| learning rate | 0.005 (effective)" in body
    assert re.search(r"\| preference_accuracy \| 0\.\d{4} \|", body) and "| steps | 2 |" in body
    assert "AutoPeftModelForCausalLM" in body and "| trained with | arabic-pref 0.1.0" in body


def test_model_card_of_a_hub_base_has_base_model_and_license():
    config = DPOConfig(model_name="Qwen/Qwen2.5-0.5B-Instruct", beta=0.2, loss_type="ipo", use_lora=False)
    metadata = {"dataset_sha256": "ab" * 32, "package_versions": {"arabic-pref": "0.1.0", "trl": "1.16.0"}}
    card = render_model_card(config, metadata, {"preference_accuracy": 0.75}, learning_rate=5e-7)
    front, body = _front_matter(card)
    assert front["base_model"] == "Qwen/Qwen2.5-0.5B-Instruct" and front["license"] == "apache-2.0"
    assert front["library_name"] == "transformers" and "lora" not in front["tags"]
    assert "| loss | `ipo`, beta 0.2" in body and "| learning rate | 5e-07 (effective)" in body
    assert "| preference_accuracy | 0.7500 |" in body and "AutoModelForCausalLM" in body


def _front_matter(card: str) -> tuple[dict, str]:
    assert card.startswith("---\n")
    front, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(front), body


def test_verbose_true_leaves_the_libraries_alone_and_the_default_quiets_them(monkeypatch):
    import logging
    import warnings

    from arabic_pref.console import QUIET_ENVIRONMENT, QUIET_LOGGERS, configure

    for key in QUIET_ENVIRONMENT:
        monkeypatch.delenv(key, raising=False)
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    try:
        with warnings.catch_warnings():
            configure(verbose=True)
            assert not any(key in os.environ for key in QUIET_ENVIRONMENT)
            assert logging.getLogger("bitsandbytes").level == levels["bitsandbytes"]
            configure(verbose=False)
            assert os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1"
            assert logging.getLogger("bitsandbytes").level == logging.ERROR
            with warnings.catch_warnings(record=True) as caught:
                warnings.warn("the optional `kernels` package is not installed", UserWarning, stacklevel=1)
            assert caught == []
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
