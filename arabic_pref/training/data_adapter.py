"""The spec's `trainer.data_loader.tokenize_and_format`, usable with `Dataset.map(..., batched=True)`."""

from __future__ import annotations

from typing import Any

from arabic_pref.data.formatting import tokenize_and_format

PAIR_KEYS = ("prompt", "chosen", "rejected")


class DataLoaderAdapter:
    """The spec's `trainer.data_loader.tokenize_and_format`, usable with `Dataset.map(..., batched=True)`."""

    def __init__(self, trainer: Any):
        self.trainer = trainer

    def tokenize_and_format(self, examples: dict[str, list]) -> dict[str, list]:
        rows = [dict(zip(examples, values, strict=True)) for values in zip(*examples.values(), strict=True)]
        c = self.trainer.config
        tokenizer = self.trainer.setup_tokenizer()
        extra = [k for k in examples if k not in PAIR_KEYS]  # slice tags of evaluation sets ride along
        out: dict[str, list] = {key: [] for key in (*PAIR_KEYS, *extra)}
        for row in rows:  # one by one, so the tags of a pair the formatting drops are dropped with it
            formatted, counts = tokenize_and_format(
                [row],
                tokenizer,
                max_prompt_length=c.max_prompt_length,
                max_length=c.max_length,
                system_prompt=c.system_prompt,
            )
            self.trainer._add_format_counts(counts)
            for pair in formatted:
                for key in PAIR_KEYS:
                    out[key].append(pair[key])
                for key in extra:
                    out[key].append(row[key])
        return out


def pair_rows(rows: list[dict], tags: list[str] | tuple[str, ...] = ()) -> list[dict]:
    """The pair columns, plus the slice tags the rows carry (None where a row has none), for evaluation sets."""
    present = [t for t in tags if any(t in r for r in rows)]
    return [
        {
            "prompt": r["prompt"],
            "chosen": r["chosen"],
            "rejected": r["rejected"],
            **{t: tag_value(r.get(t)) for t in present},
        }
        for r in rows
    ]


def tag_value(value: Any) -> str | None:
    return None if value is None else str(value)
