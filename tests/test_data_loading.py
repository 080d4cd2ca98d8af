"""Reading pair files: the shipped sample, real shared data, and bad input named by file and line."""

import json
from pathlib import Path

import pytest

from arabic_pref.config import BUILTIN_DATASET
from arabic_pref.data import DataError, load_preference_data
from tests.conftest import SHARED_DATA


def _write(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    return path


PAIR = {"prompt": "ما عاصمة مصر؟", "chosen": "القاهرة.", "rejected": "لا أعرف."}


def test_shipped_sample_has_fixed_disjoint_split_with_tags():
    data = load_preference_data(BUILTIN_DATASET)
    assert len(data.train) >= 300 - len(data.validation) and len(data.validation) >= 32
    assert len(data.train) + len(data.validation) >= 300
    train_prompts = {r["prompt"] for r in data.train}
    assert not train_prompts & {r["prompt"] for r in data.validation}
    assert not data.report.dropped
    dialects = {r["dialect"] for r in data.train + data.validation}
    assert dialects == {"msa", "egyptian", "gulf", "levantine", "maghrebi"}
    assert {r["register"] for r in data.train} == {"formal", "informal"}
    failures = {r["failure"] for r in data.train}
    assert failures == {"wrong_fact", "evasive", "rude", "off_topic", "english_switch", "too_terse"}


def test_split_is_seeded_and_drops_are_counted(tmp_path):
    rows = [{**PAIR, "prompt": f"سؤال رقم {i}"} for i in range(20)]
    rows += [{**PAIR, "chosen": "نفس", "rejected": "نفس"}, rows[0]]  # identical sides, exact duplicate
    path = _write(tmp_path / "pairs.jsonl", rows)
    first = load_preference_data(str(path), validation_split=0.2, seed=1)
    again = load_preference_data(str(path), validation_split=0.2, seed=1)
    assert [r["prompt"] for r in first.validation] == [r["prompt"] for r in again.validation]
    assert first.report.read["train"] + first.report.read["validation"] == 22
    dropped = sum(first.report.dropped.values())
    assert dropped == 2 and len(first.train) + len(first.validation) == 20


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (['{"prompt": "a", "chosen": "b"'], ":1:30: malformed JSON"),
        ([PAIR, "[1, 2]"], ":2: expected a JSON object"),
        ([{"prompt": "a", "chosen": "b"}], ":1: missing field 'rejected'"),
        ([{**PAIR, "chosen": 3}], ":1: field 'chosen' must be a string"),
        ([{**PAIR, "rejected": "   "}], ":1: field 'rejected' is empty"),
        ([], "file holds no pairs"),
    ],
)
def test_bad_lines_are_named(tmp_path, content, message):
    path = _write(tmp_path / "bad.jsonl", content)
    with pytest.raises(DataError) as err:
        load_preference_data(str(path))
    assert str(path) in str(err.value) and message in str(err.value)


def test_not_utf8_names_the_byte_offset_and_bom_is_accepted(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"prompt": "caf\xe9", "chosen": "a", "rejected": "b"}\n')
    with pytest.raises(DataError, match="not UTF-8 \\(invalid byte at offset 15\\)"):
        load_preference_data(str(path))
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(PAIR).encode() + b"\n" + json.dumps({**PAIR, "prompt": "x"}).encode())
    assert len(load_preference_data(str(bom)).train) == 1


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is not present")
@pytest.mark.parametrize("name", ["arcd_pairs_train.jsonl", "arcd_pairs_test.jsonl", "exams_ar_pairs.jsonl"])
def test_real_shared_data_loads(name):
    data = load_preference_data(str(SHARED_DATA / name))
    total = data.report.read["train"] + data.report.read["validation"]
    assert total == {"arcd_pairs_train.jsonl": 693, "arcd_pairs_test.jsonl": 702, "exams_ar_pairs.jsonl": 1611}[name]
    if name == "exams_ar_pairs.jsonl":  # one pair has identical chosen and rejected: dropped, counted
        assert sum(v for k, v in data.report.dropped.items() if k.endswith("identical_chosen_rejected")) == 1
