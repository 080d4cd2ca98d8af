"""The README.md of a saved model: a Hugging Face model card that says how the model was made.

PEFT's `save_pretrained` writes a template card full of "[More Information Needed]". A model pushed to the hub
should document itself instead: YAML front matter the hub reads (base model, library, tags, license when known)
and a body with what a reader needs to trust and reuse it: data and its SHA-256, loss, beta, the learning rate
that actually ran, the metrics, the arabic-pref version, and how to load it. The card is written into the save's
staging folder (see persistence.publish_pretrained), so it lands atomically with the weights; once the final
evaluations ran, it is rewritten with their metrics. Hub uploads: `hub_push`.
"""

from __future__ import annotations

import json
import re
from typing import Any

CARD_FILE = "README.md"
# Licenses of the base models our config groups name (from their hub pages); others are left out.
KNOWN_LICENSES = {
    "Qwen/Qwen2.5-0.5B-Instruct": "apache-2.0",
    "Qwen/Qwen2.5-0.5B": "apache-2.0",
    "Qwen/Qwen2.5-1.5B-Instruct": "apache-2.0",
    "Qwen/Qwen2.5-7B": "apache-2.0",
    "Qwen/Qwen2.5-7B-Instruct": "apache-2.0",
}
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def render_model_card(
    config: Any,
    metadata: dict[str, Any],
    metrics: dict[str, Any],
    learning_rate: float | None = None,
    pairs_used: tuple[int, int] | None = None,
) -> str:
    """The card's Markdown, from the run's config, its dpo_metadata.json content and its final metrics."""
    adapter = bool(config.use_lora)
    base = config.model_name
    front = {
        "library_name": "peft" if adapter else "transformers",
        "pipeline_tag": "text-generation",
        "language": ["ar"],
        "tags": ["arabic-pref", "dpo", "trl", "arabic"] + (["lora"] if adapter else []),
    }
    if _HUB_ID.match(base) and not base.startswith("builtin:"):
        front = {"base_model": base, **front}
    if base in KNOWN_LICENSES:
        front["license"] = KNOWN_LICENSES[base]
    version = metadata.get("package_versions", {}).get("arabic-pref", "unknown")
    lr = config.learning_rate if learning_rate is None else learning_rate
    counts = metadata.get("data_counts", {})
    rows = [
        ("base model", f"`{base}`"),
        ("reference model", f"`{metadata.get('ref_model_name', base)}`"),
        ("method", "DPO" + (f" with LoRA (r={config.lora_r}, alpha={config.lora_alpha})" if adapter else ", full")),
        ("loss", f"`{config.loss_type}`, beta {config.beta:g}, label smoothing {config.label_smoothing:g}"),
        ("learning rate", f"{lr:g} (effective), {config.lr_scheduler_type} schedule"),
        ("data", f"`{config.dataset_path}`, SHA-256 `{metadata.get('dataset_sha256')}`"),
        ("pairs", _pairs(counts, pairs_used)),
        ("lengths", f"max_prompt_length {config.max_prompt_length}, max_length {config.max_length}"),
        ("seed", str(config.seed)),
        ("MLflow run", f"`{metadata.get('mlflow_run_id')}`"),
        ("trained with", f"arabic-pref {version}, " + _versions(metadata)),
    ]
    lines = ["---", *_yaml(front), "---", "", f"# {_title(config)}", ""]
    lines += [
        f"A {'LoRA adapter' if adapter else 'model'} trained with Direct Preference Optimization on Arabic "
        f"preference pairs with arabic-pref, from `{base}`.",
        "",
        "## Training",
        "",
        "| setting | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
        "## Metrics (validation split)",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {_number(v)} |" for k, v in metrics.items() if v is not None],
        "",
        "Preference accuracy: share of validation pairs whose implicit reward is higher for the chosen response "
        "(ties count 1/2); 0.5 before training.",
        "",
        "## How to load",
        "",
        "```python",
        *_loading_code(adapter),
        "```",
        "",
        "`dpo_metadata.json` beside this file records every setting, the package versions and the git commit.",
        "",
    ]
    return "\n".join(lines)


def model_card_for(trainer: Any, metadata: dict[str, Any]) -> str:
    """The card of an arabic_pref trainer's save: its final metrics (if trained) and the learning rate TRL used."""
    trl_trainer = getattr(trainer, "trainer", None)
    learning_rate = trl_trainer.args.learning_rate if trl_trainer is not None else None
    metrics = dict(getattr(trainer, "final_metrics", None) or {})
    if trl_trainer is not None:
        metrics["steps"] = trl_trainer.state.global_step
    data = getattr(trainer, "data", None)
    used = (len(data.train), len(data.validation)) if data is not None else None
    return render_model_card(trainer.config, metadata, metrics, learning_rate, used)


def _pairs(counts: dict[str, Any], used: tuple[int, int] | None) -> str:
    kept = f"{counts.get('data/train_kept', '?')} train, {counts.get('data/validation_kept', '?')} validation"
    if used is None:
        return f"{kept} (kept after the data checks)"
    return f"{used[0]} train, {used[1]} validation used ({kept} kept after the data checks)"


def _title(config: Any) -> str:
    return f"{config.model_name.split('/')[-1].removeprefix('builtin:')} DPO ({config.loss_type}, beta {config.beta:g})"


def _versions(metadata: dict[str, Any]) -> str:
    versions = metadata.get("package_versions", {})
    return ", ".join(f"{k} {v}" for k, v in versions.items() if k != "arabic-pref")


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _yaml(front: dict[str, Any]) -> list[str]:
    out = []
    for key, value in front.items():
        if isinstance(value, list):
            out += [f"{key}:", *[f"- {json.dumps(v)}" for v in value]]
        else:
            out.append(f"{key}: {json.dumps(value)}")
    return out


def _loading_code(adapter: bool) -> list[str]:
    if adapter:
        return [
            "from peft import AutoPeftModelForCausalLM",
            "from transformers import AutoTokenizer",
            "",
            'model = AutoPeftModelForCausalLM.from_pretrained("PATH_OR_HUB_ID")  # base model + this adapter',
            'tokenizer = AutoTokenizer.from_pretrained("PATH_OR_HUB_ID")',
        ]
    return [
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        'model = AutoModelForCausalLM.from_pretrained("PATH_OR_HUB_ID")',
        'tokenizer = AutoTokenizer.from_pretrained("PATH_OR_HUB_ID")',
    ]


def card_metrics(start: dict, final: dict, train_loss: float, evals: dict, test: dict) -> dict[str, Any]:
    """The metrics a model card shows, from a run's start, final, eval and test metrics."""
    return {
        "preference_accuracy (step 0)": start["preference_accuracy"],
        "preference_accuracy": final["preference_accuracy"],
        "preference_accuracy_per_token": final["preference_accuracy_per_token"],
        "length-only baseline": final["length_baseline_accuracy"],
        "reward_margin": final["reward_margin"],
        "eval_loss": evals.get("eval_loss"),
        "train_loss": train_loss,
        **{k: v for k, v in test.items() if k in ("test/preference_accuracy", "test/preference_accuracy_per_token")},
    }
