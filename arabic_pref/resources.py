"""Where the Hydra configs live, in a checkout and in an installed wheel.

The design keeps `conf/` (the run config and its groups) and `sweeps/` (the sweep definitions) at the top of the
checkout, beside the package. A wheel cannot install top-level folders into site-packages, so the build maps
them into the package as `arabic_pref/conf` and `arabic_pref/sweeps` (see setup.py). Both places are looked up
here, the packaged copy first, so `python -m arabic_pref.train` works from any folder either way.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _located(name: str, marker: str) -> Path:
    for base in (PACKAGE_DIR, PACKAGE_DIR.parent):  # installed wheel, then checkout (editable install)
        candidate = base / name
        if (candidate / marker).exists():
            return candidate
    raise FileNotFoundError(f"arabic_pref's {name}/ folder is missing next to {PACKAGE_DIR}: reinstall the package")


def config_dir() -> Path:
    """The folder holding train.yaml and the groups model/, data/, loss/, lora/."""
    return _located("conf", "train.yaml")


def sweeps_dir() -> Path:
    """The folder holding the sweep definitions NAME.yaml (selected with `sweep=NAME`)."""
    return _located("sweeps", "smoke.yaml")
