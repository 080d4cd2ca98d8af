"""Reading pairs kept as tables or on the hub: Parquet and CSV files, `save_to_disk` folders, hub dataset ids.

Users keep preference data where their tools put it: Parquet from a pipeline, CSV from a spreadsheet, a
`datasets` folder, a hub dataset. Each is turned into the same located raw records as JSONL (`"file: row 7"`),
so every record goes through the same checks in `records` and a bad row is named by its 1-based row number.

- Parquet is read with pyarrow (what `datasets` uses underneath), row by row as Python values, so nested
  conversational columns arrive as message lists.
- CSV is read with the standard library: cells are text, as in the file. Score columns (`chosen_score`,
  `rejected_score`) are parsed as numbers and an empty cell outside the pair fields is a missing value, because
  a CSV cell has no type; a row with more or fewer cells than the header is an error naming the row.
- A hub dataset is loaded with `datasets.load_dataset` (config name, split, revision). When the hub cannot be
  reached (no route, or `HF_HUB_OFFLINE` set) it is read from the local cache in offline mode; when it is not
  cached either, the error says so at once instead of waiting on the network.

Heavy imports (pyarrow, datasets) happen only for the format that needs them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from arabic_pref import hub
from arabic_pref.data.json_text import Located
from arabic_pref.errors import DataError

SPLITS = ("train", "validation", "test")
CSV_NUMBER_FIELDS = ("chosen_score", "rejected_score")
CSV_TEXT_FIELDS = ("prompt", "chosen", "rejected")
CSV_DELIMITERS = {".csv": ",", ".tsv": "\t"}
PARQUET_MAGIC = b"PAR1"


def row_location(name: str, row: int) -> str:
    return f"{name}: row {row}"


def read_parquet(path: Path) -> tuple[dict[str, list[Located]], str]:
    """All rows of a Parquet file as the train split, and the file's SHA-256."""
    import pyarrow.parquet as pq

    raw = path.read_bytes()
    if not raw:
        raise DataError(str(path), "file holds no pairs (it is empty)")
    if not (raw.startswith(PARQUET_MAGIC) and raw.endswith(PARQUET_MAGIC)):
        raise DataError(str(path), "not a Parquet file (it does not start and end with the PAR1 marker)")
    try:
        table = pq.read_table(io.BytesIO(raw))
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ...: the file is not readable Parquet
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(str(path), f"not a readable Parquet file ({reason})") from None
    rows = table.to_pylist()
    if not rows:
        raise DataError(str(path), "file holds no pairs (the table has no rows)")
    return {"train": [(row_location(str(path), i), r) for i, r in enumerate(rows, start=1)]}, _sha256(raw)


def read_csv(path: Path, text: str, content_hash: str) -> tuple[dict[str, list[Located]], str]:
    """All rows of a CSV (or TSV) file as the train split; `text` is the file's already-decoded text."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=CSV_DELIMITERS.get(path.suffix.lower(), ","))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as e:
        raise DataError(str(path), f"no CSV header ({e})" if str(e) else "no CSV header") from None
    header = [h.strip() for h in header]
    missing = [f for f in CSV_TEXT_FIELDS if f not in header]
    if missing:
        shown = ", ".join(repr(h) for h in header)
        raise DataError(
            f"{path}:1",
            f"the header has columns {shown}; missing {', '.join(map(repr, missing))} (the first row "
            "must name the columns prompt, chosen, rejected)",
        )
    rows = []
    try:
        for i, cells in enumerate(reader, start=1):
            if not cells:
                continue  # a blank line
            where = row_location(str(path), i)
            if len(cells) != len(header):
                raise DataError(where, f"has {len(cells)} cells, the header has {len(header)}")
            rows.append((where, _csv_record(dict(zip(header, cells, strict=True)), where)))
    except csv.Error as e:
        raise DataError(f"{path}:{reader.line_num}", f"malformed CSV ({e})") from None
    if not rows:
        raise DataError(str(path), "file holds no pairs (only a header)")
    return {"train": rows}, content_hash


def _csv_record(cells: dict[str, str], where: str) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, cell in cells.items():
        if key in CSV_TEXT_FIELDS:
            record[key] = cell
        elif not cell.strip():
            record[key] = None
        elif key in CSV_NUMBER_FIELDS:
            try:
                record[key] = float(cell)
            except ValueError:
                raise DataError(where, f"field {key!r} must be a number or empty, got {cell!r}") from None
        else:
            record[key] = cell
    return record


# A missing `dir/pairs.jsonl` is a typo in a local path, not a hub id: say "no such file" for it.
FILE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet", ".csv", ".tsv", ".arrow", ".xlsx", ".gz", ".zip")


def looks_like_hub_id(name: str) -> bool:
    """`org/name` (one slash, not a path, no data-file suffix): what the hub calls a dataset id."""
    plain = not name.startswith((".", "/", "~")) and name.count("/") == 1 and "\\" not in name
    return plain and not name.lower().endswith(FILE_SUFFIXES)


def read_hub(
    repo_id: str, config_name: str | None, split: str | None, revision: str | None
) -> tuple[dict[str, list[Located]], str, list[str]]:
    """A hub dataset's splits (train, and validation/test when it has them), a content hash, and notes."""
    offline = hub.offline_by_env() or not hub.reachable()
    why = "HF_HUB_OFFLINE is set" if hub.offline_by_env() else f"the hub ({hub.host()[0]}) is unreachable"
    with hub.offline_mode(offline):
        import datasets

        try:
            loaded = datasets.load_dataset(repo_id, name=config_name, split=split, revision=revision)
        except Exception as e:  # any failure to find or read the dataset: name it, never a traceback
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            where = f"hub dataset {repo_id}" + (f" (config {config_name})" if config_name else "")
            if offline:
                raise DataError(
                    where,
                    f"not in the local Hugging Face cache and {why} ({reason}); download it where there is network "
                    "(same config and revision), or save it to a local Parquet/JSONL file or a save_to_disk folder",
                ) from None
            raise DataError(where, f"cannot be loaded ({reason})") from None
    notes = [f"read from the local cache ({why})"] if offline else []
    if isinstance(loaded, datasets.DatasetDict):
        if "train" not in loaded:
            names = ", ".join(loaded) or "none"
            raise DataError(repo_id, f"dataset has splits {names}; pick the training one with dataset_split=NAME")
        parts = {name: loaded[name] for name in SPLITS if name in loaded}
        ignored = sorted(set(loaded) - set(parts))
        notes += [f"ignored splits: {', '.join(ignored)}"] if ignored else []
    else:
        parts = {"train": loaded}
    splits: dict[str, list[Located]] = {}
    hasher = hashlib.sha256()
    for name, dataset in parts.items():
        rows = dataset.to_list()
        if not rows:
            raise DataError(f"{repo_id}/{name}", f"split {name!r} holds no pairs")
        splits[name] = [(row_location(f"{repo_id}/{name}", i), r) for i, r in enumerate(rows, start=1)]
        for row in rows:
            hasher.update(json.dumps(row, ensure_ascii=False, sort_keys=True, default=str).encode())
            hasher.update(b"\n")
    return splits, hasher.hexdigest(), notes


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
