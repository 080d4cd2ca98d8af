"""Reading the evaluation's small shipped inputs (prompts, held-out texts): JSONL, one object per line.

Checked before any model loads; every problem is a ConfigError naming the config key, the file and the line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arabic_pref.data.bounded import LineTooLong, read_bounded
from arabic_pref.errors import ConfigError


def read_text_rows(file: Path, key: str, field: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line; each object must hold a non-empty string `field`."""
    if not file.is_file():
        raise ConfigError(key, f"{file}: no such file (expected JSONL with a {field!r} per line)")
    rows = []
    for number, line in enumerate(_text(file, key).splitlines(), 1):
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


def _text(file: Path, key: str) -> str:
    """UTF-8 text, each line within the cap (`arabic_pref.data.bounded`); a ConfigError naming file and line."""
    try:
        raw = read_bounded(file)
    except OSError as e:
        raise ConfigError(key, f"{file}: cannot read the file ({e.strerror or e})") from None
    except LineTooLong as e:
        raise ConfigError(key, f"{file}:{e.line}: {e}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(key, f"{file}:{line}: not UTF-8 (invalid byte 0x{raw[e.start]:02x})") from None
