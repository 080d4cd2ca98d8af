"""arabic-pref installs like a library: a built wheel, installed (not editable), runs from any folder.

The wheel is built from this checkout and installed into a temporary virtual environment that borrows the
project venv's dependencies through a .pth line (no torch reinstall; the project's own editable install is not
seen, because .pth files of a folder added that way are not processed). The commands then run from a folder
with no conf/ or sweeps/ in sight.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHRINK

EXPECTED_IN_WHEEL = [
    "arabic_pref/conf/train.yaml",
    "arabic_pref/conf/model/tiny_qwen.yaml",
    "arabic_pref/conf/lora/r16.yaml",
    "arabic_pref/sweeps/smoke.yaml",
    "arabic_pref/sweeps/beta_lr_loss.yaml",
    "arabic_pref/data/arabic_sample/train.jsonl",
    "arabic_pref/data/arabic_sample/validation.jsonl",
    "arabic_pref/data/arabic_sample/DATA_CARD.md",
    "hydra_plugins/arabic_pref_optuna_sweeper/optuna_sweeper.py",
]


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ folder of a fresh venv holding the wheel of this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp)],
        tmp,
    )
    (wheel,) = tmp.glob("arabic_pref-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in EXPECTED_IN_WHEEL if name not in names]
    assert not missing, f"not in the wheel: {missing}"
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        tmp,
    )
    return venv / "bin"


@pytest.mark.slow
def test_installed_wheel_runs_from_any_folder(installed: Path, tmp_path: Path):
    where = _run([str(installed / "python"), "-c", "import arabic_pref; print(arabic_pref.__file__)"], tmp_path)
    assert str(installed.parent) in where.stdout, "the wheel, not the checkout, must be imported"

    printed = _run([str(installed / "arabic-pref-train"), "--cfg", "job"], tmp_path).stdout
    assert "model_name: builtin:tiny-qwen2" in printed and "loss_type: sigmoid" in printed

    sweep = _run([str(installed / "python"), "-m", "arabic_pref.train", "sweep=smoke", "--cfg", "job"], tmp_path)
    assert "eval_steps: 3" in sweep.stdout  # sweeps/smoke.yaml, shipped in the package

    user_conf = tmp_path / "my_conf"
    (user_conf / "model").mkdir(parents=True)
    (user_conf / "model" / "mine.yaml").write_text(
        "# @package _global_\nmodel_name: builtin:tiny-qwen2\nmax_steps: 7\n"
    )
    searchpath = f"hydra.searchpath=[file://{user_conf}]"
    mine = _run([str(installed / "arabic-pref"), "train", searchpath, "model=mine", "--cfg", "job"], tmp_path).stdout
    assert "max_steps: 7" in mine

    out = tmp_path / "out"
    overrides = [*SHRINK, "max_steps=1", f"output_dir={out}", f"tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    trained = _run([str(installed / "arabic-pref-train"), *overrides], tmp_path)
    assert "DPO run finished" in trained.stdout
    for name in ("adapter_model.safetensors", "dpo_metadata.json", "README.md"):
        assert (out / name).is_file(), name

    sweep_overrides = [*overrides[:-2], "hydra.sweeper.n_trials=1", f"hydra.sweep.dir={tmp_path / 'multirun'}"]
    swept = _run([str(installed / "arabic-pref-train"), "-m", "sweep=smoke", *sweep_overrides], tmp_path)
    assert "Sweep smoke: 1 finished trials" in swept.stdout and "best trial   #0" in swept.stdout, swept.stdout
    assert not (tmp_path / "conf").exists() and not (tmp_path / "sweeps").exists()
