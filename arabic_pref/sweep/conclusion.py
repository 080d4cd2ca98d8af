"""What a finished single-objective sweep concludes: the best trial, the one-SE trial, which trials are within noise
of the best, and the test split of the selected trial(s) only.

Computed once when the sweep ends (arabic_pref.sweep.driver), then written to the parent MLflow run
(`finalize_parent_run`) and printed as the summary. The rules are in arabic_pref.sweep.selection; the sealed test
in arabic_pref.sweep.sealed_test.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from arabic_pref import tracking
from arabic_pref.sweep.selection import Paired, best_by_value, complete_trials, noise_line, one_se_trial

log = logging.getLogger("arabic_pref.sweep")


@dataclass
class Conclusion:
    objective: str
    rule: str  # the sweep's `selection`: which of the two is "selected"
    best: Any = None  # FrozenTrial
    one_se: Any = None
    paired: dict[int, Paired | None] = field(default_factory=dict)
    tests: dict[int, dict[str, float]] = field(default_factory=dict)  # trial number -> test/<metric>
    test_tables: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def selected(self) -> Any:
        return self.one_se if self.rule == "one_se" else self.best


def paired_comparison(study: Any, objective: str, tracking_uri: str, best_number: int) -> dict[int, Paired | None]:
    """Each complete trial against the best, pair by pair, from the runs' `pair_scores/validation.json`."""
    from functools import partial

    from arabic_pref.pair_records import load_pair_table, per_pair_values
    from arabic_pref.sweep.selection import paired_to_best

    client = tracking.client(tracking_uri)
    tables = {
        t.number: load_pair_table(client, t.user_attrs["mlflow_run_id"]) if t.user_attrs.get("mlflow_run_id") else None
        for t in complete_trials(study)
    }
    return paired_to_best(tables, partial(per_pair_values, objective=objective), best_number)


def conclude(study: Any, objective: str, rule: str, tracking_uri: str, score_test: bool = True) -> Conclusion:
    c = Conclusion(objective, rule, best_by_value(study), one_se_trial(study))
    if c.best is None:
        return c
    try:
        c.paired = paired_comparison(study, objective, tracking_uri, c.best.number)
    except Exception as e:  # a summary without the paired column beats no summary
        log.warning("paired comparison skipped: %s", e)
    if score_test:
        from arabic_pref.sweep.sealed_test import score_test_split

        for trial in {t.number: t for t in (c.best, c.one_se) if t is not None}.values():
            try:
                c.tests[trial.number], table = score_test_split(trial, tracking_uri)
            except Exception as e:
                log.warning("trial %d: test split not scored (%s: %s)", trial.number, type(e).__name__, e)
                continue
            if table is not None:
                c.test_tables[trial.number] = table
    return c


def validation_pairs(job_config: Any) -> int:
    """How many validation pairs every trial is scored on (read as a run reads them, before any trial)."""
    from arabic_pref.data.loading import load_preference_data, load_settings

    data = load_preference_data(job_config.dataset_path, **load_settings(job_config))
    n = len(data.validation)
    return min(n, job_config.max_eval_samples) if job_config.get("max_eval_samples") else n


def resolution_line(n_pairs: int) -> str:
    """What the validation set can tell: '64 validation pairs: accuracy differences under 0.12 are noise ...'."""
    from arabic_pref.intervals import pairs_for_resolution, resolvable_difference

    return (
        f"{n_pairs} validation pairs: accuracy differences under {resolvable_difference(n_pairs):.2f} are noise "
        f"(95%); resolving 0.05 needs {pairs_for_resolution(0.05)} pairs "
        "(docs/sweeps.md#how-much-validation-a-sweep-needs)"
    )


def log_conclusion(client: Any, run_id: str, c: Conclusion) -> None:
    """Parent-run metrics, tags and per-pair test tables of the selected trial(s)."""
    import json
    import tempfile
    from pathlib import Path

    from arabic_pref.pair_records import FOLDER

    client.set_tag(run_id, "selection", c.rule)
    for label, trial in (("selected", c.selected), ("one_se", c.one_se)):
        if trial is None:
            continue
        client.set_tag(run_id, f"{label}_trial_number", str(trial.number))
        client.log_metric(run_id, f"{label}_value", trial.value)
        for name, value in c.tests.get(trial.number, {}).items():
            client.log_metric(run_id, f"{label}_{name}", value)
    within = [n for n, p in c.paired.items() if p is not None and p.within_noise and c.best and n != c.best.number]
    if c.paired:
        client.log_metric(run_id, "trials_within_noise_of_best", len(within))
    with tempfile.TemporaryDirectory() as folder:
        for number, table in c.test_tables.items():
            path = Path(folder) / f"test_trial{number}.json"
            path.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
            client.log_artifact(run_id, str(path), artifact_path=FOLDER)


def _ci(metrics: dict[str, float], name: str) -> str:
    if f"{name}_ci_low" not in metrics:
        return ""
    return f" [{metrics[f'{name}_ci_low']:.3f}, {metrics[f'{name}_ci_high']:.3f}] of {int(metrics[f'{name}_n'])} pairs"


def summary_lines(c: Conclusion) -> list[str]:
    """The noise-aware part of the sweep summary: both selections, the within-noise count, the sealed test."""
    if c.best is None:
        return []
    lines = []
    if c.paired:
        lines.append("  " + noise_line(c.paired, c.best.number))
    if c.one_se is not None:
        mark = " (selected)" if c.rule == "one_se" else ""
        lines.append(
            f"  one-SE rule  #{c.one_se.number}  {c.objective} = {c.one_se.value:.4f}{mark}: the least drift among "
            "the trials within one standard error of the best"
        )
    shown: set[int] = set()
    for label, trial in (("best", c.best), ("one-SE", c.one_se)):
        if trial is None or trial.number in shown:
            continue
        shown.add(trial.number)
        test = c.tests.get(trial.number)
        if test and "test/preference_accuracy" in test:
            lines.append(
                f"  test split   #{trial.number} ({label}): preference_accuracy {test['test/preference_accuracy']:.4f}"
                f"{_ci(test, 'test/preference_accuracy')}, per token {test['test/preference_accuracy_per_token']:.4f}"
                " (held out: scored for the selected trials only, after selection)"
            )
    return lines
