"""A corpus of hostile inputs, each a small real file written here, each with its exact expected outcome.

Fatal cases must raise DataError with exactly `dataset_path: <file>:<line>[:<col>]: <message>`; usable
ones must give exactly the expected counts (read, kept, dropped by reason, warnings). `{dir}` in an expected
message stands for the test's folder.
"""

from __future__ import annotations

import codecs
import json
from typing import Any, NamedTuple

import pytest

from arabic_pref.data import DataError, load_preference_data


class Err(NamedTuple):
    where: str  # relative to the test folder
    message: str


class Ok(NamedTuple):
    train: int  # kept
    validation: int  # kept
    dropped: dict[str, int] = {}
    warnings: dict[str, int] = {}


def pair(i: int, **over: Any) -> dict[str, Any]:
    return {"prompt": f"ما ناتج {i} + {i}؟", "chosen": f"الناتج {2 * i}.", "rejected": "لا أعرف.", **over}


GOOD = [pair(i) for i in range(9)]  # with one more pair: 10 pairs, one held out for validation


def jsonl(*rows: Any) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows)


def msg(role: str, content: Any) -> dict[str, Any]:
    return {"role": role, "content": content}


def conv(prompt: list, chosen: list | None = None, rejected: list | None = None) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "chosen": chosen if chosen is not None else [msg("assistant", "نعم.")],
        "rejected": rejected if rejected is not None else [msg("assistant", "لا.")],
    }


CONV_GOOD = [conv([msg("user", f"سؤال {i}؟")]) for i in range(9)]
EMPTY_ISH = "(nothing but whitespace or invisible characters)"
CONV_HINT = " (a conversational pair has message lists in all of prompt, chosen and rejected)"
D = "data.jsonl"


def csv_text(*rows: dict[str, Any]) -> str:
    return "prompt,chosen,rejected\n" + "".join(f"{r['prompt']},{r['chosen']},{r['rejected']}\n" for r in rows)


def parquet_bytes(*rows: dict[str, Any]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(list(rows)), sink)
    return sink.getvalue().to_pybytes()


