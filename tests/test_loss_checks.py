"""Each loss's parameters are checked before any model loads: a setting the loss would ignore is refused."""

import pytest

from arabic_pref.config import ConfigError, DPOConfig
from arabic_pref.loss_checks import LOSS_TYPES
from arabic_pref.train import to_dpo_config
from arabic_pref.training.trl_args import effective_params, to_trl_config
from tests.conftest import compose, run_cli


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"loss_type": "dpo"}, "loss_type"),
        ({"loss_type": "sft"}, "loss_type"),  # not a preference loss on its own; rpo adds it
        ({"loss_type": "hinge", "label_smoothing": 0.1}, "label_smoothing"),  # TRL's hinge never reads it
        ({"loss_type": "ipo", "label_smoothing": 0.1}, "label_smoothing"),
        ({"loss_type": "exo_pair"}, "label_smoothing"),  # log(eps) at 0
        ({"loss_type": "robust"}, "label_smoothing"),  # exactly sigmoid at 0
        ({"loss_type": "robust", "label_smoothing": 0.5}, "label_smoothing"),
        ({"loss_type": "rpo"}, "sft_weight"),
        ({"loss_type": "sigmoid", "sft_weight": 0.2}, "sft_weight"),
        ({"loss_type": "rpo", "sft_weight": -0.1}, "sft_weight"),
        ({"loss_type": "discopop", "discopop_tau": 0.0}, "discopop_tau"),
        ({"loss_type": "sigmoid", "discopop_tau": 0.1}, "discopop_tau"),
        ({"ld_alpha": 1.5}, "ld_alpha"),
        ({"ld_alpha": -0.1}, "ld_alpha"),
        ({"loss_type": "aot", "per_device_train_batch_size": 1}, "per_device_train_batch_size"),
        ({"loss_type": "aot_unpaired", "per_device_train_batch_size": 1}, "per_device_train_batch_size"),
        ({"loss_type": "aot", "use_weighting": True}, "use_weighting"),
        ({"f_divergence_type": "kl"}, "f_divergence_type"),
        ({"loss_type": "bco_pair", "f_divergence_type": "forward_kl"}, "f_divergence_type"),
        ({"f_alpha_divergence_coef": 0.3}, "f_alpha_divergence_coef"),
        ({"training_args": {"loss_weights": [1.0]}}, "training_args"),
        ({"training_args": {"ld_alpha": 0.5}}, "training_args"),
        ({"training_args": {"use_weighting": True}}, "training_args"),
    ],
)
def test_refused_settings_name_their_key(fields, key, tmp_path):
    with pytest.raises(ConfigError) as e:
        DPOConfig(output_dir=str(tmp_path), report_to="none", **fields)
    assert e.value.key == key


@pytest.mark.parametrize(
    "fields",
    [
        {"loss_type": "sigmoid", "label_smoothing": 0.1},  # cDPO
        {"loss_type": "aot", "label_smoothing": 0.1},
        {"loss_type": "exo_pair", "label_smoothing": 1e-3},
        {"loss_type": "discopop", "discopop_tau": 0.1},
        {"loss_type": "ipo", "ld_alpha": 0.0},
        {"loss_type": "rpo", "sft_weight": 0.5, "f_divergence_type": "js_divergence"},
        {"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 0.3},
    ],
)
def test_accepted_settings(fields, tmp_path):
    DPOConfig(output_dir=str(tmp_path), report_to="none", **fields)


def test_rpo_override_reads_naturally_and_is_recorded_as_trl_trains_it(tmp_path):
    cfg = compose(["loss=rpo", "sft_weight=0.2", "label_smoothing=0.1", f"output_dir={tmp_path}"], shrink=False)
    config = to_dpo_config(cfg)
    params = effective_params(config, to_trl_config(config))
    assert params["trl.loss_type"] == ["sigmoid", "robust", "sft"]
    assert params["trl.loss_weights"] == pytest.approx([1.8, -0.8, 0.2])
    assert params["trl.label_smoothing"] == 0.1


@pytest.mark.parametrize("loss", LOSS_TYPES)
def test_every_loss_has_a_group_that_composes_into_trl_args(loss, tmp_path):
    cfg = compose([f"loss={loss}", f"output_dir={tmp_path}"], shrink=False)
    config = to_dpo_config(cfg)
    trl_args = to_trl_config(config)
    assert len(trl_args.loss_type) == len(trl_args.loss_weights)
    assert trl_args.loss_type[0] == {"rpo": "sigmoid"}.get(loss, loss)


def test_ld_dpo_group_sets_ld_alpha_on_sigmoid(tmp_path):
    config = to_dpo_config(compose(["loss=ld_dpo", f"output_dir={tmp_path}"], shrink=False))
    assert (config.loss_type, config.ld_alpha) == ("sigmoid", 0.5)
    assert to_trl_config(config).ld_alpha == 0.5


def test_cli_refuses_an_ignored_setting_with_exit_2(tmp_path):
    result = run_cli(["loss=hinge", "label_smoothing=0.1"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "label_smoothing" in result.stderr + result.stdout
