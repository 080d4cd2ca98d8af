"""The leaderboard: one row per trial of a sweep (or per single run), read back from the MLflow store.

A sweep is found by its MLflow parent run (tag `arabic_pref.sweep=parent`, param `objective`); its trials are
the parent's children, so the sweep's parent and unrelated runs never mix into its table. When the study's
Optuna storage is at hand, Optuna's own states and values win (they are what the sampler saw) and a trial
that never got a run still shows up. Pruned and failed trials stay in the table with their state; the table is
sorted by objective with trials that have none last. Numbers are what ran: the learning rate after the
spec's cap, the step count the run reached, the wall time between the run's start and end.

Every objective comes with its 95% interval and pair count (`ci_low`, `ci_high`, `pairs`, logged by the run), and
each row with its paired difference to the best row on the same validation pairs (`vs_best` with a paired-bootstrap
interval, from the runs' `pair_scores/validation.json`); `within_noise` marks rows whose difference interval
contains 0: the data cannot tell them from the best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arabic_pref import tracking
from arabic_pref.config_checks import effective_learning_rate

DEFAULT_EXPERIMENT = "arabic-pref"
COLUMNS = [
    "trial",
    "state",
    "loss_type",
    "beta",
    "learning_rate",
    "objective",
    "ci_low",
    "ci_high",
    "pairs",
    "vs_best",
    "vs_best_low",
    "vs_best_high",
    "within_noise",
    "accuracy_len_norm",
    "steps",
    "wall_s",
    "run_name",
    "run_id",
    "output_dir",
]


@dataclass(frozen=True)
class Sweep:
    study: str
    parent_run_id: str
    objective: str  # the (first) objective metric: what the table is sorted by
    direction: str
    objectives: tuple[str, ...] = ()  # every objective of a multi-objective (Pareto) sweep
    pareto: tuple[int, ...] = ()  # its Pareto-optimal trial numbers (the parent run's tag `pareto_trials`)


def _names(param: str) -> tuple[str, ...]:
    """Objective or direction names from a parent-run param: "preference_accuracy", "a (maximize), b (minimize)"
    (a multi-objective sweep's), "maximize,minimize"."""
    names = (n.split(" (")[0].strip(" '\"[]") for n in param.split(","))
    return tuple(n for n in names if n)


def training_view_link(experiment_id: str, base_url: str = "http://127.0.0.1:5000") -> str:
    """The experiment's runs table in MLflow's UI. MLflow 3.17's UI opens every experiment in its GenAI view
    unless the "Model training" switch was clicked (remembered per browser) or the link asks for it."""
    return f"{base_url}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def default_storage(tracking_uri: str) -> str | None:
    """The sweeper's default Optuna storage: optuna.db beside a SQLite MLflow store, when it exists."""
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///")).parent / "optuna.db"
        if path.exists():
            return f"sqlite:///{path}"
    return None


def client_for(tracking_uri: str | None) -> tuple[Any, str]:
    uri = tracking.resolve_tracking_uri(tracking_uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise FileNotFoundError(f"no MLflow store at {uri} (pass --tracking-uri, or run from the launch folder)")
    return tracking.client(uri), uri


def experiment_id(client: Any, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        names = [e.name for e in client.search_experiments()]
        raise LookupError(f"no experiment {name!r} in the store; it has {names}")
    return experiment.experiment_id


def list_sweeps(client: Any, experiment: str) -> list[Sweep]:
    """The sweeps of an experiment, newest first (one parent run per study)."""
    runs = client.search_runs(
        [experiment_id(client, experiment)],
        filter_string=f"tags.`{tracking.SWEEP_TAG}` = 'parent'",
        order_by=["attributes.start_time DESC"],
    )
    sweeps = []
    for r in runs:
        objectives = _names(r.data.params.get("objective", "preference_accuracy"))
        directions = _names(r.data.params.get("direction", "maximize"))
        sweeps.append(
            Sweep(
                study=r.data.tags.get("study", r.data.params.get("study_name", "")),
                parent_run_id=r.info.run_id,
                objective=objectives[0],
                direction=directions[0] if directions else "maximize",
                objectives=objectives,
                pareto=tuple(int(n) for n in r.data.tags.get("pareto_trials", "").split(",") if n.strip()),
            )
        )
    return sweeps


def find_sweep(client: Any, experiment: str, study: str | None) -> Sweep | None:
    """The named study's sweep; without a name, the newest sweep (None when the experiment has none)."""
    sweeps = list_sweeps(client, experiment)
    if study is None:
        return sweeps[0] if sweeps else None
    for sweep in sweeps:
        if sweep.study == study:
            return sweep
    raise LookupError(f"no sweep {study!r} in experiment {experiment!r}; sweeps: {[s.study for s in sweeps]}")


def single_runs(client: Any, experiment: str) -> list[Any]:
    """Runs that are neither a sweep's parent nor one of its trials."""
    runs = client.search_runs([experiment_id(client, experiment)], order_by=["attributes.start_time DESC"])
    return [r for r in runs if tracking.SWEEP_TAG not in r.data.tags and "mlflow.parentRunId" not in r.data.tags]


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _len_norm_accuracy(metrics: dict[str, float]) -> float:
    """The length-normalised preference accuracy (`preference_accuracy_per_token`; NaN when the run has none)."""
    return metrics.get("preference_accuracy_per_token", float("nan"))


def _steps(client: Any, run_id: str) -> int | None:
    steps = [m.step for name in ("preference_accuracy", "loss") for m in client.get_metric_history(run_id, name)]
    return max(steps) if steps else None


def run_row(client: Any, run: Any, objective: str) -> dict[str, Any]:
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    lr = _float(params.get("learning_rate"))
    if not math.isnan(lr):
        override = params.get("learning_rate_override", "True") == "True"
        lr = effective_learning_rate(_Config(lr, override))
    start, end = run.info.start_time, run.info.end_time
    trial = tags.get("trial_number")
    return {
        "trial": int(trial) if trial is not None else None,
        "state": tags.get("trial_state") or run.info.status,
        "loss_type": params.get("loss_type", tags.get("loss_type")),
        "beta": _float(params.get("beta")),
        "learning_rate": lr,
        "objective": metrics.get(objective, math.nan),
        "ci_low": metrics.get(f"{objective}_ci_low", math.nan),
        "ci_high": metrics.get(f"{objective}_ci_high", math.nan),
        "pairs": metrics.get(f"{objective}_n", math.nan),
        "accuracy_len_norm": _len_norm_accuracy(metrics),
        "steps": _steps(client, run.info.run_id),
        "wall_s": (end - start) / 1000 if start and end else math.nan,
        "run_name": run.info.run_name,
        "run_id": run.info.run_id,
        "output_dir": params.get("output_dir"),
    }


@dataclass
class _Config:
    learning_rate: float
    learning_rate_override: bool


def leaderboard(
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    study: str | None = None,
    storage: str | None = None,
    single: bool = False,
) -> Any:
    """A pandas DataFrame (COLUMNS), best first. `attrs` holds source, objective, direction and sweep names.

    Without `study` and `single`, the newest sweep of the experiment, else its single runs. `storage` (default:
    optuna.db beside a SQLite store) adds Optuna's states and values.
    """
    import pandas as pd

    client, uri = client_for(tracking_uri)
    sweep = None if single else find_sweep(client, experiment, study)
    if sweep is None:
        runs = single_runs(client, experiment)
        rows = [run_row(client, r, "preference_accuracy") for r in runs]
        objective, direction, source = "preference_accuracy", "maximize", f"single runs of {experiment!r}"
    else:
        runs = client.search_runs(
            [experiment_id(client, experiment)], filter_string=f"tags.mlflow.parentRunId = '{sweep.parent_run_id}'"
        )
        rows = [run_row(client, r, sweep.objective) for r in runs]
        rows = _with_optuna(rows, storage or default_storage(uri), sweep.study)
        objective, direction, source = sweep.objective, sweep.direction, f"sweep {sweep.study!r} of {experiment!r}"
    table = pd.DataFrame(rows, columns=COLUMNS)
    sign = -1.0 if direction == "maximize" else 1.0
    table["_key"] = table["objective"].map(lambda v: sign * v if not math.isnan(v) else math.inf)
    table = table.sort_values(["_key", "trial"], na_position="last", kind="stable").drop(columns="_key")
    table = _with_paired(table.reset_index(drop=True), client, objective)
    table.attrs.update(
        source=source,
        tracking_uri=uri,
        experiment=experiment,
        study=sweep.study if sweep else None,
        objective=objective,
        direction=direction,
        sweeps=[s.study for s in list_sweeps(client, experiment)],
        objectives=list(sweep.objectives) if sweep else [objective],
        pareto=list(sweep.pareto) if sweep else [],
        ui_link=training_view_link(experiment_id(client, experiment)),
    )
    return table


def _with_optuna(rows: list[dict[str, Any]], storage: str | None, study_name: str) -> list[dict[str, Any]]:
    """Optuna's state and value for each trial, and a row for trials that never opened an MLflow run."""
    if storage is None:
        return rows
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:  # this storage does not hold the study
        return rows
    by_number = {row["trial"]: row for row in rows}
    for trial in study.get_trials(deepcopy=False):
        row = by_number.get(trial.number)
        if row is None:
            row = dict.fromkeys(COLUMNS)
            row.update(trial=trial.number, beta=_float(trial.params.get("beta")), objective=math.nan)
            row.update(loss_type=trial.params.get("loss"), learning_rate=_float(trial.params.get("learning_rate")))
            rows.append(row)
        row["state"] = trial.state.name
        if trial.constraints:  # the capability guard (max_mc_drop): an infeasible trial is never selected
            row["feasible"] = all(v <= 0 for v in trial.constraints.values())
        if trial.values:  # the first objective of a multi-objective study (FrozenTrial.value refuses those)
            row["objective"] = trial.values[0]
        elif trial.state.name == "FAIL":
            row["objective"] = math.nan
    return rows


def _with_paired(table: Any, client: Any, objective: str) -> Any:
    """`vs_best` (and its paired 95% interval, `within_noise`) of each row against the first (best) row."""
    from functools import partial

    from arabic_pref.pair_records import load_pair_table, per_pair_values
    from arabic_pref.sweep.selection import paired_to_best

    scored = [i for i, row in table.iterrows() if isinstance(row["run_id"], str) and not _missing(row["objective"])]
    if not scored:
        return table
    table["within_noise"] = table["within_noise"].astype(object)  # True/False, None where unknown
    tables = {i: load_pair_table(client, table.at[i, "run_id"]) for i in scored}
    paired = paired_to_best(tables, partial(per_pair_values, objective=objective), scored[0])
    for i, p in paired.items():
        if p is not None:
            table.loc[i, ["vs_best", "vs_best_low", "vs_best_high"]] = [p.difference, p.low, p.high]
            table.at[i, "within_noise"] = p.within_noise
    return table


def _interval(row: Any) -> str:
    return "-" if _missing(row.ci_low) else f"[{row.ci_low:.3f},{row.ci_high:.3f}]"


def _vs_best(row: Any, first: bool) -> str:
    """'best', '-0.031[-0.094,0.000]~' (~ within noise), or '-' when the runs have no per-pair scores."""
    if _missing(row.vs_best):
        return "-"
    if first:
        return "best"
    mark = "~" if row.within_noise is True else ""
    return f"{row.vs_best:+.3f}[{row.vs_best_low:+.3f},{row.vs_best_high:+.3f}]{mark}"


NOISE_NOTE = (
    "ci95: 95% bootstrap interval over prompts; vs_best: paired difference to the best on the same pairs "
    "[95% interval]; ~ = within noise of the best (the interval contains 0)"
)


def format_table(table: Any) -> str:
    """The leaderboard as terminal text: a header line, then one aligned row per trial or run."""
    objective = table.attrs.get("objective", "objective")
    headers = ["trial", "state", "loss", "beta", "lr", objective, "ci95", "n", "vs_best", "acc_len_norm", "steps"]
    headers += ["wall_s", "run"]
    lines = [[str(h) for h in headers]]
    for i, row in enumerate(table.itertuples(index=False)):
        lines.append(
            [
                "" if row.trial is None or _isnan(row.trial) else f"{int(row.trial)}",
                "INFEASIBLE" if getattr(row, "feasible", None) is False else str(row.state or ""),
                str(row.loss_type or ""),
                _num(row.beta, "{:.4g}"),
                _num(row.learning_rate, "{:.2e}"),
                _num(row.objective, "{:.4f}"),
                _interval(row),
                _num(row.pairs, "{:.0f}"),
                _vs_best(row, i == 0),
                _num(row.accuracy_len_norm, "{:.4f}"),
                "" if row.steps is None or _isnan(row.steps) else str(int(row.steps)),
                _num(row.wall_s, "{:.1f}"),
                str(row.run_name or ""),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    title = f"{table.attrs.get('source', '')}: {len(table)} rows, sorted by {objective}"
    return "\n".join([title, *text, NOISE_NOTE])


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _missing(value: Any) -> bool:
    return value is None or _isnan(value)


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None or _isnan(value) else fmt.format(value)
