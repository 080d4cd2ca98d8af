"""Extra evaluation sets: further pair files scored at the end of a run, each under `eval_set/<name>/`.

`eval_sets` entries are `path` (name = the file's stem) or `name=path`. Every file is read and checked with the
same readers and record checks as training data (any supported format; all its splits are pooled) when the run
is prepared, before a model loads, so a bad file fails fast with its file and line. Scoring uses the trainer's
own per-pair scores (`DPOTrainer.score_pairs`) and `arabic_pref.metrics.preference_metrics`, so an eval set
gets exactly the validation split's accuracy variants. This module imports nothing heavy at import time: the
config validates entries with `parse_entries`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arabic_pref.config_checks import EVAL_SETS_KEY as KEY
from arabic_pref.config_checks import parse_eval_set_entries as parse_entries
from arabic_pref.errors import ConfigError

PREFIX = "eval_set"


@dataclass
class EvalSet:
    name: str
    path: str
    pairs: list[dict[str, Any]] = field(default_factory=list)
    prepared: Any = None  # tokenized, with reference log-probs: prepared once, scored at every evaluation

    @property
    def prefix(self) -> str:
        return f"{PREFIX}/{self.name}/"


def load_eval_sets(entries: list[str], normalize: str = "none", max_pairs: int | None = None) -> list[EvalSet]:
    """Read and check every set; `max_pairs` keeps the first ones of each (the run's max_eval_samples)."""
    from arabic_pref.data.readers import read_source
    from arabic_pref.data.records import RecordChecker
    from arabic_pref.errors import DataError

    sets = []
    for name, path in parse_entries(entries):
        try:
            source = read_source(path)
            checker = RecordChecker(normalize)
            pairs = [checker.check(where, value) for rows in source.splits.values() for where, value in rows]
        except DataError as e:
            raise ConfigError(KEY, f"{name}: {e}") from None
        if not pairs:
            raise ConfigError(KEY, f"{name}: {path} holds no pairs")
        sets.append(EvalSet(name, path, pairs[:max_pairs] if max_pairs else pairs))
    return sets


def score_eval_set(dpo_trainer: Any, eval_set: EvalSet) -> dict[str, float]:
    """`eval_set/<name>/<metric>` for every preference metric, plus `eval_set/<name>/pairs`."""
    from datasets import Dataset

    from arabic_pref.metrics import preference_metrics
    from arabic_pref.pair_records import log_pair_table, pair_table

    rows = [{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in eval_set.pairs]
    if eval_set.prepared is None:
        eval_set.prepared = dpo_trainer._prepare_eval(Dataset.from_list(rows))
    scores = dpo_trainer.score_pairs(eval_set.prepared)
    prompts = [r["prompt"] for r in rows] if len(rows) == len(scores) else None
    metrics = preference_metrics(scores, dpo_trainer.config.beta, prompts) | {"pairs": float(len(scores))}
    if prompts is not None and dpo_trainer.config.report_to == "mlflow":
        keys = [(r["prompt"], r["chosen"], r["rejected"]) for r in rows]
        log_pair_table(f"eval_set_{eval_set.name}", pair_table(scores, prompts, keys))
    return {eval_set.prefix + k: v for k, v in metrics.items()}
