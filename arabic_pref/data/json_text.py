"""Parsing JSONL and JSON text into values that remember their file and line.

Every later message ("line 812: field 'chosen' is empty") needs the line a record came from. For JSONL that
is the line itself; for a JSON document (`{"train": [...], "validation": [...]}` or `[...]`) we walk the
top level with `raw_decode` to learn where each record starts. The standard library's parser is kept for the
syntax itself (its messages carry line and column) and two of its silent behaviours are turned into errors:
a key given twice in one object (json keeps the last one without a word) and nesting so deep that it would
crash the interpreter with RecursionError.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Any

from arabic_pref.errors import DataError

Located = tuple[str, Any]  # ("file:line", parsed value)
JSON_SPLITS = ("train", "validation", "test")
PAIR_KEYS = ("prompt", "chosen", "rejected")
_WS = " \t\r\n"


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


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)
EXTRA_HINT = " (more than one JSON value; for one object per line use JSONL, data_format=jsonl)"


def _decode(text: str, start: int, where: str) -> tuple[Any, int]:
    """One JSON value from text[start:]; `where` names the record for a repeated key or deep nesting."""
    try:
        return _DECODER.raw_decode(text, start)
    except _DuplicateKey as e:
        raise DataError(where, f"key {e.key!r} appears twice in one object (JSON would keep only the last)") from None
    except RecursionError:
        raise DataError(where, "malformed JSON (nested too deeply)") from None


def parse_jsonl(text: str, name: str) -> list[Located]:
    """One JSON value per non-blank line; a line holding more than one value is malformed."""
    out = []
    # split("\n"), not splitlines(): U+2028, U+0085 and friends may stand unescaped inside JSON strings.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip(_WS):
            continue
        where = f"{name}:{lineno}"
        try:
            value, end = _decode(line, _skip_ws(line, 0), where)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}:{e.colno}", f"malformed JSON ({e.msg})") from None
        if line[end:].strip(_WS):
            raise DataError(
                f"{where}:{_skip_ws(line, end) + 1}", "malformed JSON (Extra data: JSONL holds one object per line)"
            )
        out.append((where, value))
    return out


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


class _Lines:
    """Character offset -> 1-based line number."""

    def __init__(self, text: str):
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def __call__(self, offset: int) -> int:
        return bisect.bisect_left(self.newlines, offset) + 1


def _check_syntax(text: str, name: str) -> None:
    """The whole document's syntax, so an error points at its real line and column."""
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        hint = EXTRA_HINT if e.msg.startswith("Extra data") else ""
        raise DataError(f"{name}:{e.lineno}:{e.colno}", f"malformed JSON ({e.msg}){hint}") from None
    except RecursionError:
        raise DataError(name, "malformed JSON (nested too deeply)") from None


def parse_json_document(text: str, name: str) -> dict[str, list[Located]]:
    """A JSON file: `{"train": [...], "validation": [...], "test": [...]}`, a list of pairs, or one pair object.

    Returns {"train": [...]} plus "validation" and "test" when the file has them. Other top-level keys
    (metadata) are not ours and are left alone.
    """
    _check_syntax(text, name)
    lines = _Lines(text)
    start = _skip_ws(text, 0)
    where = f"{name}:{lines(start)}"
    if text[start] == "[":
        return {"train": _array(text, start, name, lines, "the file")}
    if text[start] != "{":
        value, _ = _decode(text, start, where)
        raise DataError(where, f"expected an object with a 'train' array, or an array of pairs; got {json_type(value)}")
    members = _members(text, start, name, lines)
    if not any(key in JSON_SPLITS for key, _ in members):
        if any(key in PAIR_KEYS for key, _ in members):
            return {"train": [(where, _decode(text, start, where)[0])]}  # one pair, e.g. pretty-printed
        keys = ", ".join(repr(key) for key, _ in members) or "none"
        raise DataError(
            where,
            f"expected an object with a 'train' array (and optionally 'validation'), or an "
            f"array of pairs; got keys {keys}",
        )
    splits = {}
    for key, i in members:
        if key not in JSON_SPLITS:
            continue
        if text[i] != "[":
            value, _ = _decode(text, i, f"{name}:{lines(i)}")
            raise DataError(f"{name}:{lines(i)}", f"{key!r} must be an array of pairs, got {json_type(value)}")
        splits[key] = _array(text, i, name, lines, repr(key))
    if "train" not in splits:
        raise DataError(where, "no 'train' array (only 'validation'): training pairs must come from the file")
    return splits


def _members(text: str, start: int, name: str, lines: _Lines) -> list[tuple[str, int]]:
    """(key, offset of its value) for each member of the top-level object; a repeated key is an error."""
    out: list[tuple[str, int]] = []
    i = _skip_ws(text, start + 1)
    while text[i] != "}":
        where = f"{name}:{lines(i)}"
        key, i = _decode(text, i, where)
        if key in {k for k, _ in out}:
            raise DataError(where, f"key {key!r} appears twice in the top-level object")
        i = _skip_ws(text, _skip_ws(text, i) + 1)  # past the ':'
        out.append((key, i))
        _, i = _decode(text, i, f"{name}:{lines(i)}")
        i = _skip_ws(text, i)
        if text[i] == ",":
            i = _skip_ws(text, i + 1)
    return out


def _array(text: str, start: int, name: str, lines: _Lines, what: str) -> list[Located]:
    out = []
    i = _skip_ws(text, start + 1)
    while text[i] != "]":
        where = f"{name}:{lines(i)}"
        value, i = _decode(text, i, where)
        out.append((where, value))
        i = _skip_ws(text, i)
        if text[i] == ",":
            i = _skip_ws(text, i + 1)
    if not out:
        raise DataError(f"{name}:{lines(start)}", f"{what} is an empty array: no pairs")
    return out
