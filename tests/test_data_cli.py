"""`python -m arabic_pref.data validate|stats`, and the same errors from `python -m arabic_pref.train`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from arabic_pref.data.cli import main
from tests.conftest import ROOT, run_cli

HEAVY = ("torch", "transformers", "trl", "mlflow", "datasets")


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows))
    return path


def _pairs(n: int) -> list[dict]:
    return [{"prompt": f"كم يساوي {i} + 1؟", "chosen": f"يساوي {i + 1}.", "rejected": "لا أدري."} for i in range(n)]


@pytest.fixture
def usable(tmp_path) -> Path:
    rows = _pairs(10)
    rows += [rows[2], {**rows[0], "rejected": rows[0]["chosen"]}, {**rows[5], "chosen": "The answer is six."}]
    return _write(tmp_path / "pairs.jsonl", rows)


def test_validate_prints_the_whole_report_and_exits_0(usable, capsys):
    assert main(["validate", str(usable)]) == 0
    out = capsys.readouterr().out
    assert "format      jsonl, plain pairs, normalize=none" in out
    assert "pairs       train 10 kept of 12 read; validation 1 kept of 1 read" in out
    assert "train/duplicate 1  (first: pairs.jsonl:11)" in out
    assert "identical_chosen_rejected 1  (first: pairs.jsonl:12)" in out
    assert "arabic_prompt_non_arabic_chosen 1  (first: pairs.jsonl:13)" in out
    assert "Arabic share of letters" in out and "sha256      " in out
    assert "p50" in out and "p99" in out and "limits      0 prompts over max_prompt_length=256" in out
    assert "verdict     usable: " in out


def test_stats_prints_statistics_alone(usable, capsys):
    assert main(["stats", str(usable), "--max-prompt-length", "10", "--max-length", "20"]) == 0
    out = capsys.readouterr().out
    assert "tokens      11 kept pairs" in out and "Arabic share of letters" in out
    assert "dropped" not in out and "verdict" not in out and "over max_prompt_length=10" in out


def test_validate_options_reach_the_loader(tmp_path, capsys):
    rows = [{**p, "chosen": p["chosen"] + " ـــ"} for p in _pairs(10)]  # tatweel: changed by light
    path = _write(tmp_path / "p.json", rows)  # JSONL in a .json file
    assert main(["validate", str(path), "--normalize", "light", "--format", "jsonl", "--no-tokens"]) == 0
    out = capsys.readouterr().out
    assert "normalize=light" in out and "changed     normalize 10 pairs" in out and "p50" not in out


def test_unusable_data_exits_2_with_one_clear_message(tmp_path, capsys):
    path = _write(tmp_path / "bad.jsonl", [*_pairs(2), '{"prompt": "a", "chosen": "b"}'])
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert (
        captured.err == f"error: dataset_path: {path}:3: missing field 'rejected' (each pair needs prompt, "
        "chosen, rejected)\n"
    )
    assert captured.out == "verdict     not usable\n"
    assert main(["stats", str(tmp_path / "absent.jsonl")]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(path), "--normalize", "heavy"])
    assert exit_info.value.code == 2


def test_module_entry_point_exits_2_without_heavy_imports(tmp_path):
    path = _write(tmp_path / "bad.jsonl", ['{"prompt": "a", "chosen": "b", "rejected": "c"', *_pairs(2)])
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "arabic_pref.data", "validate", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert errors == [f"error: dataset_path: {path}:1:47: malformed JSON (Expecting ',' delimiter)"]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert not imported & set(HEAVY), imported & set(HEAVY)


def test_train_gives_the_same_error_and_writes_nothing(tmp_path):
    path = _write(tmp_path / "bad.jsonl", [*_pairs(3), {"prompt": "a", "chosen": "b", "rejected": "\u200b"}])
    result = run_cli([f"dataset_path={path}"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    message = (
        f"error: dataset_path: {path}:4: field 'rejected' is empty (nothing but whitespace or invisible characters)"
    )
    assert message in result.stderr.splitlines()
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlartifacts").exists()
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "checkpoints").exists()
    run_folders = list((tmp_path / "outputs").glob("*/*"))  # Hydra's run folder: only its config and log
    assert len(run_folders) == 1 and {p.name for p in run_folders[0].iterdir()} <= {".hydra", "train.log"}
