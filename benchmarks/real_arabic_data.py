"""The real Arabic pairs of benchmarks/real_arabic.py: reading, the EXAMS-ar split by question, held-out questions.

EXAMS-ar (`exams_ar_pairs.jsonl`: a school exam question; chosen = the correct option, rejected = one wrong option,
three pairs a question) is split BY QUESTION, so no question is on both sides: whole questions in a seeded order go
to the held-out side until it has at least 500 pairs, then to validation, then to training; the one pair whose
chosen and rejected texts are identical is dropped. The split is written (SHA-256 of each question's text, not the
text) to benchmarks/exams_ar_split.json, so the capability guard's figures use only held-out questions: a question
trained on would inflate the "after" score.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from arabic_pref.data.to_multiple_choice import questions_from_pairs
from arabic_pref.evaluation.multiple_choice import Question

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SPLIT_FILE = Path(__file__).resolve().parent / "exams_ar_split.json"


def read_pairs(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]


def question_order(pairs: list[dict], seed: int) -> list[str]:
    questions = sorted({p["prompt"] for p in pairs})
    random.Random(seed).shuffle(questions)
    return questions


def split_exams(
    pairs: list[dict], min_heldout: int, n_validation: int, seed: int, out: Path | None = SPLIT_FILE
) -> dict[str, list[dict]]:
    """Whole questions to held-out until >= min_heldout pairs, then validation, then training; written to `out`."""
    identical = sum(p["chosen"] == p["rejected"] for p in pairs)
    pairs = [p for p in pairs if p["chosen"] != p["rejected"]]
    by_question: dict[str, list[dict]] = {}
    for p in pairs:
        by_question.setdefault(p["prompt"], []).append(p)
    sides: dict[str, list[dict]] = {"heldout": [], "validation": [], "train": []}
    owner = {}
    for q in question_order(pairs, seed):
        side = "heldout" if len(sides["heldout"]) < min_heldout else "validation"
        side = side if side == "heldout" or len(sides["validation"]) < n_validation else "train"
        sides[side] += by_question[q]
        owner[hashlib.sha256(q.encode()).hexdigest()] = side
    if out is None:
        return sides
    out.write_text(
        json.dumps(
            {
                "source": "exams_ar_pairs.jsonl (../shared/data); key = SHA-256 of the UTF-8 prompt text",
                "seed": seed,
                "pairs": {k: len(v) for k, v in sides.items()},
                "dropped_identical_pairs": identical,
                "questions": dict(sorted(owner.items())),
            },
            indent=1,
        )
        + "\n"
    )
    return sides


def first_questions(pairs: list[dict], n: int, seed: int) -> list[dict]:
    """The first n pairs (0 = all) in a seeded order of whole questions."""
    if n <= 0 or n >= len(pairs):
        return pairs
    rank = {q: i for i, q in enumerate(question_order(pairs, seed + 1))}
    return sorted(pairs, key=lambda p: rank[p["prompt"]])[:n]


def heldout_questions(heldout: list[dict], split_file: Path = SPLIT_FILE) -> list[Question]:
    """The held-out pairs as multiple-choice questions (the converter of `arabic-pref data to-mc`), each checked
    against the committed split: a question the split does not mark held-out is an error, not a silent score."""
    sides = json.loads(split_file.read_text())["questions"]
    rows, _ = questions_from_pairs(heldout)
    for row in rows:
        side = sides.get(hashlib.sha256(row["question"].encode()).hexdigest())
        if side != "heldout":
            raise ValueError(f"question on the {side} side of {split_file.name}: {row['question'][:60]!r}")
    return [Question(r["question"], r["choices"], r["gold"]) for r in rows]
