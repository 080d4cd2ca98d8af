"""Search spaces written in Hydra's sweep grammar, sampled by Optuna.

`params` uses the stock Optuna sweeper's syntax so Hydra users feel at home:
    beta: tag(log, interval(0.01, 1.0))      # float, log scale
    lora_r: choice(8, 16, 32)                 # categorical (also config groups: loss: choice(sigmoid, ipo))
    warmup_ratio: interval(0.0, 0.2)          # float, linear
    max_steps: range(20, 100, step=20)        # int grid, as a categorical
    seed: tag(int, interval(1, 100))          # int
`conditional_params` gives a parameter a range per choice of another (IPO's beta lives on another scale than
sigmoid's); with `partial: true` only the choices listed get one (rpo's `sft_weight`), the others keep their
config value:
    beta:
      given: loss
      ranges: {sigmoid: "tag(log, interval(0.01, 0.5))", ipo: "tag(log, interval(0.05, 1.0))"}
Optuna then searches `beta_unit`, a normalised scale u in [0, 1] (the same distribution in every trial, so its
importance evaluator keeps it), and we map u into the range of the chosen loss, on a log scale when the range is
tagged log. The name `beta` means the beta the trial trains with everywhere users look: it is also an Optuna
param (a one-point distribution, so samplers and importances leave it alone and optuna-dashboard and
`trials.csv` show the real value) and a user attribute.

`lr_factor` searches the learning rate relative to the run group's own (`conf/run/<model>.yaml`): the trial trains
at learning_rate = lr_factor x the composed learning_rate, recorded like `beta` (a one-point param and a user
attribute). So one sweep file brackets 5e-3 for the tiny model and 5e-7 for qwen2.5-7b alike. The spec's 5e-7 cap
applies as the composed config says: a sweep file that sets `learning_rate_override: true` lets a factor above 1
lift a capped group (qwen2.5-7b) above 5e-7, on purpose, so the search brackets the group's value on both sides;
with `learning_rate_override: false`, a factor range whose top would cross the cap is refused (training would
flatten it to 5e-7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

from arabic_pref.config_checks import SPEC_LR_CAP
from arabic_pref.errors import ConfigError


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def from_unit(self, u: float) -> float:
        """Map u in [0, 1] into the interval (log-linearly when `log`)."""
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        return round(value) if self.integer else value


def _parse(name: str, expression: str) -> Any:
    try:
        override = OverridesParser.create().parse_overrides([f"{name}={expression}"])[0]
    except Exception as e:  # hydra's grammar errors are verbose; keep the one line that matters
        raise ConfigError(f"hydra.sweeper.params.{name}", f"cannot parse {expression!r}: {e}") from None
    return override.value()


def parse_dimension(name: str, expression: str) -> Any:
    """An `optuna.distributions` object, or an Interval for conditional ranges."""
    import optuna.distributions as d

    value = _parse(name, str(expression))
    if isinstance(value, ChoiceSweep):
        return d.CategoricalDistribution(list(value.list))
    if isinstance(value, RangeSweep):
        return d.CategoricalDistribution(list(value.range()))
    if isinstance(value, IntervalSweep):
        log, integer = "log" in value.tags, "int" in value.tags
        low, high = value.start, value.end
        if log and low <= 0:
            raise ConfigError(f"hydra.sweeper.params.{name}", f"a log interval needs a start > 0, got {low}")
        if integer:
            return d.IntDistribution(int(low), int(high), log=log)
        return d.FloatDistribution(float(low), float(high), log=log)
    raise ConfigError(f"hydra.sweeper.params.{name}", f"expected choice(), range() or interval(), got {expression!r}")


def parse_interval(name: str, expression: str) -> Interval:
    value = _parse(name, str(expression))
    if not isinstance(value, IntervalSweep):
        raise ConfigError(f"hydra.sweeper.conditional_params.{name}", f"expected an interval(), got {expression!r}")
    interval = Interval(float(value.start), float(value.end), "log" in value.tags, "int" in value.tags)
    if interval.log and interval.low <= 0:
        raise ConfigError(f"hydra.sweeper.conditional_params.{name}", "a log interval needs a start > 0")
    return interval


UNIT_SUFFIX = "_unit"
LR_FACTOR = "lr_factor"


def unit_name(name: str) -> str:
    """The Optuna name of a conditional parameter's normalised search variable (`beta` -> `beta_unit`)."""
    return f"{name}{UNIT_SUFFIX}"


@dataclass
class Conditional:
    name: str
    given: str
    ranges: dict[str, Interval]
    partial: bool = False  # choices without a range keep their config value (rpo's sft_weight: rpo only)


