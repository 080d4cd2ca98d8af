"""Run names that say what ran, so the MLflow UI's run list reads without opening each run.

MLflow otherwise draws random names ("crawling-owl-52"), and trials of one sweep can even share one. A single
run is named `sigmoid b=0.1 lr=5e-3`, a sweep trial `t07 ipo b=0.12 lr=3e-4` (trial number first, so the
nested list sorts by trial). The learning rate shown is the one the run trains with (after the spec's cap).
A `run_name` set by the user always wins.
"""

from __future__ import annotations

from typing import Any

from arabic_pref.config_checks import effective_learning_rate


def short_number(value: float) -> str:
    """Two significant digits, without padding: 0.12, 0.1, 0.021, 3e-4, 1.5e-3."""
    if value == 0:
        return "0"
    if 1e-2 <= abs(value) < 100:
        return f"{value:.2g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def describe_run(loss_type: str, beta: float, learning_rate: float, trial_number: int | str | None = None) -> str:
    """`t07 ipo b=0.12 lr=3e-4` for a trial, `sigmoid b=0.1 lr=5e-3` without a trial number."""
    name = f"{loss_type} b={short_number(float(beta))} lr={short_number(float(learning_rate))}"
    if trial_number is None or trial_number == "":
        return name
    return f"t{int(trial_number):02d} {name}"


def run_name_for(config: Any, trial_number: int | str | None = None) -> str:
    """The MLflow run name of a training run: the user's `run_name`, else a description of what ran."""
    if config.run_name:
        return str(config.run_name)
    return describe_run(config.loss_type, config.beta, effective_learning_rate(config), trial_number)
