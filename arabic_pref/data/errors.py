"""DataError: the one exception bad data raises, so every entry point reports it the same way.

It is a ConfigError on the key `dataset_path`, so `python -m arabic_pref.train` turns it into one line and
exit code 2 before any model loads, exactly like a bad config value; `python -m arabic_pref.data` does the
same. The location is `<file>:<line>[:<column>]` (or the file or folder alone when no line applies).
"""

from __future__ import annotations

from typing import Any

from arabic_pref.config import ConfigError


class DataError(ConfigError):
    """The data cannot be used; the message names file, line and what was expected."""

    def __init__(self, location: str, message: str):
        super().__init__("dataset_path", f"{location}: {message}")
        self.location = location


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, as the user wrote it (not Python's name)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
