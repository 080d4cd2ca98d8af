"""The capability guard's multiple-choice scoring, by hand: lighteval's acc_norm, the file checks, the conversion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arabic_pref.data.cli import main as data_main
from arabic_pref.errors import ConfigError
from arabic_pref.evaluation import names
from arabic_pref.evaluation.multiple_choice import (
    MCSet,
    Question,
    accuracy_metrics,
    load_mc_sets,
    predicted_choice,
    read_questions,
)

SHARED_EXAMS = Path(__file__).resolve().parents[2] / "shared" / "data" / "exams_ar_pairs.jsonl"


def test_acc_norm_divides_each_log_probability_by_the_choice_length_in_characters():
    # summed log-probs favour the short option (-2 > -5); per character the long one wins (-5/5 = -1 > -2/1)
    assert predicted_choice([-2.0, -5.0], ["أ", "ب ب ب"]) == 1
    assert predicted_choice([-2.0, -5.0], ["أب", "ب ب ب ب ب ب ب ب ب ب"]) == 1  # -1 against -0.26
    assert predicted_choice([-3.0, -3.0], ["abc", "xyz"]) == 0  # a tie goes to the first, as argmax does


def test_accuracy_delta_and_per_tag_accuracy_from_hand_made_log_likelihoods():
    questions = [
        Question("q1", ["aa", "b"], 0, {"subject": "math"}),
        Question("q2", ["a", "bb"], 1, {"subject": "math"}),
        Question("q3", ["a", "b", "c"], 2, {"subject": "history"}),
        Question("q4", ["a", "b"], 0, {"subject": "history"}),
    ]
    policy = [[-2.0, -3.0], [-1.0, -4.0], [-3.0, -2.0, -1.0], [-1.0, -1.5]]  # right, wrong, right, right
    reference = [[-2.0, -3.0], [-3.0, -2.0], [-3.0, -2.0, -1.0], [-1.0, -1.5]]  # all four right
    m = accuracy_metrics(MCSet("quiz", Path("x"), questions), policy, reference)
    assert m["mc/quiz/accuracy"] == 0.75 and m["mc/quiz/reference_accuracy"] == 1.0
    assert m["mc/quiz/delta"] == pytest.approx(-0.25) and m["mc/quiz/questions"] == 4
    assert m["mc/quiz/subject/math/accuracy"] == 0.5 and m["mc/quiz/subject/history/accuracy"] == 1.0
    # intervals: the reference is right on every question, so every resample is too; the policy's delta is 0 or
    # -1 per question, so no resample can show a gain, and one drawing q2 twice or more reaches -0.5
    assert (m["mc/quiz/reference_accuracy_ci_low"], m["mc/quiz/reference_accuracy_ci_high"]) == (1.0, 1.0)
    assert m["mc/quiz/accuracy_ci_low"] <= 0.5 and m["mc/quiz/accuracy_ci_high"] == 1.0
    assert m["mc/quiz/accuracy_n"] == 4 and m["mc/quiz/subject/math/accuracy_n"] == 2
    assert m["mc/quiz/delta_ci_high"] == 0.0 and m["mc/quiz/delta_ci_low"] <= -0.5


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "malformed JSON"),
        ('{"question": "q", "choices": ["a"], "gold": 0}', "at least 2"),
        ('{"question": "q", "choices": ["a", "b"], "gold": 2}', "'gold' must be the index"),
        ('{"question": "q", "choices": ["a", "a"], "gold": 0}', "two choices are the same"),
        ('{"question": "", "choices": ["a", "b"], "gold": 0}', "'question' must be"),
        ('{"question": "q", "choices": ["a", "b"], "gold": true}', "'gold' must be the index"),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(tmp_path, line, message):
    path = tmp_path / "mc.jsonl"
    path.write_text('{"question": "ok", "choices": ["a", "b"], "gold": 1}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"eval_mc_sets: {path}:2: .*{message}"):
        read_questions(path)


def test_the_shipped_set_loads_and_names_are_checked(tmp_path):
    (shipped,) = load_mc_sets(["builtin:arabic-mc"])
    assert shipped.name == "arabic_mc" and len(shipped.questions) == 24
    assert all(len(q.choices) == 4 for q in shipped.questions)
    with pytest.raises(ConfigError, match="name '..'"):
        load_mc_sets([f"..={shipped.path}"])
    with pytest.raises(ConfigError, match="used twice"):
        load_mc_sets(["builtin:arabic-mc", f"arabic_mc={shipped.path}"])


def test_mc_metrics_are_sweep_objectives_that_need_the_mc_part():
    assert names.is_known_metric("mc/arabic_mc/accuracy") and names.is_known_metric("mc/exams/delta")
    assert not names.is_known_metric("mc/exams/questions")
    assert names.parts_needed(["mc/exams/delta"]) == {names.MC}


def _pair_lines(rows: list[tuple[str, str, str]]) -> str:
    return "".join(json.dumps(dict(zip(("prompt", "chosen", "rejected"), r, strict=True))) + "\n" for r in rows)


def test_to_mc_groups_pairs_by_question_and_spreads_the_gold_position(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    rows = [(f"q{i}", "right", w) for i in range(8) for w in ("w1", "w2", "w3")] + [("lone", "x", "x")]
    pairs.write_text(_pair_lines(rows), encoding="utf-8")
    out = tmp_path / "mc.jsonl"
    assert data_main(["to-mc", str(pairs), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "8 questions written" in printed and "(1 with a single option skipped)" in printed
    questions = read_questions(out)
    assert len(questions) == 8 and all(sorted(q.choices) == ["right", "w1", "w2", "w3"] for q in questions)
    assert all(q.choices[q.gold] == "right" for q in questions)
    assert len({q.gold for q in questions}) > 1  # not always the first option


@pytest.mark.skipif(not SHARED_EXAMS.exists(), reason="../shared/data is not here")
def test_to_mc_turns_the_shared_exams_pairs_into_four_option_questions(tmp_path):
    out = tmp_path / "exams_mc.jsonl"
    assert data_main(["to-mc", str(SHARED_EXAMS), str(out)]) == 0
    questions = read_questions(out)
    four = [q for q in questions if len(q.choices) == 4]
    assert len(questions) >= 530 and len(four) >= 530
    assert {q.gold for q in four} == {0, 1, 2, 3}
