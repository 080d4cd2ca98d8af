"""Secrets never reach what a run writes: masking rules (model-free), hub_token refused, and a planted password and
token searched for in every file a run and a 2-trial sweep write, in their output and in both databases."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from arabic_pref import secrets
from arabic_pref.config import ConfigError
from arabic_pref.train import to_dpo_config
from tests.conftest import compose, run_cli

PASSWORD = "Planted-pw-7QX"  # noqa: S105  (a test value)
TOKEN = "hf_PlantedToken9Zk3vVq"  # noqa: S105


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://u:Sec-ret1@db:5432/optuna", "postgresql://u:***@db:5432/optuna"),
        ("postgresql+psycopg://user:p%40ss@10.0.0.1/mlflow", "postgresql+psycopg://user:***@10.0.0.1/mlflow"),
        ("https://alice:s3cr3t@mlflow.example.org", "https://alice:***@mlflow.example.org"),
        (
            "(OperationalError) connection to mysql://root:hunter22@h/db failed",
            "(OperationalError) connection to mysql://root:***@h/db failed",
        ),
        ("http://127.0.0.1:5000/api", "http://127.0.0.1:5000/api"),  # a port is no password
        ("sqlite:////tmp/x/mlflow.db", "sqlite:////tmp/x/mlflow.db"),
        ("postgresql://user@db/optuna", "postgresql://user@db/optuna"),
    ],
)
def test_url_passwords_are_masked_in_any_text(text, masked):
    assert secrets.mask_text(text) == masked


def test_secret_keys_and_environment_secrets_are_masked_at_any_depth(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    data = {
        "training_args": {"hub_token": "abc123456", "push_to_hub_token": "x" * 8, "max_new_tokens": 8},
        "eval_max_new_tokens": 48,
        "run_name": f"run with {TOKEN} resolved from ${{oc.env:HF_TOKEN}}",
        "storage": [f"postgresql://u:{PASSWORD}@h/db"],
        "db_password": "pw-pw-pw",
    }
    masked = secrets.mask(data)
    assert masked["training_args"] == {"hub_token": "***", "push_to_hub_token": "***", "max_new_tokens": 8}
    assert masked["eval_max_new_tokens"] == 48 and masked["db_password"] == "***"
    assert TOKEN not in str(masked) and PASSWORD not in str(masked)


def test_hub_token_in_training_args_is_refused_naming_the_alternatives():
    with pytest.raises(ConfigError) as err:
        to_dpo_config(compose(["output_dir=x", f"+training_args.hub_token={TOKEN}"]))
    assert (
        err.value.key == "training_args" and "HF_TOKEN" in str(err.value) and "huggingface-cli login" in str(err.value)
    )
    assert TOKEN not in str(err.value)


def _pg_dump(url: str) -> bytes:
    """Every row of a database as SQL text (PostgreSQL's own pg_dump)."""
    import glob

    from sqlalchemy.engine import make_url

    u = make_url(url)
    pg_dump = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))[-1]
    cmd = [pg_dump, "-h", u.host, "-p", str(u.port), "-U", u.username, "--data-only", u.database]
    return subprocess.run(
        cmd, capture_output=True, check=True, env={**os.environ, "PGPASSWORD": u.password or ""}
    ).stdout


def _hits(folder: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.slow
def test_a_run_and_a_sweep_write_no_planted_secret_anywhere(tmp_path, postgres_server):
    """Planted: a PostgreSQL password in the MLflow tracking URI, passed as ${oc.env:...} (Hydra resolves it before
    our code sees it), and written literally into the sweep's Optuna storage URL, as many users do (the test
    server trusts local connections, so the password is accepted as a real one would be); and HF_TOKEN exported,
    as a user logged in to the hub has it. Searched: every file under the launch folder (outputs, .hydra/,
    train.log, mlflow_run.json, metadata, model card, MLflow artifacts), the console output, and dumps of both
    databases."""
    with_password = lambda url: url.replace("arabic_pref@", "arabic_pref:${oc.env:TEST_PGPASSWORD}@")  # noqa: E731
    mlflow_db, optuna_db = postgres_server.create_database("mlflow"), postgres_server.create_database("optuna")
    env = {"TEST_PGPASSWORD": PASSWORD, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "1"}
    common = [f"tracking_uri={with_password(mlflow_db)}", "max_steps=2", "max_train_samples=8", "max_eval_samples=8"]
    run = run_cli([*common, "eval_generations=false", "save_steps=1"], cwd=tmp_path, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    sweep = run_cli(
        [
            "-m",
            "sweep=smoke",
            *common,
            "eval_steps=2",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.pruner=null",
            f"hydra.sweeper.storage={optuna_db.replace('arabic_pref@', f'arabic_pref:{PASSWORD}@')}",
        ],
        cwd=tmp_path,
        env=env,
        timeout=900,
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert "***" in run.stdout  # the "what will run" lines show the store, its password masked
    assert len(list(tmp_path.rglob(".hydra/hydra.yaml"))) == 3  # the run's and each trial's
    for secret in (PASSWORD, TOKEN):
        assert _hits(tmp_path, secret) == []
        for output in (run.stdout, run.stderr, sweep.stdout, sweep.stderr):
            assert secret not in output
        for db in (mlflow_db, optuna_db):
            dump = _pg_dump(db)
            assert len(dump) > 1000 and secret.encode() not in dump
