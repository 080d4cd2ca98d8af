"""Per-pair scores as a run artifact (`pair_scores/<split>.json`), so two runs can be compared pair by pair.

Why: an accuracy is a mean of per-pair outcomes; two trials scored on the same validation pairs differ by far less
noise than their two intervals suggest, but only the per-pair scores can show it (a paired bootstrap,
`arabic_pref.intervals.paired_difference`). Each evaluation writes one small JSON table (columns of equal length):
`pair_id` (hash of prompt, chosen and rejected text, so pairs are matched by content, not position),
`prompt_hash` (the cluster a bootstrap resamples together), the slice tags, the chosen and rejected log-ratios
log pi - log pi_ref (summed and per token) and the token counts. A later evaluation of the same split overwrites
the file: the artifact holds the run's last evaluation (its `step` says which).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from arabic_pref.metrics import PairScores, pair_outcomes

FOLDER = "pair_scores"
# objectives whose per-pair values the table holds (their means are the logged metrics)
PAIRED_OBJECTIVES = ("preference_accuracy", "preference_accuracy_per_token", "logratio_margin_per_token")


def text_hash(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:16]


def artifact_name(split: str) -> str:
    return f"{FOLDER}/{split.replace('/', '_')}.json"


def pair_table(
    scores: PairScores,
    prompts: Sequence[object] | None = None,
    pair_keys: Sequence[object] | None = None,
    tags: Mapping[str, Sequence[object]] | None = None,
    step: int | None = None,
) -> dict[str, Any]:
    """The table of one evaluation. `prompts`: each pair's prompt (text or token ids); `pair_keys`: what
    identifies a pair (default: prompt and position)."""
    n = len(scores)
    prompts = list(prompts) if prompts is not None else [str(i) for i in range(n)]
    keys = list(pair_keys) if pair_keys is not None else [(p, i) for i, p in enumerate(prompts)]
    chosen, rejected = scores.chosen_logratios(), scores.rejected_logratios()
    table: dict[str, Any] = {
        "pair_id": [text_hash(k) for k in keys],
        "prompt_hash": [text_hash(p) for p in prompts],
        "chosen_logratio": chosen,
        "rejected_logratio": rejected,
        "chosen_logratio_per_token": [c / max(t, 1) for c, t in zip(chosen, scores.chosen_tokens, strict=True)],
        "rejected_logratio_per_token": [r / max(t, 1) for r, t in zip(rejected, scores.rejected_tokens, strict=True)],
        "chosen_tokens": list(scores.chosen_tokens),
        "rejected_tokens": list(scores.rejected_tokens),
    }
    for tag, values in (tags or {}).items():
        table[f"tag/{tag}"] = [None if v is None else str(v) for v in values]
    return {"step": step, "columns": table}


def log_pair_table(split: str, table: dict[str, Any]) -> None:
    """Into the active MLflow run, when there is one."""
    import mlflow

    if mlflow.active_run() is None:
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / artifact_name(split).split("/")[-1]
        path.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
        mlflow.log_artifact(str(path), artifact_path=FOLDER)


def load_pair_table(client: Any, run_id: str, split: str = "validation") -> dict[str, Any] | None:
    """A run's table read back from MLflow; None when the run has none."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per run would flood the table
    try:
        with tempfile.TemporaryDirectory() as folder:
            local = client.download_artifacts(run_id, artifact_name(split), folder)
            return json.loads(Path(local).read_text(encoding="utf-8"))
    except Exception:  # no such artifact (older runs, failed trials): nothing to pair
        return None


def per_pair_values(table: dict[str, Any], objective: str) -> dict[str, float] | None:
    """{pair_id: value} whose mean is `objective` on that evaluation; None for objectives without per-pair form."""
    cols = table["columns"]
    if objective == "preference_accuracy":
        values = pair_outcomes(cols["chosen_logratio"], cols["rejected_logratio"])
    elif objective == "preference_accuracy_per_token":
        values = pair_outcomes(cols["chosen_logratio_per_token"], cols["rejected_logratio_per_token"])
    elif objective == "logratio_margin_per_token":
        values = [
            c - r for c, r in zip(cols["chosen_logratio_per_token"], cols["rejected_logratio_per_token"], strict=True)
        ]
    else:
        return None
    if any(not math.isfinite(v) for v in values):
        return None
    return dict(zip(cols["pair_id"], values, strict=True))


def clusters_of(table: dict[str, Any]) -> dict[str, str]:
    cols = table["columns"]
    return dict(zip(cols["pair_id"], cols["prompt_hash"], strict=True))
