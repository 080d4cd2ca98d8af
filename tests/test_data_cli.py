"""`python -m arabic_pref.data validate|stats`, and the same errors from `python -m arabic_pref.train`."""

import json
import os
import subprocess
import sys
import time
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


def test_validate_prints_baselines_and_the_test_split(tmp_path, capsys):
    rows = [{**p, "rejected": p["rejected"] + " " + "لا أعرف الجواب حقًا." * (i % 2)} for i, p in enumerate(_pairs(20))]
    path = _write(tmp_path / "pairs.jsonl", rows)
    assert main(["validate", str(path), "--test-split", "0.25", "--no-tokens"]) == 0
    out = capsys.readouterr().out
    assert "test        held out from train: 25% of the usable pairs, whole prompts (seed 42)" in out
    assert "; test 5 kept of 5 read" in out and "verdict     usable: 13 train, 2 validation and 5 test pairs" in out
    assert "baselines   train length " in out and "bag-of-words" in out and "longer answer in characters" in out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hub_env(tmp_path: Path, offline: bool) -> dict[str, str]:
    """A private HF cache; either offline mode, or a hub endpoint on a closed local port (no route to a hub)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env |= {"HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{_free_port()}"
    return env


def _validate(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arabic_pref.data", "validate", *args, "--no-tokens"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize("offline", [True, False], ids=["HF_HUB_OFFLINE", "hub-unreachable"])
def test_hub_dataset_neither_cached_nor_reachable_exits_2_at_once(tmp_path, offline):
    started = time.monotonic()
    result = _validate(["someorg/arabic_pairs", "--config-name", "ar", "--revision", "v1"], _hub_env(tmp_path, offline))
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    why = "HF_HUB_OFFLINE is set" if offline else "the hub (127.0.0.1) is unreachable"
    assert len(error) == 1 and error[0].startswith(
        f"error: dataset_path: hub dataset someorg/arabic_pairs (config ar): not in the local Hugging Face cache "
        f"and {why} ("
    ), error
    assert "save it to a local Parquet/JSONL file or a save_to_disk folder" in error[0]
    assert "Traceback" not in result.stderr and elapsed < 60  # no network retries (imports dominate)


def _cache_hub_dataset(cache_dir: Path, repo_id: str, splits: dict[str, list[dict]]) -> None:
    """Write `repo_id` into a datasets cache as loading it from the hub would, via the same packaged JSON builder."""
    import shutil

    from datasets.packaged_modules.json.json import Json

    namespace, name = repo_id.split("/")
    cache_dir.mkdir(parents=True)
    files = {split: str(_write(cache_dir.parent / f"{split}.jsonl", rows)) for split, rows in splits.items()}
    builder = Json(
        cache_dir=str(cache_dir),
        dataset_name=name,
        config_name="default",
        config_id="default",
        data_files=files,
        hash="5f1c0ffee",  # a hub load's folder is named by the repo's commit
    )
    builder.download_and_prepare()
    shutil.move(cache_dir / name, cache_dir / f"{namespace}___{name}")  # a hub download's folder name


@pytest.mark.parametrize("offline", [True, False], ids=["HF_HUB_OFFLINE", "hub-unreachable"])
def test_cached_hub_dataset_loads_offline_with_its_splits(tmp_path, offline):
    env = _hub_env(tmp_path, offline)
    splits = {"train": _pairs(12), "test": _pairs(15)[9:]}  # three test pairs repeat train's
    _cache_hub_dataset(Path(env["HF_DATASETS_CACHE"]), "someorg/arabic_pairs", splits)
    result = _validate(["someorg/arabic_pairs"], env)
    assert result.returncode == 0, result.stderr
    why = "HF_HUB_OFFLINE is set" if offline else "the hub (127.0.0.1) is unreachable"
    assert "format      hub, plain pairs" in result.stdout
    assert f"note        read from the local cache ({why})" in result.stdout
    assert "verdict     usable: 11 train, 1 validation and 3 test pairs" in result.stdout
    assert "test/in_train 3  (first: test: row 1, test: row 2, test: row 3)" in result.stdout
    one_split = _validate(["someorg/arabic_pairs", "--split", "train", "--config-name", "default"], env)
    assert one_split.returncode == 0, one_split.stderr
    assert "test        none" in one_split.stdout and "train 11 kept of 11 read" in one_split.stdout


def test_train_with_an_uncached_hub_dataset_exits_2_before_any_model(tmp_path):
    env = _hub_env(tmp_path, offline=True)
    result = run_cli(
        ["dataset_path=someorg/arabic_pairs", "dataset_split=train_prefs", "dataset_revision=main"], tmp_path, env=env
    )
    assert result.returncode == 2, result.stderr
    assert any(
        line.startswith("error: dataset_path: hub dataset someorg/arabic_pairs: not in the local Hugging Face cache")
        for line in result.stderr.splitlines()
    ), result.stderr
    assert not (tmp_path / "mlflow.db").exists()