class SearchSpace:
    """Plain and conditional parameters; `suggest(trial)` returns the Hydra overrides of one trial."""

    def __init__(self, params: dict[str, str] | None, conditional_params: dict[str, Any] | None = None):
        self.base_learning_rate: float | None = None  # the composed learning rate lr_factor multiplies
        self.dimensions = {name: parse_dimension(name, expr) for name, expr in (params or {}).items()}
        self.conditionals = []
        for name, spec in (conditional_params or {}).items():
            given = spec.get("given")
            if given not in self.dimensions:
                raise ConfigError(
                    f"hydra.sweeper.conditional_params.{name}.given",
                    f"must name a parameter of hydra.sweeper.params, got {given!r}",
                )
            ranges = {str(k): parse_interval(f"{name}.{k}", v) for k, v in spec.get("ranges", {}).items()}
            choices = {str(c) for c in getattr(self.dimensions[given], "choices", ())}
            partial = bool(spec.get("partial", False))
            if not choices or (choices - set(ranges) and not partial) or set(ranges) - choices:
                raise ConfigError(
                    f"hydra.sweeper.conditional_params.{name}.ranges",
                    f"needs a range for every choice of {given} (or `partial: true`): missing "
                    f"{sorted(choices - set(ranges))}, unknown {sorted(set(ranges) - choices)}",
                )
            self.conditionals.append(Conditional(name, given, ranges, partial))

    def suggest(self, trial: Any) -> dict[str, Any]:
        values = {name: _suggest(trial, name, dist) for name, dist in self.dimensions.items()}
        for cond in self.conditionals:
            if str(values[cond.given]) not in cond.ranges:  # partial: this choice keeps its config value
                continue
            u = trial.suggest_float(unit_name(cond.name), 0.0, 1.0)  # normalised: one distribution for every trial
            value = cond.ranges[str(values[cond.given])].from_unit(u)
            trial.suggest_float(cond.name, value, value)  # the real value, recorded as a param under its own name
            trial.set_user_attr(cond.name, value)
            values[cond.name] = value
        if LR_FACTOR in values:
            if self.base_learning_rate is None:
                raise ConfigError("hydra.sweeper.params.lr_factor", "needs the composed learning_rate (check_against)")
            lr = values.pop(LR_FACTOR) * self.base_learning_rate
            trial.suggest_float("learning_rate", lr, lr)  # the learning rate that trains, under its own name
            trial.set_user_attr("learning_rate", lr)
            values["learning_rate"] = lr
        return values

    def learning_rate_range(self) -> tuple[float, float] | None:
        """(lowest, highest) learning rate an `lr_factor` search trains with, once the base is known."""
        dist = self.dimensions.get(LR_FACTOR)
        if dist is None or self.base_learning_rate is None:
            return None
        return dist.low * self.base_learning_rate, dist.high * self.base_learning_rate

    def names(self) -> set[str]:
        return set(self.dimensions) | {cond.name for cond in self.conditionals}

    def check_against(self, job_config: Any) -> None:
        """Refuse a search that training would silently flatten (before any trial runs).

        With `learning_rate_override: false`, every learning rate above the spec's cap trains at 5e-7, so a
        searched learning rate would differ in name only between trials.
        """
        searched = self.names()
        capped = not job_config.get("learning_rate_override", False) and "learning_rate_override" not in searched
        if LR_FACTOR in searched:
            if "learning_rate" in searched:
                raise ConfigError("hydra.sweeper.params", "search learning_rate or lr_factor, not both")
            self.base_learning_rate = float(job_config.learning_rate)
            low, high = self.learning_rate_range()
            if capped and high > SPEC_LR_CAP * (1 + 1e-9):
                raise ConfigError(
                    "hydra.sweeper.params.lr_factor",
                    f"with learning_rate_override=false every rate above the spec's {SPEC_LR_CAP:g} cap trains at "
                    f"{SPEC_LR_CAP:g}, but lr_factor reaches {high:g} ({job_config.learning_rate:g} x "
                    f"{high / job_config.learning_rate:g}); lower its top to {SPEC_LR_CAP / job_config.learning_rate:g}"
                    " or set learning_rate_override: true",
                )
        if "learning_rate" in searched and capped:
            raise ConfigError(
                "learning_rate_override",
                "the sweep searches learning_rate, but with learning_rate_override=false the spec's 5e-7 cap "
                "would train every trial at 5e-7; set learning_rate_override: true in the sweep file",
            )

    def describe(self) -> dict[str, str]:
        out = {name: repr(dist) for name, dist in self.dimensions.items()}
        lr_range = self.learning_rate_range()
        if lr_range is not None:
            out["learning_rate"] = f"lr_factor x {self.base_learning_rate:g} = [{lr_range[0]:g}, {lr_range[1]:g}]"
        for cond in self.conditionals:
            out[cond.name] = f"given {cond.given}: " + ", ".join(
                f"{k}=[{r.low}, {r.high}{', log' if r.log else ''}]" for k, r in cond.ranges.items()
            )
        return out


def _suggest(trial: Any, name: str, dist: Any) -> Any:
    import optuna.distributions as d

    if isinstance(dist, d.CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, d.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


def to_overrides(values: dict[str, Any]) -> list[str]:
    """Hydra overrides for the sampled values (floats with full precision)."""
    return [f"{name}={value!r}" if isinstance(value, float) else f"{name}={value}" for name, value in values.items()]
