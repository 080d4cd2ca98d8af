"""Registers the Hydra configs that do not live in conf/: the typed schema and the top-level sweeps/.

`dpo_config` is DPOConfig, so unknown keys and values of the wrong type fail in Hydra's own composition step.
Each `sweeps/NAME.yaml` becomes option NAME of the group `sweep` (package _global_), so `sweep=NAME` selects it,
while the files stay at the top level of the checkout as the design asks.
"""

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from arabic_pref.config import DPOConfig
from arabic_pref.resources import sweeps_dir

SCHEMA_NAME = "dpo_config"
SWEEPS_DIR = sweeps_dir()


def register_configs() -> None:
    store = ConfigStore.instance()
    store.store(name=SCHEMA_NAME, node=DPOConfig)
    for path in sorted(SWEEPS_DIR.glob("*.yaml")):
        store.store(group="sweep", name=path.stem, node=OmegaConf.load(path), package="_global_")
