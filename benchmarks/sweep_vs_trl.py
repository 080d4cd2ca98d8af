"""A sweep of arabic-pref against the same points run as plain-TRL processes, side by side on one machine.

    python benchmarks/sweep_vs_trl.py --workload tiny --trials 4 --steps 20
    python benchmarks/sweep_vs_trl.py --workload compute --trials 3 --steps 10
    python benchmarks/sweep_vs_trl.py --workload gemma --trials 2 --steps 10

Arm 1: `python -m arabic_pref.train -m sweep=beta_lr_loss` with N trials (pruning off, so both arms do the same
work), starting from an empty reference/tokenized-data cache. Arm 2: for each point the sweep tried (loss type,
beta, learning rate), one `benchmarks/plain_trl_dpo.py` process, as a TRL user scripts a scan. Same model
folder, same train/validation pairs (written once to a folder both read), same steps, batch and lengths, and
the same precision and dropout: fp32, no gradient checkpointing (arabic-pref's CPU model configs; TRL's defaults
would add bf16 autocast and activation recomputation) and LoRA dropout 0 (TRL's `disable_dropout` zeroes it).
Prints wall time, the ratio, peak RSS (the largest process of each arm) and the best objective of each arm
(ours: preference accuracy, ties 1/2; TRL: eval_rewards/accuracies, ties 0; equal when there are no ties).

Workloads (pairs that fit the lengths untruncated, see `write_pairs`):
- `tiny`: the default tiny Qwen2 (hidden 64, 2 layers, Qwen2.5's 151,665-token vocabulary), shipped pairs,
  160 train / 64 validation, batch 8, max_length 112.
- `compute`: a Qwen2-shaped model (hidden 512, 8 layers, intermediate 1536, GQA 8/2 heads, seeded random weights;
  24.1M parameters in the transformer layers, 77.7M in the LM head) on the ARCD pairs in ../shared/data when
  present (the shipped pairs otherwise), 40 train / 24 validation, batch 4, max_length 224. ARCD prompts are long
  and its answers short (an answer span): a sequence averages 157 prompt + 13 answer tokens, so the layers do
  24.1M x 170 multiply-adds and the LM head, over the 13 answer tokens that are scored, 77.7M x 13: the layers
  carry about 80% of the model FLOPs.
  (TRL's CPU fallback computes the LM head at every position, prompt included, which is why its arm is slower.)
- `gemma`: Gemma 3 270M (`builtin:gemma3-270m`, converted once into the cache) on EXAMS-ar pairs from
  ../shared/data when present (the shipped pairs otherwise), 40 train / 32 validation, batch 4, max_length 160,
  the `gemma3_270m` run group's learning rate (5e-5) times the sweep's lr_factor;
  a real checkpoint whose tied 262,144 x 640 LM head is 168M of its 268M parameters. The capability guard's
  multiple-choice set is off in our arm (`eval_mc_sets=[]`): plain TRL has no such evaluation.

With so few validation pairs "the same best objective" is noise: each arm's best objective is printed with its
95% interval (ours: the trial's bootstrap over prompts; TRL's: the same bootstrap over its pairs' 0/1 outcomes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_ARCD = ROOT.parent / "shared" / "data" / "arcd_pairs_train.jsonl"
SHARED_EXAMS = ROOT.parent / "shared" / "data" / "exams_ar_pairs.jsonl"
WORKLOADS = {
    "tiny": {"max_length": 112, "max_prompt_length": 48, "batch": 8, "eval_batch": 32, "train": 160, "eval": 64},
    # ARCD prompts are long (median ~214 tokens): at 192 prompt tokens 26 of the 69 validation pairs fit untruncated
    "compute": {"max_length": 224, "max_prompt_length": 192, "batch": 4, "eval_batch": 8, "train": 40, "eval": 24},
    "gemma": {"max_length": 160, "max_prompt_length": 128, "batch": 4, "eval_batch": 8, "train": 40, "eval": 32},
}
SOURCES = {"compute": SHARED_ARCD, "gemma": SHARED_EXAMS}
COMPUTE_DIMS = {"hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 8, "num_attention_heads": 8}


def model_folder(workload: str) -> Path:
    from arabic_pref.builtin.model import cache_root, ensure_tiny_qwen

    if workload == "gemma":
        from arabic_pref.checkpoints import ensure_gemma3

        return ensure_gemma3()
    tiny = ensure_tiny_qwen()
    if workload == "tiny":
        return tiny
    target = cache_root() / "bench-qwen2-h512-l8"
    if not (target / "config.json").exists():
        import torch
        from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

        base = Qwen2Config.from_pretrained(tiny)
        shape = {k: v for k, v in base.to_dict().items() if k != "layer_types"}  # one per layer: rebuilt for 8
        config = Qwen2Config(**{**shape, **COMPUTE_DIMS, "num_key_value_heads": 2})
        torch.manual_seed(1234)
        model = Qwen2ForCausalLM(config)
        staging = Path(tempfile.mkdtemp(dir=target.parent))
        model.save_pretrained(staging)
        AutoTokenizer.from_pretrained(tiny).save_pretrained(staging)
        staging.rename(target)
    return target


def write_pairs(workload: str, folder: Path, model: Path) -> str:
    """The train/validation pairs both arms use, written as JSONL: pairs our loader splits off, kept only when they
    fit `max_prompt_length`/`max_length` untruncated. Both arms then train on the same tokens: arabic-pref cuts a
    long prompt's beginning, TRL cuts prompt + answer to `max_length` from the end (the answer first), so a pair
    that needs cutting would be different work in each arm."""
    from transformers import AutoTokenizer

    from arabic_pref.config import DPOConfig
    from arabic_pref.data import load_preference_data
    from arabic_pref.data.formatting import tokenize_and_format

    shared = SOURCES.get(workload)
    source = str(shared) if shared and shared.exists() else "builtin:arabic-sample"
    data = load_preference_data(source, validation_split=0.1, seed=42)
    w = WORKLOADS[workload]
    tokenizer = AutoTokenizer.from_pretrained(model)
    limits = {"max_prompt_length": w["max_prompt_length"], "max_length": w["max_length"]}

    def untruncated(row: dict) -> bool:
        _, counts = tokenize_and_format([row], tokenizer, **limits, system_prompt=DPOConfig.system_prompt)
        return counts["kept"] == 1 and not any(k.startswith("truncated") for k in counts)

    folder.mkdir(parents=True, exist_ok=True)
    for name, rows, n in (("train", data.train, w["train"]), ("validation", data.validation, w["eval"])):
        kept = [r for r in rows if untruncated(r)][:n]
        if len(kept) < n:
            sys.exit(f"{source}: only {len(kept)} {name} pairs fit {limits} untruncated, {n} needed")
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for r in kept:
                f.write(json.dumps({k: r[k] for k in ("prompt", "chosen", "rejected")}, ensure_ascii=False) + "\n")
    return source


def timed(cmd: list[str], env: dict, log: Path) -> tuple[float, float, int]:
    """(wall s, peak RSS MiB, exit code) of one child process."""
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, proc.returncode


def trl_interval(accuracy: float, pairs: int) -> list[float]:
    """95% bootstrap interval of TRL's eval_rewards/accuracies: the mean of `pairs` 0/1 outcomes (TRL keeps no
    per-pair values, and a bootstrap of 0/1 outcomes depends only on how many are 1), one pair a cluster."""
    from arabic_pref.intervals import bootstrap_mean

    wins = round(accuracy * pairs)
    ci = bootstrap_mean([1.0] * wins + [0.0] * (pairs - wins))
    return [round(ci.low, 4), round(ci.high, 4)]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="tiny")
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--train-pairs", type=int, default=None, help="override the workload's train pairs")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    w = WORKLOADS[a.workload]
    if a.train_pairs:
        w["train"] = a.train_pairs
    out = Path(a.out or tempfile.mkdtemp(prefix=f"sweep-vs-trl-{a.workload}-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    model = model_folder(a.workload)
    source = write_pairs(a.workload, out / "pairs", model)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env |= {"ARABIC_PREF_CACHE": str(out / "cold-cache"), "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"}
    eval_steps = max(1, a.steps // 2)

    storage = f"sqlite:///{out}/optuna.db"
    ours_cmd = [sys.executable, "-m", "arabic_pref.train", "-m", "sweep=beta_lr_loss"]
    ours_cmd += [
        f"hydra.sweeper.n_trials={a.trials}",
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=bench",
        "hydra.sweeper.pruner=null",
        f"hydra.sweep.dir={out}/sweep",
        *(["model=gemma3_270m"] if a.workload == "gemma" else []),  # its run group: learning rate 5e-5, not tiny's
        f"model_name={model}",  # the folder itself: the cold cache below must not fetch and convert it again
        "data=jsonl",
        f"dataset_path={out / 'pairs'}",
        f"max_steps={a.steps}",
        f"eval_steps={eval_steps}",
        f"max_length={w['max_length']}",
        f"max_prompt_length={w['max_prompt_length']}",
        f"per_device_train_batch_size={w['batch']}",
        f"per_device_eval_batch_size={w['eval_batch']}",
        f"tracking_uri=sqlite:///{out}/mlflow.db",
        # TRL's disable_dropout=True (its default) zeroes every dropout module, LoRA's included, and arabic-pref
        # gives LoRA its dropout back: without dropout in both arms they do the same computation
        "lora_dropout=0",
        "eval_mc_sets=[]",  # the capability guard: plain TRL has no such evaluation, so neither arm runs one
    ]
    ours_wall, ours_rss, rc = timed(ours_cmd, env, out / "ours.log")
    if rc:
        sys.exit(f"our sweep failed (exit {rc}); see {out / 'ours.log'}")

    import optuna

    from arabic_pref.sweep.selection import CI_ATTR

    study = optuna.load_study(study_name="bench", storage=storage)
    points = [
        {
            "loss": t.user_attrs.get("loss_type", t.params.get("loss")),
            "beta": float(t.user_attrs.get("config_beta", t.user_attrs.get("beta", 0.1))),
            "lr": float(t.params["learning_rate"]),
            "objective": t.value,
            "objective_ci": t.user_attrs.get(CI_ATTR),
        }
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE
    ]

    plain_wall, plain_rss, plain = 0.0, 0.0, []
    for i, point in enumerate(points):
        cmd = [sys.executable, str(ROOT / "benchmarks" / "plain_trl_dpo.py"), "--model", str(model)]
        cmd += ["--data", str(out / "pairs"), "--loss", point["loss"], "--beta", repr(point["beta"])]
        cmd += ["--lr", repr(point["lr"]), "--max-steps", str(a.steps), "--batch-size", str(w["batch"])]
        cmd += ["--eval-batch-size", str(w["eval_batch"]), "--max-length", str(w["max_length"])]
        cmd += [
            "--no-gradient-checkpointing",
            "--no-bf16",
            "--lora-dropout",
            "0",
            "--output-dir",
            str(out / f"plain-{i}"),
        ]
        wall, rss, rc = timed(cmd, env, out / f"plain-{i}.log")
        if rc:
            sys.exit(f"plain TRL point {i} failed (exit {rc}); see {out / f'plain-{i}.log'}")
        line = next(x for x in (out / f"plain-{i}.log").read_text().splitlines() if x.startswith("RESULT "))
        plain.append(json.loads(line[len("RESULT ") :]))
        plain_wall, plain_rss = plain_wall + wall, max(plain_rss, rss)

    result = {
        "workload": a.workload,
        "data": source,
        "model": str(model),
        "trials": len(points),
        "steps": a.steps,
        "ours_wall_s": round(ours_wall, 1),
        "plain_trl_wall_s": round(plain_wall, 1),
        "ratio": round(ours_wall / plain_wall, 3),
        "ours_peak_rss_mib": round(ours_rss),
        "plain_trl_peak_rss_mib": round(plain_rss),
        "ours_best_objective": max(points, key=lambda pt: pt["objective"])["objective"],
        "ours_best_objective_ci": max(points, key=lambda pt: pt["objective"])["objective_ci"],
        "plain_trl_best_objective": max(r["objective"] for r in plain),
        "plain_trl_best_objective_ci": trl_interval(max(r["objective"] for r in plain), w["eval"]),
        "validation_pairs": w["eval"],
        "points": [{**pt, "plain_objective": r["objective"]} for pt, r in zip(points, plain, strict=True)],
        "cpu_count": os.cpu_count(),
        "folder": str(out),
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
