"""The README and docs/ stay true: links and anchors resolve, our commands parse, the entry points start.

Everything is checked in this process (Hydra's compose API for training commands, the modules' own argparse
parsers for `data` and `compare`), except one `--help` subprocess per console entry point. A command of our CLIs
that matches no known form fails, so a renamed command, group or field fails CI instead of a reader.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def composer() -> Iterator[Composer]:
    hydra = Composer()
    yield hydra
    hydra.close()


# --- the tests -------------------------------------------------------------------------------------------------


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in LINKING_PAGES:
        for number, target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path_part, _, anchor = target.partition("#")
            path = (page.parent / path_part).resolve() if path_part else page
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not path.exists():
                broken.append(f"{where}: no such file")
            elif ROOT not in path.parents and path != ROOT:
                broken.append(f"{where}: outside the repository")
            elif anchor and (path.suffix != ".md" or anchor not in anchors(path)):
                broken.append(f"{where}: no heading with anchor #{anchor} in {path.name}")
    assert not broken, "\n".join(broken)


def test_slugs_follow_github():
    assert slug("What the numbers mean") == "what-the-numbers-mean"
    assert slug("Plain TRL: `benchmarks/sweep_vs_trl.py`") == "plain-trl-benchmarkssweep_vs_trlpy"
    assert slug("A real pretrained checkpoint without the hub: `model=smollm2_135m`") == (
        "a-real-pretrained-checkpoint-without-the-hub-modelsmollm2_135m"
    )
    assert slug("GPU: `benchmarks/gpu_bench.py` (ready, not yet run)") == "gpu-benchmarksgpu_benchpy-ready-not-yet-run"


def test_readme_is_a_front_door_that_links_every_docs_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150, "the README is the front door: move detail into docs/"
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked and p.name != "README.md"]
    assert not missing, f"README.md links no docs page {missing}"
    assert (ROOT / "BENCHMARKS.md").resolve() in linked


def test_setup_commands_are_make_targets_and_ci_runs_the_test_one():
    blocks = [b for b in split_page(README)[0] if b.lang in SHELL_LANGS]
    first = [line.split("#")[0].strip() for line in blocks[0].lines]
    assert first == ["make train", "make test"], "the README's first commands are the two set-up commands"
    assert {"train", "test"} <= make_targets()
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), flags=re.M), ".ci/run runs `make test`"


def test_every_command_of_our_clis_in_the_docs_parses(composer):
    checked, failures = 0, []
    for block in shell_blocks():
        for number, line in logical_lines(block):
            where = f"{block.page.relative_to(ROOT)}:{number}: {line.strip()}"
            try:
                command = parse_command(line)
                if command is not None:
                    check_command(*command, composer)
                    checked += 1
            except Exception as error:  # noqa: BLE001 - every reason is reported with its line
                failures.append(f"{where}\n    {type(error).__name__}: {str(error).splitlines()[0][:300]}")
    assert not failures, "\n".join(failures)
    assert checked >= 40, f"only {checked} commands of ours found: is the block parser broken?"


def test_the_command_check_catches_what_it_should(composer):
    def error(line: str) -> str | None:
        try:
            command = parse_command(line)
            if command is not None:
                check_command(*command, composer)
        except Exception as caught:  # noqa: BLE001
            return type(caught).__name__
        return None

    assert error("python -m arabic_pref.train loss=ipo beta=0.05") is None
    assert error("make train ARGS='model=qwen2.5-7b run=tiny_qwen'") is None
    assert error("arabic-pref data validate x.jsonl --normalize light") is None
    assert error("mlflow ui --backend-store-uri sqlite:///mlflow.db") is None  # not ours
    assert error("python -m arabic_pref.config") is not None  # no longer prints the reference
    assert error("python -m arabic_pref.train no_such_field=1") is not None
    assert error("python -m arabic_pref.train model=no_such_model") is not None
    assert error("python -m arabic_pref.train -m sweep=no_such_sweep") is not None
    assert error("python -m arabic_pref.train -m sweep=smoke hydra.sweeper.no_such_setting=1") is not None
    assert error("python benchmarks/no_such_benchmark.py") is not None
    assert error("python -m arabic_pref.train loss=sigmoid,ipo") is not None  # sweep values without -m
    assert error("arabic-pref data check x.jsonl") is not None
    assert error("arabic-pref compare --no-such-flag") is not None
    assert error("arabic-pref frobnicate") is not None
    assert error("make no-such-target") is not None


def test_commands_of_ours_are_in_fenced_blocks():
    """Indented code blocks escape the command check above: commands live in ``` fences."""
    stray = []
    for page in PAGES:
        for number, line in split_page(page)[1]:
            if re.match(r"^ {4,}(\$ )?(\.venv/bin/)?(python[\d.]* -m arabic_pref|arabic-pref|make )", line):
                stray.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not stray, "\n".join(stray)


def test_python_blocks_compile():
    for page in PAGES:
        for block in split_page(page)[0]:
            if block.lang in ("python", "py"):
                compile("\n".join(block.lines), f"{page.name}:{block.line}", "exec")


def test_files_named_in_the_docs_exist():
    roots = ("arabic_pref/", "conf/", "sweeps/", "tests/", "benchmarks/", "notebooks/", "hydra_plugins/", ".ci/")
    missing = []
    for page in PAGES:
        for number, line in split_page(page)[1]:
            for span in re.findall(r"`([^`\s]+)`", line):
                path = span.split("#")[0].rstrip(".,:;)")
                placeholder = re.search(r"\b(NAME|N|DATE|TIME|PATH)\b|\.\.\.|[*<>{}$]", path)
                if path.startswith(roots) and not placeholder:
                    if path.startswith(("arabic_pref/conf", "arabic_pref/sweeps")):
                        continue  # the wheel's copies of conf/ and sweeps/, made by setup.py
                    if not (ROOT / path).exists():
                        missing.append(f"{page.relative_to(ROOT)}:{number}: {path}")
    assert not missing, "\n".join(missing)


def test_architecture_names_every_module_in_its_layer():
    from tests.test_layers import LAYERS, layer_of

    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    listed: dict[str, int] = {}
    layer = None
    for line in text.splitlines():
        heading = re.match(r"^## (\d+)\. ", line)
        if heading:
            layer = int(heading.group(1)) - 1
        elif line.startswith("## "):
            layer = None
        for path in re.findall(r"`(arabic_pref/[\w/]+\.py)`", line):
            if layer is not None and line.startswith("| `"):
                listed[path] = layer
    package = ROOT / "arabic_pref"
    modules = {
        p.relative_to(ROOT).as_posix() for p in package.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")
    }
    assert not sorted(modules - set(listed)), f"docs/architecture.md misses {sorted(modules - set(listed))}"
    assert not sorted(set(listed) - modules), f"docs/architecture.md lists gone modules {sorted(set(listed) - modules)}"
    wrong = []
    for path, index in sorted(listed.items()):
        expected = layer_of(path.removesuffix(".py").replace("/", "."))
        if expected != index:
            wrong.append(f"{path}: listed under layer {index + 1}, tests/test_layers.py says {LAYERS[expected][0]}")
    assert not wrong, "\n".join(wrong)


def test_configuration_reference_is_current():
    from arabic_pref.config_reference import markdown_reference

    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert markdown_reference() in page, "regenerate docs/configuration.md's table with `arabic-pref config`"


def test_api_reference_names_every_public_method():
    """DPOTrainer's own methods and its evaluation methods, read from the source (importing the trainer costs
    torch, transformers and TRL: seconds)."""
    public = set()
    for module, name in (("dpo_trainer", "DPOTrainer"), ("evaluation", "PreferenceEvaluation")):
        path = ROOT / "arabic_pref" / "training" / f"{module}.py"
        classes = [n for n in ast.parse(path.read_text(encoding="utf-8")).body if isinstance(n, ast.ClassDef)]
        for node in (c for c in classes if c.name == name):
            public |= {
                m.name
                for m in node.body
                if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)
                and not any(re.search(r"property|\.setter$", ast.unparse(d)) for d in m.decorator_list)
                and (not m.name.startswith("_") or m.name == "_get_training_method")
            }
    assert {"train", "generate_comparison", "_get_training_method"} <= public, "DPOTrainer moved: update this test"
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    missing = sorted(name for name in public if f"`{name}(" not in page)
    assert not missing, f"docs/api.md misses DPOTrainer methods {missing}"


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("arabic-pref", ("arabic-pref train", "arabic-pref data", "arabic-pref compare", "arabic-pref config")),
        ("arabic-pref-train", ("Powered by Hydra", "beta:", "model_name:")),
    ],
)
def test_console_entry_points_start(program, expected):
    executable = Path(sys.executable).parent / program
    assert executable.exists(), f"{program} is not installed next to {sys.executable}: reinstall the package"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([str(executable), "--help"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    for text in expected:
        assert text in result.stdout, f"`{program} --help` does not mention {text!r}:\n{result.stdout[-2000:]}"
