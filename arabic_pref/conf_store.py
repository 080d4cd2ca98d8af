"""Registers the Hydra configs that do not live in conf/: the typed schema and the top-level sweeps/.

`dpo_config` is DPOConfig, so unknown keys and values of the wrong type fail in Hydra's own composition step.
Its free-form dicts (`training_args`, `eval_generation_kwargs`) are open to new keys, so docs/running.md's
`training_args='{push_to_hub: true}'` and `training_args.push_to_hub=true` work like `+training_args...`; their
keys are checked by the trainer (against trl.DPOConfig's fields) before any model loads.
Each `sweeps/NAME.yaml` becomes option NAME of the group `sweep` (package _global_), so `sweep=NAME` selects it,
while the files stay at the top level of the checkout as the design asks.
One resolver, `${mul:a,b}` (a x b), lets a sweep tie one field to another, e.g. `lora_alpha: ${mul:2,${lora_r}}`
in sweeps/lora_rank.yaml, so a rank search keeps alpha/r fixed and rank is the only change.
"""

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from arabic_pref.config import DPOConfig
from arabic_pref.resources import sweeps_dir

SCHEMA_NAME = "dpo_config"
SWEEPS_DIR = sweeps_dir()
OPEN_DICT_FIELDS = ("training_args", "eval_generation_kwargs")


def register_configs() -> None:
    OmegaConf.register_new_resolver("mul", lambda a, b: a * b, replace=True)
    store = ConfigStore.instance()
    schema = OmegaConf.structured(DPOConfig)
    for free_form in OPEN_DICT_FIELDS:
        OmegaConf.set_struct(schema[free_form], False)
    store.store(name=SCHEMA_NAME, node=schema)
    for path in sorted(SWEEPS_DIR.glob("*.yaml")):
        store.store(group="sweep", name=path.stem, node=OmegaConf.load(path), package="_global_")
