"""The sweep loop: ask Optuna for trials, launch them in batches, tell the results, keep MLflow in step.

Kept apart from the Hydra plugin so the loop reads as the rules it follows (see arabic_pref.sweep.study):
resume up to n_trials finished trials, interrupted trials marked FAIL and not counted, a failure budget,
heartbeats while trials run, and the parent MLflow run updated at the end (also after Ctrl-C).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState

from arabic_pref import tracking
from arabic_pref.secrets import mask_text
from arabic_pref.sweep.coordination import WORKER_ATTR, WorkerSeeds, study_lock, worker_id
from arabic_pref.sweep.objectives import parse_objectives
from arabic_pref.sweep.space import SearchSpace, to_overrides
from arabic_pref.sweep.study import (
    ERROR_ATTR,
    Heartbeat,
    best_trial,
    fail_interrupted,
    failed_trials,
    finished_trials,
    make_storage,
    open_study,
    resolve_storage,
    running_trials,
    tell_outcome,
)
from arabic_pref.upstream import optuna_trial_id

log = logging.getLogger("arabic_pref.sweep")


class SweepDriver:
    def __init__(
        self,
        *,
        settings: Any,
        space: SearchSpace,
        sampler: Any,
        pruner: Any,
        tracking_uri: str | None,
        experiment_name: str,
        eval_set_names: list[str] | None = None,
    ):
        self.objectives = parse_objectives(settings.objective, settings.direction, eval_set_names)
        self.multi = len(self.objectives) > 1
        if self.multi and pruner is not None:
            log.info("multi-objective sweep: trials cannot report intermediate values, so pruning is off")
            pruner = None
        self.s = settings
        self.space = space
        self.storage_url = resolve_storage(settings.storage)
        self.storage, self.study = open_study(  # safe when several workers start on a new database together
            self.storage_url,
            lambda: make_storage(
                self.storage_url,
                settings.heartbeat_interval,
                settings.grace_period,
                int(settings.get("retry_stale_trials", 0) or 0),
            ),
            study_name=settings.study_name,
            sampler=sampler,
            pruner=pruner,
            directions=[d for _, d in self.objectives],
        )
        # under the lock: two workers both seeing no names would both insert them (a unique key)
        with study_lock(self.storage_url, settings.study_name), warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # experimental, stable in use
            if not self.study.metric_names:  # optuna-dashboard and trials.csv name the objective(s)
                self.study.set_metric_names([m for m, _ in self.objectives])
        self.conclusion = None  # what the finished sweep concludes (arabic_pref.sweep.conclusion)
        self.tracking_uri = tracking.resolve_tracking_uri(tracking_uri)
        self.experiment_name = experiment_name
        self.description = {
            "space": space.describe(),
            "sampler": type(sampler).__name__,
            "pruner": type(pruner).__name__ if pruner else "none",
            "objective": ", ".join(f"{m} ({d})" for m, d in self.objectives),
        }

    def run(self, launch: Callable[[list[list[str]]], list[tuple[str, Any]]], report: Any) -> list:
        """Trials until `n_trials` are finished across all workers of the study (arabic_pref.sweep.coordination)."""
        s, study = self.s, self.study
        self._fail_interrupted(report)
        with study_lock(self.storage_url, s.study_name):  # one parent run even when workers start together
            parent = report.open_parent_run(self.tracking_uri, self.experiment_name, study, self.description)
        status = "FAILED"
        results: list = []
        seeds = WorkerSeeds(s.get("sampler"))
        try:
            while True:
                self._fail_interrupted(report)  # trials of dead workers, before each new ask
                with study_lock(self.storage_url, s.study_name):  # count and ask as one step across workers
                    free = s.n_trials - len(finished_trials(study)) - len(running_trials(study))
                    if len(finished_trials(study)) >= s.n_trials or len(failed_trials(study)) >= s.max_failures:
                        break
                    trials = []
                    for _ in range(min(s.n_jobs, max(free, 0))):
                        seeds.reseed(study)
                        trials.append(study.ask())
                        seeds.asked(trials[-1])
                    for trial in trials:  # a first heartbeat now: a worker dying before its job starts is seen
                        self.storage.record_heartbeat(optuna_trial_id(trial))
                        trial.set_user_attr(WORKER_ATTR, worker_id())
                if not trials:  # the remaining trials run on other workers: wait until they finish or go stale
                    time.sleep(s.heartbeat_interval)
                    continue
                batch = [to_overrides(self.space.suggest(t)) + [f"sweep_trial_id={optuna_trial_id(t)}"] for t in trials]
                for trial, overrides in zip(trials, batch, strict=True):
                    log.info("trial %d: %s", trial.number, " ".join(overrides[:-1]))
                try:
                    with Heartbeat(self.storage, [optuna_trial_id(t) for t in trials], s.heartbeat_interval):
                        outcomes = launch(batch, [t.number for t in trials])
                except KeyboardInterrupt:
                    for trial in trials:  # interrupted, not failed: no error attribute, budget not spent
                        self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)  # jobs told theirs
                    raise
                for trial, (kind, value) in zip(trials, outcomes, strict=True):
                    self._tell(trial, kind, value)
                    results.append(value)
            if len(failed_trials(study)) >= s.max_failures:
                log.error(
                    "failure budget spent: %d trials raised (max_failures=%d)",
                    len(failed_trials(study)),
                    s.max_failures,
                )
            if not self.multi:  # selection, the paired comparison and the sealed test split
                from arabic_pref.sweep.conclusion import conclude

                rule = s.get("selection", "best") or "best"
                self.conclusion = conclude(study, self.objectives[0][0], rule, self.tracking_uri)
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            report.finalize_parent_run(self.tracking_uri, parent, study, status, self.conclusion)
        self._print_best(parent)
        return results

    def _fail_interrupted(self, report: Any) -> None:
        interrupted = fail_interrupted(self.study)
        if interrupted:
            log.warning(
                "trials %s were left running by a dead process: marked FAIL (not counted)",
                [t.number for t in interrupted],
            )
        numbers = [t.number for t in interrupted]
        report.fail_child_runs(self.tracking_uri, self.experiment_name, self.s.study_name, numbers)

    def _tell(self, trial: optuna.Trial, kind: str, value: Any) -> None:
        """Tell a trial its job could not tell (the job usually has: then this only logs the outcome)."""
        state = tell_outcome(self.study, trial, kind, value, len(self.objectives))
        if state == TrialState.PRUNED:
            log.info("trial %d pruned", trial.number)
        elif state == TrialState.FAIL:
            error = self.storage.get_trial(optuna_trial_id(trial)).user_attrs.get(ERROR_ATTR)
            if error is None:  # no error of its own: another worker failed it as stale while it ran
                log.warning(
                    "trial %d was marked FAIL by another worker while it ran (its heartbeats were late): "
                    "recorded as interrupted, not counted; a new trial takes its place",
                    trial.number,
                )
            else:
                log.error("trial %d failed (%s); the sweep goes on", trial.number, error[:300])

    def _print_best(self, parent_run_id: str) -> None:
        if self.multi:
            from arabic_pref.sweep.pareto import pareto_summary_lines

            lines = [
                "",
                f"Sweep {self.s.study_name}: {len(finished_trials(self.study))} finished trials in {self.storage_url}",
                *pareto_summary_lines(self.study, parent_run_id),
                f"  open the UI  {tracking.ui_command(self.tracking_uri)}",
            ]
            print(mask_text("\n".join(lines)), flush=True)
            return
        best = best_trial(self.study)
        lines = [
            "",
            f"Sweep {self.s.study_name}: {len(finished_trials(self.study))} finished trials in {self.storage_url}",
        ]
        if best is None:
            complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            lines.append(
                f"  no feasible trial: each of the {len(complete)} completed trials lost more multiple-choice accuracy "
                "than max_mc_drop allows"
                if complete and self.multi is False
                else "  no trial completed"
            )
        else:
            from arabic_pref.sweep.conclusion import summary_lines
            from arabic_pref.sweep.selection import interval_text
            from arabic_pref.sweep.study import best_params

            lines += [
                f"  best trial   #{best.number}  {self.objectives[0][0]} = {best.value:.4f}{interval_text(best)}",
                f"  params       {json.dumps(best_params(best), ensure_ascii=False)}",
                f"  MLflow run   {best.user_attrs.get('mlflow_run_id')} (parent {parent_run_id})",
                f"  output       {best.user_attrs.get('output_dir')}",
            ]
            lines += summary_lines(self.conclusion) if self.conclusion is not None else []
        lines.append(f"  open the UI  {tracking.ui_command(self.tracking_uri)}")
        print(mask_text("\n".join(lines)), flush=True)
