"""Reading the evaluation's small shipped inputs (prompts, held-out texts): JSONL, one object per line.

Checked before any model loads; every problem is a ConfigError naming the config key, the file and the line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arabic_pref.errors import ConfigError


def read_text_rows(file: Path, key: str, field: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line; each object must hold a non-empty string `field`."""
    if not file.is_file():
        raise ConfigError(key, f"{file}: no such file (expected JSONL with a {field!r} per line)")
    rows = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(key, f"{file}:{number}: malformed JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get(field), str) or not row[field].strip():
            raise ConfigError(key, f"{file}:{number}: expected an object with a non-empty {field!r} string")
        rows.append((number, row))
    if not rows:
        raise ConfigError(key, f"{file}: no {field} lines")
    return rows
