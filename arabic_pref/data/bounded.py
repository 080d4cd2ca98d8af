"""Reading a text file with a cap on the size of each line, so a line of gigabytes is refused, not loaded.

A JSONL file whose "line" is a gigabyte-long blob (a file written without newlines, a binary dump) used to be read
whole and parsed, exhausting memory before any message. Files are read here one line at a time with
`readline(cap + 1)`: no line longer than the cap is ever held in memory, and the error names the file, the line
and the cap. The cap is `MAX_LINE_BYTES` (64 MiB), or the environment variable `ARABIC_PREF_MAX_LINE_BYTES`.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_LINE_BYTES = 64 * 1024 * 1024
MAX_LINE_ENV = "ARABIC_PREF_MAX_LINE_BYTES"


class LineTooLong(ValueError):
    def __init__(self, line: int, cap: int):
        self.line = line
        self.cap = cap
        super().__init__(
            f"line {line} is longer than {cap} bytes (the per-line cap; raise it with {MAX_LINE_ENV}=BYTES if the "
            "file is really meant to hold such lines)"
        )


def max_line_bytes() -> int:
    value = os.environ.get(MAX_LINE_ENV)
    return int(value) if value and value.isdigit() and int(value) > 0 else MAX_LINE_BYTES


def read_bounded(path: Path) -> bytes:
    """The file's bytes; LineTooLong (naming the line) when a line exceeds the cap. OSError passes through."""
    cap = max_line_bytes()
    parts = []
    with open(path, "rb") as f:
        number = 0
        while True:
            line = f.readline(cap + 1)
            if not line:
                break
            number += 1
            if len(line) > cap:
                raise LineTooLong(number, cap)
            parts.append(line)
    return b"".join(parts)
