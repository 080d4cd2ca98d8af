"""Package layout (everything else is in pyproject.toml).

The top-level `conf/` and `sweeps/` folders ship inside the wheel as `arabic_pref/conf` and `arabic_pref/sweeps`,
so an installed package finds its Hydra configs without a checkout (arabic_pref/resources.py looks them up).
pyproject.toml cannot map a folder outside the package into it while also discovering packages, hence this file.
"""

from setuptools import find_namespace_packages, setup

CONFIG_FOLDERS = {"arabic_pref.conf": "conf", "arabic_pref.sweeps": "sweeps"}

setup(
    # hydra_plugins is a namespace package: Hydra discovers plugins there
    packages=find_namespace_packages(
        include=["arabic_pref", "arabic_pref.*", "hydra_plugins", "hydra_plugins.*"],
        exclude=["*.__pycache__"],
    )
    + list(CONFIG_FOLDERS),
    package_dir=CONFIG_FOLDERS,
    package_data={
        "arabic_pref": [
            "data/arabic_sample/*.jsonl",
            "data/arabic_sample/*.md",
            "data/eval_prompts/*",
            "data/heldout_text/*",
            "data/mc_sample/*",
        ],
        "arabic_pref.conf": ["*.yaml", "*/*.yaml"],
        "arabic_pref.sweeps": ["*.yaml"],
    },
)
