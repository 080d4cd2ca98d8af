"""Reading pair files in every format of the spec: the shipped sample, real shared data, metadata and splits."""

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from arabic_pref.config import BUILTIN_DATASET, ConfigError
from arabic_pref.data import DataError, load_preference_data
from tests.conftest import SHARED_DATA


def _jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _pairs(n: int, start: int = 0, **extra) -> list[dict]:
    return [
        {"prompt": f"ما عاصمة البلد رقم {i}؟", "chosen": f"عاصمته المدينة {i}.", "rejected": "لا أعرف.", **extra}
        for i in range(start, start + n)
    ]


def test_shipped_sample_has_fixed_disjoint_split_with_tags():
    data = load_preference_data(BUILTIN_DATASET)
    assert (len(data.train), len(data.validation), len(data.test)) == (256, 64, 64)
    prompts = [{r["prompt"] for r in rows} for rows in (data.train, data.validation, data.test)]
    assert not prompts[0] & prompts[1] and not prompts[0] & prompts[2] and not prompts[1] & prompts[2]
    assert data.report.test_from == "the data's own test split"
    for key in ("failure", "dialect", "register"):  # the test split keeps validation's tag balance
        assert Counter(r[key] for r in data.test) == Counter(r[key] for r in data.validation), key
    assert {r["topic"] for r in data.test} == {r["topic"] for r in data.train}
    assert not data.report.dropped and data.report.format == "folder" and data.report.form == "plain"
    assert {r["dialect"] for r in data.train + data.validation} == {"msa", "egyptian", "gulf", "levantine", "maghrebi"}
    assert {r["register"] for r in data.train} == {"formal", "informal"}
    failures = {r["failure"] for r in data.train}
    assert failures == {"wrong_fact", "evasive", "rude", "off_topic", "english_switch", "too_terse"}
    assert data.report.arabic_share["prompt"] > 0.95


def test_held_out_split_is_seeded_and_keeps_each_prompt_on_one_side(tmp_path):
    rows = _pairs(30)
    rows += [{**r, "rejected": "إجابة أخرى خاطئة."} for r in rows[:10]]  # ten prompts with two pairs each
    path = _jsonl(tmp_path / "pairs.jsonl", rows)
    first = load_preference_data(str(path), validation_split=0.2, seed=1)
    again = load_preference_data(str(path), validation_split=0.2, seed=1)
    other = load_preference_data(str(path), validation_split=0.2, seed=2)
    assert [r["_line"] for r in first.validation] == [r["_line"] for r in again.validation]
    assert [r["_line"] for r in first.validation] != [r["_line"] for r in other.validation]
    assert len(first.validation) == 8 and len(first.train) == 32  # 20% of 40, whole prompts at a time
    assert not {r["prompt"] for r in first.train} & {r["prompt"] for r in first.validation}
    assert "seed 1" in first.report.validation_from


def test_extended_jsonl_keeps_metadata_filters_by_margin_and_counts_annotators(tmp_path):
    rows = [
        *_pairs(6, chosen_score=8.5, rejected_score=3.2, annotator_id="expert_1"),
        *_pairs(3, start=6, chosen_score=6.0, rejected_score=5.5, annotator_id="خبير"),
        *_pairs(3, start=9, chosen_score=9.0, rejected_score=1.0, annotator_id=7, dialect="gulf"),
    ]
    path = _jsonl(tmp_path / "scored.jsonl", rows)
    every = load_preference_data(str(path))
    assert sum(every.report.kept.values()) == 12
    data = load_preference_data(str(path), min_score_margin=5.3)  # 8.5 - 3.2 reaches 5.3 exactly
    kept = data.train + data.validation
    assert len(kept) == 9 and sum(data.report.dropped.values()) == 3
    assert {k.split("/")[1] for k in data.report.dropped} == {"below_score_margin"}
    assert {r["dialect"] for r in kept if "dialect" in r} == {"gulf"} and all("chosen_score" in r for r in kept)
    report = data.report
    assert report.annotators_read == {"expert_1": 6, "خبير": 3, "7": 3}
    assert report.annotators_kept == {"expert_1": 6, "7": 3}
    metrics = report.as_metrics()
    assert metrics["data/annotators"] == 3 and metrics["data/annotator/expert_1_kept"] == 6
    assert sum(metrics[k] for k in metrics if k.startswith("data/dropped/")) == 3
    assert {"data/train_read", "data/train_kept", "data/validation_kept"} <= set(metrics)
    assert "annotators" in report.render() and "below_score_margin" in report.summary()


