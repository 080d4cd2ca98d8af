"""Answers of the policy and the reference to the shipped Arabic prompts: batched, greedy by default.

Prompts are rendered with the run's chat template and system prompt (`arabic_pref.data.formatting`) and
generation stops at the template's end tokens (`arabic_pref.chat_format.stop_token_ids`), as in
`DPOTrainer.generate_comparison`; here all prompts go in one left-padded batch per model. The reference is
frozen, so its answers are computed once per run and reused at every evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from arabic_pref.evaluation import text_metrics
from arabic_pref.evaluation.inputs import read_text_rows

PROMPTS_KEY = "eval_prompts_path"


@dataclass
class Answers:
    texts: list[str]
    tokens: list[int]  # generated tokens, the end-of-turn token excluded
    ended: list[bool]  # stopped by an end token rather than by max_new_tokens


def shipped_prompts_path() -> Path:
    return Path(str(resources.files("arabic_pref") / "data" / "eval_prompts" / "prompts.jsonl"))


def load_prompts(path: str | None) -> list[dict[str, str]]:
    """Prompt records ({"prompt", optional "id", "dialect", "register"}); ConfigError names file and line."""
    file = Path(path).expanduser() if path else shipped_prompts_path()
    return [
        {"id": str(row.get("id", number)), **{k: str(row.get(k, "")) for k in ("dialect", "register")}}
        | {"prompt": row["prompt"]}
        for number, row in read_text_rows(file, PROMPTS_KEY, "prompt")
    ]


def generate_batch(
    model: Any, tokenizer: Any, prompt_texts: list[str], max_new_tokens: int, batch_size: int = 32, **kwargs: Any
) -> Answers:
    """Answers to rendered prompts, `batch_size` at a time, left-padded; greedy unless `kwargs` say otherwise."""
    import torch

    from arabic_pref.chat_format import stop_token_ids

    stops = set(stop_token_ids(tokenizer))
    settings = {
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "eos_token_id": sorted(stops),
        "pad_token_id": tokenizer.pad_token_id,
        **kwargs,
    }
    device = next(model.parameters()).device
    answers = Answers([], [], [])
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        for start in range(0, len(prompt_texts), batch_size):
            inputs = tokenizer(
                prompt_texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            with torch.no_grad():
                output = model.generate(**inputs, **settings)
            for row in output[:, inputs["input_ids"].shape[1] :].tolist():
                end = next((i for i, t in enumerate(row) if t in stops), None)
                content = row if end is None else row[:end]
                answers.texts.append(tokenizer.decode(content, skip_special_tokens=True).strip())
                answers.tokens.append(len(content))
                answers.ended.append(end is not None)
    finally:
        tokenizer.padding_side = side
        if was_training:
            model.train()
    return answers


def generation_table(prompts: list[dict[str, str]], policy: Answers, reference: Answers, step: int) -> dict[str, list]:
    """Columns of the MLflow table: one row per prompt, both answers side by side."""
    return {
        "step": [step] * len(prompts),
        "id": [p["id"] for p in prompts],
        "dialect": [p["dialect"] for p in prompts],
        "register": [p["register"] for p in prompts],
        "prompt": [p["prompt"] for p in prompts],
        "policy_response": policy.texts,
        "reference_response": reference.texts,
        "policy_tokens": policy.tokens,
        "reference_tokens": reference.tokens,
        "policy_ended": policy.ended,
        "reference_ended": reference.ended,
    }


def generation_metrics(policy: Answers, reference: Answers, budget: int | None = None) -> dict[str, float]:
    """`gen/...` for the policy, `gen/reference/...` for the reference, and the policy/reference length ratio;
    `budget` is the answer budget (eval_max_new_tokens), for `capped_share`."""
    mine = text_metrics.response_metrics(policy.texts, policy.tokens, policy.ended, budget)
    out = {f"gen/{k}": v for k, v in mine.items()}
    ref = text_metrics.response_metrics(reference.texts, reference.tokens, reference.ended, budget)
    out |= {f"gen/reference/{k}": v for k, v in ref.items()}
    ratio = text_metrics.length_ratio(policy.tokens, reference.tokens)
    if ratio is not None:
        out["gen/length_ratio"] = ratio
    return out
