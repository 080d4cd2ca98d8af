"""Names of the evaluation's metrics, which sweeps may name as objectives, and what computes each.

Model-free and light: the sweeper validates `hydra.sweeper.objective` with `is_known_metric` before any trial
runs, and a trial runs only the evaluation parts its objective needs (`parts_needed`).
"""

from __future__ import annotations

from arabic_pref.evaluation.eval_sets import PREFIX as EVAL_SET_PREFIX
from arabic_pref.metrics import OBJECTIVES as PREFERENCE_OBJECTIVES

GENERATIONS, KL, PERPLEXITY, EVAL_SETS, MC = "generations", "kl", "perplexity", "eval_sets", "mc"
MC_METRICS = ("accuracy", "delta")  # of mc/<set>/..., what a sweep may optimise or constrain
# metric -> the evaluation part that computes it
METRIC_PARTS = {
    "gen/arabic_share": GENERATIONS,
    "gen/latin_switch_share": GENERATIONS,
    "gen/repetition": GENERATIONS,
    "gen/eot_share": GENERATIONS,
    "gen/length_ratio": GENERATIONS,
    "gen/mean_tokens": GENERATIONS,
    "gen/other_script_share": GENERATIONS,
    "gen/persian_urdu_share": GENERATIONS,
    "gen/capped_share": GENERATIONS,
    "drift/kl_per_token": KL,
    "drift/ppl_ratio": PERPLEXITY,
    "drift/ppl_policy": PERPLEXITY,
}


def eval_set_metric(name: str) -> tuple[str, str] | None:
    """(set name, metric) of `eval_set/<name>/<metric>`, or None when `name` is not of that form."""
    head, _, rest = name.partition("/")
    set_name, _, metric = rest.rpartition("/")
    if head != EVAL_SET_PREFIX or not set_name or metric not in PREFERENCE_OBJECTIVES:
        return None
    return set_name, metric


def mc_metric(name: str) -> tuple[str, str] | None:
    """(set name, metric) of `mc/<name>/accuracy` or `mc/<name>/delta`, or None."""
    head, _, rest = name.partition("/")
    set_name, _, metric = rest.rpartition("/")
    if head != MC or not set_name or "/" in set_name or metric not in MC_METRICS:
        return None
    return set_name, metric


def is_known_metric(name: str, eval_set_names: list[str] | None = None) -> bool:
    if name in METRIC_PARTS or mc_metric(name) is not None:
        return True
    parsed = eval_set_metric(name)
    return parsed is not None and (eval_set_names is None or parsed[0] in eval_set_names)


def objective_names_help(eval_set_names: list[str] | None = None) -> str:
    sets = ", ".join(eval_set_names or []) or "NAME"
    metrics = "|".join(PREFERENCE_OBJECTIVES)
    return f"{', '.join(METRIC_PARTS)}, {MC}/<set>/<{'|'.join(MC_METRICS)}>, or {EVAL_SET_PREFIX}/<{sets}>/<{metrics}>"


def parts_needed(metric_names: list[str] | tuple[str, ...]) -> set[str]:
    parts = {METRIC_PARTS[n] for n in metric_names if n in METRIC_PARTS}
    if any(eval_set_metric(n) for n in metric_names):
        parts.add(EVAL_SETS)
    if any(mc_metric(n) for n in metric_names):
        parts.add(MC)
    return parts
