"""GPU benchmark of LoRA DPO on Qwen2.5-shaped models with random weights: tokens/s, MFU, peak memory, ours vs TRL.

    python benchmarks/gpu_bench.py                 # all cases, ~4 minutes on one H100/H200
    python benchmarks/gpu_bench.py --cases 0.5b    # one shape

Self-contained and offline: the models are built from their published shapes with random weights (bf16, on the
GPU), the tokenizer is the Qwen2.5 one arabic-pref builds locally, and the batches are synthetic token ids of
fixed lengths (a prompt of P tokens, chosen and rejected of C tokens each), so every arm sees the same work.

Arms, for each shape:
- `trl`: plain `trl.DPOTrainer`, as it ships (reference forward in every step, adapters disabled).
- `ours`: arabic-pref's `ArabicPrefDPOTrainer` (reference log-probs precomputed once by the lean pass and read
  from the cache; the training step has no reference forward).
- `sft`: `trl.SFTTrainer`, LoRA, on the 2B sequences of the same batch: the memory yardstick (LoRA DPO must stay
  within 1.10x of it: no second copy of the model).

FLOP count (stated, per token, N = parameters of the transformer incl. the LM head, adapters negligible):
- a frozen base under LoRA: forward 2N + backward to the inputs 2N = 4N per policy token;
- the reference: one forward, 2N per token (paid in the step by `trl`; once, before training, by `ours`);
- MFU = model FLOPs of the timed steps / (time x the GPU's dense bf16 peak, 989 TFLOP/s on H100/H200 SXM).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
SHAPES = {
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
}  # fmt: skip
CASES = {  # name: (shape, 4-bit, pairs per step, prompt tokens, completion tokens)
    "0.5b": ("0.5b", False, 16, 384, 128),
    "7b": ("7b", False, 4, 384, 128),
    "7b-qlora": ("7b", True, 4, 384, 128),
}
STEPS, WARMUP = 8, 2


def qwen2_params(hidden_size: int, intermediate_size: int, num_hidden_layers: int, num_attention_heads: int,
                 num_key_value_heads: int, vocab_size: int, tie_word_embeddings: bool) -> dict[str, int]:  # fmt: skip
    """Parameters of a Qwen2 model: per layer, the matmul weights and biases (q/k/v have biases), the norms."""
    head = hidden_size // num_attention_heads
    kv = num_key_value_heads * head
    attention = hidden_size * hidden_size * 2 + hidden_size * kv * 2 + hidden_size + 2 * kv
    mlp = 3 * hidden_size * intermediate_size
    layers = num_hidden_layers * (attention + mlp + 2 * hidden_size)
    embedding = vocab_size * hidden_size
    return {
        "layers": layers,
        "embedding": embedding,
        "lm_head": embedding,  # the LM head's matmul, shared weights or not
        "total_matmul": layers + embedding,  # what a token's forward multiplies by (embedding lookup is free)
    }


def step_flops(n_matmul: int, policy_tokens: int, reference_tokens: int) -> float:
    """Model FLOPs of one LoRA DPO step: 4N per policy token (forward + input-grad backward of a frozen base) and
    2N per reference token (forward only)."""
    return 4.0 * n_matmul * policy_tokens + 2.0 * n_matmul * reference_tokens


def mfu(flops: float, seconds: float, peak: float) -> float:
    return flops / seconds / peak


def _peak(name: str) -> float:
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), 989e12)


def _model(shape: str, four_bit: bool):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(**SHAPES[shape], max_position_embeddings=4096, rope_theta=1e6, torch_dtype="bfloat16")
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    if four_bit:
        model = _quantize_4bit(model)
    model.config.use_cache = False
    return model


def _quantize_4bit(model):
    """NF4 base layers as bitsandbytes loads them (lm_head kept in bf16), then PEFT's k-bit preparation."""
    import bitsandbytes as bnb
    import torch
    from peft import prepare_model_for_kbit_training

    for _, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear) and child_name != "lm_head":
                q = bnb.nn.Linear4bit(
                    child.in_features, child.out_features, bias=child.bias is not None,
                    compute_dtype=torch.bfloat16, quant_type="nf4", quant_storage=torch.uint8,
                )  # fmt: skip
                q.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False, quant_type="nf4")
                if child.bias is not None:
                    q.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
                setattr(module, child_name, q.cuda())
        torch.cuda.empty_cache()
    model.is_loaded_in_4bit = True
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


def _pairs(n: int, prompt: int, completion: int, vocab: int):
    import torch
    from datasets import Dataset

    g = torch.Generator().manual_seed(0)
    ids = lambda k: torch.randint(100, vocab - 1000, (k,), generator=g).tolist()  # noqa: E731
    return Dataset.from_list(
        [{"prompt_ids": ids(prompt), "chosen_ids": ids(completion), "rejected_ids": ids(completion)} for _ in range(n)]
    )


