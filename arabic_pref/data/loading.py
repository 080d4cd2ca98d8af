"""Reading preference pairs and refusing bad ones with a message that names the file and line.

Everything here runs before a model loads and needs no heavy import, so a typo in a 10 000-line file costs a
second, not a model load. Fatal problems (unreadable file, malformed JSON, a missing or empty field) raise
DataError; harmless ones (identical chosen and rejected, duplicates, validation pairs leaked from train) are
dropped and counted in the report, never silently.
"""

from __future__ import annotations

import hashlib
import json
import random
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arabic_pref.config import BUILTIN_DATASET, ConfigError

PAIR_FIELDS = ("prompt", "chosen", "rejected")
SAMPLE_DIR = Path(__file__).parent / "arabic_sample"


class DataError(ConfigError):
    """The data cannot be used; the message names file, line and what was expected."""

    def __init__(self, location: str, message: str):
        super().__init__("dataset_path", f"{location}: {message}")
        self.location = location


@dataclass
class DataReport:
    """Counts of what was read, kept and dropped (by reason), per split."""

    read: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)  # "split/reason" -> count

    def as_metrics(self) -> dict[str, int]:
        out = {f"data/{s}_read": n for s, n in self.read.items()}
        out |= {f"data/{s}_kept": n for s, n in self.kept.items()}
        out |= {f"data/dropped/{k}": n for k, n in self.dropped.items()}
        return out

    def summary(self) -> str:
        parts = [f"{s}: {self.kept[s]}/{self.read[s]} kept" for s in self.read]
        drops = ", ".join(f"{k}={n}" for k, n in sorted(self.dropped.items()))
        return "; ".join(parts) + (f" (dropped: {drops})" if drops else "")


@dataclass
class PreferenceData:
    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    source: str
    content_hash: str
    report: DataReport


def resolve_dataset_path(path: str) -> Path:
    return SAMPLE_DIR if path == BUILTIN_DATASET else Path(path).expanduser()


def load_preference_data(path: str, *, validation_split: float = 0.1, seed: int = 42) -> PreferenceData:
    """Read a JSONL file, or a folder with train.jsonl (and optionally validation.jsonl), into checked pairs."""
    root = resolve_dataset_path(path)
    if not root.exists():
        raise DataError(str(root), "no such file or folder (expected a .jsonl file or a folder with train.jsonl)")
    report = DataReport()
    hasher = hashlib.sha256()
    if root.is_dir():
        train_file = root / "train.jsonl"
        if not train_file.exists():
            raise DataError(str(root), "folder holds no train.jsonl")
        train = _read_jsonl(train_file, hasher)
        val_file = root / "validation.jsonl"
        validation = _read_jsonl(val_file, hasher) if val_file.exists() else None
    else:
        train, validation = _read_jsonl(root, hasher), None
    if validation is None:
        train, validation = _split(train, validation_split, seed)
    train = _dedupe(train, "train", report, seen=set())
    train_keys = {_pair_key(r) for r in train}
    validation = _dedupe(validation, "validation", report, seen=set(), leaked_from=train_keys)
    if not train:
        raise DataError(str(root), "no usable training pairs after checks")
    return PreferenceData(train, validation, str(root), hasher.hexdigest(), report)


def _read_jsonl(path: Path, hasher: Any) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    hasher.update(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(str(path), f"not UTF-8 (invalid byte at offset {e.start})") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}:{e.colno}", f"malformed JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise DataError(where, f"expected a JSON object with {', '.join(PAIR_FIELDS)}, got {type(row).__name__}")
        for name in PAIR_FIELDS:
            if name not in row:
                raise DataError(where, f"missing field {name!r} (each pair needs {', '.join(PAIR_FIELDS)})")
            value = row[name]
            if not isinstance(value, str):
                raise DataError(where, f"field {name!r} must be a string, got {type(value).__name__}")
            if not value.strip():
                raise DataError(where, f"field {name!r} is empty")
            row[name] = unicodedata.normalize("NFC", value)
        row["_line"] = where
        rows.append(row)
    if not rows:
        raise DataError(str(path), "file holds no pairs")
    return rows


def _split(rows: list[dict[str, Any]], fraction: float, seed: int) -> tuple[list, list]:
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(rows) * fraction)) if len(rows) > 1 else 0
    held = set(order[:n_val])
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def _pair_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["prompt"], row["chosen"], row["rejected"]


def _dedupe(rows: list[dict], split: str, report: DataReport, seen: set, leaked_from: set | None = None) -> list:
    report.read[split] += len(rows)
    kept = []
    for row in rows:
        key = _pair_key(row)
        reason = (
            "identical_chosen_rejected"
            if row["chosen"] == row["rejected"]
            else "duplicate"
            if key in seen
            else "in_train"
            if leaked_from is not None and key in leaked_from
            else None
        )
        if reason:
            report.dropped[f"{split}/{reason}"] += 1
            continue
        seen.add(key)
        kept.append(row)
    report.kept[split] += len(kept)
    return kept
