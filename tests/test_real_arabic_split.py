"""The EXAMS-ar split of benchmarks/real_arabic.py: by question, >= 500 held-out pairs, the same as committed.

A later capability guard scores only the held-out questions of benchmarks/exams_ar_split.json, so the file must
be what the benchmark computes from the real pairs. Skips when ../shared/data is absent.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from benchmarks.real_arabic_data import SPLIT_FILE, heldout_questions, read_pairs, split_exams
from tests.conftest import SHARED_DATA

EXAMS = SHARED_DATA / "exams_ar_pairs.jsonl"


@pytest.mark.skipif(not EXAMS.exists(), reason="../shared/data/exams_ar_pairs.jsonl is absent")
def test_exams_split_is_by_question_and_matches_the_committed_file(tmp_path):
    pairs = read_pairs(EXAMS)
    sides = split_exams(pairs, 500, 60, 42, out=tmp_path / "split.json")
    questions = {side: {p["prompt"] for p in rows} for side, rows in sides.items()}
    assert not questions["heldout"] & (questions["train"] | questions["validation"])
    assert not questions["validation"] & questions["train"]
    assert len(sides["heldout"]) >= 500 and sum(map(len, sides.values())) == len(pairs) - 1
    assert all(p["chosen"] != p["rejected"] for rows in sides.values() for p in rows)
    committed = json.loads(SPLIT_FILE.read_text())
    assert committed == json.loads((tmp_path / "split.json").read_text())
    heldout = {hashlib.sha256(q.encode()).hexdigest() for q in questions["heldout"]}
    assert heldout == {h for h, side in committed["questions"].items() if side == "heldout"}


@pytest.mark.skipif(not EXAMS.exists(), reason="../shared/data/exams_ar_pairs.jsonl is absent")
def test_held_out_pairs_become_four_option_questions_and_a_trained_question_is_refused():
    sides = split_exams(read_pairs(EXAMS), 500, 60, 42, out=None)
    questions = heldout_questions(sides["heldout"])
    # one question per (prompt, correct option): 3 prompts recur in the source with another correct option
    assert len(questions) == len({(p["prompt"], p["chosen"]) for p in sides["heldout"]}) == 166
    assert all(len(q.choices) == 4 for q in questions)
    chosen = {(p["prompt"], p["chosen"]) for p in sides["heldout"]}
    assert all((q.question, q.choices[q.gold]) in chosen for q in questions)
    with pytest.raises(ValueError, match="on the train side"):
        heldout_questions(sides["train"][:3])
