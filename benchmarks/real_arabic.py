"""LoRA DPO of Gemma 3 270M on real Arabic pairs, scored on held-out questions against its reference (a benchmark).

    python benchmarks/real_arabic.py [--sets exams arcd] [--steps 40] [--batch 4] [--heldout 0]
                                     [--sweep-trials 4] [--sweep-steps 20] [--data-dir ../shared/data] [--out r.json]

`--heldout 0` scores every held-out pair (the full-size run in BENCHMARKS.md); a positive number scores the
first N held-out pairs, in a seeded order of whole questions, to fit a shared 2-core CPU.

Data (../shared/data, never copied into the repository):
- EXAMS-ar is split by question (`real_arabic_data.py`, committed as benchmarks/exams_ar_split.json). A few
  train-side questions (`--validation-pairs`) pick the sweep's trial and are never trained on. The held-out
  questions are also scored as multiple choice (`--mc`, the capability guard's acc_norm), before and after.
- ARCD: arcd_pairs_train.jsonl trains; the held-out pairs come from arcd_pairs_test.jsonl (all 702 at full size).
  Prompts (an instruction, a Wikipedia passage, then the question) are cut to `--max-prompt-length` tokens by the
  training formatter, which drops the *beginning* of the passage, so the question is always kept (counted).

Scores (`real_arabic_scoring.py`): reference and policy accuracy, summed and per token, with 95% intervals that
resample questions and the paired difference's interval; implicit reward accuracy; the length-only baseline;
drift as KL per response token; time per step and wall time. Each set's result is written to `--out` as soon as
it is done. Then `--sweep-trials` Optuna trials over beta / learning rate / loss on the EXAMS split, selected on
the validation questions, and the selected trial's held-out scores. On a CPU shared with other jobs run it with
OMP_NUM_THREADS=1 (BENCHMARKS.md: 10-20x faster there).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/real_arabic.py` from anywhere

from arabic_pref.checkpoints import GEMMA3_MODEL  # noqa: E402
from arabic_pref.config import DEFAULT_SYSTEM_PROMPT, DPOConfig  # noqa: E402
from arabic_pref.data.formatting import tokenize_and_format  # noqa: E402
from arabic_pref.training.dpo_trainer import DPOTrainer  # noqa: E402
from benchmarks.real_arabic_data import DATA, first_questions, heldout_questions, read_pairs, split_exams  # noqa: E402
from benchmarks.real_arabic_scoring import correct, mc_logprobs, mc_report, report, score  # noqa: E402


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


def run_set(name: str, train_pairs, heldout, folder: Path, args) -> tuple[dict, list[dict], list[dict], list | None]:
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
              "accuracy": report(kept, ref, pol)}  # fmt: skip
    mc_ref = None
    if name == "exams" and args.mc:  # the capability guard on held-out questions only (benchmarks/exams_ar_split.json)
        questions = heldout_questions(heldout)
        started = time.perf_counter()
        with trainer.model.disable_adapter():
            mc_ref = mc_logprobs(trainer.model, tokenizer, questions, args)
        result["multiple_choice"] = mc_report(questions, mc_ref, mc_logprobs(trainer.model, tokenizer, questions, args))
        result["multiple_choice"]["seconds"] = round(time.perf_counter() - started, 1)
    result["wall_s"] = round(time.perf_counter() - wall, 1)
    print(name, json.dumps(result, ensure_ascii=False), flush=True)
    return result, kept, ref, mc_ref


LOSSES = ["sigmoid", "ipo", "hinge"]


def sweep(split: dict, heldout: list[dict], kept: list[dict], ref: list[dict], mc_ref, folder: Path, args) -> dict:
    import optuna

    validation = first_questions(split["validation"], args.sweep_validation, args.seed)
    trials, best = [], None
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=args.seed))
    if args.sweep_every_loss:  # four random draws can all land on one loss (seed 42 did): take them in turn
        for i in range(args.sweep_trials):
            study.enqueue_trial({"loss_type": LOSSES[i % len(LOSSES)]})
    for _ in range(args.sweep_trials):
        trial = study.ask()
        params = {"beta": trial.suggest_float("beta", 0.02, 0.5, log=True),
                  "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-3, log=True),
                  "loss_type": trial.suggest_categorical("loss_type", LOSSES)}  # fmt: skip
        trainer, stats = train(folder, split["train"], args,
                               steps=args.sweep_steps, **params)  # fmt: skip
        val_rows, _ = formatted(trainer.tokenizer, validation, args)
        val = score(trainer.model, trainer.tokenizer, val_rows)
        value = float(np.mean(correct(*(np.array([s[k] for s in val]) for k in ("chosen", "rejected")))))
        study.tell(trial, value)
        trials.append({"params": {k: round(v, 6) if isinstance(v, float) else v for k, v in params.items()},
                       "validation_accuracy_summed": round(value, 4), **stats})  # fmt: skip
        print("trial", json.dumps(trials[-1]), flush=True)
        if best is None or value > best[0]:
            best = (value, len(trials) - 1, trainer)
        del trainer
    _, index, trainer = best
    pol = score(trainer.model, trainer.tokenizer, kept, kl_pairs=args.kl_pairs)
    result = {"validation_pairs": len(validation), "trials": trials, "selected": index,
              "selected_heldout": report(kept, ref, pol)}  # fmt: skip
    if mc_ref is not None:
        questions = heldout_questions(heldout)
        mc_pol = mc_logprobs(trainer.model, trainer.tokenizer, questions, args)
        result["selected_multiple_choice"] = mc_report(questions, mc_ref, mc_pol)
    return result


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
    parser.add_argument(
        "--sweep-every-loss",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="trial i trains loss i mod 3 (sigmoid, ipo, hinge); beta and learning rate are drawn",
    )
    parser.add_argument("--sweep-only", action="store_true", help="no sets, only the EXAMS sweep")
    parser.add_argument("--sweep-validation", type=int, default=0, help="validation pairs a trial is scored on (0=all)")
    parser.add_argument(
        "--mc",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="multiple-choice accuracy (acc_norm) of reference and policy on the held-out questions",
    )
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
        exams_heldout = first_questions(split["heldout"], args.heldout, args.seed)
        if "exams" in args.sets:
            summary["exams"], kept, ref, mc_ref = run_set("exams", split["train"], exams_heldout, folder, args)
            write(summary, args.out)
        elif args.sweep_only:  # the sweep alone (another process runs the sets): the reference scored here
            trainer = DPOTrainer(DPOConfig(model_name=GEMMA3_MODEL, report_to="none", output_dir=str(folder / "r")))
            kept, _ = formatted(trainer.setup_tokenizer(), exams_heldout, args)
            ref = score(trainer.setup_model(), trainer.tokenizer, kept)
            mc_ref = (
                mc_logprobs(trainer.model, trainer.tokenizer, heldout_questions(exams_heldout), args)
                if args.mc
                else None
            )
            del trainer
        if "arcd" in args.sets:
            train_pairs = read_pairs(args.data_dir / "arcd_pairs_train.jsonl")
            random.Random(args.seed).shuffle(train_pairs)
            heldout = first_questions(read_pairs(args.data_dir / "arcd_pairs_test.jsonl"), args.arcd_heldout, args.seed)
            summary["arcd"], *_ = run_set("arcd", train_pairs, heldout, folder, args)
            write(summary, args.out)
        if ("exams" in args.sets or args.sweep_only) and args.sweep_trials:
            summary["exams_sweep"] = sweep(split, exams_heldout, kept, ref, mc_ref, folder, args)
    summary["wall_s"] = round(time.perf_counter() - wall, 1)
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    write(summary, args.out)


def write(summary: dict, out: Path | None) -> None:
    """The result so far (each set is written as soon as it is done)."""
    if out:
        out.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
