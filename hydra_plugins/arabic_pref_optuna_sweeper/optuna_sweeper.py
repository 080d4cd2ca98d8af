"""arabic-pref's Hydra Sweeper on current Optuna: `hydra/sweeper=arabic_pref_optuna`.

Why our own: the released hydra-optuna-sweeper (1.3) needs optuna < 3, whose SQLite storage breaks on
SQLAlchemy 2 (which MLflow needs); it cannot prune (the job never sees its trial) and makes no MLflow parent
run. This one keeps the stock plugin's config names (n_trials, n_jobs, direction, storage, study_name,
sampler with seed, params with interval()/choice()/tag(log, ...)) and adds: resumable studies in any RDB,
pruning, per-choice ranges (conditional_params), a failure budget, and one MLflow parent run per study.

Trials go to the configured Hydra launcher in batches of n_jobs (basic: one after another in this process;
joblib: parallel processes). Each job gets `sweep_trial_id=<id>` and finds everything else in storage.
"""

import logging
import sys
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


@dataclass
class ArabicPrefOptunaSweeperConf:
    _target_: str = "hydra_plugins.arabic_pref_optuna_sweeper.optuna_sweeper.ArabicPrefOptunaSweeper"
    _recursive_: bool = False  # sampler and pruner are instantiated by the sweep, with the study
    sampler: Any = field(default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": None})
    # null disables pruning; any optuna.pruners class works
    pruner: Any = field(
        default_factory=lambda: {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 2, "n_warmup_steps": 0}
    )
    direction: Any = "maximize"  # or a list, one per objective metric
    storage: str | None = None  # default: sqlite:///optuna.db in the launch folder; any SQLAlchemy URL
    study_name: str = "arabic-pref"
    n_trials: int = 20
    n_jobs: int = 1
    # or reward_margin, gen/..., drift/..., eval_set/NAME/...; a list (with a list of directions) for a
    # multi-objective (Pareto) study; never raw DPO loss (scales differ per loss)
    objective: Any = "preference_accuracy"
    max_failures: int = 3  # trials that raised, after which the sweep stops
    # best: the best objective (ties: earlier trial); one_se: the least-drift trial within one standard error of
    # the best (arabic_pref.sweep.selection). Both are reported; this picks which is "selected"
    selection: str = "best"
    # the capability guard as a constraint: a trial whose multiple-choice accuracy (eval_mc_sets; the worst set)
    # falls more than this below the reference's is infeasible, never selected, and TPE learns to avoid it
    max_mc_drop: float | None = None
    # the first evaluation at which the pruner may stop a trial (counted by the trial, so eval_steps cannot move it);
    # 2: never on a single evaluation of a few dozen pairs
    prune_from_evaluation: int = 2
    heartbeat_interval: int = 10
    grace_period: int = 30
    # > 0: a trial whose worker died is run again, up to this many times (Optuna's RetryHeartbeatStaleTrialCallback)
    retry_stale_trials: int = 0
    params: dict[str, str] = field(default_factory=dict)
    conditional_params: dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="arabic_pref_optuna", node=ArabicPrefOptunaSweeperConf, provider="arabic_pref"
)


class ArabicPrefOptunaSweeper(Sweeper):
    def __init__(self, **settings: Any):
        self.settings = OmegaConf.create(settings)
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from hydra.utils import instantiate

        from arabic_pref.config import ConfigError
        from arabic_pref.sweep import report
        from arabic_pref.sweep.driver import SweepDriver
        from arabic_pref.sweep.settings import check_settings
        from arabic_pref.sweep.space import SearchSpace

        s = self.settings
        try:
            check_settings(s)  # before the study is opened: a bad value must not start anything
            for arg in arguments:
                if "," in arg.split("=", 1)[-1] or "(" in arg.split("=", 1)[-1]:
                    raise ConfigError(arg.split("=", 1)[0], "put search spaces in hydra.sweeper.params, not here")
            space = SearchSpace(OmegaConf.to_container(s.params), OmegaConf.to_container(s.conditional_params))
            space.check_against(self.config)
            driver = SweepDriver(
                settings=s,
                space=space,
                sampler=instantiate(s.sampler),
                pruner=instantiate(s.pruner) if s.pruner else None,
                tracking_uri=self.config.tracking_uri,
                experiment_name=self.config.experiment_name,
                eval_set_names=_eval_set_names(self.config),
            )
        except ConfigError as e:  # the sweep's own validation: one line and exit code 2, as for a single run
            print(f"error: {e}", file=sys.stderr, flush=True)
            sys.exit(2)
        _print_resolution(self.config)
        return driver.run(lambda batch, numbers: self._launch(batch, numbers, arguments), report)

    def _launch(
        self, batch: "list[list[str]]", numbers: "list[int]", arguments: "list[str]"
    ) -> "list[tuple[str, Any]]":
        """Run one batch of trials; (status, value or exception) per trial."""
        overrides = [
            tuple(arguments) + tuple(trial_overrides) + (self._subdir(number),)
            for trial_overrides, number in zip(batch, numbers, strict=True)
        ]
        self.validate_batch_is_legal(overrides)
        returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
        self.job_idx += len(returns)
        out = []
        for ret in returns:
            if ret.status == JobStatus.COMPLETED:
                out.append(("ok", ret.return_value))
            else:
                from arabic_pref.upstream import hydra_job_exception

                out.append(("error", hydra_job_exception(ret)))
        return out

    def _subdir(self, trial_number: int) -> str:
        """The trial's folder named by its study-wide number, not Hydra's per-process job counter.

        Hydra names a job's folder `<sweep.dir>/<sweep.subdir>`, `${now:...}/${hydra.job.num}` by default, and
        numbers jobs from 0 in each process: two workers started in the same second from one folder wrote their
        first trials into the same folder (one model overwrote the other). The trial number is unique in the study.
        """
        raw = OmegaConf.to_container(self.config.hydra.sweep, resolve=False).get("subdir", "${hydra.job.num}")
        subdir = str(raw).replace("${hydra.job.num}", str(trial_number))
        return f"hydra.sweep.subdir={subdir}"


def _print_resolution(config: DictConfig) -> None:
    """One line before any trial: how small an accuracy difference this validation set can resolve."""
    from arabic_pref.sweep.conclusion import resolution_line, validation_pairs

    try:
        print(resolution_line(validation_pairs(config)), flush=True)
    except Exception as e:  # the trials report a data problem properly; this line is advice
        log.info("validation size unknown before the trials (%s)", e)


def _eval_set_names(config: DictConfig) -> "list[str]":
    from arabic_pref.evaluation.eval_sets import parse_entries

    return [name for name, _ in parse_entries(list(config.get("eval_sets") or []))]