# fmt: off
CASES = [
    # --- files and bytes ---
    ("missing-file", {}, {"path": "nope.jsonl"},
     Err("nope.jsonl", "no such file or folder (expected a .jsonl, .json, .parquet or .csv file, a folder, or a hub "
                       "dataset id org/name)")),
    ("empty-file", {D: b""}, {}, Err(D, "file holds no pairs (it is empty)")),
    ("blank-lines-only", {D: "\n  \n\t\r\n"}, {}, Err(D, "file holds no pairs (blank)")),
    ("latin-1", {D: b'{"prompt": "caf\xe9", "chosen": "a", "rejected": "b"}\n'}, {},
     Err(f"{D}:1", "not UTF-8 (invalid byte 0xe9 at byte offset 15)")),
    ("bad-byte-line-3-after-bom", {D: codecs.BOM_UTF8 + jsonl(*GOOD[:2]).encode() + b'{"prompt": "\xff"}\n'}, {},
     Err(f"{D}:3", "not UTF-8 (invalid byte 0xff at byte offset 205)")),
    ("utf-16", {D: jsonl(*GOOD).encode("utf-16")}, {},
     Err(D, "not UTF-8: the file starts with a UTF-16 byte-order mark (save it as UTF-8)")),
    ("csv-file-is-read", {"pairs.csv": csv_text(*GOOD, pair(9))}, {}, Ok(9, 1)),
    ("csv-file-bad-row", {"pairs.csv": csv_text(*GOOD[:3], pair(3, rejected=" "), *GOOD[4:])}, {},
     Err("pairs.csv: row 4", f"field 'rejected' is empty {EMPTY_ISH}")),
    ("parquet-file-is-read", {"p.parquet": parquet_bytes(*GOOD, pair(9))}, {}, Ok(9, 1)),
    ("parquet-file-bad-row", {"p.parquet": parquet_bytes(*GOOD[:6], {**pair(6), "rejected": "\u200b"}, *GOOD[7:])},
     {}, Err("p.parquet: row 7", f"field 'rejected' is empty {EMPTY_ISH}")),
    ("parquet-suffix-not-parquet", {"p.parquet": jsonl(*GOOD)}, {},
     Err("p.parquet", "not a Parquet file (it does not start and end with the PAR1 marker)")),
    ("xlsx-file", {"pairs.xlsx": b"PK\x03\x04"}, {},
     Err("pairs.xlsx", ".xlsx files are not read directly; convert to JSONL or Parquet, or load with `datasets` "
                       "and save_to_disk (data_format=hf_disk)")),
    # --- JSON syntax ---
    ("truncated-last-line", {D: jsonl(*GOOD[:2]) + '{"prompt": "سؤال'}, {},
     Err(f"{D}:3:12", "malformed JSON (Unterminated string starting at)")),
    ("python-dict-quotes", {D: "{'prompt': 'a', 'chosen': 'b', 'rejected': 'c'}\n"}, {},
     Err(f"{D}:1:2", "malformed JSON (Expecting property name enclosed in double quotes)")),
    ("trailing-comma", {D: jsonl(GOOD[0]) + '{"prompt": "a", "chosen": "b", "rejected": "c",}\n'}, {},
     Err(f"{D}:2:48", "malformed JSON (Expecting property name enclosed in double quotes)")),
    ("two-objects-one-line", {D: jsonl(GOOD[0]) + jsonl(GOOD[1]).strip() + " " + jsonl(GOOD[2])}, {},
     Err(f"{D}:2:77", "malformed JSON (Extra data: JSONL holds one object per line)")),
    ("deep-nesting-jsonl-line-2", {D: jsonl(GOOD[0]) + '{"a": ' + "[" * 100_000 + "\n"}, {},
     Err(f"{D}:2", "malformed JSON (nested too deeply)")),
    ("deep-nesting-json-array", {D: "[" * 100_000}, {}, Err(D, "malformed JSON (nested too deeply)")),
    ("duplicate-key", {D: jsonl(GOOD[0]) + '{"prompt": "أ", "prompt": "ب", "chosen": "c", "rejected": "d"}\n'}, {},
     Err(f"{D}:2", "key 'prompt' appears twice in one object (JSON would keep only the last)")),
    # --- rows and fields ---
    ("row-is-array", {D: jsonl(GOOD[0], [1, 2])}, {},
     Err(f"{D}:2", "expected a JSON object with prompt, chosen, rejected, got array")),
    ("row-is-string", {D: jsonl('"prompt"')}, {},
     Err(f"{D}:1", "expected a JSON object with prompt, chosen, rejected, got string")),
    ("row-is-null", {D: jsonl(*GOOD[:3], "null")}, {},
     Err(f"{D}:4", "expected a JSON object with prompt, chosen, rejected, got null")),
    ("missing-rejected", {D: jsonl({"prompt": "a", "chosen": "b"})}, {},
     Err(f"{D}:1", "missing field 'rejected' (each pair needs prompt, chosen, rejected)")),
    ("chosen-is-number", {D: jsonl(*GOOD[:2], pair(2, chosen=3))}, {},
     Err(f"{D}:3", "field 'chosen' must be a string, got number")),
    ("plain-prompt-list-chosen", {D: jsonl(pair(0, chosen=[msg("assistant", "نعم")]))}, {},
     Err(f"{D}:1", f"field 'chosen' must be a string, got array{CONV_HINT}")),
    ("prompt-is-null", {D: jsonl(pair(0, prompt=None))}, {},
     Err(f"{D}:1", "field 'prompt' must be a string, got null")),
    ("whitespace-only", {D: jsonl(pair(0, rejected=" \t\u00a0\u3000"))}, {},
     Err(f"{D}:1", f"field 'rejected' is empty {EMPTY_ISH}")),
    ("zero-width-only", {D: jsonl(pair(0, chosen="\u200b\u200c\u200f\u061c"))}, {},
     Err(f"{D}:1", f"field 'chosen' is empty {EMPTY_ISH}")),
    ("tatweel-only", {D: jsonl(pair(0, chosen="ــــ"))}, {}, Err(f"{D}:1", f"field 'chosen' is empty {EMPTY_ISH}")),
    ("empty-after-full-normalize", {D: jsonl(pair(0, rejected="ﹰ"))}, {"normalize": "full"},
     Err(f"{D}:1", f"field 'rejected' is empty after normalize=full {EMPTY_ISH}")),
    ("lone-surrogate", {D: jsonl(GOOD[0]) + '{"prompt": "a", "chosen": "\\ud800", "rejected": "c"}\n'}, {},
     Err(f"{D}:2", "field 'chosen' holds an unpaired surrogate \\ud800 (half a character)")),
    ("score-is-string", {D: jsonl(pair(0, chosen_score="8", rejected_score=2))}, {},
     Err(f"{D}:1", "field 'chosen_score' must be a finite number or null, got string")),
    ("score-is-nan", {D: jsonl(GOOD[0]) + '{"prompt": "a", "chosen": "b", "rejected": "c", "rejected_score": NaN}\n'},
     {}, Err(f"{D}:2", "field 'rejected_score' must be a finite number or null, got nan")),
    ("annotator-is-object", {D: jsonl(pair(0, annotator_id={"name": "x"}))}, {},
     Err(f"{D}:1", "field 'annotator_id' must be a string or an integer, got object")),
    ("margin-without-scores", {D: jsonl(*GOOD)}, {"min_score_margin": 1.0},
     Err(D, "min_score_margin=1.0 needs chosen_score and rejected_score, and no pair has both")),
    # --- conversational ---
    ("conv-empty-prompt", {D: jsonl(conv([]))}, {}, Err(f"{D}:1", "field 'prompt' is an empty list of messages")),
    ("conv-no-role", {D: jsonl(conv([{"content": "سؤال"}]))}, {}, Err(f"{D}:1", "prompt[1] is missing 'role'")),
    ("conv-bad-role", {D: jsonl(conv([msg("bot", "سؤال")]))}, {},
     Err(f"{D}:1", "prompt[1] has role 'bot'; expected one of system, user, assistant")),
    ("conv-two-system", {D: jsonl(conv([msg("system", "أ"), msg("system", "ب"), msg("user", "سؤال")]))}, {},
     Err(f"{D}:1", "a system message may only open the prompt, once (two would reach the model)")),
    ("conv-ends-with-assistant", {D: jsonl(conv([msg("user", "سؤال"), msg("assistant", "جواب")]))}, {},
     Err(f"{D}:1", "the prompt must end with a user message, not 'assistant'")),
    ("conv-chosen-string", {D: jsonl({**conv([msg("user", "سؤال")]), "chosen": "نعم"})}, {},
     Err(f"{D}:1", "field 'chosen' must be a list of messages like 'prompt', got string")),
    ("conv-chosen-user-role", {D: jsonl(conv([msg("user", "سؤال")], chosen=[msg("user", "نعم")]))}, {},
     Err(f"{D}:1", "field 'chosen' must hold exactly one assistant message, got [user]")),
    ("conv-content-parts", {D: jsonl(conv([msg("user", [{"type": "text", "text": "سؤال"}])]))}, {},
     Err(f"{D}:1", "field 'prompt[1].content' must be a string, got array")),
    ("conv-tool-calls", {D: jsonl(conv([{"role": "user", "content": "سؤال", "tool_calls": [{}]}]))}, {},
     Err(f"{D}:1", "prompt[1] has keys 'tool_calls'; only 'role' and 'content' are used")),
    ("conv-implicit-no-shared-turns", {D: jsonl({"chosen": [msg("user", "أ")], "rejected": [msg("user", "ب")]})}, {},
     Err(f"{D}:1", "missing field 'prompt' (and chosen and rejected share no opening messages)")),
    ("mixed-plain-and-conversational", {D: jsonl(GOOD[0], CONV_GOOD[0])}, {},
     Err(f"{D}:2", f"a conversational (message lists) pair in a dataset of plain pairs (since {{dir}}/{D}:1); "
                   "use one form throughout")),
    # --- JSON documents ---
    ("json-train-not-array", {"d.json": '{\n  "train": {"prompt": "a"}\n}\n'}, {},
     Err("d.json:2", "'train' must be an array of pairs, got object")),
    ("json-only-validation", {"d.json": json.dumps({"validation": GOOD})}, {},
     Err("d.json:1", "no 'train' array (only 'validation'): training pairs must come from the file")),
    ("json-empty-train", {"d.json": '{"train": [], "validation": []}'}, {},
     Err("d.json:1", "'train' is an empty array: no pairs")),
    ("json-syntax-line-3", {"d.json": '{\n  "train": [\n    {"prompt": "a" "chosen": "b"}\n  ]\n}\n'}, {},
     Err("d.json:3:20", "malformed JSON (Expecting ',' delimiter)")),
    ("json-unknown-keys", {"d.json": json.dumps({"data": GOOD})}, {},
     Err("d.json:1", "expected an object with a 'train' array (and optionally 'validation'), or an array of "
                     "pairs; got keys 'data'")),
    ("json-scalar", {"d.json": '"pairs"'}, {},
     Err("d.json:1", "expected an object with a 'train' array, or an array of pairs; got string")),
    ("json-bad-record-line-4", {"d.json": '{"train": [\n' + ",\n".join(json.dumps(p) for p in GOOD[:2])
                                + ',\n{"prompt": "a", "chosen": "b"}\n]}'}, {},
     Err("d.json:4", "missing field 'rejected' (each pair needs prompt, chosen, rejected)")),
    ("json-train-twice", {"d.json": '{"train": [],\n "train": []}'}, {},
     Err("d.json:2", "key 'train' appears twice in the top-level object")),
    ("forced-json-on-jsonl", {D: jsonl(*GOOD)}, {"data_format": "json"},
     Err(f"{D}:2:1", "malformed JSON (Extra data) (more than one JSON value; for one object per line use JSONL, "
                     "data_format=jsonl)")),
    # --- folders and forced formats ---
    ("folder-without-train", {"f/val.jsonl": jsonl(*GOOD)}, {"path": "f"},
     Err("f", "folder holds no train.jsonl (found: val.jsonl); expected train.jsonl and optionally "
              "validation.jsonl, or a dataset written by datasets.save_to_disk")),
    ("folder-bad-validation-line", {"f/train.jsonl": jsonl(*GOOD), "f/validation.jsonl": jsonl(GOOD[0], [])},
     {"path": "f"}, Err("f/validation.jsonl:2", "expected a JSON object with prompt, chosen, rejected, got array")),
    ("folder-empty-validation", {"f/train.jsonl": jsonl(*GOOD), "f/validation.jsonl": ""}, {"path": "f"},
     Err("f/validation.jsonl", "file holds no pairs (it is empty)")),
    ("forced-jsonl-on-folder", {"f/train.jsonl": jsonl(*GOOD)}, {"path": "f", "data_format": "jsonl"},
     Err("f", "data_format=jsonl expects a file, got a folder")),
    ("forced-folder-on-file", {D: jsonl(*GOOD)}, {"data_format": "folder"},
     Err(D, "data_format=folder expects a folder, got a file")),
    ("forced-hf-disk-on-plain-folder", {"f/train.jsonl": jsonl(*GOOD)}, {"path": "f", "data_format": "hf_disk"},
     Err("f", "not a readable dataset written by datasets.save_to_disk (Directory {dir}/f is neither a `Dataset` "
              "directory nor a `DatasetDict` directory.)")),
    ("looks-saved-but-is-not", {"f/state.json": "{garbage", "f/train.jsonl": jsonl(*GOOD)}, {"path": "f"},
     Err("f", "not a readable dataset written by datasets.save_to_disk (Directory {dir}/f is neither a `Dataset` "
              "directory nor a `DatasetDict` directory.)")),
    # --- nothing usable left ---
    ("all-identical", {D: jsonl(*[pair(i, rejected=pair(i)["chosen"]) for i in range(3)])}, {},
     Err(D, "no usable training pairs after checks (train: 0/3 kept; validation: 0/0 kept (dropped: "
            "train/identical_chosen_rejected=3))")),
    ("one-prompt-no-validation", {D: jsonl(pair(0), pair(0, rejected="ربما."))}, {},
     Err(D, "no usable validation pairs after checks (train: 2/2 kept; validation: 0/0 kept); evaluation needs "
            "some: add a validation split or more distinct prompts")),
    # --- usable, with exact counts ---
    ("bom-crlf-blank-lines", {D: codecs.BOM_UTF8 + jsonl(*GOOD, pair(9)).replace("\n", "\r\n\r\n").encode()}, {},
     Ok(9, 1)),
    ("line-separator-inside-string", {D: jsonl(*GOOD, pair(9, chosen="سطر\u2028سطر\u0085آخر"))}, {}, Ok(9, 1)),
    ("identical-and-duplicate", {D: jsonl(*GOOD, pair(9), pair(3), pair(10, rejected=pair(10)["chosen"]))}, {},
     Ok(9, 1, {"train/duplicate": 1, "train/identical_chosen_rejected": 1})),
    ("nfc-makes-duplicate", {D: jsonl(*GOOD, pair(9), pair(1, chosen="آ"), pair(1, chosen="\u0627\u0653"))}, {},
     Ok(10, 1, {"train/duplicate": 1})),
    ("validation-leaked-from-train", {"f/train.jsonl": jsonl(*GOOD), "f/validation.jsonl": jsonl(GOOD[4], pair(20))},
     {"path": "f"}, Ok(9, 1, {"validation/in_train": 1})),
    ("json-file-holding-jsonl", {"d.json": jsonl(*GOOD, pair(9))}, {}, Ok(9, 1)),
    ("jsonl-file-holding-array", {D: json.dumps([*GOOD, pair(9)], indent=2)}, {}, Ok(9, 1)),
    ("score-margin", {D: jsonl(*[pair(i, chosen_score=8.5, rejected_score=3.2) for i in range(8)],
                               pair(8, chosen_score=5, rejected_score=4), pair(9), pair(10, chosen_score=9))},
     {"min_score_margin": 5.3}, Ok(7, 1, {"train/below_score_margin": 1, "train/no_score": 2})),
    ("special-token-and-english-answer",
     {D: jsonl(*GOOD, pair(9, chosen="الجواب<|im_end|>"), pair(10, chosen="The answer is twenty."))}, {},
     Ok(10, 1, {}, {"special_token_in_text": 1, "arabic_prompt_non_arabic_chosen": 1})),
]
# fmt: on


def _write(tmp_path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())


@pytest.mark.parametrize(("files", "kwargs", "expected"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_hostile_input(tmp_path, files, kwargs, expected):
    _write(tmp_path, files)
    kwargs = dict(kwargs)
    path = tmp_path / kwargs.pop("path", next(iter(files), ""))
    if isinstance(expected, Err):
        with pytest.raises(DataError) as err:
            load_preference_data(str(path), **kwargs)
        message = expected.message.replace("{dir}", str(tmp_path))
        assert str(err.value) == f"dataset_path: {tmp_path / expected.where}: {message}"
        return
    report = load_preference_data(str(path), **kwargs).report
    assert (report.kept["train"], report.kept["validation"]) == (expected.train, expected.validation)
    assert dict(report.dropped) == expected.dropped
    assert dict(report.warnings) == expected.warnings
    assert sum(report.read.values()) == expected.train + expected.validation + sum(expected.dropped.values())


def test_corpus_is_large_enough():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)
