"""The spec's `trainer.data_loader.tokenize_and_format`, usable with `Dataset.map(..., batched=True)`."""

from __future__ import annotations

from typing import Any

from arabic_pref.data.formatting import tokenize_and_format


class DataLoaderAdapter:
    """The spec's `trainer.data_loader.tokenize_and_format`, usable with `Dataset.map(..., batched=True)`."""

    def __init__(self, trainer: Any):
        self.trainer = trainer

    def tokenize_and_format(self, examples: dict[str, list]) -> dict[str, list]:
        rows = [dict(zip(examples, values, strict=True)) for values in zip(*examples.values(), strict=True)]
        c = self.trainer.config
        formatted, counts = tokenize_and_format(
            rows,
            self.trainer.setup_tokenizer(),
            max_prompt_length=c.max_prompt_length,
            max_length=c.max_length,
            system_prompt=c.system_prompt,
        )
        self.trainer._add_format_counts(counts)
        return {key: [row[key] for row in formatted] for key in ("prompt", "chosen", "rejected")}
