"""The README stays true: its configuration reference lists every field, its commands exist."""

import dataclasses
import re

from arabic_pref.config import DPOConfig, field_help
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_config_reference_lists_every_field_with_its_doc():
    for f in dataclasses.fields(DPOConfig):
        row = re.search(rf"^\| `{f.name}` \|.*$", README, flags=re.M)
        assert row, f"README config reference misses {f.name}"
        assert field_help()[f.name] in row.group(0), f"README doc of {f.name} is stale"


def test_setup_commands_are_make_targets_and_ci_runs_the_test_one():
    makefile = (ROOT / "Makefile").read_text()
    assert "make train" in README and "make test" in README
    assert re.search(r"^train:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
