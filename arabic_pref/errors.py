"""The errors a user's mistake raises: the bottom layer, importing nothing, so every layer can raise them.

Each names the offending key (a config field) and, for data, the file and line. The entry points turn either into
one line and exit code 2 before any model loads (`python -m arabic_pref.train`, `python -m arabic_pref.data`).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is invalid; `key` names the offending field."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


class DataError(ConfigError):
    """The data cannot be used; the message names file, line and what was expected.

    It is a ConfigError on the key `dataset_path`, so every entry point reports it exactly like a bad config value.
    The location is `<file>:<line>[:<column>]` (or the file or folder alone when no line applies).
    """

    def __init__(self, location: str, message: str):
        super().__init__("dataset_path", f"{location}: {message}")
        self.location = location
