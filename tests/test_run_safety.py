"""A finished run is never lost: saved before anything can fail, its folder never taken over, its checkpoint
never continued with other settings; hub pushes send the model folder only. Real tiny-model runs, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from arabic_pref.config import ConfigError
from arabic_pref.train import to_dpo_config
from arabic_pref.training.dpo_trainer import create_dpo_trainer
from tests.conftest import compose

# what a Hydra run folder holds before our code runs, planted so the push must leave it out
HYDRA_FILES = {".hydra/config.yaml": "tracking_uri: postgresql://u:planted-pw@db/mlflow\n", "train.log": "log\n"}


def _plant_hydra_files(folder: Path) -> None:
    for name, text in HYDRA_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


class HubRecorder:
    """Stands in for the hub at huggingface_hub's boundary: records what each upload_folder call would send."""

    def __init__(self):
        self.uploads: list[list[str]] = []

    def create_repo(self, repo_id, *args, **kwargs):
        from huggingface_hub import RepoUrl

        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, folder_path, allow_patterns=None, ignore_patterns=None, run_as_future=False, **kw):
        from concurrent.futures import Future

        from huggingface_hub.utils import filter_repo_objects

        files = sorted(str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*") if p.is_file())
        self.uploads.append(
            list(filter_repo_objects(files, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns))
        )
        if run_as_future:  # what HfApi returns then: a job the Trainer waits on
            done: Future = Future()
            done.set_result(None)
            return done
        return None


@pytest.fixture(scope="module")
def pushed_run(tmp_path_factory):
    """One run with push_to_hub and a checkpoint at each step, its hub calls recorded; shared by the tests here."""
    import huggingface_hub
    from huggingface_hub import HfApi

    folder = tmp_path_factory.mktemp("pushed")
    out = folder / "out"
    _plant_hydra_files(out)
    hub = HubRecorder()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HfApi, "create_repo", lambda self, *a, **k: hub.create_repo(*a, **k))
        mp.setattr(HfApi, "upload_folder", lambda self, **k: hub.upload_folder(**k))
        mp.setattr(huggingface_hub, "upload_folder", hub.upload_folder)  # the module-level alias, if used
        overrides = [
            f"output_dir={out}",
            f"tracking_uri=sqlite:///{folder / 'mlflow.db'}",
            "save_steps=1",
            "eval_generations=false",
            "eval_drift=false",
            "+training_args.push_to_hub=true",
            "+training_args.hub_model_id=me/planted",
        ]
        trainer = create_dpo_trainer(to_dpo_config(compose(overrides)))
        summary = trainer.train()
    return {"out": out, "hub": hub, "summary": summary, "overrides": overrides}


MODEL_FILES = {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json"}


def test_hub_pushes_send_the_model_folder_only(pushed_run):
    uploads = pushed_run["hub"].uploads
    assert len(uploads) == 3, uploads  # checkpoint-1, checkpoint-2, the final save
    for files in uploads:
        assert MODEL_FILES <= set(files), files
        leaked = [f for f in files if f.startswith((".", "checkpoint-")) or "/" in f]
        leaked += [f for f in files if f in ("train.log", "mlflow_run.json", "training_args.bin", "run_settings.json")]
        assert not leaked, leaked
    assert {"README.md", "dpo_metadata.json"} <= set(uploads[-1])
    out = pushed_run["out"]
    assert (out / ".hydra" / "config.yaml").is_file() and (out / "checkpoint-2" / "training_args.bin").is_file()


def test_another_runs_folder_is_refused_before_anything_loads(pushed_run):
    config = to_dpo_config(compose([*pushed_run["overrides"][:2], "beta=0.2"]))
    trainer = create_dpo_trainer(config)
    with pytest.raises(ConfigError) as err:
        trainer.train()
    assert err.value.key == "output_dir" and "overwrite_output_dir=true" in str(err.value)
    assert trainer.model is None and trainer.trainer is None  # refused before any model loaded
    assert (pushed_run["out"] / "checkpoint-2").is_dir()  # the other run's checkpoints are untouched


@pytest.mark.parametrize(
    ("entries", "overwrite", "outcome"),
    [
        ([], False, "ok"),
        ([".hydra/config.yaml", "train.log"], False, "ok"),  # Hydra's own files for this job
        (["dpo_metadata.json", "adapter_model.safetensors"], False, "refused"),
        (["checkpoint-4/trainer_state.json"], False, "refused"),
        (["checkpoint-4/trainer_state.json", "mlflow_run.json"], True, "cleared"),
        (["notes.txt"], True, "refused"),  # not a run's folder: overwrite never clears it
    ],
)
def test_output_dir_ownership(tmp_path, entries, overwrite, outcome):
    from arabic_pref.training.output_folder import claim_output_dir

    for name in entries:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    config = to_dpo_config(compose([f"output_dir={tmp_path}", f"overwrite_output_dir={overwrite}"]))
    if outcome == "refused":
        with pytest.raises(ConfigError, match="^output_dir: "):
            claim_output_dir(config)
        assert all((tmp_path / n).exists() for n in entries)
        return
    claim_output_dir(config)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == ({".hydra", "train.log"} & {n.split("/")[0] for n in entries})


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ([], None),
        (["beta=0.3"], "beta"),
        (["loss=ipo"], "beta, loss_type"),  # the ipo group brings its own beta
        (["learning_rate=1e-6"], "learning_rate"),
        (["seed=7", "max_train_samples=12"], "max_train_samples, seed"),
        (["beta=0.3", "resume_allow_changes=true"], None),
        (["max_steps=4", "logging_steps=2"], None),  # how long and how it logs may change
    ],
)
def test_resume_refuses_settings_that_change_what_trains(pushed_run, change, refused):
    from arabic_pref.training.resume import check_resume

    config = to_dpo_config(compose([*pushed_run["overrides"], "resume=true", *change]))
    tracking_uri = pushed_run["summary"]["tracking_uri"]
    if refused is None:
        assert check_resume(config, tracking_uri).endswith("checkpoint-2")
        return
    with pytest.raises(ConfigError) as err:
        check_resume(config, tracking_uri)
    assert err.value.key == "resume"
    named = err.value.args[0].split("other settings: ")[1].split(";")[0]
    assert [part.split(" (")[0] for part in named.split("), ")] == refused.split(", ")


def test_a_failure_after_training_keeps_the_model_and_fails_the_run_with_its_reason(tmp_path):
    """An evaluation that breaks (greedy generation asked for 2 answers) after training: the model is saved."""
    config = to_dpo_config(
        compose(
            [
                f"output_dir={tmp_path / 'out'}",
                f"tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
                "save_strategy=no",
                "eval_drift=false",
                "+eval_generation_kwargs.num_return_sequences=2",
            ]
        )
    )
    trainer = create_dpo_trainer(config)
    with pytest.raises(ValueError, match="num_return_sequences"):
        trainer.train()
    out = tmp_path / "out"
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "dpo_metadata.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "dpo_metadata.json").read_text())["mlflow_run_id"] == trainer.run_id
    run = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(trainer.run_id)
    assert run.info.status == "FAILED"
    assert "num_return_sequences" in run.data.tags["arabic_pref.failure"]
