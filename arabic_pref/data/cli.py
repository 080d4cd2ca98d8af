"""`python -m arabic_pref.data validate|stats PATH`: the data checks of a training run, without the run.

A person preparing a dataset wants to know, in seconds and before renting a GPU, whether training will
accept it and what it will do to it. `validate` prints the whole report (counts, drop reasons and warnings
with the lines of the first offenders, Arabic script shares, the trivial baselines of every split, token-length
percentiles with the default Qwen2.5 tokenizer) and exits 0 when the data is usable, 2 when it is not, with the
same one-line error that `python -m arabic_pref.train dataset_path=PATH` gives. `stats` prints the statistics
alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from arabic_pref.config import DATA_FORMATS, DEFAULT_SYSTEM_PROMPT, NORMALIZE_MODES, ConfigError, DPOConfig
from arabic_pref.data.loading import PreferenceData, load_preference_data, load_settings

EXIT_USABLE = 0
EXIT_NOT_USABLE = 2
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(DPOConfig)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m arabic_pref.data", description="Check preference data and show its statistics."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{validate,stats,to-mc}")
    for name, help_text in (
        ("validate", "full report; exit 0 when the data is usable, 2 when it is not"),
        ("stats", "statistics only (pairs, script shares, token lengths)"),
    ):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "path", help="a .jsonl/.json/.parquet/.csv file, a folder, a hub dataset id, or builtin:arabic-sample"
        )
        sub.add_argument(
            "--format", dest="data_format", default="auto", choices=DATA_FORMATS, help="data_format (default: auto)"
        )
        sub.add_argument("--normalize", default="none", choices=NORMALIZE_MODES, help="Arabic normalization")
        sub.add_argument("--validation-split", type=float, default=_DEFAULTS["validation_split"])
        sub.add_argument("--test-split", type=float, default=_DEFAULTS["test_split"], help="test_split")
        sub.add_argument(
            "--config-name", dest="dataset_config_name", default=None, help="dataset_config_name of a hub dataset"
        )
        sub.add_argument(
            "--split", dest="dataset_split", default=None, help="dataset_split of a hub dataset (the one to train on)"
        )
        sub.add_argument("--revision", dest="dataset_revision", default=None, help="dataset_revision of a hub dataset")
        sub.add_argument("--seed", type=int, default=_DEFAULTS["seed"])
        sub.add_argument("--min-score-margin", type=float, default=None)
        sub.add_argument("--max-prompt-length", type=int, default=_DEFAULTS["max_prompt_length"])
        sub.add_argument("--max-length", type=int, default=_DEFAULTS["max_length"])
        sub.add_argument("--system-prompt", default=DEFAULT_SYSTEM_PROMPT, help="system prompt of rendered prompts")
        sub.add_argument(
            "--no-system-prompt", action="store_true", help="render with the chat template's own system prompt"
        )
        sub.add_argument("--tokenizer", default=None, help="tokenizer folder or hub id (default: Qwen2.5's)")
        sub.add_argument("--no-tokens", action="store_true", help="skip token statistics (no tokenizer load)")
    to_mc = commands.add_parser(
        "to-mc",
        help="turn EXAMS-style pairs (one question, its correct option, each wrong one) into multiple-choice JSONL",
        description="Group pairs by prompt and chosen answer into questions for eval_mc_sets.",
    )
    to_mc.add_argument("path", help="a pair file (.jsonl/.json/.parquet/.csv) or folder")
    to_mc.add_argument("out", help="the multiple-choice JSONL to write")
    return parser


def _to_multiple_choice(args: argparse.Namespace) -> int:
    from pathlib import Path

    from arabic_pref.data.to_multiple_choice import convert

    try:
        written, skipped = convert(args.path, Path(args.out))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return EXIT_NOT_USABLE
    print(
        f"{written} questions written to {args.out}" + (f" ({skipped} with a single option skipped)" if skipped else "")
    )
    return EXIT_USABLE


def _statistics(data: PreferenceData, args: argparse.Namespace) -> list[str]:
    """Baselines (length in tokens) and token-length statistics; loads the tokenizer."""
    from arabic_pref.data.token_stats import length_stats, load_tokenizer, render_length_stats, token_lengths

    tokenizer = load_tokenizer(args.tokenizer)
    system_prompt = None if args.no_system_prompt else args.system_prompt
    lengths = token_lengths(data.train + data.validation + data.test, tokenizer, system_prompt)
    stats = length_stats(lengths, args.max_prompt_length, args.max_length)
    return [*_baselines(data, tokenizer), render_length_stats(stats, args.tokenizer or "Qwen2.5 tokenizer")]


def _baselines(data: PreferenceData, tokenizer: object = None) -> list[str]:
    from arabic_pref.data.baselines import baseline_table

    return baseline_table({"train": data.train, "validation": data.validation, "test": data.test}, tokenizer)


def _stats_lines(data: PreferenceData) -> list[str]:
    report = data.report
    keep = ("data", "format", "pairs", "script", "annotators")
    return [line for line in report.render().splitlines() if line.split(" ", 1)[0] in keep]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "to-mc":
        return _to_multiple_choice(args)
    try:
        data = load_preference_data(args.path, **load_settings(args))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        print("verdict     not usable", flush=True)
        return EXIT_NOT_USABLE
    lines = data.report.render().splitlines() if args.command == "validate" else _stats_lines(data)
    if args.command == "validate":
        lines.insert(1, f"sha256      {data.content_hash}")
    lines += _baselines(data) if args.no_tokens else _statistics(data, args)
    if args.command == "validate":
        counts = f"{len(data.train)} train, {len(data.validation)} validation and {len(data.test)} test pairs"
        lines.append(f"verdict     usable: {counts}")
    print("\n".join(lines), flush=True)
    return EXIT_USABLE
