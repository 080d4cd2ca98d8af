"""Pass-through TRL fields that change what the log-probs mean are refused before any model loads (exit 2).

Our metrics read summed log pi - log pi_ref per pair (ties 1/2); ld_alpha (LD-DPO), use_weighting (WPO), an
f-divergence and a moving reference (TR-DPO) each make TRL train on something else, silently.
"""

from pathlib import Path

import pytest

from arabic_pref.errors import ConfigError
from arabic_pref.train import to_dpo_config
from arabic_pref.training.trl_args import LOGPROB_CHANGING_FIELDS, check_pass_through
from tests.conftest import compose, run_cli


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ld_alpha", "0.5"),
        ("use_weighting", "true"),
        ("f_divergence_type", "js_divergence"),
        ("f_alpha_divergence_coef", "0.3"),
        ("sync_ref_model", "true"),
        ("ref_model_mixup_alpha", "0.9"),
        ("ref_model_sync_steps", "8"),
    ],
)
def test_logprob_changing_fields_are_refused_by_name(field, value):
    config = to_dpo_config(compose([f"+training_args.{field}={value}", "output_dir=x"]))
    with pytest.raises(ConfigError, match=f"training_args.{field}: {field}="):
        check_pass_through(config)


def test_the_default_value_changes_nothing_and_passes():
    check_pass_through(to_dpo_config(compose(["+training_args.ld_alpha=null", "output_dir=x"])))
    check_pass_through(to_dpo_config(compose(["+training_args.f_divergence_type=reverse_kl", "output_dir=x"])))
    assert {"ld_alpha", "use_weighting", "f_divergence_type"} <= set(LOGPROB_CHANGING_FIELDS)


def test_cli_exits_2_naming_the_field_before_a_model_loads(tmp_path: Path):
    result = run_cli(["+training_args.ld_alpha=0.5", f"output_dir={tmp_path}/out"], cwd=tmp_path, timeout=180)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "training_args.ld_alpha" in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow.db").exists()
