"""Single-run overhead of arabic-pref over plain TRL with our extras off, and start-up time of the CLI.

    python benchmarks/overhead_check.py [--steps 10]

Arm 1: `python -m arabic_pref.train` with `fast_cpu_logprob=false precompute_ref_log_probs=false` (TRL's own
kernels, reference forward in every step, as TRL ships), evaluation at the end only. Arm 2:
`benchmarks/plain_trl_dpo.py --no-precompute` on the same model, pairs, steps, batch and lengths. Target: our
wall time and peak RSS within 5% of plain TRL's. Then `python -m arabic_pref.train --help` and a config error
(`beta=-1`), each under 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_vs_trl import ROOT, WORKLOADS, model_folder, timed, write_pairs  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--train-pairs", type=int, default=80)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    w = {**WORKLOADS["tiny"], "train": a.train_pairs}
    WORKLOADS["tiny"] = w
    out = Path(a.out or tempfile.mkdtemp(prefix="overhead-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    model = model_folder("tiny")
    write_pairs("tiny", out / "pairs", model)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env |= {"ARABIC_PREF_CACHE": str(out / "cache"), "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"}
    ours = [sys.executable, "-m", "arabic_pref.train", f"model_name={model}", "data=jsonl"]
    ours += [f"dataset_path={out / 'pairs'}", f"max_steps={a.steps}", "fast_cpu_logprob=false"]
    ours += [
        "precompute_ref_log_probs=false",
        "eval_generations=false",
        "eval_drift=false",
        "save_strategy=no",
        f"max_length={w['max_length']}",
    ]
    ours += ["max_prompt_length=100", f"per_device_train_batch_size={w['batch']}", "report_to=none"]
    ours += [f"per_device_eval_batch_size={w['eval_batch']}", f"output_dir={out / 'ours'}", "lora_dropout=0"]
    plain = [sys.executable, str(ROOT / "benchmarks" / "plain_trl_dpo.py"), "--model", str(model)]
    plain += ["--data", str(out / "pairs"), "--max-steps", str(a.steps), "--batch-size", str(w["batch"])]
    plain += ["--eval-batch-size", str(w["eval_batch"]), "--max-length", str(w["max_length"]), "--no-precompute"]
    plain += ["--no-gradient-checkpointing", "--no-bf16", "--lora-dropout", "0"]
    plain += ["--output-dir", str(out / "plain")]
    results = {}
    for name, cmd in (("plain_trl", plain), ("ours_extras_off", ours)):
        wall, rss, rc = timed(cmd, env, out / f"{name}.log")
        if rc:
            sys.exit(f"{name} failed (exit {rc}); see {out / f'{name}.log'}")
        results[name] = {"wall_s": round(wall, 1), "peak_rss_mib": round(rss)}
    results["wall_ratio"] = round(results["ours_extras_off"]["wall_s"] / results["plain_trl"]["wall_s"], 3)
    results["rss_ratio"] = round(results["ours_extras_off"]["peak_rss_mib"] / results["plain_trl"]["peak_rss_mib"], 3)
    for name, args in (("help_s", ["--help"]), ("config_error_s", ["beta=-1"])):
        start = time.perf_counter()
        _, _, rc = timed([sys.executable, "-m", "arabic_pref.train", *args], env, out / f"{name}.log")
        results[name] = round(time.perf_counter() - start, 2)
        results[f"{name}_exit"] = rc
    (out / "result.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
