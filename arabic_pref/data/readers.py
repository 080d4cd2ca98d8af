"""Finding and reading a dataset in any of its formats, as located raw records per split.

One entry point, `read_source`, for every shape the spec and TRL users bring: a JSONL file, a JSON file
(`{"train": [...], "validation": [...], "test": [...]}`, an array, or one pretty-printed pair), a folder with
train.jsonl and optionally validation.jsonl and test.jsonl, a dataset written by `datasets.save_to_disk`, a
Parquet or CSV file, and a hub dataset id (the last three in `table_sources`). `auto` decides from the path and
the content, not the file name alone, because .json files holding JSONL are common. Reading is strict about
bytes (UTF-8, an optional BOM) and leaves record checks to `records`. `datasets` and pyarrow are imported only
for the formats that need them: every other error is reported without loading them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arabic_pref.config import BUILTIN_DATASET, DATA_FORMATS, ConfigError
from arabic_pref.data.bounded import LineTooLong, read_bounded
from arabic_pref.data.json_text import Located, parse_json_document, parse_jsonl
from arabic_pref.data.table_sources import looks_like_hub_id, read_csv, read_hub, read_parquet
from arabic_pref.errors import DataError

SAMPLE_DIR = Path(__file__).parent / "arabic_sample"
JSONL_SUFFIXES = (".jsonl", ".ndjson")
HF_DISK_MARKERS = ("dataset_dict.json", "dataset_info.json", "state.json")
FOLDER_FILES = ("train.jsonl", "validation.jsonl", "test.jsonl")
SPLIT_NAMES = ("train", "validation", "test")
TABLE_SUFFIXES = {".parquet": "parquet", ".csv": "csv", ".tsv": "csv"}
# Formats people try that we do not read; each would otherwise fail as "not UTF-8" or "malformed JSON".
UNSUPPORTED_SUFFIXES = (".arrow", ".xlsx", ".gz", ".zip", ".bz2", ".xz")
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass
class Source:
    """What was read: raw records per split ("train", and "validation"/"test" when the data has them)."""

    path: Path
    format: str
    splits: dict[str, list[Located]]
    content_hash: str
    notes: list[str] = field(default_factory=list)


def resolve_dataset_path(path: str) -> Path:
    return SAMPLE_DIR if path == BUILTIN_DATASET else Path(path).expanduser()


def read_source(
    path: str,
    data_format: str = "auto",
    *,
    config_name: str | None = None,
    split: str | None = None,
    revision: str | None = None,
) -> Source:
    """Read `path` in `data_format` (or the detected one); DataError when it cannot be read.

    `config_name`, `split` and `revision` apply to a hub dataset id (`data_format=hub`, or an `org/name` that
    is no local path).
    """
    if data_format not in DATA_FORMATS:
        raise ConfigError("data_format", f"must be one of {', '.join(DATA_FORMATS)}; got {data_format!r}")
    root = resolve_dataset_path(path)
    is_hub = data_format == "hub" or (data_format == "auto" and not root.exists() and looks_like_hub_id(path))
    if is_hub:
        splits, content_hash, notes = read_hub(path, config_name, split, revision)
        return Source(Path(path), "hub", splits, content_hash, notes)
    if not root.exists():
        raise DataError(
            str(root),
            "no such file or folder (expected a .jsonl, .json, .parquet or .csv file, a folder, or a hub "
            "dataset id org/name)",
        )
    if root.is_dir():
        detected = "hf_disk" if any((root / m).is_file() for m in HF_DISK_MARKERS) else "folder"
        fmt = detected if data_format == "auto" else data_format
        if fmt in ("jsonl", "json", "parquet", "csv"):
            raise DataError(str(root), f"data_format={fmt} expects a file, got a folder")
        return _read_hf_disk(root) if fmt == "hf_disk" else _read_folder(root)
    if data_format in ("folder", "hf_disk"):
        raise DataError(str(root), f"data_format={data_format} expects a folder, got a file")
    if data_format == "auto" and root.suffix.lower() in UNSUPPORTED_SUFFIXES:
        raise DataError(
            str(root),
            f"{root.suffix} files are not read directly; convert to JSONL or Parquet, or load with `datasets` "
            "and save_to_disk (data_format=hf_disk)",
        )
    fmt = TABLE_SUFFIXES.get(root.suffix.lower(), "") if data_format == "auto" else data_format
    if fmt == "parquet":
        splits, content_hash = read_parquet(root)
        return Source(root, "parquet", splits, content_hash)
    hasher = hashlib.sha256()
    text = read_text(root, hasher)
    if fmt == "csv":
        splits, content_hash = read_csv(root, text, hasher.hexdigest())
        return Source(root, "csv", splits, content_hash)
    fmt = fmt or _sniff_file_format(root, text)
    splits = {"train": parse_jsonl(text, str(root))} if fmt == "jsonl" else parse_json_document(text, str(root))
    return Source(root, fmt, splits, hasher.hexdigest())


def read_text(path: Path, hasher: Any) -> str:
    """The file's text: UTF-8, with or without a BOM; empty and undecodable files are errors."""
    try:
        raw = read_bounded(path)  # a line over the cap is refused before it is in memory
    except OSError as e:
        raise DataError(str(path), f"cannot read the file ({e.strerror or e})") from None
    except LineTooLong as e:
        raise DataError(f"{path}:{e.line}", str(e)) from None
    hasher.update(raw)
    if raw.startswith(UTF16_BOMS):
        raise DataError(str(path), "not UTF-8: the file starts with a UTF-16 byte-order mark (save it as UTF-8)")
    skip = len(UTF8_BOM) if raw.startswith(UTF8_BOM) else 0
    try:
        text = raw[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = skip + e.start
        line = raw.count(b"\n", 0, offset) + 1
        raise DataError(
            f"{path}:{line}", f"not UTF-8 (invalid byte 0x{raw[offset]:02x} at byte offset {offset})"
        ) from None
    if not text.strip():
        raise DataError(str(path), "file holds no pairs (it is empty)" if not raw else "file holds no pairs (blank)")
    return text


def _sniff_file_format(path: Path, text: str) -> str:
    """JSONL or one JSON document: an array is JSON; a .jsonl name, or one whole object per line, is JSONL."""
    body = text.lstrip(" \t\r\n")
    if body.startswith("["):
        return "json"
    if path.suffix.lower() in JSONL_SUFFIXES:
        return "jsonl"
    first, _, rest = body.partition("\n")
    if not rest.strip():
        return "json"  # a single line: one object, a pair or {"train": [...]}; both read as JSON
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return "json"  # a pretty-printed document (or broken: the JSON reader names line and column)
    return "jsonl"


def _read_folder(root: Path) -> Source:
    train_file = root / "train.jsonl"
    if not train_file.is_file():
        found = ", ".join(sorted(p.name for p in root.iterdir())[:10]) or "nothing"
        raise DataError(
            str(root),
            f"folder holds no train.jsonl (found: {found}); expected train.jsonl and optionally validation.jsonl, "
            "or a dataset written by datasets.save_to_disk",
        )
    hasher = hashlib.sha256()
    splits = {}
    for name in SPLIT_NAMES:
        split_file = root / f"{name}.jsonl"
        if split_file.is_file():
            splits[name] = parse_jsonl(read_text(split_file, hasher), str(split_file))
    ignored = sorted(p.name for p in root.glob("*.json*") if p.name not in FOLDER_FILES)
    notes = [f"ignored in the folder: {', '.join(ignored)}"] if ignored else []
    return Source(root, "folder", splits, hasher.hexdigest(), notes)


def _read_hf_disk(root: Path) -> Source:
    """A Dataset or DatasetDict from `datasets.save_to_disk`; the 'line' of a record is its 1-based row."""
    import datasets  # lazily: a second of import time that no other format pays

    try:
        loaded = datasets.load_from_disk(str(root))
    except Exception as e:  # whatever load_from_disk raises, the folder is not a readable saved dataset
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(str(root), f"not a readable dataset written by datasets.save_to_disk ({reason})") from None
    notes = []
    if isinstance(loaded, datasets.DatasetDict):
        if "train" not in loaded:
            names = ", ".join(loaded) or "none"
            raise DataError(
                str(root), f"saved DatasetDict has splits {names}; expected 'train' (and 'validation', 'test')"
            )
        parts = {name: loaded[name] for name in SPLIT_NAMES if name in loaded}
        ignored = sorted(set(loaded) - set(parts))
        notes = [f"ignored splits: {', '.join(ignored)}"] if ignored else []
        prefix = {name: f"{root}/{name}" for name in parts}
    else:
        parts, prefix = {"train": loaded}, {"train": str(root)}
    splits = {}
    for name, dataset in parts.items():
        if len(dataset) == 0:
            raise DataError(prefix[name], f"split {name!r} holds no pairs")
        splits[name] = [(f"{prefix[name]}:{i}", row) for i, row in enumerate(dataset.to_list(), start=1)]
    return Source(root, "hf_disk", splits, _hash_tree(root), notes)


def _hash_tree(root: Path) -> str:
    hasher = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        hasher.update(str(path.relative_to(root)).encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()
