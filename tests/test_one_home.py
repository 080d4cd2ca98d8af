"""One home per fact: the places that used to disagree now read one definition.

- HF_HUB_OFFLINE: model loading and hub datasets ask `arabic_pref.hub`, which follows huggingface_hub's rule
  (before, `off` meant offline to the model loader and online to the data reader).
- A config is validated (and warned about) once on its way to TRL, again only after a field changed.
- The learning-rate cap: the run name and the TRL arguments show the same effective rate.
"""

from __future__ import annotations

import logging

import pytest

from arabic_pref import hub
from arabic_pref.config import DPOConfig
from arabic_pref.run_names import run_name_for


@pytest.mark.parametrize(
    ("value", "offline"),
    [
        ("1", True),
        ("ON", True),
        ("yes", True),
        ("true", True),
        ("0", False),
        ("off", False),
        ("no", False),
        ("", False),
    ],
)
def test_hf_hub_offline_is_read_by_huggingface_hubs_rule(monkeypatch, value, offline):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert hub.offline_by_env() is offline


def test_a_config_is_checked_once_on_its_way_to_trl():
    from arabic_pref.training.trl_args import to_trl_config

    # a handler of our own, on a logger switched on: an earlier test's logging set-up in this process (a store
    # migration's fileConfig, the console's) may have disabled it or stopped it from propagating
    logger, seen = logging.getLogger("arabic_pref.config"), []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    was_disabled, logger.disabled = logger.disabled, False
    try:
        config = DPOConfig(beta=2.0, report_to="none")  # outside the recommended range: one warning
        to_trl_config(config)
    finally:
        logger.removeHandler(handler)
        logger.disabled = was_disabled
    assert seen.count("beta=2.0 is outside the recommended range 0.01-1.0") == 1
    config.beta = -1.0  # assigned after construction, as the spec's examples do: checked again
    with pytest.raises(ValueError, match="beta: must be > 0"):
        to_trl_config(config)


def test_the_run_name_and_trl_show_the_same_capped_learning_rate():
    from arabic_pref.training.trl_args import to_trl_config

    config = DPOConfig(learning_rate=1e-3, report_to="none")
    assert to_trl_config(config).learning_rate == 5e-7
    assert run_name_for(config) == "sigmoid b=0.1 lr=5e-7"
