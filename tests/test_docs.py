"""The README and docs/ stay true: links and anchors resolve, our commands parse, the entry points start.

Everything is checked in this process (Hydra's compose API for training commands, the modules' own argparse
parsers for `data` and `compare`), except one `--help` subprocess per console entry point. A command of our CLIs
that matches no known form fails, so a renamed command, group or field fails CI instead of a reader.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs_pages import (
    DOCS,
    LINKING_PAGES,
    PAGES,
    README,
    ROOT,
    SHELL_LANGS,
    Composer,
    anchors,
    check_command,
    links,
    logical_lines,
    make_targets,
    parse_command,
    shell_blocks,
    slug,
    split_page,
)


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
