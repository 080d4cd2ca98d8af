"""Token-length statistics: how long the pairs are as the model sees them, and what the limits would cut.

Character counts mislead for Arabic (Qwen2.5's BPE spends more tokens per Arabic word than per English
one), so lengths are measured in tokens of a real tokenizer, on the text training uses: the prompt rendered
with the chat template and system prompt, each response with its end token. transformers is imported only
when a tokenizer is actually needed (the data command's statistics), never by loading or checking data.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from arabic_pref.chat_format import render_prompt, response_text

PERCENTILES = (50, 90, 95, 99)


@functools.lru_cache(maxsize=4)
def load_tokenizer(source: str | None = None) -> Any:
    """The tokenizer at `source` (a model folder or hub id), or the embedded default's (Qwen2.5's)."""
    from transformers import AutoTokenizer

    if source is None:
        from arabic_pref.builtin.model import ensure_tiny_qwen

        source = str(ensure_tiny_qwen())
    return AutoTokenizer.from_pretrained(source)


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (an observed value, never an interpolation)."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def token_lengths(rows: list[dict[str, Any]], tokenizer: Any, system_prompt: str | None) -> dict[str, list[int]]:
    """Tokens per pair: rendered prompt, chosen + end token, rejected + end token."""
    eos = tokenizer.eos_token or ""
    texts = {
        "prompt": [render_prompt(tokenizer, r["prompt"], system_prompt) for r in rows],
        "chosen": [response_text(r["chosen"]) + eos for r in rows],
        "rejected": [response_text(r["rejected"]) + eos for r in rows],
    }
    return {
        name: [len(ids) for ids in tokenizer(values, add_special_tokens=False)["input_ids"]] if values else []
        for name, values in texts.items()
    }


def length_stats(lengths: dict[str, list[int]], max_prompt_length: int, max_length: int) -> dict[str, Any]:
    """Percentiles, mean and max per field, and how many pairs each limit would truncate."""
    out: dict[str, Any] = {"pairs": len(lengths["prompt"])}
    for name, values in lengths.items():
        ordered = sorted(values)
        if ordered:
            out[name] = {f"p{q}": percentile(ordered, q) for q in PERCENTILES}
            out[name] |= {"mean": sum(ordered) / len(ordered), "max": ordered[-1]}
    prompts, chosen, rejected = lengths["prompt"], lengths["chosen"], lengths["rejected"]
    out["over_max_prompt_length"] = sum(p > max_prompt_length for p in prompts)
    out["over_max_length"] = sum(
        min(p, max_prompt_length) + max(c, r) > max_length for p, c, r in zip(prompts, chosen, rejected, strict=True)
    )
    out["limits"] = {"max_prompt_length": max_prompt_length, "max_length": max_length}
    return out


def render_length_stats(stats: dict[str, Any], tokenizer_name: str) -> str:
    header = "  ".join(f"{f'p{q}':>6}" for q in PERCENTILES) + f"  {'mean':>7}  {'max':>6}"
    lines = [
        f"tokens      {stats['pairs']} kept pairs, {tokenizer_name} (prompt: chat template + system prompt)",
        f"            {'':<9}{header}",
    ]
    for name in ("prompt", "chosen", "rejected"):
        if name in stats:
            row = stats[name]
            cells = "  ".join(f"{row[f'p{q}']:>6}" for q in PERCENTILES) + f"  {row['mean']:>7.1f}  {row['max']:>6}"
            lines.append(f"            {name:<9}{cells}")
    limits = stats["limits"]
    lines.append(
        f"limits      {stats['over_max_prompt_length']} prompts over max_prompt_length={limits['max_prompt_length']} "
        f"(their beginning would be cut), {stats['over_max_length']} pairs over max_length={limits['max_length']} "
        "(a response would be cut)"
    )
    return "\n".join(lines)
