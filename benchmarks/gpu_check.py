"""The same DPO paths on a CUDA GPU: LoRA in bf16, full fine-tuning with a reference on the GPU, generation.

    python benchmarks/gpu_check.py [--out result.json]

CI has no GPU, so this is run by hand on a GPU machine (report_to=none: it needs no MLflow). It checks that the
fast CPU log-prob path stays out of the way (TRL's own kernels run on CUDA), that our per-pair preference
accuracy equals TRL's eval rewards/accuracies there too, and prints step times and accuracies.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from arabic_pref.config import DPOConfig
from arabic_pref.training.dpo_trainer import DPOTrainer


def run(name: str, folder: str, **overrides) -> dict:
    settings = dict(
        output_dir=f"{folder}/{name}",
        report_to="none",
        learning_rate=5e-3,
        learning_rate_override=True,
        max_steps=30,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=64,
        gradient_accumulation_steps=1,
        max_length=112,
        max_prompt_length=48,
        gradient_checkpointing=False,
        save_strategy="no",
        logging_steps=10,
    )
    config = DPOConfig(**{**settings, **overrides})
    trainer = DPOTrainer(config)
    trl_trainer = trainer.build()
    start_acc = trainer.compute_preference_accuracy()
    t0 = time.perf_counter()
    result = trl_trainer.train()
    torch.cuda.synchronize()
    train_s = time.perf_counter() - t0
    from arabic_pref.training.scoring import pair_rewards

    chosen, rejected = pair_rewards(trl_trainer)
    ours = trainer.compute_preference_accuracy()
    trl_acc = trl_trainer.evaluate()["eval_rewards/accuracies"]
    comparison = trainer.generate_comparison("ما هي عاصمة مصر؟", max_length=16)
    policy_device = str(next(trl_trainer.model.parameters()).device)
    ref = trainer.ref_model
    return {
        "run": name,
        "policy_device": policy_device,
        "ref_device": str(next(ref.parameters()).device),
        "train_loss": result.training_loss,
        "s_per_step": round(train_s / config.max_steps, 4),
        "preference_accuracy": [start_acc, ours],
        "trl_eval_rewards_accuracies": trl_acc,
        "ties": sum(c == r for c, r in zip(chosen, rejected, strict=True)),
        "generation": comparison,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    assert torch.cuda.is_available(), "needs a CUDA GPU"
    import trl.trainer.utils as trl_utils

    results = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as folder:
        results["lora_bf16"] = run("lora_bf16", folder, bf16=True)
        results["full_ft_ref_on_gpu"] = run(
            "full_ft",
            folder,
            use_lora=False,
            ref_model_name="builtin:tiny-qwen2",
            ref_model_device="cuda:0",
            max_steps=10,
        )
        results["cdpo_bf16"] = run("cdpo", folder, bf16=True, label_smoothing=0.1, max_steps=10)
    results["cuda_uses_trl_kernel"] = trl_utils._use_triton(torch.device("cuda"))
    text = json.dumps(results, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
