"""Preference accuracy of a real pretrained checkpoint on ARCD pairs, before and after LoRA DPO (a benchmark).

    python benchmarks/smollm2_arcd.py [--train-pairs 96] [--test-pairs 120] [--steps 24] [--out result.json]

Model: SmolLM2-135M-Instruct (`model_name=builtin:smollm2-135m-instruct`, fetched and converted on first use).
Data: ../shared/data/arcd_pairs_train.jsonl (training) and arcd_pairs_test.jsonl (scoring): a passage and a
question in Arabic; chosen = the answer span, rejected = another span of the same passage. Pairs are taken in
file order among those whose prompt (chat template, default Arabic system prompt) fits `--max-prompt-length`
tokens without cutting, so the passage that holds the answer is whole; the response budget is
`--max-length` minus the prompt.

Every test pair is scored by log pi(y|x) over the response tokens (end-of-turn token included), for the
reference (the base model) and the DPO policy (base + adapter). Reported accuracies (ties count 1/2):
- reference: log pi_ref(chosen) > log pi_ref(rejected), summed and length-normalised (mean per token);
- after DPO: the implicit reward log pi - log pi_ref, summed (DPO's own criterion) and length-normalised
  (mean per-token log-ratio), and the policy's own likelihood ranking, summed and per token;
- length-only baseline: the longer response (in tokens) wins, and the shorter one wins.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from arabic_pref.checkpoints import SMOLLM2_MODEL
from arabic_pref.config import DEFAULT_SYSTEM_PROMPT, DPOConfig
from arabic_pref.data import load_preference_data
from arabic_pref.data.formatting import fit_prompt, prompt_messages, tokenize_and_format
from arabic_pref.metrics import preference_accuracy
from arabic_pref.training.dpo_trainer import DPOTrainer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def select_pairs(rows: list[dict], tokenizer, n: int, max_prompt_length: int) -> tuple[list[dict], int]:
    """The first `n` pairs whose prompt fits uncut, and how many were examined to find them."""
    chosen: list[dict] = []
    for examined, row in enumerate(rows, start=1):
        fitted = fit_prompt(tokenizer, prompt_messages(row["prompt"], DEFAULT_SYSTEM_PROMPT), max_prompt_length)
        if fitted is not None and not fitted[2]:
            chosen.append({k: row[k] for k in ("prompt", "chosen", "rejected")})
            if len(chosen) == n:
                return chosen, examined
    return chosen, len(rows)


@torch.no_grad()
def response_logps(model, tokenizer, prompt: str, response: str) -> tuple[float, int]:
    """Sum of log pi(response | prompt) over the response tokens, and their number."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + response_ids])
    logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].float()
    logps = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(response_ids)[:, None])
    return float(logps.sum()), len(response_ids)


def score(model, tokenizer, pairs: list[dict]) -> list[dict]:
    model.eval()
    out = []
    for pair in pairs:
        chosen, n_chosen = response_logps(model, tokenizer, pair["prompt"], pair["chosen"])
        rejected, n_rejected = response_logps(model, tokenizer, pair["prompt"], pair["rejected"])
        out.append({"chosen": chosen, "rejected": rejected, "n_chosen": n_chosen, "n_rejected": n_rejected})
    return out


def accuracy(chosen: list[float], rejected: list[float]) -> float:
    return round(preference_accuracy(chosen, rejected), 4)


