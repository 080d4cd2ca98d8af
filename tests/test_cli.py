"""`arabic-pref COMMAND`: each console command runs, with its exit code and output checked.

In-process through `arabic_pref.cli.main` (a subprocess costs seconds on 2 cores); `train` is spawned once, on
its config-error path, because Hydra reads the process's own argv. tests/test_docs.py spawns `--help` of each
console entry point.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from arabic_pref import cli
from tests.fixtures_store import SWEEP_TRIALS


def _run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["arabic-pref", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_config_prints_the_generated_reference(monkeypatch, capsys):
    code, out, _ = _run(monkeypatch, capsys, "config")
    assert code == 0
    assert out.startswith("| field | type | Python API default | CLI default, where it differs | meaning, range |")
    assert "| `beta` | float | `0.1` |" in out
    assert "(run=tiny_qwen)" in out  # the CLI's run bundle is named as the source of its defaults


def test_data_validate_exits_0_on_the_shipped_pairs_and_2_on_a_bad_file(monkeypatch, capsys, tmp_path):
    code, out, _ = _run(monkeypatch, capsys, "data", "validate", "builtin:arabic-sample")
    assert code == 0 and "train" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "س", "chosen": "ج"}\n', encoding="utf-8")
    code, _, err = _run(monkeypatch, capsys, "data", "validate", str(bad))
    assert code == 2 and f"{bad}:1" in err


def test_compare_without_a_store_exits_2_naming_it(monkeypatch, capsys, tmp_path):
    uri = f"sqlite:///{tmp_path / 'none.db'}"
    code, _, err = _run(monkeypatch, capsys, "compare", "--tracking-uri", uri)
    assert code == 2 and f"no MLflow store at {uri}" in err


def test_an_unknown_command_prints_the_usage_and_exits_2(monkeypatch, capsys):
    code, _, err = _run(monkeypatch, capsys, "trian")
    assert code == 2 and "arabic-pref compare [options]" in err


@pytest.mark.slow
def test_compare_prints_the_sweep_leaderboard(monkeypatch, capsys, compare_store):
    code, out, _ = _run(
        monkeypatch, capsys, "compare", "--tracking-uri", compare_store.tracking_uri, "--study", "smoke"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"sweep 'smoke' of 'arabic-pref': {SWEEP_TRIALS} rows")
    assert lines[1].split()[:3] == ["trial", "state", "loss"]


def test_train_with_a_bad_value_exits_2_before_any_model(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "from arabic_pref.cli import main; main()", "train", "beta=-1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "error: beta: must be > 0, got -1.0" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()
