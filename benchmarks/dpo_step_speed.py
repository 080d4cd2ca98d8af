"""DPO training speed on CPU: plain TRL against arabic-pref's fast path, same model, data and settings.

    python benchmarks/dpo_step_speed.py [--steps 8] [--batch 8] [--max-length 112]

Both arms run in this one process on the embedded default (tiny Qwen2, real Qwen2.5 vocabulary) and the
shipped Arabic pairs. "plain TRL" is trl.DPOTrainer as it ships: its fused LM-head CPU fallback, reference
forward in every step. "arabic-pref" installs the fast CPU log-prob path and precomputes reference log-probs
(timed and reported separately, since it is paid once per dataset). The losses of both arms are printed: they
must agree, or the speed means nothing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from arabic_pref.config import DPOConfig
from arabic_pref.training.dpo_trainer import DPOTrainer


def run_arm(name: str, fast: bool, args: argparse.Namespace, folder: str) -> dict:
    config = DPOConfig(
        output_dir=f"{folder}/{name}",
        report_to="none",
        learning_rate=5e-3,
        learning_rate_override=True,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=1,
        gradient_checkpointing=False,
        max_length=args.max_length,
        max_prompt_length=48,
        max_train_samples=args.steps * args.batch,
        max_eval_samples=8,
        logging_steps=1,
        fast_cpu_logprob=fast,
        precompute_ref_log_probs=fast,
    )
    trainer = DPOTrainer(config)
    start = time.perf_counter()
    trl_trainer = trainer.build()  # includes the reference precompute when enabled
    setup_s = time.perf_counter() - start
    start = time.perf_counter()
    result = trl_trainer.train()
    train_s = time.perf_counter() - start
    return {
        "arm": name,
        "setup_s": round(setup_s, 2),
        "train_s": round(train_s, 2),
        "s_per_step": round(train_s / args.steps, 3),
        "train_loss": round(result.training_loss, 6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=112)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run_arm("warm-up", False, argparse.Namespace(steps=1, batch=2, max_length=args.max_length), folder)
        plain = run_arm("plain TRL", False, args, folder)
        ours = run_arm("arabic-pref", True, args, folder)
    for arm in (plain, ours):
        print(json.dumps(arm))
    ratio = plain["train_s"] / ours["train_s"]
    total = (plain["setup_s"] + plain["train_s"]) / (ours["setup_s"] + ours["train_s"])
    print(f"training loop speed-up: {ratio:.1f}x; set-up (incl. reference precompute) + training: {total:.1f}x")
    print(f"loss agreement: plain {plain['train_loss']} vs arabic-pref {ours['train_loss']}")


if __name__ == "__main__":
    main()
