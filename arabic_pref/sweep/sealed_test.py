"""The test split, scored once the sweep has chosen: for the selected trial(s) only, from their saved adapters.

Why at the end: a test number that exists for every trial gets looked at (optuna-dashboard, trials.csv, child
runs) and, looked at, it selects. So trials never score the test split (DPOTrainer._score_test_split), and the
driver scores it here for the trial(s) the sweep selected, and only these: the config the trial ran with (its
MLflow `config.json`), the adapter or model it saved (`output_dir`, DPOTrainer.load_model), the same scoring as
every evaluation (arabic_pref.training.scoring). The numbers go to the parent run as `selected_test/...` (and
`one_se_test/...`) with the per-pair table `pair_scores/test_trial<N>.json`, and to the summary.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from arabic_pref import tracking

log = logging.getLogger("arabic_pref.sweep")


def trial_config(client: Any, run_id: str, output_dir: str) -> Any:
    """The DPOConfig the trial trained with, as a plain evaluation of its saved output (no run, no trial id)."""
    from arabic_pref.config import DPOConfig

    with tempfile.TemporaryDirectory() as folder:
        saved = json.loads(Path(client.download_artifacts(run_id, "config.json", folder)).read_text("utf-8"))
    return DPOConfig(**{**saved, "sweep_trial_id": None, "report_to": "none", "output_dir": output_dir})


def score_test_split(trial: Any, tracking_uri: str) -> tuple[dict[str, float], dict[str, Any] | None]:
    """(`test/<metric>` with intervals, per-pair table) of a completed trial; ({}, None) when the data has no
    test split, or the trial left no run or no saved model."""
    from datasets import Dataset

    from arabic_pref.metrics import preference_metrics, slice_metrics
    from arabic_pref.pair_records import pair_table
    from arabic_pref.training.data_adapter import pair_rows
    from arabic_pref.training.dpo_trainer import create_dpo_trainer
    from arabic_pref.training.scoring import pair_scores

    run_id, output_dir = trial.user_attrs.get("mlflow_run_id"), trial.user_attrs.get("output_dir")
    if not run_id or not output_dir or not Path(output_dir).is_dir():
        log.warning("trial %d: no MLflow run or saved model, its test split is not scored", trial.number)
        return {}, None
    config = trial_config(tracking.client(tracking_uri), run_id, output_dir)
    dpo = create_dpo_trainer(config)
    data = dpo.load_data()
    if not data.test:
        return {}, None
    dpo.load_model(output_dir)
    trainer = dpo.build()
    rows = Dataset.from_list(pair_rows(data.test, config.eval_slices))
    scores = pair_scores(trainer, dpo._prepare_eval(rows), relative=True)
    prompts = list(rows["prompt"])
    tags = {t: rows[t] for t in config.eval_slices if t in rows.column_names}
    metrics = preference_metrics(scores, config.beta, prompts) | slice_metrics(scores, tags, prompts)
    keys = list(zip(rows["prompt"], rows["chosen"], rows["rejected"], strict=True))
    return {f"test/{k}": v for k, v in metrics.items()}, pair_table(scores, prompts, keys, tags)
