"""The README stays true: its configuration reference is the generated one, its commands exist."""

import re

from arabic_pref.config_reference import markdown_reference
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_config_reference_is_current():
    assert markdown_reference() in README, "regenerate the table with `python -m arabic_pref.config`"


def test_setup_commands_are_make_targets_and_ci_runs_the_test_one():
    makefile = (ROOT / "Makefile").read_text()
    assert "make train" in README and "make test" in README
    assert re.search(r"^train:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_api_reference_names_every_public_method():
    from arabic_pref.training.dpo_trainer import DPOTrainer

    public = {name for name in vars(DPOTrainer) if not name.startswith("__") and callable(getattr(DPOTrainer, name))}
    public -= {n for n in public if n.startswith("_") and n != "_get_training_method"}
    for name in public:
        assert f"`{name}(" in README, f"README API reference misses DPOTrainer.{name}"
