"""TRL fields that change what the log-probs mean never slip through `training_args` (exit 2 before a model loads).

Our metrics read log pi - log pi_ref per pair (ties 1/2). The modifiers that reweight the log-probs (ld_alpha,
use_weighting, an f-divergence) are top-level fields whose metrics follow TRL (tests/test_loss_*.py); passed
through `training_args` they are refused as derived. A moving reference (TR-DPO) would compare each step against
another reference: refused by name.
"""

from pathlib import Path

import pytest

from arabic_pref.errors import ConfigError
from arabic_pref.train import to_dpo_config
from arabic_pref.training.trl_args import check_pass_through
from tests.conftest import compose, run_cli


@pytest.mark.parametrize(
    ("field", "value"),
    [("ld_alpha", "0.5"), ("use_weighting", "true"), ("f_divergence_type", "js_divergence")],
)
def test_log_prob_modifiers_are_top_level_fields_not_pass_through(field, value):
    with pytest.raises(ConfigError, match=f"training_args: {field} are (set from top-level fields|derived from)"):
        check_pass_through(to_dpo_config(compose([f"+training_args.{field}={value}", "output_dir=x"])))


@pytest.mark.parametrize(
    ("field", "value"), [("sync_ref_model", "true"), ("ref_model_mixup_alpha", "0.9"), ("ref_model_sync_steps", "8")]
)
def test_a_moving_reference_is_refused_by_name(field, value):
    config = to_dpo_config(compose([f"+training_args.{field}={value}", "output_dir=x"]))
    with pytest.raises(ConfigError, match=f"training_args.{field}: {field}="):
        check_pass_through(config)


def test_the_default_value_changes_nothing_and_passes():
    check_pass_through(to_dpo_config(compose(["+training_args.sync_ref_model=false", "output_dir=x"])))


def test_cli_exits_2_naming_the_field_before_a_model_loads(tmp_path: Path):
    result = run_cli(["+training_args.ld_alpha=0.5", f"output_dir={tmp_path}/out"], cwd=tmp_path, timeout=180)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "error: training_args: ld_alpha are " in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow.db").exists()