def _args(kind: str, batch: int, folder: str, precompute: bool):
    from trl import DPOConfig, SFTConfig

    common = dict(
        output_dir=folder, per_device_train_batch_size=batch, max_steps=STEPS + WARMUP, learning_rate=1e-5,
        bf16=True, logging_steps=1, save_strategy="no", report_to="none", gradient_checkpointing=True,
        disable_tqdm=True, dataloader_num_workers=0,
    )  # fmt: skip
    if kind == "sft":
        return SFTConfig(**common, max_length=None, dataset_kwargs={"skip_prepare_dataset": True})
    return DPOConfig(**common, max_length=None, precompute_ref_log_probs=precompute, beta=0.1)


class _StepTimer:
    def __init__(self):
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                import torch

                torch.cuda.synchronize()
                timer.begin = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                import torch

                torch.cuda.synchronize()
                if state.global_step > WARMUP:
                    timer.times.append(time.perf_counter() - timer.begin)

        self.times: list[float] = []
        self.callback = Callback()


def run_arm(case: str, arm: str, tokenizer) -> dict:
    import torch
    from peft import LoraConfig

    shape, four_bit, batch, prompt, completion = CASES[case]
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = _model(shape, four_bit)
    lora = LoraConfig(
        r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM"
    )
    pairs = _pairs(batch * (STEPS + WARMUP), prompt, completion, SHAPES[shape]["vocab_size"])
    timer = _StepTimer()
    precompute_s = 0.0
    with tempfile.TemporaryDirectory() as folder:
        if arm == "sft":
            from trl import SFTTrainer

            seqs = [{"input_ids": r["prompt_ids"] + r[k]} for r in pairs for k in ("chosen_ids", "rejected_ids")]
            from datasets import Dataset

            trainer = SFTTrainer(model=model, args=_args("sft", 2 * batch, folder, False),
                                 train_dataset=Dataset.from_list(seqs), processing_class=tokenizer,
                                 peft_config=lora, callbacks=[timer.callback])  # fmt: skip
        else:
            from trl import DPOTrainer

            from arabic_pref.training.trl_dpo import ArabicPrefDPOTrainer

            class PlainDPOTrainer(DPOTrainer):  # plain TRL; the synthetic pairs are token ids already
                def _prepare_dataset(self, dataset, *args, **kwargs):
                    return dataset

            cls = ArabicPrefDPOTrainer if arm == "ours" else PlainDPOTrainer
            extra = {"reference_identity": f"gpu-bench-{case}"} if arm == "ours" else {}
            start = time.perf_counter()
            args = _args("dpo", batch, folder, arm == "ours")
            trainer = cls(model=model, args=args, train_dataset=pairs, processing_class=tokenizer,
                          peft_config=lora, callbacks=[timer.callback], **extra)  # fmt: skip
            precompute_s = time.perf_counter() - start
        torch.cuda.reset_peak_memory_stats()
        trainer.train()
    step_s = sum(timer.times) / len(timer.times)
    tokens = 2 * batch * (prompt + completion)  # DPO: chosen and rejected sequences; SFT: the same 2B sequences
    n = qwen2_params(**SHAPES[shape])["total_matmul"]
    ref_tokens = tokens if arm == "trl" else 0
    flops = step_flops(n, tokens, ref_tokens) if arm != "sft" else step_flops(n, tokens, 0)
    result = {
        "case": case,
        "arm": arm,
        "step_s": round(step_s, 4),
        "tokens_per_s": round(tokens / step_s),
        "mfu": round(mfu(flops, step_s, _peak(torch.cuda.get_device_name())), 4),
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "setup_s": round(precompute_s, 1),
    }
    del trainer, model
    torch.cuda.empty_cache()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    p.add_argument("--arms", nargs="*", default=["sft", "trl", "ours"], choices=["sft", "trl", "ours"])
    a = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_bench: no CUDA GPU visible; this benchmark needs one (an H100/H200 runs it in ~4 minutes)")
        return 2
    import os

    os.environ.setdefault("ARABIC_PREF_REF_CACHE", tempfile.mkdtemp(prefix="gpu-bench-ref-"))
    from arabic_pref.builtin.tokenizer import build_qwen25_tokenizer

    tokenizer = build_qwen25_tokenizer()
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    results = []
    for case in a.cases:
        by_arm = {}
        for arm in a.arms:
            r = run_arm(case, arm, tokenizer)
            by_arm[arm] = r
            results.append(r)
            print(json.dumps(r), flush=True)
        if "sft" in by_arm and "ours" in by_arm:
            ratio = by_arm["ours"]["peak_mem_gib"] / by_arm["sft"]["peak_mem_gib"]
            print(f"{case}: LoRA DPO / LoRA SFT peak memory = {ratio:.3f} (target <= 1.10)")
        if "trl" in by_arm and "ours" in by_arm:
            print(f"{case}: ours / plain TRL step time = {by_arm['ours']['step_s'] / by_arm['trl']['step_s']:.3f}")
    print("RESULTS " + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
