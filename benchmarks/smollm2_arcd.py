"""Preference accuracy of a real pretrained checkpoint on ARCD pairs, before and after LoRA DPO (a benchmark).

    python benchmarks/smollm2_arcd.py [--test-pairs 12] [--steps 2] [--batch 2] [--max-prompt-length 96]
                                      [--max-length 128] [--data-dir ../shared/data] [--out result.json]

The defaults are the run recorded in BENCHMARKS.md, sized for a 2-core CPU shared with other jobs; on a
machine of your own, raise them (e.g. --test-pairs 100 --steps 24 --batch 4 --max-prompt-length 320).

Model: SmolLM2-135M-Instruct (`model_name=builtin:smollm2-135m-instruct`, fetched and converted on first use).
Data: ../shared/data/arcd_pairs_train.jsonl (training) and arcd_pairs_test.jsonl (scoring): a passage and a
question in Arabic; chosen = the answer span, rejected = another span of the same passage. Pairs are taken in
file order and formatted exactly as training formats them (chat template, default Arabic system prompt,
SmolLM2's `<|im_end|>`). SmolLM2's tokenizer spends about one token per Arabic character (ARCD prompts: p50
536 tokens), so to fit a 2-core CPU the prompts are cut to their last `--max-prompt-length` tokens: the
question is kept, the passage loses its beginning; `answer_in_kept_prompt` says how often the chosen span
is still visible.

Every test pair is scored by log pi(y|x) over the response tokens (end-of-turn token included), for the
reference (the base model) and the DPO policy (base + adapter). Reported accuracies (ties count 1/2):
- reference: log pi_ref(chosen) > log pi_ref(rejected), summed and length-normalised (mean per token);
- after DPO: the implicit reward log pi - log pi_ref, summed (DPO's own criterion) and length-normalised
  (mean per-token log-ratio), and the policy's own likelihood ranking, summed and per token;
- length-only baseline: the longer response (in tokens) wins, and the shorter one wins.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from arabic_pref.checkpoints import SMOLLM2_MODEL
from arabic_pref.config import DEFAULT_SYSTEM_PROMPT, DPOConfig
from arabic_pref.data import load_preference_data
from arabic_pref.data.formatting import tokenize_and_format
from arabic_pref.metrics import preference_accuracy
from arabic_pref.training.dpo_trainer import DPOTrainer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pairs_of(rows: list[dict]) -> list[dict]:
    return [{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in rows]


def _response_logps(model, prompt_out, response_ids: list[int]) -> float:
    """log pi(response | prompt), continuing from the prompt's cached keys and values (one prompt pass per pair)."""
    cache = copy.deepcopy(prompt_out.past_key_values)
    out = model(input_ids=torch.tensor([response_ids]), past_key_values=cache, use_cache=True)
    logits = torch.cat([prompt_out.logits[0, -1:], out.logits[0, :-1]]).float()
    return float(torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(response_ids)[:, None]).sum())


@torch.no_grad()
def score(model, tokenizer, pairs: list[dict]) -> list[dict]:
    """Summed response log-probs and response token counts of every formatted pair."""
    model.eval()
    out = []
    for i, pair in enumerate(pairs):
        prompt_ids = tokenizer(pair["prompt"], add_special_tokens=False)["input_ids"]
        prompt_out = model(input_ids=torch.tensor([prompt_ids]), use_cache=True)
        row = {}
        for side in ("chosen", "rejected"):
            ids = tokenizer(pair[side], add_special_tokens=False)["input_ids"]
            row[side], row[f"n_{side}"] = _response_logps(model, prompt_out, ids), len(ids)
        out.append(row)
        if (i + 1) % 10 == 0:
            print(f"scored {i + 1}/{len(pairs)}", flush=True)
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
    parser.add_argument("--test-pairs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--max-prompt-length", type=int, default=96)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=DATA, help="the folder with the ARCD pair files")
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
        train_data = load_preference_data(str(args.data_dir / "arcd_pairs_train.jsonl"))
        test_data = load_preference_data(str(args.data_dir / "arcd_pairs_test.jsonl"))
        train_pairs = pairs_of(train_data.train[: args.steps * args.batch])  # each pair seen once
        validation_pairs = pairs_of(train_data.validation[:8])
        test_pairs = pairs_of((test_data.train + test_data.validation)[: args.test_pairs])
        Path(f"{folder}/pairs").mkdir()
        for name, rows in (("train", train_pairs), ("validation", validation_pairs)):
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            Path(f"{folder}/pairs/{name}.jsonl").write_text(text, encoding="utf-8")
        formatted, counts = tokenize_and_format(
            test_pairs,
            tokenizer,
            max_prompt_length=args.max_prompt_length,
            max_length=args.max_length,
            system_prompt=DEFAULT_SYSTEM_PROMPT,
        )
        visible = sum(raw["chosen"] in kept["prompt"] for raw, kept in zip(test_pairs, formatted, strict=True))
        select_s = time.perf_counter() - start

        model = trainer.setup_model()
        start = time.perf_counter()
        reference = score(model, tokenizer, formatted)
        score_s = time.perf_counter() - start
        ref_only = report(reference, reference)
        print("reference only:", json.dumps({k: v for k, v in ref_only.items() if "dpo" not in k}), flush=True)

        trl_trainer = trainer.build()
        start = time.perf_counter()
        result = trl_trainer.train()
        train_s = time.perf_counter() - start
        policy = score(trainer.model, tokenizer, formatted)
        with trainer.model.disable_adapter():  # the reference of the log-ratio is the untouched base: check one pair
            again = score(trainer.model, tokenizer, formatted[:1])[0]
        assert abs(again["chosen"] - reference[0]["chosen"]) < 1e-3, (again, reference[0])

    summary = {
        "model": SMOLLM2_MODEL,
        "train_pairs": len(train_pairs),
        "test_pairs": len(formatted),
        "test_format_counts": dict(counts),
        "answer_in_kept_prompt": round(visible / len(formatted), 3),
        "mean_response_tokens": {
            "chosen": round(sum(s["n_chosen"] for s in reference) / len(reference), 1),
            "rejected": round(sum(s["n_rejected"] for s in reference) / len(reference), 1),
        },
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data_dir")},
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
