"""Loading preference pairs: read, check, split, filter and count, before any model loads.

Everything here runs without a heavy import, so a typo in a 10 000-line file costs a second, not a model
load. Fatal problems (unreadable file, malformed JSON, a missing or empty field) raise DataError naming file
and line; harmless ones (identical chosen and rejected, exact duplicates, validation pairs leaked from train,
pairs under `min_score_margin`) are dropped and counted by reason in the report, never silently.

When the data has no validation split, one is held out here: a seeded `validation_split` fraction of the
*prompts* (all pairs of one prompt go to the same side, so a question with three wrong options never has
one pair in train and another in validation), the same on every run with the same file and seed. A test split
works the same way, when the data has one (a `test` file or key) or `test_split` asks for one: it is held out
first, so the number a user quotes comes from pairs that neither trained the model nor selected it.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from arabic_pref.data.normalize import NORMALIZE_MODES
from arabic_pref.data.readers import SAMPLE_DIR, read_source, resolve_dataset_path
from arabic_pref.data.records import LOCATION_KEY, PAIR_FIELDS, RecordChecker, content_text, pair_key
from arabic_pref.data.report import DataReport
from arabic_pref.data.script import arabic_share, is_mostly_arabic, is_mostly_other_script
from arabic_pref.errors import ConfigError, DataError

__all__ = [
    "PAIR_FIELDS",
    "SAMPLE_DIR",
    "DataError",
    "DataReport",
    "PreferenceData",
    "load_preference_data",
    "resolve_dataset_path",
]
SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")  # Qwen's: text holding them hijacks the template
SCORE_TOLERANCE = 1e-9  # 8.5 - 3.2 must reach a margin of 5.3


@dataclass
class PreferenceData:
    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    source: str
    content_hash: str
    report: DataReport
    test: list[dict[str, Any]] = field(default_factory=list)  # empty when the data has no test split


# The settings of `load_preference_data`, named as the DPOConfig fields (and `python -m arabic_pref.data` dests).
LOAD_SETTINGS = (
    "validation_split",
    "seed",
    "data_format",
    "normalize",
    "min_score_margin",
    "test_split",
    "dataset_config_name",
    "dataset_split",
    "dataset_revision",
)


def load_settings(source: Any) -> dict[str, Any]:
    """The data settings of a DPOConfig or of the data command's arguments: one mapping for both."""
    return {name: getattr(source, name) for name in LOAD_SETTINGS}


def load_preference_data(
    path: str,
    *,
    validation_split: float = 0.1,
    seed: int = 42,
    data_format: str = "auto",
    normalize: str = "none",
    min_score_margin: float | None = None,
    test_split: float | None = None,
    dataset_config_name: str | None = None,
    dataset_split: str | None = None,
    dataset_revision: str | None = None,
) -> PreferenceData:
    """Read pairs in any supported format into checked, filtered train, validation and test lists with a report."""
    if normalize not in NORMALIZE_MODES:
        raise ConfigError("normalize", f"must be one of {', '.join(NORMALIZE_MODES)}; got {normalize!r}")
    if not 0 < validation_split < 1:
        raise ConfigError("validation_split", f"must be in (0, 1), got {validation_split}")
    if test_split is not None and not 0 < test_split < 1:
        raise ConfigError("test_split", f"must be in (0, 1) or null, got {test_split}")
    source = read_source(
        path, data_format, config_name=dataset_config_name, split=dataset_split, revision=dataset_revision
    )
    report = DataReport(source=str(source.path), format=source.format, normalize=normalize, notes=list(source.notes))
    checker = RecordChecker(normalize)
    splits = {name: [checker.check(where, value) for where, value in rows] for name, rows in source.splits.items()}
    report.form = _one_form(splits)
    report.changed.update(checker.changed)
    _require_scores(splits, min_score_margin, str(source.path))
    _hold_out_test(splits, report, test_split, seed, min_score_margin)
    if "validation" in splits:
        report.validation_from = "the data's own validation split"
    else:
        usable = _usable(splits["train"], min_score_margin)
        splits["train"], splits["validation"] = split_by_prompt(splits["train"], validation_split, seed, usable)
        report.validation_from = (
            f"held out from train: {validation_split * 100:g}% of the usable pairs, whole prompts (seed {seed})"
        )
    for rows in splits.values():
        report.annotators_read.update(_annotator(r) for r in rows if _annotator(r) is not None)
    train = _filter("train", splits["train"], report, min_score_margin)
    validation = _filter("validation", splits["validation"], report, min_score_margin, train)
    test = _filter("test", splits["test"], report, min_score_margin, train, validation) if "test" in splits else []
    if not train:
        raise DataError(str(source.path), f"no usable training pairs after checks ({report.summary()})")
    if not validation:
        raise DataError(
            str(source.path),
            f"no usable validation pairs after checks ({report.summary()}); evaluation needs some: add a validation "
            "split or more distinct prompts",
        )
    _inspect(train, validation, test, report)
    return PreferenceData(train, validation, str(source.path), source.content_hash, report, test)


def _hold_out_test(
    splits: dict[str, list], report: DataReport, fraction: float | None, seed: int, margin: float | None
) -> None:
    """Use the data's own test split, or hold `fraction` of the train prompts out as one (before validation)."""
    if "test" in splits:
        report.test_from = "the data's own test split"
        if fraction is not None:
            report.notes.append(f"test_split={fraction:g} ignored: the data has its own test split")
    elif fraction is not None:
        usable = _usable(splits["train"], margin)
        splits["train"], splits["test"] = split_by_prompt(splits["train"], fraction, seed + 1, usable)
        report.test_from = f"held out from train: {fraction * 100:g}% of the usable pairs, whole prompts (seed {seed})"


