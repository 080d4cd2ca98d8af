"""MLflow for every run: one store (SQLite by default) with its artifacts beside it, one run per training run.

We drive MLflow ourselves instead of transformers' `report_to="mlflow"`: that callback opens a second run for
`evaluate()` unless both happen inside one active run, logs ~150 TrainingArguments as params that clash with
ours, and puts artifacts in `./mlruns` of whatever folder the job ran in. Here the caller opens one run,
`arabic_pref.training.callbacks.MlflowMetricsCallback` streams TRL's metrics into it under TRL's own
names, and artifacts go to a folder next to the SQLite file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from arabic_pref.secrets import mask, mask_text

DEFAULT_DB = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
MAX_PARAM_CHARS = 6000
# MLflow 3's UI opens an experiment by its kind: without this tag it guesses, and a DPO run was listed among
# GenAI "Evaluation runs". `custom_model_development` is the kind whose page is the runs table with its charts
# (the UI's other choice is `genai_development`).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# the tag on a sweep's parent run (value "parent"): how the compare command tells sweeps from single runs
SWEEP_TAG = "arabic_pref.sweep"
# the tag a FAILED run carries: why it failed
FAILURE_TAG = "arabic_pref.failure"


def absolute_sqlite_url(url: str | None, default_file: str) -> str:
    """A database URL for MLflow or Optuna: `default_file` in the launch folder when unset, and a relative
    SQLite path made absolute (a run may change folders; the store must stay the one the user named)."""
    if not url:
        return f"sqlite:///{Path.cwd() / default_file}"
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return f"sqlite:///{Path(url.removeprefix('sqlite:///')).expanduser().resolve()}"
    return url


def resolve_tracking_uri(uri: str | None) -> str:
    """Explicit value, else $MLFLOW_TRACKING_URI, else sqlite:///<launch folder>/mlflow.db (absolute)."""
    return absolute_sqlite_url(uri or os.environ.get("MLFLOW_TRACKING_URI"), DEFAULT_DB)


def artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store live in `mlartifacts/` beside the database file; any other store (a tracking
    server with served artifacts, a database shared by machines) keeps its own default location."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / ARTIFACT_DIR).as_uri()
    return None


def ui_command(uri: str) -> str:
    if uri.startswith(("http://", "https://")):  # a tracking server: its own UI
        return f"browse {mask_text(uri)}"
    loc = artifact_location(uri)
    extra = f" --artifacts-destination {loc}" if loc else ""
    return f"mlflow ui --backend-store-uri {mask_text(uri)}{extra}"


def client(uri: str | None) -> Any:
    """The MLflow client of a store (resolved like a run's `tracking_uri`): the one way we open one."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=resolve_tracking_uri(uri))


def ensure_experiment(name: str, uri: str) -> str:
    import mlflow

    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        if EXPERIMENT_KIND_TAG not in experiment.tags:  # made by an older version: mark it; a user's choice stays
            client(uri).set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return experiment.experiment_id
    try:
        return mlflow.create_experiment(
            name, artifact_location=artifact_location(uri), tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
        )
    except Exception:  # created meanwhile by a parallel worker
        return mlflow.get_experiment_by_name(name).experiment_id


@contextlib.contextmanager
def mlflow_run(uri: str, experiment_name: str, run_name: str | None, tags: Mapping[str, str]) -> Iterator[Any]:
    """An active MLflow run that ends FINISHED, or FAILED if the body raises (KeyboardInterrupt: KILLED)."""
    import mlflow

    experiment_id = ensure_experiment(experiment_name, uri)
    with _ended(mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=mask(dict(tags)))) as run:
        yield run


@contextlib.contextmanager
def reopened_run(run_id: str) -> Iterator[Any]:
    """An existing run made active again (a resumed training, a later evaluation); ends like `mlflow_run`."""
    import mlflow

    with _ended(mlflow.start_run(run_id=run_id)) as run:
        yield run


@contextlib.contextmanager
def _ended(run: Any) -> Iterator[Any]:
    """End the active run FINISHED, FAILED when the body raises, KILLED on Ctrl-C: never left RUNNING."""
    import mlflow

    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException as e:  # the reason, on the run itself (secrets masked): "FAILED" alone says nothing
        with contextlib.suppress(Exception):
            mlflow.set_tag(FAILURE_TAG, mask_text(f"{type(e).__name__}: {e}")[:MAX_PARAM_CHARS])
        raise
    finally:
        mlflow.end_run(status=status)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out |= flatten(value, f"{name}.")
        else:
            out[name] = value
    return out


def _param_strings(params: Mapping[str, Any]) -> dict[str, str]:
    flat = {
        k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
        for k, v in flatten(mask(dict(params))).items()  # secret keys and values masked (arabic_pref.secrets)
    }
    return {k: str(v)[:MAX_PARAM_CHARS] for k, v in flat.items()}


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    mlflow.log_params(_param_strings(params))


def log_params_once(params: Mapping[str, Any]) -> None:
    """Params of a run that may already hold some (a resumed run): MLflow refuses to rewrite a param.

    Keys it lacks are logged; a key whose value changed is kept and the new value is tagged
    `changed_on_resume.<key>`, so the run still says what actually ran.
    """
    import mlflow

    logged = mlflow.get_run(mlflow.active_run().info.run_id).data.params
    if not logged:
        log_params(params)
        return
    flat = _param_strings(params)
    new = {k: v for k, v in flat.items() if k not in logged}
    if new:
        mlflow.log_params(new)
    changed = {f"changed_on_resume.{k}": v for k, v in flat.items() if k in logged and logged[k] != v}
    if changed:
        mlflow.set_tags(changed)


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    import mlflow

    numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    if numeric:
        mlflow.log_metrics(numeric, step=step)


def log_json_artifact(data: Any, name: str) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(json.dumps(mask(data), ensure_ascii=False, indent=2), encoding="utf-8")
        mlflow.log_artifact(str(path))
