"""LoRA DPO of Gemma 3 270M on real Arabic pairs, scored on held-out questions against its reference (a benchmark).

    python benchmarks/real_arabic.py [--sets exams arcd] [--steps 40] [--batch 4] [--heldout 0]
                                     [--sweep-trials 4] [--sweep-steps 20] [--data-dir ../shared/data] [--out r.json]

`--heldout 0` scores every held-out pair (the full-size run in BENCHMARKS.md); a positive number scores the
first N held-out pairs, in a seeded order of whole questions, to fit a shared 2-core CPU.

Data (../shared/data, never copied into the repository):
- EXAMS-ar (exams_ar_pairs.jsonl: a school exam question; chosen = the correct option, rejected = one wrong option,
  three pairs a question) is split BY QUESTION, so no question is on both sides: whole questions in a seeded
  order go to the held-out side until it has at least 500 pairs; the one pair whose chosen and rejected texts are
  identical is dropped. The split is written (SHA-256 of each question's text, not the text) to
  benchmarks/exams_ar_split.json so a later capability guard scores only held-out questions. A few train-side
  questions (`--validation-pairs`) pick the sweep's trial and are never trained on.
- ARCD: arcd_pairs_train.jsonl trains; the held-out pairs come from arcd_pairs_test.jsonl (all 702 at full size).
  Prompts (an instruction, a Wikipedia passage, then the question) are cut to `--max-prompt-length` tokens by the
  training formatter, which drops the *beginning* of the passage, so the question is always kept (counted).

Scores: log pi(y|x) over the response tokens (<end_of_turn> included), formatted exactly as training formats them.
Accuracy (ties 1/2) of the reference (the base model) and of the trained policy, summed and per token, with 95%
bootstrap intervals that resample prompts (questions), and the interval of the paired difference (policy minus
reference, same resamples); DPO's implicit reward (log-ratio) accuracy; the length-only baseline (longer wins);
drift as KL(policy || reference) per response token on held-out chosen answers; time per step and wall time.
Each set's result is written to `--out` as soon as it is done. Then `--sweep-trials` Optuna trials over beta /
learning rate / loss on the EXAMS split, selected on the validation questions, and the selected trial's held-out
score. On a CPU shared with other jobs run it with OMP_NUM_THREADS=1 (BENCHMARKS.md: 10-20x faster there).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from arabic_pref.checkpoints import GEMMA3_MODEL
from arabic_pref.config import DEFAULT_SYSTEM_PROMPT, DPOConfig
from arabic_pref.data.formatting import tokenize_and_format
from arabic_pref.training.dpo_trainer import DPOTrainer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SPLIT_FILE = Path(__file__).resolve().parent / "exams_ar_split.json"


def read_pairs(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]


def question_order(pairs: list[dict], seed: int) -> list[str]:
    questions = sorted({p["prompt"] for p in pairs})
    random.Random(seed).shuffle(questions)
    return questions


def split_exams(
    pairs: list[dict], min_heldout: int, n_validation: int, seed: int, out: Path | None = SPLIT_FILE
) -> dict[str, list[dict]]:
    """Whole questions to held-out until >= min_heldout pairs, then validation, then training; written to `out`."""
    identical = sum(p["chosen"] == p["rejected"] for p in pairs)
    pairs = [p for p in pairs if p["chosen"] != p["rejected"]]
    by_question: dict[str, list[dict]] = {}
    for p in pairs:
        by_question.setdefault(p["prompt"], []).append(p)
    sides: dict[str, list[dict]] = {"heldout": [], "validation": [], "train": []}
    owner = {}
    for q in question_order(pairs, seed):
        side = "heldout" if len(sides["heldout"]) < min_heldout else "validation"
        side = side if side == "heldout" or len(sides["validation"]) < n_validation else "train"
        sides[side] += by_question[q]
        owner[hashlib.sha256(q.encode()).hexdigest()] = side
    if out is None:
        return sides
    out.write_text(
        json.dumps(
            {
                "source": "exams_ar_pairs.jsonl (../shared/data); key = SHA-256 of the UTF-8 prompt text",
                "seed": seed,
                "pairs": {k: len(v) for k, v in sides.items()},
                "dropped_identical_pairs": identical,
                "questions": dict(sorted(owner.items())),
            },
            indent=1,
        )
        + "\n"
    )
    return sides


def first_questions(pairs: list[dict], n: int, seed: int) -> list[dict]:
    """The first n pairs (0 = all) in a seeded order of whole questions."""
    if n <= 0 or n >= len(pairs):
        return pairs
    rank = {q: i for i, q in enumerate(question_order(pairs, seed + 1))}
    return sorted(pairs, key=lambda p: rank[p["prompt"]])[:n]


def _response(model, prompt_out, ids: list[int], reference_logits=None):
    cache = copy.deepcopy(prompt_out.past_key_values)
    out = model(input_ids=torch.tensor([ids]), past_key_values=cache, use_cache=True)
    logits = torch.cat([prompt_out.logits[0, -1:], out.logits[0, :-1]]).float()
    return torch.log_softmax(logits, dim=-1)


@torch.no_grad()
def score(model, tokenizer, pairs: list[dict], kl_pairs: int = 0) -> list[dict]:
    """Summed response log-probs, token counts, and (first kl_pairs pairs) KL to the adapter-free model."""
    model.eval()
    out = []
    for i, pair in enumerate(pairs):
        prompt_ids = torch.tensor([tokenizer(pair["prompt"], add_special_tokens=False)["input_ids"]])
        prompt_out = model(input_ids=prompt_ids, use_cache=True, logits_to_keep=1)
        row = {}
        for side in ("chosen", "rejected"):
            ids = tokenizer(pair[side], add_special_tokens=False)["input_ids"]
            lp = _response(model, prompt_out, ids)
            row[side], row[f"n_{side}"] = float(lp.gather(1, torch.tensor(ids)[:, None]).sum()), len(ids)
            if side == "chosen" and i < kl_pairs:
                with model.disable_adapter():
                    ref_out = model(input_ids=prompt_ids, use_cache=True, logits_to_keep=1)
                    ref_lp = _response(model, ref_out, ids)
                row["kl"] = float((lp.exp() * (lp - ref_lp)).sum())
        out.append(row)
        if (i + 1) % 50 == 0:
            print(f"  scored {i + 1}/{len(pairs)}", flush=True)
    return out


def _correct(chosen: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    return (chosen > rejected) + 0.5 * (chosen == rejected)


def bootstrap(groups: list[str], values: dict[str, np.ndarray], n: int = 2000, seed: int = 0) -> dict:
    """Mean and 95% percentile interval of each per-pair array, resampling whole prompts (paired across arrays)."""
    keys = sorted(set(groups))
    index = {k: np.array([i for i, g in enumerate(groups) if g == k]) for k in keys}
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in values}
    for _ in range(n):
        rows = np.concatenate([index[keys[j]] for j in rng.integers(0, len(keys), len(keys))])
        for name, v in values.items():
            draws[name].append(v[rows].mean())
    return {
        name: {
            "mean": round(float(v.mean()), 4),
            "ci95": [round(float(x), 4) for x in np.percentile(draws[name], [2.5, 97.5])],
        }
        for name, v in values.items()
    }


def report(pairs: list[dict], ref: list[dict], pol: list[dict]) -> dict:
    def arr(scores, key, per_token=False):
        return np.array([s[key] / (s[f"n_{key}"] if per_token else 1) for s in scores])

    ref_sum = _correct(arr(ref, "chosen"), arr(ref, "rejected"))
    ref_tok = _correct(arr(ref, "chosen", True), arr(ref, "rejected", True))
    pol_sum = _correct(arr(pol, "chosen"), arr(pol, "rejected"))
    pol_tok = _correct(arr(pol, "chosen", True), arr(pol, "rejected", True))
    ratio_c, ratio_r = arr(pol, "chosen") - arr(ref, "chosen"), arr(pol, "rejected") - arr(ref, "rejected")
    values = {
        "reference_summed": ref_sum,
        "reference_per_token": ref_tok,
        "trained_summed": pol_sum,
        "trained_per_token": pol_tok,
        "difference_summed": pol_sum - ref_sum,
        "difference_per_token": pol_tok - ref_tok,
        "implicit_reward_summed": _correct(ratio_c, ratio_r),
        "length_longer_wins": _correct(arr(ref, "n_chosen"), arr(ref, "n_rejected")),
    }
    kl = [s["kl"] for s in pol if "kl" in s]
    kl_tokens = sum(s["n_chosen"] for s in pol if "kl" in s)
    out = bootstrap([p["prompt"] for p in pairs], values)
    out["drift"] = {"kl_per_token": round(sum(kl) / kl_tokens, 5) if kl_tokens else None, "kl_pairs": len(kl)}
    return out


def train(folder: Path, train_pairs: list[dict], args, **settings) -> tuple[DPOTrainer, dict]:
    """LoRA DPO on the first steps x batch `train_pairs` (each seen once); the trained DPOTrainer and timings."""
    data = folder / f"pairs-{time.monotonic_ns()}"
    data.mkdir()
    n = settings.pop("steps") * args.batch
    used = {p["prompt"] for p in train_pairs[:n]}
    validation = [p for p in train_pairs[n:] if p["prompt"] not in used][:8]  # TRL's eval split; not scored here
    for name, rows in (("train", train_pairs[:n]), ("validation", validation)):
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    config = DPOConfig(
        model_name=GEMMA3_MODEL,
        dataset_path=str(data),
        output_dir=str(folder / "out"),
        report_to="none",
        learning_rate_override=True,
        max_steps=n // args.batch,
        per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=1,
        gradient_checkpointing=False,
        max_length=args.max_length,
        max_prompt_length=args.max_prompt_length,
        logging_steps=10,
        seed=args.seed,
        **settings,
    )
    trainer = DPOTrainer(config)
    trl_trainer = trainer.build()
    start = time.perf_counter()
    result = trl_trainer.train()
    seconds = time.perf_counter() - start
    steps = trl_trainer.state.global_step
    return trainer, {"steps": steps, "train_loss": round(result.training_loss, 4), "train_s": round(seconds, 1),
                     "s_per_step": round(seconds / max(steps, 1), 2)}  # fmt: skip


def formatted(tokenizer, pairs: list[dict], args) -> tuple[list[dict], dict]:
    rows, counts = tokenize_and_format(
        pairs, tokenizer, max_prompt_length=args.max_prompt_length, max_length=args.max_length,
        system_prompt=DEFAULT_SYSTEM_PROMPT,
    )  # fmt: skip
    return rows, dict(counts)


def run_set(name: str, train_pairs, heldout, folder: Path, args) -> tuple[dict, list[dict], list[dict]]:
    wall = time.perf_counter()
    trainer, stats = train(folder, train_pairs, args, steps=args.steps,
                           learning_rate=args.learning_rate, beta=args.beta, loss_type=args.loss)  # fmt: skip
    tokenizer = trainer.tokenizer
    kept, counts = formatted(tokenizer, heldout, args)
    assert len(kept) == len(heldout), counts  # nothing dropped: every held-out pair is scored
    if name == "arcd":  # the question (the prompt's last line) survives every cut
        kept_questions = zip(heldout, kept, strict=True)
        counts["question_kept"] = sum(r["prompt"].rsplit("\n", 1)[-1] in k["prompt"] for r, k in kept_questions)
    with trainer.model.disable_adapter():
        ref = score(trainer.model, tokenizer, kept)
    pol = score(trainer.model, tokenizer, kept, kl_pairs=args.kl_pairs)
    result = {"train_pairs": stats["steps"] * args.batch, "heldout_pairs": len(kept), "heldout_questions":
              len({p["prompt"] for p in heldout}), "format_counts": counts, **stats,
              "accuracy": report(kept, ref, pol), "wall_s": round(time.perf_counter() - wall, 1)}  # fmt: skip
    print(name, json.dumps(result, ensure_ascii=False), flush=True)
    return result, kept, ref


def sweep(split: dict, kept: list[dict], ref: list[dict], folder: Path, args) -> dict:
    import optuna

    validation = first_questions(split["validation"], args.sweep_validation, args.seed)
    trials, best = [], None
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=args.seed))
    for _ in range(args.sweep_trials):
        trial = study.ask()
        params = {"beta": trial.suggest_float("beta", 0.02, 0.5, log=True),
                  "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-3, log=True),
                  "loss_type": trial.suggest_categorical("loss_type", ["sigmoid", "ipo", "hinge"])}  # fmt: skip
        trainer, stats = train(folder, split["train"], args,
                               steps=args.sweep_steps, **params)  # fmt: skip
        val_rows, _ = formatted(trainer.tokenizer, validation, args)
        val = score(trainer.model, trainer.tokenizer, val_rows)
        value = float(np.mean(_correct(*(np.array([s[k] for s in val]) for k in ("chosen", "rejected")))))
        study.tell(trial, value)
        trials.append({"params": {k: round(v, 6) if isinstance(v, float) else v for k, v in params.items()},
                       "validation_accuracy_summed": round(value, 4), **stats})  # fmt: skip
        print("trial", json.dumps(trials[-1]), flush=True)
        if best is None or value > best[0]:
            best = (value, len(trials) - 1, trainer)
        del trainer
    _, index, trainer = best
    pol = score(trainer.model, trainer.tokenizer, kept, kl_pairs=args.kl_pairs)
    return {"validation_pairs": len(validation), "trials": trials, "selected": index,
            "selected_heldout": report(kept, ref, pol)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["exams", "arcd"], choices=["exams", "arcd"])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--loss", default="sigmoid")
    parser.add_argument("--heldout", type=int, default=0, help="score the first N held-out pairs (0 = all)")
    parser.add_argument("--arcd-heldout", type=int, default=0, help="ARCD held-out pairs (0 = all 702)")
    parser.add_argument("--validation-pairs", type=int, default=60)
    parser.add_argument("--kl-pairs", type=int, default=40)
    parser.add_argument("--sweep-trials", type=int, default=4)
    parser.add_argument("--sweep-steps", type=int, default=20)
    parser.add_argument("--sweep-only", action="store_true", help="no sets, only the EXAMS sweep")
    parser.add_argument("--sweep-validation", type=int, default=0, help="validation pairs a trial is scored on (0=all)")
    parser.add_argument("--max-prompt-length", type=int, default=192)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.sets = [] if args.sweep_only else args.sets
    wall = time.perf_counter()
    summary: dict = {"model": GEMMA3_MODEL, "settings": {k: str(v) for k, v in vars(args).items()}}
    summary |= {"threads": torch.get_num_threads(), "started_utc": time.strftime("%H:%M", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="real-arabic-") as tmp:
        folder = Path(tmp)
        split = split_exams(read_pairs(args.data_dir / "exams_ar_pairs.jsonl"), 500, args.validation_pairs, args.seed)
        summary["exams_split"] = {k: len(v) for k, v in split.items()}
        random.Random(args.seed).shuffle(split["train"])
        heldout = first_questions(split["heldout"], args.heldout, args.seed)
        if "exams" in args.sets:
            summary["exams"], kept, ref = run_set("exams", split["train"], heldout, folder, args)
            write(summary, args.out)
        elif args.sweep_only:  # the sweep alone (another process runs the sets): the reference scored here
            trainer = DPOTrainer(DPOConfig(model_name=GEMMA3_MODEL, report_to="none", output_dir=str(folder / "r")))
            kept, _ = formatted(trainer.setup_tokenizer(), heldout, args)
            ref = score(trainer.setup_model(), trainer.tokenizer, kept)
            del trainer
        if "arcd" in args.sets:
            train_pairs = read_pairs(args.data_dir / "arcd_pairs_train.jsonl")
            random.Random(args.seed).shuffle(train_pairs)
            heldout = first_questions(read_pairs(args.data_dir / "arcd_pairs_test.jsonl"), args.arcd_heldout, args.seed)
            summary["arcd"], _, _ = run_set("arcd", train_pairs, heldout, folder, args)
            write(summary, args.out)
        if ("exams" in args.sets or args.sweep_only) and args.sweep_trials:
            summary["exams_sweep"] = sweep(split, kept, ref, folder, args)
    summary["wall_s"] = round(time.perf_counter() - wall, 1)
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    write(summary, args.out)


def write(summary: dict, out: Path | None) -> None:
    """The result so far (each set is written as soon as it is done)."""
    if out:
        out.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