def test_json_file_with_train_and_validation_names_record_lines(tmp_path):
    doc = {"train": _pairs(5), "validation": _pairs(2, start=5), "test": _pairs(3, start=7), "meta": {"v": 1}}
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    data = load_preference_data(str(path))
    assert (len(data.train), len(data.validation), len(data.test)) == (5, 2, 3)
    assert data.report.test_from == "the data's own test split" and data.report.as_metrics()["data/test_kept"] == 3
    assert data.report.format == "json" and data.report.validation_from == "the data's own validation split"
    assert data.train[1]["_line"] == f"{path}:8"  # "train": [ on line 2, each record 5 lines from line 3
    assert data.validation[0]["_line"] == f"{path}:30"


def test_folder_with_train_and_validation(tmp_path):
    _jsonl(tmp_path / "d" / "train.jsonl", _pairs(6))
    _jsonl(tmp_path / "d" / "validation.jsonl", _pairs(2, start=6))
    (tmp_path / "d" / "notes.json").write_text("{}")
    data = load_preference_data(str(tmp_path / "d"))
    assert (len(data.train), len(data.validation), len(data.test)) == (6, 2, 0)
    assert data.report.test_from == "" and "data/test_kept" not in data.report.as_metrics()
    assert data.report.notes == ["ignored in the folder: notes.json"]
    assert data.validation[1]["_line"] == f"{tmp_path}/d/validation.jsonl:2"


def _conversation(i: int, system: bool = False) -> dict:
    prompt = [{"role": "system", "content": "أجب باختصار."}] if system else []
    prompt += [{"role": "user", "content": f"سؤال رقم {i}؟"}]
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": f"جواب صحيح {i}."}],
        "rejected": [{"role": "assistant", "content": "لا أعرف."}],
    }


def test_save_to_disk_datasetdict_and_dataset(tmp_path):
    from datasets import Dataset, DatasetDict

    splits = DatasetDict(
        {
            "train": Dataset.from_list(_pairs(6, annotator_id="a")),
            "validation": Dataset.from_list(_pairs(2, start=6, annotator_id="b")),
            "test": Dataset.from_list(_pairs(1, start=8, annotator_id="c")),
        }
    )
    splits.save_to_disk(str(tmp_path / "dd"))
    data = load_preference_data(str(tmp_path / "dd"))
    assert (len(data.train), len(data.validation), len(data.test)) == (6, 2, 1) and data.report.format == "hf_disk"
    assert data.test[0]["annotator_id"] == "c" and not data.report.notes
    assert data.validation[0]["_line"] == f"{tmp_path}/dd/validation:1" and data.train[0]["annotator_id"] == "a"
    Dataset.from_list([_conversation(i) for i in range(10)]).save_to_disk(str(tmp_path / "conv"))
    conv = load_preference_data(str(tmp_path / "conv"), data_format="hf_disk")
    assert conv.report.form == "conversational" and len(conv.train) + len(conv.validation) == 10
    assert conv.train[0]["chosen"][0]["role"] == "assistant"


def test_conversational_jsonl_and_trl_implicit_prompt(tmp_path):
    explicit = [_conversation(i, system=i % 2 == 0) for i in range(8)]
    implicit = [
        {"chosen": c["prompt"] + c["chosen"], "rejected": c["prompt"] + c["rejected"]}
        for c in (_conversation(i) for i in range(8, 10))
    ]
    path = _jsonl(tmp_path / "conv.jsonl", explicit + implicit)
    data = load_preference_data(str(path))
    rows = {r["_line"]: r for r in data.train + data.validation}
    assert data.report.form == "conversational" and len(rows) == 10
    split = rows[f"{path}:10"]
    assert split["prompt"] == [{"role": "user", "content": "سؤال رقم 9؟"}]
    assert split["chosen"] == [{"role": "assistant", "content": "جواب صحيح 9."}]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is not present")
