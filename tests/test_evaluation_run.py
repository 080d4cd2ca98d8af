"""The Arabic evaluation in real short runs: MLflow metrics and table read back with MLflow's client."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from arabic_pref.data import load_preference_data
from arabic_pref.evaluation.runner import GENERATIONS_TABLE
from arabic_pref.train import train
from tests.conftest import compose, overrides_for, run_cli

FAST_EVAL = ["eval_max_new_tokens=6", "eval_prompts_path=null"]


def _pair_file(tmp_path, n=6):
    rows = load_preference_data("builtin:arabic-sample").validation[:n]
    path = tmp_path / "dialect_pairs.jsonl"
    lines = [json.dumps({k: r[k] for k in ("prompt", "chosen", "rejected")}, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_run_logs_generations_drift_and_an_extra_eval_set(tmp_path, run_dirs):
    pairs = _pair_file(tmp_path)
    cfg = compose([*overrides_for(run_dirs), *FAST_EVAL, f"eval_sets=['dialects={pairs}']"])
    summary = train(cfg)
    client = MlflowClient(tracking_uri=summary["tracking_uri"])
    run = client.get_run(summary["mlflow_run_id"])
    metrics = run.data.metrics
    for name in ("gen/arabic_share", "gen/length_ratio", "gen/repetition", "gen/eot_share", "gen/latin_switch_share"):
        assert 0.0 <= metrics[name] and name in summary, name
    assert metrics["drift/kl_per_token"] >= 0.0 and metrics["drift/ppl_ratio"] > 0.0
    assert metrics["drift/kl_tokens"] > 0
    prefix = "eval_set/dialects/"
    for name in ("preference_accuracy", "preference_accuracy_per_token", "reward_margin", "length_baseline_accuracy"):
        assert prefix + name in metrics and summary[prefix + name] == pytest.approx(metrics[prefix + name])
    assert metrics[prefix + "pairs"] == 4  # capped at max_eval_samples, as the validation split is
    assert metrics[prefix + "preference_accuracy_n"] == 4  # with its interval, as every accuracy
    assert metrics[prefix + "preference_accuracy_ci_low"] <= metrics[prefix + "preference_accuracy"]
    assert "pair_scores/eval_set_dialects.json" in {
        a.path for a in client.list_artifacts(run.info.run_id, "pair_scores")
    }
    # the capability guard on the shipped multiple-choice set: reference and trained model, and their difference
    mc = "mc/arabic_mc/"
    assert metrics[mc + "questions"] == 24 and 0.0 <= metrics[mc + "reference_accuracy"] <= 1.0
    assert metrics[mc + "delta"] == pytest.approx(metrics[mc + "accuracy"] - metrics[mc + "reference_accuracy"])
    assert summary[mc + "accuracy"] == pytest.approx(metrics[mc + "accuracy"])
    assert mc + "subject/history/accuracy" in metrics
    for name in ("gen/other_script_share", "gen/persian_urdu_share", "gen/capped_share"):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert 0.0 <= summary[prefix + "preference_accuracy"] <= 1.0
    # the generations table, read back with MLflow: one row per shipped prompt, both answers side by side
    table = client.load_table(run.info.experiment_id, GENERATIONS_TABLE, run_ids=[run.info.run_id])
    assert len(table) == 28 and set(table["step"]) == {summary["global_step"]}
    assert {"prompt", "dialect", "policy_response", "reference_response", "policy_ended"} <= set(table.columns)
    assert table["policy_tokens"].max() <= 6
    assert "eval/generations.json" in {a.path for a in client.list_artifacts(run.info.run_id, "eval")}


def test_each_part_switches_off(tmp_path, run_dirs):
    cfg = compose([*overrides_for(run_dirs), "eval_generations=false", "eval_drift=false", "eval_mc_sets=[]"])
    summary = train(cfg)
    run = MlflowClient(tracking_uri=summary["tracking_uri"]).get_run(summary["mlflow_run_id"])
    assert not [k for k in run.data.metrics if k.startswith(("gen/", "drift/", "eval_set/", "mc/", "eval/arabic"))]
    assert not [k for k in summary if k.startswith(("gen/", "drift/"))]


def test_evaluation_at_eval_steps_logs_each_step(tmp_path, run_dirs):
    cfg = compose(
        [
            *overrides_for(run_dirs),
            *FAST_EVAL,
            "eval_drift=false",
            "eval_at_eval_steps=true",
            "eval_strategy=steps",
            "eval_steps=1",
        ]
    )
    summary = train(cfg)
    client = MlflowClient(tracking_uri=summary["tracking_uri"])
    history = client.get_metric_history(summary["mlflow_run_id"], "gen/arabic_share")
    assert sorted(m.step for m in history) == [1, 2]  # the end reuses the evaluation of the last step
    run = client.get_run(summary["mlflow_run_id"])
    table = client.load_table(run.info.experiment_id, GENERATIONS_TABLE, run_ids=[run.info.run_id])
    assert sorted(set(table["step"])) == [1, 2] and len(table) == 56
    # the reference is frozen: answered once, the same at both steps
    by_step = table.groupby("step")["reference_response"].apply(list)
    assert by_step[1] == by_step[2]


@pytest.mark.slow
def test_bad_eval_set_fails_before_any_model_loads(tmp_path):
    result = run_cli(["eval_sets=['x=missing.jsonl']", "max_steps=1"], cwd=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "error: eval_sets: x: " in result.stderr and "missing.jsonl" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()  # nothing tracked
