"""A sweep's objective: one metric and its direction, or several for a multi-objective (Pareto) study.

Syntax (hydra.sweeper): `objective: preference_accuracy` with `direction: maximize`, or lists of equal length,
`objective: [preference_accuracy, drift/kl_per_token]` with `direction: [maximize, minimize]`. A name is a
validation metric (`arabic_pref.metrics.OBJECTIVES`: preference_accuracy, preference_accuracy_per_token,
logratio_margin_per_token, reward_margin) or an Arabic evaluation metric
(`arabic_pref.evaluation.names`: gen/..., drift/..., eval_set/<name>/<metric> for a set in `eval_sets`).
Checked before any trial runs: a bad value is a ConfigError naming `hydra.sweeper.objective` (or `.direction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from arabic_pref.errors import ConfigError
from arabic_pref.metrics import OBJECTIVES as PREFERENCE_OBJECTIVES

OBJECTIVE_KEY = "hydra.sweeper.objective"
DIRECTION_KEY = "hydra.sweeper.direction"
VALIDATION_OBJECTIVES = tuple(PREFERENCE_OBJECTIVES)  # preference_accuracy, its per-token variant, margins
DIRECTIONS = ("maximize", "minimize")


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) or hasattr(value, "__iter__"):
        return list(value)
    return [value]


def parse_objectives(objective: Any, direction: Any, eval_set_names: list[str] | None = None) -> list[tuple[str, str]]:
    """[(metric, direction), ...]; one pair for a single-objective study."""
    from arabic_pref.evaluation.names import is_known_metric, objective_names_help

    metrics, directions = _as_list(objective), _as_list(direction)
    if not metrics or not all(isinstance(m, str) and m for m in metrics):
        raise ConfigError(OBJECTIVE_KEY, f"must be a metric name or a list of them; got {objective!r}")
    if len(set(metrics)) != len(metrics):
        raise ConfigError(OBJECTIVE_KEY, f"names a metric twice: {metrics}")
    for m in metrics:
        if m not in VALIDATION_OBJECTIVES and not is_known_metric(m, eval_set_names):
            raise ConfigError(
                OBJECTIVE_KEY,
                f"unknown metric {m!r}; use one of {', '.join(VALIDATION_OBJECTIVES)}, "
                f"{objective_names_help(eval_set_names)}",
            )
    if len(directions) != len(metrics):
        raise ConfigError(
            OBJECTIVE_KEY,
            f"{len(metrics)} metrics but {len(directions)} directions ({DIRECTION_KEY}): give one direction per "
            "metric, e.g. objective: [preference_accuracy, drift/kl_per_token] with direction: [maximize, minimize]",
        )
    for d in directions:
        if d not in DIRECTIONS:
            raise ConfigError(DIRECTION_KEY, f"must be maximize or minimize (or a list of them); got {d!r}")
    return list(zip(metrics, directions, strict=True))


def objective_value(summary: dict[str, Any], metrics: Sequence[str]) -> Any:
    """What the job returns to the sweeper: one float, or a tuple in the objective's order."""
    missing = [m for m in metrics if summary.get(m) is None]
    if missing:
        raise KeyError(f"the run computed no {', '.join(missing)} (the sweep's objective)")
    values = tuple(float(summary[m]) for m in metrics)
    return values[0] if len(values) == 1 else values