def report(ref: list[dict], policy: list[dict]) -> dict:
    def per_token(scores, side):
        return [s[side] / s[f"n_{side}"] for s in scores]

    def side(scores, name):
        return [s[name] for s in scores]

    ratio = {k: [p[k] - r[k] for p, r in zip(policy, ref, strict=True)] for k in ("chosen", "rejected")}
    n_chosen, n_rejected = side(ref, "n_chosen"), side(ref, "n_rejected")
    return {
        "reference_summed": accuracy(side(ref, "chosen"), side(ref, "rejected")),
        "reference_per_token": accuracy(per_token(ref, "chosen"), per_token(ref, "rejected")),
        "dpo_implicit_reward_summed": accuracy(ratio["chosen"], ratio["rejected"]),
        "dpo_implicit_reward_per_token": accuracy(
            [r / n for r, n in zip(ratio["chosen"], n_chosen, strict=True)],
            [r / n for r, n in zip(ratio["rejected"], n_rejected, strict=True)],
        ),
        "dpo_policy_summed": accuracy(side(policy, "chosen"), side(policy, "rejected")),
        "dpo_policy_per_token": accuracy(per_token(policy, "chosen"), per_token(policy, "rejected")),
        "length_longer_wins": accuracy([float(n) for n in n_chosen], [float(n) for n in n_rejected]),
        "length_shorter_wins": accuracy([-float(n) for n in n_chosen], [-float(n) for n in n_rejected]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-pairs", type=int, default=96)
    parser.add_argument("--test-pairs", type=int, default=120)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--max-prompt-length", type=int, default=320)
    parser.add_argument("--max-length", type=int, default=384)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=str, default=None, help="also write the result as JSON here")
    args = parser.parse_args()
    wall = time.perf_counter()
    torch.manual_seed(args.seed)

    with tempfile.TemporaryDirectory(prefix="smollm2-arcd-") as folder:
        config = DPOConfig(
            model_name=SMOLLM2_MODEL,
            dataset_path=f"{folder}/pairs",
            output_dir=f"{folder}/out",
            report_to="none",
            beta=args.beta,
            learning_rate=args.learning_rate,
            learning_rate_override=True,
            max_steps=args.steps,
            per_device_train_batch_size=args.batch,
            per_device_eval_batch_size=8,
            gradient_accumulation_steps=1,
            gradient_checkpointing=False,
            max_length=args.max_length,
            max_prompt_length=args.max_prompt_length,
            logging_steps=4,
            seed=args.seed,
        )
        trainer = DPOTrainer(config)
        tokenizer = trainer.setup_tokenizer()  # fetches and converts the checkpoint on first use
        start = time.perf_counter()
        train_rows = load_preference_data(str(DATA / "arcd_pairs_train.jsonl")).train
        test_data = load_preference_data(str(DATA / "arcd_pairs_test.jsonl"))
        test_rows = test_data.train + test_data.validation
        train_pairs, train_examined = select_pairs(train_rows, tokenizer, args.train_pairs + 8, args.max_prompt_length)
        test_pairs, test_examined = select_pairs(test_rows, tokenizer, args.test_pairs, args.max_prompt_length)
        Path(f"{folder}/pairs").mkdir()
        for name, rows in (("train", train_pairs[:-8]), ("validation", train_pairs[-8:])):
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            Path(f"{folder}/pairs/{name}.jsonl").write_text(text, encoding="utf-8")
        formatted, counts = tokenize_and_format(
            test_pairs,
            tokenizer,
            max_prompt_length=args.max_prompt_length,
            max_length=args.max_length,
            system_prompt=DEFAULT_SYSTEM_PROMPT,
        )
        select_s = time.perf_counter() - start

        model = trainer.setup_model()
        start = time.perf_counter()
        reference = score(model, tokenizer, formatted)
        score_s = time.perf_counter() - start

        trl_trainer = trainer.build()
        start = time.perf_counter()
        result = trl_trainer.train()
        train_s = time.perf_counter() - start
        policy = score(trainer.model, tokenizer, formatted)
        with trainer.model.disable_adapter():
            reference_again = score(trainer.model, tokenizer, formatted[:4])
        assert all(abs(a["chosen"] - b["chosen"]) < 1e-3 for a, b in zip(reference_again, reference, strict=False))

    summary = {
        "model": SMOLLM2_MODEL,
        "train_pairs": len(train_pairs) - 8,
        "train_pairs_examined": train_examined,
        "test_pairs": len(formatted),
        "test_pairs_examined": test_examined,
        "test_format_counts": dict(counts),
        "mean_response_tokens": {
            "chosen": round(sum(s["n_chosen"] for s in reference) / len(reference), 1),
            "rejected": round(sum(s["n_rejected"] for s in reference) / len(reference), 1),
        },
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "steps": trl_trainer.state.global_step,
        "train_loss": round(result.training_loss, 4),
        "accuracy": report(reference, policy),
        "seconds": {
            "select_and_format": round(select_s, 1),
            "score_reference": round(score_s, 1),
            "train": round(train_s, 1),
            "total_wall": round(time.perf_counter() - wall, 1),
        },
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
