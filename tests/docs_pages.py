"""Reading the README and docs/ the way a reader runs them: pages, fenced blocks, links, anchors, commands.

The machinery behind tests/test_docs.py: GitHub-style anchor slugs, the commands of our CLIs found in fenced
shell blocks, and a `Composer` that composes training overrides with Hydra's compose API in this process.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
LINKING_PAGES = [*PAGES, ROOT / "BENCHMARKS.md"]  # its links into the README and docs/ must survive moves too
SHELL_LANGS = {"", "sh", "bash", "shell", "console"}
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
# Our own entry points, and what each form becomes.
TRAIN_MODULE, DATA_MODULE, COMPARE_MODULE, REFERENCE_MODULE = (
    "arabic_pref.train",
    "arabic_pref.data",
    "arabic_pref.compare",
    "arabic_pref.config_reference",
)
CONSOLE_COMMANDS = {"train": TRAIN_MODULE, "data": DATA_MODULE, "compare": COMPARE_MODULE, "config": REFERENCE_MODULE}
HYDRA_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--info", "-i"}
HYDRA_FLAGS = {"--resolve", "--help", "-h", "--hydra-help", "--shell-completion", "-sc"}


# --- reading the pages ---------------------------------------------------------------------------------------


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the first content line
    lang: str
    lines: list[str]


def split_page(page: Path) -> tuple[list[Block], list[tuple[int, str]]]:
    """The fenced code blocks of a page, and its other lines (numbered) as prose."""
    blocks: list[Block] = []
    prose: list[tuple[int, str]] = []
    current: Block | None = None
    fence = ""
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        match = FENCE.match(line)
        if current is None and match:
            fence, current = match.group(1), Block(page, number + 1, match.group(2).lower(), [])
        elif current is not None and line.strip().startswith(fence) and not line.strip().strip(fence[0]):
            blocks.append(current)
            current = None
        elif current is not None:
            current.lines.append(line)
        else:
            prose.append((number, line))
    assert current is None, f"{page.name}:{current.line}: unclosed code fence"
    return blocks, prose


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, link text only, punctuation but '-' and '_' dropped, spaces '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # [text](url) -> text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    _, prose = split_page(page)
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            out.add(base if count == 0 else f"{base}-{count}")
        out |= set(re.findall(r'<a\s+(?:name|id)="([^"]+)"', line))
    return out


def links(page: Path) -> Iterator[tuple[int, str]]:
    """(line, target) of every inline link and image outside code."""
    _, prose = split_page(page)
    for number, line in prose:
        text = re.sub(r"`[^`]*`", "", line)  # inline code holds no links
        for target in re.findall(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text):
            yield number, target


# --- checking one command --------------------------------------------------------------------------------------


def logical_lines(block: Block) -> Iterator[tuple[int, str]]:
    """Shell lines of a block, continuation lines joined; `$ ` prompts of console blocks stripped."""
    pending, start = "", 0
    for offset, raw in enumerate(block.lines):
        line = raw.rstrip()
        if block.lang == "console":
            if not pending and not line.startswith("$ "):
                continue
            line = line.removeprefix("$ ")
        if not pending:
            start = block.line + offset
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield start, pending + line
        pending = ""
    if pending:
        yield start, pending


def parse_command(line: str) -> tuple[str, list[str]] | None:
    """(module, arguments) for a command of ours, None for any other program. Raises ValueError on a command of
    ours in no known form."""
    tokens = shlex.split(line, comments=True)
    while tokens and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tokens[0]):  # VAR=value before the program
        tokens = tokens[1:]
    if not tokens:
        return None
    program = Path(tokens[0]).name
    if program in ("arabic-pref-train",):
        return TRAIN_MODULE, tokens[1:]
    if program == "arabic-pref":
        if len(tokens) > 1 and tokens[1] in ("--help", "-h"):
            return "arabic-pref", tokens[2:]
        if len(tokens) < 2 or tokens[1] not in CONSOLE_COMMANDS:
            raise ValueError(f"`arabic-pref` has no command {tokens[1:2]}: known {sorted(CONSOLE_COMMANDS)}")
        return CONSOLE_COMMANDS[tokens[1]], tokens[2:]
    if program == "make":
        return "make", tokens[1:]
    if "-m" in tokens:  # python -m ..., accelerate launch ... -m ..., torchrun ... -m ...
        index = tokens.index("-m")
        module = tokens[index + 1] if index + 1 < len(tokens) else ""
        if module == "arabic_pref" or module.startswith("arabic_pref."):
            if module not in (TRAIN_MODULE, DATA_MODULE, COMPARE_MODULE, REFERENCE_MODULE):
                raise ValueError(f"no entry point `python -m {module}`")
            if program in ("accelerate", "torchrun") and module != TRAIN_MODULE:
                raise ValueError(f"{program} launches training only, not {module}")
            if program == "accelerate" and "--config_file" in tokens:
                config_file = tokens[tokens.index("--config_file") + 1]
                if not (ROOT / config_file).is_file():
                    raise ValueError(f"accelerate config {config_file} does not exist")
            return module, tokens[index + 2 :]
    script = tokens[1] if re.fullmatch(r"python[\d.]*", program) and len(tokens) > 1 else ""
    if script.endswith(".py") and not (ROOT / script).is_file():  # python benchmarks/NAME.py
        raise ValueError(f"no script {script}")
    return None


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))


class Composer:
    """Hydra's compose API on the shipped configs, initialised once (the CLI's version_base)."""

    def __init__(self) -> None:
        from hydra import initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra

        from arabic_pref.conf_store import register_configs
        from arabic_pref.resources import config_dir

        register_configs()
        GlobalHydra.instance().clear()
        self._context = initialize_config_dir(config_dir=str(config_dir()), version_base="1.3")
        self._context.__enter__()

    def close(self) -> None:
        self._context.__exit__(None, None, None)

    def check_train(self, args: list[str]) -> None:
        from hydra import compose
        from hydra.core.override_parser.overrides_parser import OverridesParser

        multirun, overrides, rest = False, [], list(args)
        while rest:
            token = rest.pop(0)
            if token in ("-m", "--multirun"):
                multirun = True
            elif token in HYDRA_FLAGS_WITH_VALUE:
                if not rest:
                    raise ValueError(f"{token} needs a value")
                rest.pop(0)
            elif token in HYDRA_FLAGS:
                pass
            elif token.startswith("-"):
                raise ValueError(f"unknown flag {token}")
            else:
                overrides.append(token)
        parsed = OverridesParser.create().parse_overrides(overrides)  # the grammar, for every override
        if any(o.key_or_group == "hydra.searchpath" for o in parsed):
            return  # a config folder of the reader's own: the syntax is all that can be checked here
        sweeps = [o for o in parsed if o.is_sweep_override()]
        if sweeps and not multirun:
            raise ValueError(f"sweep values without -m: {[o.input_line for o in sweeps]}")
        if multirun and not any(o.key_or_group == "sweep" for o in parsed) and not sweeps:
            raise ValueError("-m without sweep=NAME or sweep values")
        fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
        variants = [fixed]  # each value of each choice sweep once, the other sweeps at their first value
        choices = [(o, list(o.sweep_string_iterator())) for o in sweeps if o.is_choice_sweep()]
        for position, (override, values) in enumerate(choices):
            for value in values if position == 0 else values[1:]:
                chosen = [f"{o.get_key_element()}={vs[0]}" for o, vs in choices if o is not override]
                variants.append([*fixed, *chosen, f"{override.get_key_element()}={value}"])
        if len(variants) > 1:
            variants = variants[1:]
        for variant in variants:
            compose("train", overrides=variant, return_hydra_config=True)


def check_command(module: str, args: list[str], composer: Composer) -> None:
    if module == TRAIN_MODULE:
        composer.check_train(args)
    elif module in (DATA_MODULE, COMPARE_MODULE):
        if module == DATA_MODULE:
            from arabic_pref.data.cli import build_parser as parser
        else:
            from arabic_pref.compare.cli import parser
        try:
            parser().parse_args(args)
        except SystemExit as exit_:
            raise ValueError(f"argparse rejects {args} (exit {exit_.code})") from None
    elif module in (REFERENCE_MODULE, "arabic-pref"):
        if args:
            raise ValueError(f"takes no arguments: {args}")
    elif module == "make":
        targets, variables = [a for a in args if "=" not in a], dict(a.split("=", 1) for a in args if "=" in a)
        unknown = set(targets) - make_targets()
        if unknown or not targets:
            raise ValueError(f"make targets {sorted(unknown) or '(none)'} are not in the Makefile")
        if set(variables) - {"ARGS", "PYTEST_ARGS"}:
            raise ValueError(f"unknown make variables {sorted(set(variables) - {'ARGS', 'PYTEST_ARGS'})}")
        if "ARGS" in variables:
            if targets != ["train"]:
                raise ValueError("ARGS= is read by `make train` only")
            composer.check_train(shlex.split(variables["ARGS"]))
    else:
        raise AssertionError(module)


def shell_blocks() -> Iterator[Block]:
    for page in PAGES:
        for block in split_page(page)[0]:
            if block.lang in SHELL_LANGS:
                yield block