def _one_form(splits: dict[str, list[dict[str, Any]]]) -> str:
    """All pairs plain, or all conversational: one Arrow column type, one chat rendering."""
    rows = [r for split in splits.values() for r in split]
    first = rows[0]
    form = "conversational" if isinstance(first["prompt"], list) else "plain"
    for row in rows:
        if isinstance(row["prompt"], list) != (form == "conversational"):
            other = "conversational (message lists)" if form == "plain" else "plain (strings)"
            raise DataError(
                row[LOCATION_KEY],
                f"a {other} pair in a dataset of {form} pairs (since {first[LOCATION_KEY]}); use one form throughout",
            )
    return form


def split_by_prompt(
    rows: list[dict[str, Any]], fraction: float, seed: int, usable: list[bool] | None = None
) -> tuple[list, list]:
    """Hold out about `fraction` of the usable pairs, whole prompts at a time, in a seeded order.

    `usable` marks the pairs that will survive the filters: the fraction is of those, so pairs dropped later
    (identical sides, under the score margin) never eat into validation by chance.
    """
    usable = usable if usable is not None else [True] * len(rows)
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(pair_key(row)[0], []).append(i)
    order = [g for g in groups.values() if any(usable[i] for i in g)]
    random.Random(seed).shuffle(order)
    target = max(1, round(sum(usable) * fraction))
    held: set[int] = set()
    n_held = 0
    for members in order[:-1]:  # the last group always stays in train
        weight = sum(usable[i] for i in members)
        if n_held + weight <= target:
            held.update(members)
            n_held += weight
        if n_held >= target:
            break
    if not held and len(order) > 1:
        held.update(order[0])  # every prompt has more pairs than the target: hold out one prompt
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def _usable(rows: list[dict[str, Any]], margin: float | None) -> list[bool]:
    seen: set = set()
    flags = []
    for row in rows:
        key = pair_key(row)
        flags.append(not _drop_reason(row, key, margin, seen, None))
        if flags[-1]:
            seen.add(key)
    return flags


def _require_scores(splits: dict[str, list], margin: float | None, where: str) -> None:
    if margin is None:
        return
    if not any(_scores(r) for rows in splits.values() for r in rows):
        raise DataError(where, f"min_score_margin={margin} needs chosen_score and rejected_score, and no pair has both")


def _scores(row: dict[str, Any]) -> tuple[float, float] | None:
    chosen, rejected = row.get("chosen_score"), row.get("rejected_score")
    return None if chosen is None or rejected is None else (chosen, rejected)


def _annotator(row: dict[str, Any]) -> str | None:
    value = row.get("annotator_id")
    return None if value is None else str(value)


def _drop_reason(row: dict[str, Any], key: tuple, margin: float | None, seen: set, train_keys: set | None) -> str:
    if key[1] == key[2]:
        return "identical_chosen_rejected"
    if margin is not None:
        scores = _scores(row)
        if scores is None:
            return "no_score"
        if scores[0] - scores[1] < margin - SCORE_TOLERANCE:
            return "below_score_margin"
    if key in seen:
        return "duplicate"
    if train_keys is not None and key in train_keys:
        return "in_train"
    return ""


def _filter(
    split: str, rows: list, report: DataReport, margin: float | None, train: list | None = None, *others: list
) -> list:
    """Rows kept after the drops; `train` (and `others`, e.g. validation for test) are the splits it may not repeat."""
    report.read[split] += len(rows)
    train_keys = None if train is None else {pair_key(r) for r in train}
    other_keys = {pair_key(r) for part in others for r in part}
    seen: set = set()
    kept = []
    for row in rows:
        key = pair_key(row)
        reason = _drop_reason(row, key, margin, seen, train_keys) or ("in_validation" if key in other_keys else "")
        if reason:
            report.drop(split, reason, row[LOCATION_KEY])
            continue
        seen.add(key)
        kept.append(row)
        if _annotator(row) is not None:
            report.annotators_kept[_annotator(row)] += 1
    report.kept[split] += len(kept)
    return kept


def _inspect(train: list, validation: list, test: list, report: DataReport) -> None:
    """Warnings on kept pairs (never fatal) and the mean Arabic share of letters per field."""
    train_prompts = {pair_key(r)[0] for r in train}
    sums: Counter = Counter()
    counts: Counter = Counter()
    for split, rows in (("train", train), ("validation", validation), ("test", test)):
        for row in rows:
            where = row[LOCATION_KEY]
            texts = {name: content_text(row[name]) for name in PAIR_FIELDS}
            shares = {name: arabic_share(text) for name, text in texts.items()}
            for name, share in shares.items():
                if share is not None:
                    sums[name] += share
                    counts[name] += 1
            if is_mostly_arabic(shares["prompt"]) and is_mostly_other_script(shares["chosen"]):
                report.warn("arabic_prompt_non_arabic_chosen", where)
            if any(token in text for text in texts.values() for token in SPECIAL_TOKENS):
                report.warn("special_token_in_text", where)
            if split != "train" and pair_key(row)[0] in train_prompts:
                report.warn(f"{split}_prompt_in_train", where)
    report.arabic_share = {name: sums[name] / counts[name] for name in PAIR_FIELDS if counts[name]}
