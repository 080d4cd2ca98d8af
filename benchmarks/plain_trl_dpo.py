"""The baseline: one DPO run with plain TRL 1.16, written the way a TRL user scripts a hyperparameter point.

One process per point (as alignment-handbook's scans do): load the model and tokenizer, read the JSONL pairs,
put each prompt in a conversation with the system prompt, hand TRL LoRA and the DPO settings, train, evaluate.
Nothing of arabic-pref is imported. Prints one JSON line with the objective (TRL's `eval_rewards/accuracies`)
and the wall time.

    python benchmarks/plain_trl_dpo.py --model DIR --data DIR --loss sigmoid --beta 0.1 --lr 5e-3 --max-steps 20
"""

from __future__ import annotations

import argparse
import json
import time

START = time.perf_counter()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--data", required=True, help="folder with train.jsonl and validation.jsonl")
    p.add_argument("--loss", default="sigmoid")
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--max-steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=112)
    p.add_argument("--eval-steps", type=int, default=0, help="evaluate every N steps (0: at the end only)")
    p.add_argument("--system-prompt", default="أنت مساعد مفيد.")
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lora-dropout", type=float, default=0.05)
    p.add_argument("--output-dir", default="plain-trl-out")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-precompute", action="store_true", help="reference forward in every step (TRL's default)")
    p.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="TRL's default is on; the benchmarks turn it off where arabic-pref's model config does, so both arms "
        "do the same work",
    )
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="TRL's default is on (bf16 autocast, also on CPU); the benchmarks match arabic-pref's precision",
    )
    a = p.parse_args()

    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    files = {"train": f"{a.data}/train.jsonl", "validation": f"{a.data}/validation.jsonl"}
    raw = load_dataset("json", data_files=files)

    def to_conversation(row: dict) -> dict:
        return {
            "prompt": [{"role": "system", "content": a.system_prompt}, {"role": "user", "content": row["prompt"]}],
            "chosen": [{"role": "assistant", "content": row["chosen"]}],
            "rejected": [{"role": "assistant", "content": row["rejected"]}],
        }

    data = raw.map(to_conversation, remove_columns=raw["train"].column_names)
    args = DPOConfig(
        output_dir=a.output_dir,
        loss_type=[a.loss],
        beta=a.beta,
        learning_rate=a.lr,
        max_steps=a.max_steps,
        per_device_train_batch_size=a.batch_size,
        per_device_eval_batch_size=a.eval_batch_size,
        max_length=a.max_length,
        precompute_ref_log_probs=not a.no_precompute,
        gradient_checkpointing=a.gradient_checkpointing,
        bf16=a.bf16,
        eval_strategy="steps" if a.eval_steps else "no",
        eval_steps=a.eval_steps or None,
        save_strategy="no",
        logging_steps=5,
        warmup_steps=0,
        report_to="none",
        seed=a.seed,
        use_cpu=not torch.cuda.is_available(),
    )
    targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
    lora = LoraConfig(r=a.lora_r, lora_alpha=2 * a.lora_r, lora_dropout=a.lora_dropout, target_modules=targets)
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["validation"],
        processing_class=tokenizer,
        peft_config=lora,
    )
    trainer.train()
    metrics = trainer.evaluate()
    trainer.save_model(a.output_dir)
    result = {
        "objective": metrics["eval_rewards/accuracies"],
        "eval_loss": metrics["eval_loss"],
        "wall_s": time.perf_counter() - START,
        "loss": a.loss,
        "beta": a.beta,
        "lr": a.lr,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
