"""Pair files into multiple-choice questions: `python -m arabic_pref.data to-mc PAIRS OUT`.

EXAMS-style preference data repeats one question with its correct option as `chosen` and each wrong option as
`rejected`. Grouped by (prompt, chosen), those pairs are one multiple-choice question: the chosen answer plus the
distinct rejected ones, which the capability guard (`eval_mc_sets`) scores the way leaderboards do. The correct
option is placed at a position drawn from a hash of the question, so the gold index is spread over positions and
the same file always converts the same way. A rejected text equal to its chosen one (a wart real data has) is
dropped; a question left with fewer than two options is skipped and counted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from arabic_pref.chat_format import response_text
from arabic_pref.data.readers import read_source
from arabic_pref.data.records import RecordChecker
from arabic_pref.errors import DataError


def questions_from_pairs(pairs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """(questions in first-seen order, how many groups were skipped with fewer than two options)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for pair in pairs:
        if not isinstance(pair["prompt"], str):
            continue  # a conversation has no single question text
        chosen, rejected = response_text(pair["chosen"]), response_text(pair["rejected"])
        wrong = groups.setdefault((pair["prompt"], chosen), [])
        if rejected != chosen and rejected not in wrong:
            wrong.append(rejected)
    questions, skipped = [], 0
    for (prompt, chosen), wrong in groups.items():
        if not wrong:
            skipped += 1
            continue
        gold = int(hashlib.sha256(prompt.encode("utf-8")).hexdigest(), 16) % (len(wrong) + 1)
        questions.append({"question": prompt, "choices": [*wrong[:gold], chosen, *wrong[gold:]], "gold": gold})
    return questions, skipped


def convert(pairs_path: str, out_path: Path) -> tuple[int, int]:
    """Write the questions of a pair file (any supported format, all splits) as JSONL; (written, skipped)."""
    source = read_source(pairs_path)
    checker = RecordChecker()
    pairs = [checker.check(where, value) for rows in source.splits.values() for where, value in rows]
    questions, skipped = questions_from_pairs(pairs)
    if not questions:
        raise DataError(pairs_path, "no prompt repeats with the same chosen answer: nothing to turn into questions")
    from arabic_pref.metadata import atomic_write_text

    atomic_write_text(out_path, "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions))
    return len(questions), skipped
