"""Comparing runs: run names, the experiment's kind, names in the Optuna study, and `python -m arabic_pref.compare`.

The slow tests read the session's real store (tests/fixtures_store.py) back with MLflow's client and Optuna.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from arabic_pref.compare.runs import COLUMNS, format_table, leaderboard
from arabic_pref.run_names import describe_run, run_name_for, short_number
from arabic_pref.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
from tests.conftest import compose
from tests.fixtures_store import SWEEP_TRIALS

SMOKE_BETA = {"sigmoid": (0.05, 0.5), "ipo": (0.1, 1.0)}  # sweeps/smoke.yaml


def test_run_names_say_what_ran():
    assert describe_run("ipo", 0.1234, 3e-4, 7) == "t07 ipo b=0.12 lr=3e-4"
    assert describe_run("sigmoid", 0.1, 5e-3) == "sigmoid b=0.1 lr=5e-3"
    assert [short_number(v) for v in (0.0205, 1.5e-3, 1.0, 5e-7)] == ["0.021", "1.5e-3", "1", "5e-7"]
    config = compose(["loss=ipo", "beta=0.05"], shrink=False).copy()
    assert run_name_for(config) == "ipo b=0.05 lr=5e-3"
    config.learning_rate_override = False  # the spec's cap applies: the name shows the rate that runs
    assert run_name_for(config, trial_number=3) == "t03 ipo b=0.05 lr=5e-7"
    config.run_name = "my run"
    assert run_name_for(config, trial_number=3) == "my run"  # the user's name wins


def test_leaderboard_text_shows_pruned_and_failed_trials_as_such():
    rows = [
        dict(trial=1, state="COMPLETE", loss_type="ipo", beta=0.2, learning_rate=3e-3, objective=0.75),
        dict(trial=2, state="PRUNED", loss_type="sigmoid", beta=0.05, learning_rate=1e-3, objective=0.5),
        dict(trial=0, state="FAIL", loss_type="sigmoid", beta=0.1, learning_rate=1e-3, objective=math.nan),
    ]
    rows[0].update(ci_low=0.64, ci_high=0.85, pairs=64.0, vs_best=0.0, vs_best_low=0.0, vs_best_high=0.0)
    rows[1].update(ci_low=0.38, ci_high=0.62, pairs=64.0, vs_best=-0.25, vs_best_low=-0.34, vs_best_high=0.02)
    rows[1].update(within_noise=True)
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    table.attrs.update(objective="preference_accuracy", source="sweep 'x'")
    lines = format_table(table).splitlines()
    assert lines[1].split()[:9] == [
        "trial",
        "state",
        "loss",
        "beta",
        "lr",
        "preference_accuracy",
        "ci95",
        "n",
        "vs_best",
    ]
    assert lines[2].split()[:9] == ["1", "COMPLETE", "ipo", "0.2", "3.00e-03", "0.7500", "[0.640,0.850]", "64", "best"]
    assert lines[3].split()[6:9] == ["[0.380,0.620]", "64", "-0.250[-0.340,+0.020]~"]  # ~: within noise
    assert lines[-1].startswith("ci95: 95% bootstrap interval over prompts")
    assert lines[3].split()[:2] == ["2", "PRUNED"] and lines[4].split()[:2] == ["0", "FAIL"]
    assert lines[4].split()[5:9] == ["-", "-", "-", "-"]  # a failed trial has no objective


@pytest.mark.slow
def test_study_names_its_objective_and_beta_is_the_beta_that_ran(compare_store):
    study = optuna.load_study(study_name="smoke", storage=compare_store.storage)
    assert study.metric_names == ["preference_accuracy"]
    client = MlflowClient(tracking_uri=compare_store.tracking_uri)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * SWEEP_TRIALS
    for trial in study.trials:
        loss = trial.params["loss"]
        low, high = SMOKE_BETA[loss]
        assert low <= trial.params["beta"] <= high  # the real beta, as optuna-dashboard shows it
        assert trial.params["beta"] == trial.user_attrs["beta"]
        assert 0 <= trial.params["beta_unit"] <= 1  # the search variable, under its own name
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert float(run.data.params["beta"]) == pytest.approx(trial.params["beta"])
        lr = float(run.data.params["learning_rate"])
        assert run.info.run_name == f"t{trial.number:02d} {loss} b={short_number(trial.params['beta'])} lr=" + (
            short_number(lr)
        )
    frame = study.trials_dataframe()
    assert {"params_beta", "params_beta_unit", "value_preference_accuracy"} <= set(frame.columns)


@pytest.mark.slow
def test_runs_read_well_in_the_ui(compare_store):
    client = MlflowClient(tracking_uri=compare_store.tracking_uri)
    experiment = client.get_experiment_by_name("arabic-pref")
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND  # MLflow's UI opens the training view
    runs = client.search_runs([experiment.experiment_id])
    names = {r.info.run_name for r in runs}
    assert "sigmoid b=0.1 lr=5e-3" in names and "sweep-smoke" in names
    assert len(names) == len(runs)  # no two runs share a name
    for run in runs:
        if run.info.status == "FINISHED" and "arabic_pref.sweep" not in run.data.tags:
            artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
            assert "learning_curves.png" in artifacts, run.info.run_name
            assert len(client.get_metric_history(run.info.run_id, "loss")) == 2  # a point per step


@pytest.mark.slow
def test_leaderboard_of_the_sweep_is_sorted_and_numbers_are_what_ran(compare_store):
    table = leaderboard(compare_store.tracking_uri, study="smoke")
    assert list(table["trial"]) and sorted(table["trial"]) == list(range(SWEEP_TRIALS))
    assert table["objective"].is_monotonic_decreasing  # best first
    study = optuna.load_study(study_name="smoke", storage=compare_store.storage)
    by_number = {t.number: t for t in study.trials}
    for row in table.itertuples():
        trial = by_number[row.trial]
        assert row.state == "COMPLETE" and row.objective == pytest.approx(trial.value)
        assert row.beta == pytest.approx(trial.params["beta"]) and row.loss_type == trial.params["loss"]
        assert row.learning_rate == pytest.approx(trial.params["learning_rate"]) and row.steps == 2
        assert row.wall_s > 0
    single = leaderboard(compare_store.tracking_uri, single=True)
    assert list(single["run_name"]) == ["sigmoid b=0.1 lr=5e-3"] and single["steps"][0] == 2
    broken = leaderboard(compare_store.tracking_uri, study="broken")
    assert list(broken["state"]) == ["FAIL"] and math.isnan(broken["objective"][0])
    assert list(broken["run_name"]) == ["t00 failed"]


@pytest.mark.slow
def test_compare_command_prints_the_table_and_writes_csv_and_plots(compare_store, tmp_path):
    args = [sys.executable, "-m", "arabic_pref.compare", "--plots", str(tmp_path / "plots")]
    result = subprocess.run(
        [*args, "--csv", str(tmp_path / "smoke.csv"), "--study", "smoke"],
        cwd=compare_store.folder,  # the store is found in the launch folder
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sweep 'smoke' of 'arabic-pref': 3 rows, sorted by preference_accuracy")
    assert lines[1].split()[:6] == ["trial", "state", "loss", "beta", "lr", "preference_accuracy"]
    assert all(line.split()[1] == "COMPLETE" for line in lines[2 : 2 + SWEEP_TRIALS])
    assert "other sweeps in this experiment: broken" in result.stdout
    with open(tmp_path / "smoke.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == SWEEP_TRIALS and {"trial", "state", "beta", "learning_rate", "objective"} <= set(rows[0])
    for name in ("accuracy_vs_beta.png", "accuracy_vs_learning_rate.png", "best_learning_curves.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    missing = subprocess.run(
        [sys.executable, "-m", "arabic_pref.compare", "--study", "nope"],
        cwd=compare_store.folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "no sweep 'nope'" in missing.stderr


@pytest.mark.slow
def test_sweep_numbers_carry_their_noise_and_the_test_split_stays_sealed(compare_store, tmp_path):
    """Intervals on every trial, per-pair tables, paired comparison to the best, test scored after selection only."""
    from arabic_pref.pair_records import load_pair_table

    client = MlflowClient(tracking_uri=compare_store.tracking_uri)
    study = optuna.load_study(study_name="smoke", storage=compare_store.storage)
    for trial in study.trials:
        assert not any("test" in key for key in trial.user_attrs), trial.user_attrs  # sealed: no test per trial
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert not any(k.startswith("test/") for k in run.data.metrics)
        m = run.data.metrics
        assert m["preference_accuracy_n"] == 8  # max_eval_samples=8
        assert m["preference_accuracy_ci_low"] <= m["preference_accuracy"] <= m["preference_accuracy_ci_high"]
        assert "length_baseline_accuracy_ci_high" in m and "preference_accuracy_per_token_ci_low" in m
        table = load_pair_table(client, run.info.run_id)
        columns = table["columns"]
        assert len(columns["pair_id"]) == 8 and len(set(columns["pair_id"])) == 8 and table["step"] == 2
        assert {"prompt_hash", "chosen_logratio", "rejected_logratio_per_token", "tag/dialect"} <= set(columns)
    frame = study.trials_dataframe()
    assert not any("test" in column for column in frame.columns)
    # the leaderboard: intervals, and each row's paired difference to the best on the same 8 pairs
    board = leaderboard(compare_store.tracking_uri, study="smoke")
    assert list(board["pairs"]) == [8.0] * SWEEP_TRIALS
    assert board["vs_best"][0] == 0.0 and board["within_noise"][0] is True
    for row in board.itertuples():
        assert row.vs_best_low <= row.vs_best <= row.vs_best_high and isinstance(row.within_noise, bool)
    # the parent run: the selected trial on the test split, scored after the sweep; the within-noise count
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"])
    best = min((t for t in study.trials), key=lambda t: (-t.value, t.number))
    assert parent.data.tags["selected_trial_number"] == str(best.number) and parent.data.tags["selection"] == "best"
    assert 0 <= parent.data.metrics["selected_test/preference_accuracy"] <= 1
    assert parent.data.metrics["selected_test/preference_accuracy_n"] == 8
    assert parent.data.metrics["trials_within_noise_of_best"] == sum(board["within_noise"][1:])
    assert f"pair_scores/test_trial{best.number}.json" in {
        a.path for a in client.list_artifacts(parent.info.run_id, "pair_scores")
    }
    assert "other trials are within noise of the best" in compare_store.sweep_output
    assert "8 validation pairs: accuracy differences under 0.35 are noise" in compare_store.sweep_output
    assert f"test split   #{best.number} (best)" in compare_store.sweep_output
    # a single run logs its test split with intervals, and its per-pair tables
    single = leaderboard(compare_store.tracking_uri, single=True)
    run = client.get_run(single["run_id"][0])
    assert "test/preference_accuracy_ci_low" in run.data.metrics
    paths = {a.path for a in client.list_artifacts(run.info.run_id, "pair_scores")}
    assert {"pair_scores/validation.json", "pair_scores/test.json", "pair_scores/validation_step0.json"} <= paths