@pytest.mark.parametrize(
    ("name", "train", "validation", "dropped", "non_arabic_chosen"),
    [
        ("arcd_pairs_train.jsonl", 624, 69, {}, 23),
        ("arcd_pairs_test.jsonl", 632, 70, {}, 11),
        ("exams_ar_pairs.jsonl", 1445, 159, {"train/duplicate": 6, "train/identical_chosen_rejected": 1}, 27),
    ],
)
def test_real_shared_data_validates_with_the_readme_counts(name, train, validation, dropped, non_arabic_chosen):
    data = load_preference_data(str(SHARED_DATA / name))
    report = data.report
    read = {"arcd_pairs_train.jsonl": 693, "arcd_pairs_test.jsonl": 702, "exams_ar_pairs.jsonl": 1611}[name]
    assert sum(report.read.values()) == read
    assert (len(data.train), len(data.validation)) == (train, validation)
    assert dict(report.dropped) == dropped
    assert dict(report.warnings) == {"arabic_prompt_non_arabic_chosen": non_arabic_chosen}
    assert report.arabic_share["prompt"] > 0.98


def test_folder_test_file_is_checked_and_cannot_repeat_train_or_validation(tmp_path):
    _jsonl(tmp_path / "d" / "train.jsonl", _pairs(6))
    _jsonl(tmp_path / "d" / "validation.jsonl", _pairs(2, start=6))
    test_rows = [*_pairs(3, start=8), _pairs(1)[0], _pairs(1, start=6)[0], {**_pairs(1, start=1)[0], "rejected": "لا"}]
    _jsonl(tmp_path / "d" / "test.jsonl", test_rows)
    data = load_preference_data(str(tmp_path / "d"), test_split=0.3)  # the data's own test split wins
    assert len(data.test) == 4 and data.test[0]["_line"] == f"{tmp_path}/d/test.jsonl:1"
    assert dict(data.report.dropped) == {"test/in_train": 1, "test/in_validation": 1}
    assert data.report.warnings["test_prompt_in_train"] == 1  # the last pair: a train prompt, other answers
    assert data.report.notes == ["test_split=0.3 ignored: the data has its own test split"]
    metrics = data.report.as_metrics()
    assert (metrics["data/test_read"], metrics["data/test_kept"], metrics["data/dropped/test/in_train"]) == (6, 4, 1)
    assert "pairs       train 6 kept of 6 read; validation 2 kept of 2 read; test 4 kept of 6 read" in (
        data.report.render()
    )
    bad = [*_pairs(2, start=8), {"prompt": "سؤال", "chosen": "جواب"}]
    _jsonl(tmp_path / "d" / "test.jsonl", bad)
    with pytest.raises(DataError, match=r"test\.jsonl:3: missing field 'rejected'"):
        load_preference_data(str(tmp_path / "d"))


def test_test_split_fraction_holds_out_whole_prompts_seeded_before_validation(tmp_path):
    rows = _pairs(40)
    rows += [{**r, "rejected": "إجابة أخرى خاطئة."} for r in rows[:10]]  # ten prompts with two pairs each
    path = _jsonl(tmp_path / "pairs.jsonl", rows)
    first = load_preference_data(str(path), test_split=0.2, validation_split=0.1, seed=3)
    again = load_preference_data(str(path), test_split=0.2, validation_split=0.1, seed=3)
    other = load_preference_data(str(path), test_split=0.2, validation_split=0.1, seed=4)
    assert [r["_line"] for r in first.test] == [r["_line"] for r in again.test] != [r["_line"] for r in other.test]
    assert len(first.test) == 10 and len(first.validation) == 4 and len(first.train) == 36  # 20% of 50, 10% of 40
    sides = [{r["prompt"] for r in part} for part in (first.train, first.validation, first.test)]
    assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
    assert "held out from train: 20%" in first.report.test_from
    assert first.report.as_metrics()["data/test_kept"] == 10
    none = load_preference_data(str(path))
    assert none.test == [] and len(none.train) + len(none.validation) == 50
    with pytest.raises(ConfigError, match="test_split: must be in"):
        load_preference_data(str(path), test_split=1.0)


