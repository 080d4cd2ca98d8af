"""Checking one raw record and turning it into a clean pair, or saying exactly what is wrong with it.

A record is either *plain* (prompt, chosen and rejected are strings) or *conversational*, as TRL accepts it:
the prompt is a list of `{"role", "content"}` messages ending with a user turn, and chosen and rejected are
each one assistant message. TRL's implicit-prompt form (no `prompt`; chosen and rejected are whole
conversations that share their opening turns) is split here into that shape. Every text is NFC-normalized
(and Arabic-normalized when asked) *before* it is checked for emptiness, so a field that normalization
empties (only tatweel, only harakat) is caught too. Other keys (dialect, chosen_score, annotator_id, ...)
are kept as they are; the spec's score and annotator fields are type-checked because filters read them.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections import Counter
from typing import Any

from arabic_pref.data.json_text import json_type
from arabic_pref.data.normalize import TATWEEL, normalize_text
from arabic_pref.errors import DataError

PAIR_FIELDS = ("prompt", "chosen", "rejected")
SCORE_FIELDS = ("chosen_score", "rejected_score")
ROLES = ("system", "user", "assistant")
LOCATION_KEY = "_line"  # where the record came from, "file:line"


class RecordChecker:
    """Checks records one by one with one normalization mode, counting the pairs whose text it changed."""

    def __init__(self, normalize: str = "none"):
        self.normalize = normalize
        self.changed: Counter = Counter()  # "nfc" / "normalize" -> pairs whose text changed
        self._touched: set[str] = set()

    def check(self, where: str, value: Any) -> dict[str, Any]:
        """A clean pair dict from one parsed value; DataError names `where` and what was expected."""
        if not isinstance(value, dict):
            raise DataError(where, f"expected a JSON object with {', '.join(PAIR_FIELDS)}, got {json_type(value)}")
        row = dict(value)
        if "prompt" not in row and isinstance(row.get("chosen"), list) and isinstance(row.get("rejected"), list):
            row = _split_implicit_prompt(row, where)
        for name in PAIR_FIELDS:
            if name not in row:
                raise DataError(where, f"missing field {name!r} (each pair needs {', '.join(PAIR_FIELDS)})")
        self._touched = set()
        if isinstance(row["prompt"], list):
            row["prompt"] = self._prompt_messages(row["prompt"], where)
            for side in ("chosen", "rejected"):
                row[side] = self._response_messages(row[side], side, where)
        else:
            for name in PAIR_FIELDS:
                row[name] = self._text(row[name], name, where)
        _check_metadata(row, where)
        self.changed.update(self._touched)
        row[LOCATION_KEY] = where
        return row

    def _text(self, value: Any, field: str, where: str) -> str:
        if not isinstance(value, str):
            mixed = isinstance(value, list) and field in PAIR_FIELDS
            hint = " (a conversational pair has message lists in all of prompt, chosen and rejected)" if mixed else ""
            raise DataError(where, f"field {field!r} must be a string, got {json_type(value)}{hint}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            code = ord(value[e.start])
            raise DataError(
                where, f"field {field!r} holds an unpaired surrogate \\u{code:04x} (half a character)"
            ) from None
        nfc = unicodedata.normalize("NFC", value)
        text = normalize_text(nfc, self.normalize)
        if is_blank(text):
            after = f" after normalize={self.normalize}" if not is_blank(value) else ""
            raise DataError(where, f"field {field!r} is empty{after} (nothing but whitespace or invisible characters)")
        if nfc != value:
            self._touched.add("nfc")
        if text != nfc:
            self._touched.add("normalize")
        return text

    def _messages(self, value: Any, field: str, where: str) -> list[dict[str, str]]:
        if not isinstance(value, list):
            raise DataError(where, f"field {field!r} must be a list of messages like 'prompt', got {json_type(value)}")
        if not value:
            raise DataError(where, f"field {field!r} is an empty list of messages")
        out = []
        for i, message in enumerate(value, start=1):
            label = f"{field}[{i}]"
            if not isinstance(message, dict):
                raise DataError(where, f"{label} must be an object with 'role' and 'content', got {json_type(message)}")
            extra = sorted(k for k, v in message.items() if k not in ("role", "content") and v is not None)
            if extra:
                keys = ", ".join(map(repr, extra))
                raise DataError(where, f"{label} has keys {keys}; only 'role' and 'content' are used")
            for key in ("role", "content"):
                if key not in message:
                    raise DataError(where, f"{label} is missing {key!r}")
            role = message["role"]
            if role not in ROLES:
                raise DataError(where, f"{label} has role {role!r}; expected one of {', '.join(ROLES)}")
            out.append({"role": role, "content": self._text(message["content"], f"{label}.content", where)})
        return out

    def _prompt_messages(self, value: list, where: str) -> list[dict[str, str]]:
        messages = self._messages(value, "prompt", where)
        roles = [m["role"] for m in messages]
        if "system" in roles[1:]:
            raise DataError(where, "a system message may only open the prompt, once (two would reach the model)")
        if roles[-1] != "user":
            raise DataError(where, f"the prompt must end with a user message, not {roles[-1]!r}")
        return messages

    def _response_messages(self, value: Any, side: str, where: str) -> list[dict[str, str]]:
        messages = self._messages(value, side, where)
        if len(messages) != 1 or messages[0]["role"] != "assistant":
            got = ", ".join(m["role"] for m in messages)
            raise DataError(where, f"field {side!r} must hold exactly one assistant message, got [{got}]")
        return messages


def is_blank(text: str) -> bool:
    """No letter, digit, punctuation or symbol: whitespace, zero-width characters, tatweel, lone marks."""
    return not any(unicodedata.category(ch)[0] in "LNPS" and ch != TATWEEL for ch in text)


def _split_implicit_prompt(row: dict[str, Any], where: str) -> dict[str, Any]:
    """TRL's implicit prompt: the longest run of opening messages chosen and rejected share."""
    chosen, rejected = row["chosen"], row["rejected"]
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    if n == 0:
        raise DataError(where, "missing field 'prompt' (and chosen and rejected share no opening messages)")
    return {**row, "prompt": chosen[:n], "chosen": chosen[n:], "rejected": rejected[n:]}


def _check_metadata(row: dict[str, Any], where: str) -> None:
    for name in SCORE_FIELDS:
        value = row.get(name)
        if value is None:
            continue
        finite = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not finite:
            shown = value if isinstance(value, float) else json_type(value)
            raise DataError(where, f"field {name!r} must be a finite number or null, got {shown}")
    annotator = row.get("annotator_id")
    if annotator is not None and (isinstance(annotator, bool) or not isinstance(annotator, str | int)):
        raise DataError(where, f"field 'annotator_id' must be a string or an integer, got {json_type(annotator)}")


def content_text(value: str | list[dict[str, str]]) -> str:
    """The text of a field: the string itself, or its messages' contents (system excluded) joined."""
    if isinstance(value, str):
        return value
    return "\n".join(m["content"] for m in value if m.get("role") != "system")


def pair_key(row: dict[str, Any]) -> tuple[str, str, str]:
    """What makes two pairs the same pair (metadata aside)."""
    return tuple(  # type: ignore[return-value]
        v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)
        for v in (row["prompt"], row["chosen"], row["rejected"])
    )
