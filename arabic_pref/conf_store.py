"""Registers DPOConfig as the Hydra schema `dpo_config`, so `conf/train.yaml` composes onto a typed node.

Unknown keys and values of the wrong type then fail in Hydra's own composition step, with Hydra's message.
"""

from hydra.core.config_store import ConfigStore

from arabic_pref.config import DPOConfig

SCHEMA_NAME = "dpo_config"


def register_configs() -> None:
    ConfigStore.instance().store(name=SCHEMA_NAME, node=DPOConfig)