def test_parquet_and_csv_files_read_like_jsonl_and_name_a_bad_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _pairs(9, chosen_score=8.0, rejected_score=2.5, annotator_id="a")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "pairs.parquet")
    data = load_preference_data(str(tmp_path / "pairs.parquet"), min_score_margin=5)
    assert data.report.format == "parquet" and len(data.train) + len(data.validation) == 9
    assert data.train[0]["chosen_score"] == 8.0 and data.train[0]["_line"] == f"{tmp_path}/pairs.parquet: row 1"
    assert data.content_hash == hashlib.sha256((tmp_path / "pairs.parquet").read_bytes()).hexdigest()
    pq.write_table(pa.Table.from_pylist([*rows[:6], {**rows[6], "chosen": None}, *rows[7:]]), tmp_path / "bad.parquet")
    with pytest.raises(DataError) as err:
        load_preference_data(str(tmp_path / "bad.parquet"))
    assert str(err.value) == f"dataset_path: {tmp_path}/bad.parquet: row 7: field 'chosen' must be a string, got null"
    conversations = [_conversation(i, system=i == 0) for i in range(6)]
    pq.write_table(pa.Table.from_pylist(conversations), tmp_path / "conv.parquet")
    assert load_preference_data(str(tmp_path / "conv.parquet")).report.form == "conversational"

    header = "prompt,chosen,rejected,chosen_score,rejected_score,annotator_id\n"
    lines = [f'"{r["prompt"]}","{r["chosen"]}, بالتأكيد",{r["rejected"]},8,,a\n' for r in _pairs(8)]
    (tmp_path / "pairs.csv").write_text(header + "".join(lines), encoding="utf-8")
    data = load_preference_data(str(tmp_path / "pairs.csv"))
    row = data.train[0]
    assert data.report.format == "csv" and len(data.train) + len(data.validation) == 8
    assert row["chosen"].endswith(", بالتأكيد") and row["chosen_score"] == 8.0 and row["rejected_score"] is None
    (tmp_path / "bad.csv").write_text(header + "".join(lines[:4]) + "سؤال,,رد,1,2,a\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_preference_data(str(tmp_path / "bad.csv"))
    assert str(err.value) == (
        f"dataset_path: {tmp_path}/bad.csv: row 5: field 'chosen' is empty (nothing but whitespace or invisible "
        "characters)"
    )
    (tmp_path / "short.csv").write_text(header + lines[0] + "سؤال,جواب\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"short\.csv: row 2: has 2 cells, the header has 6"):
        load_preference_data(str(tmp_path / "short.csv"))
    (tmp_path / "cols.csv").write_text("question,answer\nسؤال,جواب\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"cols\.csv:1: the header has columns 'question', 'answer'; missing 'prompt'"):
        load_preference_data(str(tmp_path / "cols.csv"))


def test_trainer_loads_a_parquet_source_with_a_test_split_into_its_metadata(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from arabic_pref.config import DPOConfig
    from arabic_pref.metadata import read_dpo_metadata, write_dpo_metadata
    from arabic_pref.training.dpo_trainer import DPOTrainer

    pq.write_table(pa.Table.from_pylist(_pairs(20)), tmp_path / "pairs.parquet")
    config = DPOConfig(dataset_path=str(tmp_path / "pairs.parquet"), test_split=0.2, output_dir=str(tmp_path / "o"))
    trainer = DPOTrainer(config)
    data = trainer.load_data()
    assert (len(data.train), len(data.validation), len(data.test)) == (14, 2, 4)
    write_dpo_metadata(tmp_path / "o", trainer.training_metadata())
    metadata = read_dpo_metadata(tmp_path / "o")
    assert metadata["dataset_sha256"] == hashlib.sha256((tmp_path / "pairs.parquet").read_bytes()).hexdigest()
    assert metadata["data_counts"]["data/test_kept"] == 4 and metadata["data_counts"]["data/train_kept"] == 14


def test_a_missing_relative_file_is_named_as_such_not_taken_for_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"^dataset_path: sub/nope\.jsonl: no such file or folder"):
        load_preference_data("sub/nope.jsonl")
    with pytest.raises(DataError, match=r"^dataset_path: sub/pairs\.parquet: no such file or folder"):
        load_preference_data("sub/pairs.parquet")
