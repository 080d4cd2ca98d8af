"""What a run's model says next to its reference, for a few prompts, and how to show Arabic text right.

The run's own `config.json` artifact rebuilds its DPOConfig (same system prompt, same base), the saved model
comes back from the run's output folder through the spec's `load_model`, and `generate_comparison` answers.
`comparison_html` lays the answers out for a notebook with `dir="rtl"` so Arabic reads right-to-left with its
punctuation where it belongs.
"""

from __future__ import annotations

import html
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run_config(client: Any, run_id: str) -> Any:
    """The DPOConfig a run trained with (its `config.json` artifact)."""
    from arabic_pref.config import DPOConfig

    with tempfile.TemporaryDirectory() as folder:
        path = client.download_artifacts(run_id, "config.json", folder)
        fields = json.loads(Path(path).read_text(encoding="utf-8"))
    return DPOConfig(**fields)


def run_generations(
    client: Any, run_id: str, prompts: Sequence[str], max_length: int = 48, **generation_kwargs: Any
) -> list[dict[str, str]]:
    """`generate_comparison` of the run's saved model for each prompt (greedy unless kwargs say otherwise)."""
    from arabic_pref.training.dpo_trainer import create_dpo_trainer

    config = run_config(client, run_id)
    config.report_to = "none"  # answering prompts is not a new run
    trainer = create_dpo_trainer(config)
    trainer.load_model(config.output_dir)
    return [trainer.generate_comparison(p, max_length=max_length, **generation_kwargs) for p in prompts]


def comparison_html(comparisons: Sequence[dict[str, str]], title: str = "") -> str:
    """An HTML table (prompt, trained model, reference), each cell right-to-left Arabic."""
    cell = 'style="text-align:right;vertical-align:top;padding:4px 8px"'
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td dir="rtl" lang="ar" {cell}>{html.escape(c[key])}</td>'
            for key in ("prompt", "trained_model_response", "reference_model_response")
        )
        + "</tr>"
        for c in comparisons
    )
    head = "".join(f"<th {cell}>{h}</th>" for h in ("prompt", "trained model", "reference model"))
    caption = f"<caption>{html.escape(title)}</caption>" if title else ""
    return f'<table dir="rtl">{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
