"""The configuration reference, generated from the fields: `arabic-pref config` prints it.

One source of truth for defaults: the Python API's default is the `DPOConfig` dataclass field; the CLI composes
`conf/train.yaml`, whose default groups may set a field again. The table shows both where they differ and names
the group that sets the CLI's value, so a reader knows which default applies where. A test keeps such differences
to the run group (`conf/run/`: CPU-sized steps and lengths for the offline default), which the model chooses.
"""

from __future__ import annotations

import dataclasses
import typing

from omegaconf import OmegaConf

from arabic_pref.config import DPOConfig
from arabic_pref.config_checks import type_name as _type_name
from arabic_pref.resources import config_dir

CONF_DIR = config_dir()


def default_groups() -> dict[str, str]:
    """The default option of each config group of conf/train.yaml (e.g. {"model": "tiny_qwen", ...})."""
    defaults = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "train.yaml").defaults, resolve=False)
    # `optional run: ...` is group `run`
    choices = {k.removeprefix("optional "): v for e in defaults if isinstance(e, dict) for k, v in e.items() if v}
    # a choice may name another group's choice, as `run: ${model}` does
    return {k: choices.get(v[2:-1], v) if v.startswith("${") else v for k, v in choices.items()}


def group_settings() -> dict[str, tuple[str, object]]:
    """Field -> (the default group option that sets it, the value), as the CLI composes them."""
    top = OmegaConf.load(CONF_DIR / "train.yaml")
    out: dict[str, tuple[str, object]] = {
        k: ("conf/train.yaml", v) for k, v in OmegaConf.to_container(top).items() if k not in ("defaults", "hydra")
    }
    for group, option in default_groups().items():
        path = CONF_DIR / group / f"{option}.yaml"
        if path.is_file():
            for key, value in OmegaConf.to_container(OmegaConf.load(path)).items():
                if key != "defaults":
                    out[key] = (f"{group}={option}", value)
    return out


RUN_GROUP_FIELDS = tuple(k for k, (source, _) in group_settings().items() if source.startswith("run="))


def markdown_reference() -> str:
    hints = typing.get_type_hints(DPOConfig)
    cli = group_settings()
    lines = [
        "| field | type | Python API default | CLI default, where it differs | meaning, range |",
        "|---|---|---|---|---|",
    ]
    for f in dataclasses.fields(DPOConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kind = _type_name(hints[f.name]).replace(" | None", " or null")
        shown = _show(default)
        cli_value = ""
        if f.name in cli and cli[f.name][1] != default:
            cli_value = f"`{_show(cli[f.name][1])}` ({cli[f.name][0]})"
        lines.append(f"| `{f.name}` | {kind} | `{shown}` | {cli_value} | {f.metadata['help'].replace('|', '/')} |")
    return "\n".join(lines)


def _show(value: object) -> object:
    return "null" if value is None else value


if __name__ == "__main__":
    print(markdown_reference())
