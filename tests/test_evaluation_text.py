"""Model-free parts of the Arabic evaluation: text metrics by hand, shipped files, names, objectives, eval_sets."""

from __future__ import annotations

import pytest

from arabic_pref.config import ConfigError, DPOConfig
from arabic_pref.evaluation import names, text_metrics
from arabic_pref.evaluation.drift import load_heldout_texts
from arabic_pref.evaluation.eval_sets import load_eval_sets, parse_entries
from arabic_pref.evaluation.generations import load_prompts
from arabic_pref.sweep.objectives import objective_value, parse_objectives


def test_script_shares_of_a_mixed_string_by_hand():
    text = "مرحبا hello 123!"  # 5 Arabic letters, 5 Latin letters; digits and punctuation are no script
    assert text_metrics.latin_share(text) == pytest.approx(0.5)
    assert text_metrics.pooled_arabic_share([text]) == pytest.approx(0.5)
    assert text_metrics.pooled_arabic_share(["مرحبا", "abcde fghij"]) == pytest.approx(5 / 15)  # pooled letters
    assert text_metrics.latin_share("1958") is None and not text_metrics.switches_to_latin("1958")
    assert text_metrics.latin_share("السلام عليكم ok") == pytest.approx(2 / 13)  # 11 Arabic letters


def test_latin_switch_threshold():
    assert not text_metrics.switches_to_latin("السلام عليكم يا صديقي AI")  # 2 of 20 letters
    assert text_metrics.switches_to_latin("مرحبا I am fine")  # 7 of 12 letters


def test_repetition_of_a_known_sequence_by_hand():
    # bigrams ab ba ab ba ab: 2 distinct of 5, so 3 of 5 repeat an earlier one
    assert text_metrics.repetition(["a b a b a b"], n=2) == pytest.approx(0.6)
    assert text_metrics.repetition(["a b c d"], n=2) == 0.0
    # pooled: 5 bigrams (3 repeats) + 3 bigrams (0 repeats): 3 / 8; repeats are counted within one text only
    assert text_metrics.repetition(["a b a b a b", "a b c d"], n=2) == pytest.approx(3 / 8)
    assert text_metrics.repetition(["و و و و و"], n=3) == pytest.approx(2 / 3)
    assert text_metrics.repetition(["قصير"], n=3) == 0.0  # no trigram at all


def test_length_ratio_and_response_metrics_by_hand():
    assert text_metrics.length_ratio([10, 20], [10, 10]) == pytest.approx(1.5)
    assert text_metrics.length_ratio([3], [0]) is None
    m = text_metrics.response_metrics(["مرحبا بك", "hello there"], [4, 2], [True, False])
    assert m["eot_share"] == 0.5 and m["latin_switch_share"] == 0.5 and m["mean_tokens"] == 3.0
    assert m["arabic_share"] == pytest.approx(7 / 17)
    assert text_metrics.response_metrics(["...", "42"], [1, 1], [True, True])["arabic_share"] == 0.0


def test_shipped_prompts_and_heldout_texts():
    prompts = load_prompts(None)
    assert len(prompts) >= 24
    assert {"msa", "egyptian", "gulf", "levantine", "maghrebi"} <= {p["dialect"] for p in prompts}
    assert len({p["register"] for p in prompts}) >= 4
    assert all(text_metrics.pooled_arabic_share([p["prompt"]]) > 0.9 for p in prompts)
    texts = load_heldout_texts(None)
    assert len(texts) >= 24 and all(text_metrics.pooled_arabic_share([t]) > 0.9 for t in texts)


def test_bad_prompt_file_names_file_and_line(tmp_path):
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"prompt": "سؤال"}\n{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"eval_prompts_path: .*p.jsonl:2: expected an object"):
        load_prompts(str(bad))


def test_eval_set_entries_and_config_checks(tmp_path):
    assert parse_entries(["a/b/arcd_test.jsonl", "exams=x.jsonl"]) == [
        ("arcd_test", "a/b/arcd_test.jsonl"),
        ("exams", "x.jsonl"),
    ]
    with pytest.raises(ConfigError, match="eval_sets: name 'x' is used twice"):
        DPOConfig(eval_sets=["x=a.jsonl", "x=b.jsonl"])
    with pytest.raises(ConfigError, match="eval_sets: name 'a b'"):
        DPOConfig(eval_sets=["a b=c.jsonl"])
    with pytest.raises(ConfigError, match="eval_max_new_tokens"):
        DPOConfig(eval_max_new_tokens=0)
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"prompt": "س", "chosen": "ج", "rejected": "ر"}\n{"prompt": "س", "chosen": "ج"}\n')
    with pytest.raises(ConfigError, match=r"^eval_sets: mine: .*pairs.jsonl:2.*rejected"):
        load_eval_sets([f"mine={bad}"])
    with pytest.raises(ConfigError, match="eval_sets: gone: .*no such file"):
        load_eval_sets([f"gone={tmp_path / 'gone.jsonl'}"])


def test_metric_names_and_parts():
    assert names.is_known_metric("drift/kl_per_token") and names.is_known_metric("gen/arabic_share")
    assert names.is_known_metric("eval_set/arcd/preference_accuracy_per_token", ["arcd"])
    assert not names.is_known_metric("eval_set/other/preference_accuracy", ["arcd"])
    assert not names.is_known_metric("eval_set/arcd/eval_loss", ["arcd"])
    assert names.parts_needed(["preference_accuracy", "drift/kl_per_token"]) == {names.KL}
    assert names.parts_needed(["gen/repetition", "eval_set/a/reward_margin"]) == {names.GENERATIONS, names.EVAL_SETS}


def test_sweep_objectives_single_and_multi():
    assert parse_objectives("preference_accuracy", "maximize") == [("preference_accuracy", "maximize")]
    assert parse_objectives(["preference_accuracy", "drift/kl_per_token"], ["maximize", "minimize"]) == [
        ("preference_accuracy", "maximize"),
        ("drift/kl_per_token", "minimize"),
    ]
    assert parse_objectives(["eval_set/exams/preference_accuracy"], ["maximize"], ["exams"])
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.objective: unknown metric 'eval_loss'"):
        parse_objectives("eval_loss", "minimize")
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.objective: 2 metrics but 1 directions"):
        parse_objectives(["preference_accuracy", "drift/kl_per_token"], "maximize")
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.direction: must be maximize or minimize"):
        parse_objectives(["preference_accuracy"], ["up"])
    with pytest.raises(ConfigError, match="names a metric twice"):
        parse_objectives(["reward_margin", "reward_margin"], ["maximize", "maximize"])
    summary = {"preference_accuracy": 0.75, "drift/kl_per_token": 0.01}
    assert objective_value(summary, ["preference_accuracy"]) == 0.75
    assert objective_value(summary, ["preference_accuracy", "drift/kl_per_token"]) == (0.75, 0.01)
    with pytest.raises(KeyError, match="gen/repetition"):
        objective_value(summary, ["gen/repetition"])


def test_tatweel_and_non_letters_carry_no_script():
    assert text_metrics.script_shares("ـــــ") is None  # tatweel alone: no letter at all
    assert text_metrics.pooled_arabic_share(["مـــصر ok"]) == pytest.approx(3 / 5)  # م ص ر against o k
    assert text_metrics.response_metrics(["ـــ 123 !!"], [3], [True])["arabic_share"] == 0.0


def test_a_drift_into_chinese_shows_as_other_script_not_as_latin():
    m = text_metrics.response_metrics(["مصر 中国人"], [4], [True])
    assert m["other_script_share"] == pytest.approx(3 / 6) and m["arabic_share"] == pytest.approx(3 / 6)
    assert m["latin_switch_share"] == 0.0
    assert text_metrics.script_shares("Привет")["other"] == 1.0  # Cyrillic


def test_persian_and_urdu_letters_are_flagged_per_answer():
    # Arabic ي and ك against Persian ی and ک; پ and گ exist in Persian only
    assert not text_metrics.has_persian_urdu_letters("كيف حالك يا صديقي")
    assert text_metrics.has_persian_urdu_letters("این کتاب")
    m = text_metrics.response_metrics(["پدر", "أب", "گل", "ابن"], [1, 1, 1, 1], [True] * 4)
    assert m["persian_urdu_share"] == 0.5 and m["arabic_share"] == 1.0  # still the Arabic block


def test_repetition_ignores_punctuation_at_word_edges():
    assert text_metrics.words("مصر، مصر. «مصر» - 3") == ["مصر", "مصر", "مصر", "3"]
    assert text_metrics.repetition(["مصر، مصر مصر. مصر"], n=2) == pytest.approx(2 / 3)


def test_capped_share_counts_answers_the_budget_cut():
    m = text_metrics.response_metrics(["a", "b", "c", "d"], [48, 48, 10, 48], [False, True, False, False], budget=48)
    assert m["capped_share"] == 0.5  # the 1st and 4th hit 48 without an end of turn; the 3rd stopped otherwise
    assert "capped_share" not in text_metrics.response_metrics(["a"], [1], [True])
